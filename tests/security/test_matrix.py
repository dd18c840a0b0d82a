"""Permission matrix: 5 roles, 8 users, every user against every record for read, edit
and delete, through single-record calls and list queries (counts and cursor pages),
plus field visibility — on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from tests.conftest import Api

ROLES = [("ceo", None), ("vp_sales", "ceo"), ("mgr_east", "vp_sales"), ("rep_east", "mgr_east"),
         ("support", "ceo")]
USERS = {  # username: (role, permission sets)
    "ceo_u": ("ceo", ["sales"]), "vp": ("vp_sales", ["sales"]), "mgr": ("mgr_east", ["sales"]),
    "rep1": ("rep_east", ["sales"]), "rep2": ("rep_east", ["sales"]), "sup": ("support", ["support"]),
    "outsider": (None, ["sales"]), "nobody": (None, []),
}
OWNERS = ["ceo_u", "vp", "mgr", "rep1", "rep1", "rep2", "sup", "outsider"]
BELOW = {"ceo": {"vp_sales", "mgr_east", "rep_east", "support"}, "vp_sales": {"mgr_east", "rep_east"},
         "mgr_east": {"rep_east"}, "rep_east": set(), "support": set()}


@pytest.fixture
def org(api, app, services):
    from engine.security.users import create_token, create_user

    r = api.post("/api/v1/objects", json={"api_name": "deal", "sharing": "private", "fields": [
        {"api_name": "amount", "type": "currency"}, {"api_name": "margin", "type": "percent"},
        {"api_name": "region", "type": "text"}]})
    assert r.status_code == 201
    for name, parent in ROLES:
        assert api.post("/api/v1/roles", json={"api_name": name, "parent": parent}).status_code == 201
    assert api.post("/api/v1/permission_sets", json={
        "api_name": "sales", "objects": {"deal": {"read": True, "create": True, "edit": True, "delete": True}},
        "fields": {"deal": {"margin": "read"}}}).status_code == 201
    assert api.post("/api/v1/permission_sets", json={
        "api_name": "support", "objects": {"deal": {"read": True}},
        "fields": {"deal": {"margin": "hidden"}}}).status_code == 201
    clients = {}
    for user, (role, sets) in USERS.items():
        create_user(services.engine, user, "password-123")
        if role:
            assert api.patch(f"/api/v1/users/{user}", json={"role": role}).status_code == 200
        for ps in sets:
            assert api.post(f"/api/v1/users/{user}/permission_sets", json={"permission_set": ps}).status_code == 201
        clients[user] = Api(app.test_client(), create_token(services.engine, user))
    users = {u["username"]: u["id"] for u in api.get("/api/v1/users").get_json()["users"]}
    records = []
    for i, owner in enumerate(OWNERS):
        rec = api.post("/api/v1/records/deal", json={"name": f"deal{i}", "amount": 100 * i, "margin": 10,
                                                     "owner_id": users[owner]}).get_json()
        records.append((rec["id"], owner))
    # rule: deals owned by rep_east are readable by support; manual shares
    assert api.post("/api/v1/sharing_rules", json={"object": "deal", "name": "east_to_support",
                                                   "owned_by_role": "rep_east", "share_with_role": "support",
                                                   "access": "read"}).status_code == 201
    vp_deal = records[1][0]
    ceo_deal = records[0][0]
    assert api.post(f"/api/v1/records/deal/{vp_deal}/shares", json={"user": "rep1", "access": "read"}).status_code == 201
    assert api.post(f"/api/v1/records/deal/{ceo_deal}/shares", json={"user": "outsider", "access": "edit"}).status_code == 201
    manual = {(vp_deal, "rep1"): "read", (ceo_deal, "outsider"): "edit"}
    return api, clients, records, manual


def expected(user, rec_id, owner, manual, access):
    role, sets = USERS[user]
    if not sets:
        return "hidden"         # no right to read the object: it does not exist for them (404)
    if access in ("edit", "delete") and "sales" not in sets:
        return "forbidden"      # no object right: 403 before any record is looked at
    owner_role = USERS[owner][0]
    ok = owner == user or (role and owner_role in BELOW.get(role, set()))
    share = manual.get((rec_id, user))
    if share and (access == "read" or share == "edit"):
        ok = True
    if role == "support" and owner_role == "rep_east" and access == "read":
        ok = True
    if ok:
        return "ok"
    if access != "read" and expected(user, rec_id, owner, manual, "read") == "ok":
        return "forbidden"
    return "hidden"


STATUS = {"ok": (200, 204), "hidden": (404,), "forbidden": (403,)}


def test_matrix(org):
    admin, clients, records, manual = org
    for user, client in clients.items():
        for rec_id, owner in records:
            exp = expected(user, rec_id, owner, manual, "read")
            r = client.get(f"/api/v1/records/deal/{rec_id}")
            assert r.status_code in STATUS[exp], (user, owner, "read", r.status_code)
            if r.status_code == 200:
                body = r.get_json()
                assert ("margin" in body) == (user != "sup"), (user, body)
            exp = expected(user, rec_id, owner, manual, "edit")
            r = client.patch(f"/api/v1/records/deal/{rec_id}", json={"region": user})
            assert r.status_code in STATUS[exp], (user, owner, "edit", r.status_code, r.get_json())
            exp = expected(user, rec_id, owner, manual, "delete")
            r = client.delete(f"/api/v1/records/deal/{rec_id}")
            assert r.status_code in STATUS[exp], (user, owner, "delete", r.status_code)
            if r.status_code == 204:
                assert admin.post(f"/api/v1/records/deal/{rec_id}/restore").status_code == 200
        # list: exactly the visible records, in counts and across cursor pages
        visible = {rid for rid, owner in records if expected(user, rid, owner, manual, "read") == "ok"}
        r = client.get("/api/v1/records/deal?with_total=true&limit=200")
        if not USERS[user][1]:
            assert r.status_code == 404
            continue
        assert r.get_json()["total"] == len(visible), user
        assert {x["id"] for x in r.get_json()["records"]} == visible, user
        seen, cursor = [], None
        while True:
            q = "/api/v1/records/deal?limit=2&order_by=-amount" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(q).get_json()
            seen += [x["id"] for x in page["records"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert set(seen) == visible and len(seen) == len(visible), user


def test_field_permissions_on_write_and_filters(org):
    admin, clients, records, _ = org
    rep = clients["rep1"]
    own = next(rid for rid, owner in records if owner == "rep1")
    r = rep.patch(f"/api/v1/records/deal/{own}", json={"margin": 50})
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {"margin": ["You may not change this field."]}
    r = rep.post("/api/v1/records/deal", json={"name": "x", "margin": 5})
    assert r.status_code == 422
    sup = clients["sup"]
    assert sup.get("/api/v1/records/deal?margin__gt=1").status_code == 400
    assert sup.get("/api/v1/records/deal?order_by=margin").status_code == 400
    assert all("margin" not in x for x in sup.get("/api/v1/records/deal").get_json()["records"])
    assert sup.post("/api/v1/records/deal", json={"name": "x"}).status_code == 403


def test_history_and_audit(org, services):
    admin, clients, records, _ = org
    admin.patch("/api/v1/objects/deal/fields/amount", json={"track_history": True})
    rid = records[3][0]
    rep = clients["rep1"]
    assert rep.patch(f"/api/v1/records/deal/{rid}", json={"amount": 999}).status_code == 200
    assert rep.patch(f"/api/v1/records/deal/{rid}", json={"amount": 999, "margin": 1}).status_code == 422
    hist = rep.get(f"/api/v1/records/deal/{rid}/history").get_json()["history"]
    assert [(h["field"], h["old"], h["new"]) for h in hist] == [("amount", 300.0, 999.0)]
    assert clients["vp"].get(f"/api/v1/records/deal/{rid}/history").status_code == 200
    assert clients["outsider"].get(f"/api/v1/records/deal/{rid}/history").status_code == 404
    entries = admin.get("/api/v1/audit?event=permission_change").get_json()["entries"]
    assert any(e["detail"].get("change") == "create_sharing_rule" for e in entries)
    meta = admin.get("/api/v1/audit?event=metadata_change&user=admin").get_json()["entries"]
    assert meta and meta[0]["detail"]["object"] == "deal"
    assert rep.get("/api/v1/audit").status_code == 403


def test_sign_in_throttling(app, services):
    from engine.security.users import create_user

    create_user(services.engine, "eve", "right-password")
    c = app.test_client()
    assert c.post("/api/v1/auth/login", json={"username": "eve", "password": "right-password"}).status_code == 200
    for _ in range(5):
        assert c.post("/api/v1/auth/login", json={"username": "eve", "password": "wrong"}).status_code == 401
    r = c.post("/api/v1/auth/login", json={"username": "eve", "password": "right-password"})
    assert r.status_code == 429 and "Too many failed sign-ins" in r.get_json()["error"]["message"]
    from engine.security.audit import search
    events = [e["event"] for e in search(services.engine, user="eve")]
    assert events[:2] == ["login_locked", "login_failed"] and "login" in events


def test_ownership_transfer(org):
    admin, clients, records, _ = org
    users = {u["username"]: u["id"] for u in admin.get("/api/v1/users").get_json()["users"]}
    rep1, rep2 = clients["rep1"], clients["rep2"]
    own = next(rid for rid, owner in records if owner == "rep1")
    r = rep1.patch(f"/api/v1/records/deal/{own}", json={"owner_id": users["rep2"]})
    assert r.status_code == 200 and r.get_json()["owner_id"] == users["rep2"]
    assert rep1.get(f"/api/v1/records/deal/{own}").status_code == 404      # no longer theirs
    assert rep2.get(f"/api/v1/records/deal/{own}").status_code == 200
    mgr_deal = next(rid for rid, owner in records if owner == "mgr")
    r = clients["vp"].patch(f"/api/v1/records/deal/{mgr_deal}", json={"owner_id": users["vp"]})
    assert r.status_code == 422 and "transfer" in r.get_json()["error"]["fields"]["owner_id"][0]
    r = admin.patch(f"/api/v1/records/deal/{mgr_deal}", json={"owner_id": "no-such-user"})
    assert r.status_code == 422


def test_export_shows_exactly_the_visible_records(org):
    import csv
    import io

    admin, clients, records, manual = org
    for user in ("rep1", "mgr", "sup", "outsider"):
        r = clients[user].get("/api/v1/records/deal/export")
        assert r.status_code == 200 and r.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
        visible = {rid for rid, owner in records if expected(user, rid, owner, manual, "read") == "ok"}
        assert {row["id"] for row in rows} == visible, user
        if rows:
            assert ("margin" in rows[0]) == (user != "sup")
    assert clients["nobody"].get("/api/v1/records/deal/export").status_code == 404
