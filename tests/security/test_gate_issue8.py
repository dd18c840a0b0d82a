"""Items of issue 8 that had no test through the API, on SQLite and PostgreSQL.

- the error oracle (item 1): a where= whose SQL would raise only for some rows (an out-of-range
  length, a division by zero, a bad cast) answers 200 whatever the rows hold, and the same
  formula over a hidden field answers as over a field that does not exist;
- the false cycle (item 8): a new lookup to an object with a formula field, and a formula reading
  that formula field through the lookup, are accepted; a real cycle is still refused.
"""
from __future__ import annotations

import pytest

from tests.security.codes import code, error_of

ORACLES = [
    "LEFT(name, IF(quantity > 437, 100000000000000000, 1)) = 'x'",
    "MID(name, IF(quantity > 437, -100000000000000000, 1), 2) = 'x'",
    "RIGHT(name, quantity * 100000000000000000) = 'x'",
    "1 / (quantity - 500) > 0",
    "MOD(quantity, quantity - 500) = 0",
    "VALUE(IF(quantity > 437, 'abc', '1')) = 1",
    "DATEVALUE(IF(quantity > 437, '2024-02-30', '2024-01-01')) = TODAY()",
    "SQRT(0 - quantity) > 1",
    "LN(quantity - 500) > 1",
    "EXP(quantity) > 1",
    "10 ^ quantity > 1",
    "ROUND(quantity, quantity * 100000000) = 1",
    "DATE(2024, 1, quantity * 100000000000) = TODAY()",
    "TODAY() + quantity * 100000000000 > TODAY()",
]


@pytest.fixture
def oracle_org(crm, app, services):
    """The sample CRM; a rep who may read deals but not see 'amount'; deals of the admin with a
    large quantity (the rep may see them: the org-wide default is public)."""
    from engine.security.users import create_token, create_user
    from tests.conftest import Api

    for q in (438, 500, 10 ** 12, -5, None):
        assert crm.post("/api/v1/records/deal", json={"name": "d", "stage": "New", "quantity": q,
                                                      "amount": 999.5}).status_code == 201
    assert crm.post("/api/v1/permission_sets", json={
        "api_name": "sales", "objects": {"deal": {"read": True}},
        "fields": {"deal": {"amount": "hidden"}}}).status_code == 201
    create_user(services.engine, "rep", "password-123")
    assert crm.post("/api/v1/users/rep/permission_sets", json={"permission_set": "sales"}).status_code == 201
    return crm, Api(app.test_client(), create_token(services.engine, "rep"))


def test_no_formula_raises_in_the_database(oracle_org):
    admin, rep = oracle_org
    for where in ORACLES:
        for who in (admin, rep):
            r = who.get("/api/v1/records/deal", query_string={"where": where, "with_total": "true"})
            if r.status_code == 422:    # a function with no SQL form: refused whatever the rows hold
                assert r.get_json()["error"]["code"] in (code("no_sql_form"), code("no_sql_form_with_fields")), \
                    (where, r.get_json())
                continue
            assert r.status_code == 200, (where, r.get_json())


def test_an_oracle_over_a_hidden_field_answers_as_over_an_unknown_one(oracle_org):
    _admin, rep = oracle_org
    for where in ORACLES:
        hidden = rep.get("/api/v1/records/deal", query_string={"where": where.replace("quantity", "amount")})
        unknown = rep.get("/api/v1/records/deal", query_string={"where": where.replace("quantity", "amoun")})
        a, b = error_of(hidden, 422), error_of(unknown, 422)
        assert a["code"] == b["code"] and a["message"].replace("'amount'", "<F>") == \
            b["message"].replace("'amoun'", "<F>"), (where, a, b)
        assert "did you mean" not in a["message"].lower()


def test_a_lookup_to_an_object_with_a_formula_field_is_no_cycle(crm):
    r = crm.post("/api/v1/objects/deal/fields", json={"api_name": "x", "type": "formula", "formula": "amount * 2"})
    assert r.status_code == 201, r.get_json()
    r = crm.post("/api/v1/objects", json={"api_name": "note", "fields": [
        {"api_name": "deal", "type": "lookup", "target": "deal"},
        {"api_name": "double_x", "type": "formula", "formula": "deal.x * 2"}]})
    assert r.status_code == 201, r.get_json()
    r = crm.post("/api/v1/objects/account/fields", json={"api_name": "top_deal", "type": "lookup", "target": "deal"})
    assert r.status_code == 201, r.get_json()
    deal = crm.post("/api/v1/records/deal", json={"name": "d", "stage": "New", "amount": 2}).get_json()
    note = crm.post("/api/v1/records/note", json={"name": "n", "deal": deal["id"]}).get_json()
    assert crm.get(f"/api/v1/records/note/{note['id']}").get_json()["double_x"] == 8
    # a real cycle is still refused
    assert crm.post("/api/v1/objects/deal/fields", json={"api_name": "y", "type": "formula",
                                                         "formula": "z + 1"}).status_code == 422
    assert crm.post("/api/v1/objects/deal/fields", json={"api_name": "y", "type": "formula",
                                                         "formula": "x + 1"}).status_code == 201
    err = error_of(crm.patch("/api/v1/objects/deal/fields/x", json={"formula": "y + 1"}), 422)
    assert err["code"] == code("metadata_invalid") and "cycle" in err["message"], err


def test_formula_fields_through_lookups_that_loop_over_records(crm):
    """deal -> account -> top deal (the same deal): formula fields reading formula fields through
    lookups are computed in Python as in SQL, and the loop in the data loads nothing endlessly."""
    for obj, fdoc in [("account", {"api_name": "top_deal", "type": "lookup", "target": "deal"}),
                      ("deal", {"api_name": "f1", "type": "formula", "formula": "amount * 2"}),
                      ("account", {"api_name": "g", "type": "formula", "formula": "top_deal.f1 + 1"}),
                      ("account", {"api_name": "g2", "type": "formula",
                                   "formula": "top_deal.account.top_deal.account.top_deal.f1 + 2"}),
                      ("deal", {"api_name": "acc_name", "type": "formula", "formula": "account.name"})]:
        r = crm.post(f"/api/v1/objects/{obj}/fields", json=fdoc)
        assert r.status_code == 201, r.get_json()
    acc = crm.post("/api/v1/records/account", json={"name": "a"}).get_json()
    deal = crm.post("/api/v1/records/deal", json={"name": "d", "stage": "New", "amount": 3,
                                                  "account": acc["id"]}).get_json()
    assert crm.patch(f"/api/v1/records/account/{acc['id']}", json={"top_deal": deal["id"]}).status_code == 200
    got = crm.get(f"/api/v1/records/deal/{deal['id']}").get_json()
    assert (got["f1"], got["acc_name"]) == (6, "a")
    got = crm.get(f"/api/v1/records/account/{acc['id']}").get_json()
    assert (got["g"], got["g2"]) == (7, 8)
    for where in ("g = 7", "g2 = 8", "top_deal.f1 = 6"):
        r = crm.get("/api/v1/records/account", query_string={"where": where, "with_total": "true"})
        assert r.status_code == 200 and r.get_json()["total"] == 1, (where, r.get_json())


@pytest.mark.xfail(strict=True, reason="known bug, not fixed here: saving deal.f2 = account.g * 10 (g reading "
                                       "top_deal.f1) is accepted, then the snapshot's compile of deal fails "
                                       "('Unknown field g on account') and every write of a deal is refused")
def test_formula_fields_of_two_objects_reading_each_other_through_lookups(crm):
    for obj, fdoc in [("account", {"api_name": "top_deal", "type": "lookup", "target": "deal"}),
                      ("deal", {"api_name": "f1", "type": "formula", "formula": "amount * 2"}),
                      ("account", {"api_name": "g", "type": "formula", "formula": "top_deal.f1 + 1"}),
                      ("deal", {"api_name": "f2", "type": "formula", "formula": "account.g * 10"})]:
        assert crm.post(f"/api/v1/objects/{obj}/fields", json=fdoc).status_code == 201
    r = crm.post("/api/v1/records/deal", json={"name": "d", "stage": "New", "amount": 3})
    assert r.status_code == 201, r.get_json()
