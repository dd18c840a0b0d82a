"""Names and defaults the database would refuse, or misread, are refused at save time (issue 8).

Each case goes through the HTTP API on SQLite and PostgreSQL and asserts the exact code and
message; nothing may reach the database (no 500, no table or column created).
"""
from __future__ import annotations

import pytest
from sqlalchemy import inspect

THING = "objects.thing"
SNAKE = "must be lowercase snake_case: a letter, then letters, digits or _"
SNAKE_40 = "must be lowercase snake_case of at most 40 characters: a letter, then letters, digits or _"


def _field(**doc):
    return {"api_name": "thing", "fields": [doc]}


BAD_DOCUMENTS = [
    # (document, message)
    # A final newline: "$" in a pattern matches before it.
    ({"api_name": "thing\n"},
     "object.api_name: api_name 'thing\\n' must be lowercase snake_case: a letter, then letters, digits or _ "
     "(try 'thing')"),
    (_field(api_name="code\n", type="text"),
     f"{THING}.fields[0].api_name: api_name 'code\\n' must be lowercase snake_case: a letter, then letters, "
     "digits or _ (try 'code')"),
    ({"api_name": "thing", "validation_rules": [{"name": "rule\n", "condition": "FALSE", "message": "m"}]},
     f"{THING}.validation_rules[0].name: {SNAKE} (got \"rule\\n\")"),
    ({"api_name": "thing", "list_views": [{"name": "all_things\n", "columns": ["name"]}]},
     f"{THING}.list_views[0].name: {SNAKE} (got \"all_things\\n\")"),
    ({"api_name": "thing", "layouts": [{"name": "main\n", "sections": []}]},
     f"{THING}.layouts[0].name: {SNAKE} (got \"main\\n\")"),
    (_field(api_name="price", type="currency", currency="EUR\n"),
     f"{THING}.fields.price.currency: must be a currency code of three capital letters, such as EUR "
     "(got \"EUR\\n\")"),
    (_field(api_name="acc", type="lookup", target="account\n"),
     f"{THING}.fields.acc.target: {SNAKE_40} (got \"account\\n\")"),
    (_field(api_name="acc", type="lookup", target="account", relationship_name="things\n"),
     f"{THING}.fields.acc.relationship_name: {SNAKE_40} (got \"things\\n\")"),
    ({"api_name": "thing", "label_i18n": {"zh_CN\n": "东西"}},
     f"{THING}.label_i18n: must be a locale such as zh_CN (got \"zh_CN\\n\")"),
    (_field(api_name="code", type="text", help_text_i18n={"en\n": "Help"}),
     f"{THING}.fields.code.help_text_i18n: must be a locale such as zh_CN (got \"en\\n\")"),
    # PostgreSQL's hidden columns, and the system fields, as field names.
    *[(_field(api_name=name, type="text"),
       f"{THING}.fields.{name}.api_name: api_name '{name}' is the name of a PostgreSQL system column; "
       "choose another name")
      for name in ("ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid")],
    (_field(api_name="row_version", type="integer"),
     f"{THING}.fields.row_version.api_name: api_name 'row_version' is a system field; every record has it already"),
    # The archive naming scheme (zz_<field>_v<N>, zz_<object>_v<N>).
    (_field(api_name="zz_amount_v2", type="number"),
     f"{THING}.fields.zz_amount_v2.api_name: api_name 'zz_amount_v2' must not start with 'zz_': that prefix is "
     "reserved for archived fields and objects"),
    ({"api_name": "zz_thing_v1"},
     "object.api_name: api_name 'zz_thing_v1' must not start with 'zz_': that prefix is reserved for archived "
     "fields and objects"),
    # An explicit physical column follows the same rules and may not be shared.
    (_field(api_name="code", type="text", column="xmin"),
     f"{THING}.fields.code.column: column 'xmin' is the name of a PostgreSQL system column; choose another name"),
    (_field(api_name="code", type="text", column="id"),
     f"{THING}.fields.code.column: column 'id' is a system field; every record has it already"),
    (_field(api_name="code", type="text", column="zz_code_v1"),
     f"{THING}.fields.code.column: column 'zz_code_v1' must not start with 'zz_': that prefix is reserved for "
     "archived fields and objects"),
    (_field(api_name="code", type="text", column="code\n"),
     f"{THING}.fields.code.column: column 'code\\n' must be lowercase snake_case: a letter, then letters, digits "
     "or _ (try 'code')"),
    ({"api_name": "thing", "fields": [{"api_name": "code", "type": "text"},
                                      {"api_name": "other", "type": "text", "column": "code"}]},
     f"{THING}.fields.other.column: column 'code' is already used by field 'code'; choose another column"),
    # Constant defaults that do not fit the field.
    (_field(api_name="code", type="text", max_length=5, default="'toolong'"),
     f"{THING}.fields.code.default: the default 'toolong' is not a valid value for this field: Longer than "
     "maximum length 5. Change the default or the field."),
    (_field(api_name="code", type="text", max_length=3, default='"a\\tbc"'),
     f"{THING}.fields.code.default: the default 'a\\tbc' is not a valid value for this field: Longer than "
     "maximum length 3. Change the default or the field."),
    (_field(api_name="code", type="text", default="'" + "x" * 300 + "'"),
     f"{THING}.fields.code.default: the default '{'x' * 37}...' is not a valid value for this field: Longer than "
     "maximum length 255. Change the default or the field."),
    (_field(api_name="stage", type="picklist", options=[{"value": "New"}], default="'Old'"),
     f"{THING}.fields.stage.default: the default 'Old' is not a valid value for this field: Must be one of: New. "
     "Change the default or the field."),
    (_field(api_name="mail", type="email", default="'nobody'"),
     f"{THING}.fields.mail.default: the default 'nobody' is not a valid value for this field: Not a valid email "
     "address. Change the default or the field."),
    (_field(api_name="price", type="currency", precision=5, scale=2, default="1000"),
     f"{THING}.fields.price.default: the default '1000' is not a valid value for this field: Must have at most "
     "3 digits before the decimal point. Change the default or the field."),
    (_field(api_name="qty", type="integer", default="99999999999999999999"),
     f"{THING}.fields.qty.default: the default '99999999999999999999' is not a valid value for this field: "
     "Integer is out of range. Change the default or the field."),
]


@pytest.mark.parametrize("doc, message", BAD_DOCUMENTS)
def test_refused_documents(api, services, doc, message):
    r = api.post("/api/v1/objects", json=doc)
    assert r.status_code == 422, r.get_json()
    err = r.get_json()["error"]
    assert err["code"] == "metadata.E001"
    assert err["message"] == message
    with services.engine.connect() as conn:
        assert not [t for t in inspect(conn).get_table_names() if "thing" in t]


def test_refused_field_added_to_an_existing_object(api, services):
    assert api.post("/api/v1/objects", json={"api_name": "thing"}).status_code == 201
    r = api.post("/api/v1/objects/thing/fields", json={"api_name": "xmin", "type": "integer"})
    assert r.status_code == 422
    assert r.get_json()["error"]["message"] == (
        f"{THING}.fields.xmin.api_name: api_name 'xmin' is the name of a PostgreSQL system column; "
        "choose another name")
    with services.engine.connect() as conn:
        assert "xmin" not in {c["name"] for c in inspect(conn).get_columns("obj_thing")}


GOOD_DEFAULTS = [
    # (field document, body, stored value): constant defaults that fit are kept and used.
    ({"api_name": "code", "type": "text", "max_length": 5, "default": "'abcde'"}, "code", "abcde"),
    ({"api_name": "code", "type": "text", "max_length": 4, "default": "'it\\'s'"}, "code", "it's"),
    ({"api_name": "stage", "type": "picklist", "options": [{"value": "New"}], "default": "'New'"}, "stage", "New"),
    ({"api_name": "price", "type": "currency", "precision": 5, "scale": 2, "default": "999.99"}, "price", 999.99),
    ({"api_name": "qty", "type": "integer", "default": "-3"}, "qty", -3),
    ({"api_name": "code", "type": "text", "max_length": 5, "default": "UPPER('abc')"}, "code", "ABC"),
]


@pytest.mark.parametrize("fdoc, field, value", GOOD_DEFAULTS)
def test_defaults_that_fit(api, fdoc, field, value):
    r = api.post("/api/v1/objects", json={"api_name": "thing", "fields": [fdoc]})
    assert r.status_code == 201, r.get_json()
    r = api.post("/api/v1/records/thing", json={"name": "one"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()[field] == value
