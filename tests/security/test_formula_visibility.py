"""A formula field that reads a related record shows nothing the reader may not see."""
from __future__ import annotations

import pytest

from tests.conftest import Api

try:
    from engine.formula import compile_formula  # noqa: F401
except ImportError:
    pytest.skip("the formula engine is not built yet", allow_module_level=True)


def test_related_fields_follow_visibility(api, app, services):
    from engine.security.users import create_token, create_user

    assert api.post("/api/v1/objects", json={"api_name": "acct", "sharing": "private", "fields": [
        {"api_name": "tier", "type": "text"}]}).status_code == 201
    assert api.post("/api/v1/objects", json={"api_name": "opp", "fields": [
        {"api_name": "acct", "type": "lookup", "target": "acct"},
        {"api_name": "acct_tier", "type": "formula", "formula": "acct.tier"}]}).status_code == 201
    api.post("/api/v1/permission_sets", json={"api_name": "reader", "objects": {
        "acct": {"read": True}, "opp": {"read": True}}})
    create_user(services.engine, "rita", "password-123")
    api.post("/api/v1/users/rita/permission_sets", json={"permission_set": "reader"})
    rita = Api(app.test_client(), create_token(services.engine, "rita"))
    acct = api.post("/api/v1/records/acct", json={"name": "Secret", "tier": "gold"}).get_json()
    opp = api.post("/api/v1/records/opp", json={"name": "O", "acct": acct["id"]}).get_json()
    assert opp["acct_tier"] == "gold"
    assert rita.get(f"/api/v1/records/acct/{acct['id']}").status_code == 404
    assert rita.get(f"/api/v1/records/opp/{opp['id']}").get_json()["acct_tier"] is None
    api.post(f"/api/v1/records/acct/{acct['id']}/shares", json={"user": "rita", "access": "read"})
    assert rita.get(f"/api/v1/records/opp/{opp['id']}").get_json()["acct_tier"] == "gold"


def test_where_on_related_fields_follows_visibility(api, app, services):
    from engine.security.users import create_token, create_user

    api.post("/api/v1/objects", json={"api_name": "acct", "sharing": "private", "fields": [
        {"api_name": "tier", "type": "text"}]})
    api.post("/api/v1/objects", json={"api_name": "opp", "fields": [
        {"api_name": "acct", "type": "lookup", "target": "acct"}]})
    api.post("/api/v1/permission_sets", json={"api_name": "reader", "objects": {
        "acct": {"read": True}, "opp": {"read": True}}})
    create_user(services.engine, "rita", "password-123")
    api.post("/api/v1/users/rita/permission_sets", json={"permission_set": "reader"})
    rita = Api(app.test_client(), create_token(services.engine, "rita"))
    acct = api.post("/api/v1/records/acct", json={"name": "Secret", "tier": "gold"}).get_json()
    api.post("/api/v1/records/opp", json={"name": "O", "acct": acct["id"]})
    q = {"where": "acct.tier = 'gold'"}
    assert len(api.get("/api/v1/records/opp", query_string=q).get_json()["records"]) == 1
    assert rita.get("/api/v1/records/opp", query_string=q).get_json()["records"] == []
    api.post(f"/api/v1/records/acct/{acct['id']}/shares", json={"user": "rita", "access": "read"})
    assert len(rita.get("/api/v1/records/opp", query_string=q).get_json()["records"]) == 1
