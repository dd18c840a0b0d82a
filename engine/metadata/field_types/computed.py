"""Computed field types: auto_number, formula and roll_up_summary (read-only)."""
from __future__ import annotations

import re

from sqlalchemy import String

from . import register_field_type
from .base import FieldType

AUTO_FORMAT = re.compile(r"(?P<prefix>[^{}]*)\{(?P<zeros>0+)\}(?P<suffix>[^{}]*)")   # fullmatch


def format_auto_number(fmt, n):
    m = AUTO_FORMAT.fullmatch(fmt)
    return f"{m['prefix']}{n:0{len(m['zeros'])}d}{m['suffix']}"


@register_field_type
class AutoNumberType(FieldType):
    """A gap-free counter formatted like ``INV-{0000}``, assigned in the record's transaction."""

    name, label, widget = "auto_number", "Auto number", "widgets/readonly.html"
    formula_type = "text"
    family = "auto"
    writable = False
    assign_on_insert = True
    options_schema = {"format": {"type": "string", "minLength": 3, "maxLength": 60},
                      "start": {"type": "integer", "minimum": 0, "maximum": 10 ** 12}}

    def column_type(self, fdef):
        return String(80)

    def check(self, fdoc, ctx):
        fmt = fdoc.get("format", "{0}")
        if isinstance(fmt, str) and not AUTO_FORMAT.fullmatch(fmt):
            return [("format", f"must contain one counter like {{0000}}, e.g. 'INV-{{0000}}' (got '{fmt}')")]
        return []


@register_field_type
class FormulaType(FieldType):
    """Computed on read from its ``formula``; not stored."""

    name, label, widget = "formula", "Formula", "widgets/readonly.html"
    formula_type = None  # the formula's own return type
    family = "computed"
    stored = False
    writable = False
    computed = True
    can_be_unique = False
    required_keys = ("formula",)
    options_schema = {"formula": {"type": "string", "minLength": 1, "maxLength": 5000},
                      "return_type": {"enum": ["number", "text", "boolean", "date", "datetime",
                                               "currency", "percent", "checkbox"]},
                      "scale": {"type": "integer", "minimum": 0, "maximum": 6},
                      "blank_as_zero": {"type": "boolean"}}

    def column_type(self, fdef):
        return None


@register_field_type
class RollUpSummaryType(FieldType):
    """COUNT/SUM/MIN/MAX over master-detail children (kept in a stored column)."""

    name, label, widget = "roll_up_summary", "Roll-up summary", "widgets/readonly.html"
    formula_type = "number"
    family = "computed"
    writable = False
    summarises = True
    can_be_unique = False
    required_keys = ("summary",)
    options_schema = {"summary": {
        "type": "object", "required": ["function", "object"], "additionalProperties": False,
        "properties": {"function": {"enum": ["count", "sum", "min", "max"]},
                       "object": {"type": "string"}, "field": {"type": "string"},
                       "relationship_field": {"type": "string"},
                       "filter": {"type": "string", "maxLength": 5000}}}}
    openapi = {"type": "number"}

    def column_type(self, fdef):
        from sqlalchemy import Numeric
        return Numeric(18, 2, asdecimal=True)

    def marshmallow_field(self, fdef):
        """Never used for writes (read-only); parses filter values like a number(18, 2)."""
        from .numeric import StrictDecimal
        return StrictDecimal(18, 2, allow_none=True)

    def to_json(self, fdef, value):
        return None if value is None else float(value)
