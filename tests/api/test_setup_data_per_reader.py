"""Automation rules and approval processes (webhook URLs, who approves what) are setup data: an
object's description shows them to administrators only."""
from __future__ import annotations

from tests.conftest import Api

RULE = {"name": "flag_big", "trigger": "create", "condition": "amount > 100",
        "actions": [{"type": "send_email", "to": "owner", "subject": "'secret-path'", "body": "name"}]}


def test_non_admins_do_not_see_automation_rules_in_object_descriptions(crm, app, services):
    from engine.security.users import create_token, create_user

    r = crm.post("/api/v1/objects/deal/automation_rules", json=RULE)
    assert r.status_code == 201, r.get_json()
    assert crm.post("/api/v1/permission_sets", json={
        "api_name": "sales", "objects": {"deal": {"read": True}}}).status_code == 201
    create_user(services.engine, "rep", "password-123")
    assert crm.post("/api/v1/users/rep/permission_sets", json={"permission_set": "sales"}).status_code == 201
    rep = Api(app.test_client(), create_token(services.engine, "rep"))
    doc = rep.get("/api/v1/objects/deal").get_json()
    assert doc["api_name"] == "deal"
    assert "automation_rules" not in doc and "approval_processes" not in doc
    assert "secret-path" not in rep.get("/api/v1/objects").get_data(as_text=True)
    assert "secret-path" not in rep.get("/api/v1/objects/deal/history").get_data(as_text=True)
    assert crm.get("/api/v1/objects/deal").get_json()["automation_rules"][0]["name"] == "flag_big"
