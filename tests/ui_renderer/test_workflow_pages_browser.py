"""The workflow stories in real Chromium (Debian's, through Playwright), in English and in Chinese,
on SQLite and PostgreSQL; any console error fails the test.

- The discount story: an admin defines the discount approval in Setup → Approvals (a formula typo
  caught as it is typed, steps with a manager, a role and two users, a quorum of two, a deadline,
  the actions); a rep submits a quote from its page; the manager approves from the approval inbox
  (the top bar counts it); two of the directors approve (one from the inbox, one from the record
  page); the quote shows Approved and its history.
- The case story: an admin defines the automation rule in Setup → Automations; an agent raises a
  case to High; the case is escalated and its run log shows the rule, the task and the webhook.

With ``TESSERA_DOCS_IMG=docs/img`` the SQLite runs save the screenshots of docs/browser.md
(``approvals-*-en.png``, ``approvals-*-zh.png``, ``automations-*-en.png``, ``automations-*-zh.png``).
"""
from __future__ import annotations

import os
import re

import pytest

from engine import create_app
from engine.security import SYSTEM_ACTOR
from tests.ui_renderer.live import LiveServer
from tests.ui_renderer.test_workflow_pages import World
from tests.workflow.conftest import SECRETS, Receiver

DOCS = os.environ.get("TESSERA_DOCS_IMG")
PASSWORD = "story-password"
SIGNING_IN = ("admin", "rep", "mike", "diana", "frank")

QUOTE = {"api_name": "quote", "label": "Quote", "plural_label": "Quotes", "label_i18n": {"zh_CN": "报价"},
         "plural_label_i18n": {"zh_CN": "报价"}, "fields": [
             {"api_name": "discount_percent", "label": "Discount (%)", "label_i18n": {"zh_CN": "折扣（%）"},
              "type": "number", "scale": 0},
             {"api_name": "status", "label": "Status", "label_i18n": {"zh_CN": "状态"}, "type": "picklist",
              "options": [{"value": "Draft", "label_i18n": {"zh_CN": "草稿"}},
                          {"value": "Pending", "label_i18n": {"zh_CN": "审批中"}},
                          {"value": "Approved", "label_i18n": {"zh_CN": "已批准"}},
                          {"value": "Rejected", "label_i18n": {"zh_CN": "已拒绝"}}]},
             {"api_name": "notes", "label": "Notes", "label_i18n": {"zh_CN": "备注"}, "type": "text"}]}
CASE = {"api_name": "support_case", "label": "Case", "plural_label": "Cases", "label_i18n": {"zh_CN": "工单"},
        "plural_label_i18n": {"zh_CN": "工单"}, "fields": [
            {"api_name": "priority", "label": "Priority", "label_i18n": {"zh_CN": "优先级"}, "type": "picklist",
             "options": [{"value": "Low", "label_i18n": {"zh_CN": "低"}},
                         {"value": "Medium", "label_i18n": {"zh_CN": "中"}},
                         {"value": "High", "label_i18n": {"zh_CN": "高"}}]},
            {"api_name": "escalated", "label": "Escalated", "label_i18n": {"zh_CN": "已升级"}, "type": "checkbox"},
            {"api_name": "close_date", "label": "Close date", "label_i18n": {"zh_CN": "关闭日期"}, "type": "date"}]}
TASK = {"api_name": "task", "label": "Task", "plural_label": "Tasks", "label_i18n": {"zh_CN": "任务"},
        "plural_label_i18n": {"zh_CN": "任务"}, "fields": [
            {"api_name": "due_date", "label": "Due date", "label_i18n": {"zh_CN": "到期日"}, "type": "date"},
            {"api_name": "what_id", "label": "Related to", "label_i18n": {"zh_CN": "相关记录"}, "type": "text"}]}

WORDS = {
    "en": {"process": "Discount approval", "step1": "Manager", "step2": "Directors and finance",
           "did_you_mean": "Did you mean 'discount_percent'?", "saved": "was saved", "submitted": "was submitted",
           "pending": "Pending", "locked": "is locked while its approval request", "approved": "Approved",
           "history": ["Submitted by 'rep' to 'Discount approval'.", "Approved by 'mike'.", "Approved by 'diana'.",
                       "Approved by 'frank'.", "Request approved."],
           "nothing": "Nothing waits for your approval", "rule": "Escalate high-priority cases",
           "runs": ["Rule 'Escalate high-priority cases' fired (updated).",
                    "Set Escalated (field update, in the same write).", "Created Task 'Call back: Printer on fire'",
                    "Delivered to 127.0.0.1"], "case": "Printer on fire"},
    "zh_CN": {"process": "折扣审批", "step1": "经理审批", "step2": "总监和财务",
              "did_you_mean": "您是否要输入“discount_percent”？", "saved": "已保存", "submitted": "已提交审批",
              "pending": "审批中", "locked": "正在审批中，已被锁定", "approved": "已批准",
              "history": ["由“rep”提交到“折扣审批”。", "由“mike”批准。", "由“diana”批准。", "由“frank”批准。",
                          "申请已批准。"],
              "nothing": "没有等待您审批的事项", "rule": "升级高优先级工单",
              "runs": ["规则“升级高优先级工单”已触发（更新）。", "已设置“已升级”（字段更新，同一次写入）。",
                       "已创建 Task 'Call back: 打印机着火'", "已投递到 127.0.0.1"], "case": "打印机着火"},
}


@pytest.fixture
def story(db_url):
    """A live server over the discount story's people and the quote, case and task objects."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app({"database_url": db_url, "webhook_secrets": SECRETS})
    world = World(app, passwords={u: PASSWORD for u in SIGNING_IN}, quote=QUOTE)
    for doc in (CASE, TASK):
        assert world.api.post("/api/v1/objects", json=doc).status_code == 201
    world.receiver = Receiver()
    world.server = LiveServer(app).start()
    world.url = world.server.url
    yield world
    world.server.stop()
    world.receiver.close()
    app.extensions["tessera"].dispose()


def _shot(page, world, lang, name, locator=None):
    """A documentation screenshot (SQLite runs only, when TESSERA_DOCS_IMG is set): an element, or the
    page down to the end of its content."""
    if not DOCS or world.services.engine.dialect.name != "sqlite":
        return
    os.makedirs(DOCS, exist_ok=True)
    path = os.path.join(DOCS, f"{name}-{'zh' if lang != 'en' else 'en'}.png")
    if locator is not None:
        page.locator(locator).first.screenshot(path=path)
        return
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    bottom = page.evaluate("Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY)")
    page.screenshot(path=path, full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": bottom + 24})


def _sign_in(browser_page, world, username, lang, start="/"):
    """A fresh browser signed in as ``username`` through the form, in ``lang``."""
    page = browser_page(locale="zh-CN" if lang == "zh_CN" else "en-US", viewport={"width": 1280, "height": 1000})
    world.services.access.update_user(username, {"locale": lang}, SYSTEM_ACTOR)
    page.goto(world.url + "/login?next=" + start)
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click(".auth-card button[type=submit]")
    page.wait_for_url(re.compile(re.escape(start.split("?")[0]) + r"(\?|$)"))
    assert page.evaluate("document.documentElement.lang") == ("zh-CN" if lang == "zh_CN" else "en")
    return page


def _add(page, path, kind=None):
    """Press an "Add" button of the process or rule form (the form comes back with the new row)."""
    if kind:
        page.select_option(f"#f-_type-{path.replace('.', '-')}", kind)
    with page.expect_navigation():
        page.click(f"button[name=_do][value='add:{path}']")


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_discount_story(story, browser_page, lang):
    w, words = story, WORDS[lang]
    # 1. the admin defines the process in Setup → Approvals
    admin = _sign_in(browser_page, w, "admin", lang, "/setup/approvals")
    assert admin.locator(".setup-nav a[href='/setup/approvals'][aria-current=page]").count() == 1
    admin.select_option("#new-object", "quote")
    admin.click(".wf-new button[type=submit]")
    admin.wait_for_url(re.compile(r"/setup/approvals/quote/new$"))
    admin.fill("#f-label", words["process"])
    admin.fill("#f-name", "discount_approval")
    admin.fill("#f-order", "1")
    admin.locator("#f-entry_criteria").press_sequentially("discont_percent > 10", delay=10)
    admin.wait_for_selector("#f-entry_criteria-status.fe-error")
    assert words["did_you_mean"] in admin.inner_text("#f-entry_criteria-status")
    admin.fill("#f-entry_criteria", "discount_percent > 10")
    admin.wait_for_selector("#f-entry_criteria-status.fe-ok")
    admin.check("#f-allow_recall")
    admin.fill("#f-steps-0-label", words["step1"])
    admin.fill("#f-steps-0-name", "manager")
    assert admin.input_value("#f-steps-0-approvers-0-levels") == "1"      # the submitter's manager
    _add(admin, "steps")
    admin.fill("#f-steps-1-label", words["step2"])
    admin.fill("#f-steps-1-name", "directors")
    admin.fill("#f-steps-1-criteria", "discount_percent > 25")
    admin.wait_for_selector("#f-steps-1-criteria-status.fe-ok")
    _add(admin, "steps.1.approvers", "role")
    admin.select_option("#f-steps-1-approvers-0-role", "sales_director")
    for i, user in ((1, "fiona"), (2, "frank")):
        _add(admin, "steps.1.approvers", "user")
        admin.select_option(f"#f-steps-1-approvers-{i}-user", user)
    assert admin.is_hidden("#f-steps-1-decision_number")
    admin.select_option("#f-steps-1-decision", "quorum")
    admin.fill("#f-steps-1-decision_number", "2")
    admin.fill("#f-steps-1-deadline_hours", "48")
    admin.select_option("#f-steps-1-on_deadline", "escalate")
    _add(admin, "on_submit", "field_update")
    admin.select_option("#f-on_submit-0-field", "status")
    admin.fill("#f-on_submit-0-value", "'Pending'")
    _add(admin, "on_approve", "field_update")
    admin.select_option("#f-on_approve-0-field", "status")
    admin.fill("#f-on_approve-0-value", "'Approved'")
    _add(admin, "on_approve", "send_email")
    admin.fill("#f-on_approve-1-to", "owner")
    admin.fill("#f-on_approve-1-subject", "'Approved: ' & name")
    admin.fill("#f-on_approve-1-body", "'Your discount on ' & name & ' was approved.'")
    _add(admin, "on_reject", "field_update")
    admin.select_option("#f-on_reject-0-field", "status")
    admin.fill("#f-on_reject-0-value", "'Rejected'")
    _add(admin, "on_recall", "field_update")
    admin.select_option("#f-on_recall-0-field", "status")
    admin.fill("#f-on_recall-0-value", "'Draft'")
    assert admin.input_value("#f-steps-1-approvers-2-user") == "frank"     # kept through every row added
    admin.wait_for_selector("#f-on_approve-1-body-status.fe-ok")
    _shot(admin, w, lang, "approvals-steps", "section:has(#steps-title)")
    admin.click(".page-head button.btn-primary")
    admin.wait_for_url(re.compile(r"/setup/approvals\?object=quote$"))
    assert words["saved"] in admin.inner_text(".flashes")
    _shot(admin, w, lang, "approvals-setup")
    stored = w.api.get("/api/v1/objects/quote/approval_processes/discount_approval").get_json()
    assert stored["steps"][1]["decision"] == {"quorum": 2} and stored["steps"][1]["deadline_hours"] == 48
    assert [a.get("user") or a.get("role") for a in stored["steps"][1]["approvers"]] == [
        "sales_director", "fiona", "frank"]
    assert stored["on_approve"][1] == {"type": "send_email", "to": "owner", "subject": "'Approved: ' & name",
                                       "body": "'Your discount on ' & name & ' was approved.'"}

    # 2. the rep submits a quote from its page
    rid = w.quote("Acme 30%" if lang == "en" else "华东 30%", 30)
    rep = _sign_in(browser_page, w, "rep", lang, f"/o/quote/{rid}")
    rep.click("[data-wf-submit]")
    rep.wait_for_selector(".wf-approval .wf-status.wf-pending")
    assert words["submitted"] in rep.inner_text(".flashes")
    assert words["locked"] in rep.inner_text(".wf-lock")
    assert w.record(rid)["status"] == "Pending"

    # 3. the manager finds it in the approval inbox (counted in the top bar) and approves
    mike = _sign_in(browser_page, w, "mike", lang)
    assert mike.inner_text(".inbox-link .inbox-count").startswith("1")
    mike.click(".inbox-link")
    mike.wait_for_url(re.compile(r"/approvals$"))
    mike.fill("#c-1", "OK" if lang == "en" else "同意")
    _shot(mike, w, lang, "approvals-inbox")
    mike.click(".wf-item .wf-decide button.btn-primary")
    mike.wait_for_selector(".empty-state")
    assert words["nothing"] in mike.inner_text("main")

    # 4. two of the directors approve: diana from her inbox, frank from the quote's page
    diana = _sign_in(browser_page, w, "diana", lang, "/approvals")
    diana.click(".wf-item .wf-decide button.btn-primary")
    diana.wait_for_selector(".empty-state")
    frank = _sign_in(browser_page, w, "frank", lang, f"/o/quote/{rid}")
    assert frank.locator(".wf-approvers li").count() == 4
    frank.fill("#wf-comment", "Good margin" if lang == "en" else "利润不错")
    frank.click(".wf-decide button.btn-primary")
    frank.wait_for_selector(".wf-approval .wf-status.wf-approved")

    # 5. the quote shows Approved and its history
    rep.reload()
    assert rep.inner_text(".wf-approval .card-head .wf-status") == words["approved"]
    assert words["approved"] in rep.inner_text(".highlights")
    history = rep.inner_text(".wf-history")
    for line in words["history"]:
        assert line in history, line
    assert rep.locator(".wf-lock").count() == 0
    _shot(rep, w, lang, "approvals-record")


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_case_story(story, browser_page, lang):
    w, words = story, WORDS[lang]
    queue = w.api.get("/api/v1/users/bob").get_json()["id"]
    admin = _sign_in(browser_page, w, "admin", lang, "/setup/automations")
    admin.select_option("#new-object", "support_case")
    admin.click(".wf-new button[type=submit]")
    admin.wait_for_url(re.compile(r"/setup/automations/support_case/new$"))
    admin.fill("#f-label", words["rule"])
    admin.fill("#f-name", "escalate_high_priority")
    assert admin.is_hidden("#f-trigger-schedule") and admin.is_visible("#f-trigger")
    admin.select_option("#f-trigger", "schedule")
    assert admin.is_visible("#f-trigger-schedule")
    admin.select_option("#f-trigger", "create_or_update")
    admin.locator("#f-condition").press_sequentially("priorty = 'High' && ISCHANGED(priority)", delay=5)
    admin.wait_for_selector("#f-condition-status.fe-error")
    admin.fill("#f-condition", "priority = 'High' && ISCHANGED(priority)")
    admin.wait_for_selector("#f-condition-status.fe-ok")
    admin.select_option("#f-actions-0-field", "escalated")
    admin.fill("#f-actions-0-value", "TRUE")
    _add(admin, "actions", "field_update")
    admin.select_option("#f-actions-1-field", "owner_id")
    admin.fill("#f-actions-1-value", f"'{queue}'")
    _add(admin, "actions", "create_record")
    admin.select_option("#f-actions-2-object", "task")
    admin.fill("#f-actions-2-values", "name = 'Call back: ' & name\ndue_date = TODAY() + 1\nwhat_id = id")
    _add(admin, "actions", "webhook")
    admin.fill("#f-actions-3-url", w.receiver.url)
    admin.select_option("#f-actions-3-secret_ref", "case_hook")
    admin.wait_for_selector("#f-condition-status.fe-ok")
    _shot(admin, w, lang, "automations-rule")
    admin.click(".page-head button.btn-primary")
    admin.wait_for_url(re.compile(r"/setup/automations\?object=support_case$"))
    assert words["saved"] in admin.inner_text(".flashes")
    _shot(admin, w, lang, "automations-setup")

    # an agent raises a case to High; the case is escalated and its run log says what happened
    w.api.post("/api/v1/permission_sets", json={"api_name": "agent", "objects": {
        "support_case": {"read": True, "create": True, "edit": True}, "task": {"read": True}}})
    w.api.post("/api/v1/users/rep/permission_sets", json={"permission_set": "agent"})
    case = w.api.post("/api/v1/records/support_case", json={"name": words["case"], "priority": "Low"}).get_json()
    rep = _sign_in(browser_page, w, "rep", lang, f"/o/support_case/{case['id']}/edit")
    rep.select_option("#f-priority", "High")
    rep.click(".page-head button.btn-primary")
    rep.wait_for_url(re.compile(rf"/o/support_case/{case['id']}$"))
    runs = rep.inner_text(".wf-runlog")
    for line in words["runs"]:
        assert line in runs, (line, runs)
    assert rep.locator(".wf-runlog [data-status=fired], .wf-runlog li[data-status=fired]").count() == 1
    assert w.receiver.deliveries and w.receiver.bad_signatures == 0
    _shot(rep, w, lang, "automations-runlog")
    # the admin sees the entry in the outbox
    admin.goto(w.url + "/setup/outbox?status=done")
    assert "escalate_high_priority" in admin.inner_text("table.wf-outbox")
