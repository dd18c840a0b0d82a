"""Documents (checks with paths and line/column, versions and history, export/import for packs),
exports that open with the library that wrote them, and charts that are valid SVG."""
from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from engine.security import SYSTEM_ACTOR

from .conftest import ok

REPORT = {"name": "pipeline_by_stage_month", "label": "Pipeline by stage and month", "object": "opportunity",
          "filter": "NOT(is_closed) && close_date <= DATE(2026, 12, 31) + 180",
          "columns": ["name", "account.industry", "amount", "close_date", "owner_id"],
          "group_by": [{"field": "stage"}, {"field": "close_date", "granularity": "month"}],
          "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}, {"fn": "avg", "field": "probability"},
                         {"fn": "sum", "field": "weighted_amount"}],
          "buckets": [{"name": "deal_size", "field": "amount", "ranges": [
              {"below": 10000, "label": "Small"}, {"below": 100000, "label": "Medium"}, {"label": "Large"}]}],
          "sort": [{"by": "sum_amount", "desc": True}],
          "chart": {"type": "bar", "x": "stage", "y": "sum_amount", "series": "close_date"}}


@pytest.fixture(scope="module")
def saved(org):
    admin = org["clients"]["admin"]
    ok(admin.post("/api/v1/reports", json=REPORT), 201)
    return REPORT["name"]


BAD = [
    ({"group_by": [{"field": "stage", "granularity": "month"}]}, "group_by[0].granularity",
     "'stage' is not a date, so it has no granularity"),
    ({"group_by": [{"field": "notes"}]}, "group_by[0].field", "'notes' is a long_text field and cannot be grouped"),
    ({"group_by": [{"field": "tags"}]}, "group_by[0].field",
     "'tags' is a multi-select picklist and cannot be grouped"),
    ({"aggregates": [{"fn": "sum", "field": "stage"}]}, "aggregates[0].field",
     "sum cannot be computed over 'stage' (picklist)"),
    ({"aggregates": [{"fn": "median"}]}, "aggregates[0]", "median needs a 'field' or a 'formula'"),
    ({"group_by": [{"formula": "YEAR(close_date) +"}]}, "group_by[0].formula",
     "The formula ends too early: expected a value (a number, a text, a field or a function call) (line 1, "
     "column 19)"),
    ({"filter": "amount >\n 'x'"}, "filter", "Cannot compare a number with text using '>' (line 1, column 8)"),
    ({"group_by": [{"field": "account.nope"}]}, "group_by[0].field", "Unknown field 'account.nope' on 'account' "
                                                                     "(account)"),
    ({"group_by": [{"field": "stage.x"}]}, "group_by[0].field",
     "'stage' is not a lookup, so it has no field 'x' (in 'stage.x')"),
    ({"group_by": [{"bucket": "nope"}]}, "group_by[0].bucket", "unknown bucket 'nope'; define it under 'buckets'"),
    ({"group_by": [{"field": "stage"}], "sort": [{"by": "nope"}]}, "sort[0].by",
     "unknown result 'nope'; sort by a grouping or an aggregate: count, stage"),
    ({"group_by": [{"field": "stage"}], "chart": {"type": "bar", "y": "sum_x"}}, "chart.y",
     "unknown aggregate 'sum_x'; known: count"),
    ({"group_by": [{"field": "stage"}, {"field": "amount"}, {"field": "probability"}]}, "group_by",
     "must have at most 2 items"),
    ({"group_by": [{"field": "stage", "formula": "1"}]}, "group_by[0]",
     "needs exactly one of 'field', 'bucket' or 'formula'"),
    ({"buckets": [{"name": "b", "field": "amount", "ranges": [{"below": 10, "label": "a"}, {"below": 5, "label": "b"}]}]},
     "buckets[0].ranges[1].below", "ranges must go up: each 'below' greater than the one before"),
    ({"object": "nope"}, "object", "unknown object 'nope'"),
]


@pytest.mark.parametrize("change, path, message", BAD)
def test_a_bad_report_is_refused_with_its_path(org, change, path, message):
    doc = {"name": "bad", "object": "opportunity", **change}
    err = ok(org["clients"]["admin"].post("/api/v1/reports", json=doc), 422)["error"]
    assert err["code"] == "reports.E001"
    assert err["fields"].get(path) == [message], err


def test_every_problem_is_reported_at_once(org):
    doc = {"name": "bad", "object": "opportunity", "filter": "amountt > 1",
           "group_by": [{"field": "stagee"}], "aggregates": [{"fn": "sum", "field": "name"}]}
    err = ok(org["clients"]["admin"].post("/api/v1/reports", json=doc), 422)["error"]
    assert sorted(err["fields"]) == ["aggregates[0].field", "filter", "group_by[0].field"]
    assert (err["line"], err["column"]) == (1, 1)   # the first formula problem's place


def test_versions_history_conflicts_and_packs(org, saved):
    admin = org["clients"]["admin"]
    reports = org["services"].extensions["reports"]
    assert ok(admin.post("/api/v1/reports", json=REPORT), 409)["error"] == {
        "code": "reports.E083", "message": "There is already a report named 'pipeline_by_stage_month'.",
        "fields": {"name": ["already exists"]}}
    before = ok(admin.get(f"/api/v1/reports/{saved}"))["_meta"]["version"]
    ok(admin.patch(f"/api/v1/reports/{saved}", json={"folder": "Sales"}))
    assert ok(admin.patch(f"/api/v1/reports/{saved}", json={"name": "other"}), 400)["error"]["code"] == "reports.E002"
    history = ok(admin.get(f"/api/v1/reports/{saved}/history"))["history"]
    assert [h["version"] for h in history][-2:] == [before, before + 1]
    assert history[-1]["doc"]["folder"] == "Sales" and history[-1]["action"] == "update"
    exported = reports.export_all()
    assert REPORT["name"] in [d["name"] for d in exported["reports"]]
    assert "_meta" not in exported["reports"][0]
    pipeline = next(d for d in exported["reports"] if d["name"] == saved)
    out = reports.import_all({"reports": [dict(pipeline, label="Imported")]}, SYSTEM_ACTOR)
    assert out == {"reports": [saved]}
    again = ok(admin.get(f"/api/v1/reports/{saved}/history"))["history"][-1]
    assert again["action"] == "import" and again["doc"]["label"] == "Imported"
    with pytest.raises(Exception) as exc:
        reports.import_all({"reports": [{"name": "broken", "object": "opportunity", "filter": "x >"}]}, SYSTEM_ACTOR)
    assert exc.value.code == "reports.E001" and "reports[broken].filter" in exc.value.fields
    assert reports.reports.find("broken") is None


def test_csv_and_xlsx_exports_open_with_their_library(org, saved):
    from openpyxl import load_workbook

    admin = org["clients"]["admin"]
    result = ok(admin.get(f"/api/v1/reports/{saved}/run?group_limit=10000"))
    r = admin.get(f"/api/v1/reports/{saved}/export?format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == f'attachment; filename="{saved}.csv"'
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0] == ["Stage", "Close date", "Level", "Record count", "Sum of Amount", "Average Probability",
                       "Sum of Weighted amount"]
    assert rows[-1][2] == "Total" and int(rows[-1][3]) == result["totals"]["count"]
    leaves = [row for row in rows[1:] if row[2] == ""]
    assert len(leaves) == sum(len(g["groups"]) for g in result["groups"])
    assert len([row for row in rows if row[2] == "Subtotal"]) == len(result["groups"])
    x = admin.get(f"/api/v1/reports/{saved}/export?format=xlsx")
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.data), read_only=True).active
    cells = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == tuple(rows[0]) or list(cells[0]) == rows[0]
    assert cells[-1][2] == "Total" and cells[-1][3] == result["totals"]["count"]
    assert len(cells) == len(rows)
    assert ok(admin.get(f"/api/v1/reports/{saved}/export?format=pdf"), 400)["error"] == {
        "code": "reports.E022", "message": "Unknown export format 'pdf'; use csv or xlsx.",
        "fields": {"format": ["unknown"]}}
    # a tabular report exports every row the reader may see, page after page
    ok(admin.post("/api/v1/reports", json={"name": "all_rows", "object": "opportunity",
                                           "columns": ["name", "amount", "account.industry"]}), 201)
    tab = list(csv.reader(io.StringIO(admin.get("/api/v1/reports/all_rows/export").get_data(as_text=True))))
    assert tab[0] == ["Name", "Amount", "Account › Industry"] and len(tab) == 91
    wb = load_workbook(io.BytesIO(admin.get("/api/v1/reports/all_rows/export?format=xlsx").data), read_only=True)
    assert len(list(wb.active.iter_rows(values_only=True))) == 91


@pytest.mark.parametrize("kind", ["bar", "column", "line", "area", "pie", "donut", "funnel", "number"])
def test_charts_are_valid_svg(org, saved, kind):
    admin = org["clients"]["admin"]
    r = admin.get(f"/api/v1/reports/{saved}/chart.svg?type={kind}&y=sum_amount")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    root = ET.fromstring(r.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"<script" not in r.data          # server-rendered: no JavaScript
    preview = admin.post(f"/api/v1/reports/chart.svg?type={kind}", json={
        "object": "opportunity", "group_by": [{"field": "stage"}], "aggregates": [{"fn": "count"}]})
    assert preview.status_code == 200 and ET.fromstring(preview.data).tag.endswith("svg")


def test_chart_refusals(org, saved):
    admin = org["clients"]["admin"]
    ok(admin.post("/api/v1/reports", json={"name": "no_chart", "object": "opportunity",
                                           "group_by": [{"field": "stage"}]}), 201)
    assert ok(admin.get("/api/v1/reports/no_chart/chart.svg"), 400)["error"]["message"] == \
        "Report 'no_chart' has no chart; add one under 'chart' or pass type=."
    assert ok(admin.get("/api/v1/reports/all_rows/chart.svg?type=bar"), 400)["error"]["code"] == "reports.E024"


def test_in_segment_is_refused_where_formulas_run_in_python(org):
    admin = org["clients"]["admin"]
    err = ok(admin.post("/api/v1/objects/account/fields", json={
        "api_name": "in_seg", "type": "formula", "formula": "IF(IN_SEGMENT('x'), 1, 0)"}), 422)["error"]
    assert err["fields"] == {"objects.account.fields.in_seg.formula": [
        "IN_SEGMENT() works in filters (reports, list views, where=, segments), not in formula fields, defaults "
        "or validation rules (line 1, column 4)"]}
