"""Every aggregate and every kind of grouping, on SQLite and PostgreSQL, checked against a Python
group-by over the same records read through the list API (tests/reports/reference.py)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from .conftest import close, list_all, ok
from .reference import flatten, group_by

BUCKETS = [{"name": "deal_size", "label": "Deal size", "field": "amount",
            "ranges": [{"below": 10000, "label": "Small"}, {"below": 100000, "label": "Medium"}, {"label": "Large"}]},
           {"name": "sector", "field": "account.industry",
            "ranges": [{"values": ["Energy", "Retail"], "label": "Old economy"}, {"label": "New economy"}]}]


def _year(rec):
    return None if rec.get("close_date") is None else int(rec["close_date"][:4])


def _weighted(rec):
    if rec.get("amount") is None or rec.get("probability") is None:
        return None
    return Decimal(str(rec["amount"])) * Decimal(str(rec["probability"])) / 100


AGGREGATES = [
    {"fn": "count", "name": "count"},
    {"fn": "count", "field": "probability", "name": "count_probability"},
    {"fn": "count_distinct", "field": "account", "name": "count_distinct_account"},
    {"fn": "sum", "field": "amount", "name": "sum_amount"},
    {"fn": "avg", "field": "amount", "name": "avg_amount"},
    {"fn": "min", "field": "amount", "name": "min_amount"},
    {"fn": "max", "field": "amount", "name": "max_amount"},
    {"fn": "median", "field": "amount", "name": "median_amount"},
    {"fn": "median", "field": "quantity", "name": "median_quantity"},
    {"fn": "min", "field": "close_date", "name": "min_close_date"},
    {"fn": "max", "field": "close_date", "name": "max_close_date"},
    {"fn": "sum", "field": "weighted_amount", "name": "sum_weighted_amount"},
    {"fn": "avg", "field": "account.annual_revenue", "name": "avg_account_annual_revenue"},
    {"fn": "sum", "formula": "amount * probability / 100", "name": "weighted", "python": _weighted},
]

GROUPINGS = {
    "stage": [{"field": "stage"}],
    "day": [{"field": "close_date", "granularity": "day"}],
    "week": [{"field": "close_date", "granularity": "week"}],
    "month": [{"field": "close_date", "granularity": "month"}],
    "quarter": [{"field": "close_date", "granularity": "quarter"}],
    "year": [{"field": "close_date", "granularity": "year"}],
    "datetime_month": [{"field": "signed_at", "granularity": "month"}],
    "datetime_week": [{"field": "signed_at", "granularity": "week"}],
    "related": [{"field": "account.industry"}],
    "boolean": [{"field": "is_closed"}],
    "owner": [{"field": "owner_id"}],
    "bucket": [{"bucket": "deal_size"}],
    "related_bucket": [{"bucket": "sector"}],
    "formula": [{"formula": "YEAR(close_date)", "name": "year", "python": _year}],
    "stage_quarter": [{"field": "stage"}, {"field": "close_date", "granularity": "quarter"}],
    "industry_size": [{"field": "account.industry"}, {"bucket": "deal_size"}],
    "month_closed": [{"field": "close_date", "granularity": "month"}, {"field": "is_closed"}],
}


def _doc(groups, aggregates=AGGREGATES, **extra):
    return {"object": "opportunity", "buckets": BUCKETS,
            "group_by": [{k: v for k, v in g.items() if k != "python"} for g in groups],
            "aggregates": [{k: v for k, v in a.items() if k != "python"} for a in aggregates], **extra}


def _related(org, client):
    return {"account": {a["id"]: a for a in list_all(client, "account")}}


def assert_same(result, expected, groups):
    got = flatten(result, groups)
    assert set(got) == set(expected), (sorted(map(str, set(got) ^ set(expected)))[:10])
    for key, values in expected.items():
        for name, want in values.items():
            assert close(got[key][name], want), (key, name, got[key][name], want)


@pytest.mark.parametrize("grouping", sorted(GROUPINGS))
def test_grouping_and_every_aggregate_match_python(org, grouping):
    admin = org["clients"]["admin"]
    groups = GROUPINGS[grouping]
    records = list_all(admin, "opportunity")
    assert len(records) == 90
    result = ok(admin.post("/api/v1/reports/run?group_limit=10000", json=_doc(groups)))
    expected = group_by(records, groups, AGGREGATES, related=_related(org, admin), buckets=BUCKETS)
    assert_same(result, expected, groups)
    assert not result["truncated"]


def test_filter_and_run_filter_are_anded(org):
    admin = org["clients"]["admin"]
    groups = GROUPINGS["stage"]
    doc = _doc(groups, filter="NOT(is_closed)")
    result = ok(admin.post("/api/v1/reports/run", query_string={"filter": "amount >= 10000"}, json=doc))
    records = list_all(admin, "opportunity", where="NOT(is_closed) && amount >= 10000")
    assert_same(result, group_by(records, groups, AGGREGATES, related=_related(org, admin), buckets=BUCKETS),
                groups)


def test_matrix_column_totals(org):
    admin = org["clients"]["admin"]
    groups = GROUPINGS["stage_quarter"]
    result = ok(admin.post("/api/v1/reports/run?matrix=true&group_limit=10000", json=_doc(groups)))
    records = list_all(admin, "opportunity")
    by_quarter = group_by(records, [groups[1]], AGGREGATES, related=_related(org, admin), buckets=BUCKETS)
    got = {c["key"]["close_date"]: c["values"] for c in result["column_totals"]}
    assert set(got) | {None} == {k[0] for k in by_quarter if k} | {None}
    for (quarter,), values in ((k, v) for k, v in by_quarter.items() if k):
        for name, want in values.items():
            assert close(got[quarter][name], want), (quarter, name)


def test_drill_down_where_lists_exactly_the_group(org):
    """Each group's ``where`` through the list API gives exactly the group's records."""
    admin = org["clients"]["admin"]
    for name in ("stage_quarter", "industry_size", "datetime_month", "formula", "related_bucket", "boolean"):
        groups = GROUPINGS[name]
        result = ok(admin.post("/api/v1/reports/run?group_limit=10000",
                               json=_doc(groups, [{"fn": "count"}], filter="amount > 0 || ISBLANK(amount)")))
        for g in result["groups"]:
            for node in [g] + g.get("groups", []):
                assert len(list_all(admin, "opportunity", where=node["where"])) == node["values"]["count"], \
                    (name, node["where"])


def test_sort_and_group_limit(org):
    admin = org["clients"]["admin"]
    doc = _doc(GROUPINGS["stage_quarter"], [{"fn": "count"}, {"fn": "sum", "field": "amount"}],
               sort=[{"by": "sum_amount", "desc": True}])
    result = ok(admin.post("/api/v1/reports/run?group_limit=2", json=doc))
    assert len(result["groups"]) == 2 and result["truncated"] is True
    full = ok(admin.post("/api/v1/reports/run?group_limit=100", json=doc))
    sums = [g["values"]["sum_amount"] for g in full["groups"]]
    assert sums == sorted(sums, reverse=True)
    assert [g["key"] for g in result["groups"]] == [g["key"] for g in full["groups"][:2]]
    for g in full["groups"]:
        kids = [k["values"]["sum_amount"] for k in g["groups"] if k["values"]["sum_amount"] is not None]
        assert kids == sorted(kids, reverse=True)
    # default order: by key, blanks last
    plain = ok(admin.post("/api/v1/reports/run", json=_doc(GROUPINGS["quarter"], [{"fn": "count"}])))
    keys = [g["key"]["close_date"] for g in plain["groups"]]
    assert keys[-1] is None and keys[:-1] == sorted(keys[:-1])
    assert ok(admin.post("/api/v1/reports/run?group_limit=0", json=doc), 400)["error"] == {
        "code": "reports.E020", "message": "group_limit must be a whole number between 1 and 10000 (got '0').",
        "fields": {"group_limit": ["invalid"]}}


def test_tabular_rows_page_with_the_list_cursor_and_carry_totals(org):
    admin = org["clients"]["admin"]
    doc = {"object": "opportunity", "columns": ["name", "amount", "stage", "account.industry"],
           "filter": "amount > 1000", "sort": [{"by": "amount", "desc": True}],
           "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}]}
    rows, cursor = [], None
    while True:
        page = ok(admin.post("/api/v1/reports/run", query_string={"limit": 7, **({"cursor": cursor} if cursor else {})},
                             json=doc))
        rows += page["rows"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    listed = list_all(admin, "opportunity", where="amount > 1000", order_by="-amount")
    assert [r["id"] for r in rows] == [r["id"] for r in listed]
    industries = {a["id"]: a["industry"] for a in list_all(admin, "account")}
    assert all(r["account.industry"] == industries.get(rec["account"]) for r, rec in zip(rows, listed))
    assert set(rows[0]) == {"id", "name", "amount", "stage", "account.industry"}
    assert page["totals"]["count"] == len(listed)
    assert close(page["totals"]["sum_amount"], sum(Decimal(str(r["amount"])) for r in listed))
    assert [c["name"] for c in page["meta"]["columns"]] == ["name", "amount", "stage", "account.industry"]
