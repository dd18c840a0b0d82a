"""Formula SQL at the limits, on SQLite and PostgreSQL: deep nesting, long text, bad date texts.

SQLite's parser overflows at about twenty nested CASEs, so nested IFs compile to one flat CASE;
what is still too deep or too large is refused when the SQL is built (E202, E203), never when
the query runs. Where Python reports an error, SQL gives NULL.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from sqlalchemy import Column, Date, MetaData, Numeric, String, Table, Text, create_engine, func, insert, select

from engine.formula import FormulaRuntimeError, FormulaSQLUnsupported, compile_formula

FIELDS = {"amount": "currency", "name": "text", "notes": "long_text", "d": "date"}
ROWS = [{"id": "r0", "amount": -5, "name": "2024-02-29", "notes": "y" * 60_000, "d": dt.date(2024, 1, 31)},
        {"id": "r1", "amount": 7, "name": "2023-02-29", "notes": "ab", "d": dt.date(9999, 12, 31)},
        {"id": "r2", "amount": 30, "name": "0000-01-01", "notes": None, "d": dt.date(1, 1, 1)},
        {"id": "r3", "amount": 55, "name": " 2024-01-01", "notes": "", "d": None},
        {"id": "r4", "amount": None, "name": "9999-12-31", "notes": "x", "d": dt.date(2000, 2, 29)},
        {"id": "r5", "amount": 0, "name": "2024-1-01", "notes": "a" * 50_000, "d": dt.date(2024, 2, 29)},
        {"id": "r6", "amount": 12, "name": None, "notes": "ay", "d": dt.date(2024, 12, 31)}]
TOO_DEEP = ("The formula is nested too deeply to run in the database as a filter or sort (it still works in "
            "formula fields). Use CASE() instead of nested IFs, or split it into several formula fields.")
TOO_LARGE = ("The formula is too large to run in the database as a filter or sort (it still works in formula "
             "fields). Simplify it, or split it into several formula fields.")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request, tmp_path_factory):
    md = MetaData()
    t = Table(f"flimit_{uuid.uuid4().hex[:8]}", md, Column("id", String(10), primary_key=True),
              Column("amount", Numeric(18, 2)), Column("name", String(255)), Column("notes", Text),
              Column("d", Date))
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('limits') / 'l.db'}")
    else:
        url = os.environ.get("TESSERA_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("PostgreSQL variant: set TESSERA_TEST_POSTGRES_URL to run it")
        engine = create_engine(url)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(t), ROWS)
    yield engine, t
    md.drop_all(engine)
    engine.dispose()


def _sql(db, formula):
    engine, t = db
    return compile_formula(formula, FIELDS).to_sql(lambda path: t.c[path[0]], engine.dialect.name)


def _selected(db, formula):
    """Ids SQL selects, checked against the ids Python evaluates to TRUE (rows where it raises match neither)."""
    engine, t = db
    compiled = compile_formula(formula, FIELDS)
    expected = set()
    for row in ROWS:
        try:
            if compiled.evaluate(row) is True:
                expected.add(row["id"])
        except FormulaRuntimeError:
            pass
    with engine.connect() as conn:
        got = {r.id for r in conn.execute(select(t.c.id).where(_sql(db, formula)))}
    assert got == expected, formula
    return got


def _nested_ifs(n, where):
    if where == "else":    # IF(amount > 0, 0, IF(amount > 1, 1, ...))
        return "".join(f"IF(amount > {i}, {i}, " for i in range(n)) + "-1" + ")" * n
    if where == "then":    # IF(amount > 0, IF(amount > 1, ..., 1), 0)
        return "".join(f"IF(amount > {i}, " for i in range(n)) + "-1" + "".join(f", {i})" for i in range(n))
    return "".join(f"IF(amount > {i}, IF(amount < {i + 20}, {i}, " for i in range(n // 2)) + "-1" + \
        "".join(f"), {-i})" for i in range(n // 2))


@pytest.mark.parametrize("where", ["else", "then", "both"])
def test_fifty_nested_ifs_run_as_one_flat_case(db, where):
    formula = _nested_ifs(50, where)
    assert "CASE" in str(_sql(db, formula + " > 3"))
    for cmp in (" > 3", " = 7", " < 0"):
        _selected(db, formula + cmp)


@pytest.mark.parametrize("formula, code, message", [
    ("UPPER(" * 60 + "name" + ")" * 60 + " = 'A'", "formula.E203", TOO_DEEP),
    ("IF(amount > 1, " * 97 + "0" + ", 1)" * 97 + " > 0", "formula.E202", TOO_LARGE),
    ("SUBSTITUTE(" * 12 + "notes" + ", 'a', 'bb')" * 12 + " = ''", "formula.E202", TOO_LARGE),
])
def test_too_deep_or_too_large_sql_is_refused_when_built(db, formula, code, message):
    compiled = compile_formula(formula, FIELDS)
    assert compiled.evaluate({"name": "a", "amount": 2, "notes": "a"}) in (True, False)   # fine in Python
    with pytest.raises(FormulaSQLUnsupported) as info:
        _sql(db, formula)
    assert (info.value.code, info.value.message) == (code, message)
    assert not compiled.sql_supported(db[0].dialect.name)


def test_the_deepest_accepted_sql_runs_inside_sub_queries(db):
    # the check keeps a margin for the query around the formula (WHERE, correlated sub-queries)
    engine, t = db
    deepest = None
    for n in range(2, 40):
        try:
            _sql(db, "LEFT(" * n + "name" + ", 20)" * n + " = 'a'")
        except FormulaSQLUnsupported:
            break
        deepest = n
    assert deepest is not None and deepest >= 4
    inner = t.alias()
    expr = compile_formula("LEFT(" * deepest + "name" + ", 20)" * deepest + " = '2024-02-29'", FIELDS).to_sql(
        lambda path: inner.c[path[0]], engine.dialect.name)
    count = select(func.count()).select_from(inner).where(inner.c.id == t.c.id, expr).scalar_subquery()
    ids = select(t.c.id).where(t.c.id != "x", count > 0)
    outer = t.alias()
    with engine.connect() as conn:
        assert [r.id for r in conn.execute(select(outer.c.id).where(outer.c.id.in_(ids)))] == ["r0"]


@pytest.mark.parametrize("formula", [
    "LEN(notes & notes) > 0",                        # r0: 120,000 characters: Python refuses, SQL is blank
    "LEN(notes & name) > 5",
    "LEN(SUBSTITUTE(notes, 'a', 'aa')) > 0",         # r5: 100,000 a's become 200,000
    "SUBSTITUTE(notes, 'y', '') = ''",               # shrinking text: no limit reached
    "SUBSTITUTE(notes, '', 'zz') = 'ab'",            # an empty search text changes nothing
    "ISBLANK(DATEVALUE(name)) = FALSE",
    "DATEVALUE(name) = DATE(2024, 2, 29)",
    "DATEVALUE(name) > DATE(9999, 12, 30)",
    "d + 10000000000 > d",
    "d - 3000000 < d",
    "d + amount * 100000 > DATE(2024, 1, 1)",
])
def test_python_errors_are_blank_in_sql(db, formula):
    _selected(db, formula)


def test_text_limit_is_the_same_in_sql(db):
    engine, t = db
    expr = _sql(db, "notes & notes")
    with engine.connect() as conn:
        blank = {r.id for r in conn.execute(select(t.c.id).where(expr.is_(None)))}
    assert blank == {"r0"}    # 120,000 characters; r5's 2 x 50,000 is exactly the limit
