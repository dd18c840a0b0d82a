"""Report pages through the test client, on SQLite and PostgreSQL: Reports home, the report view
(summary, matrix, tabular, chart, drill-down, exports), the builder (preview, save, problems next to
their inputs, the live check), pinning to a dashboard and the dashboard with its filters, segments
with their live count, forecast and trends, the account's customer value — each as an admin and as
a rep who sees only their own deals (the totals differ), and in Chinese.
"""
from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal
from xml.etree import ElementTree

import pytest

from engine.security.users import get_user

# (name, stage, amount, owner, close_date): the rep owns three; deals are private.
DEALS = [("A1", "New", 1000, "admin", "2025-01-15"), ("A2", "New", 2000, "admin", "2025-02-10"),
         ("A3", "Won", 5000, "admin", "2025-01-20"), ("A4", "Lost", 700, "admin", "2025-03-05"),
         ("R1", "New", 300, "rep", "2025-01-03"), ("R2", "Won", 400, "rep", "2025-02-14"),
         ("R3", "Won", 50, "rep", "2025-02-20")]
REPORT = {"name": "pipeline", "label": "Pipeline by stage", "object": "deal", "folder": "Sales",
          "group_by": [{"field": "stage"}, {"field": "close_date", "granularity": "month"}],
          "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}],
          "chart": {"type": "bar"}}


def _total(text, column=1):
    """The grand total cells of a summary table, as shown."""
    cells = re.findall(r'<td class="num" data-total>([^<]*)</td>', text)
    return cells[column] if cells else None


def _number(shown):
    return Decimal(shown.replace(",", "").strip())


@pytest.fixture
def org(crm_pages, services):
    assert crm_pages.patch("/api/v1/objects/deal", json={"sharing": "private"}).status_code == 200
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Acme", "industry": "Energy"}).get_json()
    owners = {"admin": get_user(services.engine, "admin").id, "rep": get_user(services.engine, "rep").id}
    for name, stage, amount, owner, day in DEALS:
        r = crm_pages.post("/api/v1/records/deal", json={"name": name, "stage": stage, "amount": amount,
                                                         "owner_id": owners[owner], "close_date": day,
                                                         "probability": 50, "account": acc["id"]})
        assert r.status_code == 201, r.get_json()
    r = crm_pages.post("/api/v1/reports", json=REPORT)
    assert r.status_code == 201, r.get_json()
    return {"account": acc, "owners": owners}


def test_home_lists_reports_by_folder(admin_pages, rep_pages, nobody_pages, org):
    for pages in (admin_pages, rep_pages):
        r = pages.get("/reports")
        assert r.status_code == 200
        assert "Pipeline by stage" in r.text and "<h2 id=\"folder-1\">Sales</h2>" in r.text
        assert 'href="/reports/new"' in r.text
    r = nobody_pages.get("/reports")            # may not read deals: the report does not exist for them
    assert r.status_code == 200 and "Pipeline by stage" not in r.text and "No reports yet" in r.text
    assert nobody_pages.get("/reports/pipeline").status_code == 404
    assert 'href="/reports"' in admin_pages.get("/").text          # the navigation entry


def test_report_view_totals_are_the_viewers(admin_pages, rep_pages, org):
    admin = admin_pages.get("/reports/pipeline")
    rep = rep_pages.get("/reports/pipeline")
    assert admin.status_code == 200 and rep.status_code == 200
    assert _number(_total(admin.text)) == sum(d[2] for d in DEALS)
    assert _number(_total(rep.text)) == sum(d[2] for d in DEALS if d[3] == "rep")
    assert _total(admin.text, 0) == "7" and _total(rep.text, 0) == "3"
    # subtotals: the Won group is a first-level row, its months below it
    assert 'class="row-group"' in admin.text and 'class="row-child"' in admin.text
    assert "2025-02" in rep.text and "2025-03" not in rep.text       # only the admin's deal closes in March
    assert '<img class="report-chart" src="/reports/pipeline/chart.svg"' in admin.text


def test_drill_down_lists_the_groups_records_as_the_viewer(admin_pages, rep_pages, org):
    page = rep_pages.get("/reports/pipeline").text
    links = re.findall(r'<a class="drill" href="([^"]+)"[^>]*>Won</a>', page)
    assert links and links[0].startswith("/o/deal?where=")
    listed = rep_pages.get(html.unescape(links[0]))
    assert listed.status_code == 200
    assert ">R2<" in listed.text and ">R3<" in listed.text and ">A3<" not in listed.text
    admin_link = re.findall(r'<a class="drill" href="([^"]+)"[^>]*>Won</a>', admin_pages.get("/reports/pipeline").text)
    assert ">A3<" in admin_pages.get(html.unescape(admin_link[0])).text


def test_matrix_view(admin_pages, org):
    r = admin_pages.get("/reports/pipeline?view=matrix")
    assert r.status_code == 200 and "data-report-matrix" in r.text
    head = re.search(r"<thead>(.*?)</thead>", r.text.split("data-report-matrix", 1)[1], re.S).group(1)
    assert [c for c in ("2025-01", "2025-02", "2025-03") if c in head] == ["2025-01", "2025-02", "2025-03"]
    assert 'aria-current="page">Matrix' in r.text


def test_narrowing_filter_and_its_error(admin_pages, org):
    r = admin_pages.get("/reports/pipeline?filter=amount%20%3E%201000")
    assert r.status_code == 200 and _total(r.text, 0) == "2"
    bad = admin_pages.get("/reports/pipeline?filter=amount%20%3E%3E%201")
    assert bad.status_code == 400 and 'id="report-filter-error"' in bad.text
    assert "line 1, column" in bad.text and "Traceback" not in bad.text


def test_exports_hold_the_viewers_rows(admin_pages, rep_pages, org):
    import openpyxl

    for pages, expected in ((admin_pages, sum(d[2] for d in DEALS)),
                            (rep_pages, sum(d[2] for d in DEALS if d[3] == "rep"))):
        r = pages.get("/reports/pipeline/export?format=csv")
        assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
        assert Decimal(rows[-1][-1]) == expected
        x = pages.get("/reports/pipeline/export?format=xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(x.data)).active
        last = list(sheet.iter_rows(values_only=True))[-1]
        assert Decimal(str(last[-1])) == expected
    assert admin_pages.get("/reports/pipeline/export?format=pdf").status_code == 400


def test_chart_is_svg_without_script(admin_pages, rep_pages, org):
    r = rep_pages.get("/reports/pipeline/chart.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert b"<script" not in r.data
    ElementTree.fromstring(r.data)
    months = list(dict.fromkeys(re.findall(rb"2025-\d\d", admin_pages.get("/reports/pipeline/chart.svg").data)))
    assert months == sorted(months) and len(months) == 3          # the legend (the series) in key order
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert admin_pages.get("/reports/pipeline/chart.svg?type=nope").status_code == 400


def test_builder_preview_and_save(admin_pages, rep_pages, org):
    r = admin_pages.get("/reports/new")
    assert r.status_code == 200 and 'name="object"' in r.text
    r = admin_pages.get("/reports/new?object=deal")
    assert r.status_code == 200 and 'name="group_by.0.field"' in r.text and 'name="csrf_token"' in r.text
    form = {"object": "deal", "label": "Won by month", "group_by.0.field": "close_date",
            "group_by.0.granularity": "month", "aggregates.0.fn": "sum", "aggregates.0.field": "amount",
            "filter": "stage = 'Won'", "chart.type": "column", "_action": "preview"}
    r = admin_pages.post("/reports/new", form)
    assert r.status_code == 200 and "data-report-table" in r.text
    assert _number(_total(r.text, 0)) == 5450
    assert "/reports/preview.svg?doc=" in r.text
    assert _number(_total(rep_pages.post("/reports/new", form).text, 0)) == 450     # the rep's preview: theirs
    r = admin_pages.post("/reports/new", dict(form, _action="save"))
    assert r.status_code == 303 and r.headers["Location"].endswith("/reports/won_by_month")
    page = admin_pages.get("/reports/won_by_month")
    assert page.status_code == 200 and "Won by month" in page.text
    assert admin_pages.post("/reports/new", dict(form, _action="save")).status_code == 422   # the name is taken


@pytest.mark.parametrize("change, input_id, words", [
    ({"filter": "amount >> 1"}, "f-filter-error", "line 1, column"),
    ({"aggregates.0.field": "nope"}, "f-aggregates.0.field", "nope"),
    ({"group_by.0.granularity": "month", "group_by.0.field": "stage"}, "f-group_by.0", "granularity"),
    ({"label": ""}, "f-label", "Give the report a name."),
])
def test_builder_problems_next_to_their_inputs(admin_pages, org, change, input_id, words):
    form = {"object": "deal", "label": "Broken", "group_by.0.field": "stage", "aggregates.0.fn": "sum",
            "aggregates.0.field": "amount", "_action": "save"}
    form.update(change)
    r = admin_pages.post("/reports/new", form)
    assert r.status_code == 422, r.text[:300]
    assert input_id in r.text and words in r.text and "Traceback" not in r.text
    assert admin_pages.get("/reports/broken").status_code == 404


def test_builder_script_endpoints(admin_pages, rep_pages, org):
    token = admin_pages.token("/reports/new?object=deal")
    r = admin_pages.client.post("/reports/preview", data={"object": "deal", "group_by.0.field": "stage",
                                                           "csrf_token": token})
    assert r.status_code == 200 and 'id="report-preview-body"' in r.text
    r = admin_pages.client.post("/reports/preview", data={"object": "deal", "group_by.0.field": "nope",
                                                           "csrf_token": token})
    assert r.status_code == 422 and "problem-box" in r.text
    ok = admin_pages.client.post("/reports/formula/check", json={"object": "deal", "formula": "amount > 10"},
                                 headers={"X-CSRFToken": token})
    assert ok.get_json() == {"ok": True, "return_type": "boolean"}
    bad = admin_pages.client.post("/reports/formula/check", json={"object": "deal", "formula": "amount >"},
                                  headers={"X-CSRFToken": token}).get_json()
    assert bad["ok"] is False and bad["error"]["line"] == 1
    forged = admin_pages.client.post("/reports/formula/check", json={"object": "deal", "formula": "1"})
    assert forged.status_code == 400
    svg = admin_pages.get('/reports/preview.svg?doc={"object":"deal","group_by":[{"field":"stage"}],'
                          '"chart":{"type":"pie"}}')
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert admin_pages.get("/reports/preview.svg?doc=nope").status_code == 400


def test_edit_and_delete_are_the_owners(admin_pages, rep_pages, org):
    assert rep_pages.get("/reports/pipeline/edit").status_code == 403
    r = rep_pages.post("/reports/pipeline/edit", {"label": "Mine", "group_by.0.field": "stage", "_action": "save"},
                       token_from="/reports/pipeline")
    assert r.status_code == 403
    assert rep_pages.post("/dashboards/x/edit", {}).status_code == 404
    assert rep_pages.post("/reports/pipeline/delete", {}).status_code == 403
    assert 'href="/reports/pipeline/edit"' not in rep_pages.get("/reports/pipeline").text
    r = admin_pages.post("/reports/pipeline/edit", {"label": "Pipeline (edited)", "group_by.0.field": "stage",
                                                    "aggregates.0.fn": "count", "chart.type": "pie",
                                                    "_action": "save"})
    assert r.status_code == 303
    doc = admin_pages.get("/reports/pipeline").text
    assert "Pipeline (edited)" in doc and "data-report-matrix" not in doc
    assert admin_pages.post("/reports/pipeline/delete", {}).status_code == 303
    assert admin_pages.get("/reports/pipeline").status_code == 404
    assert admin_pages.post("/reports/pipeline/delete", {}, csrf=False).status_code == 400


def test_pin_to_a_dashboard_and_its_filters(admin_pages, rep_pages, org):
    r = admin_pages.post("/reports/pipeline/pin", {"dashboard": "", "new_label": "Sales overview",
                                                   "title": "Pipeline", "width": "2"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/dashboards/sales_overview")
    r = admin_pages.post("/dashboards/sales_overview/edit", {
        "label": "Sales overview", "filters.0.field": "owner_id", "filters.0.label": "Owner",
        "filters.0.kind": "value", "filters.1.field": "close_date", "filters.1.label": "Close date",
        "filters.1.kind": "period", "filters.1.default": "all", "components.0.title": "Pipeline",
        "components.0.width": "2"})
    assert r.status_code == 303, re.findall(r"field-error[^>]*>([^<]*)<", r.text)
    admin = admin_pages.get("/dashboards/sales_overview")
    rep = rep_pages.get("/dashboards/sales_overview")
    assert admin.status_code == 200 and rep.status_code == 200
    assert _number(_total(admin.text)) == sum(d[2] for d in DEALS)
    assert _number(_total(rep.text)) == sum(d[2] for d in DEALS if d[3] == "rep")
    assert 'src="/dashboards/sales_overview/components/0/chart.svg' in admin.text
    mine = admin_pages.get("/dashboards/sales_overview?owner_id=me&close_date=2025-01-01..2025-01-31")
    assert _number(_total(mine.text)) == 6000
    bad = admin_pages.get("/dashboards/sales_overview?close_date=someday")
    assert bad.status_code == 200 and "unknown period" in bad.text     # said on the component it filters
    chart = rep_pages.get("/dashboards/sales_overview/components/0/chart.svg?owner_id=me")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    assert rep_pages.get("/dashboards/sales_overview/edit").status_code == 403
    assert "Sales overview" in admin_pages.get("/dashboards").text
    # pinning a second chart to the same dashboard
    r = admin_pages.post("/reports/pipeline/pin", {"dashboard": "sales_overview", "title": "Again"})
    assert r.status_code == 303 and "Again" in admin_pages.get("/dashboards/sales_overview").text


def test_segments_with_live_count(admin_pages, rep_pages, org):
    r = admin_pages.post("/segments/new", {"label": "Big deals", "object": "deal", "criteria": "amount >= 400"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/segments/big_deals")
    admin = admin_pages.get("/segments/big_deals")
    rep = rep_pages.get("/segments/big_deals")
    assert "5 members" in admin.text and "1 member" in rep.text and ">R2<" in rep.text and ">A3<" not in rep.text
    assert "IN_SEGMENT(&#39;big_deals&#39;)" in admin.text
    token = rep_pages.token("/segments/new")
    count = rep_pages.client.post("/segments/count", data={"object": "deal", "criteria": "amount >= 400",
                                                           "csrf_token": token}).get_json()
    assert count == {"count": 1}
    bad = rep_pages.client.post("/segments/count", data={"object": "deal", "criteria": "amount >=",
                                                         "csrf_token": token})
    assert bad.status_code == 422 and bad.get_json()["error"]["line"] == 1
    r = admin_pages.post("/segments/new", {"label": "Broken", "object": "deal", "criteria": "amout > 1"})
    assert r.status_code == 422 and 'id="f-criteria-error"' in r.text and "amount" in r.text
    exported = rep_pages.get("/segments/big_deals/export")
    assert exported.status_code == 200 and b"R2" in exported.data and b"A3" not in exported.data
    narrowed = rep_pages.get("/reports/pipeline?filter=IN_SEGMENT(%27big_deals%27)")    # a segment as a report filter
    assert narrowed.status_code == 200 and _number(_total(narrowed.text)) == 400
    check = rep_pages.client.post("/reports/formula/check", json={"object": "deal",
                                                                  "formula": "IN_SEGMENT('big_deals')"},
                                  headers={"X-CSRFToken": token}).get_json()
    assert check == {"ok": True, "return_type": "boolean"}
    listing = admin_pages.get("/segments")
    assert "Big deals" in listing.text and ">5</td>" in listing.text


def test_forecast_and_trend(admin_pages, rep_pages, org):
    r = admin_pages.get("/analytics/forecast?object=deal&period=quarter&from=2025-01-01&to=2025-12-31")
    assert r.status_code == 200 and "data-forecast-owners" in r.text and "2025-Q1" in r.text
    assert "rep" in r.text and "admin" in r.text
    mine = rep_pages.get("/analytics/forecast?object=deal&period=quarter&from=2025-01-01&to=2025-12-31")
    assert "<th scope=\"row\">admin</th>" not in mine.text
    assert admin_pages.get("/analytics/forecast?object=deal&period=week").status_code == 400
    t = admin_pages.get("/analytics/trend?object=deal&date=close_date&fn=sum&field=amount&granularity=month"
                        "&from=2025-01-01&to=2025-03-31")
    assert t.status_code == 200 and "data-trend" in t.text and "2025-02" in t.text
    assert admin_pages.get("/analytics/trend?object=deal&date=nope").status_code == 400
    url = ("/analytics/trend?object=deal&date=close_date&fn=sum&field=amount&granularity=year"
           "&from=2025-01-01&to=2025-12-31")
    values = [re.search(r'<th scope="row">2025</th><td class="num">([^<]+)</td>', p.get(url).text).group(1)
              for p in (admin_pages, rep_pages)]
    assert values == ["9,450.00", "750.00"]


def test_account_page_shows_customer_value(admin_pages, rep_pages, crm_pages, org):
    r = crm_pages.post("/api/v1/analytics/rfm_models", json={
        "name": "customer_value", "label": "Customer value", "object": "account",
        "source": {"object": "deal", "link": "account", "date": "close_date", "amount": "amount",
                   "filter": "stage = 'Won'"}, "window_days": 3650})
    assert r.status_code == 201, r.get_json()
    assert crm_pages.post("/api/v1/analytics/rfm_models/customer_value/refresh").status_code == 200
    page = admin_pages.get(f"/o/account/{org['account']['id']}")
    assert 'data-rfm="customer_value"' in page.text
    label = re.search(r"data-rfm-label>([^<]+)<", page.text).group(1)
    assert label in ("Champions", "Can't lose them", "Can&#39;t lose them", "Loyal", "At risk", "New customers",
                     "Potential loyalists", "Hibernating", "Need attention")
    assert "data-rfm=" not in admin_pages.get(f"/o/deal/{_first_deal(crm_pages)}").text


def test_a_first_customer_value_model_shows_at_once_in_another_process(admin_pages, crm_pages, org, db_url):
    """The record page reads an object's models only once a model was saved on it (a flag the save
    writes, the metadata version bumped with it): a second app sees the first model at once."""
    from sqlalchemy import event

    from engine import create_app
    from tests.ui_renderer.live import sign_in

    other = create_app({"database_url": db_url, "testing": True})
    client = other.test_client()
    assert sign_in(client, "admin", "admin-password").status_code == 303
    url = f"/o/account/{org['account']['id']}"
    seen = []
    event.listen(other.extensions["tessera"].engine, "before_cursor_execute",
                 lambda c, cur, st, *a: seen.append(st) if "tessera_rpt_documents" in st else None)
    assert "data-rfm=" not in client.get(url).text and seen == []
    r = crm_pages.post("/api/v1/analytics/rfm_models", json={
        "name": "customer_value", "label": "Customer value", "object": "account",
        "source": {"object": "deal", "link": "account", "date": "close_date", "amount": "amount",
                   "filter": "stage = 'Won'"}, "window_days": 3650})
    assert r.status_code == 201, r.get_json()
    assert crm_pages.post("/api/v1/analytics/rfm_models/customer_value/refresh").status_code == 200
    assert 'data-rfm="customer_value"' in client.get(url).text and seen
    assert client.get(url).text.split("data-rfm=", 1)[1][:300] == \
        admin_pages.get(url).text.split("data-rfm=", 1)[1][:300]
    other.extensions["tessera"].engine.dispose()


def _first_deal(api):
    return api.get("/api/v1/records/deal").get_json()["records"][0]["id"]


def test_pages_in_chinese(admin_pages, org):
    admin_pages.post("/locale", {"locale": "zh_CN", "next": "/reports"})
    home = admin_pages.get("/reports").text
    assert "报表" in home and "新建报表" in home
    view = admin_pages.get("/reports/pipeline").text
    assert "总计" in view and "导出 CSV" in view
    assert "分组" in admin_pages.get("/reports/new?object=deal").text


def test_report_and_dashboard_labels_in_the_readers_language(admin_pages, crm_pages, org):
    """label_i18n of reports, dashboards (their components and filters) and segments, as for objects."""
    r = crm_pages.patch("/api/v1/reports/pipeline", json={"label_i18n": {"zh_CN": "销售管道报表"}})
    assert r.status_code == 200, r.get_json()
    r = crm_pages.post("/api/v1/dashboards", json={
        "name": "board", "label": "Board", "label_i18n": {"zh_CN": "看板"},
        "filters": [{"field": "owner_id", "label": "Owner", "label_i18n": {"zh_CN": "负责人"}}],
        "components": [{"report": "pipeline"}, {"report": "pipeline", "title": "Again", "title_i18n": {"zh_CN": "再来"}}]})
    assert r.status_code == 201, r.get_json()
    r = crm_pages.post("/api/v1/segments", json={"name": "big", "label": "Big deals", "label_i18n": {"zh_CN": "大单"},
                                                 "object": "deal", "criteria": "amount > 100"})
    assert r.status_code == 201, r.get_json()
    bad = crm_pages.patch("/api/v1/reports/pipeline", json={"label_i18n": {"chinese": "x"}})
    assert bad.status_code == 422 and "label_i18n" in str(bad.get_json()["error"]["fields"])
    english = admin_pages.get("/dashboards/board").text
    assert "<h1>Board</h1>" in english and "Again" in english and "销售管道报表" not in english
    admin_pages.post("/locale", {"locale": "zh_CN", "next": "/reports"})
    home = admin_pages.get("/reports").text
    assert "销售管道报表" in home and "看板" in home and "大单" in home
    assert "<h1>销售管道报表</h1>" in admin_pages.get("/reports/pipeline").text
    board = admin_pages.get("/dashboards/board").text
    assert "<h1>看板</h1>" in board and "再来" in board and ">销售管道报表</a></h2>" in board and "负责人" in board
    assert "<h1>大单" in admin_pages.get("/segments/big").text
    chart = admin_pages.get("/reports/pipeline/chart.svg?type=bar")
    assert chart.status_code == 200 and "销售管道报表" in chart.text


def test_forged_posts_change_nothing(admin_pages, org):
    for url, data in (("/reports/new", {"object": "deal", "label": "Forged", "_action": "save"}),
                      ("/segments/new", {"label": "Forged", "object": "deal", "criteria": "TRUE"}),
                      ("/reports/pipeline/pin", {"new_label": "Forged"})):
        assert admin_pages.post(url, data, csrf=False).status_code == 400
    assert "Forged" not in admin_pages.get("/reports").text
    assert admin_pages.get("/dashboards/forged").status_code == 404


def test_tabular_report_pages_with_the_list_cursor(admin_pages, rep_pages, crm_pages, org):
    r = crm_pages.post("/api/v1/reports", json={"name": "deal_list", "label": "Deal list", "object": "deal",
                                                "columns": ["name", "stage", "amount", "owner_id"],
                                                "aggregates": [{"fn": "sum", "field": "amount"}]})
    assert r.status_code == 201, r.get_json()
    rep = rep_pages.get("/reports/deal_list")
    assert rep.status_code == 200 and ">R1<" in rep.text and ">A1<" not in rep.text
    assert re.search(r"data-total>([^<]+)<", rep.text).group(1) == "750.00"
    admin = admin_pages.get("/reports/deal_list")
    assert re.search(r"data-total>([^<]+)<", admin.text).group(1) == "9,450.00"
    assert ">rep<" in admin.text                                      # the owner shown by name


def test_hidden_fields_are_not_offered_nor_run(admin_pages, rep_pages, crm_pages, org):
    from tests.ui_renderer.conftest import SALES

    r = crm_pages.put("/api/v1/permission_sets/sales", json=dict(SALES, fields={"deal": {"amount": "hidden"}}))
    assert r.status_code == 200, r.get_json()
    builder = rep_pages.get("/reports/new?object=deal").text
    assert 'value="amount"' not in builder and 'value="stage"' in builder
    page = rep_pages.get("/reports/pipeline")
    assert page.status_code == 422 and "amount" in page.text and "Traceback" not in page.text
    assert '<td class="num" data-total>' not in page.text
    r = rep_pages.post("/reports/new", {"object": "deal", "label": "Peek", "group_by.0.field": "stage",
                                        "aggregates.0.fn": "sum", "aggregates.0.field": "amount", "_action": "save"})
    assert r.status_code == 422 and "amount" in r.text and "Peek" not in rep_pages.get("/reports").text
    token = rep_pages.token("/reports/new?object=deal")
    check = rep_pages.client.post("/reports/formula/check", json={"object": "deal", "formula": "amount > 1"},
                                  headers={"X-CSRFToken": token}).get_json()
    assert check["ok"] is False and "amount" in check["error"]["message"]
    exported = rep_pages.get("/reports/pipeline/export?format=csv")
    assert exported.status_code in (400, 422) and "amount" in exported.text and "text/html" in exported.content_type


def test_pages_pass_the_accessibility_checks(admin_pages, org):
    from tests.ui_renderer.test_accessibility import check_page

    admin_pages.post("/reports/pipeline/pin", {"new_label": "Board"})
    admin_pages.post("/segments/new", {"label": "Won", "object": "deal", "criteria": "stage = 'Won'"})
    for url in ("/reports", "/reports/pipeline", "/reports/pipeline?view=matrix", "/reports/new",
                "/reports/new?object=deal", "/reports/pipeline/edit", "/dashboards", "/dashboards/board",
                "/dashboards/board/edit", "/segments", "/segments/won", "/segments/new", "/segments/won/edit",
                "/analytics/forecast?object=deal", "/analytics/trend?object=deal&date=close_date"):
        r = admin_pages.get(url)
        assert r.status_code == 200, url
        assert check_page(r.text) == [], url


ODD_URLS = [
    '/reports/preview.svg?doc={"object":"deal","chart":5}',
    '/reports/preview.svg?doc={"object":"deal","chart":{"type":"bar"},"group_by":"x"}',
    '/reports/preview.svg?doc={"object":"nope","chart":{"type":"bar"},"group_by":[{"field":"stage"}]}',
    '/reports/preview.svg?doc={"object":"deal","chart":{"type":"zz"},"group_by":[{"field":"stage"}]}',
    "/reports/pipeline/chart.svg?type=", "/reports/pipeline?cursor=zz", "/reports/pipeline?view=zz",
    "/reports/new?object=nope", "/dashboards/board/components/999/chart.svg",
    "/dashboards/board/components/-1/chart.svg", "/analytics/trend?object=deal&date=close_date&granularity=zz",
    "/analytics/forecast?object=deal&from=bad", "/analytics/forecast?object=nope", "/segments/nope",
    "/reports/pipeline/export?format=", "/reports/pipeline?filter=%00"]


def test_odd_urls_answer_cleanly(admin_pages, org):
    admin_pages.post("/reports/pipeline/pin", {"new_label": "Board"})
    for url in ODD_URLS:
        r = admin_pages.get(url)
        assert r.status_code in (200, 400, 404, 422), (url, r.status_code)
        assert "Traceback" not in r.text


def test_charts_name_keys_as_the_tables_do(admin_pages, rep_pages, crm_pages, org):
    r = crm_pages.post("/api/v1/reports", json={"name": "by_account", "object": "deal", "group_by": [
        {"field": "account"}, {"field": "owner_id"}], "chart": {"type": "column"}})
    assert r.status_code == 201, r.get_json()
    svg = rep_pages.get("/reports/by_account/chart.svg").data.decode("utf-8")
    assert "Acme" in svg and org["account"]["id"] not in svg          # the account's name, not its id
    assert ">rep<" in svg and org["owners"]["rep"] not in svg         # the owner's name
    assert "Acme" in admin_pages.get('/reports/preview.svg?doc={"object":"deal","group_by":[{"field":"account"}],'
                                     '"chart":{"type":"pie"}}').data.decode("utf-8")
