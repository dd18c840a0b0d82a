"""The field-type registry: coverage of every type, plugins through entry points."""
from __future__ import annotations

import sys
import textwrap

import pytest

from engine.metadata.field_types import FieldType, field_types, load_field_type_plugins
from engine.metadata.model import build_field_def
from engine.registry import Registry, RegistryError

REQUIRED_TYPES = ["text", "long_text", "rich_text", "email", "phone", "url", "number", "integer", "currency",
                  "percent", "checkbox", "date", "datetime", "picklist", "multi_picklist", "lookup",
                  "master_detail", "auto_number", "formula", "roll_up_summary"]


def test_every_required_type_is_registered():
    assert set(REQUIRED_TYPES) <= set(field_types.keys())


load_field_type_plugins()   # installed plugin types are covered too (idempotent; build_services does it)


@pytest.mark.parametrize("name", field_types.keys())
def test_each_type_declares_everything(name):
    ft = field_types.get(name)
    assert ft.widget.startswith("widgets/") and ft.label
    doc = {"api_name": "f", "type": name, "options": [{"value": "a"}], "target": "x", "formula": "1",
           "summary": {"function": "count", "object": "x"}}
    fdef = build_field_def(doc)
    assert ft.marshmallow_field(fdef) is not None
    assert ft.stored == (ft.column_type(fdef) is not None)
    assert ft.openapi_schema(fdef)


def test_registry_errors_name_both_owners_and_suggest():
    reg = Registry("field type")
    reg.register("currency", object(), owner="a.module")
    with pytest.raises(RegistryError, match="registered twice: by a.module and by b.module"):
        reg.register("currency", object(), owner="b.module")
    with pytest.raises(RegistryError, match="Unknown field type 'curency'. Known: currency."):
        reg.get("curency")
    reg.freeze()
    with pytest.raises(RegistryError, match="frozen"):
        reg.register("x", object())


def test_plugin_field_type_through_entry_point(tmp_path, monkeypatch):
    pkg = tmp_path / "tessera_rating_plugin.py"
    pkg.write_text(textwrap.dedent('''
        from marshmallow import fields, validate
        from sqlalchemy import Integer
        from engine.metadata.field_types import FieldType

        class RatingType(FieldType):
            name, label, widget = "rating", "Rating", "widgets/rating.html"
            formula_type = "number"
            family = "number"
            def column_type(self, fdef):
                return Integer()
            def marshmallow_field(self, fdef):
                return fields.Integer(allow_none=True, validate=validate.Range(1, 5))
    '''))
    dist = tmp_path / "tessera_rating_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tessera-rating-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tessera.field_types]\nrating = tessera_rating_plugin:RatingType\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("field type", entry_point_group="tessera.field_types")
    load_field_type_plugins(reg)
    rating = reg.get("rating")
    assert isinstance(rating, FieldType) and rating.formula_type == "number"
    sys.modules.pop("tessera_rating_plugin", None)


def test_an_empty_multi_select_is_an_empty_list_on_every_answer(api):
    """Stored as NULL, read back as []: the create and update answers say the same as a read."""
    r = api.post("/api/v1/objects", json={"api_name": "gadget", "fields": [
        {"api_name": "tags", "type": "multi_picklist", "options": [{"value": "a", "label": "A"}]}]})
    assert r.status_code == 201, r.get_json()
    made = api.post("/api/v1/records/gadget", json={"name": "x"}).get_json()
    assert made["tags"] == []
    rid = made["id"]
    assert api.get(f"/api/v1/records/gadget/{rid}").get_json()["tags"] == []
    assert api.patch(f"/api/v1/records/gadget/{rid}", json={"tags": ["a"]}).get_json()["tags"] == ["a"]
    assert api.patch(f"/api/v1/records/gadget/{rid}", json={"tags": []}).get_json()["tags"] == []
    assert api.get("/api/v1/records/gadget").get_json()["records"][0]["tags"] == []
    many = api.post("/api/v1/records/gadget", json=[{"name": "y"}, {"name": "z", "tags": None}]).get_json()
    assert [rec["tags"] for rec in many["records"]] == [[], []]
