"""Resource limits (issue 8): formula size, nesting, built text and regular expressions.

Each case must fail with a clear FormulaError at once (no hang, no huge allocation); the tests
assert the exact code and message, not timings.
"""
from __future__ import annotations

import pytest

from engine.formula import FormulaError, FormulaRuntimeError, FormulaSyntaxError, compile_formula
from engine.formula.limits import MAX_DEPTH, MAX_LENGTH, MAX_NODES

FIELDS = {"name": "text", "amount": "currency", "a": "number"}
SPLIT = "Split it into several formula fields"


def _error(source, fields=FIELDS, record=None):
    with pytest.raises(FormulaError) as info:
        compile_formula(source, fields).evaluate(record or {})
    return info.value


@pytest.mark.parametrize("source, code, message", [
    ("1" + " " * MAX_LENGTH, "formula.E009",
     f"The formula is 20,001 characters long; the limit is 20,000 (line 1, column 20001). {SPLIT}"),
    ("'" + "a" * 4_900_000 + "'", "formula.E009",
     f"The formula is 4,900,002 characters long; the limit is 20,000 (line 1, column 20001). {SPLIT}"),
    ("MAX(" + ", ".join(["1"] * MAX_NODES) + ")", "formula.E010",
     "The formula has more than 3,000 parts (values, names, operators and function calls) "
     f"(line 1, column 1). {SPLIT}"),
    ("1" + " + 1" * 600_000, "formula.E009",
     f"The formula is 2,400,001 characters long; the limit is 20,000 (line 1, column 20001). {SPLIT}"),
    ("1" + "+1" * 4000, "formula.E008",
     "The formula is nested more than 100 levels deep (line 1, column 200). "
     "Use CASE() instead of nested IFs, or split it into several formula fields"),
    ("IF(amount > 1, 1, " * MAX_DEPTH + "0" + ")" * MAX_DEPTH, "formula.E008",
     "The formula is nested more than 100 levels deep (line 1, column 19). "
     "Use CASE() instead of nested IFs, or split it into several formula fields"),
    ("-" * 200 + "1", "formula.E008",
     "The formula is nested more than 100 levels deep (line 1, column 101). "
     "Use CASE() instead of nested IFs, or split it into several formula fields"),
    ("name = 'a\x00b'", "formula.E011", "The formula contains a NUL character (line 1, column 10). Remove it"),
    ("name = 'a\ud800'", "formula.E011",
     "The formula contains an invalid character (a lone surrogate) (line 1, column 10). Remove it"),
])
def test_formula_size_limits(source, code, message):
    with pytest.raises(FormulaSyntaxError) as info:
        compile_formula(source, FIELDS)
    assert (info.value.code, info.value.message) == (code, message)


def test_limits_leave_room_for_real_formulas():
    # the deepest and largest formulas the limits allow still compile and evaluate
    deep = "IF(amount > 1, 1, " * (MAX_DEPTH - 2) + "0" + ")" * (MAX_DEPTH - 2)
    assert compile_formula(deep, FIELDS).evaluate({"amount": 0}) == 0
    wide = "MAX(" + ", ".join(["a"] * (MAX_NODES - 1)) + ")"
    assert compile_formula(wide, FIELDS).evaluate({"a": 3}) == 3
    chain = "amount" + " + 1" * (MAX_DEPTH - 1)
    assert compile_formula(chain, FIELDS).evaluate({"amount": 1}) == MAX_DEPTH
    assert compile_formula("'" + "a" * (MAX_LENGTH - 2) + "'", FIELDS).evaluate({}) == "a" * (MAX_LENGTH - 2)
