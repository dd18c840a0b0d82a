"""The OpenAPI paths and schemas of the metadata, access-control and platform routes.

Metadata bodies come from the JSON Schemas in ``engine/metadata/schemas``; the access-control
bodies (users, roles, permission sets, sharing) are written here next to each other.
"""

from __future__ import annotations

import copy

from engine.metadata.checks import SCHEMA_NAMES, load_schema
from engine.metadata.field_types import field_types
from engine.security.admin import NAME as ADMIN_NAME
from engine.security.users import USERNAME_RE

from .openapi_schema import (API_NAME, NULLABLE_STR, NULLABLE_TS, TEXT, TIMESTAMP, _body, _errors, _ok, _op, _path,
                             _query, _ref, _whole)



# -- metadata ------------------------------------------------------------------

_SCHEMA_COMPONENTS = {"object": "MetaObject", "field": "MetaField", "validation_rule": "MetaValidationRule",
                      "layout": "MetaLayout", "list_view": "MetaListView"}


def _from_json_schema(name):
    """One of ``engine/metadata/schemas/*.json`` as an OpenAPI component ($refs rewritten)."""
    def walk(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in ("$schema", "$id"):
                    continue
                if key == "$ref" and isinstance(value, str) and value.startswith("tessera:"):
                    out[key] = f"#/components/schemas/{_SCHEMA_COMPONENTS[value.split(':', 1)[1]]}"
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node
    return walk(copy.deepcopy(load_schema(name)))


def metadata_schemas():
    """Request bodies of the metadata endpoints, generated from the metadata JSON Schemas."""
    out = {_SCHEMA_COMPONENTS[n]: _from_json_schema(n) for n in SCHEMA_NAMES if n != "field"}
    obj = out["MetaObject"]
    obj["properties"]["api_name"] = dict(API_NAME)
    obj["properties"]["fields"] = dict(obj["properties"]["fields"], items=_ref("MetaField"))
    field_base = _from_json_schema("field")
    field_base["properties"]["api_name"] = dict(API_NAME)
    variants, every = [], {}
    for tname, ftype in field_types.items():
        props = dict(field_base["properties"], **copy.deepcopy(ftype.options_schema))
        props["type"] = {"const": tname}
        every.update({k: v for k, v in props.items() if k != "type"})
        variants.append({"type": "object", "title": f"{ftype.label} field",
                         "required": ["api_name", "type", *ftype.required_keys],
                         "properties": props, "additionalProperties": False})
    out["MetaField"] = {"title": field_base.get("title"), "oneOf": variants}
    # PATCH merges into the field; null removes a key (the default formula stays, as null)
    patch_props = {k: {"anyOf": [v, {"type": "null"}]} for k, v in every.items() if k != "api_name"}
    patch_props["type"] = {"enum": list(field_types.keys())}
    patch_props["api_name"] = dict(API_NAME, description="cannot change; if sent, the field's own name")
    out["MetaFieldPatch"] = {"type": "object", "properties": patch_props, "additionalProperties": False}
    patch = copy.deepcopy(obj)
    patch["properties"].pop("fields")
    patch["properties"]["api_name"]["description"] = "cannot change; if sent, the object's own name"
    patch.pop("required", None)
    patch["title"] = "Object definition: the keys to change"
    out["MetaObjectPatch"] = patch
    for kind in ("MetaValidationRule", "MetaLayout", "MetaListView"):
        put = copy.deepcopy(out[kind])   # the name comes from the URL
        put["required"] = [r for r in put.get("required", []) if r != "name"]
        del put["properties"]["name"]
        out[f"{kind}Put"] = put
    out["MetaObjectView"] = {"type": "object", "required": ["api_name", "version", "fields", "updated_at"],
                             "properties": {
        "api_name": {"type": "string"}, "label": {"type": "string"}, "version": {"type": "integer"},
        "fields": {"type": "array", "items": {"type": "object", "required": ["api_name", "type"]}},
        "system_fields": {"type": "array", "items": {"type": "object"}},
        "archived_fields": {"type": "array", "items": {"type": "object", "properties": {
            "api_name": {"type": "string"}, "type": {"type": "string"}, "archived_at": TIMESTAMP}}},
        "updated_at": NULLABLE_TS}}
    out["MetaHistory"] = {"type": "object", "required": ["versions"], "properties": {"versions": {
        "type": "array", "items": {"type": "object", "required": ["version", "action", "created_at"], "properties": {
            "version": {"type": "integer"}, "action": {"type": "string"}, "summary": {"type": "string"},
            "author_id": {**NULLABLE_STR, "description": "administrators only"}, "created_at": TIMESTAMP,
            "doc": {"type": ["object", "null"]}}}}}}
    out.update(_access_schemas())
    return out


def _metadata_paths():
    tag = "Metadata"
    obj = [_path("object", {"type": "string", "maxLength": 200})]
    view = _ref("MetaObjectView")
    admin_write = (400, 401, 403, 404, 409, 413, 422)
    paths = {
        "/api/v1/objects": {
            "get": _op("list_objects", tag, {"200": _ok("Object definitions the reader may read", {
                "type": "object", "required": ["objects"],
                "properties": {"objects": {"type": "array", "items": view}}}), **_errors(401)}),
            "post": _op("create_object", tag, {"201": _ok("Created", view), **_errors(400, 401, 403, 409, 413, 422)},
                        requestBody=_body(_ref("MetaObject"))),
        },
        "/api/v1/objects/{object}": {
            "parameters": obj,
            "get": _op("get_object", tag, {"200": _ok("Definition", view), **_errors(401, 404)}),
            "patch": _op("update_object", tag, {"200": _ok("Updated", view), **_errors(*admin_write)},
                         requestBody=_body(_ref("MetaObjectPatch"))),
            "delete": _op("delete_object", tag, {"204": {"description": "Archived (restore or purge it)"},
                                                 **_errors(401, 403, 404, 409, 422)}),
        },
        "/api/v1/objects/{object}/restore": {"parameters": obj, "post": _op(
            "restore_object", tag, {"200": _ok("Restored", view), **_errors(401, 403, 404, 409, 422)})},
        "/api/v1/objects/{object}/purge": {"parameters": obj, "post": _op(
            "purge_object", tag, {"204": {"description": "Archived object and its data deleted for good"},
                                  **_errors(401, 403, 404)})},
        "/api/v1/objects/{object}/history": {"parameters": obj, "get": _op(
            "object_history", tag, {"200": _ok("Every version, oldest first", _ref("MetaHistory")),
                                    **_errors(401, 404)})},
        "/api/v1/objects/{object}/rollback": {"parameters": obj, "post": _op(
            "rollback_object", tag, {"200": _ok("Rolled back (as a new version)", view), **_errors(*admin_write)},
            requestBody=_body({"type": "object", "required": ["version"], "properties": {
                "version": {"type": "integer", "minimum": 1}}, "additionalProperties": False}))},
        "/api/v1/objects/{object}/fields": {"parameters": obj, "post": _op(
            "add_field", tag, {"201": _ok("The new field"), **_errors(*admin_write)},
            requestBody=_body(_ref("MetaField")))},
        "/api/v1/objects/{object}/fields/{field}": {
            "parameters": obj + [_path("field", {"type": "string", "maxLength": 200})],
            "get": _op("get_field", tag, {"200": _ok("The field"), **_errors(401, 404)}),
            "patch": _op("update_field", tag, {"200": _ok("The field"), **_errors(*admin_write)},
                         requestBody=_body(_ref("MetaFieldPatch"))),
            "delete": _op("delete_field", tag, {"204": {"description": "Archived (restore or purge it)"},
                                                **_errors(401, 403, 404, 409, 422)}),
        },
    }
    for action, summary in (("restore", "Restored"), ("purge", "Archived data deleted for good")):
        ok = {"200": _ok(summary)} if action == "restore" else {"204": {"description": summary}}
        paths[f"/api/v1/objects/{{object}}/fields/{{field}}/{action}"] = {
            "parameters": obj + [_path("field", {"type": "string", "maxLength": 200})],
            "post": _op(f"{action}_field", tag, {**ok, **_errors(401, 403, 404, 409, 422)})}
    for kind, comp in (("validation_rules", "MetaValidationRule"), ("layouts", "MetaLayout"),
                       ("list_views", "MetaListView")):
        listing = {"type": "object", "required": [kind], "properties": {kind: {"type": "array", "items": {
            "type": "object"}}}}
        paths[f"/api/v1/objects/{{object}}/{kind}"] = {
            "parameters": obj,
            "get": _op(f"list_{kind}", tag, {"200": _ok(kind.replace("_", " ").capitalize(), listing),
                                             **_errors(401, 404)}),
            "post": _op(f"add_{kind}", tag, {"201": _ok("Added", _ref(comp)), **_errors(*admin_write)},
                        requestBody=_body(_ref(comp))),
        }
        replace = _op(f"replace_{kind}", tag, {"200": _ok("Replaced", _ref(comp)), **_errors(*admin_write)},
                      requestBody=_body(_ref(f"{comp}Put")))
        paths[f"/api/v1/objects/{{object}}/{kind}/{{name}}"] = {
            "parameters": obj + [_path("name", {"type": "string", "maxLength": 200})],
            "put": replace,
            "patch": dict(replace, operationId=f"patch_{kind}", summary="Same as PUT: replaces the item"),
            "delete": _op(f"delete_{kind}", tag, {"204": {"description": "Removed"},
                                                  **_errors(401, 403, 404, 409, 422)}),
        }
    paths["/api/v1/field_types"] = {"get": _op("list_field_types", tag, {"200": _ok("Field types"),
                                                                         **_errors(401)})}
    return paths


# -- formula check, sign-in, access control ------------------------------------------

def _access_schemas():
    name = {"type": "string", "pattern": _whole(ADMIN_NAME.pattern)}
    user_props = {"username": {"type": "string", "pattern": _whole(USERNAME_RE.pattern)},
                  "password": {"type": "string", "minLength": 8}, "is_admin": {"type": "boolean"},
                  "role": {"type": ["string", "null"]}, "manager": {"type": ["string", "null"]},
                  "locale": {"enum": ["en", "zh", "zh_CN"]}, "active": {"type": "boolean"}}
    rights = {"type": "object", "properties": {r: {"type": "boolean"} for r in (
        "read", "create", "edit", "delete", "view_all", "modify_all")}, "additionalProperties": False}
    permission_set = {"type": "object", "required": ["api_name"], "properties": {
        "api_name": name, "label": {"type": "string"},
        "objects": {"type": "object", "propertyNames": API_NAME, "additionalProperties": rights},
        "fields": {"type": "object", "propertyNames": API_NAME, "additionalProperties": {
            "type": "object", "propertyNames": API_NAME,
            "additionalProperties": {"enum": ["hidden", "read", "edit"]}}}},
        "additionalProperties": False}
    return {
        "UserInput": {"type": "object", "required": ["username", "password"], "properties": user_props,
                      "additionalProperties": False},
        "UserPatch": {"type": "object", "properties": {k: v for k, v in user_props.items() if k != "username"},
                      "additionalProperties": False},
        "RoleInput": {"type": "object", "required": ["api_name"], "properties": {
            "api_name": name, "label": {"type": "string"}, "parent": {"type": ["string", "null"]}},
            "additionalProperties": False},
        "PermissionSetInput": permission_set,
        "PermissionSetPut": dict(permission_set, required=[], properties={
            k: v for k, v in permission_set["properties"].items() if k != "api_name"}),
        "SharingRuleInput": {"type": "object", "required": ["object", "name", "share_with_role", "access"],
                             "oneOf": [{"required": ["owned_by_role"]}, {"required": ["criteria"]}],
                             "properties": {
            "object": {"type": "string"}, "name": name, "owned_by_role": {"type": "string"},
            "criteria": {"type": "string", "description": "a boolean formula over the object's fields"},
            "include_subordinates": {"type": "boolean"},
            "share_with_role": {"type": "string"}, "share_with_subordinates": {"type": "boolean"},
            "access": {"enum": ["read", "edit"]}}, "additionalProperties": False},
        "ShareInput": {"type": "object", "required": ["user", "access"], "properties": {
            "user": {"type": "string"}, "access": {"enum": ["read", "edit"]}}, "additionalProperties": False},
        "Shares": {"type": "object", "required": ["shares"], "properties": {"shares": {"type": "array", "items": {
            "type": "object", "properties": {"user": {"type": "string"}, "access": {"enum": ["read", "edit"]}}}}}},
    }


def _platform_paths():
    tag = "Access control"
    admin_write = (400, 401, 403, 409, 413, 422)
    user = [_path("username")]
    return {
        "/api/v1/formula/check": {"post": _op(
            "check_formula", "Formulas", {"200": _ok("Return type, or an error with line and column"),
                                          **_errors(400, 401, 404, 413)},
            requestBody=_body({"type": "object", "required": ["object", "formula"], "properties": {
                "object": {"type": "string"}, "formula": {"type": "string"},
                "return_type": {"type": ["string", "null"]}}, "additionalProperties": False}))},
        "/api/v1/auth/login": {"post": _op(
            "login", tag, {"200": _ok("A new API token"), **_errors(400, 401, 413, 429)}, security=[],
            requestBody=_body({"type": "object", "required": ["username", "password"], "properties": {
                "username": {"type": "string"}, "password": {"type": "string"}}, "additionalProperties": False}))},
        "/api/v1/me": {"get": _op("me", tag, {"200": _ok("The caller"), **_errors(401)})},
        "/api/v1/openapi.json": {"get": _op("openapi", "Docs", {"200": _ok("This document, for the caller"),
                                                                **_errors(401)})},
        "/api/v1/users": {
            "get": _op("list_users", tag, {"200": _ok("Users"), **_errors(401, 403)}),
            "post": _op("create_user", tag, {"201": _ok("Created"), **_errors(*admin_write)},
                        requestBody=_body(_ref("UserInput")))},
        "/api/v1/users/{username}": {
            "parameters": user,
            "get": _op("get_user", tag, {"200": _ok("The user"), **_errors(401, 403, 404)}),
            "patch": _op("update_user", tag, {"200": _ok("Updated"), **_errors(400, 401, 403, 404, 413, 422)},
                         requestBody=_body(_ref("UserPatch")))},
        "/api/v1/users/{username}/permission_sets": {
            "parameters": user,
            "post": _op("assign_permission_set", tag, {"201": _ok("The user, with the set"),
                                                       **_errors(400, 401, 403, 404, 413, 422)},
                        requestBody=_body({"type": "object", "required": ["permission_set"], "properties": {
                            "permission_set": {"type": "string"}}, "additionalProperties": False}))},
        "/api/v1/users/{username}/permission_sets/{permission_set}": {
            "parameters": user + [_path("permission_set")],
            "delete": _op("unassign_permission_set", tag, {"204": {"description": "Removed"},
                                                           **_errors(401, 403, 404)})},
        "/api/v1/roles": {
            "get": _op("list_roles", tag, {"200": _ok("Roles"), **_errors(401, 403)}),
            "post": _op("create_role", tag, {"201": _ok("Created"), **_errors(*admin_write)},
                        requestBody=_body(_ref("RoleInput")))},
        "/api/v1/permission_sets": {
            "get": _op("list_permission_sets", tag, {"200": _ok("Permission sets"), **_errors(401, 403)}),
            "post": _op("create_permission_set", tag, {"201": _ok("Created"), **_errors(*admin_write)},
                        requestBody=_body(_ref("PermissionSetInput")))},
        "/api/v1/permission_sets/{name}": {
            "parameters": [_path("name")],
            "put": _op("replace_permission_set", tag, {"200": _ok("Replaced"),
                                                       **_errors(400, 401, 403, 404, 413, 422)},
                       requestBody=_body(_ref("PermissionSetPut")))},
        "/api/v1/sharing_rules": {
            "get": _op("list_sharing_rules", tag, {"200": _ok("Sharing rules"), **_errors(401, 403)}),
            "post": _op("create_sharing_rule", tag, {"201": _ok("Created"), **_errors(*admin_write)},
                        requestBody=_body(_ref("SharingRuleInput")))},
        "/api/v1/sharing_rules/{rule_id}": {
            "parameters": [_path("rule_id")],
            "delete": _op("delete_sharing_rule", tag, {"204": {"description": "Deleted"},
                                                       **_errors(401, 403, 404)})},
        "/api/v1/audit": {"get": _op(
            "audit", tag, {"200": _ok("Audit entries, newest first"), **_errors(400, 401, 403)},
            parameters=[_query("event", TEXT), _query("user", TEXT),
                        _query("since", {"anyOf": [{"type": "string", "format": "date"}, TIMESTAMP]},
                               "ISO 8601 date or date-time"),
                        _query("limit", {"type": "integer"}, "At most 1000 (larger values count as 1000).")])},
    }

