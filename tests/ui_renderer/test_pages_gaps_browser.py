"""In real Chromium, English and Chinese, SQLite and PostgreSQL: the home page's recent records, the
path bar (a click moves the deal on; a validation rule's refusal is shown), the rich text editor
(bold text saved cleaned and shown), a private list view saved from the list page, switched to and
deleted, and an engine message (a filter formula's error) in the page's language. Any console
error fails the test (``browser_page``).

With ``TESSERA_DOCS_IMG=docs/img`` the SQLite runs save the screenshots of docs/browser.md
(``path-*.png``, ``richtext-*.png``, ``home-*.png``, ``saveview-*.png``)."""
from __future__ import annotations

import os
import re

import pytest

from tests.ui_renderer.live import DEAL

TEXT = {
    "en": {"recent": "Recent records", "now": "is now", "not_moved": "was not moved",
           "rule": "A won deal needs a close date.", "unknown": "Unknown field 'amountt'", "saved": "was saved",
           "deleted": "was deleted", "negotiation": "Negotiation", "proposal": "Proposal"},
    "zh_CN": {"recent": "最近的记录", "now": "现在是", "not_moved": "记录未移到", "rule": "A won deal needs a close date.",
              "unknown": "未知字段“amountt”（第 1 行，第 1 列）", "saved": "已保存", "deleted": "已删除",
              "negotiation": "商务谈判", "proposal": "方案报价"},
}


DOCS = os.environ.get("TESSERA_DOCS_IMG")


def _shot(page, live, lang, name, locator):
    """A documentation screenshot of ``locator`` (SQLite runs only, when TESSERA_DOCS_IMG is set)."""
    if not DOCS or live.app.extensions["tessera"].engine.dialect.name != "sqlite":
        return
    os.makedirs(DOCS, exist_ok=True)
    page.locator(locator).first.screenshot(path=os.path.join(DOCS, f"{name}-{'zh' if lang != 'en' else 'en'}.png"))


@pytest.fixture(scope="module")
def gaps(live):
    """Stage is the deal's path; a rich text field 'summary' on the form and the record page."""
    from engine.security import SYSTEM_ACTOR

    services = live.app.extensions["tessera"]
    services.store.update_field("deal", "stage", {"path": True}, SYSTEM_ACTOR)
    services.store.add_field("deal", {"api_name": "summary", "label": "Summary", "label_zh": "摘要",
                                      "type": "rich_text"}, SYSTEM_ACTOR)
    layout = dict(DEAL["layouts"][0])
    layout["sections"] = [dict(s) for s in layout["sections"]]
    layout["sections"][1]["fields"] = layout["sections"][1]["fields"] + ["summary"]
    services.store.update_object("deal", {"layouts": [layout]}, SYSTEM_ACTOR)
    return live


def _sign_in(page, live, lang):
    page.goto(live.url + "/login")
    page.fill("#f-username", "admin")
    page.fill("#f-password", "admin-password")
    page.click(".auth-card button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    page.select_option("#locale-select", lang)
    page.wait_for_function(f"document.documentElement.lang === '{'zh-CN' if lang == 'zh_CN' else 'en'}'")


def _new_deal(live, name):
    from engine.security import SYSTEM_ACTOR

    services = live.app.extensions["tessera"]
    return services.records().create("deal", {"name": name, "stage": "Proposal", "amount": 1000}, SYSTEM_ACTOR)


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_recent_records_path_and_rich_text(gaps, browser_page, lang):
    t = TEXT[lang]
    rec = _new_deal(gaps, f"Gaps deal {lang}")
    page = browser_page()
    _sign_in(page, gaps, lang)
    page.goto(gaps.url + f"/o/deal/{rec['id']}")

    # the path: Proposal is current; the next stage is one click away
    assert page.locator(".path-bar .stage-current").inner_text().startswith(t["proposal"])
    page.click(".path-bar .path-next button")
    page.wait_for_load_state()
    assert t["now"] in page.locator(".flashes").inner_text()
    assert page.locator(".path-bar .stage-current").inner_text().startswith(t["negotiation"])
    assert page.locator(".path-bar .stage-done").count() == 3
    _shot(page, gaps, lang, "path", ".path-bar")
    # jumping to Closed Won without a close date: the rule's message, nothing moved
    page.locator(".path-bar .stage-todo button").first.click()
    page.wait_for_load_state()
    flash = page.locator(".flashes").inner_text()
    assert t["not_moved"] in flash and t["rule"] in flash
    assert page.locator(".path-bar .stage-current").inner_text().startswith(t["negotiation"])

    # rich text: bold through the toolbar, saved cleaned, shown as HTML
    page.goto(gaps.url + f"/o/deal/{rec['id']}/edit")
    editor = page.locator("#f-summary-editor")
    editor.click()
    page.keyboard.type("Plain and ")
    page.click(".rich-toolbar button[data-cmd=bold]")
    page.keyboard.type("bold words")
    assert "<b>bold words</b>" in page.locator("#f-summary").input_value()
    _shot(page, gaps, lang, "richtext", "[data-field=summary]")
    page.click(".page-head button.btn-primary")
    page.wait_for_url(re.compile(rf"/o/deal/{rec['id']}$"))
    assert page.locator("[data-field=summary] .rich b").inner_text() == "bold words"

    # home: the deal is the most recent record
    page.goto(gaps.url + "/")
    recent = page.locator("section[aria-labelledby=recent-title]")
    assert recent.locator("h2").inner_text() == t["recent"]
    assert recent.locator("li a").first.inner_text() == f"Gaps deal {lang}"
    _shot(page, gaps, lang, "home", ".home-panels")


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_private_view_and_translated_engine_message(gaps, browser_page, lang):
    t = TEXT[lang]
    page = browser_page(allow_status=(400,))
    _sign_in(page, gaps, lang)
    page.goto(gaps.url + "/o/deal")
    page.fill("#list-where", "amount > 50000")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    total = page.locator("#record-count").inner_text()
    page.click(".save-view > summary")
    page.fill("#view-label", f"Big ones {lang}")
    _shot(page, gaps, lang, "saveview", "details.save-view")
    page.click(".save-view-form button[type=submit]")
    page.wait_for_url(re.compile(r"view=big_ones_"))
    assert t["saved"] in page.locator(".flashes").inner_text()
    assert page.locator("#record-count").inner_text() == total           # the filter is the view's now
    current = page.locator(".view-switch a[aria-current=page]")
    assert current.inner_text().startswith(f"Big ones {lang}") and current.locator(".view-private").count() == 1
    page.click(".save-view > summary")
    page.click(".own-view-actions .btn-danger")                          # the confirmation is accepted
    page.wait_for_url(re.compile(r"/o/deal$"))
    assert t["deleted"] in page.locator(".flashes").inner_text()
    assert page.locator(".view-switch a", has_text=f"Big ones {lang}").count() == 0

    # an engine message in the page's language
    page.fill("#list-where", "amountt > 1")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert t["unknown"] in page.locator("#list-where-error").inner_text()
