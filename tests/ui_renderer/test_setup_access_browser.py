"""The admin's access story in real Chromium (Debian's, through Playwright), in English and in
Chinese, on SQLite and PostgreSQL: an admin builds a role tree, creates a user in a role, a
permission set that hides a field and makes the object read-only, assigns it, makes the object
private, adds a sharing rule (a typo in its formula caught first), issues an API token (copied,
used, revoked) — then signs in as that user and sees the consequences on the end-user pages: the
field absent, no "New" and no "Edit" (editing refused), only the records the rule shares.
Any console error fails the test (``browser_page``).

``python -m tests.ui_renderer.test_setup_access_browser docs/img`` takes the screenshots of
docs/browser.md's "Users, roles and permissions" section (setup-users-*.png, setup-permissions-*.png).
"""
from __future__ import annotations

import re

import pytest

STORIES = {
    "en": {"object": "deal", "hidden": "probability", "hidden_label": "Probability",
           "criteria": "amount >= 50000", "typo": "amout >= 50000",
           "roles": [("sales_director", "Sales director", ""), ("account_manager", "Account manager", "sales_director")],
           "user": "lin", "set": ("deal_viewers", "Deal viewers"), "rule": "big_deals",
           "copied": "Copied", "new": "New", "edit": "Edit", "private": "Private"},
    "zh_CN": {"object": "account", "hidden": "employees", "hidden_label": "员工数",
              "criteria": "industry = 'Technology'", "typo": "industri = 'Technology'",
              "roles": [("zh_director", "销售总监", ""), ("zh_manager", "客户经理", "zh_director")],
              "user": "mei", "set": ("account_viewers", "客户查看者"), "rule": "tech_accounts",
              "copied": "已复制", "new": "新建", "edit": "编辑", "private": "私有"},
}
PASSWORD = "story-password-1"


def _submit(page, form_selector, wait=None):
    page.click(f"{form_selector} button[type=submit] >> nth=-1")
    if wait:
        page.wait_for_url(wait)
    page.wait_for_load_state()


def _flash(page):
    return page.locator(".flashes").inner_text()


def _sign_in(page, live, username, password, next_path):
    page.goto(live.url + next_path)
    assert "/login" in page.url
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.click(".auth-card button[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_path) + "$"))


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_admin_access_story(live, browser_page, lang):
    s = STORIES[lang]
    obj, hidden, user = s["object"], s["hidden"], s["user"]
    page = browser_page(allow_status=(422,))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    _sign_in(page, live, "admin", "admin-password", "/setup/roles")
    if lang != "en":
        page.select_option("#locale-select", lang)
        page.wait_for_function("document.documentElement.lang === 'zh-CN'")

    # a role tree: a top role and one below it
    for api_name, label, parent in s["roles"]:
        page.fill("#f-label", label)
        page.fill("#f-api_name", api_name)
        if parent:
            page.select_option("#f-parent", parent)
        _submit(page, "form[action$='/setup/roles']", wait=re.compile(r"/setup/roles$"))
        assert label in _flash(page)
    child = page.locator(f".role-tree li.depth-1[data-role={s['roles'][1][0]}]")
    assert s["roles"][0][1] in child.inner_text()

    # a user in the lower role, speaking the story's language
    page.click(".setup-nav a[href='/setup/users']")
    page.click(".page-head a.btn-primary")
    page.fill("#f-username", user)
    page.fill("#f-password", "short")
    page.select_option("#f-role", s["roles"][1][0])
    page.select_option("#f-locale", lang)
    _submit(page, "form[action$='/setup/users/new']")
    assert page.locator("#f-password-error").is_visible()                  # 422: too short
    assert page.locator("#f-username").input_value() == user                # kept
    page.fill("#f-password", PASSWORD)
    _submit(page, "form[action$='/setup/users/new']", wait=re.compile(rf"/setup/users/{user}$"))
    assert user in _flash(page)

    # a permission set: read only on the object, one field hidden; assigned to the user
    page.click(".setup-nav a[href='/setup/permission_sets']")
    page.click(".page-head a.btn-primary")
    api_name, label = s["set"]
    page.fill("#f-label", label)
    page.fill("#f-api_name", api_name)
    page.check(f"#f-objects-{obj}-edit")                                     # checks "read" with it
    assert page.locator(f"#f-objects-{obj}-read").is_checked()
    page.uncheck(f"#f-objects-{obj}-edit")
    page.locator(f"details.field-rights[data-object={obj}] summary").click()
    page.select_option(f"#f-fields-{obj}-{hidden}", "hidden")
    _submit(page, "form[action$='/setup/permission_sets/new']", wait=re.compile(rf"/permission_sets/{api_name}$"))
    assert label in _flash(page)
    assert page.locator(f"#f-fields-{obj}-{hidden}").input_value() == "hidden"
    page.select_option("#f-assign-username", user)
    _submit(page, "#assigned form.inline-form", wait=re.compile(r"#assigned$"))
    assert user in page.locator("#assigned .item-list").inner_text()

    # the object private, and a sharing rule by criteria (the typo is caught first)
    page.click(".setup-nav a[href='/setup/sharing']")
    page.select_option(f"#f-objects-{obj}-sharing", "private")
    _submit(page, "form[action$='/setup/sharing']", wait=re.compile(r"/setup/sharing$"))
    assert s["private"] in _flash(page)
    page.click("#rules a.btn")
    page.select_option("#f-object", obj)
    page.fill("#f-name", s["rule"])
    page.check("#f-basis-criteria")
    assert not page.locator("#f-owned_by_role").is_visible()
    page.fill("#f-criteria", s["typo"])
    page.select_option("#f-share_with_role", s["roles"][1][0])
    _submit(page, "form.rule-form")
    shown = page.locator("#f-criteria-error").inner_text()
    assert any(words in shown for words in ("line 1", "Did you mean", "第 1 行", "您是否要输入")), shown
    assert page.locator("#f-name").input_value() == s["rule"]
    page.fill("#f-criteria", s["criteria"])
    _submit(page, "form.rule-form", wait=re.compile(r"/setup/sharing#rules$"))
    assert s["rule"] in page.locator(f"#rules tr[data-rule={s['rule']}]").inner_text()

    # an API token: shown once, copied, used, revoked
    page.goto(live.url + f"/setup/users/{user}")
    page.fill("#f-label", "story")
    _submit(page, "#tokens form.inline-form")
    secret = page.locator("#new-token").input_value()
    assert secret.startswith("tsr_")
    page.click("[data-copy=new-token]")
    page.wait_for_function("document.querySelector('[data-copy-status]').textContent.length > 0")
    assert page.locator("[data-copy-status]").inner_text() == s["copied"]
    assert page.evaluate("navigator.clipboard.readText()") == secret
    me = page.request.get(live.url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status == 200 and me.json()["username"] == user
    page.goto(live.url + f"/setup/users/{user}")
    assert secret not in page.content()                                       # shown once only
    page.click(f"#tokens form[action*='/revoke'] button")                     # the confirmation is accepted
    page.wait_for_url(re.compile(r"#tokens$"))
    assert secret[:12] in _flash(page)
    assert page.request.get(live.url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status == 401

    # the user sees the consequences
    services = live.app.extensions["tessera"]
    admin = services.actor("admin")
    records = services.records()
    shared = records.list(obj, admin, where=s["criteria"], limit=200)["records"]
    other = records.list(obj, admin, where=f"NOT({s['criteria']})", limit=1)["records"][0]
    assert shared
    them = browser_page(allow_status=(403, 404))
    _sign_in(them, live, user, PASSWORD, f"/o/{obj}")
    assert them.evaluate("document.documentElement.lang") == ("zh-CN" if lang != "en" else "en")
    count = them.locator("#record-count").inner_text()
    assert re.sub(r"\D", "", count) == str(len(shared))
    assert them.locator(f".page-head a:has-text('{s['new']}')").count() == 0    # read only: no New
    assert s["hidden_label"] not in them.locator("table.data thead").inner_text()
    assert them.goto(live.url + f"/o/{obj}/{shared[0]['id']}").status == 200
    assert them.locator("h1").inner_text() == shared[0]["name"]
    assert them.locator(f"[data-field={hidden}]").count() == 0                # the hidden field is absent
    assert them.locator(f".page-head a:has-text('{s['edit']}')").count() == 0
    assert them.goto(live.url + f"/o/{obj}/{shared[0]['id']}/edit").status == 403
    assert them.goto(live.url + f"/o/{obj}/new").status == 403
    assert them.goto(live.url + f"/o/{obj}/{other['id']}").status == 404     # not shared with them
    if lang != "en":                        # leave the admin in English for the other tests of the module
        page.select_option("#locale-select", "en")
        page.wait_for_function("document.documentElement.lang === 'en'")


# -- the documentation's screenshots -------------------------------------------------------------------
def take(out_dir):
    """Screenshots of the access pages in English and Chinese, over the sample model with a small
    organisation (roles, users, permission sets, sharing rules) built through the services."""
    import logging
    import tempfile
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from engine import create_app
    from engine.security.users import issue_token
    from tests.ui_renderer.live import LiveServer, build_model, launch_chromium

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app({"database_url": f"sqlite:///{tempfile.mkdtemp()}/docs.db"})
    services = app.extensions["tessera"]
    build_model(services, deals=20)
    admin, access = services.actor("admin"), services.access
    for name, label, parent in (("ceo", "CEO", None), ("vp_sales", "VP Sales", "ceo"), ("east", "Sales East", "vp_sales"),
                                ("west", "Sales West", "vp_sales"), ("support", "Customer support", "ceo")):
        access.create_role({"api_name": name, "label": label, "parent": parent}, admin)
    objects = {n: set(rt.ftypes) | {"name", "owner_id"} for n, rt in services.snapshots.refresh().objects.items()}
    access.save_permission_set({"api_name": "sales", "label": "Sales reps", "description": "Work on deals; read accounts.",
                                "objects": {"deal": {"read": True, "create": True, "edit": True},
                                            "account": {"read": True}},
                                "fields": {"deal": {"probability": "hidden", "weighted": "hidden", "notes": "read"}}},
                               admin, objects)
    access.save_permission_set({"api_name": "support", "label": "Support", "objects": {
        "deal": {"read": True}, "account": {"read": True, "edit": True}}}, admin, objects)
    for username, role, manager, sets in (("lin", "east", None, ["sales"]), ("mia", "west", "lin", ["sales"]),
                                          ("omar", "vp_sales", None, ["sales"]), ("sam", "support", None, ["support"])):
        access.create_user(username, "password-123", admin)
        access.update_user(username, {"role": role, "manager": manager, "locale": "zh" if username == "mia" else "en"},
                           admin)
        for ps in sets:
            access.assign(username, ps, admin)
    access.update_user("lin", {"manager": "omar"}, admin)
    access.update_user("sam", {"active": False}, admin)
    issue_token(services.engine, "lin", admin, label="Nightly import", scope="read")
    services.store.update_object("deal", {"sharing": "private"}, admin)
    objects = {n: set(rt.ftypes) for n, rt in services.snapshots.refresh().objects.items()}
    access.create_sharing_rule({"object": "deal", "name": "east_to_west", "owned_by_role": "east",
                                "include_subordinates": True, "share_with_role": "west", "access": "read"}, admin, objects)
    access.create_sharing_rule({"object": "deal", "name": "big_deals", "criteria": "amount >= 50000",
                                "share_with_role": "support", "share_with_subordinates": True, "access": "edit"},
                               admin, objects)
    server = LiveServer(app).start()
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            for lang, suffix in (("en", "en"), ("zh_CN", "zh")):
                context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
                page = context.new_page()
                page.goto(server.url + "/login?next=/setup/users")
                page.fill("#f-username", "admin")
                page.fill("#f-password", "admin-password")
                page.click(".auth-card button[type=submit]")
                page.wait_for_url(server.url + "/setup/users")
                if lang != "en":
                    page.select_option("#locale-select", lang)
                    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
                page.screenshot(path=str(out / f"setup-users-list-{suffix}.png"))
                page.goto(server.url + "/setup/users/lin")
                page.fill("#f-label", "CRM sync" if lang == "en" else "CRM 同步")
                page.click("#tokens form.inline-form button[type=submit]")
                page.locator("#new-token").wait_for()
                page.click("[data-copy=new-token]")
                page.screenshot(path=str(out / f"setup-users-user-{suffix}.png"), full_page=True)
                page.goto(server.url + "/setup/roles?parent=east")
                page.fill("#f-label", "Inside sales" if lang == "en" else "电话销售")
                page.fill("#f-api_name", "inside_sales")
                page.screenshot(path=str(out / f"setup-permissions-roles-{suffix}.png"))
                page.goto(server.url + "/setup/permission_sets/sales")
                page.screenshot(path=str(out / f"setup-permissions-set-{suffix}.png"), full_page=True)
                page.goto(server.url + "/setup/sharing")
                page.screenshot(path=str(out / f"setup-permissions-sharing-{suffix}.png"), full_page=True)
                page.goto(server.url + "/setup/sharing/rules/new?object=deal")
                page.fill("#f-name", "big_deals_to_east")
                page.check("#f-basis-criteria")
                page.fill("#f-criteria", "amout >= 100000")
                page.select_option("#f-share_with_role", "east")
                page.click(".page-head button.btn-primary")
                page.locator("#f-criteria-error").wait_for()
                page.screenshot(path=str(out / f"setup-permissions-rule-{suffix}.png"), full_page=True)
                if lang != "en":
                    page.select_option("#locale-select", "en")
                    page.wait_for_function("document.documentElement.lang === 'en'")
                context.close()
            browser.close()
    finally:
        server.stop()
        services.dispose()
    return sorted(p.name for p in out.glob("setup-*.png"))


if __name__ == "__main__":
    import sys

    print("\n".join(take(sys.argv[1] if len(sys.argv) > 1 else "docs/img")))
