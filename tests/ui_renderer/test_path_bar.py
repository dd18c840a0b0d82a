"""The path bar: a picklist marked ``"path": true`` is shown on the record page as its stages in
order; a click moves the record through the record service, so validation rules, field rights,
stale versions and history apply as for any save (the same rule answers through the API)."""
from __future__ import annotations

import re

import pytest

LOST_NEEDS_NOTES = {"name": "lost_needs_notes", "condition": "AND(stage = 'Lost', ISBLANK(notes))",
                    "message": "Say why the deal was lost.", "field": "notes"}


@pytest.fixture
def path_deal(crm_pages):
    r = crm_pages.patch("/api/v1/objects/deal/fields/stage", json={"path": True, "track_history": True})
    assert r.status_code == 200, r.get_json()
    assert crm_pages.post("/api/v1/objects/deal/validation_rules", json=LOST_NEEDS_NOTES).status_code == 201
    return crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New"}).get_json()


def _stages(html):
    bar = html.split('class="card path-bar"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<li class="stage stage-(\w+)', bar)


def test_the_record_page_shows_the_stages_and_a_click_moves_on(rep_pages, crm_pages, path_deal):
    url = f"/o/deal/{path_deal['id']}"
    html = rep_pages.get(url).text
    assert _stages(html) == ["current", "todo", "todo"] and 'aria-current="step"' in html
    assert "Mark 'Won' as current" in html
    r = rep_pages.post(f"{url}/path", {"value": "Won", "_row_version": str(path_deal["row_version"])})
    assert r.status_code == 303 and r.headers["Location"] == url
    html = rep_pages.get(url).text
    assert "Stage is now &#39;Won&#39;." in html and _stages(html) == ["done", "current", "todo"]
    rec = crm_pages.get(f"/api/v1/records/deal/{path_deal['id']}").get_json()
    assert rec["stage"] == "Won"
    history = crm_pages.get(f"/api/v1/records/deal/{path_deal['id']}/history").get_json()
    assert any(h["field"] == "stage" for h in history.get("history", history.get("records", [])))


def test_a_rule_refuses_the_move_with_its_message(rep_pages, crm_pages, path_deal):
    url = f"/o/deal/{path_deal['id']}"
    r = rep_pages.post(f"{url}/path", {"value": "Lost"})
    assert r.status_code == 303
    html = rep_pages.get(url).text.replace("&#39;", "'")
    assert "The record was not moved to 'Lost': Say why the deal was lost." in html
    assert crm_pages.get(f"/api/v1/records/deal/{path_deal['id']}").get_json()["stage"] == "New"
    # the same rule through the API
    r = crm_pages.patch(f"/api/v1/records/deal/{path_deal['id']}", json={"stage": "Lost"})
    assert r.status_code == 422 and "Say why the deal was lost." in str(r.get_json())


def test_a_stale_page_and_bad_values_change_nothing(rep_pages, crm_pages, path_deal):
    url = f"/o/deal/{path_deal['id']}"
    crm_pages.patch(f"/api/v1/records/deal/{path_deal['id']}", json={"name": "Acme 2"})
    r = rep_pages.post(f"{url}/path", {"value": "Won", "_row_version": str(path_deal["row_version"])})
    assert r.status_code == 303 and "Someone else changed this record" in rep_pages.get(url).text
    r = rep_pages.post(f"{url}/path", {"value": "Nonsense"})
    assert r.status_code == 303 and "was not moved" in rep_pages.get(url).text
    assert crm_pages.get(f"/api/v1/records/deal/{path_deal['id']}").get_json()["stage"] == "New"
    assert rep_pages.post(f"{url}/path", {"value": "Won"}, csrf=False).status_code == 400


def test_who_may_not_edit_sees_the_bar_without_buttons(app, crm_pages, path_deal):
    from engine.security.users import create_user
    from tests.ui_renderer.conftest import _signed_in

    r = crm_pages.post("/api/v1/permission_sets", json={"api_name": "readers", "label": "Readers",
                                                        "objects": {"deal": {"read": True}}})
    assert r.status_code == 201
    create_user(app.extensions["tessera"].engine, "reader", "reader-password")
    crm_pages.post("/api/v1/users/reader/permission_sets", json={"permission_set": "readers"})
    reader = _signed_in(app, "reader", "reader-password")
    url = f"/o/deal/{path_deal['id']}"
    html = reader.get(url).text
    assert _stages(html) == ["current", "todo", "todo"] and "/path" not in html
    assert reader.post(f"{url}/path", {"value": "Won"}).status_code == 403


def test_no_path_without_the_marker(admin_pages, crm_pages):
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Plain", "stage": "New"}).get_json()
    assert "path-bar" not in admin_pages.get(f"/o/deal/{rec['id']}").text
    assert admin_pages.post(f"/o/deal/{rec['id']}/path", {"value": "Won"}).status_code == 404


def test_setup_offers_the_marker_for_picklists_only(admin_pages, crm_pages):
    assert 'name="path"' in admin_pages.get("/setup/objects/deal/fields/stage").text
    assert 'name="path"' not in admin_pages.get("/setup/objects/deal/fields/amount").text
    r = crm_pages.patch("/api/v1/objects/deal/fields/amount", json={"path": True})
    assert r.status_code == 422
