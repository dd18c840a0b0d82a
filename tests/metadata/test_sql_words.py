"""SQL words as api_names (issue 12): objects and fields named ``case``, ``order``, ``group``,
``select``, ``table``, ``from`` work end to end on SQLite and PostgreSQL — the metadata DDL (create,
lookups, master-detail, roll-ups, unique, indexes, type change, delete and restore of a field and of
an object), record CRUD, filters, ``where=`` and sorting, formulas (a field ``case`` next to the
function ``CASE(...)``), the CSV export, sharing, and reports. The API's own words stay refused.
"""
from __future__ import annotations

import pytest

GROUP = {"api_name": "group", "label": "Group", "fields": [
    {"api_name": "order", "type": "integer", "filterable": True},
    {"api_name": "select", "type": "text", "unique": True}]}
CASE = {"api_name": "case", "label": "Case", "fields": [
    {"api_name": "group", "type": "lookup", "target": "group"},
    {"api_name": "order", "type": "integer", "filterable": True},
    {"api_name": "table", "type": "picklist", "options": [{"value": "A"}, {"value": "B"}]},
    {"api_name": "from", "type": "date", "filterable": True},
    {"api_name": "desc", "type": "formula", "formula": "order * 2 + group.order", "return_type": "number"},
    {"api_name": "check", "type": "formula", "formula": "CASE(table, 'A', 1, 2)", "return_type": "number"}]}
ORDER = {"api_name": "order", "label": "Order", "fields": [
    {"api_name": "case", "type": "master_detail", "target": "case"},
    {"api_name": "select", "type": "number", "scale": 2},
    {"api_name": "by_case", "type": "formula", "return_type": "number",
     "formula": "CASE(case.table, 'A', case.order, 0)"}]}


def _ok(r, status=200):
    assert r.status_code == status, r.get_json()
    return r.get_json()


def test_sql_words_end_to_end(api, user_api, services):
    for doc in (GROUP, CASE, ORDER):
        _ok(api.post("/api/v1/objects", json=doc), 201)
    _ok(api.post("/api/v1/objects/case/fields", json={
        "api_name": "where_sum", "type": "roll_up_summary",
        "summary": {"object": "order", "function": "sum", "field": "select"}}), 201)
    _ok(api.post("/api/v1/objects/case/validation_rules", json={
        "name": "order_positive", "condition": "order < 0", "message": "Order must not be negative.",
        "field": "order"}), 201)
    g1 = _ok(api.post("/api/v1/records/group", json={"name": "G1", "order": 5, "select": "x"}), 201)
    _ok(api.post("/api/v1/records/group", json={"name": "G2", "order": 1, "select": "y"}), 201)
    r = api.post("/api/v1/records/group", json={"name": "G3", "select": "x"})
    assert r.status_code == 409                           # unique on a column named "select"
    c1 = _ok(api.post("/api/v1/records/case", json={"name": "C1", "group": g1["id"], "order": 3, "table": "A",
                                                     "from": "2026-01-01"}), 201)
    c2 = _ok(api.post("/api/v1/records/case", json={"name": "C2", "order": 8, "table": "B"}), 201)
    assert (c1["desc"], c1["check"], c2["check"]) == (11, 1, 2)
    r = api.post("/api/v1/records/case", json={"name": "C3", "order": -1})
    assert r.status_code == 422 and r.get_json()["error"]["fields"]["order"] == ["Order must not be negative."]
    o1 = _ok(api.post("/api/v1/records/order", json={"name": "O1", "case": c1["id"], "select": 7}), 201)
    assert o1["by_case"] == 3
    _ok(api.post("/api/v1/records/order", json={"name": "O2", "case": c1["id"], "select": 2.5}), 201)
    assert _ok(api.get(f"/api/v1/records/case/{c1['id']}"))["where_sum"] == 9.5
    # filters, where=, sorting and lookups through SQL words
    names = lambda body: [r["name"] for r in body["records"]]     # noqa: E731
    assert names(_ok(api.get("/api/v1/records/case", query_string={
        "where": "order > 1 && group.order = 5 && table = 'A'"}))) == ["C1"]
    assert names(_ok(api.get("/api/v1/records/case?order__gte=3&table=B"))) == ["C2"]
    assert names(_ok(api.get("/api/v1/records/case?order_by=-order,from"))) == ["C2", "C1"]
    assert names(_ok(api.get("/api/v1/records/order", query_string={
        "where": "case.order = 3 && select > 5", "order_by": "-select"}))) == ["O1"]
    assert names(_ok(api.get("/api/v1/records/group?order_by=select&select__in=x,y"))) == ["G1", "G2"]
    updated = _ok(api.patch(f"/api/v1/records/case/{c1['id']}", json={"order": 4},
                            headers={"If-Match": '"1"'}))
    assert (updated["order"], updated["desc"]) == (4, 13)
    csv = api.get("/api/v1/records/case/export").data.decode()
    assert csv.splitlines()[0].endswith("group,order,table,from,desc,check,where_sum") and ",C1," in csv
    # reports: group by and aggregate SQL words, columns through a lookup
    run = _ok(api.post("/api/v1/reports/run", json={
        "object": "case", "filter": "order > 0", "group_by": [{"field": "table"}, {"field": "group.order"}],
        "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "order"}, {"fn": "max", "field": "from"}]}))
    assert run["totals"] == {"count": 2, "sum_order": 12, "max_from": "2026-01-01"}
    rows = _ok(api.post("/api/v1/reports/run", json={
        "object": "case", "columns": ["name", "order", "group.select"], "sort": [{"by": "order"}]}))["rows"]
    assert [(r["name"], r["group.select"]) for r in rows] == [("C1", "x"), ("C2", None)]
    # DDL: change a type, delete and restore a field and an object, private sharing
    _ok(api.patch("/api/v1/objects/group/fields/order", json={"type": "number", "scale": 1}))
    assert _ok(api.get(f"/api/v1/records/group/{g1['id']}"))["order"] == 5
    assert api.delete("/api/v1/objects/case/fields/from").status_code == 204
    _ok(api.post("/api/v1/objects/case/fields/from/restore"))
    assert _ok(api.get(f"/api/v1/records/case/{c1['id']}"))["from"] == "2026-01-01"
    _ok(api.patch("/api/v1/objects/group", json={"sharing": "private"}))
    _ok(api.post("/api/v1/permission_sets", json={"api_name": "groups", "objects": {"group": {"read": True}}}), 201)
    _ok(api.post("/api/v1/users/rep/permission_sets", json={"permission_set": "groups"}), 201)
    assert _ok(user_api.get("/api/v1/records/group?where=order%20%3E%200"))["records"] == []
    assert api.delete(f"/api/v1/records/order/{o1['id']}").status_code == 204
    assert api.delete("/api/v1/objects/order").status_code == 422        # the roll-up of case reads it
    assert api.delete("/api/v1/objects/case/fields/where_sum").status_code == 204
    assert api.delete("/api/v1/objects/order").status_code == 204
    _ok(api.post("/api/v1/objects/order/restore"))
    assert names(_ok(api.get("/api/v1/records/order"))) == ["O2"]


@pytest.mark.parametrize("name", ["user", "limit", "where", "order_by", "fields"])
def test_the_api_words_stay_refused(api, name):
    r = api.post("/api/v1/objects", json={"api_name": name, "label": "X"})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"]["object.api_name"] == [
        f"api_name '{name}' is reserved by the API; choose another name"]
