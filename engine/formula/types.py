"""Formula types and how metadata field types map to them."""
from __future__ import annotations

NUMBER, TEXT, BOOLEAN, DATE, DATETIME, MULTI = "number", "text", "boolean", "date", "datetime", "multi"
NULL = None  # the type of the NULL literal: fits anywhere
FORMULA_TYPES = (NUMBER, TEXT, BOOLEAN, DATE, DATETIME, MULTI)

FIELD_TYPE_MAP = {
    "text": TEXT, "long_text": TEXT, "rich_text": TEXT, "email": TEXT, "phone": TEXT, "url": TEXT,
    "picklist": TEXT, "auto_number": TEXT, "lookup": TEXT, "master_detail": TEXT, "id": TEXT,
    "number": NUMBER, "integer": NUMBER, "currency": NUMBER, "percent": NUMBER, "roll_up_summary": NUMBER,
    "checkbox": BOOLEAN, "boolean": BOOLEAN, "date": DATE, "datetime": DATETIME,
    "multi_picklist": MULTI, "multi": MULTI,
}


def to_formula_type(name):
    """Map a metadata field type (or a formula type) to a formula type; None when unknown."""
    if name is None:
        return None
    return FIELD_TYPE_MAP.get(str(name).lower())


def describe(t):
    return {None: "blank (NULL)", NUMBER: "a number", TEXT: "text", BOOLEAN: "a boolean (TRUE/FALSE)",
            DATE: "a date", DATETIME: "a date/time", MULTI: "a multi-select picklist"}.get(t, str(t))
