"""Every special form has a handler in the checker and in all three compilers (generated
Python, the closure compiler, SQL) — or is listed as Python-only, and then SQL refuses it with a
clear error rather than a missing-handler crash."""
from __future__ import annotations

import pytest

from engine.formula import FormulaSQLUnsupported, compile_formula, functions
from engine.formula.checker import Checker
from engine.formula.codegen import Codegen
from engine.formula.pycompile import _Compiler
from engine.formula.sqlcompile import NO_SQL, _SQL

SPECIAL = sorted(key for key, fdef in functions.items() if fdef.special)


def test_there_are_special_forms():
    assert {"IF", "CASE", "AND", "OR", "ISCHANGED", "PRIORVALUE"} <= set(SPECIAL)


@pytest.mark.parametrize("name", SPECIAL)
def test_each_special_form_has_every_handler(name):
    handler = "sp_" + functions.get(name).special.lower()
    assert hasattr(Checker, handler), f"checker has no {handler}"
    assert hasattr(Codegen, handler), f"generated Python has no {handler}"
    assert hasattr(_Compiler, handler), f"closure compiler has no {handler}"
    assert hasattr(_SQL, handler) or name in NO_SQL, f"SQL has no {handler} and {name} is not listed Python-only"


@pytest.mark.parametrize("name", sorted(NO_SQL))
def test_python_only_forms_refuse_sql_clearly(name):
    source = {"ISNEW": "ISNEW()", "ISCHANGED": "ISCHANGED(amount)", "PRIORVALUE": "PRIORVALUE(amount) > 1"}[name]
    compiled = compile_formula(source, {"amount": "number"})
    assert not compiled.sql_supported()
    with pytest.raises(FormulaSQLUnsupported) as exc:
        compiled.to_sql(lambda path: None, "sqlite")
    assert exc.value.code == "formula.E201"
    assert exc.value.message == f"{name}() cannot be used in a SQL filter or sort."
