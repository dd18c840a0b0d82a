"""Setup → Users, Roles, Permission sets and Sharing through the test client, on SQLite and
PostgreSQL: every form's success (303 and a message) and failure (422, every value kept, the message
next to its input), 403 for users who are not administrators, a forged POST without a CSRF token
changing nothing, API tokens shown once and revoked, and the pages' accessibility rules."""
from __future__ import annotations

import html
import re

import pytest

from tests.ui_renderer.live import sign_in
from tests.ui_renderer.test_accessibility import check_page

GETS = ["/setup/users", "/setup/users/new", "/setup/users/rep", "/setup/roles", "/setup/permission_sets",
        "/setup/permission_sets/new", "/setup/permission_sets/sales", "/setup/sharing", "/setup/sharing/rules/new"]
POSTS = [("/setup/users/new", {"username": "mallory", "password": "password-123", "locale": "en"}),
         ("/setup/users/rep", {"is_admin": "on", "locale": "en"}),
         ("/setup/users/rep/password", {"password": "new-password-1"}),
         ("/setup/users/rep/deactivate", {}),
         ("/setup/users/rep/tokens", {"label": "x", "scope": "all"}),
         ("/setup/users/rep/permission_sets", {"permission_set": "sales"}),
         ("/setup/users/rep/permission_sets/sales/remove", {}),
         ("/setup/roles", {"api_name": "boss"}),
         ("/setup/permission_sets/new", {"api_name": "all_deals", "objects.deal.read": "on"}),
         ("/setup/permission_sets/sales", {"objects.deal.modify_all": "on"}),
         ("/setup/permission_sets/sales/users", {"username": "nobody"}),
         ("/setup/sharing", {"objects.deal.sharing": "private"}),
         ("/setup/sharing/rules/new", {"object": "deal", "name": "r", "criteria": "TRUE", "basis": "criteria",
                                       "share_with_role": "x", "access": "read"})]


def _error(page, input_id):
    """The message shown next to an input (and check the input points at it)."""
    found = re.search(rf'<p class="[^"]*field-error[^"]*" id="{re.escape(input_id)}-error">([^<]*)</p>', page)
    assert found, f"no message next to #{input_id}"
    attrs = r'(?:[^>"]|"[^"]*")*'       # attribute values may hold ">"
    tag = re.search(rf'<(?:input|select|textarea){attrs} id="{re.escape(input_id)}"{attrs}>', page).group(0)
    assert f"{input_id}-error" in tag and 'aria-invalid="true"' in tag, tag
    return html.unescape(found.group(1))


def _value(page, input_id):
    tag = re.search(rf'<input[^>]* id="{re.escape(input_id)}"[^>]*>', page).group(0)
    return html.unescape(re.search(r'value="([^"]*)"', tag).group(1))


def _selected(page, input_id):
    select = re.search(rf'<select[^>]* id="{re.escape(input_id)}".*?</select>', page, re.DOTALL).group(0)
    found = re.search(r'<option value="([^"]*)" selected>', select)
    return found.group(1) if found else None


def _flash(page):
    return html.unescape(" ".join(re.findall(r'<div class="flash flash-\w+">\s*<p>([^<]*)</p>', page)))


def _follow(pages, response):
    assert response.status_code == 303, (response.status_code, response.text[:2000])
    return pages.get(response.headers["Location"]).text


@pytest.fixture
def roles(crm_pages):
    for name, parent in (("ceo", None), ("vp_sales", "ceo"), ("east", "vp_sales"), ("support", "ceo")):
        assert crm_pages.post("/api/v1/roles", json={"api_name": name, "parent": parent,
                                                     "label": name.replace("_", " ").title()}).status_code == 201
    return crm_pages


# -- who may open Setup ----------------------------------------------------------------------------
def test_setup_needs_an_admin(app, admin_pages, rep_pages, nobody_pages, crm_pages):
    anon = app.test_client()
    for url in GETS:
        assert admin_pages.get(url).status_code == 200, url
        for pages in (rep_pages, nobody_pages):
            r = pages.get(url)
            assert r.status_code == 403 and "Traceback" not in r.text, (url, r.status_code)
        r = anon.get(url)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next="), url
    for url, data in POSTS:
        for pages in (rep_pages, nobody_pages):
            assert pages.post(url, data).status_code == 403, url
    # nothing changed
    users = {u["username"]: u for u in crm_pages.get("/api/v1/users").get_json()["users"]}
    assert "mallory" not in users and users["rep"]["active"] and not users["rep"]["is_admin"]
    assert crm_pages.get("/api/v1/roles").get_json()["roles"] == []
    assert crm_pages.get("/api/v1/objects/deal").get_json().get("sharing", "public_read_write") == "public_read_write"
    assert rep_pages.get("/o/deal").status_code == 200          # the rep's password still works


def test_forged_posts_without_a_csrf_token_change_nothing(admin_pages, crm_pages):
    before = crm_pages.get("/api/v1/users").get_json()
    for url, data in POSTS:
        r = admin_pages.post(url, data, csrf=False)
        assert r.status_code == 400, url
        assert "nothing was changed" in r.text
    assert crm_pages.get("/api/v1/users").get_json() == before
    assert crm_pages.get("/api/v1/roles").get_json()["roles"] == []
    assert crm_pages.get("/api/v1/sharing_rules").get_json()["sharing_rules"] == []
    assert [p["api_name"] for p in crm_pages.get("/api/v1/permission_sets").get_json()["permission_sets"]] == ["sales"]


# -- users -------------------------------------------------------------------------------------------------
def test_create_a_user(admin_pages, roles):
    r = admin_pages.post("/setup/users/new", {"username": "lin", "password": "lin-password", "is_admin": "",
                                              "role": "east", "manager": "rep", "locale": "zh_CN"})
    assert r.headers["Location"] == "/setup/users/lin"
    page = _follow(admin_pages, r)
    assert "User 'lin' was created." in _flash(page)
    assert _selected(page, "f-role") == "east" and _selected(page, "f-manager") == "rep"
    user = roles.get("/api/v1/users/lin").get_json()
    assert (user["role"], user["manager"], user["is_admin"], user["active"]) == ("east", "rep", False, True)
    assert user["locale"] in ("zh", "zh_CN")
    listing = admin_pages.get("/setup/users").text
    assert ">lin</a>" in listing and "简体中文" in listing


@pytest.mark.parametrize("form, field, message", [
    ({"username": "", "password": "long-enough"}, "username", "Required."),
    ({"username": "lin", "password": ""}, "password", "Required."),
    ({"username": "bad name", "password": "long-enough"}, "username",
     "Use letters, digits and _ . @ + - (at most 150 characters)."),
    ({"username": "lin", "password": "short"}, "password", "Use at least 8 characters."),
    ({"username": "rep", "password": "long-enough"}, "username", "A user with this username already exists."),
    ({"username": "lin", "password": "long-enough", "role": "nope"}, "role", "Choose one of the roles in the list."),
    ({"username": "lin", "password": "long-enough", "manager": "ghost"}, "manager",
     "Choose one of the users in the list."),
    ({"username": "lin", "password": "long-enough", "locale": "fr"}, "locale", "Choose a language."),
])
def test_create_a_user_refused(admin_pages, roles, form, field, message):
    data = {"role": "east", "locale": "en", "is_admin": "on"} | form
    r = admin_pages.post("/setup/users/new", data)
    assert r.status_code == 422
    assert _error(r.text, f"f-{field}") == message
    assert _value(r.text, "f-username") == data["username"]                  # kept
    assert _value(r.text, "f-password") == ""                                # never sent back
    assert 'id="f-is_admin" name="is_admin" value="on" checked' in r.text
    if field != "role":
        assert _selected(r.text, "f-role") == "east"
    assert 'href="#f-' + field + '"' in r.text                               # the summary links to it
    users = [u["username"] for u in roles.get("/api/v1/users").get_json()["users"]]
    assert users == ["admin", "nobody", "rep"]


def test_edit_a_user(admin_pages, roles):
    r = admin_pages.post("/setup/users/rep", {"role": "ceo", "manager": "admin", "locale": "en", "is_admin": "on"})
    page = _follow(admin_pages, r)
    assert "User 'rep' was saved." in _flash(page)
    user = roles.get("/api/v1/users/rep").get_json()
    assert (user["role"], user["manager"], user["is_admin"]) == ("ceo", "admin", True)
    # a management cycle is refused next to the manager, the other values kept
    r = admin_pages.post("/setup/users/admin", {"role": "support", "manager": "rep", "locale": "en", "is_admin": "on"})
    assert r.status_code == 422
    assert _error(r.text, "f-manager").startswith("This would make a management cycle")
    assert _selected(r.text, "f-role") == "support" and _selected(r.text, "f-manager") == "rep"
    assert roles.get("/api/v1/users/admin").get_json()["role"] is None
    assert admin_pages.post("/setup/users/ghost", {"locale": "en"}).status_code == 404


def test_reset_a_password_signs_the_user_out(app, admin_pages, rep_pages, crm_pages):
    r = admin_pages.post("/setup/users/rep/password", {"password": "short"})
    assert r.status_code == 422 and _error(r.text, "f-password") == "Use at least 8 characters."
    assert rep_pages.get("/o/deal").status_code == 200
    page = _follow(admin_pages, admin_pages.post("/setup/users/rep/password", {"password": "brand-new-secret"}))
    assert "The password of 'rep' was reset" in _flash(page)
    assert rep_pages.get("/o/deal").status_code == 302                       # signed out everywhere
    assert sign_in(app.test_client(), "rep", "rep-password").status_code == 401
    assert sign_in(app.test_client(), "rep", "brand-new-secret").status_code == 303


def test_deactivate_and_reactivate(app, admin_pages, rep_pages, crm_pages):
    user_page = admin_pages.get("/setup/users/rep").text
    assert 'action="/setup/users/rep/deactivate"' in user_page and "data-confirm=" in user_page
    own = admin_pages.get("/setup/users/admin").text      # no way to lock yourself out by mistake
    assert 'action="/setup/users/admin/deactivate"' not in own
    assert '<input type="hidden" name="is_admin" value="on">' in own and 'value="on" checked aria-describedby="f-is_admin-help" disabled' in own
    page = _follow(admin_pages, admin_pages.post("/setup/users/rep/deactivate"))
    assert "User 'rep' was deactivated" in _flash(page) and "Inactive" in page
    assert rep_pages.get("/o/deal").status_code == 302
    assert sign_in(app.test_client(), "rep", "rep-password").status_code == 401
    page = _follow(admin_pages, admin_pages.post("/setup/users/rep/reactivate"))
    assert "User 'rep' was reactivated" in _flash(page)
    assert sign_in(app.test_client(), "rep", "rep-password").status_code == 303


def test_assign_and_remove_permission_sets_on_the_user_page(admin_pages, crm_pages):
    assert crm_pages.post("/api/v1/permission_sets", json={"api_name": "support", "label": "Support"}).status_code == 201
    r = admin_pages.post("/setup/users/rep/permission_sets", {"permission_set": ""})
    assert r.status_code == 422 and _error(r.text, "f-permission_set") == "Choose a permission set."
    page = _follow(admin_pages, admin_pages.post("/setup/users/rep/permission_sets", {"permission_set": "support"}))
    assert "Permission set 'support' was assigned to 'rep'." in _flash(page)
    assert crm_pages.get("/api/v1/users/rep").get_json()["permission_sets"] == ["sales", "support"]
    page = _follow(admin_pages, admin_pages.post("/setup/users/rep/permission_sets/sales/remove"))
    assert "Permission set 'sales' was removed from 'rep'." in _flash(page)
    assert crm_pages.get("/api/v1/users/rep").get_json()["permission_sets"] == ["support"]
    r = admin_pages.post("/setup/users/rep/permission_sets", {"permission_set": "ghost"})
    assert r.status_code == 422 and _error(r.text, "f-permission_set") == "Unknown permission set 'ghost'."


def test_api_tokens_shown_once_and_revoked(app, admin_pages, crm_pages):
    from tests.conftest import Api

    r = admin_pages.post("/setup/users/rep/tokens", {"label": "Nightly import", "scope": "read"})
    # the secret is on this response only: never in a redirect, a URL or the session cookie
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    secret = _value(r.text, "new-token")
    with admin_pages.client.session_transaction() as session:
        assert secret not in repr(dict(session))
    assert secret.startswith("tsr_") and "data-copy=\"new-token\"" in r.text
    assert "Copy it now: it is shown only once." in _flash(r.text)
    api = Api(app.test_client(), secret)
    me = api.get("/api/v1/me").get_json()
    assert (me["username"], me["token_scope"]) == ("rep", "read")
    page = admin_pages.get("/setup/users/rep").text
    assert secret not in page and f"<code>{secret[:12]}…</code>" in page and "Nightly import" in page
    assert "Read only" in page and "Never" not in page                      # just used by the API call
    token_id = re.search(r'action="/setup/users/rep/tokens/([^/"]+)/revoke"', page).group(1)
    assert admin_pages.post(f"/setup/users/admin/tokens/{token_id}/revoke").status_code == 404   # not admin's
    page = _follow(admin_pages, admin_pages.post(f"/setup/users/rep/tokens/{token_id}/revoke"))
    assert f"The API token {secret[:12]}… of 'rep' was revoked." in _flash(page)
    assert f"<code>{secret[:12]}…</code>" not in page
    assert api.get("/api/v1/me").status_code == 401
    events = [e["event"] for e in crm_pages.get("/api/v1/audit?user=admin").get_json()["entries"]]
    assert "token_created" in events and "token_revoked" in events
    r = admin_pages.post("/setup/users/rep/tokens", {"label": "x" * 201, "scope": "all"})
    assert r.status_code == 422 and _error(r.text, "f-label") == "Use at most 200 characters."
    assert _value(r.text, "f-label") == "x" * 201
    r = admin_pages.post("/setup/users/rep/tokens", {"label": "", "scope": "root"})
    assert r.status_code == 422 and _error(r.text, "f-scope") == "Choose read and write, or read only."


# -- roles -------------------------------------------------------------------------------------------------
def test_role_tree(admin_pages, crm_pages):
    page = admin_pages.get("/setup/roles").text
    assert "No roles yet" in page
    for api_name, label, parent in (("ceo", "CEO", ""), ("vp_sales", "VP Sales", "ceo"), ("support", "Support", "ceo"),
                                    ("east", "Sales East", "vp_sales")):
        page = _follow(admin_pages, admin_pages.post("/setup/roles", {"api_name": api_name, "label": label,
                                                                      "parent": parent}))
        assert f"Role '{label}' was created." in _flash(page)
    order = re.findall(r'<li class="depth-(\d)" data-role="(\w+)">', page)
    assert order == [("0", "ceo"), ("1", "support"), ("1", "vp_sales"), ("2", "east")]
    assert "Reports to VP Sales" in page
    assert '<option value="east">CEO › VP Sales › Sales East</option>' in page
    assert 'value="vp_sales" selected' in admin_pages.get("/setup/roles?parent=vp_sales").text
    roles = {r["api_name"]: r["parent"] for r in crm_pages.get("/api/v1/roles").get_json()["roles"]}
    assert roles == {"ceo": None, "vp_sales": "ceo", "support": "ceo", "east": "vp_sales"}


@pytest.mark.parametrize("form, field, message", [
    ({"api_name": "", "label": "Boss"}, "api_name", "Required."),
    ({"api_name": "Big Boss", "label": "Boss"}, "api_name",
     "Use lowercase letters, digits and underscores, starting with a letter."),
    ({"api_name": "ceo", "label": "Boss"}, "api_name", "This name is already used; choose another one."),
    ({"api_name": "boss", "label": "Boss", "parent": "ghost"}, "parent", "unknown role 'ghost'"),
])
def test_role_refused(admin_pages, roles, form, field, message):
    r = admin_pages.post("/setup/roles", form)
    assert r.status_code == 422
    assert _error(r.text, f"f-{field}") == message
    assert _value(r.text, "f-label") == "Boss" and _value(r.text, "f-api_name") == form["api_name"]
    assert len(roles.get("/api/v1/roles").get_json()["roles"]) == 4


# -- permission sets ------------------------------------------------------------------------------------------
def test_create_and_edit_a_permission_set(admin_pages, crm_pages):
    form = {"api_name": "deal_readers", "label": "Deal readers", "description": "Read deals, not their amount",
            "objects.deal.read": "on", "objects.account.read": "on", "fields.deal.amount": "hidden",
            "fields.deal.stage": "read", "fields.deal.notes": ""}
    r = admin_pages.post("/setup/permission_sets/new", form)
    assert r.headers["Location"] == "/setup/permission_sets/deal_readers"
    page = _follow(admin_pages, r)
    assert "Permission set 'Deal readers' was created." in _flash(page)
    assert 'id="f-objects-deal-read" name="objects.deal.read" value="on" data-right="read" checked' in page
    assert 'name="objects.deal.edit" value="on" data-right="edit">' in page
    assert _selected(page, "f-fields-deal-amount") == "hidden" and _selected(page, "f-fields-deal-notes") is None
    doc = next(p for p in crm_pages.get("/api/v1/permission_sets").get_json()["permission_sets"]
               if p["api_name"] == "deal_readers")
    assert doc["objects"]["deal"] == {"read": True, "create": False, "edit": False, "delete": False,
                                      "view_all": False, "modify_all": False}
    assert doc["fields"] == {"deal": {"amount": "hidden", "stage": "read"}}
    assert doc["description"] == "Read deals, not their amount"
    listing = admin_pages.get("/setup/permission_sets").text
    assert "Deal readers" in listing and "<strong>Deal</strong>" in listing
    # edit: make deals editable, the amount readable; the account right goes
    page = _follow(admin_pages, admin_pages.post("/setup/permission_sets/deal_readers", {
        "label": "Deal editors", "objects.deal.read": "on", "objects.deal.edit": "on", "fields.deal.amount": "read"}))
    assert "Permission set 'Deal editors' was saved." in _flash(page)
    doc = next(p for p in crm_pages.get("/api/v1/permission_sets").get_json()["permission_sets"]
               if p["api_name"] == "deal_readers")
    assert set(doc["objects"]) == {"deal"} and doc["objects"]["deal"]["edit"] is True
    assert doc["fields"] == {"deal": {"amount": "read"}} and doc["label"] == "Deal editors"
    assert admin_pages.get("/setup/permission_sets/ghost").status_code == 404


@pytest.mark.parametrize("form, input_id, message", [
    ({"api_name": ""}, "f-api_name", "Required."),
    ({"api_name": "Deal Readers"}, "f-api_name", "Use lowercase letters, digits and underscores, starting with a letter."),
    ({"api_name": "sales"}, "f-api_name", "This name is already used; choose another one."),
    ({"api_name": "odd", "fields.deal.amount": "secret"}, "f-fields-deal-amount",
     "must be 'hidden', 'read' or 'edit'"),
])
def test_permission_set_refused(admin_pages, crm_pages, form, input_id, message):
    data = {"label": "Readers", "objects.deal.read": "on", "objects.deal.delete": "on"} | form
    r = admin_pages.post("/setup/permission_sets/new", data)
    assert r.status_code == 422
    assert _error(r.text, input_id) == message
    assert _value(r.text, "f-label") == "Readers"
    assert 'name="objects.deal.delete" value="on" data-right="delete" checked' in r.text
    names = [p["api_name"] for p in crm_pages.get("/api/v1/permission_sets").get_json()["permission_sets"]]
    assert names == ["sales"]


def test_assign_and_remove_on_the_permission_set_page(admin_pages, crm_pages):
    page = admin_pages.get("/setup/permission_sets/sales").text
    assert re.search(r'href="/setup/users/rep">rep</a>', page) and '<option value="nobody">' in page
    r = admin_pages.post("/setup/permission_sets/sales/users", {"username": ""})
    assert r.status_code == 422 and _error(r.text, "f-assign-username") == "Choose a user."
    page = _follow(admin_pages, admin_pages.post("/setup/permission_sets/sales/users", {"username": "nobody"}))
    assert "Permission set 'Sales' was assigned to 'nobody'." in _flash(page)
    assert crm_pages.get("/api/v1/users/nobody").get_json()["permission_sets"] == ["sales"]
    r = admin_pages.post("/setup/users/nobody/permission_sets/sales/remove", {"next": "permission_set"})
    assert r.headers["Location"] == "/setup/permission_sets/sales"
    assert crm_pages.get("/api/v1/users/nobody").get_json()["permission_sets"] == []


# -- sharing ------------------------------------------------------------------------------------------------
def test_org_wide_defaults(admin_pages, crm_pages):
    page = admin_pages.get("/setup/sharing").text
    assert _selected(page, "f-objects-deal-sharing") == "public_read_write"
    page = _follow(admin_pages, admin_pages.post("/setup/sharing", {"objects.deal.sharing": "private",
                                                                    "objects.account.sharing": "public_read_write"}))
    assert "Org-wide defaults were saved: Deal – Private." in _flash(page)
    assert _selected(page, "f-objects-deal-sharing") == "private"
    assert crm_pages.get("/api/v1/objects/deal").get_json()["sharing"] == "private"
    page = _follow(admin_pages, admin_pages.post("/setup/sharing", {"objects.deal.sharing": "private"}))
    assert "Nothing changed." in _flash(page)
    r = admin_pages.post("/setup/sharing", {"objects.deal.sharing": "public_read", "objects.account.sharing": "secret"})
    assert r.status_code == 422
    assert _error(r.text, "f-objects-account-sharing") == "Choose one of the options."
    assert _selected(r.text, "f-objects-deal-sharing") == "public_read"           # kept
    assert crm_pages.get("/api/v1/objects/deal").get_json()["sharing"] == "private"


def test_sharing_rules_created_and_deleted(admin_pages, roles):
    page = _follow(admin_pages, admin_pages.post("/setup/sharing/rules/new", {
        "object": "deal", "name": "east_to_support", "basis": "owned_by_role", "owned_by_role": "east",
        "include_subordinates": "on", "criteria": "ignored", "share_with_role": "support", "access": "read"}))
    assert "Sharing rule 'east_to_support' was created." in _flash(page)
    page = _follow(admin_pages, admin_pages.post("/setup/sharing/rules/new", {
        "object": "deal", "name": "big_deals", "basis": "criteria", "criteria": "amount >= 50000",
        "owned_by_role": "east", "share_with_role": "east", "share_with_subordinates": "on", "access": "edit"}))
    assert "Records owned by East and the roles below it" in page
    assert '<code class="formula-text">amount &gt;= 50000</code>' in page
    rules = {r["name"]: r for r in roles.get("/api/v1/sharing_rules").get_json()["sharing_rules"]}
    assert rules["east_to_support"]["owned_by_role"] == "east" and rules["east_to_support"]["criteria"] is None
    assert rules["east_to_support"]["include_subordinates"] is True
    assert rules["big_deals"]["criteria"] == "amount >= 50000" and rules["big_deals"]["owned_by_role"] is None
    assert rules["big_deals"]["share_with_subordinates"] is True and rules["big_deals"]["access"] == "edit"
    # delete: a confirmation page says what it affects; only its POST deletes
    rid = rules["big_deals"]["id"]
    confirm = admin_pages.get(f"/setup/sharing/rules/{rid}/delete").text
    assert "Delete the sharing rule 'big_deals'?" in confirm and "Members of East lose the access" in confirm
    assert len(roles.get("/api/v1/sharing_rules").get_json()["sharing_rules"]) == 2
    page = _follow(admin_pages, admin_pages.post(f"/setup/sharing/rules/{rid}/delete"))
    assert "Sharing rule 'big_deals' was deleted." in _flash(page)
    assert [r["name"] for r in roles.get("/api/v1/sharing_rules").get_json()["sharing_rules"]] == ["east_to_support"]
    assert admin_pages.post(f"/setup/sharing/rules/{rid}/delete").status_code == 404


@pytest.mark.parametrize("form, field, message", [
    ({"name": ""}, "name", "Required."),
    ({"name": "Big Deals"}, "name", "Use lowercase letters, digits and underscores, starting with a letter."),
    ({"share_with_role": ""}, "share_with_role", "Required."),
    ({"criteria": ""}, "criteria", "Write a formula that is true for the records to share."),
    ({"criteria": "amount >> 5"}, "criteria", None),
    ({"criteria": "amout > 5"}, "criteria", None),
    ({"basis": "owned_by_role", "owned_by_role": ""}, "owned_by_role",
     "Choose the role whose members' records are shared."),
    ({"access": "own"}, "access", "Choose read or edit."),
])
def test_sharing_rule_refused(admin_pages, roles, form, field, message):
    data = {"object": "deal", "name": "big_deals", "basis": "criteria", "criteria": "amount > 5",
            "share_with_role": "east", "access": "read", "share_with_subordinates": "on"} | form
    r = admin_pages.post("/setup/sharing/rules/new", data)
    assert r.status_code == 422
    shown = _error(r.text, f"f-{field}")
    if message is None:        # the formula's own message, with its position
        assert "line 1" in shown and "column" in shown or "Did you mean 'amount'" in shown, shown
    else:
        assert shown == message
    assert _value(r.text, "f-name") == data["name"] and _value(r.text, "f-criteria") == data["criteria"]
    assert 'id="f-share_with_subordinates" name="share_with_subordinates" value="on" checked' in r.text
    assert roles.get("/api/v1/sharing_rules").get_json()["sharing_rules"] == []


# -- the pages follow the accessibility rules, in both languages -----------------------------------------
def test_setup_pages_follow_the_rules(admin_pages, roles):
    roles.post("/api/v1/sharing_rules", json={"object": "deal", "name": "r1", "owned_by_role": "east",
                                              "share_with_role": "support", "access": "read"})
    rid = roles.get("/api/v1/sharing_rules").get_json()["sharing_rules"][0]["id"]
    pages = {url: admin_pages.get(url).text for url in GETS + [f"/setup/sharing/rules/{rid}/delete"]}
    pages["token"] = admin_pages.post("/setup/users/rep/tokens", {"scope": "all"}).text
    pages["failed user"] = admin_pages.post("/setup/users/new", {"username": "x y", "password": "p"}).text
    pages["failed set"] = admin_pages.post("/setup/permission_sets/new", {"api_name": "A",
                                                                          "fields.deal.amount": "x"}).text
    pages["failed rule"] = admin_pages.post("/setup/sharing/rules/new", {"basis": "criteria", "criteria": ">"}).text
    pages["failed defaults"] = admin_pages.post("/setup/sharing", {"objects.deal.sharing": "x"}).text
    problems = {name: check_page(html) for name, html in pages.items()}
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}


def test_setup_in_chinese(admin_pages, roles):
    admin_pages.post("/locale", {"locale": "zh_CN"})
    page = admin_pages.get("/setup/users").text
    assert '<html lang="zh-CN">' in page and "新建用户" in page and "用户名" in page
    assert "权限集" in admin_pages.get("/setup/permission_sets/sales").text
    assert "组织范围默认设置" in admin_pages.get("/setup/sharing").text
    r = admin_pages.post("/setup/roles", {"api_name": "Big Boss"})
    assert r.status_code == 422 and _error(r.text, "f-api_name") == "请使用小写字母、数字和下划线，并以字母开头。"
    page = _follow(admin_pages, admin_pages.post("/setup/roles", {"api_name": "boss", "label": "老板"}))
    assert "角色“老板”已创建。" in _flash(page)


def test_a_deactivated_manager_stays_on_the_form(admin_pages, crm_pages):
    assert crm_pages.patch("/api/v1/users/rep", json={"manager": "nobody"}).status_code == 200
    assert crm_pages.patch("/api/v1/users/nobody", json={"active": False}).status_code == 200
    page = admin_pages.get("/setup/users/rep").text
    assert _selected(page, "f-manager") == "nobody"                      # kept, though inactive
    other = admin_pages.get("/setup/users/admin").text
    managers = re.search(r'<select[^>]* id="f-manager".*?</select>', other, re.DOTALL).group(0)
    assert 'value="nobody"' not in managers and 'value="rep"' in managers    # no new inactive managers
    page = _follow(admin_pages, admin_pages.post("/setup/users/rep", {"manager": "nobody", "locale": "en"}))
    assert crm_pages.get("/api/v1/users/rep").get_json()["manager"] == "nobody"
