"""Formula types, and the formula type of a metadata field type: each field type declares its
own ``formula_type`` (``engine.metadata.field_types``), so a plugin type works in formulas
without an entry here. ``compile_formula`` accepts both in field maps and as ``return_type``
(../shared/specs/formula-language.md, "Field types and formula types" and rule 26)."""
from __future__ import annotations

from engine.metadata.field_types import field_types

NUMBER, TEXT, BOOLEAN, DATE, DATETIME, MULTI = "number", "text", "boolean", "date", "datetime", "multi"
NULL = None  # the type of the NULL literal: fits anywhere
FORMULA_TYPES = (NUMBER, TEXT, BOOLEAN, DATE, DATETIME, MULTI)

def to_formula_type(name):
    """The formula type ``name`` stands for: a formula type itself, or a field type's
    ``formula_type`` (``currency`` -> number); None when it is neither."""
    if not isinstance(name, str):
        return None
    name = name.lower()
    if name in FORMULA_TYPES:
        return name
    return field_types.get(name).formula_type if name in field_types else None


def describe(t):
    return {None: "blank (NULL)", NUMBER: "a number", TEXT: "text", BOOLEAN: "a boolean (TRUE/FALSE)",
            DATE: "a date", DATETIME: "a date/time", MULTI: "a multi-select picklist"}.get(t, str(t))
