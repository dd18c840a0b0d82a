"""Property: filtering in SQL selects exactly the records for which Python evaluation is TRUE,
on SQLite and on PostgreSQL. Hypothesis builds typed formulas and records."""
from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (Boolean, Column, Date, MetaData, Numeric, String, Table, Text, create_engine, delete,
                        insert, select)

from engine.formula import FormulaRuntimeError, compile_formula

FIELDS = {"amount": "currency", "qty": "integer", "name": "text", "flag": "checkbox", "d": "date",
          "tags": "multi_picklist", "stage": "picklist", "ds": "text"}
TEXTS = ["a", "B", "ab", "é", "Ab", "", "b a"]

num_leaf = st.sampled_from(["amount", "qty", "0", "1", "2.5", "-3", "10", "NULL"])
text_leaf = st.sampled_from(["name", "stage", "'a'", "'B'", "'ab'", "''", "'é'", "NULL"])
date_leaf = st.sampled_from(["d", "DATE(2024, 1, 15)", "DATE(2024, 3, 1)", "TODAY()", "DATEVALUE(ds)",
                             "(d + qty)", "(d - 2.7)", "(qty + d)"])
COUNTS = st.sampled_from(["-1", "0", "1", "2", "qty", "100000000000000000000", "-100000000000000000000"])


def _num(depth):
    if depth <= 0:
        return num_leaf
    sub = _num(depth - 1)
    return st.one_of(
        num_leaf,
        st.tuples(sub, st.sampled_from(["+", "-"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["2", "3", "-1"])).map(lambda t: f"({t[0]} * {t[1]})"),
        sub.map(lambda x: f"ABS({x})"),
        st.tuples(sub, sub).map(lambda t: f"MAX({t[0]}, {t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"MIN({t[0]}, {t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"BLANKVALUE({t[0]}, {t[1]})"),
        _text(0).map(lambda x: f"LEN({x})"),
        date_leaf.map(lambda x: f"MONTH({x})"),
        st.tuples(_bool(0), sub, sub).map(lambda t: f"IF({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(st.sampled_from(["FLOOR", "CEILING"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["qty", "-qty", "(qty * 3)"]), st.sampled_from(["3", "-2", "7"])).map(
            lambda t: f"MOD({t[0]}, {t[1]})"),
        st.tuples(sub, st.sampled_from(["0", "1", "-1"])).map(lambda t: f"ROUND({t[0]} * 10, {t[1]})"),
        st.tuples(sub, sub, sub).map(lambda t: f"CASE({t[0]}, 1, {t[1]}, -3, {t[2]}, 0)"),
        st.sampled_from(["DAY(DATEVALUE(ds))", "(DATEVALUE(ds) - d)", "YEAR(d + qty)"]),
    )


def _text(depth):
    if depth <= 0:
        return text_leaf
    sub = _text(depth - 1)
    return st.one_of(
        text_leaf,
        st.tuples(sub, sub).map(lambda t: f"({t[0]} & {t[1]})"),
        sub.map(lambda x: f"UPPER({x})"),
        sub.map(lambda x: f"LOWER({x})"),
        st.tuples(sub, st.sampled_from(["0", "1", "2"])).map(lambda t: f"LEFT({t[0]}, {t[1]})"),
        st.tuples(sub, st.sampled_from(["1", "2"])).map(lambda t: f"RIGHT({t[0]}, {t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"BLANKVALUE({t[0]}, {t[1]})"),
        st.tuples(sub, st.sampled_from(["'a'", "'B'"]), st.sampled_from(["'x'", "''"])).map(
            lambda t: f"SUBSTITUTE({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(st.sampled_from(["LEFT", "RIGHT"]), sub, COUNTS).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(sub, COUNTS, COUNTS).map(lambda t: f"MID({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(_bool(0), sub, _bool(0), sub, sub).map(
            lambda t: f"IF({t[0]}, IF({t[2]}, {t[1]}, {t[3]}), {t[4]})"),
    )


def _bool(depth):
    leaves = st.one_of(
        st.sampled_from(["flag", "TRUE", "FALSE", "NULL", "ISBLANK(name)", "ISBLANK(amount)", "ISBLANK(d)",
                         "INCLUDES(tags, 'x')", "INCLUDES(tags, 'y')", "ISPICKVAL(stage, 'a')", "ISBLANK(tags)"]),
        st.tuples(_num(0), st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), _num(0)).map(" ".join),
        st.tuples(_text(0), st.sampled_from(["=", "!=", "<", ">="]), _text(0)).map(" ".join),
        st.tuples(date_leaf, st.sampled_from(["=", "<", ">="]), date_leaf).map(" ".join),
    )
    if depth <= 0:
        return leaves
    sub = _bool(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(_num(depth - 1), st.sampled_from(["=", "!=", "<", ">="]), _num(depth - 1)).map(" ".join),
        st.tuples(_text(depth - 1), st.sampled_from(["=", "!=", "<", ">"]), _text(depth - 1)).map(" ".join),
        st.tuples(date_leaf, st.sampled_from(["+", "-"]), st.sampled_from(["1", "30", "2.7"]), date_leaf).map(
            lambda t: f"{t[0]} {t[1]} {t[2]} > {t[3]}"),
        sub.map(lambda x: f"!({x})"),
        sub.map(lambda x: f"NOT({x})"),
        st.tuples(sub, sub).map(lambda t: f"({t[0]} && {t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"({t[0]} || {t[1]})"),
        st.tuples(sub, sub, sub).map(lambda t: f"IF({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(sub, sub).map(lambda t: f"AND({t[0]}, {t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"OR({t[0]}, {t[1]})"),
        st.tuples(_text(0), _text(0)).map(lambda t: f"CONTAINS({t[0]}, {t[1]})"),
        st.tuples(_text(0), _text(0)).map(lambda t: f"BEGINS({t[0]}, {t[1]})"),
        st.tuples(_text(0), st.sampled_from(["'a'", "'B'"]), _num(0), _num(0)).map(
            lambda t: f"CASE({t[0]}, {t[1]}, {t[2]}, {t[3]}) > 1"),
    )


records = st.lists(st.fixed_dictionaries({
    "amount": st.one_of(st.none(), st.decimals(min_value=-50, max_value=50, places=2)),
    "qty": st.one_of(st.none(), st.integers(-5, 12)),
    "name": st.one_of(st.none(), st.sampled_from(TEXTS)),
    "stage": st.one_of(st.none(), st.sampled_from(["a", "B", "ab"])),
    "flag": st.one_of(st.none(), st.booleans()),
    "d": st.one_of(st.none(), st.dates(min_value=dt.date(2023, 12, 1), max_value=dt.date(2024, 4, 1))),
    "tags": st.one_of(st.none(), st.lists(st.sampled_from(["x", "y", "z"]), unique=True, max_size=3)),
    "ds": st.sampled_from([None, "", "2024-01-15", "2024-02-29", "2023-12-31"]),
}), min_size=1, max_size=8)

NOW = dt.datetime(2024, 2, 10, 12, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def table(request, tmp_path_factory):
    md = MetaData()
    name = f"fprop_{uuid.uuid4().hex[:8]}"
    t = Table(name, md, Column("id", String(10), primary_key=True), Column("amount", Numeric(18, 2)),
              Column("qty", Numeric(18, 0)), Column("name", String(50)), Column("stage", String(50)),
              Column("flag", Boolean), Column("d", Date), Column("tags", Text), Column("ds", String(20)))
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}")
    else:
        url = os.environ.get("TESSERA_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("PostgreSQL variant: set TESSERA_TEST_POSTGRES_URL to run it")
        engine = create_engine(url)
    md.create_all(engine)
    yield engine, t
    md.drop_all(engine)
    engine.dispose()


# derandomize: CI runs the same 150 examples every time (new seeds are explored locally).
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=bool(os.environ.get("CI")))
@given(formula=_bool(2), rows=records)
def test_sql_selects_exactly_the_python_true_rows(table, formula, rows):
    engine, t = table
    compiled = compile_formula(formula, FIELDS)
    dialect = engine.dialect.name
    expr = compiled.to_sql(lambda path: t.c[path[0]], dialect, context={"now": NOW})
    expected = set()
    stored = []
    for i, r in enumerate(rows):
        rid = f"r{i}"
        rec = dict(r)
        try:
            if compiled.evaluate(rec, context={"now": NOW}) is True:
                expected.add(rid)
        except FormulaRuntimeError:
            pass
        stored.append({"id": rid, **{k: (";".join(v) if k == "tags" and v else (None if k == "tags" else v))
                                     for k, v in rec.items()}})
    with engine.begin() as conn:
        conn.execute(delete(t))
        conn.execute(insert(t), stored)
        got = {row.id for row in conn.execute(select(t.c.id).where(expr))}
    assert got == expected, (formula, rows)


def test_property_generator_is_typed():
    # every generated formula type-checks: the generator does not hide errors behind assume()
    for example in ["IF(flag, amount, qty) > 1", "CASE(name, 'a', 1, 2) > 1", "d + 2.7 > DATE(2024, 1, 15)"]:
        assert compile_formula(example, FIELDS).return_type == "boolean"


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=bool(os.environ.get("CI")))
@given(formula=st.one_of(_bool(2), _num(2), _text(2)), rows=records)
def test_generated_code_agrees_with_the_closure_compiler(formula, rows):
    from engine.formula.pycompile import Env, compile_node

    compiled = compile_formula(formula, FIELDS)
    closure = compile_node(compiled.tree, False)
    for rec in rows:
        try:
            expected = closure(Env(rec, None, True, {}, NOW))
        except FormulaRuntimeError:
            expected = "error"
        try:
            got = compiled.evaluate(rec, context={"now": NOW})
        except FormulaRuntimeError:
            got = "error"
        assert got == expected, (formula, rec)
