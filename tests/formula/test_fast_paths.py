"""The generated code's fast paths (a non-blank constant operand, ISBLANK of a number or date
field, TODAY() from a prepared context, TEXT of an integer, date differences) give what the
closure compiler — the reference — gives, on blank, empty and odd values; and a context
prepared once (``FormulaContext``) gives what the plain dict gives."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.formula import FormulaContext, FormulaRuntimeError, compile_formula, prepare_context
from engine.formula.pycompile import Env, compile_node

FIELDS = {"amount": "currency", "quantity": "integer", "stage": "picklist", "name": "text",
          "close_date": "date", "tags": "multi_picklist", "done": "checkbox", "seen": "datetime"}
NOW = dt.datetime(2024, 3, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))   # 2024-03-11 in UTC

SOURCES = [
    "stage = 'Won'", "'Won' = stage", "stage != 'Won'", "amount = 100", "amount != 0", "quantity = 3",
    "amount > 100", "amount <= 0", "quantity >= 10", "amount * 2", "amount - 1", "2 - amount", "amount / 4",
    "amount / 0.5", "name & '-'", "name & ''", "UPPER(LEFT(name, 3)) & '-' & TEXT(quantity)", "TEXT(amount)",
    "TEXT(quantity)", "ISBLANK(amount)", "ISBLANK(close_date)", "ISBLANK(name)", "ISBLANK(tags)",
    "ISBLANK(done)", "IF(ISBLANK(close_date), NULL, close_date - TODAY())", "close_date - DATE(2024, 1, 1)",
    "CASE(stage, 'Won', 1, 'Lost', 2, 0)", "CASE(name, '', 1, 'a', 2, 3)", "IF(ISNULL(seen), 'never', 'seen')",
    "stage = ''", "amount = NULL", "TODAY()", "NOW()",
]
RECORDS = [
    {},
    {"amount": None, "quantity": None, "stage": None, "name": None, "close_date": None, "tags": None},
    {"amount": Decimal("100"), "quantity": 3, "stage": "Won", "name": "acme", "close_date": dt.date(2024, 3, 1),
     "tags": ["a"], "done": True, "seen": NOW},
    {"amount": Decimal("100.00"), "quantity": -7, "stage": "", "name": "", "close_date": "2024-05-01",
     "tags": [], "done": False},
    {"amount": 0, "quantity": True, "stage": "Lost", "name": "ßtraße", "close_date": dt.datetime(2024, 1, 2, 3)},
    {"amount": "12.5", "quantity": "4", "stage": "won", "name": 42, "close_date": "not a date"},
    {"amount": 2.5, "quantity": Decimal("3.50"), "stage": "Won ", "name": "a"},
    {"quantity": 10 ** 30, "amount": Decimal("-0.001")},
]


def reference(compiled, rec, ctx):
    closure = compile_node(compiled.tree, compiled.blank_as_zero)
    prior = ctx.get("prior")
    try:
        return closure(Env(rec, prior, prior is None, ctx.get("user") or {}, ctx["now"]))
    except FormulaRuntimeError as exc:
        return ("error", exc.code)


def generated(compiled, rec, ctx):
    try:
        return compiled.evaluate(rec, ctx)
    except FormulaRuntimeError as exc:
        return ("error", exc.code)


@pytest.mark.parametrize("source", SOURCES)
def test_generated_code_agrees_with_the_closure_compiler(source):
    compiled = compile_formula(source, FIELDS)
    plain = {"now": NOW}
    prepared = prepare_context(plain)
    for rec in RECORDS:
        want = reference(compiled, rec, plain)
        got = generated(compiled, rec, prepared)
        assert got == want and type(got) is type(want), (source, rec, got, want)
        assert generated(compiled, rec, plain) == want, (source, rec)


def test_a_prepared_context_reads_like_the_dict_and_is_kept():
    user = {"id": "u1", "username": "ann"}
    ctx = FormulaContext({"now": NOW, "user": user, "prior": {"stage": "New"}})
    assert dict(ctx) == {"now": NOW, "user": user, "prior": {"stage": "New"}}
    assert ctx.get("user") is user and ctx.get("missing") is None and len(ctx) == 3
    assert prepare_context(ctx) is ctx
    assert ctx.env.today == dt.date(2024, 3, 11)      # TODAY() is the UTC date of NOW()
    with pytest.raises(TypeError):
        ctx["now"] = NOW       # read-only: every evaluation that shares it sees the same values
    compiled = compile_formula("ISCHANGED(stage) && $user.username = 'ann' && TODAY() = DATE(2024, 3, 11)",
                               dict(FIELDS, **{"$user": {"username": "text"}}))
    assert compiled.evaluate({"stage": "Won"}, ctx) is True
    assert compiled.evaluate({"stage": "New"}, ctx) is False
    assert compiled.evaluate({"stage": "Won"}, FormulaContext(now=NOW)) is False     # no prior: a new record


def test_a_naive_now_is_utc_and_no_now_is_the_clock():
    naive = FormulaContext(now=dt.datetime(2024, 3, 10, 23, 30))
    assert compile_formula("TODAY()", {}).evaluate({}, naive) == dt.date(2024, 3, 10)
    today = compile_formula("TODAY()", {}).evaluate({}, FormulaContext())
    assert abs((today - dt.datetime.now(dt.timezone.utc).date()).days) <= 1
