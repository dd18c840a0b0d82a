"""The pages of every object, through the Flask test client: the form writes through the record
service (validation, rights, history as in the API), failed saves answer 422 with every value
kept, the list view searches, filters, sorts and pages, the recycle bin restores, and an object or
field created through the API (or by another process) has working pages at once."""
from __future__ import annotations

import re

import pytest

DEAL_FORM = {"name": "Acme renewal", "stage": "New", "amount": "1200.50", "probability": "40",
             "quantity": "3", "close_date": "2025-03-01", "signed_at": "2025-03-01T09:30",
             "is_priority": "on", "contact_email": "buyer@acme.example", "notes": "Line one\nLine two",
             "tags": ["a", "c"]}


def _records(api, obj="deal", **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.get(f"/api/v1/records/{obj}?{query}").get_json()["records"]


def test_create_through_the_form(admin_pages, crm_pages):
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Acme"}).get_json()
    form = admin_pages.get("/o/deal/new")
    assert form.status_code == 200
    for name in ("name", "stage", "amount", "close_date", "signed_at", "is_priority", "tags", "account"):
        assert f'name="{name}"' in form.text, name
    assert 'type="date"' in form.text and 'type="datetime-local"' in form.text and 'step="0.01"' in form.text
    r = admin_pages.post("/o/deal/new", dict(DEAL_FORM, account="", account__search="Acme"))
    assert r.status_code == 303, r.text[:2000]
    rec = _records(crm_pages)[0]
    assert r.headers["Location"] == f"/o/deal/{rec['id']}"
    assert rec["amount"] == 1200.5 and rec["probability"] == 40 and rec["quantity"] == 3
    assert rec["is_priority"] is True and rec["tags"] == ["a", "c"] and rec["account"] == acc["id"]
    assert rec["signed_at"] == "2025-03-01T09:30:00Z" and rec["notes"] == "Line one\nLine two"
    detail = admin_pages.get(r.headers["Location"])
    assert detail.status_code == 200 and "was created" in detail.text
    assert f'href="/o/account/{acc["id"]}">Acme</a>' in detail.text        # lookup shown by name
    assert "1,200.50" in detail.text and "Mar 1, 2025" in detail.text


def test_failed_save_keeps_every_value_and_ties_messages(admin_pages, crm_pages):
    data = dict(DEAL_FORM, stage="", amount="12x", contact_email="not-an-email")
    r = admin_pages.post("/o/deal/new", data)
    assert r.status_code == 422
    html = r.text
    assert 'value="Acme renewal"' in html and 'value="12x"' in html and 'value="not-an-email"' in html
    assert ">Line one\nLine two</textarea>" in html and 'value="2025-03-01T09:30"' in html
    assert re.search(r'<option value="c" selected>', html) and 'name="is_priority" value="on" checked' in html
    for field, message in (("amount", "Not a valid number."), ("contact_email", "Not a valid email address.")):
        assert f'id="f-{field}-error"' in html and message in html, field
        assert re.search(rf'id="f-{field}"[^>]*aria-describedby="[^"]*f-{field}-error', html), field
    assert 'href="#f-amount"' in html        # the summary links to each field in error
    r = admin_pages.post("/o/deal/new", dict(DEAL_FORM, stage="", account="", account__search="Nobody Inc"))
    assert r.status_code == 422 and 'value="Nobody Inc"' in r.text
    assert 'id="f-account-error"' in r.text and "No Account named 'Nobody Inc'." in r.text.replace("&#39;", "'")
    r = admin_pages.post("/o/deal/new", dict(DEAL_FORM, stage=""))
    assert r.status_code == 422 and 'id="f-stage-error">Required.' in r.text
    assert _records(crm_pages) == []


def test_validation_rule_message_where_it_points_and_in_the_summary(admin_pages, crm_pages):
    rule = {"name": "won_needs_date", "condition": "AND(stage = 'Won', ISBLANK(close_date))",
            "message": "Won deals need a close date.", "field": "close_date"}
    assert crm_pages.post("/api/v1/objects/deal/validation_rules", json=rule).status_code == 201
    rule2 = {"name": "no_big_lost", "condition": "AND(stage = 'Lost', amount > 1000)",
             "message": "Big deals are never lost."}
    assert crm_pages.post("/api/v1/objects/deal/validation_rules", json=rule2).status_code == 201
    r = admin_pages.post("/o/deal/new", {"name": "X", "stage": "Won"})
    assert r.status_code == 422
    assert re.search(r'id="f-close_date-error">Won deals need a close date.', r.text)
    r = admin_pages.post("/o/deal/new", {"name": "X", "stage": "Lost", "amount": "5000"})
    assert r.status_code == 422 and "Big deals are never lost." in r.text and 'role="alert"' in r.text


def test_edit_update_history_and_stale_version(admin_pages, crm_pages):
    assert crm_pages.patch("/api/v1/objects/deal/fields/amount", json={"track_history": True}).status_code == 200
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Deal A", "stage": "New", "amount": 10}).get_json()
    url = f"/o/deal/{rec['id']}"
    form = admin_pages.get(url + "/edit")
    assert form.status_code == 200 and 'value="Deal A"' in form.text and 'name="_row_version" value="1"' in form.text
    r = admin_pages.post(url + "/edit", {"name": "Deal A", "stage": "Won", "amount": "25", "_row_version": "1"})
    assert r.status_code == 303 and r.headers["Location"] == url
    page = admin_pages.get(url)
    assert "History" in page.text and "10.00" in page.text and "25.00" in page.text
    r = admin_pages.post(url + "/edit", {"name": "Deal A", "stage": "Lost", "amount": "30", "_row_version": "1"})
    assert r.status_code == 409 and 'value="30"' in r.text            # stale: kept, nothing written
    assert crm_pages.get(f"/api/v1/records/deal/{rec['id']}").get_json()["amount"] == 25


def test_delete_restore_and_mass_delete(admin_pages, crm_pages):
    made = crm_pages.post("/api/v1/records/deal", json=[{"name": f"D{i}", "stage": "New"} for i in range(3)])
    ids = [d["id"] for d in made.get_json()["records"]]
    r = admin_pages.post(f"/o/deal/{ids[0]}/delete")
    assert r.status_code == 303 and r.headers["Location"] == "/o/deal"
    assert "moved to the recycle bin" in admin_pages.get("/o/deal").text
    bin_page = admin_pages.get("/o/deal/bin")
    assert bin_page.status_code == 200 and "D0" in bin_page.text and "Restore" in bin_page.text
    r = admin_pages.post(f"/o/deal/{ids[0]}/restore")
    assert r.status_code == 303 and r.headers["Location"] == f"/o/deal/{ids[0]}"
    r = admin_pages.client.post("/o/deal/delete", data={"ids": ids[1:], "csrf_token": admin_pages.token()})
    assert r.status_code == 303
    assert sorted(d["name"] for d in _records(crm_pages)) == ["D0"]
    assert "2 Deals moved to the recycle bin." in admin_pages.get("/o/deal").text


def test_list_search_filter_sort_and_paging(admin_pages, crm_pages):
    crm_pages.post("/api/v1/records/deal", json=[
        {"name": f"Deal {i:02d}", "stage": "Won" if i % 2 else "New", "amount": i * 100} for i in range(30)])
    page = admin_pages.get("/o/deal")
    assert page.status_code == 200 and "30 records" in page.text
    assert page.text.count('class="record-link"') == 25
    nxt = re.search(r'href="([^"]+)" rel="next"', page.text).group(1).replace("&amp;", "&")
    second = admin_pages.get(nxt)
    assert second.text.count('class="record-link"') == 5
    prev = re.search(r'href="([^"]+)" rel="prev"', second.text).group(1).replace("&amp;", "&")
    assert admin_pages.get(prev).text.count('class="record-link"') == 25
    found = admin_pages.get("/o/deal?q=deal 0")
    assert "10 records" in found.text                                  # case-insensitive contains
    won = admin_pages.get("/o/deal?where=stage%20%3D%20'Won'%20%26%26%20amount%20%3E%202500")
    assert "2 records" in won.text and "Deal 27" in won.text and "Deal 29" in won.text
    by_amount = admin_pages.get("/o/deal?sort=-amount").text
    assert by_amount.index("Deal 29") < by_amount.index("Deal 28") and 'aria-sort="descending"' in by_amount
    assert 'href="/o/deal?sort=amount"' in by_amount            # clicking again sorts ascending


@pytest.mark.parametrize("query", ["where=amount%20%3E", "where=nope%20%3D%201", "sort=nope", "sort=-tags",
                                   "cursor=garbage", "view=missing", "q=%27%22%5C%00", "where=%00",
                                   "back=a,b,c&cursor=x", "sort=" + "a," * 50])
def test_bad_list_parameters_never_500(admin_pages, crm_pages, query):
    r = admin_pages.get(f"/o/deal?{query}")
    assert r.status_code in (200, 400), (query, r.status_code)
    assert "Traceback" not in r.text


def test_where_error_shows_line_and_column(admin_pages, crm_pages):
    r = admin_pages.get("/o/deal?where=amount%20%3E%3E%201")
    assert r.status_code == 400 and 'id="list-where-error"' in r.text and "column" in r.text


def test_lookup_search_endpoint(admin_pages, rep_pages, crm_pages, app):
    crm_pages.post("/api/v1/records/account", json=[{"name": "Acme Energy", "industry": "Energy"},
                                                    {"name": "ACME Labs"}, {"name": "Globex"}])
    out = admin_pages.get("/o/account/lookup?q=acme").get_json()
    assert sorted(r["name"] for r in out["records"]) == ["ACME Labs", "Acme Energy"]
    assert {r["detail"] for r in out["records"]} == {"Energy", ""}
    assert app.test_client().get("/o/account/lookup?q=a").status_code == 401
    assert rep_pages.get("/o/account/lookup?q=acme").get_json()["new_url"] is None   # rep may not create


def test_related_list_and_prefilled_new(admin_pages, crm_pages):
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Acme"}).get_json()
    crm_pages.post("/api/v1/records/deal", json={"name": "Child deal", "stage": "New", "account": acc["id"]})
    page = admin_pages.get(f"/o/account/{acc['id']}")
    assert "Child deal" in page.text and f"/o/deal/new?account={acc['id']}" in page.text
    form = admin_pages.get(f"/o/deal/new?account={acc['id']}")
    assert f'name="account" value="{acc["id"]}"' in form.text and 'value="Acme"' in form.text


def test_rights_are_the_services(rep_pages, nobody_pages, crm_pages):
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Acme"}).get_json()
    assert rep_pages.get("/o/account").status_code == 200
    assert rep_pages.get("/o/account/new").status_code == 403
    assert rep_pages.post("/o/account/new", {"name": "Nope"}).status_code == 403
    assert rep_pages.post(f"/o/account/{acc['id']}/delete").status_code == 403
    assert nobody_pages.get("/o/deal").status_code == 404      # an object they may not read: as a missing one
    assert "Deals" not in nobody_pages.get("/").text
    ps = {"api_name": "no_amount", "objects": {"deal": {"read": True, "create": True, "edit": True}},
          "fields": {"deal": {"amount": "hidden", "probability": "read"}}}
    assert crm_pages.post("/api/v1/permission_sets", json=ps).status_code == 201
    assert crm_pages.post("/api/v1/users/nobody/permission_sets", json={"permission_set": "no_amount"}).status_code == 201
    form = nobody_pages.get("/o/deal/new").text
    assert 'name="amount"' not in form and 'name="probability"' not in form and 'name="stage"' in form
    r = nobody_pages.post("/o/deal/new", {"name": "Sneaky", "stage": "New", "amount": "99"})
    assert r.status_code == 303                                    # the hidden field sent is not read
    rec = crm_pages.get("/api/v1/records/deal").get_json()["records"][0]
    assert rec["amount"] is None
    assert "Amount" not in nobody_pages.get(f"/o/deal/{rec['id']}").text
    assert nobody_pages.get("/o/deal?sort=amount").status_code == 400


def test_new_object_and_field_from_another_process(app, admin_pages, crm_pages, db_url):
    from engine.services import build_services
    from engine.security import SYSTEM_ACTOR

    doc = {"api_name": "equipment", "label": "Equipment", "plural_label": "Equipment", "label_zh": "设备",
           "fields": [{"api_name": "serial", "type": "text", "required": True}]}
    assert crm_pages.post("/api/v1/objects", json=doc).status_code == 201
    assert 'href="/o/equipment"' in admin_pages.get("/").text
    r = admin_pages.post("/o/equipment/new", {"name": "Lathe", "serial": "S-1"})
    assert r.status_code == 303
    other = build_services({"database_url": db_url})      # a second process changes the model
    try:
        other.store.add_field("equipment", {"api_name": "weight", "label": "Weight", "type": "number"}, SYSTEM_ACTOR)
    finally:
        other.dispose()
    assert 'name="weight"' in admin_pages.get("/o/equipment/new").text
    assert "Weight" in admin_pages.get(r.headers["Location"]).text
    assert admin_pages.post("/o/equipment/new", {"name": "Press", "serial": "S-2", "weight": "12.5"}).status_code == 303
    assert "12.5" in admin_pages.get("/o/equipment?sort=-weight").text


def test_global_search(admin_pages, crm_pages):
    crm_pages.post("/api/v1/records/account", json={"name": "Zeta Corp"})
    crm_pages.post("/api/v1/records/deal", json={"name": "Zeta renewal", "stage": "New"})
    page = admin_pages.get("/search?q=zeta")
    assert "Zeta Corp" in page.text and "Zeta renewal" in page.text
