"""Formula fields, defaults, validation rules, where= and roll-ups through the REST API."""
from __future__ import annotations

import datetime as dt

import pytest

try:
    from engine.formula import compile_formula  # noqa: F401
except ImportError:
    pytest.skip("the formula engine is not built yet", allow_module_level=True)


@pytest.fixture
def model(crm):
    r = crm.post("/api/v1/objects/deal/fields", json={
        "api_name": "weighted_amount", "type": "formula", "formula": "amount * probability / 100", "scale": 2})
    assert r.status_code == 201, r.get_json()
    r = crm.post("/api/v1/objects/deal/fields", json={
        "api_name": "account_industry", "type": "formula", "formula": "account.industry"})
    assert r.status_code == 201, r.get_json()
    return crm


def test_formula_field_computed_filtered_sorted(model):
    acc = model.post("/api/v1/records/account", json={"name": "Acme", "industry": "Energy"}).get_json()
    other = model.post("/api/v1/records/account", json={"name": "Shop", "industry": "Retail"}).get_json()
    rows = [{"name": f"D{i}", "stage": "New", "amount": 1000 * i, "probability": 50,
             "account": acc["id"] if i % 2 else other["id"]} for i in range(1, 41)]
    created = model.post("/api/v1/records/deal", json=rows).get_json()["records"]
    assert created[0]["weighted_amount"] == 500.0 and created[0]["account_industry"] == "Energy"
    one = model.get(f"/api/v1/records/deal/{created[1]['id']}").get_json()
    assert one["weighted_amount"] == 1000.0 and one["account_industry"] == "Retail"
    r = model.get("/api/v1/records/deal", query_string={
        "where": "weighted_amount > 10000 && account.industry = 'Energy'", "order_by": "-weighted_amount",
        "limit": 200})
    assert r.status_code == 200, r.get_json()
    got = [x["name"] for x in r.get_json()["records"]]
    expected = [x["name"] for x in sorted(rows, key=lambda x: -x["amount"])
                if x["amount"] * 50 / 100 > 10000 and x["account"] == acc["id"]]
    assert got == expected
    # paging over a formula sort
    first = model.get("/api/v1/records/deal", query_string={"order_by": "weighted_amount", "limit": 7}).get_json()
    second = model.get("/api/v1/records/deal", query_string={"order_by": "weighted_amount", "limit": 7,
                                                             "cursor": first["next_cursor"]}).get_json()
    names = [x["name"] for x in first["records"] + second["records"]]
    assert names == [f"D{i}" for i in range(1, 15)]


@pytest.mark.parametrize("where, code", [
    ("amount >", "formula.E"),
    ("amout > 5", "formula.E"),
    ("amount & 'x'", "formula.E"),
    ("ISCHANGED(amount)", "formula.E"),
])
def test_where_errors_carry_line_and_column(model, where, code):
    r = model.get("/api/v1/records/deal", query_string={"where": where})
    assert r.status_code == 422, r.get_json()
    err = r.get_json()["error"]
    assert err["code"].startswith(code)
    if where != "ISCHANGED(amount)":
        assert err["line"] == 1 and err["column"] >= 1


def test_bad_formulas_refused_at_save_time(model):
    r = model.post("/api/v1/objects/deal/fields", json={"api_name": "bad", "type": "formula",
                                                        "formula": "amout * 2"})
    assert r.status_code == 422
    msg = r.get_json()["error"]["message"]
    assert "amount" in msg and "line 1" in msg
    # a cycle
    model.post("/api/v1/objects/deal/fields", json={"api_name": "fa", "type": "formula", "formula": "1"})
    model.post("/api/v1/objects/deal/fields", json={"api_name": "fb", "type": "formula", "formula": "fa + 1"})
    r = model.patch("/api/v1/objects/deal/fields/fa", json={"formula": "fb + 1"})
    assert r.status_code == 422 and "cycle" in r.get_json()["error"]["message"]
    # a field in use cannot be deleted
    r = model.delete("/api/v1/objects/deal/fields/probability")
    assert r.status_code == 422
    assert "weighted_amount" in r.get_json()["error"]["message"]
    r = model.delete("/api/v1/objects/account/fields/industry")
    assert r.status_code == 422 and "account_industry" in r.get_json()["error"]["message"]


def test_defaults_and_validation_rules(model):
    r = model.patch("/api/v1/objects/deal/fields/close_date", json={"default": "TODAY() + 30"})
    assert r.status_code == 200, r.get_json()
    r = model.post("/api/v1/objects/deal/validation_rules", json={
        "name": "won_needs_close", "condition": "AND(stage = 'Won', ISBLANK(close_date))",
        "message": "A won deal needs a close date.", "field": "close_date"})
    assert r.status_code == 201, r.get_json()
    r = model.post("/api/v1/objects/deal/validation_rules", json={
        "name": "no_shrink", "condition": "NOT(ISNEW()) && amount < PRIORVALUE(amount)",
        "message": "Amount cannot go down."})
    assert r.status_code == 201
    rec = model.post("/api/v1/records/deal", json={"stage": "New", "amount": 10}).get_json()
    assert rec["close_date"] == (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=30)).isoformat()
    r = model.post("/api/v1/records/deal", json={"stage": "Won", "close_date": None})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"close_date": ["A won deal needs a close date."]}
    r = model.patch(f"/api/v1/records/deal/{rec['id']}", json={"amount": 5})
    assert r.status_code == 422 and r.get_json()["error"]["fields"] == {"_record": ["Amount cannot go down."]}
    assert model.patch(f"/api/v1/records/deal/{rec['id']}", json={"amount": 50}).status_code == 200
    r = model.post("/api/v1/objects/deal/validation_rules", json={
        "name": "broken", "condition": "amount", "message": "x"})
    assert r.status_code == 422 and "boolean" in r.get_json()["error"]["message"].lower()


def test_roll_up_summaries(crm):
    crm.post("/api/v1/objects", json={"api_name": "invoice", "fields": []})
    crm.post("/api/v1/objects", json={"api_name": "invoice_line", "fields": [
        {"api_name": "invoice", "type": "master_detail", "target": "invoice"},
        {"api_name": "amount", "type": "currency"}, {"api_name": "kind", "type": "text"}]})
    a = crm.post("/api/v1/records/invoice", json={"name": "A"}).get_json()
    b = crm.post("/api/v1/records/invoice", json={"name": "B"}).get_json()
    lines = crm.post("/api/v1/records/invoice_line", json=[
        {"invoice": a["id"], "amount": 10, "kind": "x"}, {"invoice": a["id"], "amount": 5, "kind": "y"}]).get_json()
    for fn, field, extra in [("count", None, {}), ("sum", "amount", {}), ("max", "amount", {}),
                             ("sum", "amount", {"filter": "kind = 'x'"})]:
        summary = {"function": fn, "object": "invoice_line", **({"field": field} if field else {}), **extra}
        name = f"{fn}_{'f' if extra else 'all'}"
        r = crm.post("/api/v1/objects/invoice/fields", json={"api_name": name, "type": "roll_up_summary",
                                                             "summary": summary})
        assert r.status_code == 201, r.get_json()

    def totals(rec):
        got = crm.get(f"/api/v1/records/invoice/{rec['id']}").get_json()
        return got["count_all"], got["sum_all"], got["max_all"], got["sum_f"]

    assert totals(a) == (2, 15, 10, 10)       # backfilled when the fields were added
    line = lines["records"][0]
    crm.patch(f"/api/v1/records/invoice_line/{line['id']}", json={"amount": 20})
    assert totals(a) == (2, 25, 20, 20)
    crm.patch(f"/api/v1/records/invoice_line/{line['id']}", json={"invoice": b["id"]})   # re-parent
    assert totals(a) == (1, 5, 5, 0) and totals(b) == (1, 20, 20, 20)
    crm.delete(f"/api/v1/records/invoice_line/{line['id']}")
    assert totals(b) == (0, 0, None, 0)
    crm.post(f"/api/v1/records/invoice_line/{line['id']}/restore")
    assert totals(b) == (1, 20, 20, 20)


def test_formula_check_endpoint(model):
    r = model.post("/api/v1/formula/check", json={"object": "deal", "formula": "amount * 2"})
    assert r.get_json() == {"ok": True, "return_type": "number"}
    r = model.post("/api/v1/formula/check", json={"object": "deal", "formula": "amount *"})
    body = r.get_json()
    assert body["ok"] is False and body["error"]["line"] == 1 and body["error"]["column"] >= 1
    assert model.post("/api/v1/formula/check", json={"object": "nope", "formula": "1"}).status_code == 404


def test_openapi_describes_formula_fields(model):
    from openapi_spec_validator import validate

    doc = model.get("/api/v1/openapi.json").get_json()
    validate(doc)
    props = doc["components"]["schemas"]["Deal"]["properties"]
    assert props["weighted_amount"]["readOnly"] is True
    assert {"type": "number"} in props["weighted_amount"]["anyOf"]
    assert {"type": "string"} in props["account_industry"]["anyOf"]
    assert "weighted_amount" not in doc["components"]["schemas"]["DealInput"]["properties"]


def test_a_formula_error_shows_its_line_with_a_caret(model):
    """Issue 7, item 8: formula errors with a caret line, on `where=` and on /formula/check."""
    r = model.get("/api/v1/records/deal", query_string={"where": "amount > 1 &&\n  amout > 5"})
    err = r.get_json()["error"]
    assert r.status_code == 422 and (err["line"], err["column"]) == (2, 3), err
    assert err["caret"] == "  amout > 5\n  ^"
    r = model.post("/api/v1/formula/check", json={"object": "deal", "formula": "amount *"})
    err = r.get_json()["error"]
    assert err["caret"] == "amount *\n" + " " * (err["column"] - 1) + "^"


def test_caret_line_keeps_tabs_and_stays_in_range():
    from engine.formula.errors import caret_line
    assert caret_line("a\n\tbc", 2, 3) == "\tbc\n\t ^"
    assert caret_line("abc", 1, 4) == "abc\n   ^"
    assert caret_line("abc", 5, 1) == "\n^"
