"""Property: for random small data, random groupings and aggregates and a random viewer, the report
equals a Python group-by over exactly the records that viewer may list (derandomized when CI is set)."""
from __future__ import annotations

import datetime as _dt
import itertools
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import close, list_all, ok
from .reference import flatten, group_by

_counter = itertools.count()
BUCKET = {"name": "size", "field": "amount", "ranges": [{"below": 50, "label": "S"}, {"below": 500, "label": "M"},
                                                        {"label": "L"}]}
GROUPS = [{"field": "stage"}, {"field": "is_closed"}, {"field": "owner_id"}, {"field": "account.industry"},
          {"bucket": "size"}] + [{"field": "close_date", "granularity": g}
                                 for g in ("day", "week", "month", "quarter", "year")]
AGGS = [{"fn": "count", "name": "count"}, {"fn": "count", "field": "amount", "name": "count_amount"},
        {"fn": "count_distinct", "field": "stage", "name": "count_distinct_stage"},
        {"fn": "sum", "field": "amount", "name": "sum_amount"}, {"fn": "avg", "field": "amount", "name": "avg_amount"},
        {"fn": "min", "field": "amount", "name": "min_amount"}, {"fn": "max", "field": "close_date", "name": "max_cd"},
        {"fn": "median", "field": "amount", "name": "median_amount"}]

records = st.lists(st.fixed_dictionaries({
    "stage": st.sampled_from(["Prospecting", "Won", "Lost"]),
    "amount": st.one_of(st.none(), st.integers(0, 1000), st.decimals(0, 1000, places=2)),
    "close_date": st.one_of(st.none(), st.dates(_dt.date(2024, 12, 25), _dt.date(2026, 1, 10)).map(str)),
    "is_closed": st.booleans(),
    "account": st.integers(0, 8),
    "owner": st.sampled_from(["rep1", "rep2", "manager", "admin"]),
}), max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=bool(os.environ.get("CI")))
@given(data=records, groups=st.lists(st.sampled_from(GROUPS), min_size=1, max_size=2,
                      unique_by=lambda g: g.get("field") or g.get("bucket")),
       aggs=st.lists(st.sampled_from(AGGS), min_size=1, max_size=4, unique_by=lambda a: a["name"]),
       viewer=st.sampled_from(["admin", "rep1", "manager", "marketer"]))
def _check(org, data, groups, aggs, viewer):
    admin, client = org["clients"]["admin"], org["clients"][viewer]
    tag = f"p{next(_counter)}-{os.getpid()}-"
    rows = [{"name": f"{tag}{i}", "stage": r["stage"], "amount": str(r["amount"]) if r["amount"] is not None else None,
             "close_date": r["close_date"], "is_closed": r["is_closed"], "owner_id": org["ids"][r["owner"]],
             "account": org["accounts"][r["account"]] if r["account"] < len(org["accounts"]) else None}
            for i, r in enumerate(data)]
    if rows:
        ok(admin.post("/api/v1/records/opportunity", json=rows))
    where = f"BEGINS(name, '{tag}')"
    doc = {"object": "opportunity", "filter": where, "group_by": groups, "aggregates": aggs, "buckets": [BUCKET]}
    result = ok(client.post("/api/v1/reports/run?group_limit=10000", json=doc))
    listed = list_all(client, "opportunity", where=where)
    related = {"account": {a["id"]: a for a in list_all(client, "account")}}
    expected = group_by(listed, groups, aggs, related=related, buckets=[BUCKET])
    got = flatten(result, groups)
    assert set(got) == set(expected)
    for key, values in expected.items():
        for name, want in values.items():
            assert close(got[key][name], want), (key, name, got[key][name], want, data, groups, viewer)


def test_report_equals_python_group_by_over_the_list_api(org):
    _check(org)
