"""Formula errors: exact class, code, message, line and column."""
from __future__ import annotations

import datetime as dt

import pytest

from engine.formula import (FormulaRuntimeError, FormulaSQLUnsupported, FormulaSyntaxError, FormulaTypeError,
                            compile_formula)

FIELDS = {"amount": "currency", "name": "text", "close_date": "date", "stage": "picklist",
          "account": {"industry": "picklist", "owner": {"name": "text"}}}


@pytest.mark.parametrize("source, cls, code, message, line, column", [
    ("1 +", FormulaSyntaxError, "formula.E005",
     "The formula ends too early: expected a value (a number, a text, a field or a function call) (line 1, column 4)",
     1, 4),
    ("amount * * 2", FormulaSyntaxError, "formula.E006",
     "Unexpected '*': expected a value (a number, a text, a field or a function call) (line 1, column 10)", 1, 10),
    ("IF(amount > 1,\n   'a',\n   'b'", FormulaSyntaxError, "formula.E005",
     "The formula ends too early: expected an operator or ')' or ',' (line 3, column 7)", 3, 7),
    ("'open", FormulaSyntaxError, "formula.E007", "Text is not closed: add the closing quote (line 1, column 1)", 1, 1),
    ("1 /* open", FormulaSyntaxError, "formula.E007", "Comment is not closed: add */ (line 1, column 3)", 1, 3),
    ("'\\d'", FormulaSyntaxError, "formula.E004",
     "Unknown escape '\\d' in text; write '\\\\' for a backslash (line 1, column 2)", 1, 2),
    ("/* only */", FormulaSyntaxError, "formula.E002",
     "The formula is empty (line 1, column 11). Write an expression such as amount * 2", 1, 11),
    ("amout * 2", FormulaTypeError, "formula.E102",
     "Unknown field 'amout' (line 1, column 1). Did you mean 'amount'?", 1, 1),
    ("account.industy = 'x'", FormulaTypeError, "formula.E102",
     "Unknown field 'industy' on 'account' (line 1, column 9). Did you mean 'account.industry'?", 1, 9),
    ("SUMM(1)", FormulaTypeError, "formula.E120", "Unknown function 'SUMM' (line 1, column 1)", 1, 1),
    ("UPPR(name)", FormulaTypeError, "formula.E120",
     "Unknown function 'UPPR' (line 1, column 1). Did you mean 'UPPER'?", 1, 1),
    ("LEN('a', 'b')", FormulaTypeError, "formula.E121", "LEN takes 1 argument (got 2) (line 1, column 1)", 1, 1),
    ("'Total: ' & amount", FormulaTypeError, "formula.E114",
     "'&' joins text, not a number (line 1, column 13). Use TEXT() to turn it into text", 1, 13),
    ("IF(TRUE, 1, 'one')", FormulaTypeError, "formula.E123",
     "IF's results must all have the same type (got a number and text) (line 1, column 1)", 1, 1),
    ("name.x", FormulaTypeError, "formula.E103",
     "'name' is not a relationship, so it has no field 'x' (line 1, column 6)", 1, 6),
    ("ISCHANGED(account.industry)", FormulaTypeError, "formula.E126",
     "ISCHANGED takes a field of this record, not an expression or a path (line 1, column 11)", 1, 11),
    ("close_date > 5", FormulaTypeError, "formula.E112",
     "Cannot compare a date with a number using '>' (line 1, column 12)", 1, 12),
])
def test_compile_errors(source, cls, code, message, line, column):
    with pytest.raises(cls) as info:
        compile_formula(source, FIELDS)
    err = info.value
    assert (err.code, err.message, err.line, err.column) == (code, message, line, column)


def test_return_type_mismatch():
    with pytest.raises(FormulaTypeError) as info:
        compile_formula("amount * 2", FIELDS, return_type="text")
    assert info.value.message == "The formula gives a number, but text is needed (line 1, column 1)"


@pytest.mark.parametrize("source, message", [
    ("1 / 0", "Division by zero."),
    ("VALUE('abc')", "VALUE cannot read 'abc' as a number."),
    ("DATE(2023, 2, 29)", "DATE(2023, 2, 29) is not a valid date."),
    ("MOD(5, 0)", "MOD by zero: the divisor must not be 0."),
    ("SQRT(-4)", "SQRT of a negative number."),
])
def test_runtime_errors(source, message):
    compiled = compile_formula(source, FIELDS)
    with pytest.raises(FormulaRuntimeError) as info:
        compiled.evaluate({})
    assert info.value.message == message


def test_references_and_sql_support():
    c = compile_formula("Amount > 1 && ACCOUNT.Owner.Name = $user.name",
                        dict(FIELDS, **{"$user": {"name": "text"}}))
    assert c.references == {"amount", "account.owner.name", "$user.name"}
    assert c.sql_supported("sqlite")
    assert not compile_formula("ISCHANGED(amount)", FIELDS).sql_supported("sqlite")
    with pytest.raises(FormulaSQLUnsupported):
        compile_formula("REGEX(name, 'a.*')", FIELDS).to_sql(lambda p: None, "sqlite")


def test_evaluate_never_leaks_python_exceptions():
    c = compile_formula("close_date + 1", FIELDS)
    with pytest.raises(FormulaRuntimeError):
        c.evaluate({"close_date": dt.date(9999, 12, 31)})
