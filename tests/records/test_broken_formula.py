"""A stored formula that stops compiling (a document written around the store's checks, or one
that predates a stricter rule) is never skipped: the error is logged naming the object, reads
show the formula field blank, and writes, where= and formula sorts refuse with records.E050."""
from __future__ import annotations

import csv
import io
import json
import logging

import pytest
from sqlalchemy import select, update

from engine.db import meta_objects, meta_state
from engine.errors import RecordValidationError

REFUSAL = ("The definition of Deal has a formula that does not compile: Unknown field 'amout' (line 1, column 1). "
           "Did you mean 'amount'? An administrator must correct it.")
ERROR = {"code": "records.E050", "message": REFUSAL, "fields": {"_record": [REFUSAL]}}


def break_formula(engine):
    """Write a formula the checks would refuse straight into the store's tables, then bump the
    global metadata version so every process rebuilds its snapshot."""
    with engine.begin() as conn:
        doc = json.loads(conn.execute(select(meta_objects.c.doc).where(meta_objects.c.api_name == "deal")).scalar_one())
        next(f for f in doc["fields"] if f["api_name"] == "double")["formula"] = "amout * 2"
        conn.execute(update(meta_objects).where(meta_objects.c.api_name == "deal").values(doc=json.dumps(doc)))
        conn.execute(update(meta_state).where(meta_state.c.id == 1).values(version=meta_state.c.version + 1))


@pytest.fixture
def broken(api, services):
    r = api.post("/api/v1/objects", json={"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "amount", "label": "Amount", "type": "currency"},
        {"api_name": "double", "type": "formula", "formula": "amount * 2"}]})
    assert r.status_code == 201, r.get_json()
    r = api.post("/api/v1/objects/deal/validation_rules", json={
        "name": "not_negative", "condition": "amount < 0", "message": "Amount must not be negative.",
        "field": "amount"})
    assert r.status_code == 201, r.get_json()
    rec = api.post("/api/v1/records/deal", json={"name": "Acme", "amount": 2}).get_json()
    assert rec["double"] == 4
    break_formula(services.engine)
    return rec


def test_the_broken_object_is_logged_by_name(api, services, broken, caplog):
    with caplog.at_level(logging.ERROR, logger="tessera.formulas"):
        assert api.get("/api/v1/records/deal").status_code == 200
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "tessera.formulas"]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith("object 'deal' (version ")
    assert errors[0].getMessage().endswith("has a formula that does not compile: Unknown field 'amout' "
                                           "(line 1, column 1). Did you mean 'amount'?")


def test_reads_work_with_the_formula_field_blank(api, broken):
    r = api.get(f"/api/v1/records/deal/{broken['id']}")
    assert r.status_code == 200
    assert (r.get_json()["amount"], r.get_json()["double"]) == (2, None)
    page = api.get("/api/v1/records/deal", query_string={"amount__gt": "1", "order_by": "-amount"}).get_json()
    assert [(x["name"], x["double"]) for x in page["records"]] == [("Acme", None)]
    rows = list(csv.DictReader(io.StringIO(api.get("/api/v1/records/deal/export").get_data(as_text=True))))
    assert [(x["name"], x["amount"], x["double"]) for x in rows] == [("Acme", "2.0", "")]


@pytest.mark.parametrize("call", [
    lambda api, rid: api.post("/api/v1/records/deal", json={"name": "New", "amount": 1}),
    lambda api, rid: api.post("/api/v1/records/deal", json={"name": "Negative", "amount": -1}),
    lambda api, rid: api.post("/api/v1/records/deal", json=[{"name": "Bulk", "amount": 1}]),
    lambda api, rid: api.patch(f"/api/v1/records/deal/{rid}", json={"amount": -5}),
    lambda api, rid: api.get("/api/v1/records/deal", query_string={"where": "amount > 1"}),
    lambda api, rid: api.get("/api/v1/records/deal", query_string={"order_by": "double"}),
    lambda api, rid: api.get("/api/v1/records/deal/export", query_string={"where": "amount > 1"}),
], ids=["create", "create_breaking_a_rule", "bulk_create", "update", "where", "order_by_formula", "export_where"])
def test_writes_and_formula_queries_refuse(api, broken, call):
    r = call(api, broken["id"])
    assert r.status_code == 422 and r.get_json()["error"] == ERROR
    assert api.get("/api/v1/records/deal", query_string={"with_total": "true"}).get_json()["total"] == 1
    assert api.get(f"/api/v1/records/deal/{broken['id']}").get_json()["amount"] == 2


def test_the_service_refuses_too_and_an_admin_fix_restores_writes(api, services, broken):
    from engine.security import SYSTEM_ACTOR

    records = services.records()
    for call in (lambda: records.create("deal", {"name": "New", "amount": 1}, SYSTEM_ACTOR),
                 lambda: records.list("deal", SYSTEM_ACTOR, where="amount > 1")):
        with pytest.raises(RecordValidationError) as exc:
            call()
        assert (exc.value.code, exc.value.message) == ("records.E050", REFUSAL)
    r = api.patch("/api/v1/objects/deal/fields/double", json={"formula": "amount * 3"})
    assert r.status_code == 200, r.get_json()
    assert api.get(f"/api/v1/records/deal/{broken['id']}").get_json()["double"] == 6
    r = api.post("/api/v1/records/deal", json={"name": "Negative", "amount": -1})
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {"amount": ["Amount must not be negative."]}
    assert api.post("/api/v1/records/deal", json={"name": "New", "amount": 1}).get_json()["double"] == 3
