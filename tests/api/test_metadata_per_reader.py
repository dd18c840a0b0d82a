"""The metadata API. What each reader sees of the metadata, in /objects, the history and the
OpenAPI document:
administrators everything; others only the objects they may read, without hidden fields, formula
text that needs them, or authors. And every metadata timestamp is UTC with a 'Z'."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from tests.conftest import Api

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def readers(crm, app, services):
    """The sample model plus formulas, a rule, a layout and a list view that read 'amount';
    'rep' may read deals with 'amount' hidden and 'probability' read-only; 'nobody' has no sets."""
    from engine.security.users import create_token, create_user

    for fdoc in ({"api_name": "double_amount", "type": "formula", "formula": "amount * 2"},
                 {"api_name": "double_quantity", "type": "formula", "formula": "quantity * 2"},
                 {"api_name": "size", "type": "text", "default": "IF(amount > 5, 'big', 'small')"}):
        r = crm.post("/api/v1/objects/deal/fields", json=fdoc)
        assert r.status_code == 201, r.get_json()
    for kind, item in (("validation_rules", {"name": "no_loss", "condition": "amount < 0", "message": "No.",
                                              "field": "amount"}),
                       ("validation_rules", {"name": "some_qty", "condition": "quantity < 0", "message": "No."}),
                       ("layouts", {"name": "main", "sections": [{"fields": ["name", "amount", "stage"]}]}),
                       ("list_views", {"name": "big", "columns": ["name", "amount"], "where": "amount > 5",
                                       "order_by": "-amount"})):
        r = crm.post(f"/api/v1/objects/deal/{kind}", json=item)
        assert r.status_code == 201, r.get_json()
    r = crm.post("/api/v1/permission_sets", json={
        "api_name": "sales", "objects": {"deal": {"read": True, "create": True, "edit": True}},
        "fields": {"deal": {"amount": "hidden", "probability": "read"}}})
    assert r.status_code == 201, r.get_json()
    clients = {}
    for user, sets in (("rep", ["sales"]), ("nobody", [])):
        create_user(services.engine, user, "password-123")
        for ps in sets:
            assert crm.post(f"/api/v1/users/{user}/permission_sets", json={"permission_set": ps}).status_code == 201
        clients[user] = Api(app.test_client(), create_token(services.engine, user))
    return crm, clients["rep"], clients["nobody"]


def _error(r):
    return r.status_code, r.get_json()["error"]["code"], r.get_json()["error"]["message"]


def test_a_user_without_permission_sets_sees_no_object(readers):
    admin, _rep, nobody = readers
    assert nobody.get("/api/v1/objects").get_json() == {"objects": []}
    for url in ("/api/v1/objects/deal", "/api/v1/objects/deal/history", "/api/v1/objects/deal/fields/amount",
                "/api/v1/objects/deal/validation_rules", "/api/v1/objects/deal/layouts"):
        assert _error(nobody.get(url)) == (404, "metadata.E041", "Unknown object 'deal'."), url
    # the same answer as for an object that does not exist
    assert _error(nobody.get("/api/v1/objects/no_such")) == (404, "metadata.E041", "Unknown object 'no_such'.")
    doc = nobody.get("/api/v1/openapi.json").get_json()
    validate(doc)
    assert not [p for p in doc["paths"] if p.startswith("/api/v1/records/")]
    assert not {"Deal", "Account", "DealInput"} & set(doc["components"]["schemas"])
    assert "/api/v1/objects" in doc["paths"]
    assert admin.get("/api/v1/objects/deal").status_code == 200


def test_a_hidden_field_is_absent_with_the_formulas_that_need_it(readers):
    admin, rep, _nobody = readers
    objects = rep.get("/api/v1/objects").get_json()["objects"]
    assert [o["api_name"] for o in objects] == ["deal"]
    deal = rep.get("/api/v1/objects/deal").get_json()
    assert deal == objects[0]
    fields = {f["api_name"]: f for f in deal["fields"]}
    assert "amount" not in fields and "double_amount" not in fields          # hidden, and derived from it
    assert fields["double_quantity"]["formula"] == "quantity * 2"           # reads visible fields only
    assert "default" not in fields["size"] and fields["size"]["type"] == "text"
    rules = {r["name"]: r for r in deal["validation_rules"]}
    assert rules["no_loss"] == {"name": "no_loss", "message": "No."}
    assert rules["some_qty"]["condition"] == "quantity < 0"
    assert deal["layouts"][0]["sections"][0]["fields"] == ["name", "stage"]
    assert deal["list_views"] == [{"name": "big", "columns": ["name"]}]
    assert _error(rep.get("/api/v1/objects/deal/fields/amount")) == (
        404, "metadata.E042", "Unknown field 'amount' on 'deal'.")
    # the lookup to 'account', an object the rep may not read, is hidden like a hidden field
    assert "account" not in fields
    assert _error(rep.get("/api/v1/objects/deal/fields/quantit")) == (
        404, "metadata.E042", "Unknown field 'quantit' on 'deal' (did you mean 'quantity'?).")   # a visible one
    assert rep.get("/api/v1/objects/deal/fields/size").get_json() == fields["size"]
    assert rep.get("/api/v1/objects/deal/validation_rules").get_json()["validation_rules"] == deal["validation_rules"]
    # an object they may not read: as if it did not exist, and never suggested
    assert _error(rep.get("/api/v1/objects/account")) == (404, "metadata.E041", "Unknown object 'account'.")
    assert _error(rep.get("/api/v1/objects/acount")) == (404, "metadata.E041", "Unknown object 'acount'.")
    assert _error(rep.get("/api/v1/objects/dael")) == (
        404, "metadata.E041", "Unknown object 'dael' (did you mean 'deal'?).")
    # the administrator sees it all
    full = {f["api_name"]: f for f in admin.get("/api/v1/objects/deal").get_json()["fields"]}
    assert full["double_amount"]["formula"] == "amount * 2" and "amount" in full and "default" in full["size"]
    assert len(admin.get("/api/v1/objects").get_json()["objects"]) == 2


def test_history_without_hidden_fields_or_authors(readers):
    admin, rep, _nobody = readers
    mine = admin.get("/api/v1/objects/deal/history").get_json()["versions"]
    theirs = rep.get("/api/v1/objects/deal/history").get_json()["versions"]
    # version 2 added double_amount, derived from the hidden amount: nothing the rep may see changed
    assert mine[1]["summary"] == "added field 'double_amount'"
    assert [v["version"] for v in theirs] == [v["version"] for v in mine if v["version"] != 2]
    assert all(v["author_id"] for v in mine) and not any("author_id" in v for v in theirs)
    for version in theirs:
        names = [f["api_name"] for f in version["doc"]["fields"]]
        assert "amount" not in names and "double_amount" not in names, version["version"]
        for rule in version["doc"].get("validation_rules", []):
            assert "amount" not in rule.get("condition", ""), version["version"]
    assert any("amount" in [f["api_name"] for f in v["doc"]["fields"]] for v in mine)
    assert _error(rep.get("/api/v1/objects/account/history")) == (404, "metadata.E041", "Unknown object 'account'.")


def test_openapi_document_per_reader(readers):
    admin, rep, _nobody = readers
    doc = rep.get("/api/v1/openapi.json").get_json()
    validate(doc)
    schemas = doc["components"]["schemas"]
    assert "Account" not in schemas and "/api/v1/records/account" not in doc["paths"]
    props = schemas["Deal"]["properties"]
    assert "amount" not in props and "double_amount" not in props and "double_quantity" in props
    assert "probability" in props and "probability" not in schemas["DealInput"]["properties"]  # read-only for rep
    assert "amount" not in schemas["DealPatch"]["properties"]
    order_by = next(p for p in doc["paths"]["/api/v1/records/deal"]["get"]["parameters"] if p["name"] == "order_by")
    assert not re.search(order_by["schema"]["pattern"], "amount")
    assert re.search(order_by["schema"]["pattern"], "-quantity,name")
    full = admin.get("/api/v1/openapi.json").get_json()
    assert "amount" in full["components"]["schemas"]["Deal"]["properties"]
    assert "probability" in full["components"]["schemas"]["DealInput"]["properties"]
    assert "Account" in full["components"]["schemas"]


def test_metadata_timestamps_are_utc_with_a_z(crm):
    crm.post("/api/v1/objects/deal/fields", json={"api_name": "region", "type": "text"})
    assert crm.delete("/api/v1/objects/deal/fields/region").status_code == 204
    deal = crm.get("/api/v1/objects/deal").get_json()
    stamps = [deal["updated_at"]] + [a["archived_at"] for a in deal["archived_fields"]]
    stamps += [o["updated_at"] for o in crm.get("/api/v1/objects").get_json()["objects"]]
    stamps += [v["created_at"] for v in crm.get("/api/v1/objects/deal/history").get_json()["versions"]]
    assert len(stamps) >= 6 and [a["api_name"] for a in deal["archived_fields"]] == ["region"]
    assert [s for s in stamps if not TIMESTAMP.match(s)] == []


def test_numbers_written_with_a_fraction_in_metadata_bodies(crm):
    """10.0 is the integer 10 for JSON Schema, so for the metadata too (it used to answer 500)."""
    r = crm.post("/api/v1/objects", json={"api_name": "gadget", "fields": [
        {"api_name": "weight", "type": "number", "precision": 10.0, "scale": 2}]})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["fields"][0]["precision"] == 10
    r = crm.patch("/api/v1/objects/gadget/fields/weight", json={"scale": 3.0})
    assert r.status_code == 200 and r.get_json()["scale"] == 3
