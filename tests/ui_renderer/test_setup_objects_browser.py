"""The admin's story in real Chromium (Debian's, through Playwright), in English and in Chinese, on
SQLite and PostgreSQL: create an object in Setup → Object Manager, add a field of every type (a
formula whose typo the editor catches as it is typed, then fixed), a validation rule, a layout
changed by drag and drop and with the arrow keys, a list view, a rollback — and the object works in
the end-user pages at once, with no template written. Any console error fails the test.

With ``TESSERA_DOCS_IMG=docs/img`` the SQLite run also saves the screenshots of docs/browser.md
(``setup-*-en.png``, ``setup-*-zh.png``).
"""
from __future__ import annotations

import os
import re

import pytest

STORY = {
    "en": {"api": "equipment", "label": "Equipment", "zh": "设备", "child": "maintenance", "child_label": "Maintenance visit",
           "tag": "EQ-{0000}", "manager": "Object Manager", "created": "was created", "saved": "was saved",
           "added": "was added", "at": "Line 1, column 1", "did_you_mean": "Did you mean 'purchase_price'?", "returns": "Returns Number", "rolled": "Rolled back to version",
           "moved": "position", "palette": "back to the unused fields"},
    "zh_CN": {"api": "device", "label": "Device", "zh": "仪器", "child": "device_visit", "child_label": "Device visit",
              "tag": "DV-{0000}", "manager": "对象管理器", "created": "已创建", "saved": "已保存", "added": "已添加",
              "at": "第 1 行，第 1 列", "did_you_mean": "您是否要输入“purchase_price”？", "returns": "返回数字", "rolled": "已回滚到版本", "moved": "第",
              "palette": "已放回未使用的字段"},
}
CHILD_ZH = {"en": "维护记录", "zh_CN": "仪器维护记录"}
ZH_LABELS = {"serial_number": "序列号", "purchase_price": "采购价格", "status": "状态", "locations": "位置",
             "notes": "备注", "manual": "使用手册", "supplier_email": "供应商邮箱", "supplier_phone": "供应商电话",
             "manual_url": "手册网址", "weight": "重量（公斤）", "usage_hours": "使用时长", "depreciation": "折旧率",
             "purchased_on": "购买日期", "next_service": "下次维护", "under_warranty": "在保修期内",
             "supplier": "供应商", "site": "所在地点", "asset_tag": "资产编号", "price_with_tax": "含税价格",
             "maintenance_cost": "维护费用", "cost": "费用", "equipment": "设备", "device": "仪器"}
DOCS = os.environ.get("TESSERA_DOCS_IMG")


def _shot(page, live, lang, name, locator=None):
    """Save a documentation screenshot (SQLite run only, when TESSERA_DOCS_IMG is set): an element,
    or the page down to the end of its content."""
    if not DOCS or _services(live).engine.dialect.name != "sqlite":
        return
    os.makedirs(DOCS, exist_ok=True)
    path = os.path.join(DOCS, f"setup-objects-{name}-{'zh' if lang != 'en' else 'en'}.png")
    if locator is not None:
        page.locator(locator).screenshot(path=path)
        return
    bottom = page.evaluate("Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY)")
    page.screenshot(path=path, full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": bottom + 24})


def _services(live):
    return live.app.extensions["tessera"]


def _sign_in(page, live, lang):
    page.goto(live.url + "/setup/objects")
    page.fill("#f-username", "admin")
    page.fill("#f-password", "admin-password")
    page.click(".auth-card button[type=submit]")
    page.wait_for_url(re.compile(r"/setup/objects$"))
    if page.evaluate("document.documentElement.lang") != ("zh-CN" if lang == "zh_CN" else "en"):
        page.select_option("#locale-select", lang)
        page.wait_for_function(f"document.documentElement.lang === '{'zh-CN' if lang == 'zh_CN' else 'en'}'")


def _save(page, url_pattern):
    page.click(".sub-head button.btn-primary, .page-head button.btn-primary")
    page.wait_for_url(re.compile(url_pattern))


def _add_field(page, live, obj, kind, label, api, fill=None, shot=None):
    page.goto(f"{live.url}/setup/objects/{obj}/fields/new")
    page.click(f"a.type-card[data-type={kind}]")
    page.wait_for_url(re.compile(rf"type={kind}$"))
    page.fill("#f-label", label)
    page.fill("#f-label_i18n-zh_CN", ZH_LABELS.get(api, ""))
    page.fill("#f-api_name", api)
    if fill:
        fill(page)
    if shot:
        shot()
    _save(page, rf"/setup/objects/{obj}/fields$")


def _options(*values):
    def fill(page):
        for i, (value, zh) in enumerate(values):
            if i >= page.locator("[data-option-row]").count():
                page.click("[data-add-option]")
            page.fill(f"#f-options-{i}-value", value)
            if zh:
                page.fill(f"#f-options-{i}-label_i18n-zh_CN", zh)
    return fill


def _doc(live, obj):
    return _services(live).store.history(obj)[-1]["doc"]


def _textarea_fields(page, n):
    return [f for f in page.input_value(f"textarea[name='sections.{n}.fields']").split("\n") if f]


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_admin_story(live, browser_page, lang):
    s = STORY[lang]
    obj = s["api"]
    page = browser_page(viewport={"width": 1280, "height": 1600}, allow_status=(422,))
    _sign_in(page, live, lang)
    assert page.locator("h1").inner_text().startswith(s["manager"])

    # 1. the object: the API name follows the label; labels in both languages; org-wide sharing
    page.click(".page-head a.btn-primary")
    page.fill("#f-label", s["label"])
    assert page.input_value("#f-api_name") == obj
    page.fill("#f-plural_label", s["label"])
    page.fill("#f-label_i18n-zh_CN", s["zh"])
    page.check("#f-sharing-private")
    _save(page, rf"/setup/objects/{obj}/fields$")
    assert s["created"] in page.locator(".flashes").inner_text()

    # 2. a field of every type
    _add_field(page, live, obj, "text", "Serial number", "serial_number",
               lambda p: (p.fill("#f-max_length", "40"), p.check("#f-unique")))
    _add_field(page, live, obj, "currency", "Purchase price", "purchase_price",
               lambda p: (p.fill("#f-scale", "2"), p.fill("#f-currency", "EUR"), p.check("#f-required")))
    _add_field(page, live, obj, "picklist", "Status", "status",
               _options(("In use", "使用中"), ("Broken", "故障"), ("Retired", "")),
               shot=lambda: _shot(page, live, lang, "field"))
    _add_field(page, live, obj, "multi_picklist", "Locations", "locations",
               _options(("Indoor", "室内"), ("Outdoor", "室外"), ("Warehouse", "仓库"), ("Lab", ""), ("Office", "")))
    _add_field(page, live, obj, "long_text", "Notes", "notes")
    _add_field(page, live, obj, "rich_text", "Manual", "manual")
    _add_field(page, live, obj, "email", "Supplier email", "supplier_email")
    _add_field(page, live, obj, "phone", "Supplier phone", "supplier_phone")
    _add_field(page, live, obj, "url", "Manual URL", "manual_url")
    _add_field(page, live, obj, "number", "Weight (kg)", "weight", lambda p: p.fill("#f-scale", "3"))
    _add_field(page, live, obj, "integer", "Usage hours", "usage_hours")
    _add_field(page, live, obj, "percent", "Depreciation", "depreciation", lambda p: p.fill("#f-scale", "1"))
    _add_field(page, live, obj, "date", "Purchased on", "purchased_on")
    _add_field(page, live, obj, "datetime", "Next service", "next_service")
    _add_field(page, live, obj, "checkbox", "Under warranty", "under_warranty")
    _add_field(page, live, obj, "lookup", "Supplier", "supplier", lambda p: p.select_option("#f-target", "account"))
    _add_field(page, live, obj, "master_detail", "Site", "site", lambda p: p.select_option("#f-target", "account"))
    _add_field(page, live, obj, "auto_number", "Asset tag", "asset_tag", lambda p: p.fill("#f-format", s["tag"]))

    # the formula editor catches a typo as it is typed, with its position and "did you mean"
    page.goto(f"{live.url}/setup/objects/{obj}/fields/new?type=formula")
    page.fill("#f-label", "Price with tax")
    page.fill("#f-label_i18n-zh_CN", ZH_LABELS["price_with_tax"])
    page.fill("#f-api_name", "price_with_tax")
    page.locator(".fe-item", has_text="purchase_price").first.wait_for()        # the fields to insert
    page.locator("#f-formula").press_sequentially("purchase_prise * 1.2", delay=15)
    status = page.locator("#f-formula-status")
    page.wait_for_selector("#f-formula-status.fe-error")
    assert s["at"] in status.inner_text() and s["did_you_mean"] in status.inner_text()   # translated in zh
    assert page.locator("#f-formula-status .fe-caret").inner_text().endswith("^")
    _shot(page, live, lang, "formula", locator="section:has(#f-formula)")
    page.fill("#f-formula", "")
    page.click(".fe-item:has-text('purchase_price')")                          # insert from the list
    page.locator("#f-formula").press_sequentially(" * 1.2")
    page.wait_for_selector("#f-formula-status.fe-ok")
    assert s["returns"] in status.inner_text()
    assert page.input_value("#f-formula") == "purchase_price * 1.2"
    page.select_option("#f-return_type", "currency")
    page.fill("#f-scale", "2")
    _save(page, rf"/setup/objects/{obj}/fields$")

    # a child object with a master-detail field, then the roll-up summary over it
    page.goto(live.url + "/setup/objects/new")
    page.fill("#f-label", s["child_label"])
    page.fill("#f-label_i18n-zh_CN", CHILD_ZH[lang])
    page.fill("#f-api_name", s["child"])
    _save(page, rf"/setup/objects/{s['child']}/fields$")
    _add_field(page, live, s["child"], "master_detail", s["label"], obj,
               lambda p: p.select_option("#f-target", obj))
    _add_field(page, live, s["child"], "currency", "Cost", "cost")
    _add_field(page, live, obj, "roll_up_summary", "Maintenance cost", "maintenance_cost",
               lambda p: (p.select_option("#f-summary-function", "sum"), p.select_option("#f-summary-object", s["child"]),
                          p.select_option("#f-summary-field", "cost")))
    doc = _doc(live, obj)
    from engine.metadata.field_types import field_types
    assert {f["type"] for f in doc["fields"]} == set(field_types.keys())
    assert doc["label_i18n"] == {"zh_CN": s["zh"]} and doc["sharing"] == "private"
    fields_page = page.locator("table.fields-table")
    assert fields_page.locator("tr[data-field-row]").count() == len(field_types.keys())

    # 3. a validation rule
    page.goto(f"{live.url}/setup/objects/{obj}/validation_rules/new")
    page.fill("#f-name", "price_positive")
    page.fill("#f-condition", "purchase_price < 0")
    page.wait_for_selector("#f-condition-status.fe-ok")
    page.fill("#f-message", "The purchase price cannot be negative.")
    page.select_option("#f-field", "purchase_price")
    _save(page, rf"/setup/objects/{obj}/validation_rules$")

    # 4. the layout: drag and drop, then the arrow keys
    page.goto(f"{live.url}/setup/objects/{obj}/layouts")
    first = _textarea_fields(page, 0)
    assert first[0] == "name" and "notes" in first
    page.click("[data-add-section]")
    page.fill("input[name='sections.1.label']", "Service")
    page.fill("input[name='sections.1.label_i18n.zh_CN']", "维护")
    page.drag_and_drop(".section-zone .field-chip[data-field=notes]", ".section-zone >> nth=1")
    page.drag_and_drop(".palette-zone .field-chip[data-field=owner_id]", ".section-zone >> nth=1")
    assert _textarea_fields(page, 1) == ["notes", "owner_id"]
    assert "notes" not in _textarea_fields(page, 0)
    chip = page.locator(".section-zone .field-chip[data-field=status]")
    before = _textarea_fields(page, 0)
    i = before.index("status")
    chip.focus()
    page.keyboard.press("ArrowUp")                     # two columns: up is two places earlier
    after = _textarea_fields(page, 0)
    assert after.index("status") == i - 2
    assert s["moved"] in page.locator("[data-layout-status]").inner_text()
    focused = page.evaluate("[document.activeElement.dataset.field, getComputedStyle(document.activeElement).outlineStyle]")
    assert focused == ["status", "solid"]             # the moved field keeps a visible focus
    page.keyboard.press("ArrowDown")
    assert _textarea_fields(page, 0) == before
    page.locator(".section-zone .field-chip[data-field=manual]").focus()
    page.keyboard.press("Delete")                      # back to the unused fields
    assert page.locator(".palette-zone .field-chip[data-field=manual]").count() == 1
    assert s["palette"] in page.locator("[data-layout-status]").inner_text()
    page.keyboard.press("ArrowRight")                  # and into the layout again (the last section used)
    assert _textarea_fields(page, 0)[-1] == "manual"
    page.locator(".section-zone .field-chip[data-field=usage_hours]").focus()
    _shot(page, live, lang, "layout")
    page.click("[data-save-layout]")
    page.wait_for_url(re.compile(r"layouts\?layout=default$"))
    layout = _doc(live, obj)["layouts"][0]
    assert [sec["fields"] for sec in layout["sections"]][1] == ["notes", "owner_id"]
    assert layout["sections"][1]["label_i18n"] == {"zh_CN": "维护"}
    assert layout["sections"][0]["fields"].index("status") == i and layout["sections"][0]["fields"][-1] == "manual"

    # 5. a list view
    page.goto(f"{live.url}/setup/objects/{obj}/list_views/new")
    page.fill("#f-label", "In service")
    assert page.input_value("#f-name") == "in_service"
    page.fill("#f-label_i18n-zh_CN", "使用中的设备")
    for name in ("status", "asset_tag", "purchase_price"):
        page.check(f"#f-columns-{name}")
    order = page.locator("[data-column] input").evaluate_all("els => els.map(e => e.value)")
    up = page.locator("[data-column]:has(#f-columns-asset_tag) button.order").first
    for _i in range(order.index("asset_tag") - order.index("status")):                   # above the status
        up.click()
    page.fill("#f-where", "status = 'In use'")
    page.wait_for_selector("#f-where-status.fe-ok")
    page.select_option("#f-order_by", "-purchase_price")
    _save(page, rf"/setup/objects/{obj}/list_views$")
    view = _doc(live, obj)["list_views"][0]
    assert view["where"] == "status = 'In use'" and view["order_by"] == "-purchase_price"
    assert view["columns"].index("asset_tag") < view["columns"].index("status")

    page.goto(f"{live.url}/setup/objects/{obj}/fields")
    _shot(page, live, lang, "fields")

    # 6. a change, then its rollback
    page.goto(f"{live.url}/setup/objects/{obj}")
    _shot(page, live, lang, "object")
    page.fill("#f-label_i18n-zh_CN", "错误的名称")             # a mistake, undone below
    page.click("form[data-warn-unsaved] .form-actions button.btn-primary")
    page.wait_for_url(re.compile(rf"/setup/objects/{obj}$"))
    assert _doc(live, obj)["label_i18n"] == {"zh_CN": "错误的名称"}
    page.click(f"nav.tabs a[href='/setup/objects/{obj}/history']")
    page.locator("li.version").nth(1).locator("button[type=submit]").click()            # confirmed by the dialog
    page.wait_for_url(re.compile(rf"/setup/objects/{obj}/history$"))
    assert s["rolled"] in page.locator(".flashes").inner_text()
    assert _doc(live, obj)["label_i18n"] == {"zh_CN": s["zh"]}
    assert page.locator("li.version.current .diff-body .d-add").count() >= 1

    # 7. the object works in the end-user pages at once
    page.click(f".site-nav a[href='/o/{obj}']")
    page.wait_for_url(re.compile(rf"/o/{obj}$"))
    page.click(f"a.btn-primary[href='/o/{obj}/new']")
    page.fill("#f-name", f"Lathe {lang}")
    page.fill("#f-serial_number", f"SN-{lang}")
    page.fill("#f-purchase_price", "-5")
    page.select_option("#f-status", "In use")
    page.select_option("#f-locations", ["Indoor", "Lab"])
    page.fill("#f-site", "acme")
    page.locator(".lookup-list li[role=option]", has_text="Acme Energy").click()
    page.fill("#f-purchased_on", "2025-05-01")
    page.check("#f-under_warranty")
    page.click(".page-head button.btn-primary")
    error = page.locator("#f-purchase_price-error")
    error.wait_for()
    assert "The purchase price cannot be negative." in error.inner_text()
    assert page.input_value("#f-serial_number") == f"SN-{lang}"
    page.fill("#f-purchase_price", "1000")
    page.click(".page-head button.btn-primary")
    page.wait_for_url(re.compile(rf"/o/{obj}/[0-9a-f-]{{36}}$"))
    assert s["created"] in page.locator(".flashes").inner_text()
    assert page.locator("[data-field=asset_tag]").inner_text().endswith(s["tag"].replace("{0000}", "0001"))
    assert "1,200.00" in page.locator("[data-field=price_with_tax]").inner_text()
    assert page.locator("[data-field=site] a").inner_text() == "Acme Energy"
    page.goto(f"{live.url}/o/{obj}?view=in_service")
    assert page.locator("a.record-link").inner_text() == f"Lathe {lang}"
    if lang != "en":                                    # leave the admin in English for the next test
        page.select_option("#locale-select", "en")
        page.wait_for_function("document.documentElement.lang === 'en'")
