"""Private list views: a user saves what the list page shows as a view of their own (the columns,
the filter, the search and the sort), seen, changed and deleted by them only; an administrator may
save it shared. The rule lives in the metadata store, so the API says the same as the pages."""
from __future__ import annotations

import re

import pytest


def _deals(api, rows):
    r = api.post("/api/v1/records/deal", json=[{"name": n, "stage": s, "amount": a} for n, s, a in rows])
    assert r.status_code == 201, r.get_json()


@pytest.fixture
def rep_api(app, crm_pages, services):
    from engine.security.users import create_token

    token = create_token(services.engine, "rep")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _view_names(html):
    return re.findall(r'href="/o/deal\?view=([a-z0-9_]+)"', html)


def test_a_user_saves_a_private_view_from_the_list_page(rep_pages, admin_pages, crm_pages):
    _deals(crm_pages, [("Big win", "Won", 5000), ("Small win", "Won", 10), ("Open one", "New", 700)])
    r = rep_pages.post("/o/deal/views", {"label": "My big wins", "where": "amount > 100", "q": "win",
                                         "sort": "-amount", "shared": "on"})
    assert r.status_code == 303, r.text[:1500]
    name = re.search(r"view=([a-z0-9_]+)", r.headers["Location"]).group(1)
    assert name.startswith("my_big_wins_")
    page = rep_pages.get(r.headers["Location"])
    assert page.status_code == 200 and "was saved" in page.text
    assert "Big win" in page.text and "Small win" not in page.text and "Open one" not in page.text
    assert "(private)" in page.text and "Update this view" in page.text
    doc = next(v for v in crm_pages.get("/api/v1/objects/deal").get_json()["list_views"] if v["name"] == name)
    assert doc["shared"] is False and doc["order_by"] == "-amount"     # "shared" is an admin's choice only
    assert "amount > 100" in doc["where"] and "CONTAINS(LOWER(name), 'win')" in doc["where"]
    # the owner only: another user neither sees it in the switcher nor opens it by name
    admin = admin_pages.get("/o/deal")
    assert name not in _view_names(admin.text)
    other = admin_pages.get(f"/o/deal?view={name}")
    assert other.status_code == 200 and "Open one" in other.text      # falls back to "All"
    assert admin_pages.post(f"/o/deal/views/{name}/delete", {}).status_code == 404
    assert admin_pages.post(f"/o/deal/views/{name}", {"sort": "name"}).status_code == 404
    # Setup lists every view, a private one marked with its owner
    setup = admin_pages.get("/setup/objects/deal/list_views").text
    assert "My big wins</a> <span class=\"badge\" title=\"Private: only rep sees it\">Private</span>" in setup


def test_the_owner_updates_and_deletes_their_view(rep_pages, crm_pages):
    _deals(crm_pages, [("Alpha", "Won", 50), ("Beta", "New", 60)])
    r = rep_pages.post("/o/deal/views", {"label": "Won deals", "where": "stage = 'Won'"})
    name = re.search(r"view=([a-z0-9_]+)", r.headers["Location"]).group(1)
    # the view's own filter stays, the page's filter and sort are added
    r = rep_pages.post(f"/o/deal/views/{name}", {"where": "amount > 10", "sort": "-amount"})
    assert r.status_code == 303
    doc = next(v for v in crm_pages.get("/api/v1/objects/deal").get_json()["list_views"] if v["name"] == name)
    assert doc["where"] == "(stage = 'Won') && (amount > 10)" and doc["label"] == "Won deals"
    r = rep_pages.post(f"/o/deal/views/{name}/delete", {})
    assert r.status_code == 303 and r.headers["Location"] == "/o/deal"
    assert name not in _view_names(rep_pages.get("/o/deal").text)


@pytest.mark.parametrize("form, message", [
    ({"label": ""}, "Give the view a name."),
    ({"label": "Broken", "where": "amount >"}, "line 1"),
    ({"label": "Unknown", "where": "amountt > 1"}, "amountt"),
])
def test_a_refused_save_says_why_and_changes_nothing(rep_pages, crm_pages, form, message):
    before = crm_pages.get("/api/v1/objects/deal").get_json().get("list_views") or []
    r = rep_pages.post("/o/deal/views", form)
    assert r.status_code == 422
    assert message in r.text.replace("&#39;", "'") and 'id="view-label-error"' in r.text
    assert (crm_pages.get("/api/v1/objects/deal").get_json().get("list_views") or []) == before


def test_an_admin_saves_a_shared_view_everyone_sees(admin_pages, rep_pages, crm_pages):
    r = admin_pages.post("/o/deal/views", {"label": "Team pipeline", "sort": "name", "shared": "on"})
    assert r.status_code == 303
    name = re.search(r"view=([a-z0-9_]+)", r.headers["Location"]).group(1)
    assert name in _view_names(rep_pages.get("/o/deal").text)
    # a shared view is not the user's to change
    assert rep_pages.post(f"/o/deal/views/{name}/delete", {}).status_code == 404


def test_the_api_applies_the_same_rule(rep_api, crm_pages, rep_pages):
    """A user who is not an administrator saves private views through the API too, and sees only
    theirs and the shared ones."""
    r = rep_api.post("/api/v1/objects/deal/list_views", json={"name": "mine", "columns": ["name", "amount"]})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["shared"] is False and r.get_json()["owner_id"]
    assert "mine" in _view_names(rep_pages.get("/o/deal").text)
    # the admin's private view stays the admin's
    r = crm_pages.post("/api/v1/objects/deal/list_views",
                       json={"name": "admins_own", "columns": ["name"], "shared": False,
                             "owner_id": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 201
    names = [v["name"] for v in rep_api.get("/api/v1/objects/deal").get_json()["list_views"]]
    assert "mine" in names and "admins_own" not in names
    r = rep_api.delete("/api/v1/objects/deal/list_views/admins_own")
    assert r.status_code == 404
    r = rep_api.put("/api/v1/objects/deal/list_views/mine", json={"columns": ["name"], "shared": True})
    assert r.status_code == 200 and r.get_json()["shared"] is False    # never shared by a non-admin
    # an object the user may not read: as unknown
    assert rep_api.post("/api/v1/objects/nothing/list_views", json={"name": "x", "columns": ["name"]}).status_code == 404
    # other metadata stays admin-only
    assert rep_api.post("/api/v1/objects/deal/layouts", json={"name": "x", "sections": []}).status_code == 403
    assert rep_api.delete("/api/v1/objects/deal/list_views/mine").status_code == 204


@pytest.mark.parametrize("view", [
    {"name": "h1", "columns": ["name", "amount"]},
    {"name": "h2", "columns": ["name"], "order_by": "-amount"},
    {"name": "h3", "columns": ["name"], "where": "amount > 1"},
])
def test_a_hidden_field_answers_as_an_unknown_one(rep_api, crm_pages, rep_pages, view):
    """A user whose permission set hides 'amount' cannot learn that it exists by saving a view."""
    r = crm_pages.put("/api/v1/permission_sets/sales", json={
        "api_name": "sales", "label": "Sales", "objects": {"deal": {"read": True, "create": True, "edit": True},
                                                           "account": {"read": True}},
        "fields": {"deal": {"amount": "hidden"}}})
    assert r.status_code == 200, r.get_json()
    hidden = rep_api.post("/api/v1/objects/deal/list_views", json=view)
    unknown = rep_api.post("/api/v1/objects/deal/list_views",
                           json={k: (v.replace("amount", "amountx") if isinstance(v, str) else
                                     [c.replace("amount", "amountx") for c in v]) for k, v in view.items()})
    assert hidden.status_code == unknown.status_code and hidden.status_code in (400, 422)
    said = hidden.get_json()["error"]["message"].replace("amount", "X")
    assert said == unknown.get_json()["error"]["message"].replace("amountx", "X")
    # the page refuses it the same way
    form = {"label": "Sneaky", "where": view.get("where", ""), "sort": view.get("order_by", "")}
    r = rep_pages.post("/o/deal/views", form)
    if view.get("where") or view.get("order_by"):
        assert r.status_code in (400, 422) and "Unknown field" in r.text.replace("&#39;", "'")
