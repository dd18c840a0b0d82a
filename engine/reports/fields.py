"""Field paths of a report as one reader sees them.

A report names fields by path (``amount``, ``account.industry``). :func:`resolve_path` walks the
reader's formula field map (:mod:`engine.records.field_security`), which lacks the fields hidden
from them, so a hidden field is unknown here with the same message as a field that does not
exist, and no did-you-mean names one. It also says whether the field can be grouped on and which
aggregates apply to it.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal

from engine.metadata.checks import suggest
from engine.metadata.field_types.scalar import iso_utc
from engine.metadata.system_fields import SYSTEM_FIELD_DEFS

SYSTEM_LABELS = {f.api_name: f.label for f in SYSTEM_FIELD_DEFS}
GROUPABLE = ("text", "number", "boolean", "date", "datetime")
AGGREGATE_TYPES = {
    "count": None,                                   # any: counts the non-blank values
    "count_distinct": ("text", "number", "boolean", "date", "datetime"),
    "sum": ("number",), "avg": ("number",), "median": ("number",),
    "min": ("number", "date", "datetime"), "max": ("number", "date", "datetime"),
}


class PathError(Exception):
    """A path that does not resolve for this reader (the message is user-facing)."""


@dataclass(frozen=True)
class FieldRef:
    """A resolved path: its formula type, the final field's definition and type name."""

    path: tuple
    obj: str              # the object the last field belongs to
    type: str             # formula type: text, number, boolean, date, datetime, multi
    kind: str             # field type name (currency, long_text, lookup...) or the system field's kind
    label: str
    computed: bool = False
    multiline: bool = False   # long or rich text: neither grouped nor counted distinct

    @property
    def name(self):
        return ".".join(self.path)

    @property
    def groupable(self):
        return self.type in GROUPABLE and not self.multiline

    def aggregatable(self, fn):
        allowed = AGGREGATE_TYPES[fn]
        if self.type == "multi" or (fn == "count_distinct" and self.multiline):
            return False
        return allowed is None or self.type in allowed


def resolve_path(snapshot, fields_map, obj, path):
    """The :class:`FieldRef` of ``path`` on ``obj`` for the reader whose formula field map of
    ``obj`` is ``fields_map``; :class:`PathError` when it does not resolve."""
    parts = tuple(p for p in str(path).split("."))
    current, current_obj = fields_map, obj
    labels = []
    for i, name in enumerate(parts):
        entry = current.get(name) if name and not name.startswith("$") else None
        if entry is None:
            known = [k for k in current if not k.startswith("$")]
            where = f"'{obj}'" if i == 0 else f"'{'.'.join(parts[:i])}' ({current_obj})"
            raise PathError(f"Unknown field '{path}' on {where}{suggest(name, known)}")
        rt = snapshot.get(current_obj)
        fdef = rt.odef.field(name) if rt is not None else None
        label = fdef.label if fdef is not None else SYSTEM_LABELS.get(name, name)
        labels.append(label)
        last = i == len(parts) - 1
        if isinstance(entry, dict):
            if last:
                return FieldRef(parts, current_obj, "text", "lookup", " › ".join(labels))
            current, current_obj = entry, fdef.target if fdef is not None else current_obj
            continue
        if not last:
            raise PathError(f"'{'.'.join(parts[:i + 1])}' is not a lookup, so it has no field "
                            f"'{parts[i + 1]}' (in '{path}')")
        if fdef is not None:
            kind, computed, multiline = fdef.type, rt.ftypes[name].computed, rt.ftypes[name].multiline
        else:
            kind, computed, multiline = {"owner_id": "lookup", "created_by": "lookup", "updated_by": "lookup"}.get(
                name, entry), False, False
        return FieldRef(parts, current_obj, entry, kind, " › ".join(labels), computed, multiline)
    raise PathError(f"Unknown field '{path}' on '{obj}'")


def json_value(value):
    """A value read from SQL as JSON (dates as ISO text, date/times in UTC with a Z)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return iso_utc(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return Decimal(int(value))
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Decimal) and value.is_finite():
        if value == value.to_integral_value():
            return value.quantize(Decimal(1))
        return value.normalize()
    return value
