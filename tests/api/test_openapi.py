"""The OpenAPI 3.1 document describes exactly the objects and fields that exist now."""
from __future__ import annotations

from openapi_spec_validator import validate


def test_openapi_follows_metadata(crm):
    doc = crm.get("/api/v1/openapi.json").get_json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    deal = doc["components"]["schemas"]["Deal"]["properties"]
    assert deal["stage"]["enum"] == ["New", "Won", "Lost"]
    assert deal["number"]["readOnly"] is True
    assert "/api/v1/records/deal/{id}" in doc["paths"]
    assert doc["components"]["schemas"]["DealInput"]["required"] == ["stage"]
    crm.post("/api/v1/objects/deal/fields", json={"api_name": "region", "type": "text"})
    doc2 = crm.get("/api/v1/openapi.json").get_json()
    validate(doc2)
    assert "region" in doc2["components"]["schemas"]["Deal"]["properties"]
    crm.delete("/api/v1/objects/deal/fields/region")
    doc3 = crm.get("/api/v1/openapi.json").get_json()
    assert "region" not in doc3["components"]["schemas"]["Deal"]["properties"]


def test_openapi_needs_a_token(anon_api):
    assert anon_api.get("/api/v1/openapi.json").status_code == 401


def test_home_and_health(crm):
    r = crm.client.get("/")
    assert r.status_code == 200 and b"<h1>Tessera</h1>" in r.data and b"deal" not in r.data
    assert crm.client.get("/healthz").get_json()["ok"] is True
