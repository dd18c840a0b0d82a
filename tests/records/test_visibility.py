"""One visibility function: a record reachable only through a criteria sharing rule is found by a
related where=, shown by a related formula field, and the two agree; ``$user`` in a criteria rule
is the reader; lookups never reveal a record the writer cannot see (master-detail: edit)."""
from __future__ import annotations

import pytest

from engine.security.users import create_token, create_user
from tests.conftest import Api

READ = {"read": True}
WRITE = {"read": True, "create": True, "edit": True, "delete": True}


def ok(r, status=201):
    assert r.status_code == status, r.get_json()
    return r.get_json()


@pytest.fixture
def org(api, app, services):
    ok(api.post("/api/v1/objects", json={"api_name": "account", "label": "Account", "sharing": "private",
                                         "fields": [{"api_name": "tier", "type": "text"},
                                                    {"api_name": "manager", "type": "text"}]}))
    ok(api.post("/api/v1/objects", json={"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
        {"api_name": "account_tier", "type": "formula", "formula": "account.tier"}]}))
    ok(api.post("/api/v1/objects", json={"api_name": "visit", "label": "Visit", "fields": [
        {"api_name": "account", "label": "Account", "type": "master_detail", "target": "account"}]}))
    ok(api.post("/api/v1/roles", json={"api_name": "sales"}))
    ok(api.post("/api/v1/permission_sets", json={"api_name": "rep", "objects": {
        "account": WRITE, "deal": WRITE, "visit": WRITE}}))
    users, clients = {}, {}
    for name in ("ann", "bob"):
        create_user(services.engine, name, "password-123")
        ok(api.patch(f"/api/v1/users/{name}", json={"role": "sales"}), 200)
        ok(api.post(f"/api/v1/users/{name}/permission_sets", json={"permission_set": "rep"}))
        clients[name] = Api(app.test_client(), create_token(services.engine, name))
    users = {u["username"]: u["id"] for u in ok(api.get("/api/v1/users"), 200)["users"]}
    accounts = {}
    for name, tier, manager, owner in (("Gold", "gold", "ann", "admin"), ("Silver", "silver", "bob", "admin"),
                                       ("Annco", "bronze", None, "ann")):
        accounts[name] = ok(api.post("/api/v1/records/account", json={
            "name": name, "tier": tier, "manager": manager, "owner_id": users[owner]}))["id"]
    deals = {name: ok(api.post("/api/v1/records/deal", json={"name": name, "account": accounts[acct]}))["id"]
             for name, acct in (("D-gold", "Gold"), ("D-silver", "Silver"), ("D-annco", "Annco"))}
    return {"api": api, "clients": clients, "accounts": accounts, "deals": deals}


def names(client, obj, **query):
    return sorted(r["name"] for r in ok(client.get(f"/api/v1/records/{obj}", query_string=query), 200)["records"])


def test_criteria_rule_reaches_related_where_and_formula_alike(org):
    api, ann = org["api"], org["clients"]["ann"]
    assert names(ann, "account") == ["Annco"]
    assert names(ann, "deal", where="account.tier = 'gold'") == []
    assert {r["name"]: r["account_tier"] for r in ok(ann.get("/api/v1/records/deal"), 200)["records"]} == {
        "D-gold": None, "D-silver": None, "D-annco": "bronze"}
    ok(api.post("/api/v1/sharing_rules", json={"object": "account", "name": "gold_to_sales",
                                               "criteria": "tier = 'gold'", "share_with_role": "sales",
                                               "access": "read"}))
    assert names(ann, "account") == ["Annco", "Gold"]
    tiers = {r["name"]: r["account_tier"] for r in ok(ann.get("/api/v1/records/deal"), 200)["records"]}
    assert tiers == {"D-gold": "gold", "D-silver": None, "D-annco": "bronze"}
    for tier in ("gold", "silver", "bronze"):
        by_related = names(ann, "deal", where=f"account.tier = '{tier}'")
        by_formula = names(ann, "deal", where=f"account_tier = '{tier}'")
        assert by_related == by_formula == sorted(n for n, t in tiers.items() if t == tier), tier
    assert names(ann, "deal", order_by="account_tier", where="NOT(ISBLANK(account_tier))") == ["D-annco", "D-gold"]
    gold = ok(ann.get(f"/api/v1/records/deal/{org['deals']['D-gold']}"), 200)
    assert gold["account_tier"] == "gold"
    assert ann.get(f"/api/v1/records/account/{org['accounts']['Silver']}").status_code == 404
    # the admin sees every tier
    assert names(api, "deal", where="account.tier = 'silver'") == ["D-silver"]


def test_user_in_a_criteria_rule_is_the_reader(org):
    api, ann, bob = org["api"], org["clients"]["ann"], org["clients"]["bob"]
    ok(api.post("/api/v1/sharing_rules", json={"object": "account", "name": "managed_by_me",
                                               "criteria": "manager = $user.username", "share_with_role": "sales",
                                               "access": "read"}))
    assert names(ann, "account") == ["Annco", "Gold"]
    assert names(bob, "account") == ["Silver"]
    assert names(ann, "deal", where="NOT(ISBLANK(account.manager))") == ["D-gold"]
    assert names(bob, "deal", where="NOT(ISBLANK(account.manager))") == ["D-silver"]
    assert {r["name"]: r["account_tier"] for r in ok(bob.get("/api/v1/records/deal"), 200)["records"]} == {
        "D-gold": None, "D-silver": "silver", "D-annco": None}
    assert bob.get(f"/api/v1/records/account/{org['accounts']['Gold']}").status_code == 404
    assert ok(ann.get(f"/api/v1/records/account/{org['accounts']['Gold']}"), 200)["manager"] == "ann"


def _lookup_refusal(client, method, url, body):
    r = getattr(client, method)(url, json=body)
    assert r.status_code == 422, r.get_json()
    return r.get_json()["error"]


def test_a_lookup_to_an_invisible_record_answers_as_a_missing_one(org):
    ann, accounts = org["clients"]["ann"], org["accounts"]
    missing = "01a00000-0000-7000-8000-000000000000"
    for target in (accounts["Silver"], missing):
        assert _lookup_refusal(ann, "post", "/api/v1/records/deal", {"name": "New", "account": target}) == {
            "code": "records.E001", "message": f"Deal 'New' was not saved: Account: No Account with id '{target}'.",
            "fields": {"account": [f"No Account with id '{target}'."]}}
        assert _lookup_refusal(ann, "patch", f"/api/v1/records/deal/{org['deals']['D-annco']}",
                               {"account": target}) == {
            "code": "records.E001",
            "message": f"Deal 'D-annco' was not saved: Account: No Account with id '{target}'.",
            "fields": {"account": [f"No Account with id '{target}'."]}}
    rows = [{"name": "A", "account": accounts["Annco"]}, {"name": "B", "account": accounts["Silver"]}]
    r = ann.post("/api/v1/records/deal", json=rows)
    assert r.status_code == 422 and r.get_json()["error"]["message"] == (
        f"1 of 2 Deals are invalid; nothing was saved. Row 2: Account: No Account with id '{accounts['Silver']}'.")
    assert ok(ann.post("/api/v1/records/deal", json={"name": "Mine", "account": accounts["Annco"]}))


def test_master_detail_child_needs_a_parent_the_writer_can_edit(org):
    api, ann, accounts = org["api"], org["clients"]["ann"], org["accounts"]
    ok(api.post("/api/v1/sharing_rules", json={"object": "account", "name": "gold_to_sales",
                                               "criteria": "tier = 'gold'", "share_with_role": "sales",
                                               "access": "read"}))
    gold = accounts["Gold"]
    assert ok(ann.get(f"/api/v1/records/account/{gold}"), 200)["name"] == "Gold"      # visible …
    assert ann.patch(f"/api/v1/records/account/{gold}", json={"tier": "x"}).status_code == 403   # … not editable
    # a plain lookup only needs read; a master-detail child needs edit on its parent
    assert ok(ann.post("/api/v1/records/deal", json={"name": "Lookup", "account": gold}))["account_tier"] == "gold"
    assert _lookup_refusal(ann, "post", "/api/v1/records/visit", {"name": "Call", "account": gold}) == {
        "code": "records.E001", "message": f"Visit 'Call' was not saved: Account: No Account with id '{gold}'.",
        "fields": {"account": [f"No Account with id '{gold}'."]}}
    assert ok(ann.post("/api/v1/records/visit", json={"name": "Call", "account": accounts["Annco"]}))
    assert ok(api.post("/api/v1/records/visit", json={"name": "Admin call", "account": gold}))
    assert names(api, "visit") == ["Admin call", "Call"]
