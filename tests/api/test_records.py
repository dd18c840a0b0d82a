"""Record API walkthrough on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest


def _acc(api, name="Acme", industry="Energy"):
    r = api.post("/api/v1/records/account", json={"name": name, "industry": industry})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_create_read_update_delete_restore(crm):
    acc = _acc(crm)
    r = crm.post("/api/v1/records/deal", json={
        "name": "Big deal", "amount": 1234.5, "stage": "New", "close_date": "2025-03-01",
        "signed_at": "2025-03-01T10:00:00+02:00", "is_priority": True, "contact_email": "a@example.com",
        "tags": ["b", "a"], "account": acc["id"], "quantity": 3, "probability": 40})
    assert r.status_code == 201, r.get_json()
    deal = r.get_json()
    assert r.headers["ETag"] == '"1"'
    assert deal["amount"] == 1234.5 and deal["stage"] == "New" and deal["close_date"] == "2025-03-01"
    assert deal["signed_at"] == "2025-03-01T08:00:00Z"
    assert deal["tags"] == ["a", "b"] and deal["is_priority"] is True and deal["number"] == "D-0001"
    assert deal["row_version"] == 1 and deal["deleted_at"] is None and deal["owner_id"]

    got = crm.get(f"/api/v1/records/deal/{deal['id']}").get_json()
    assert got == deal

    r = crm.patch(f"/api/v1/records/deal/{deal['id']}", json={"amount": "99.999"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.get_json()["amount"] == 100.0 and r.get_json()["row_version"] == 2
    r = crm.patch(f"/api/v1/records/deal/{deal['id']}", json={"amount": 1}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert r.get_json()["error"]["code"] == "records.E073"

    assert crm.delete(f"/api/v1/records/deal/{deal['id']}").status_code == 204
    assert crm.get(f"/api/v1/records/deal/{deal['id']}").status_code == 404
    binned = crm.get("/api/v1/records/deal?deleted=true").get_json()["records"]
    assert [d["id"] for d in binned] == [deal["id"]]
    r = crm.post(f"/api/v1/records/deal/{deal['id']}/restore")
    assert r.status_code == 200 and r.get_json()["deleted_at"] is None
    assert crm.get(f"/api/v1/records/deal/{deal['id']}").status_code == 200
    # purge only from the recycle bin
    assert crm.delete(f"/api/v1/records/deal/{deal['id']}?purge=true").status_code == 404
    crm.delete(f"/api/v1/records/deal/{deal['id']}")
    assert crm.delete(f"/api/v1/records/deal/{deal['id']}?purge=true").status_code == 204
    assert crm.get(f"/api/v1/records/deal/{deal['id']}?include_deleted=true").status_code == 404


@pytest.mark.parametrize("body, field, message", [
    ({"stage": "Nope"}, "stage", "Must be one of: New, Won, Lost."),
    ({}, "stage", "Required."),
    ({"stage": "New", "amount": "abc"}, "amount", "Not a valid number."),
    ({"stage": "New", "amount": True}, "amount", "Not a valid number."),
    ({"stage": "New", "amount": 10 ** 20}, "amount", "Must have at most 16 digits before the decimal point."),
    ({"stage": "New", "quantity": 1.5}, "quantity", "Not a valid integer."),
    ({"stage": "New", "contact_email": "nope"}, "contact_email", "Not a valid email address."),
    ({"stage": "New", "close_date": "2025-02-30"}, "close_date", "Not a valid date (YYYY-MM-DD)."),
    ({"stage": "New", "tags": ["z"]}, "tags", "item 0: Must be one of: a, b, c."),
    ({"stage": "New", "account": "missing"}, "account", "No Account with id 'missing'."),
    ({"stage": "New", "number": "X"}, "number", "Read-only field."),
    ({"stage": "New", "row_version": 5}, "row_version", "Read-only field."),
    ({"stage": "New", "amout": 5}, "amout", "Unknown field (did you mean 'amount'?)."),
    ({"stage": "New", "name": "x" * 256}, "name", "Longer than maximum length 255."),
])
def test_field_errors(crm, body, field, message):
    r = crm.post("/api/v1/records/deal", json=body)
    assert r.status_code == 422, r.get_json()
    err = r.get_json()["error"]
    assert err["code"] == "records.E001"
    assert err["fields"][field] == [message]


def test_unique_conflict_and_malformed_bodies(crm):
    assert crm.post("/api/v1/records/deal", json={"stage": "New", "contact_email": "x@y.io"}).status_code == 201
    r = crm.post("/api/v1/records/deal", json={"stage": "New", "contact_email": "x@y.io"})
    assert r.status_code == 409
    assert r.get_json()["error"]["fields"] == {"contact_email": ["Must be unique; this value is already used."]}
    for raw, ctype in [(b"{", "application/json"), (b"", "application/json"), (b"[1]", "application/json"),
                       (b"42", "application/json"), (b'{"a":1}', "text/plain"), (b"NaN", "application/json"),
                       (b"[" * 100000, "application/json")]:
        r = crm.client.post("/api/v1/records/deal", data=raw, headers={
            "Authorization": f"Bearer {crm.token}", "Content-Type": ctype})
        assert r.status_code in (400, 422), (raw[:20], r.status_code)
        assert "error" in r.get_json()
    assert crm.get("/api/v1/records/nope").status_code == 404
    assert crm.get("/api/v1/records/deal/nope").status_code == 404
    assert crm.patch("/api/v1/records/deal/nope", json={"amount": 1}).status_code == 404


def test_bulk_create_list_filter_sort_cursor(crm):
    acc = _acc(crm)
    rows = [{"name": f"D{i:04d}", "amount": i % 100, "stage": ["New", "Won", "Lost"][i % 3],
             "account": acc["id"] if i % 2 else None, "quantity": i} for i in range(1000)]
    r = crm.post("/api/v1/records/deal", json=rows)
    assert r.status_code == 201
    created = r.get_json()["records"]
    assert [c["name"] for c in created] == [x["name"] for x in rows]
    assert created[-1]["number"] == "D-1000"

    r = crm.get("/api/v1/records/deal?stage=Won&amount__gte=50&with_total=true&limit=200")
    body = r.get_json()
    expected = [x for x in rows if x["stage"] == "Won" and x["amount"] >= 50]
    assert body["total"] == len(expected)

    # keyset pagination over a sort with ties, stable under inserts
    seen, cursor = [], None
    for page in range(100):
        url = "/api/v1/records/deal?order_by=-amount,name&limit=37&fields=amount,name"
        if cursor:
            url += f"&cursor={cursor}"
        body = crm.get(url).get_json()
        seen += body["records"]
        if page == 2:  # an insert that sorts before the cursor must not shift pages
            crm.post("/api/v1/records/deal", json={"name": "ZZZ", "amount": 1000, "stage": "New"})
        cursor = body["next_cursor"]
        if not cursor:
            break
    names = [s["name"] for s in seen]
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names == [x["name"] for x in sorted(rows, key=lambda x: (-x["amount"], x["name"]))]
    assert set(seen[0]) == {"id", "amount", "name"}

    # nulls sort first ascending and the cursor passes through them
    ids = []
    cursor = None
    while True:
        url = "/api/v1/records/deal?order_by=account&limit=150" + (f"&cursor={cursor}" if cursor else "")
        body = crm.get(url).get_json()
        ids += [b["id"] for b in body["records"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(ids) == len(set(ids)) == 1001

    assert crm.get("/api/v1/records/deal?limit=500").status_code == 400
    assert crm.get("/api/v1/records/deal?limit=abc").status_code == 400
    assert crm.get("/api/v1/records/deal?cursor=garbage").status_code == 400
    assert crm.get("/api/v1/records/deal?amont=1").status_code == 400
    assert crm.get("/api/v1/records/deal?amount__foo=1").status_code == 400
    assert crm.get("/api/v1/records/deal?amount=abc").status_code == 422
    assert crm.get("/api/v1/records/deal?order_by=tags").status_code == 400
    r = crm.get("/api/v1/records/deal?stage__in=Won,Lost&quantity__lt=10&order_by=quantity")
    assert [x["quantity"] for x in r.get_json()["records"]] == [1, 2, 4, 5, 7, 8]


def test_bulk_is_all_or_nothing(crm):
    rows = [{"name": "ok", "stage": "New"}, {"name": "bad", "stage": "Nope"}, {"stage": "New", "amount": "x"}]
    r = crm.post("/api/v1/records/deal", json=rows)
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert set(err["fields"]) == {"records[1].stage", "records[2].amount"}
    assert "nothing was saved" in err["message"]
    assert crm.get("/api/v1/records/deal?with_total=true").get_json()["total"] == 0
    # the auto-number did not move: gap-free
    assert crm.post("/api/v1/records/deal", json={"stage": "New"}).get_json()["number"] == "D-0001"


def test_master_detail_cascade_and_restore(crm):
    crm.post("/api/v1/objects", json={"api_name": "invoice", "fields": [
        {"api_name": "account", "type": "lookup", "target": "account"}]})
    crm.post("/api/v1/objects", json={"api_name": "invoice_line", "fields": [
        {"api_name": "invoice", "type": "master_detail", "target": "invoice"},
        {"api_name": "qty", "type": "integer"}]})
    acc = _acc(crm)
    inv = crm.post("/api/v1/records/invoice", json={"name": "INV", "account": acc["id"]}).get_json()
    lines = crm.post("/api/v1/records/invoice_line", json=[{"invoice": inv["id"], "qty": i} for i in range(3)])
    assert lines.status_code == 201
    assert crm.delete(f"/api/v1/records/invoice/{inv['id']}").status_code == 204
    assert crm.get("/api/v1/records/invoice_line?with_total=true").get_json()["total"] == 0
    assert len(crm.get("/api/v1/records/invoice_line?deleted=true").get_json()["records"]) == 3
    line_id = lines.get_json()["records"][0]["id"]
    assert crm.post(f"/api/v1/records/invoice_line/{line_id}/restore").status_code == 409
    assert crm.post(f"/api/v1/records/invoice/{inv['id']}/restore").status_code == 200
    assert crm.get("/api/v1/records/invoice_line?with_total=true").get_json()["total"] == 3
    # purge the account: the invoice's lookup is cleared, not deleted
    crm.delete(f"/api/v1/records/account/{acc['id']}")
    assert crm.delete(f"/api/v1/records/account/{acc['id']}?purge=true").status_code == 204
    assert crm.get(f"/api/v1/records/invoice/{inv['id']}").get_json()["account"] is None
    # purge the invoice: its lines go with it
    crm.delete(f"/api/v1/records/invoice/{inv['id']}")
    crm.delete(f"/api/v1/records/invoice/{inv['id']}?purge=true")
    assert crm.get("/api/v1/records/invoice_line?deleted=true").get_json()["records"] == []


def test_rich_text_is_sanitised(crm):
    crm.post("/api/v1/objects/account/fields", json={"api_name": "about", "type": "rich_text"})
    r = crm.post("/api/v1/records/account", json={"about": '<p onclick="x()">Hi<script>alert(1)</script></p>'})
    assert r.get_json()["about"] == "<p>Hi</p>"


def test_auth_and_permissions(crm, anon_api, user_api, services):
    assert anon_api.get("/api/v1/records/deal").status_code == 401
    assert anon_api.get("/api/v1/objects").get_json()["error"]["code"] == "security.E044"
    bad = anon_api.get("/api/v1/objects", headers={"Authorization": "Bearer tsr_nope"})
    assert bad.status_code == 401
    assert user_api.post("/api/v1/objects", json={"api_name": "x"}).status_code == 403
    assert user_api.get("/api/v1/objects").status_code == 200
    r = user_api.get("/api/v1/records/deal")      # no permission set yet: as if there were no deals at all
    assert (r.status_code, r.get_json()["error"]) == (404, {"code": "metadata.E041", "message": "Unknown object 'deal'.",
                                                             "fields": {}})
    assert crm.post("/api/v1/permission_sets", json={"api_name": "sales", "objects": {"deal": {
        "read": True, "create": True, "edit": True}}}).status_code == 201
    assert crm.post("/api/v1/users/rep/permission_sets", json={"permission_set": "sales"}).status_code == 201
    assert user_api.get("/api/v1/records/deal").status_code == 200
    r = user_api.post("/api/v1/records/deal", json={"stage": "New", "owner_id": "someone"})
    assert r.status_code == 422 and "owner_id" in r.get_json()["error"]["fields"]
    from engine.security.users import create_token, revoke_token
    ro = create_token(services.engine, "rep", scope="read")
    assert crm.client.get("/api/v1/records/deal", headers={"Authorization": f"Bearer {ro}"}).status_code == 200
    r = crm.client.post("/api/v1/records/deal", json={"stage": "New"}, headers={"Authorization": f"Bearer {ro}"})
    assert r.status_code == 403
    revoke_token(services.engine, ro)
    assert crm.client.get("/api/v1/records/deal", headers={"Authorization": f"Bearer {ro}"}).status_code == 401
    me = crm.get("/api/v1/me").get_json()
    assert me["username"] == "admin" and me["is_admin"] is True


def test_concurrent_auto_numbers_are_gap_free(crm, app):
    import threading

    from engine.security import SYSTEM_ACTOR

    s = app.extensions["tessera"]
    svc = s.records()
    errors = []

    def work():
        try:
            for _ in range(10):
                svc.create("deal", {"stage": "New"}, SYSTEM_ACTOR)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    numbers = sorted(r["number"] for r in crm.get("/api/v1/records/deal?limit=200").get_json()["records"])
    assert numbers == [f"D-{i:04d}" for i in range(1, 41)]


def test_unstorable_text_is_refused(crm):
    # escaped NUL and lone surrogate, a lone surrogate written as UTF-8 bytes, and one deep in a bulk body
    for raw in [b'{"stage": "New", "name": "a\\u0000b"}', b'{"stage": "New", "name": "\\udb8d"}',
                b'{"stage": "New", "name": "a\xed\xa0\x80"}',
                b'[' + b'{"stage": "New", "name": "ok"}, ' * 50 + b'{"stage": "New", "name": "\\u0000"}]']:
        r = crm.client.post("/api/v1/records/deal", data=raw, headers={
            "Authorization": f"Bearer {crm.token}", "Content-Type": "application/json"})
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "api.E005", raw
    # Hangul (U+D000-U+D7FF starts with the byte 0xED too) is stored
    r = crm.client.post("/api/v1/records/deal", data='{"stage": "New", "name": "한국"}'.encode(), headers={
        "Authorization": f"Bearer {crm.token}", "Content-Type": "application/json"})
    assert r.status_code == 201 and r.get_json()["name"] == "한국"
    assert crm.get("/api/v1/records/deal", query_string={"name": "a\x00"}).status_code == 400


def test_api_request_with_a_bearer_token_opens_no_cookie_session(app, crm):
    """The REST API never reads the pages' cookie session: with a bearer token it gets Flask's null
    session (nothing verified, nothing written back); the pages and other requests keep theirs."""
    from flask import session
    from flask.sessions import NullSession, SecureCookieSession

    bearer = {"Authorization": f"Bearer {crm.token}"}
    for path, headers, kind in (("/api/v1/records/deal", bearer, NullSession),
                                ("/api/v1/records/deal", {"Authorization": "bearer x"}, NullSession),
                                ("/api/v1/records/deal", {}, SecureCookieSession),
                                ("/api/v1/records/deal", {"Authorization": "Basic eDp5"}, SecureCookieSession),
                                ("/", bearer, SecureCookieSession)):
        with app.test_request_context(path, headers=headers):
            assert type(session._get_current_object()) is kind, (path, headers)
    crm.client.set_cookie("tessera_session", "not-a-valid-signature")
    r = crm.get("/api/v1/records/deal")
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    assert crm.client.get("/api/v1/records/deal").status_code == 401   # no token: the cookie is no way in
