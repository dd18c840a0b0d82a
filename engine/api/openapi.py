"""OpenAPI 3.1 document generated from the current metadata snapshot."""
from __future__ import annotations

from flask import g, jsonify

from engine import __version__

from . import api

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message", "fields"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                   "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                   "line": {"type": "integer"}, "column": {"type": "integer"}, "position": {"type": "integer"},
                   "hint": {"type": "string"}}}}}

NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_DT = {"type": ["string", "null"], "format": "date-time"}
SYSTEM_PROPS = {
    "id": {"type": "string", "readOnly": True},
    "name": {"type": ["string", "null"], "maxLength": 255},
    "owner_id": {"type": ["string", "null"]},
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "created_by": {**NULLABLE_STR, "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_by": {**NULLABLE_STR, "readOnly": True},
    "row_version": {"type": "integer", "readOnly": True},
    "deleted_at": {**NULLABLE_DT, "readOnly": True},
}


def _errors(*codes):
    names = {400: "Malformed request", 401: "No or bad token", 403: "Not allowed", 404: "Not found",
             409: "Conflict", 412: "Stale If-Match", 413: "Body too large", 422: "Validation failed"}
    return {str(c): {"description": names[c], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def _field_schema(rt, fdef):
    ftype = rt.ftypes[fdef.api_name]
    schema = ftype.openapi_schema(fdef)
    if fdef.type == "formula":
        ftypes = {"number": {"type": "number"}, "text": {"type": "string"}, "boolean": {"type": "boolean"},
                  "date": {"type": "string", "format": "date"},
                  "datetime": {"type": "string", "format": "date-time"}}
        rtype = rt.formulas.types.get(fdef.api_name)
        base = ftypes.get(rtype, {})
        schema = {"anyOf": [base, {"type": "null"}]} if base else {}
        schema["readOnly"] = True
    if fdef.get("label"):
        schema = dict(schema, title=fdef.label)
    return schema


def build_openapi(snapshot):
    schemas = {"Error": ERROR}
    paths = {}
    for name, rt in sorted(snapshot.objects.items()):
        cname = "".join(p.title() for p in name.split("_"))
        props = dict(SYSTEM_PROPS)
        writable = {"name": SYSTEM_PROPS["name"], "owner_id": {"type": "string"}}
        required = []
        for f in rt.odef.fields:
            props[f.api_name] = _field_schema(rt, f)
            if rt.ftypes[f.api_name].writable:
                writable[f.api_name] = {k: v for k, v in props[f.api_name].items() if k != "readOnly"}
                if f.required:
                    required.append(f.api_name)
        schemas[cname] = {"type": "object", "title": rt.odef.label, "properties": props}
        schemas[f"{cname}Input"] = {"type": "object", "properties": writable, "required": required,
                                    "additionalProperties": False}
        patch = {"type": "object", "properties": writable, "additionalProperties": False}
        schemas[f"{cname}Patch"] = patch
        ref = {"$ref": f"#/components/schemas/{cname}"}
        page = {"type": "object", "required": ["records", "next_cursor"], "properties": {
            "records": {"type": "array", "items": ref}, "next_cursor": NULLABLE_STR,
            "total": {"type": "integer"}}}
        json_of = lambda s: {"application/json": {"schema": s}}  # noqa: E731
        list_params = [
            {"name": "where", "in": "query", "schema": {"type": "string"},
             "description": "A boolean formula, e.g. amount > 1000 && stage = 'Won'"},
            {"name": "order_by", "in": "query", "schema": {"type": "string"}, "description": "e.g. -amount,name"},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            {"name": "fields", "in": "query", "schema": {"type": "string"}},
            {"name": "with_total", "in": "query", "schema": {"type": "boolean"}},
            {"name": "deleted", "in": "query", "schema": {"type": "boolean"},
             "description": "list the recycle bin"},
        ]
        tag = [rt.odef.label]
        paths[f"/api/v1/records/{name}"] = {
            "get": {"tags": tag, "operationId": f"list_{name}", "summary": f"List {rt.odef.plural_label}",
                    "parameters": list_params,
                    "responses": {"200": {"description": "A page of records", "content": json_of(page)},
                                  **_errors(400, 401, 403, 404, 422)}},
            "post": {"tags": tag, "operationId": f"create_{name}",
                     "summary": f"Create a {rt.odef.label} (object) or many (array, all or nothing)",
                     "requestBody": {"required": True, "content": json_of({"oneOf": [
                         {"$ref": f"#/components/schemas/{cname}Input"},
                         {"type": "array", "minItems": 1,
                          "items": {"$ref": f"#/components/schemas/{cname}Input"}}]})},
                     "responses": {"201": {"description": "Created", "content": json_of({"anyOf": [ref, {
                         "type": "object", "properties": {"records": {"type": "array", "items": ref}}}]})},
                         **_errors(400, 401, 403, 404, 409, 413, 422)}},
        }
        id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
        paths[f"/api/v1/records/{name}/{{id}}"] = {
            "parameters": id_param,
            "get": {"tags": tag, "operationId": f"get_{name}", "responses": {
                "200": {"description": "The record", "content": json_of(ref)}, **_errors(400, 401, 403, 404)}},
            "patch": {"tags": tag, "operationId": f"update_{name}",
                      "parameters": [{"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                      "requestBody": {"required": True, "content": json_of(
                          {"$ref": f"#/components/schemas/{cname}Patch"})},
                      "responses": {"200": {"description": "Updated", "content": json_of(ref)},
                                    **_errors(400, 401, 403, 404, 409, 412, 413, 422)}},
            "delete": {"tags": tag, "operationId": f"delete_{name}",
                       "parameters": [{"name": "purge", "in": "query", "schema": {"type": "boolean"}}],
                       "responses": {"204": {"description": "Moved to the recycle bin (or purged)"},
                                     **_errors(400, 401, 403, 404)}},
        }
        paths[f"/api/v1/records/{name}/export"] = {
            "get": {"tags": tag, "operationId": f"export_{name}", "summary": "Every visible record, as CSV",
                    "parameters": [p for p in list_params if p["name"] in ("where", "order_by", "fields")],
                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {
                        "type": "string"}}}}, **_errors(400, 401, 403, 404, 422)}}}
        paths[f"/api/v1/records/{name}/{{id}}/restore"] = {
            "parameters": id_param,
            "post": {"tags": tag, "operationId": f"restore_{name}", "responses": {
                "200": {"description": "Restored", "content": json_of(ref)}, **_errors(401, 403, 404, 409)}}}
    obj_json = {"application/json": {"schema": {"type": "object"}}}
    paths["/api/v1/objects"] = {
        "get": {"tags": ["Metadata"], "operationId": "list_objects",
                "responses": {"200": {"description": "Object definitions", "content": obj_json},
                              **_errors(401)}},
        "post": {"tags": ["Metadata"], "operationId": "create_object",
                 "requestBody": {"required": True, "content": obj_json},
                 "responses": {"201": {"description": "Created", "content": obj_json},
                               **_errors(400, 401, 403, 409, 413, 422)}}}
    paths["/api/v1/objects/{object}"] = {
        "parameters": [{"name": "object", "in": "path", "required": True, "schema": {"type": "string"}}],
        "get": {"tags": ["Metadata"], "operationId": "get_object",
                "responses": {"200": {"description": "Definition", "content": obj_json}, **_errors(401, 404)}}}
    paths["/api/v1/objects/{object}/fields"] = {
        "parameters": [{"name": "object", "in": "path", "required": True, "schema": {"type": "string"}}],
        "post": {"tags": ["Metadata"], "operationId": "add_field",
                 "requestBody": {"required": True, "content": obj_json},
                 "responses": {"201": {"description": "Created", "content": obj_json},
                               **_errors(400, 401, 403, 404, 409, 422)}}}
    paths.update(_platform_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tessera API", "version": __version__,
                 "description": f"Generated from metadata version {snapshot.version}."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _platform_paths():
    """Formula check, sign-in and the access-control endpoints."""
    obj = {"type": "object"}
    js = lambda schema: {"application/json": {"schema": schema}}  # noqa: E731
    ok = lambda desc, schema=obj: {"description": desc, "content": js(schema)}  # noqa: E731
    tag = ["Access control"]
    user_in = {"type": "object", "required": ["username", "password"], "properties": {
        "username": {"type": "string"}, "password": {"type": "string"}, "is_admin": {"type": "boolean"},
        "role": {"type": ["string", "null"]}, "manager": {"type": ["string", "null"]},
        "locale": {"enum": ["en", "zh"]}, "active": {"type": "boolean"}}, "additionalProperties": False}
    role_in = {"type": "object", "required": ["api_name"], "properties": {
        "api_name": {"type": "string"}, "label": {"type": "string"}, "parent": {"type": ["string", "null"]}}}
    ps_in = {"type": "object", "required": ["api_name"], "properties": {
        "api_name": {"type": "string"}, "label": {"type": "string"},
        "objects": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {
            "type": "boolean"}}},
        "fields": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {
            "enum": ["hidden", "read", "edit"]}}}}, "additionalProperties": False}
    rule_in = {"type": "object", "required": ["object", "name", "share_with_role", "access"], "properties": {
        "object": {"type": "string"}, "name": {"type": "string"}, "owned_by_role": {"type": "string"},
        "criteria": {"type": "string"}, "include_subordinates": {"type": "boolean"},
        "share_with_role": {"type": "string"}, "share_with_subordinates": {"type": "boolean"},
        "access": {"enum": ["read", "edit"]}}, "additionalProperties": False}
    return {
        "/api/v1/formula/check": {"post": {
            "tags": ["Formulas"], "operationId": "check_formula",
            "requestBody": {"required": True, "content": js({"type": "object", "required": ["object", "formula"],
                                                             "properties": {"object": {"type": "string"},
                                                                            "formula": {"type": "string"}}})},
            "responses": {"200": ok("Return type, or an error with line and column"),
                          **_errors(400, 401, 404, 413)}}},
        "/api/v1/auth/login": {"post": {
            "tags": tag, "operationId": "login", "security": [],
            "requestBody": {"required": True, "content": js({"type": "object", "required": ["username", "password"],
                                                             "properties": {"username": {"type": "string"},
                                                                            "password": {"type": "string"}}})},
            "responses": {"200": ok("A new API token"), **_errors(400, 401, 413),
                          "429": {"description": "Locked after repeated failures",
                                  "content": js({"$ref": "#/components/schemas/Error"})}}}},
        "/api/v1/me": {"get": {"tags": tag, "operationId": "me", "responses": {"200": ok("The caller"),
                                                                               **_errors(401)}}},
        "/api/v1/users": {
            "get": {"tags": tag, "operationId": "list_users", "responses": {"200": ok("Users"), **_errors(401, 403)}},
            "post": {"tags": tag, "operationId": "create_user", "requestBody": {"required": True,
                                                                                 "content": js(user_in)},
                     "responses": {"201": ok("Created"), **_errors(400, 401, 403, 409, 413, 422)}}},
        "/api/v1/roles": {
            "get": {"tags": tag, "operationId": "list_roles", "responses": {"200": ok("Roles"), **_errors(401, 403)}},
            "post": {"tags": tag, "operationId": "create_role", "requestBody": {"required": True,
                                                                                 "content": js(role_in)},
                     "responses": {"201": ok("Created"), **_errors(400, 401, 403, 409, 413, 422)}}},
        "/api/v1/permission_sets": {
            "get": {"tags": tag, "operationId": "list_permission_sets",
                    "responses": {"200": ok("Permission sets"), **_errors(401, 403)}},
            "post": {"tags": tag, "operationId": "create_permission_set",
                     "requestBody": {"required": True, "content": js(ps_in)},
                     "responses": {"201": ok("Created"), **_errors(400, 401, 403, 409, 413, 422)}}},
        "/api/v1/sharing_rules": {
            "get": {"tags": tag, "operationId": "list_sharing_rules",
                    "responses": {"200": ok("Sharing rules"), **_errors(401, 403)}},
            "post": {"tags": tag, "operationId": "create_sharing_rule",
                     "requestBody": {"required": True, "content": js(rule_in)},
                     "responses": {"201": ok("Created"), **_errors(400, 401, 403, 409, 413, 422)}}},
        "/api/v1/audit": {"get": {
            "tags": tag, "operationId": "audit",
            "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("event", "user", "since")]
            + [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": ok("Audit entries, newest first"), **_errors(400, 401, 403)}}},
    }


@api.get("/openapi.json")
def openapi_document():
    cache = g.snapshot.documents
    doc = cache.get("openapi")
    if doc is None:
        doc = cache["openapi"] = build_openapi(g.snapshot)
    return jsonify(doc)
