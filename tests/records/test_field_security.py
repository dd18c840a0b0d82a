"""Field security through both doors (the HTTP API and the record service): a field hidden from a
reader does not exist for them — nor do formula fields and roll-ups built on it — in records,
fields=, CSV exports, where=, filters, sorting and writes; and it answers exactly as a field that
does not exist, without a did-you-mean that names it."""
from __future__ import annotations

import csv
import io

import pytest

from engine.api.errors import http_status
from engine.errors import EngineError
from engine.records.export import export_csv
from engine.security.users import create_token, create_user
from tests.conftest import Api

RIGHTS = {"read": True, "create": True, "edit": True, "delete": True}
SECRET = {"deal": {"margin", "margin_x2"}, "account": {"total_margin"}}


class Refused(Exception):
    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class HttpDoor:
    def __init__(self, client):
        self.client = client

    def _json(self, r):
        if r.status_code >= 400:
            err = r.get_json()["error"]
            raise Refused(r.status_code, err["code"], err["message"])
        return r.get_json()

    def _query(self, kw):
        q = dict(kw.pop("filters", None) or {})
        if kw.get("fields") is not None:
            q["fields"] = ",".join(kw.pop("fields"))
        q.update({k: v for k, v in kw.items() if v is not None})
        return q

    def get(self, obj, rid, fields=None):
        return self._json(self.client.get(f"/api/v1/records/{obj}/{rid}", query_string=self._query(
            {"fields": fields})))

    def list(self, obj, **kw):
        return self._json(self.client.get(f"/api/v1/records/{obj}", query_string=self._query(kw)))["records"]

    def export(self, obj, **kw):
        r = self.client.get(f"/api/v1/records/{obj}/export", query_string=self._query(kw))
        if r.status_code >= 400:
            self._json(r)
        return r.get_data(as_text=True)

    def create(self, obj, data):
        return self._json(self.client.post(f"/api/v1/records/{obj}", json=data))

    def update(self, obj, rid, data):
        return self._json(self.client.patch(f"/api/v1/records/{obj}/{rid}", json=data))


class ServiceDoor:
    """The record service called directly, as the CLI, a job or a pack would."""

    def __init__(self, services, username):
        self.services, self.username = services, username

    def _call(self, fn, *args, **kw):
        actor = self.services.actor(self.username)   # the current plan, as a request would get it
        try:
            return fn(self.services.records(), actor, *args, **kw)
        except EngineError as exc:
            raise Refused(http_status(exc), exc.code, exc.message) from None

    def get(self, obj, rid, fields=None):
        return self._call(lambda r, a: r.get(obj, rid, a, fields=fields))

    def list(self, obj, **kw):
        return self._call(lambda r, a: r.list(obj, a, **kw))["records"]

    def export(self, obj, **kw):
        return self._call(lambda r, a: "".join(export_csv(r, obj, a, **kw)[1]))

    def create(self, obj, data):
        return self._call(lambda r, a: r.create(obj, data, a))

    def update(self, obj, rid, data):
        return self._call(lambda r, a: r.update(obj, rid, data, a))


@pytest.fixture
def org(api, app, services):
    def ok(r, status=201):
        assert r.status_code == status, r.get_json()
        return r.get_json()

    ok(api.post("/api/v1/objects", json={"api_name": "account", "label": "Account", "fields": [
        {"api_name": "tier", "type": "text"}]}))
    ok(api.post("/api/v1/objects", json={"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "amount", "type": "currency"},
        {"api_name": "margin", "label": "Secret margin", "type": "percent"},
        {"api_name": "margin_x2", "label": "Double margin", "type": "formula", "formula": "margin * 2"},
        {"api_name": "amount_x2", "type": "formula", "formula": "amount * 2"},
        {"api_name": "account", "type": "master_detail", "target": "account"}]}))
    ok(api.post("/api/v1/objects/account/fields", json={
        "api_name": "total_margin", "type": "roll_up_summary",
        "summary": {"function": "sum", "object": "deal", "field": "margin"}}))
    ok(api.post("/api/v1/objects/account/fields", json={
        "api_name": "total_amount", "type": "roll_up_summary",
        "summary": {"function": "sum", "object": "deal", "field": "amount"}}))
    for name, fields in (("hides_margin", {"deal": {"margin": "hidden"}}), ("sees_margin", {})):
        ok(api.post("/api/v1/permission_sets", json={"api_name": name, "objects": {
            "account": RIGHTS, "deal": RIGHTS}, "fields": fields}))
    create_user(services.engine, "sam", "password-123")
    ok(api.post("/api/v1/users/sam/permission_sets", json={"permission_set": "hides_margin"}))
    acct = ok(api.post("/api/v1/records/account", json={"name": "Acme", "tier": "gold"}))
    deals = [ok(api.post("/api/v1/records/deal", json={"name": name, "amount": amount, "margin": margin,
                                                        "account": acct["id"]}))
             for name, amount, margin in (("Big", 100, 40), ("Small", 10, 20))]
    sam = Api(app.test_client(), create_token(services.engine, "sam"))
    doors = {"http": HttpDoor(sam), "service": ServiceDoor(services, "sam"),
             "admin_http": HttpDoor(api), "admin_service": ServiceDoor(services, "admin")}
    return {"api": api, "doors": doors, "account": acct, "deals": deals}


def refusal(fn, *args, **kw):
    with pytest.raises(Refused) as exc:
        fn(*args, **kw)
    return exc.value.status, exc.value.code, exc.value.message


def csv_rows(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


@pytest.mark.parametrize("door_name", ["http", "service"])
def test_hidden_field_and_what_is_built_on_it_do_not_exist_for_the_reader(org, door_name):
    door = org["doors"][door_name]
    deal, acct = org["deals"][0], org["account"]
    rec = door.get("deal", deal["id"])
    assert not SECRET["deal"] & set(rec)
    assert (rec["amount"], rec["amount_x2"]) == (100, 200)
    assert all(not SECRET["deal"] & set(r) for r in door.list("deal"))
    account = door.get("account", acct["id"])
    assert "total_margin" not in account and account["total_amount"] == 110
    # fields=
    assert {r["id"]: r for r in door.list("deal", fields=["amount_x2"])}[deal["id"]] == {
        "id": deal["id"], "amount_x2": 200}
    assert door.get("deal", deal["id"], fields=["amount_x2"]) == {"id": deal["id"], "amount_x2": 200}
    for obj, rid, name, hint in (("deal", deal["id"], "margin", ""), ("deal", deal["id"], "margin_x2", ""),
                                 ("account", acct["id"], "total_margin", " (did you mean 'total_amount'?)")):
        expected = (400, "records.E019", f"Unknown field '{name}' in fields={hint}.")
        assert refusal(door.get, obj, rid, fields=[name]) == expected
        assert refusal(door.list, obj, fields=["name", name]) == expected
        assert refusal(door.export, obj, fields=[name]) == expected
    # CSV export: neither header nor rows
    header, rows = csv_rows(door.export("deal"))
    assert not SECRET["deal"] & set(header) and "amount_x2" in header
    assert sorted((r["name"], r["amount_x2"]) for r in rows) == [("Big", "200"), ("Small", "20")]
    header, rows = csv_rows(door.export("account"))
    assert "total_margin" not in header and rows[0]["total_amount"] == "110.0"
    # where=, filters and sorting
    for obj, where, message in (
            ("deal", "margin > 30", "Unknown field 'margin' (line 1, column 1)"),
            ("deal", "margin_x2 > 30", "Unknown field 'margin_x2' (line 1, column 1)"),
            ("deal", "amount > 0 && account.total_margin > 0", "Unknown field 'total_margin' on 'account' "
                                                                "(line 1, column 23). Did you mean 'account.total_amount'?"),
            ("account", "total_margin > 0", "Unknown field 'total_margin' (line 1, column 1). "
                                            "Did you mean 'total_amount'?")):
        assert refusal(door.list, obj, where=where) == (422, "formula.E102", message)
    for obj, params in (("deal", {"order_by": "margin"}), ("deal", {"order_by": "-margin_x2"}),
                        ("deal", {"order_by": "amount,margin"}), ("deal", {"filters": {"margin__gt": "30"}}),
                        ("deal", {"filters": {"margin": "40"}}), ("account", {"order_by": "total_margin"}),
                        ("account", {"filters": {"total_margin__gte": "1"}})):
        name = "total_margin" if obj == "account" else ("margin_x2" if "x2" in str(params) else "margin")
        hint = " (did you mean 'total_amount'?)" if obj == "account" else ""
        assert refusal(door.list, obj, **params) == (400, "records.E010",
                                                     f"Unknown field '{name}' on '{obj}'{hint}."), params
    assert [r["name"] for r in door.list("deal", where="amount_x2 > 30", order_by="-amount_x2")] == ["Big"]


@pytest.mark.parametrize("door_name", ["http", "service"])
def test_hidden_field_answers_as_a_missing_one_with_no_hint_naming_it(org, door_name):
    door = org["doors"][door_name]
    deal_id = org["deals"][0]["id"]
    # typos next to hidden fields: no did-you-mean names them
    assert refusal(door.list, "deal", where="margn > 1") == (422, "formula.E102",
                                                              "Unknown field 'margn' (line 1, column 1)")
    assert refusal(door.list, "deal", filters={"margn": "1"}) == (400, "records.E010",
                                                                    "Unknown field 'margn' on 'deal'.")
    assert refusal(door.list, "deal", order_by="margin_x") == (400, "records.E010",
                                                                 "Unknown field 'margin_x' on 'deal'.")
    assert refusal(door.list, "account", order_by="total_margn") == (
        400, "records.E010", "Unknown field 'total_margn' on 'account' (did you mean 'total_amount'?).")
    # a visible field is still suggested
    assert refusal(door.list, "deal", order_by="amout") == (
        400, "records.E010", "Unknown field 'amout' on 'deal' (did you mean 'amount'?).")
    # writes: the hidden field, a computed one on it and a typo answer as missing fields do
    for data, key in (({"margin": 1}, "margin"), ({"margin_x2": 1}, "margin_x2"), ({"margn": 1}, "margn"),
                      ({"nosuch": 1}, "nosuch")):
        assert refusal(door.update, "deal", deal_id, data) == (
            422, "records.E001", f"Deal 'Big' was not saved: {key}: Unknown field."), data
        assert refusal(door.create, "deal", dict(data, name="New", account=org["account"]["id"])) == (
            422, "records.E001", f"Deal 'New' was not saved: {key}: Unknown field."), data
    assert org["doors"]["admin_service"].get("deal", deal_id)["margin"] == 40


@pytest.mark.parametrize("door_name", ["admin_http", "admin_service"])
def test_an_admin_sees_everything(org, door_name):
    door = org["doors"][door_name]
    deal, acct = org["deals"][0], org["account"]
    rec = door.get("deal", deal["id"])
    assert (rec["margin"], rec["margin_x2"]) == (40, 80)
    assert door.get("account", acct["id"])["total_margin"] == 60
    assert {r["id"]: r for r in door.list("deal", fields=["margin_x2"])}[deal["id"]] == {
        "id": deal["id"], "margin_x2": 80}
    assert [r["name"] for r in door.list("deal", where="margin > 30")] == ["Big"]
    assert [r["name"] for r in door.list("deal", order_by="-margin_x2")] == ["Big", "Small"]
    assert [r["name"] for r in door.list("deal", filters={"margin__gt": "30"})] == ["Big"]
    assert [r["name"] for r in door.list("account", where="total_margin > 50")] == ["Acme"]
    header, rows = csv_rows(door.export("deal", order_by="margin"))
    assert {"margin", "margin_x2"} <= set(header)
    assert [(r["name"], r["margin_x2"]) for r in rows] == [("Small", "40"), ("Big", "80")]
    assert door.update("deal", deal["id"], {"margin": 45})["margin_x2"] == 90


@pytest.mark.parametrize("door_name", ["http", "service"])
def test_the_same_user_without_the_hiding_permission_set_sees_all(org, door_name):
    api, door = org["api"], org["doors"][door_name]
    deal, acct = org["deals"][0], org["account"]
    assert "margin" not in door.get("deal", deal["id"])
    assert api.delete("/api/v1/users/sam/permission_sets/hides_margin").status_code in (200, 204)
    assert api.post("/api/v1/users/sam/permission_sets", json={"permission_set": "sees_margin"}).status_code == 201
    rec = door.get("deal", deal["id"])
    assert (rec["margin"], rec["margin_x2"]) == (40, 80)
    assert door.get("account", acct["id"])["total_margin"] == 60
    assert [r["name"] for r in door.list("deal", where="margin_x2 > 50", order_by="margin")] == ["Big"]
    header, _rows = csv_rows(door.export("deal", fields=["margin", "margin_x2"]))
    assert header == ["id", "margin", "margin_x2"]
    assert door.update("deal", deal["id"], {"margin": 50})["margin_x2"] == 100


def test_single_record_with_fields_param_over_http(org):
    """A projection without row_version still answers (it used to end in a 500 on the ETag)."""
    deal = org["deals"][0]
    r = org["api"].get(f"/api/v1/records/deal/{deal['id']}", query_string={"fields": "amount_x2"})
    assert r.status_code == 200 and r.get_json() == {"id": deal["id"], "amount_x2": 200}
