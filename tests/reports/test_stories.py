"""The issue's stories through the API, on SQLite and PostgreSQL: the sales manager's report and
dashboard, the marketing manager's segment, the sales director's forecast, trend and customer value."""
from __future__ import annotations

import csv
import datetime as _dt
import io
import xml.etree.ElementTree as ET

from openpyxl import load_workbook

from .conftest import close, list_all, ok

PIPELINE = {
    "name": "pipeline_story", "label": "Pipeline by stage and month", "object": "opportunity",
    "filter": "close_date <= TODAY() + 180 && NOT(is_closed)",
    "group_by": [{"field": "stage"}, {"field": "close_date", "granularity": "month"}],
    "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}, {"fn": "avg", "field": "probability"},
                   {"fn": "sum", "field": "weighted_amount"}],
    "buckets": [{"name": "deal_size", "label": "Deal size", "field": "amount", "ranges": [
        {"below": 10000, "label": "Small"}, {"below": 100000, "label": "Medium"}, {"label": "Large"}]}],
    "chart": {"type": "bar", "x": "stage", "y": "sum_amount", "series": "close_date", "stacked": True}}


def test_the_sales_managers_story(org):
    manager, rep = org["clients"]["manager"], org["clients"]["rep1"]
    # the builder's preview updates as they build, then they save
    draft = {k: v for k, v in PIPELINE.items() if k != "name"}
    preview = ok(manager.post("/api/v1/reports/run", json=draft))
    assert preview["meta"]["group_by"][1] == {"name": "close_date", "label": "Close date", "type": "date",
                                               "granularity": "month"}
    ok(manager.post("/api/v1/reports", json=PIPELINE), 201)
    result = ok(manager.get("/api/v1/reports/pipeline_story/run"))
    assert result["groups"] == preview["groups"] and result["totals"] == preview["totals"]
    visible = list_all(manager, "opportunity", where=PIPELINE["filter"])
    assert result["totals"]["count"] == len(visible)
    for g in result["groups"]:           # subtotals add up
        assert g["values"]["count"] == sum(k["values"]["count"] for k in g["groups"])
    assert sum(g["values"]["count"] for g in result["groups"]) == len(visible)
    # the matrix view
    matrix = ok(manager.get("/api/v1/reports/pipeline_story/run?matrix=true"))
    assert sum(c["values"]["count"] for c in matrix["column_totals"]) == len(visible)
    # a click on a group shows its records
    group = result["groups"][0]["groups"][0]
    assert len(list_all(manager, "opportunity", where=group["where"])) == group["values"]["count"]
    # CSV and XLSX
    rows = list(csv.reader(io.StringIO(manager.get("/api/v1/reports/pipeline_story/export?format=csv")
                                       .get_data(as_text=True))))
    assert rows[-1][2] == "Total" and int(rows[-1][3]) == len(visible)
    sheet = load_workbook(io.BytesIO(manager.get("/api/v1/reports/pipeline_story/export?format=xlsx").data)).active
    assert [c.value for c in sheet[sheet.max_row]][2:4] == ["Total", len(visible)]
    # the chart pinned to the Sales overview dashboard, with an Owner filter and this quarter
    ok(manager.post("/api/v1/dashboards", json={
        "name": "sales_overview", "label": "Sales overview",
        "filters": [{"field": "owner_id", "label": "Owner"}, {"field": "close_date", "period": "this_quarter"}],
        "components": [{"report": "pipeline_story", "title": "Pipeline", "width": 2}]}), 201)
    board = ok(manager.get("/api/v1/dashboards/sales_overview/run?owner_id=me"))
    today = _dt.datetime.now(_dt.timezone.utc).date()
    q0 = _dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    q1 = _dt.date(q0.year + (q0.month == 10), (q0.month + 2) % 12 + 1, 1)
    mine = [r for r in visible if r["owner_id"] == org["ids"]["manager"] and r["close_date"]
            and q0.isoformat() <= r["close_date"] < q1.isoformat()]
    assert board["components"][0]["result"]["totals"]["count"] == len(mine)
    assert [f["applied_to"] for f in board["filters"]] == [[0], [0]]
    svg = manager.get("/api/v1/dashboards/sales_overview/components/0/chart.svg?owner_id=me")
    assert svg.status_code == 200 and ET.fromstring(svg.data).tag.endswith("svg")
    # a rep opening the same report sees only their deals; the totals are theirs
    theirs = ok(rep.get("/api/v1/reports/pipeline_story/run"))
    assert theirs["totals"]["count"] == len(list_all(rep, "opportunity", where=PIPELINE["filter"]))
    assert theirs["totals"]["count"] < result["totals"]["count"]


def test_the_marketing_managers_story(org):
    marketer = org["clients"]["marketer"]
    criteria = "industry = 'Energy' && annual_revenue >= 1000000"
    seg = ok(marketer.post("/api/v1/segments", json={"name": "high_value_energy", "label": "High-value energy accounts",
                                                     "object": "account", "criteria": criteria}), 201)
    assert seg["_meta"]["owner_id"] == org["ids"]["marketer"]
    expected = sorted(a["id"] for a in list_all(marketer, "account", where=criteria))
    assert ok(marketer.get("/api/v1/segments/high_value_energy/count"))["count"] == len(expected) > 0
    members = ok(marketer.get("/api/v1/segments/high_value_energy/members?with_total=true"))
    assert sorted(m["id"] for m in members["records"]) == expected and members["total"] == len(expected)
    # as a campaign's audience: the campaign names the segment, its members are the audience
    admin = org["clients"]["admin"]
    ok(admin.post("/api/v1/objects", json={"api_name": "campaign", "label": "Campaign", "fields": [
        {"api_name": "audience_segment", "type": "text"}]}), 201)
    campaign = ok(admin.post("/api/v1/records/campaign", json={"name": "Spring", "audience_segment": seg["name"]}))
    audience = marketer.get(f"/api/v1/segments/{campaign['audience_segment']}/members/export")
    assert audience.status_code == 200
    assert len(list(csv.reader(io.StringIO(audience.get_data(as_text=True))))) == len(expected) + 1
    # as a report filter, compiled to SQL
    by_stage = ok(marketer.post("/api/v1/reports/run", json={
        "object": "opportunity", "filter": "IN_SEGMENT('high_value_energy', account)",
        "group_by": [{"field": "stage"}], "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}]}))
    deals = [d for d in list_all(marketer, "opportunity") if d["account"] in expected]
    assert by_stage["totals"]["count"] == len(deals)
    assert close(by_stage["totals"]["sum_amount"], sum(d["amount"] or 0 for d in deals))
    # and as a list filter
    assert sorted(a["id"] for a in list_all(marketer, "account", where="IN_SEGMENT('high_value_energy')")) == expected


def test_the_sales_directors_story(org):
    director, admin = org["clients"]["director"], org["clients"]["admin"]
    ids = org["ids"]
    if "quota" not in [o["api_name"] for o in ok(admin.get("/api/v1/objects"))["objects"]]:
        ok(admin.post("/api/v1/objects", json={"api_name": "quota", "label": "Quota", "fields": [
            {"api_name": "amount", "type": "currency"}, {"api_name": "period_start", "type": "date"}]}), 201)
    ok(admin.post("/api/v1/permission_sets", json={"api_name": "quota_read", "objects": {"quota": {"read": True,
                                                                                                   "view_all": True}}}))
    ok(admin.post("/api/v1/users/director/permission_sets", json={"permission_set": "quota_read"}))
    for rep in ("rep1", "rep2"):
        ok(admin.post("/api/v1/records/quota", json={"name": f"{rep} Q3", "owner_id": ids[rep], "amount": 100000,
                                                     "period_start": "2025-07-01"}))
    forecast = ok(director.get("/api/v1/analytics/forecast?from=2025-07-01&to=2025-12-31"))
    assert forecast["periods"] == ["2025-Q3", "2025-Q4"]
    rows = {(r["username"], r["period"]): r for r in forecast["owners"]}
    assert rows[("rep1", "2025-Q3")]["quota"] >= 100000 and "attainment" in rows[("rep1", "2025-Q3")]
    team = {(t["role"], t["period"]): t for t in forecast["teams"]}
    reps_q3 = [r for (u, p), r in rows.items() if u in ("rep1", "rep2") and p == "2025-Q3"]
    assert close(team[("sales_rep", "2025-Q3")]["weighted"], sum(r["weighted"] for r in reps_q3))
    assert team[("director", "2025-Q3")]["count"] >= team[("sales_manager", "2025-Q3")]["count"]
    trend = ok(director.get("/api/v1/analytics/trend?object=opportunity&date=close_date&fn=sum&field=amount"
                            "&filter=stage = 'Won'&from=2026-01-01&to=2026-12-31"))
    assert len(trend["periods"]) == 12 and {"previous", "change", "last_year", "change_last_year_pct"} <= \
        set(trend["periods"][0])
    # the account page shows its customer value
    ok(admin.post("/api/v1/analytics/rfm_models", json={
        "name": "story_value", "object": "account", "window_days": 3650,
        "source": {"object": "opportunity", "link": "account", "date": "close_date", "amount": "amount",
                   "filter": "stage = 'Won'"}}), 201)
    ok(admin.post("/api/v1/analytics/rfm_models/story_value/refresh"))
    scores = ok(director.get("/api/v1/analytics/rfm_models/story_value/scores"))["scores"]
    assert scores and all(s["label"] for s in scores)
    one = ok(director.get(f"/api/v1/analytics/rfm_models/story_value/scores?record_id={scores[0]['record_id']}"))
    assert one["scores"][0]["score"] == scores[0]["score"]
