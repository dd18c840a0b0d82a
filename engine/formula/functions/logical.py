"""Logical and context functions. Most are special forms the checker and compilers treat
themselves (lazy evaluation, type rules); they are registered here so that they are
documented and "did you mean" knows them."""
from __future__ import annotations

from . import FunctionDef, functions

SPECIAL = [
    ("IF", "IF(condition, then, else): only the chosen branch is evaluated."),
    ("CASE", "CASE(expr, value1, result1, ..., else): the result of the first matching value, else the last."),
    ("AND", "AND(a, b, ...): TRUE when all are TRUE (stops at the first FALSE)."),
    ("OR", "OR(a, b, ...): TRUE when any is TRUE (stops at the first TRUE)."),
    ("NOT", "NOT(x): TRUE when x is FALSE or blank."),
    ("ISBLANK", "ISBLANK(x): TRUE when x has no value ('' counts as blank)."),
    ("ISNULL", "ISNULL(x): the same as ISBLANK."),
    ("BLANKVALUE", "BLANKVALUE(x, default): x, or the default when x is blank."),
    ("NULLVALUE", "NULLVALUE(x, default): the same as BLANKVALUE."),
    ("ISNEW", "ISNEW(): TRUE while the record is being created."),
    ("ISCHANGED", "ISCHANGED(field): TRUE when this save changes the field."),
    ("PRIORVALUE", "PRIORVALUE(field): the field's value before this save (blank on create)."),
    ("TEXT", "TEXT(x): a number, date, date/time, boolean or multi-select picklist as text."),
    ("TODAY", "TODAY(): today's date (UTC)."),
    ("NOW", "NOW(): the current date/time."),
]

for _name, _doc in SPECIAL:
    functions.register(_name, FunctionDef(name=_name, params=(), returns=None, special=_name, doc=_doc,
                                          family="date" if _name in ("TODAY", "NOW") else "logical"),
                       owner=__name__)
