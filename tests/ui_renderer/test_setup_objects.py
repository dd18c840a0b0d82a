"""Setup → Object Manager through the Flask test client, on SQLite and PostgreSQL: every form saves
(303) or answers 422 with every value kept and each message next to its input (MetadataError paths
mapped to inputs named after the document keys); non-admins get 403, forged posts 400; the formula
editor's endpoints; fields of every type; deleting with what it affects; layouts, list views,
validation rules; history and rollback; and the pages follow the accessibility rules."""
from __future__ import annotations

import html as htmllib
import re

import pytest

from tests.ui_renderer.test_accessibility import check_page

EQUIPMENT = {"api_name": "equipment", "label": "Equipment", "plural_label": "Equipment",
             "label_i18n.zh_CN": "设备", "sharing": "private"}


def _text(r):
    return htmllib.unescape(r.text)


def _error(html, name):
    """The message shown under input ``name`` (its id is f-<name with . as ->)."""
    m = re.search(rf'id="f-{re.escape(name.replace(".", "-"))}-error">([^<]*)<', html)
    return htmllib.unescape(m.group(1)) if m else None


def _object(api, name):
    return api.get(f"/api/v1/objects/{name}").get_json()


def _field(api, obj, name):
    return next((f for f in _object(api, obj)["fields"] if f["api_name"] == name), None)


@pytest.fixture
def equipment(admin_pages, crm_pages):
    r = admin_pages.post("/setup/objects/new", EQUIPMENT)
    assert r.status_code == 303, _text(r)[:3000]
    return crm_pages


# -- doors: admins only, CSRF ----------------------------------------------------------------------
PROTECTED = [("GET", "/setup/objects"), ("GET", "/setup/objects/new"), ("GET", "/setup/objects/deal"),
             ("GET", "/setup/objects/deal/fields/new?type=currency"), ("GET", "/setup/objects/deal/layouts"),
             ("GET", "/setup/objects/deal/history"), ("GET", "/setup/formula/catalog?object=deal"),
             ("POST", "/setup/objects/new"), ("POST", "/setup/objects/deal/fields/amount/delete"),
             ("POST", "/setup/objects/deal/rollback"), ("POST", "/setup/formula/check")]


def test_setup_needs_an_admin(app, rep_pages, nobody_pages, crm_pages):
    for pages in (rep_pages, nobody_pages):
        for method, url in PROTECTED:
            r = pages.get(url) if method == "GET" else pages.post(url, {"label": "X", "api_name": "x"})
            assert r.status_code == 403, (method, url, r.status_code)
    anon = app.test_client()
    r = anon.get("/setup/objects/deal/fields")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    assert crm_pages.get("/api/v1/objects/x").status_code == 404
    assert _field(crm_pages, "deal", "amount") is not None


def test_forged_posts_change_nothing(admin_pages, crm_pages):
    r = admin_pages.post("/setup/objects/new", EQUIPMENT, csrf=False)
    assert r.status_code == 400 and crm_pages.get("/api/v1/objects/equipment").status_code == 404
    r = admin_pages.post("/setup/objects/deal/fields/amount/delete", {}, csrf=False)
    assert r.status_code == 400 and _field(crm_pages, "deal", "amount") is not None
    r = admin_pages.client.post("/setup/formula/check", json={"object": "deal", "formula": "1"})
    assert r.status_code == 400
    r = admin_pages.client.post("/setup/formula/check", json={"object": "deal", "formula": "1"},
                                headers={"X-CSRFToken": admin_pages.token()})
    assert r.status_code == 200 and r.get_json()["ok"] is True


# -- objects ---------------------------------------------------------------------------------------------
def test_create_an_object_and_use_it_at_once(admin_pages, crm_pages):
    assert admin_pages.get("/setup").headers["Location"] == "/setup/objects"
    r = admin_pages.post("/setup/objects/new", EQUIPMENT)
    assert r.status_code == 303 and r.headers["Location"] == "/setup/objects/equipment/fields"
    doc = _object(crm_pages, "equipment")
    assert doc["label_i18n"] == {"zh_CN": "设备"} and doc["sharing"] == "private" and doc["plural_label"] == "Equipment"
    page = admin_pages.get("/setup/objects")
    assert page.status_code == 200 and "/setup/objects/equipment" in page.text
    assert admin_pages.get("/o/equipment").status_code == 200
    assert 'href="/o/equipment"' in admin_pages.get("/").text       # in the navigation at once
    r = admin_pages.post("/setup/objects/equipment", {"label": "Machine", "plural_label": "Machines",
                                                      "label_i18n.zh_CN": "", "sharing": "public_read"})
    assert r.status_code == 303
    doc = _object(crm_pages, "equipment")
    assert doc["label"] == "Machine" and "label_i18n" not in doc and doc["sharing"] == "public_read"


@pytest.mark.parametrize("data, field, message", [
    (dict(EQUIPMENT, api_name="Bad Name"), "api_name",
     "must be lowercase snake_case: a letter, then letters, digits or _ (try 'bad_name')"),
    (dict(EQUIPMENT, api_name="deal"), "api_name", "already exists"),
    (dict(EQUIPMENT, api_name=""), "api_name",
     "Enter an API name: lowercase letters, digits and _, such as equipment."),
    (dict(EQUIPMENT, label=""), "label", "Enter a label."),
    (dict(EQUIPMENT, label="x" * 90), "label", "must be at most 80 characters long"),
    (dict(EQUIPMENT, sharing="everyone"), "sharing",
     'must be one of "private", "public_read", "public_read_write" (got "everyone")'),
])
def test_a_refused_object_keeps_every_value(admin_pages, crm_pages, data, field, message):
    r = admin_pages.post("/setup/objects/new", data)
    assert r.status_code == 422
    html = _text(r)
    assert message in _error(html, field), _error(html, field)
    assert re.search(rf'id="f-{field}"[^>]*aria-describedby="[^"]*f-{field}-error', html) or field == "sharing"
    for key in ("label", "plural_label", "label_i18n.zh_CN"):
        if data.get(key):
            assert f'value="{data[key]}"' in html, key
    assert 'href="#f-' + field + '"' in html         # the summary links to the input
    assert crm_pages.get("/api/v1/objects/equipment").status_code == 404


def test_details_refused_then_saved(equipment, admin_pages):
    r = admin_pages.post("/setup/objects/equipment", {"label": "", "plural_label": "Kit", "sharing": "private"})
    assert r.status_code == 422 and _error(_text(r), "label") == "Enter a label." and 'value="Kit"' in r.text
    assert _object(equipment, "equipment")["plural_label"] == "Equipment"


def test_delete_shows_what_it_affects_then_restore_and_purge(equipment, admin_pages):
    page = _text(admin_pages.get("/setup/objects/account/delete"))
    assert "It cannot be deleted yet:" in page and "points to it" in page
    r = admin_pages.post("/setup/objects/account/delete", {})
    assert r.status_code == 422 and "cannot delete 'account': lookups point to it from deal.account" in _text(r)
    equipment.post("/api/v1/records/equipment", json={"name": "Lathe"})
    page = _text(admin_pages.get("/setup/objects/equipment/delete"))
    assert "1 record is archived with it." in page
    r = admin_pages.post("/setup/objects/equipment/delete", {})
    assert r.status_code == 303 and r.headers["Location"] == "/setup/objects"
    listing = _text(admin_pages.get("/setup/objects"))
    assert "Archived objects" in listing and "/setup/objects/equipment/restore" in listing
    assert admin_pages.get("/o/equipment").status_code == 404
    assert admin_pages.post("/setup/objects/equipment/restore", {}).status_code == 303
    assert len(equipment.get("/api/v1/records/equipment").get_json()["records"]) == 1
    assert admin_pages.post("/setup/objects/equipment/delete", {}).status_code == 303
    assert admin_pages.post("/setup/objects/equipment/purge", {}).status_code == 303
    assert "/setup/objects/equipment/restore" not in admin_pages.get("/setup/objects").text


# -- fields -------------------------------------------------------------------------------------------------
VISIT = {"api_name": "visit", "label": "Visit", "fields": [
    {"api_name": "equipment", "type": "master_detail", "target": "equipment"},
    {"api_name": "cost", "type": "currency", "scale": 2}]}

EVERY_TYPE = [
    ("text", {"max_length": "80"}, {"max_length": 80}),
    ("long_text", {}, {}),
    ("rich_text", {}, {}),
    ("email", {"unique": "on"}, {"unique": True}),
    ("phone", {}, {}),
    ("url", {}, {}),
    ("number", {"precision": "12", "scale": "3"}, {"precision": 12, "scale": 3}),
    ("integer", {"default": "1"}, {"default": "1"}),
    ("currency", {"scale": "2", "currency": "EUR", "required": "on"}, {"scale": 2, "currency": "EUR",
                                                                        "required": True}),
    ("percent", {"scale": "1"}, {"scale": 1}),
    ("date", {"default": "TODAY()"}, {"default": "TODAY()"}),
    ("datetime", {}, {}),
    ("checkbox", {}, {}),
    ("picklist", {"options.0.value": "In use", "options.0.label_i18n.zh_CN": "使用中", "options.2.value": "Broken",
                  "default": "'In use'"},
     {"options": [{"value": "In use", "label_i18n": {"zh_CN": "使用中"}}, {"value": "Broken"}],
      "default": "'In use'"}),
    ("multi_picklist", {"options.0.value": "Indoor", "options.1.value": "Outdoor"},
     {"options": [{"value": "Indoor"}, {"value": "Outdoor"}]}),
    ("lookup", {"target": "account", "on_delete": "set_null"}, {"target": "account", "on_delete": "set_null"}),
    ("master_detail", {"target": "account"}, {"target": "account"}),
    ("auto_number", {"format": "EQ-{0000}"}, {"format": "EQ-{0000}"}),
    ("formula", {"formula": "currency_field * 1.2", "return_type": "currency", "scale": "2"},
     {"formula": "currency_field * 1.2", "return_type": "currency", "scale": 2}),
    ("roll_up_summary", {"summary.function": "sum", "summary.object": "visit", "summary.field": "cost",
                         "summary.filter": "cost > 0"},
     {"summary": {"function": "sum", "object": "visit", "field": "cost", "filter": "cost > 0"}}),
]


def test_a_field_of_every_type(equipment, admin_pages):
    from engine.metadata.field_types import field_types

    assert {t for t, _f, _e in EVERY_TYPE} == set(field_types.keys())
    chooser = _text(admin_pages.get("/setup/objects/equipment/fields/new"))
    for kind, _form, _expected in EVERY_TYPE:
        assert f'/setup/objects/equipment/fields/new?type={kind}"' in chooser, kind
    for kind, form, expected in EVERY_TYPE:
        if kind == "roll_up_summary":
            r = equipment.post("/api/v1/objects", json=VISIT)
            assert r.status_code == 201, r.get_json()
        page = admin_pages.get(f"/setup/objects/equipment/fields/new?type={kind}")
        assert page.status_code == 200
        for key in form:
            if not key.startswith("options."):
                assert f'name="{key}"' in page.text, (kind, key)
        data = dict(form, label=f"{kind.title()} field", api_name=f"{kind}_field")
        r = admin_pages.post(f"/setup/objects/equipment/fields/new?type={kind}", data)
        assert r.status_code == 303, (kind, _text(r)[:3000])
        stored = _field(equipment, "equipment", f"{kind}_field")
        assert stored["type"] == kind and stored["label"] == f"{kind.title()} field"
        for key, value in expected.items():
            assert stored[key] == value, (kind, key, stored)
    fields = _text(admin_pages.get("/setup/objects/equipment/fields"))
    assert "Currency (2 decimals)" in fields and "Lookup → Account" in fields and "currency_field * 1.2" in fields
    rec = equipment.post("/api/v1/records/equipment", json={"name": "Lathe", "currency_field": 100,
                                                            "master_detail_field": _account(equipment)})
    assert rec.status_code == 201, rec.get_json()
    rec = rec.get_json()
    assert rec["formula_field"] == 120 and rec["auto_number_field"] == "EQ-0001" and rec["integer_field"] == 1
    assert admin_pages.get(f"/o/equipment/{rec['id']}").status_code == 200
    form = admin_pages.get("/o/equipment/new").text
    assert 'name="picklist_field"' in form and 'name="multi_picklist_field"' in form


def _account(api):
    return api.post("/api/v1/records/account", json={"name": "Acme"}).get_json()["id"]


@pytest.mark.parametrize("kind, data, field, message", [
    ("currency", {"scale": "9"}, "scale", "must be at most 6 (got 9)"),
    ("currency", {"currency": "euro"}, "currency", "must be a currency code of three capital letters"),
    ("text", {"max_length": "99999"}, "max_length", "must be at most 4000 for a text field (got 99999)"),
    ("picklist", {"options.0.value": "A", "options.1.value": "", "options.2.value": "A"}, "options.2.value",
     "duplicate option 'A'"),
    ("picklist", {}, "options", "is required for a picklist field"),
    ("formula", {"formula": "amout * 2"}, "formula", "Unknown field 'amout' (line 1, column 1)"),
    ("formula", {"formula": "1 +"}, "formula", "(line 1, column 4)"),
    ("lookup", {"target": "acount"}, "target", "unknown object 'acount' (did you mean 'account'?)"),
    ("auto_number", {"format": "EQ-"}, "format", "must contain one counter like {0000}"),
    ("integer", {"default": "'abc'"}, "default", "The formula gives text, but a number is needed (line 1, column 1)"),
    ("roll_up_summary", {"summary.function": "sum", "summary.object": "deal"}, "summary.object",
     "'deal' has no master-detail field pointing to 'equipment'"),
])
def test_a_refused_field_keeps_every_value(equipment, admin_pages, kind, data, field, message):
    form = dict(data, label="My field", api_name="my_field", help_text="Some help")
    r = admin_pages.post(f"/setup/objects/equipment/fields/new?type={kind}", form)
    assert r.status_code == 422
    html = _text(r)
    shown = _error(html, field)
    assert shown and message in shown, (shown, html[html.find("error-summary"):][:1500])
    assert 'value="My field"' in html and 'value="my_field"' in html and 'value="Some help"' in html
    for key, value in data.items():
        if value and not key.startswith("summary.") and key not in ("formula", "default", "target"):
            assert f'value="{value}"' in html, key
    if kind in ("formula",) or field == "default":
        assert f">{data[field]}</textarea>" in html
    assert _field(equipment, "equipment", "my_field") is None


def test_edit_a_field_and_change_its_type(admin_pages, crm_pages):
    page = admin_pages.get("/setup/objects/deal/fields/amount")
    assert page.status_code == 200 and 'name="scale" value="2"' in page.text.replace(' id="f-scale"', "")
    r = admin_pages.post("/setup/objects/deal/fields/amount", {"label": "Deal amount", "scale": "0",
                                                               "currency": "EUR"})
    assert r.status_code == 303
    stored = _field(crm_pages, "deal", "amount")
    assert stored["label"] == "Deal amount" and stored["scale"] == 0 and stored["currency"] == "EUR"
    assert stored["filterable"] is True                     # keys the editor does not show are kept
    crm_pages.post("/api/v1/records/deal", json={"name": "No amount", "stage": "New"})
    r = admin_pages.post("/setup/objects/deal/fields/amount", {"label": "Deal amount", "required": "on"})
    assert r.status_code == 422 and "cannot be required: 1 record(s) have no value" in _error(_text(r), "required")
    r = admin_pages.post("/setup/objects/account/fields/website?type=long_text", {"label": "Website notes"})
    assert r.status_code == 303
    assert _field(crm_pages, "account", "website")["type"] == "long_text"


def test_delete_a_field_shows_what_it_affects(admin_pages, crm_pages):
    layout = {"name": "default", "sections": [{"label": "Main", "fields": ["name", "amount", "stage"]}]}
    view = {"name": "big", "columns": ["name", "amount"], "order_by": "-amount"}
    rule = {"name": "positive", "condition": "quantity < 0", "message": "No.", "field": "amount"}
    for kind, item in (("layouts", layout), ("list_views", view), ("validation_rules", rule)):
        assert crm_pages.post(f"/api/v1/objects/deal/{kind}", json=item).status_code == 201
    crm_pages.post("/api/v1/records/deal", json={"name": "A", "stage": "New", "amount": 5})
    page = _text(admin_pages.get("/setup/objects/deal/fields/amount/delete"))
    assert "1 record has a value in it" in page and "taken off the layouts: default" in page
    assert "taken out of the list views: big" in page and "move to the top of the form: positive" in page
    r = admin_pages.post("/setup/objects/deal/fields/amount/delete", {})
    assert r.status_code == 303
    doc = _object(crm_pages, "deal")
    assert doc["layouts"][0]["sections"][0]["fields"] == ["name", "stage"]
    assert doc["list_views"][0]["columns"] == ["name"] and "order_by" not in doc["list_views"][0]
    assert "field" not in doc["validation_rules"][0]
    fields = _text(admin_pages.get("/setup/objects/deal/fields"))
    assert "Archived fields" in fields and "/setup/objects/deal/fields/amount/restore" in fields
    assert admin_pages.post("/setup/objects/deal/fields/amount/restore", {}).status_code == 303
    assert crm_pages.get("/api/v1/records/deal").get_json()["records"][0]["amount"] == 5
    # a field a formula reads cannot go
    assert crm_pages.post("/api/v1/objects/deal/fields", json={"api_name": "double", "type": "formula",
                                                                 "formula": "quantity * 2"}).status_code == 201
    page = _text(admin_pages.get("/setup/objects/deal/fields/quantity/delete"))
    assert "It cannot be deleted yet:" in page and "formula field deal.double" in page
    r = admin_pages.post("/setup/objects/deal/fields/quantity/delete", {})
    assert r.status_code == 422 and _field(crm_pages, "deal", "quantity") is not None


# -- layouts, list views, validation rules -------------------------------------------------------------------
def test_layout_editor_saves_sections(admin_pages, crm_pages):
    page = _text(admin_pages.get("/setup/objects/deal/layouts"))
    assert "This object has no layout yet" in page and 'name="sections.0.fields"' in page
    data = {"name": "default", "label": "Standard", "sections.0.label": "Deal", "sections.0.label_i18n.zh_CN": "商机",
            "sections.0.columns": "2", "sections.0.fields": "name\namount\nstage", "sections.1.label": "More",
            "sections.1.columns": "1", "sections.1.fields": "close_date\nnotes\namount",
            "sections.2.label": "", "sections.2.fields": ""}
    r = admin_pages.post("/setup/objects/deal/layouts", data)
    assert r.status_code == 303 and r.headers["Location"] == "/setup/objects/deal/layouts?layout=default"
    layout = _object(crm_pages, "deal")["layouts"][0]
    assert layout == {"name": "default", "label": "Standard", "sections": [
        {"label": "Deal", "label_i18n": {"zh_CN": "商机"}, "columns": 2, "fields": ["name", "amount", "stage"]},
        {"label": "More", "columns": 1, "fields": ["close_date", "notes"]}]}     # a field is placed once
    form = admin_pages.get("/o/deal/new").text
    assert form.index('name="amount"') < form.index('name="close_date"')
    r = admin_pages.post("/setup/objects/deal/layouts", dict(data, **{"sections.1.fields": "close_dat"}))
    assert r.status_code == 422
    html = _text(r)
    assert "unknown field 'close_dat' (did you mean 'close_date'?)" in html and ">close_dat</textarea>" in html
    r = admin_pages.post("/setup/objects/deal/layouts", dict(data, _add_section="1"))
    assert r.status_code == 200 and 'name="sections.2.fields"' in r.text        # without JavaScript
    assert admin_pages.get("/setup/objects/deal/layouts?new=mobile").status_code == 200
    assert admin_pages.post("/setup/objects/deal/layouts", dict(data, name="mobile")).status_code == 303
    assert admin_pages.post("/setup/objects/deal/layouts/mobile/delete", {}).status_code == 303
    assert [lay["name"] for lay in _object(crm_pages, "deal")["layouts"]] == ["default"]


def test_list_views(admin_pages, crm_pages):
    data = {"name": "big_deals", "label": "Big deals", "label_i18n.zh_CN": "大额商机",
            "columns": ["amount", "name", "stage"],
            "where": "amount > 1000", "order_by": "-amount"}
    r = admin_pages.post("/setup/objects/deal/list_views/new", data)
    assert r.status_code == 303
    view = _object(crm_pages, "deal")["list_views"][0]
    assert view == {"name": "big_deals", "label": "Big deals", "label_i18n": {"zh_CN": "大额商机"},
                    "columns": ["amount", "name", "stage"], "where": "amount > 1000", "order_by": "-amount"}
    assert "Big deals" in admin_pages.get("/o/deal").text
    r = admin_pages.post("/setup/objects/deal/list_views/new", dict(data, name="other", where="amount > 'x' &&"))
    assert r.status_code == 422
    html = _text(r)
    assert "(line 1, column" in _error(html, "where") and ">amount > 'x' &&</textarea>" in html
    assert 'value="大额商机"' in html
    r = admin_pages.post("/setup/objects/deal/list_views/new", dict(data, name="other", columns=[]))
    assert r.status_code == 422 and _error(_text(r), "columns") == "Choose at least one column."
    r = admin_pages.post("/setup/objects/deal/list_views/big_deals", dict(data, label="Large", columns=["nope"]))
    assert r.status_code == 422 and "unknown field 'nope'" in _text(r) and 'value="Large"' in r.text
    r = admin_pages.post("/setup/objects/deal/list_views/big_deals", dict(data, label="Large", where=""))
    assert r.status_code == 303
    view = _object(crm_pages, "deal")["list_views"][0]
    assert view["label"] == "Large" and "where" not in view
    assert admin_pages.post("/setup/objects/deal/list_views/big_deals/delete", {}).status_code == 303
    assert _object(crm_pages, "deal")["list_views"] == []


def test_validation_rules(admin_pages, crm_pages):
    data = {"name": "no_negative", "condition": "amount < 0", "message": "The amount cannot be negative.",
            "field": "amount", "active": "on"}
    assert admin_pages.post("/setup/objects/deal/validation_rules/new", data).status_code == 303
    r = admin_pages.post("/o/deal/new", {"name": "X", "stage": "New", "amount": "-5"})
    assert r.status_code == 422 and _error(_text(r), "amount") == "The amount cannot be negative."
    r = admin_pages.post("/setup/objects/deal/validation_rules/new", dict(data, name="bad", condition="amount + 1"))
    assert r.status_code == 422 and "boolean" in _error(_text(r), "condition")
    r = admin_pages.post("/setup/objects/deal/validation_rules/new", dict(data, name="Bad Name"))
    assert r.status_code == 422 and "lowercase snake_case" in _error(_text(r), "name")
    r = admin_pages.post("/setup/objects/deal/validation_rules/no_negative", dict(data, message=""))
    assert r.status_code == 422 and _error(_text(r), "message") == "Enter the message users see."
    assert ">amount < 0</textarea>" in _text(r)
    r = admin_pages.post("/setup/objects/deal/validation_rules/no_negative", dict(data, active=""))
    assert r.status_code == 303 and _object(crm_pages, "deal")["validation_rules"][0]["active"] is False
    assert admin_pages.post("/o/deal/new", {"name": "X", "stage": "New", "amount": "-5"}).status_code == 303
    assert admin_pages.post("/setup/objects/deal/validation_rules/no_negative/delete", {}).status_code == 303
    assert _object(crm_pages, "deal")["validation_rules"] == []


# -- history and rollback -------------------------------------------------------------------------------------
def test_history_and_rollback(equipment, admin_pages):
    r = admin_pages.post("/setup/objects/equipment/fields/new?type=text", {"label": "Serial", "api_name": "serial"})
    assert r.status_code == 303
    equipment.post("/api/v1/records/equipment", json={"name": "Lathe", "serial": "S-1"})
    assert admin_pages.post("/setup/objects/equipment", {"label": "Machine", "sharing": "private"}).status_code == 303
    page = _text(admin_pages.get("/setup/objects/equipment/history"))
    assert "Field 'serial' added" in page and "Details changed" in page and "Object created" in page
    assert "admin ·" in page and 'class="d-add">+' in page
    assert "These fields are archived with their values: serial." in page     # the confirmation says it
    r = admin_pages.post("/setup/objects/equipment/rollback", {"version": "1"})
    assert r.status_code == 303 and r.headers["Location"] == "/setup/objects/equipment/history"
    doc = _object(equipment, "equipment")
    assert doc["label"] == "Equipment" and doc["fields"] == [] and doc["version"] == 4
    assert "Rolled back to version 1" in _text(admin_pages.get("/setup/objects/equipment/history"))
    assert admin_pages.post("/setup/objects/equipment/rollback", {"version": "2"}).status_code == 303
    assert equipment.get("/api/v1/records/equipment").get_json()["records"][0]["serial"] == "S-1"
    assert admin_pages.post("/setup/objects/equipment/rollback", {"version": "x"}).status_code == 400
    r = admin_pages.post("/setup/objects/equipment/rollback", {"version": "99"})
    assert r.status_code == 404


# -- the formula editor's endpoints ----------------------------------------------------------------------------
def _check(pages, **body):
    r = pages.client.post("/setup/formula/check", json=body, headers={"X-CSRFToken": pages.token(),
                                                                      "Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.get_json()


def test_formula_check_and_catalogue(admin_pages, crm_pages):
    assert _check(admin_pages, object="deal", formula="amount * 2") == {"ok": True, "return_type": "number",
                                                                         "label": "Number"}
    out = _check(admin_pages, object="deal", formula="amount +\n  amout")
    assert out["ok"] is False and out["error"]["line"] == 2 and out["error"]["column"] == 3
    assert "Did you mean 'amount'?" in out["error"]["message"]
    out = _check(admin_pages, object="deal", formula="amount", return_type="boolean")
    assert out["ok"] is False and "boolean" in out["error"]["message"]
    assert _check(admin_pages, object="deal", formula="  ") == {"ok": False, "empty": True}
    assert _check(admin_pages, object="deal", formula="amount > 1", return_type="checkbox")["ok"] is True
    r = admin_pages.client.post("/setup/formula/check", json={"object": "nope", "formula": "1"},
                                headers={"X-CSRFToken": admin_pages.token(), "Accept": "application/json"})
    assert r.status_code == 404 and r.get_json()["error"]["message"] == "Unknown object 'nope'."
    catalog = admin_pages.get("/setup/formula/catalog?object=deal").get_json()
    paths = {f["path"]: f for f in catalog["fields"]}
    assert paths["amount"]["type"] == "number" and paths["account"]["type"] == "lookup"
    assert paths["account.industry"]["label"] == "Account › Industry"
    sigs = {f["name"]: f["signature"] for f in catalog["functions"]}
    assert sigs["LEFT"] == "LEFT(text, number) → text" and sigs["IF"] == "IF(condition, then, else)"
    assert sigs["FIND"] == "FIND(text, text, [number]) → number" and sigs["MAX"] == "MAX(number, …) → number"


# -- accessibility --------------------------------------------------------------------------------------------
def test_setup_pages_follow_the_rules(admin_pages, crm_pages):
    failed = admin_pages.post("/setup/objects/deal/fields/new?type=picklist",
                              {"label": "", "api_name": "x", "options.0.value": "A", "options.1.value": "A"})
    assert failed.status_code == 422
    urls = ["/setup/objects", "/setup/objects/new", "/setup/objects/deal", "/setup/objects/deal/fields",
            "/setup/objects/deal/fields/new", "/setup/objects/deal/fields/new?type=formula",
            "/setup/objects/deal/fields/new?type=roll_up_summary", "/setup/objects/deal/fields/stage",
            "/setup/objects/deal/fields/amount/delete", "/setup/objects/deal/delete", "/setup/objects/deal/layouts",
            "/setup/objects/deal/list_views", "/setup/objects/deal/list_views/new",
            "/setup/objects/deal/validation_rules", "/setup/objects/deal/validation_rules/new",
            "/setup/objects/deal/history"]
    pages = {url: admin_pages.get(url).text for url in urls}
    pages["failed field"] = failed.text
    problems = {name: check_page(html) for name, html in pages.items()}
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}
