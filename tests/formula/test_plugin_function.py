"""A developer registers a function in a few lines; it is type-checked like a built-in and,
with a SQL implementation, usable in filters."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Column, MetaData, Numeric, String, Table, create_engine, insert, select

from engine.formula import FormulaTypeError, compile_formula, functions, register_function


@pytest.fixture(scope="module", autouse=True)
def discount():
    # a plugin registers before build_services() freezes the registry; other tests may have
    # built services in this process already, so open it for the test's own registrations
    with functions.thawed():
        _register()
    yield


def _register():
    if "DISCOUNT" not in functions:
        @register_function("DISCOUNT", params=("number", "number"), returns="number",
                           sql=lambda S, amount, pct: amount - amount * pct / 100, doc="Amount after a % discount.")
        def discount_impl(amount, pct):
            return amount - amount * pct / Decimal(100)
    if "SHOUT" not in functions:
        register_function("SHOUT", ("text",), "text", lambda t: t.upper() + "!")


def test_plugin_function_type_checks_and_evaluates():
    c = compile_formula("DISCOUNT(amount, 10)", {"amount": "currency"})
    assert c.return_type == "number" and c.evaluate({"amount": 200}) == Decimal(180)
    assert c.evaluate({}) is None                     # blank rule for number parameters
    with pytest.raises(FormulaTypeError, match="Argument 2 of DISCOUNT must be a number, not text"):
        compile_formula("DISCOUNT(amount, 'x')", {"amount": "currency"})
    with pytest.raises(FormulaTypeError, match="DISCOUNT takes 2 arguments"):
        compile_formula("DISCOUNT(1)", {})
    assert compile_formula("SHOUT(name)", {"name": "text"}).evaluate({"name": "hi"}) == "HI!"
    assert not compile_formula("SHOUT(name) = 'A!'", {"name": "text"}).sql_supported()


def test_plugin_function_in_sql():
    engine = create_engine("sqlite://")
    md = MetaData()
    t = Table("t", md, Column("id", String, primary_key=True), Column("amount", Numeric(18, 2)))
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(t), [{"id": "a", "amount": 100}, {"id": "b", "amount": 300}])
        expr = compile_formula("DISCOUNT(amount, 50) > 100", {"amount": "currency"}).to_sql(
            lambda p: t.c[p[0]], "sqlite")
        assert [r.id for r in conn.execute(select(t.c.id).where(expr))] == ["b"]


def test_plugin_function_through_entry_point(tmp_path, monkeypatch):
    import textwrap

    from engine.formula.functions import load_plugins
    from engine.registry import Registry

    (tmp_path / "tessera_fx_plugin.py").write_text(textwrap.dedent('''
        from decimal import Decimal

        def install(register_function):
            register_function("TRIPLE", ("number",), "number", lambda x: x * Decimal(3), replace=True)
    '''))
    dist = tmp_path / "tessera_fx_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tessera-fx-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tessera.formula_functions]\ntriple = tessera_fx_plugin:install\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from engine.formula import functions as registry
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "_frozen", False)
    load_plugins()
    assert compile_formula("TRIPLE(2)", {}).evaluate({}) == Decimal(6)
    assert isinstance(registry, Registry)
