"""Reports run as the viewer: a rep's report is the report over exactly the records the rep may
list; a field hidden from the viewer is unknown to their report, with the same message as a field
that does not exist (and no did-you-mean names it); exports, charts, dashboards and segment
members show nothing more. Documents: owners and administrators write; private ones are unseen."""
from __future__ import annotations

import csv
import io

import pytest

from .conftest import close, list_all, ok
from .reference import flatten, group_by

AGGS = [{"fn": "count", "name": "count"}, {"fn": "sum", "field": "amount", "name": "sum_amount"},
        {"fn": "median", "field": "amount", "name": "median_amount"},
        {"fn": "count_distinct", "field": "account", "name": "count_distinct_account"}]
GROUPS = [{"field": "stage"}, {"field": "close_date", "granularity": "quarter"}]


def _doc(**extra):
    return {"object": "opportunity", "group_by": GROUPS, "aggregates": AGGS, **extra}


@pytest.mark.parametrize("user", ["rep1", "rep2", "manager", "director", "marketer", "admin"])
def test_a_viewers_report_is_the_report_over_what_they_may_list(org, user):
    client = org["clients"][user]
    records = list_all(client, "opportunity")
    result = ok(client.post("/api/v1/reports/run?group_limit=10000", json=_doc()))
    expected = group_by(records, GROUPS, AGGS)
    got = flatten(result, GROUPS)
    assert set(got) == set(expected)
    for key, values in expected.items():
        for name, want in values.items():
            assert close(got[key][name], want), (user, key, name)
    assert result["totals"]["count"] == len(records)
    if user.startswith("rep"):
        assert 0 < len(records) < 90 and {r["owner_id"] for r in records} == {org["ids"][user]}


def test_the_manager_sees_the_reps_and_their_own(org):
    ids = org["ids"]
    owners = {r["owner_id"] for r in list_all(org["clients"]["manager"], "opportunity")}
    assert owners == {ids["rep1"], ids["rep2"], ids["manager"]}
    result = ok(org["clients"]["manager"].post("/api/v1/reports/run", json={
        "object": "opportunity", "group_by": [{"field": "owner_id"}]}))
    assert {g["key"]["owner_id"] for g in result["groups"]} == owners


UNKNOWN = "Unknown field '{0}' on 'opportunity'"


@pytest.mark.parametrize("where, doc", [
    ("group_by[0].field", {"group_by": [{"field": "{0}"}]}),
    ("aggregates[0].field", {"group_by": [{"field": "stage"}], "aggregates": [{"fn": "sum", "field": "{0}"}]}),
    ("columns[1]", {"columns": ["name", "{0}"]}),
    ("buckets[0].field", {"buckets": [{"name": "b", "field": "{0}", "ranges": [{"label": "all"}]}],
                          "group_by": [{"bucket": "b"}]}),
])
@pytest.mark.parametrize("hidden", ["margin", "margin_x2"])
def test_a_hidden_field_is_unknown_like_a_missing_one(org, where, doc, hidden):
    rep, admin = org["clients"]["rep1"], org["clients"]["admin"]

    def run(client, name):
        body = {"object": "opportunity", **{k: _fill(v, name) for k, v in doc.items()}}
        return client.post("/api/v1/reports/run", json=body)

    refused = ok(run(rep, hidden), 422)["error"]
    missing = ok(run(rep, "nonexistent"), 422)["error"]
    assert refused == {"code": "reports.E001", "message": f"{where}: {UNKNOWN.format(hidden)}",
                       "fields": {where: [UNKNOWN.format(hidden)]}}
    assert missing["message"] == f"{where}: {UNKNOWN.format('nonexistent')}"
    assert ok(run(admin, hidden))


def _fill(value, name):
    if isinstance(value, str):
        return value.replace("{0}", name)
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, name) for k, v in value.items()}
    return value


def test_no_did_you_mean_names_a_hidden_field(org):
    body = {"object": "opportunity", "group_by": [{"field": "margn"}]}
    assert ok(org["clients"]["rep1"].post("/api/v1/reports/run", json=body), 422)["error"]["message"] == \
        "group_by[0].field: Unknown field 'margn' on 'opportunity'"
    assert ok(org["clients"]["admin"].post("/api/v1/reports/run", json=body), 422)["error"]["message"] == \
        "group_by[0].field: Unknown field 'margn' on 'opportunity' (did you mean 'margin'?)"


def test_a_hidden_field_in_a_filter_or_formula_is_unknown(org):
    rep = org["clients"]["rep1"]
    for key, body, path in (("filter", {"filter": "margin > 10"}, "filter"),
                            ("formula", {"group_by": [{"formula": "margin * 2", "name": "m"}]}, "group_by[0].formula")):
        err = ok(rep.post("/api/v1/reports/run", json={"object": "opportunity", **body}), 422)["error"]
        assert err["code"] == "reports.E001"
        assert err["message"] == f"{path}: Unknown field 'margin' (line 1, column 1)", key
        assert (err["line"], err["column"]) == (1, 1)
    err = ok(rep.get("/api/v1/reports/x/run"), 404)["error"]
    assert err == {"code": "reports.E082", "message": "Unknown report 'x'.", "fields": {}}


def test_a_saved_report_on_a_hidden_field_refuses_the_rep_and_runs_for_the_admin(org):
    admin, rep = org["clients"]["admin"], org["clients"]["rep1"]
    ok(admin.post("/api/v1/reports", json={"name": "margins", "object": "opportunity",
                                           "group_by": [{"field": "stage"}],
                                           "aggregates": [{"fn": "avg", "field": "margin"}]}), 201)
    try:
        assert ok(admin.get("/api/v1/reports/margins/run"))["groups"]
        err = ok(rep.get("/api/v1/reports/margins/run"), 422)["error"]
        assert err["message"] == "aggregates[0].field: Unknown field 'margin' on 'opportunity'"
        assert rep.get("/api/v1/reports/margins/export?format=csv").status_code == 422
        assert rep.get("/api/v1/reports/margins/chart.svg?type=pie").status_code == 422
    finally:
        ok(admin.delete("/api/v1/reports/margins"), 204)


def test_exports_charts_dashboards_and_members_show_only_what_the_rep_may_see(org):
    admin, rep = org["clients"]["admin"], org["clients"]["rep1"]
    ok(admin.post("/api/v1/reports", json={"name": "by_stage_sec", "object": "opportunity",
                                           "group_by": [{"field": "stage"}], "aggregates": [{"fn": "count"}],
                                           "chart": {"type": "number"}}), 201)
    ok(admin.post("/api/v1/dashboards", json={"name": "sec_board", "components": [{"report": "by_stage_sec"}],
                                              "filters": [{"field": "owner_id"}]}), 201)
    ok(admin.post("/api/v1/segments", json={"name": "big_deals_sec", "object": "opportunity",
                                            "criteria": "amount >= 10000"}), 201)
    try:
        mine = list_all(rep, "opportunity")
        text = rep.get("/api/v1/reports/by_stage_sec/export?format=csv").get_data(as_text=True)
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[-1][1] == "Total" and int(rows[-1][2]) == len(mine)
        assert f">{len(mine)}<" in rep.get("/api/v1/reports/by_stage_sec/chart.svg").get_data(as_text=True)
        board = ok(rep.get("/api/v1/dashboards/sec_board/run"))
        assert board["components"][0]["result"]["totals"]["count"] == len(mine)
        members = ok(rep.get("/api/v1/segments/big_deals_sec/members?with_total=true&limit=200"))
        expected = sorted(r["id"] for r in mine if r["amount"] is not None and r["amount"] >= 10000)
        assert sorted(r["id"] for r in members["records"]) == expected and members["total"] == len(expected)
        assert ok(rep.get("/api/v1/segments/big_deals_sec/count"))["count"] == len(expected)
        assert all("margin" not in r for r in members["records"])
    finally:
        ok(admin.delete("/api/v1/dashboards/sec_board"), 204)
        ok(admin.delete("/api/v1/reports/by_stage_sec"), 204)
        ok(admin.delete("/api/v1/segments/big_deals_sec"), 204)


def test_owners_and_admins_write_private_documents_are_unseen(org):
    admin, rep1, rep2 = org["clients"]["admin"], org["clients"]["rep1"], org["clients"]["rep2"]
    mine = ok(rep1.post("/api/v1/reports", json={"name": "rep1_private", "object": "opportunity", "private": True}),
              201)
    assert mine["_meta"]["owner_id"] == org["ids"]["rep1"] and mine["_meta"]["version"] == 1
    try:
        assert ok(rep2.get("/api/v1/reports/rep1_private"), 404)["error"]["message"] == "Unknown report 'rep1_private'."
        assert "rep1_private" not in [r["name"] for r in ok(rep2.get("/api/v1/reports"))["reports"]]
        assert ok(admin.get("/api/v1/reports/rep1_private"))["private"] is True
        changed = ok(rep1.patch("/api/v1/reports/rep1_private", json={"label": "Mine", "private": None}))
        assert changed["_meta"]["version"] == 2 and "private" not in changed
        assert ok(rep2.patch("/api/v1/reports/rep1_private", json={"label": "x"}), 403)["error"] == {
            "code": "reports.E081", "message": "Only administrators and its owner may change report 'rep1_private'.",
            "fields": {}}
        assert ok(rep2.delete("/api/v1/reports/rep1_private"), 403)["error"]["code"] == "reports.E081"
        ok(admin.patch("/api/v1/reports/rep1_private", json={"label": "By admin"}))
    finally:
        ok(rep1.delete("/api/v1/reports/rep1_private"), 204)
    history = ok(admin.get("/api/v1/reports"))  # deleted: gone from lists, its history kept
    assert "rep1_private" not in [r["name"] for r in history["reports"]]
