"""The home page's recent records: per user, newest first, read back through the record service
as that user (a record they may no longer see — deleted, or of an object they lost — is not
listed), plus the approvals waiting for them."""
from __future__ import annotations

import re

import pytest


@pytest.fixture(autouse=True)
def _fresh_memo():
    from engine.records.recent import forget_user_memo
    forget_user_memo()
    yield
    forget_user_memo()


def _recent(html):
    block = html.split('id="recent-title"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<a href="/o/(\w+)/([0-9a-f-]+)">([^<]*)</a>', block)


def test_recent_records_are_per_user_and_newest_first(admin_pages, rep_pages, crm_pages):
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Acme"}).get_json()
    d1, d2 = (crm_pages.post("/api/v1/records/deal", json={"name": n, "stage": "New"}).get_json()
              for n in ("First", "Second"))
    assert "Records you open appear here." in rep_pages.get("/").text
    for url in (f"/o/deal/{d1['id']}", f"/o/account/{acc['id']}", f"/o/deal/{d2['id']}", f"/o/deal/{d1['id']}"):
        assert rep_pages.get(url).status_code == 200
    assert _recent(rep_pages.get("/").text) == [("deal", d1["id"], "First"), ("deal", d2["id"], "Second"),
                                                ("account", acc["id"], "Acme")]
    assert _recent(admin_pages.get("/").text) == []              # another user's views are theirs
    # a renamed record shows its name as it is now; a deleted one is gone
    crm_pages.patch(f"/api/v1/records/deal/{d2['id']}", json={"name": "Second, renamed"})
    crm_pages.delete(f"/api/v1/records/deal/{d1['id']}")
    assert _recent(rep_pages.get("/").text) == [("deal", d2["id"], "Second, renamed"),
                                                ("account", acc["id"], "Acme")]


def test_recent_records_follow_the_readers_rights(rep_pages, crm_pages, services):
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Globex"}).get_json()
    assert rep_pages.get(f"/o/account/{acc['id']}").status_code == 200
    assert [r[2] for r in _recent(rep_pages.get("/").text)] == ["Globex"]
    # the permission set loses accounts: the record is no longer listed (nor its name shown)
    r = crm_pages.put("/api/v1/permission_sets/sales", json={"api_name": "sales", "label": "Sales", "objects": {
        "deal": {"read": True, "create": True, "edit": True, "delete": True}}})
    assert r.status_code == 200, r.get_json()
    html = rep_pages.get("/").text
    assert _recent(html) == [] and "Globex" not in html


def test_the_record_service_keeps_the_newest_per_user(services, crm_pages):
    from engine.records import recent

    admin = services.actor("admin")
    svc = services.records()
    rows = svc.create("account", {"name": "A0"}, admin), svc.create("account", {"name": "A1"}, admin)
    old = recent.KEEP_PER_USER
    recent.KEEP_PER_USER = 1
    try:
        for rec in rows:
            svc.note_viewed("account", rec["id"], admin)
    finally:
        recent.KEEP_PER_USER = old
    assert [r["name"] for _o, r in svc.recent(admin)] == ["A1"]
    svc.note_viewed("account", rows[0]["id"], services.actor("admin").__class__(
        user_id=None, username="system"))         # the system actor notes nothing
    assert [r["name"] for _o, r in svc.recent(admin)] == ["A1"]
