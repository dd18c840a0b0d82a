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
DEEP_HINT = "Use CASE() instead of nested IFs, or split it into several formula fields"


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
     ("The formula has more than 3,000 parts (values, names, operators and function calls) "
      f"(line 1, column 1). {SPLIT}")),
    ("1" + " + 1" * 600_000, "formula.E009",
     f"The formula is 2,400,001 characters long; the limit is 20,000 (line 1, column 20001). {SPLIT}"),
    ("1" + "+1" * 4000, "formula.E008",
     f"The formula is nested more than 100 levels deep (line 1, column 200). {DEEP_HINT}"),
    ("IF(amount > 1, 1, " * MAX_DEPTH + "0" + ")" * MAX_DEPTH, "formula.E008",
     f"The formula is nested more than 100 levels deep (line 1, column 19). {DEEP_HINT}"),
    ("-" * 200 + "1", "formula.E008",
     f"The formula is nested more than 100 levels deep (line 1, column 101). {DEEP_HINT}"),
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


TOO_LONG = "would build a text of {:,} characters; a formula may build at most 100,000."


@pytest.mark.parametrize("source, record, message", [
    ("RPAD('a', 1000000000, 'b')", {}, "RPAD " + TOO_LONG.format(1_000_000_000)),
    ("LPAD(name, 100001)", {}, "LPAD " + TOO_LONG.format(100_001)),
    ("SUBSTITUTE(RPAD('a', 100000, 'a'), 'a', RPAD('b', 100000, 'b'))", {},
     "SUBSTITUTE " + TOO_LONG.format(10_000_000_000)),
    ("SUBSTITUTE(name, 'a', 'bb')", {"name": "a" * 50_001}, "SUBSTITUTE " + TOO_LONG.format(100_002)),
    ("name & name", {"name": "x" * 60_000}, "'&' " + TOO_LONG.format(120_000)),
    ("RPAD('a', 60000, 'a') & RPAD('b', 60000, 'b')", {}, "'&' " + TOO_LONG.format(120_000)),
    ("TEXT(10^100000)", {}, "TEXT " + TOO_LONG.format(100_001)),
    ("TEXT(VALUE('1e-999999'))", {}, "TEXT " + TOO_LONG.format(1_000_001)),
])
def test_built_text_is_bounded(source, record, message):
    err = _error(source, record=record)
    assert (type(err), err.code, err.message) == (FormulaRuntimeError, "formula.E312", message)


def test_text_up_to_the_limit_is_built():
    assert len(compile_formula("RPAD('a', 100000, 'b')", FIELDS).evaluate({})) == 100_000
    assert len(compile_formula("name & name", FIELDS).evaluate({"name": "x" * 50_000})) == 100_000
    assert len(compile_formula("TEXT(10^99999)", FIELDS).evaluate({})) == 100_000
    # reading a long field is not building text: only what a formula builds is bounded
    assert len(compile_formula("UPPER(name)", FIELDS).evaluate({"name": "x" * 200_000})) == 200_000


def test_plugin_text_results_are_bounded():
    from engine.formula import functions, register_function

    if "REPT_TEST" not in functions:
        with functions.thawed():   # a plugin registers before build_services() freezes the registry
            register_function("REPT_TEST", ("text", "number"), "text", lambda t, n: t * int(n))
    assert compile_formula("REPT_TEST('ab', 3)", {}).evaluate({}) == "ababab"
    err = _error("REPT_TEST('ab', 60000)", fields={})
    assert (err.code, err.message) == ("formula.E312", "REPT_TEST " + TOO_LONG.format(120_000))


@pytest.mark.parametrize("source, message", [
    ("REGEX(name, '(a)\\\\1')", "REGEX pattern is not supported: invalid escape sequence: \\1 (line 1, column 13)"),
    ("REGEX(name, '(?=a)a')", "REGEX pattern is not supported: invalid perl operator: (?= (line 1, column 13)"),
    ("REGEX(name, 'a{1001}')", "REGEX pattern is not supported: invalid repetition size: {1001} (line 1, column 13)"),
    ("REGEX(name, '[a')", "REGEX pattern is not supported: missing ]: [a (line 1, column 13)"),
])
def test_unsupported_regex_is_a_compile_error(source, message):
    with pytest.raises(FormulaError) as info:
        compile_formula(source, FIELDS)
    hint = ("REGEX uses RE2 syntax: no backreferences (\\1) or look-around ((?=...), (?!...)), "
            "and repetition counts up to 1000")
    assert (info.value.code, info.value.message) == ("formula.E127", f"{message}. {hint}")


def test_regex_runs_in_linear_time_and_checks_patterns_from_fields():
    fields = dict(FIELDS, pattern="text")
    # catastrophic for a backtracking engine (2^n steps); RE2 answers at once
    assert compile_formula("REGEX(name, '(x+x+)+y')", FIELDS).evaluate({"name": "x" * 100_000}) is False
    assert compile_formula("REGEX(name, '(a|aa)*b')", FIELDS).evaluate({"name": "a" * 100_000}) is False
    assert compile_formula("REGEX(name, '[A-Z]+-[0-9]+')", FIELDS).evaluate({"name": "AB-12"}) is True
    err = _error("REGEX(name, pattern)", fields=fields, record={"name": "aa", "pattern": "(a)\\1"})
    assert (err.code, err.message) == ("formula.E311", "REGEX pattern is not supported: invalid escape sequence: \\1.")


@pytest.mark.parametrize("source, code, message", [
    # int() of 10^999999 alone takes most of a minute: counts, days and digits are clamped first
    ("DATE(2024, 1, 10^999999)", "formula.E320",
     "DATE(2024, 1, 1.000000000000000000000000000E+999999) is not a valid date."),
    ("ADDMONTHS(TODAY(), 10^999999)", "formula.E323", "ADDMONTHS goes beyond the year 9999."),
    ("TODAY() + 10^999999", "formula.E308", "The date is out of range."),
    ("NOW() + 10^999900", "formula.E308", "The date/time is out of range."),
    ("ROUND(2.5, 10^999999)", "formula.E301", "The number is too large to round."),
    ("VALUE('1e999999999')", "formula.E310", "VALUE cannot read '1e999999999': the number is out of range."),
])
def test_huge_numbers_fail_fast(source, code, message):
    err = _error(source)
    assert (err.code, err.message) == (code, message)


def test_huge_counts_and_non_numbers_are_answered_at_once():
    assert compile_formula("LEFT(name, 10^999999)", FIELDS).evaluate({"name": "abc"}) == "abc"
    assert compile_formula("MID(name, 10^999999, 10^999999)", FIELDS).evaluate({"name": "abc"}) == ""
    # a long run of digits followed by a non-digit: no backtracking in ISNUMBER / VALUE
    assert compile_formula("ISNUMBER(name)", FIELDS).evaluate({"name": "1" * 100_000 + "x"}) is False
