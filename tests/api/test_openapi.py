"""The OpenAPI 3.1 document: it follows the metadata, describes every route, takes its metadata
bodies from the JSON Schemas, and says of each parameter what the server really accepts."""
from __future__ import annotations

import re

import jsonschema
from openapi_spec_validator import validate

from engine.metadata.checks import load_schema
from engine.metadata.field_types import field_types
from tests.conftest import ACCOUNT, DEAL

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _doc(api):
    r = api.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    validate(doc)
    return doc


def test_openapi_follows_metadata(crm):
    doc = _doc(crm)
    assert doc["openapi"] == "3.1.0"
    deal = doc["components"]["schemas"]["Deal"]["properties"]
    assert deal["stage"]["enum"] == ["New", "Won", "Lost"]
    assert deal["number"]["readOnly"] is True
    assert "/api/v1/records/deal/{id}" in doc["paths"]
    assert doc["components"]["schemas"]["DealInput"]["required"] == ["stage"]
    crm.post("/api/v1/objects/deal/fields", json={"api_name": "region", "type": "text"})
    doc2 = _doc(crm)
    assert "region" in doc2["components"]["schemas"]["Deal"]["properties"]
    crm.delete("/api/v1/objects/deal/fields/region")
    doc3 = _doc(crm)
    assert "region" not in doc3["components"]["schemas"]["Deal"]["properties"]


def test_openapi_needs_a_token(anon_api):
    assert anon_api.get("/api/v1/openapi.json").status_code == 401


def test_home_and_health(crm):
    r = crm.client.get("/")
    assert r.status_code == 200 and b"<h1>Tessera</h1>" in r.data and b"deal" not in r.data
    assert crm.client.get("/healthz").get_json()["ok"] is True


def _route_operations(app, objects):
    """(path with '{}' for each parameter, METHOD) of every /api/v1 route; a record route once per object."""
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        paths = [rule.rule]
        per_object = re.match(r"^/api/v1/records/<[^>]+>", rule.rule)
        if per_object:
            paths = [f"/api/v1/records/{o}" + rule.rule[per_object.end():] for o in objects]
        for path in paths:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                out.add((re.sub(r"<[^>]+>", "{}", path), method))
    return out


def _documented_operations(doc):
    return {(re.sub(r"\{[^}]+\}", "{}", path), method.upper())
            for path, item in doc["paths"].items() for method in item if method in HTTP_METHODS}


def test_every_api_route_is_documented(crm, app):
    doc = _doc(crm)
    routes = _route_operations(app, ["account", "deal"])
    documented = _documented_operations(doc)
    assert sorted(routes - documented) == []
    assert sorted(documented - routes) == []     # and nothing is documented that does not exist


def test_metadata_bodies_come_from_the_json_schemas(crm):
    doc = _doc(crm)
    comps = doc["components"]["schemas"]
    for name, comp in [("object", "MetaObject"), ("validation_rule", "MetaValidationRule"),
                       ("layout", "MetaLayout"), ("list_view", "MetaListView")]:
        source = load_schema(name)
        assert set(comps[comp]["properties"]) == set(source["properties"]), name
        assert comps[comp]["required"] == source["required"], name
        assert comps[comp]["additionalProperties"] is False, name

    def body(path, method):
        return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]

    assert body("/api/v1/objects", "post") == {"$ref": "#/components/schemas/MetaObject"}
    assert body("/api/v1/objects/{object}", "patch") == {"$ref": "#/components/schemas/MetaObjectPatch"}
    assert body("/api/v1/objects/{object}/fields", "post") == {"$ref": "#/components/schemas/MetaField"}
    assert body("/api/v1/objects/{object}/layouts/{name}", "put") == {"$ref": "#/components/schemas/MetaLayoutPut"}
    variants = {v["properties"]["type"]["const"]: v for v in comps["MetaField"]["oneOf"]}
    assert set(variants) == set(field_types.keys())
    assert variants["currency"]["properties"]["currency"] == field_types.get("currency").options_schema["currency"]
    assert variants["formula"]["required"] == ["api_name", "type", "formula"]
    assert set(load_schema("field")["properties"]) <= set(variants["text"]["properties"])

    def check(comp, instance):
        return jsonschema.Draft202012Validator(dict(doc, **{"$ref": f"#/components/schemas/{comp}"})).is_valid(
            instance)

    assert check("MetaObject", ACCOUNT) and check("MetaObject", DEAL)
    assert not check("MetaObject", {"api_name": "Big Deal"})
    assert not check("MetaObject", {"api_name": "deal", "colour": "red"})
    assert not check("MetaObject", {"api_name": "deal", "fields": [{"api_name": "x", "type": "curency"}]})
    assert not check("MetaObject", {"api_name": "deal", "fields": [{"api_name": "x", "type": "text", "scale": 2}]})
    assert check("MetaValidationRule", {"name": "no_loss", "condition": "amount < 0", "message": "No."})
    assert not check("MetaValidationRule", {"name": "no_loss", "condition": "amount < 0"})
    assert check("MetaListViewPut", {"columns": ["name"]}) and not check("MetaListViewPut", {"columns": []})


def _param(doc, path, name, method="get"):
    for p in doc["paths"][path][method].get("parameters", []) + doc["paths"][path].get("parameters", []):
        if p["name"] == name:
            return p["schema"]
    raise KeyError(name)


# (query parameter, value, accepted): the document and the server agree on each
LIST_PARAMS = [
    ("order_by", "-amount,name", True),
    ("order_by", "+close_date,-id", True),
    ("order_by", "", True),
    ("order_by", "tags", False),                                   # a multi-picklist cannot be sorted
    ("order_by", "bogus", False),
    ("order_by", "name,amount,stage,close_date,quantity,probability", False),   # at most 5
    ("fields", "name,amount,number", True),
    ("fields", "", True),
    ("fields", "name,nope", False),
    ("cursor", "", True),
    ("cursor", "not a cursor!", False),
    ("limit", "200", True),
    ("limit", "0", False),
    ("limit", "201", False),
    ("where", "amount > 5", True),
    ("where", "amount > 5\x00", False),
    ("with_total", "true", True),
]


# (If-Match value, accepted)
IF_MATCH = [('"1"', True), ("1", True), ('W/"1"', True), ("*", True), ('"1', True), ("abc", False), ("", False)]
# (audit since= value, accepted)
SINCE = [("2026-01-31", True), ("2026-01-31T10:00:00Z", True), ("2026-01-31T10:00:00.5+02:00", True),
         ("yesterday", False), ("2026-02-30", False)]


def _valid(schema, value):
    checker = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return checker.is_valid(value)


def test_parameters_say_what_the_server_accepts(crm):
    """Each table row: the document's verdict on a value is the server's (one app for all rows)."""
    doc = _doc(crm)
    for name, value, accepted in LIST_PARAMS:
        schema = _param(doc, "/api/v1/records/deal", name)
        instance = int(value) if schema.get("type") == "integer" else \
            value == "true" if schema.get("type") == "boolean" else value
        assert _valid(schema, instance) is accepted, (name, value)
        r = crm.get("/api/v1/records/deal", query_string={name: value})
        assert r.status_code == (200 if accepted else 400), (name, value, r.get_json())
    schema = next(p["schema"] for p in doc["paths"]["/api/v1/records/deal/{id}"]["patch"]["parameters"]
                  if p["name"] == "If-Match")
    rec = crm.post("/api/v1/records/deal", json={"stage": "New"}).get_json()
    for value, accepted in IF_MATCH:
        assert _valid(schema, value) is accepted, value
        r = crm.patch(f"/api/v1/records/deal/{rec['id']}", json={"stage": "Won"}, headers={"If-Match": value})
        assert r.status_code in ((200, 412) if accepted else (400,)), (value, r.get_json())
    schema = _param(doc, "/api/v1/audit", "since")
    for value, accepted in SINCE:
        assert _valid(schema, value) is accepted, value
        r = crm.get("/api/v1/audit", query_string={"since": value})
        assert r.status_code == (200 if accepted else 400), (value, r.get_json())


def test_record_bodies_carry_the_field_rules(crm):
    comps = _doc(crm)["components"]["schemas"]
    deal = comps["DealInput"]["properties"]
    assert deal["contact_email"]["anyOf"][0] == {"type": "string", "format": "email", "maxLength": 255}
    assert deal["amount"]["anyOf"][0]["maximum"] < 10 ** 16 and deal["amount"]["anyOf"][0]["minimum"] > -10 ** 16
    assert deal["tags"]["anyOf"][0] == {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}}
    assert deal["stage"] == {"type": "string", "enum": ["New", "Won", "Lost"]}
    assert comps["AccountInput"]["properties"]["website"]["anyOf"][0]["pattern"].startswith("^(http|https)://")
    assert "number" not in deal and comps["DealInput"]["additionalProperties"] is False
    assert deal["notes"]["anyOf"][0]["allOf"] == [{"pattern": "^[^\\x00]*$"}]   # NUL is refused in any body
    assert comps["DealInput"]["properties"]["name"]["pattern"] == "^[^\\x00]*$"


def test_405_names_the_allowed_methods(crm):
    r = crm.put("/api/v1/objects", json={})
    assert r.status_code == 405
    assert r.get_json()["error"] == {"code": "api.E021", "message": "Method PUT is not allowed here.", "fields": {}}
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    r = crm.post("/api/v1/records/deal/some-id/history")
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
