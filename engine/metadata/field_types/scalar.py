"""Checkbox, date, datetime, picklist and multi_picklist."""
from __future__ import annotations

import datetime as _dt

from marshmallow import ValidationError
from marshmallow import fields as mf
from marshmallow import validate
from sqlalchemy import Boolean, Date, DateTime, String, Text, TypeDecorator

from engine.db import iso_utc  # noqa: F401  (also re-exported: the one timestamp format)

from . import register_field_type
from .base import FieldType


@register_field_type
class CheckboxType(FieldType):
    name, label, widget = "checkbox", "Checkbox", "widgets/checkbox.html"
    formula_type = "boolean"
    family = "boolean"
    can_be_unique = False
    openapi = {"type": "boolean"}

    def column_type(self, fdef):
        return Boolean()

    def marshmallow_field(self, fdef):
        return mf.Boolean(allow_none=True)

    def to_storage(self, fdef, value):
        return bool(value)  # an unset checkbox is FALSE, never blank


class StrictDate(mf.Date):
    def _deserialize(self, value, attr, data, **kw):
        if not isinstance(value, str):
            raise ValidationError("Not a valid date (YYYY-MM-DD).")
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            raise ValidationError("Not a valid date (YYYY-MM-DD).") from None


@register_field_type
class DateType(FieldType):
    name, label, widget = "date", "Date", "widgets/date.html"
    formula_type = "date"
    family = "date"
    openapi = {"type": "string", "format": "date"}

    def column_type(self, fdef):
        return Date()

    def marshmallow_field(self, fdef):
        return StrictDate(allow_none=True)

    def to_json(self, fdef, value):
        return None if value is None else value.isoformat()


class StrictAwareDateTime(mf.AwareDateTime):
    """An ISO 8601 date/time, converted to UTC (naive input is UTC); refuses values that
    leave years 1..9999 once in UTC, which no database column can hold."""

    def __init__(self, **kw):
        super().__init__(default_timezone=_dt.timezone.utc, **kw)

    def _deserialize(self, value, attr, data, **kw):
        parsed = super()._deserialize(value, attr, data, **kw)
        try:
            return parsed.astimezone(_dt.timezone.utc)
        except OverflowError:
            raise ValidationError("Not a valid datetime: it must fall between years 1 and 9999 in UTC.") from None


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on both databases (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self):
        return _dt.datetime

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        value = value.astimezone(_dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=_dt.timezone.utc)
        return value.astimezone(_dt.timezone.utc)




@register_field_type
class DateTimeType(FieldType):
    name, label, widget = "datetime", "Date/time", "widgets/datetime.html"
    formula_type = "datetime"
    family = "datetime"
    openapi = {"type": "string", "format": "date-time"}

    def column_type(self, fdef):
        return UTCDateTime()

    def marshmallow_field(self, fdef):
        return StrictAwareDateTime(allow_none=True)

    def to_json(self, fdef, value):
        return iso_utc(value)


_OPTIONS = {"options": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
    "type": "object", "required": ["value"], "additionalProperties": False,
    "properties": {"value": {"type": "string", "minLength": 1, "maxLength": 255,
                             "pattern": "^[^;]+$", "description": "text without ';'"},
                   "label": {"type": "string", "maxLength": 255},
                   "label_zh": {"type": "string", "maxLength": 255},
                   "label_i18n": {"type": "object", "maxProperties": 20,
                                  "propertyNames": {"pattern": r"^[a-z]{2}(_[A-Z][a-z]{3})?(_[A-Z]{2})?$(?!\n)",
                                                    "description": "a locale such as zh_CN"},
                                  "additionalProperties": {"type": "string", "maxLength": 255}},
                   "color": {"type": "string", "maxLength": 20},
                   "active": {"type": "boolean"}}}}}


def _check_options(fdoc):
    seen, problems = set(), []
    for i, opt in enumerate(fdoc.get("options") or []):
        v = opt.get("value")
        if v in seen:
            problems.append((f"options[{i}].value", f"duplicate option '{v}'"))
        seen.add(v)
    return problems


@register_field_type
class PicklistType(FieldType):
    name, label, widget = "picklist", "Picklist", "widgets/select.html"
    formula_type = "text"
    family = "text"
    has_options = True
    # "path": a status-like picklist (an opportunity's stage, a case's status) whose values are
    # stages in order: the record page shows them as a path bar (docs/browser.md)
    options_schema = {**_OPTIONS, "path": {"type": "boolean",
                                           "description": "show the values as stages in order on the record page"}}
    required_keys = ("options",)

    def column_type(self, fdef):
        return String(255)

    def marshmallow_field(self, fdef):
        opts = fdef.options
        return mf.String(allow_none=True, validate=validate.OneOf(
            opts, error="Must be one of: {choices}."))

    def check(self, fdoc, ctx):
        return _check_options(fdoc)

    def openapi_schema(self, fdef):
        base = {"type": "string", "enum": fdef.options}
        return base if fdef.required else {"anyOf": [base, {"type": "null"}]}

    def to_storage(self, fdef, value):
        return None if value == "" else value


class SemicolonList(TypeDecorator):
    """A list of option values stored as 'a;b;c' (NULL when empty)."""

    impl = Text
    cache_ok = True

    @property
    def python_type(self):
        return list

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            return value or None
        return ";".join(value) or None

    def process_result_value(self, value, dialect):
        return [] if not value else value.split(";")


@register_field_type
class MultiPicklistType(FieldType):
    name, label, widget = "multi_picklist", "Multi-select picklist", "widgets/multiselect.html"
    formula_type = "multi"
    family = "multi"
    sortable = False
    can_be_unique = False
    has_options = True
    options_schema = _OPTIONS
    required_keys = ("options",)
    json_blank = list          # no value selected reads [] (stored as NULL)

    def column_type(self, fdef):
        return SemicolonList()

    def marshmallow_field(self, fdef):
        return mf.List(mf.String(validate=validate.OneOf(fdef.options, error="Must be one of: {choices}.")),
                       allow_none=True)

    def check(self, fdoc, ctx):
        return _check_options(fdoc)

    def openapi_schema(self, fdef):
        return {"type": "array", "items": {"type": "string", "enum": fdef.options}}

    def to_storage(self, fdef, value):
        if not value:
            return None
        # keep option order, drop duplicates
        order = {v: i for i, v in enumerate(fdef.options)}
        return sorted(set(value), key=lambda v: order.get(v, 0))

    def to_json(self, fdef, value):
        return list(value or [])
