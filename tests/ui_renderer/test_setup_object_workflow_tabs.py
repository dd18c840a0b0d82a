"""The Object Manager's "Approvals" and "Automations" tabs list the object's processes and rules
with links to their editors (and a "New" for each), for administrators only."""
from __future__ import annotations

PROCESS = {"name": "big_deals", "label": "Big deals", "entry_criteria": "amount > 1000", "order": 2,
           "steps": [{"name": "manager", "approvers": [{"type": "manager"}]}]}
RULE = {"name": "flag_big", "label": "Flag big deals", "trigger": "create", "condition": "amount > 100",
        "actions": [{"type": "send_email", "to": "owner", "subject": "'Big one'", "body": "name"}]}


def test_the_tabs_list_processes_and_rules_with_links(admin_pages, crm_pages):
    html = admin_pages.get("/setup/objects/deal/approvals").text
    assert "No approval processes yet" in html and 'href="/setup/approvals/deal/new"' in html
    assert 'href="/setup/objects/deal/automations"' in html       # the tab bar has both tabs
    r = crm_pages.post("/api/v1/objects/deal/approval_processes", json=PROCESS)
    assert r.status_code == 201, r.get_json()
    r = crm_pages.post("/api/v1/objects/deal/automation_rules", json=RULE)
    assert r.status_code == 201, r.get_json()
    html = admin_pages.get("/setup/objects/deal/approvals").text
    assert 'href="/setup/approvals/deal/big_deals">Big deals</a>' in html and "amount &gt; 1000" in html
    assert 'aria-current="page">Approvals</a>' in html
    html = admin_pages.get("/setup/objects/deal/automations").text
    assert 'href="/setup/automations/deal/flag_big">Flag big deals</a>' in html
    assert "When a record is created" in html and "amount &gt; 100" in html
    assert 'href="/setup/automations/deal/new"' in html
    # the links open the editors
    assert admin_pages.get("/setup/approvals/deal/big_deals").status_code == 200
    assert admin_pages.get("/setup/automations/deal/flag_big").status_code == 200


def test_the_tabs_are_for_admins_and_known_objects(admin_pages, rep_pages):
    assert rep_pages.get("/setup/objects/deal/approvals").status_code == 403
    assert rep_pages.get("/setup/objects/deal/automations").status_code == 403
    assert admin_pages.get("/setup/objects/nothing/approvals").status_code == 404
    assert admin_pages.get("/setup/objects/nothing/automations").status_code == 404
