"""The sales manager's story in real Chromium (Debian's, through Playwright), in English and in
Chinese, on SQLite and PostgreSQL: Reports → New report on deals, groupings (stage, close date by
month), aggregates, a filter whose typo the live check catches, a bucket and a stacked bar chart,
with the preview updating as they build; save; the summary with subtotals and the grand total, the
matrix, a drill-down to the records of a group; pin the chart to a new dashboard; a segment with
its live member count. Any console error fails the test.

With ``TESSERA_DOCS_IMG=docs/img`` the SQLite run also saves the screenshots of docs/reports.md
and docs/browser.md (``reports-*-en.png``, ``reports-*-zh.png``).
"""
from __future__ import annotations

import os
import re

import pytest

DOCS = os.environ.get("TESSERA_DOCS_IMG")
STORY = {
    "en": {"report": "Pipeline by stage and month", "name": "pipeline_by_stage_month", "dashboard": "Sales overview",
           "dash_name": "sales_overview", "segment": "Big deals", "seg_name": "big_deals",
           "valid": "The filter is valid.", "at": "line 1, column", "total": "Grand total",
           "members": "members you may see",
           "bucket": "Deal size", "owner": "Owner", "close": "Close date"},
    "zh_CN": {"report": "按阶段和月份的管道", "name": "pipeline_zh", "dashboard": "销售概览", "dash_name": "dashboard_[0-9]+",
              "segment": "大额商机", "seg_name": "big_deals_zh", "valid": "筛选条件有效。", "at": "第 1 行",
              "total": "总计", "members": "你可见的成员", "bucket": "商机规模", "owner": "负责人",
              "close": "成交日期"},
}


def _shot(page, live, lang, name):
    """A documentation screenshot (SQLite run only, when TESSERA_DOCS_IMG is set)."""
    if not DOCS or live.app.extensions["tessera"].engine.dialect.name != "sqlite":
        return
    if lang != "en" and not _cjk_font():
        return      # Chinese without a CJK font would be boxes: take these where fonts-noto-cjk is installed
    os.makedirs(DOCS, exist_ok=True)
    bottom = page.evaluate("Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY)")
    page.screenshot(path=os.path.join(DOCS, f"reports-{name}-{'zh' if lang != 'en' else 'en'}.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1280, "height": min(bottom + 24, 4000)})


def _cjk_font():
    import shutil
    import subprocess

    return bool(shutil.which("fc-list")) and bool(subprocess.run(["fc-list", ":lang=zh"], capture_output=True,
                                                                 text=True).stdout.strip())


def _sign_in(page, live, lang):
    page.goto(live.url + "/reports")
    page.fill("#f-username", "admin")
    page.fill("#f-password", "admin-password")
    page.click(".auth-card button[type=submit]")
    page.wait_for_url(re.compile(r"/reports$"))
    want = "zh-CN" if lang == "zh_CN" else "en"
    if page.evaluate("document.documentElement.lang") != want:
        page.select_option("#locale-select", lang)
        page.wait_for_selector(f"html[lang='{want}']")


def _chart_loaded(page, scope="main"):
    """Wait until the chart image has loaded (polled: the page's policy forbids wait_for_function's eval)."""
    img = page.locator(f"{scope} img.report-chart").first
    img.wait_for()
    for _ in range(200):
        if img.evaluate("el => el.complete && el.naturalWidth > 0"):
            return
        page.wait_for_timeout(50)
    raise AssertionError("the chart did not load")


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_builder_save_view_drill_dashboard(live, browser_page, lang):
    s = STORY[lang]
    page = browser_page(locale="zh-CN" if lang == "zh_CN" else "en-US", allow_status=(422,))
    _sign_in(page, live, lang)

    # Reports → New report → on deals
    page.click("main .page-head a.btn-primary")
    page.wait_for_url(re.compile(r"/reports/new$"))
    page.select_option("#f-object", "deal")
    page.click("main form button.btn-primary")
    page.wait_for_url(re.compile(r"/reports/new\?object=deal$"))

    form = page.locator("[data-report-builder]")
    page.fill("#f-label", s["report"])
    page.fill("#f-name", s["name"])
    page.fill("#f-folder", "Sales")
    form.locator('select[name="group_by.0.field"]').select_option("stage")
    page.wait_for_selector("#report-preview [data-report-table]")
    form.locator('select[name="group_by.1.field"]').select_option("close_date")
    form.locator('select[name="group_by.1.granularity"]').select_option("month")
    form.locator('select[name="aggregates.0.fn"]').select_option("sum")
    form.locator('select[name="aggregates.0.field"]').select_option("amount")
    form.locator('select[name="aggregates.1.fn"]').select_option("avg")
    form.locator('select[name="aggregates.1.field"]').select_option("probability")
    form.locator('select[name="aggregates.2.fn"]').select_option("count")

    # the filter: a typo caught as it is typed, then fixed
    page.fill("#f-filter", "amount >> 1000")
    page.wait_for_selector("[data-check-status].is-error")
    assert s["at"] in page.inner_text("[data-check-status]")
    page.fill("#f-filter", "amount >= 1000 && NOT(stage = 'Closed Lost')")
    page.wait_for_selector("[data-check-status].is-ok")
    assert page.inner_text("[data-check-status]") == s["valid"]

    # a bucket, then a stacked bar chart: the preview redraws with its chart
    page.fill('[id="f-buckets.0.name"]', "deal_size")
    form.locator('select[name="buckets.0.field"]').select_option("amount")
    page.fill('[id="f-buckets.0.ranges"]', "Small < 10000\nMedium < 100000\nLarge")
    assert form.locator('select[name="group_by.0.field"] option[value="bucket:deal_size"]').count() == 1
    form.locator('select[name="chart.type"]').select_option("bar")
    page.check('[id="f-chart.stacked"]')
    page.wait_for_selector("#report-preview img.report-chart")
    _chart_loaded(page, "#report-preview")
    assert s["total"] in page.inner_text("#report-preview")
    _shot(page, live, lang, "builder")

    form.locator('button[value="save"]').click()
    page.wait_for_url(re.compile(rf"/reports/{s['name']}$"))
    _chart_loaded(page)
    table = page.locator("main [data-report-table]")
    assert table.locator("tr.row-group").count() >= 3 and table.locator("tr.row-child").count() >= 3
    grand = page.inner_text("main tfoot [data-total] >> nth=0")
    assert grand.replace(",", "").replace(".00", "").isdigit()
    _shot(page, live, lang, "view")

    # the matrix view, keyboard-reachable as a link
    page.click("main .view-switch a >> nth=1")
    page.wait_for_url(re.compile(r"view=matrix"))
    assert page.locator("main [data-report-matrix]").count() == 3
    _shot(page, live, lang, "matrix")

    # drill down: a group's records in the list view, the same count as the group
    page.click("main .view-switch a >> nth=0")
    first = page.locator("main tr.row-group").first
    count_cell = first.locator("td.num").nth(2).inner_text()
    first.locator("a.drill").click()
    page.wait_for_url(re.compile(r"/o/deal\?where="))
    assert page.inner_text("#record-count").split()[0].replace("条", "") == count_cell
    page.go_back()

    # pin the chart to a new dashboard
    page.wait_for_url(re.compile(rf"/reports/{s['name']}"))
    page.select_option("#pin-dashboard", "")
    page.fill("#pin-new-label", s["dashboard"])
    page.select_option("#pin-width", "2")
    page.click("section[aria-labelledby=pin-title] button[type=submit]")
    page.wait_for_url(re.compile(rf"/dashboards/{s['dash_name']}$"))
    _chart_loaded(page)
    assert page.locator("main [data-component]").count() == 1
    total = page.inner_text("main [data-component] [data-total] >> nth=0")

    # its filters: the owner, and a close-date period (a range here: the sample deals are in 2025)
    page.click("main .page-head a.btn")
    page.wait_for_url(re.compile(r"/edit$"))
    page.fill('[id="f-filters.0.field"]', "owner_id")
    page.fill('[id="f-filters.0.label"]', s["owner"])
    page.fill('[id="f-filters.1.field"]', "close_date")
    page.fill('[id="f-filters.1.label"]', s["close"])
    page.select_option('[id="f-filters.1.kind"]', "period")
    page.fill('[id="f-filters.1.default"]', "2025-01-01..2025-06-30")
    page.click("main form button.btn-primary")
    page.wait_for_url(re.compile(rf"/dashboards/{s['dash_name']}$"))
    first_half = page.inner_text("main [data-component] [data-total] >> nth=0")
    assert first_half != total
    page.fill("#dash-owner_id", "me")
    page.click(".dashboard-filters button[type=submit]")
    page.wait_for_url(re.compile(r"owner_id=me"))
    _chart_loaded(page)
    assert page.inner_text("main [data-component] [data-total] >> nth=0") == first_half   # admin owns them all
    assert s["total"] in page.inner_text("main [data-component]")
    _shot(page, live, lang, "dashboard")

    # a segment with its live member count
    page.goto(f"{live.url}/segments/new")
    page.fill("#f-label", s["segment"])
    page.fill("#f-name", s["seg_name"])
    page.select_option("#f-object", "deal")
    page.fill("#f-criteria", "amount >= 100000")
    page.wait_for_selector("[data-count-status].is-ok")
    assert s["members"] in page.inner_text("[data-count-status]")
    _shot(page, live, lang, "segment")
    page.click("main form button.btn-primary")
    page.wait_for_url(re.compile(rf"/segments/{s['seg_name']}$"))
    assert page.locator("#segment-count").count() == 1
