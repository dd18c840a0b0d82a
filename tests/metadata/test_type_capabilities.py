"""One home for type knowledge (issue 7, item 7): what a formula, a check or a page knows about a
field type comes from the type's own attributes, iterated over the registry — never from a list
of type names. Pure: no database."""
from __future__ import annotations

import pytest

from engine.formula import FormulaTypeError, compile_formula
from engine.metadata.checks import check_field
from engine.metadata.field_types import FieldType, field_types
from engine.registry import Registry

TYPES = field_types.keys()
FIELD_DOC = {"options": [{"value": "a"}], "target": "account", "formula": "1",
             "summary": {"function": "count", "object": "line"}}


@pytest.mark.parametrize("name", TYPES)
def test_a_field_reads_in_formulas_as_its_types_formula_type(name):
    ftype = field_types.get(name)
    if ftype.formula_type is None:   # a formula field: typed by its own formula, never by name
        with pytest.raises(FormulaTypeError) as exc:
            compile_formula("f", {"f": name})
        assert exc.value.code == "formula.E104"
        return
    assert compile_formula("f", {"f": name}).return_type == ftype.formula_type
    # as a declared return type too (a formula field's return_type may name a field type)
    sample = {"number": "1", "text": "'a'", "boolean": "TRUE", "date": "TODAY()", "datetime": "NOW()"}
    if ftype.formula_type in sample:
        assert compile_formula(sample[ftype.formula_type], {}, return_type=name).return_type == ftype.formula_type


def test_a_new_field_type_needs_no_entry_in_the_formula_layer(monkeypatch):
    # The formula layer asks the registry; a type it has never heard of works by its formula_type.
    class Stars(FieldType):
        name, label, widget, formula_type, family = "stars", "Stars", "widgets/number.html", "number", "number"

    registry = Registry("field type")
    for key in TYPES:
        registry.register(key, field_types.get(key))
    registry.register("stars", Stars())
    monkeypatch.setattr("engine.formula.types.field_types", registry)
    assert compile_formula("rating * 2", {"rating": "stars"}).return_type == "number"
    assert compile_formula("rating > 3", {"rating": "stars"}, return_type="checkbox").return_type == "boolean"
    with pytest.raises(FormulaTypeError) as exc:
        compile_formula("rating", {"rating": "starz"})
    assert (exc.value.code, exc.value.message) == ("formula.E104",
                                                   "Field 'rating' has an unknown type 'starz' (line 1, column 1)")


@pytest.mark.parametrize("name", TYPES)
def test_unique_is_refused_exactly_where_the_type_says_so(name):
    ftype = field_types.get(name)
    problems = check_field(dict(FIELD_DOC, api_name="f", type=name, unique=True), "objects.x.fields.f", {})
    refused = ("objects.x.fields.f.unique", f"a {name} field cannot be unique") in problems
    assert refused == (not (ftype.stored and ftype.can_be_unique)), problems


def test_capabilities_of_the_built_in_types():
    def having(attr):
        return {n for n in TYPES if getattr(field_types.get(n), attr)}

    assert {"long_text", "rich_text"} <= having("multiline") and "text" not in having("multiline")
    assert {"picklist", "multi_picklist"} == having("has_options") & {"picklist", "multi_picklist", "text"}
    assert not ({"long_text", "rich_text", "checkbox", "multi_picklist", "formula"} & having("can_be_unique"))
    assert {"text", "email", "number", "date", "auto_number", "lookup"} <= having("can_be_unique")
    assert {"lookup", "master_detail"} <= having("relates")
    assert field_types.get("integer").default_scale == 0
