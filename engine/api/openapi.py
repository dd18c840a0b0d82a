"""OpenAPI 3.1 document generated from the current metadata, as one reader sees it.

Every ``/api/v1`` route is described (``tests/api/test_openapi.py`` walks the URL map), and
each parameter and body says what the server really accepts: the metadata bodies come from the
JSON Schemas in ``engine/metadata/schemas``, record bodies from each field's validators, query
parameters from the rules of the list endpoint. What JSON Schema cannot say — a ``where=``
formula's grammar and types, a cursor made for another query, a lookup naming a record that does
not exist — is in the descriptions and answered with 400 or 422.

An administrator sees every object. Anyone else sees the objects they may read, without the
fields hidden from them, with the fields they may only read left out of the request bodies.
"""
from __future__ import annotations

import copy
import math
import sys
import threading
from collections import OrderedDict
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app, g, jsonify
from marshmallow import validate

from engine import __version__
from engine.metadata.checks import MAX_NAME, SCHEMA_NAMES, load_schema
from engine.metadata.field_types import field_types
from engine.metadata.model import SYSTEM_FIELDS
from engine.security.admin import NAME as ADMIN_NAME
from engine.security.users import USERNAME_RE

from . import api, svc

# Route modules that describe their own endpoints with ``openapi_paths(objects)`` (``objects``:
# the object names the reader may read, for per-object record routes) and ``openapi_schemas()``.
SELF_DESCRIBED = ("workflow", "approvals", "reports", "packs")

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message", "fields"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                   "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                   "line": {"type": "integer"}, "column": {"type": "integer"}, "position": {"type": "integer"},
                   "hint": {"type": "string"},
                   "caret": {"type": "string", "description": "a formula error's line and a ^ under its column"}}}}}

# Any query parameter holding a NUL character is refused (api.E006) before a view runs.
NO_NUL = "^[^\\x00]*$"
LONG_TEXT = 1000     # strings allowed to be longer carry NO_NUL under allOf (see _refuse_nul)
NAME = "^[a-z][a-z0-9_]*$(?!\\n)"   # $(?!\n): no trailing newline, as fullmatch
API_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": NAME}
TEXT = {"type": "string", "pattern": NO_NUL}
NULLABLE_STR = {"type": ["string", "null"]}
# Timestamps are UTC with microseconds and a 'Z': 2026-11-26T08:23:05.123456Z.
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TS = {"type": ["string", "null"], "format": "date-time"}
SYSTEM_PROPS = {
    "id": {"type": "string", "readOnly": True},
    "name": {"type": ["string", "null"], "maxLength": 255},
    "owner_id": {"type": ["string", "null"]},
    "created_at": {**TIMESTAMP, "readOnly": True},
    "created_by": {**NULLABLE_STR, "readOnly": True},
    "updated_at": {**TIMESTAMP, "readOnly": True},
    "updated_by": {**NULLABLE_STR, "readOnly": True},
    "row_version": {"type": "integer", "readOnly": True},
    "deleted_at": {**NULLABLE_TS, "readOnly": True},
}
# If-Match as records.py reads it: '*', or the row_version, optionally quoted and weak.
IF_MATCH = {"type": "string", "pattern": '^(\\*|(W/)?"?[0-9]{1,18}"?)$(?!\\n)',
            "description": "The record's ETag (its row_version); 412 when the record changed since."}
FORMULA_TYPES = {"number": {"type": "number"}, "text": {"type": "string"}, "boolean": {"type": "boolean"},
                 "date": {"type": "string", "format": "date"}, "datetime": {"type": "string", "format": "date-time"},
                 "multi": {"type": "array", "items": {"type": "string"}}}
ERROR_NAMES = {400: "Malformed request", 401: "No or bad token", 403: "Not allowed", 404: "Not found",
               405: "Method not allowed", 409: "Conflict", 412: "Stale If-Match", 413: "Body too large",
               422: "Validation failed", 429: "Locked after repeated failures"}


def _js(schema):
    return {"application/json": {"schema": schema}}


def _ok(description, schema=None):
    return {"description": description, "content": _js(schema if schema is not None else {"type": "object"})}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes):
    return {str(c): {"description": ERROR_NAMES[c], "content": _js(_ref("Error"))} for c in codes}


def _body(schema):
    return {"required": True, "content": _js(schema)}


def _query(name, schema, description=None):
    out = {"name": name, "in": "query", "schema": schema}
    if description:
        out["description"] = description
    return out


def _path(name, schema=None):
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _op(op_id, tag, responses, summary=None, **extra):
    out = {"tags": [tag], "operationId": op_id, "responses": responses}
    if summary:
        out["summary"] = summary
    out.update(extra)
    return out


def _whole(pattern):
    """A Python pattern the server applies with fullmatch, as a JSON Schema pattern (a search)."""
    body = pattern.removeprefix("^")
    if body.endswith("$(?!\\n)"):
        return "^" + body
    return "^(?:" + body.removesuffix("$") + ")$(?!\\n)"


def _alternatives(names):
    return "|".join(sorted(names, key=lambda n: (-len(n), n)))


# ---------------------------------------------------------------------------
# Which document a reader gets
# ---------------------------------------------------------------------------

class ReaderScope:
    """What one reader may see of the metadata: objects, hidden and read-only fields."""

    def __init__(self, snapshot, actor, hidden_of):
        plan = actor.plan
        self.is_admin = bool(plan.is_admin)
        self.objects = [n for n in sorted(snapshot.objects) if plan.can(n, "read")]
        self.hidden = {n: frozenset(hidden_of(snapshot.objects[n])) for n in self.objects}
        self.read_only = {n: frozenset(f for f, level in (plan.fields.get(n) or {}).items() if level != "edit")
                          if not self.is_admin else frozenset() for n in self.objects}
        self.can = {n: {r: plan.can(n, r) for r in ("create", "edit", "delete", "modify_all")} for n in self.objects}

    def key(self):
        return (self.is_admin, tuple((n, tuple(sorted(self.hidden[n])), tuple(sorted(self.read_only[n])),
                                      tuple(sorted(self.can[n].items()))) for n in self.objects))


def reader_scope(snapshot=None, actor=None):
    """The :class:`ReaderScope` of the current request's reader."""
    snapshot = snapshot if snapshot is not None else g.snapshot
    actor = actor if actor is not None else g.actor
    records = svc().records(snapshot)
    return ReaderScope(snapshot, actor, lambda rt: records.hidden_fields(rt, actor))


class _DocCache:
    """Built documents per (metadata version, reader scope); bounded, shared by threads."""

    def __init__(self, size=64):
        self._data = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key, build):
        with self._lock:
            doc = self._data.get(key)
            if doc is not None:
                self._data.move_to_end(key)
                return doc
        doc = build()
        with self._lock:
            self._data[key] = doc
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return doc


@api.get("/openapi.json")
def openapi_document():
    scope = reader_scope()
    cache = current_app.extensions.setdefault("tessera.openapi", _DocCache())
    config = svc().config
    doc = cache.get((g.snapshot.version, scope.key()),
                    lambda: build_openapi(g.snapshot, scope, max_page_size=config.max_page_size))
    return jsonify(doc)


# ---------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------

def build_openapi(snapshot, scope, *, max_page_size=200):
    """The OpenAPI 3.1 document of ``snapshot`` as the reader of ``scope`` sees it."""
    schemas = {"Error": ERROR}
    schemas.update(metadata_schemas())
    paths = {}
    for name in scope.objects:
        rt = snapshot.objects[name]
        object_paths, object_schemas = _record_paths(rt, scope, max_page_size)
        paths.update(object_paths)
        schemas.update(object_schemas)
    paths.update(_metadata_paths())
    paths.update(_platform_paths())
    for module in _self_described():
        paths.update(module.openapi_paths(scope.objects))
        schemas.update(module.openapi_schemas())
    return _refuse_nul({
        "openapi": "3.1.0",
        "info": {"title": "Tessera API", "version": __version__,
                 "description": f"Generated from metadata version {snapshot.version}"
                                + ("." if scope.is_admin else ", showing what the reader may see.")},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    })


def _self_described():
    """The loaded route modules of SELF_DESCRIBED that describe themselves (register_api loads them)."""
    modules = (sys.modules.get(f"{__package__}.{name}") for name in SELF_DESCRIBED)
    return [m for m in modules if m is not None and hasattr(m, "openapi_paths") and hasattr(m, "openapi_schemas")]


def _refuse_nul(doc):
    """Give every free-form string of a request body or query string the pattern that excludes
    NUL characters, which the server refuses in any of them (api.E005, api.E006)."""
    doc = copy.deepcopy(doc)
    components = doc["components"]["schemas"]
    done = set()

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in done:
                done.add(name)
                walk(components[name])
            return
        kinds = node.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "string" in kinds and not any(k in node for k in ("pattern", "enum", "const", "format", "allOf")):
            if node.get("maxLength", 0) > LONG_TEXT:
                # a tool that folds maxLength into the pattern compiles ^[^\x00]{0,131072}$ (seconds
                # per schema in schemathesis); kept apart under allOf, it means the same
                node["allOf"] = [{"pattern": NO_NUL}]
            else:
                node["pattern"] = NO_NUL
        if "object" in kinds and node.get("additionalProperties") is not False and "propertyNames" not in node:
            node["propertyNames"] = {"pattern": NO_NUL}
        for value in node.values():
            walk(value)

    for item in doc["paths"].values():
        for op in [item] + [op for op in item.values() if isinstance(op, dict)]:
            if "requestBody" in op:
                walk(op["requestBody"]["content"]["application/json"]["schema"])
            for param in op.get("parameters", ()):
                if param.get("in") == "query":
                    walk(param["schema"])
    return doc


# -- records -------------------------------------------------------------------

def _field_schema(rt, fdef):
    """A field's value as the record JSON carries it (reads)."""
    ftype = rt.ftypes[fdef.api_name]
    schema = ftype.openapi_schema(fdef)
    if ftype.computed:
        base = FORMULA_TYPES.get(getattr(rt.formulas, "types", {}).get(fdef.api_name), {})
        schema = {"anyOf": [base, {"type": "null"}]} if base else {}
        schema["readOnly"] = True
    if schema and not fdef.required and not _nullable(schema):
        schema = {"anyOf": [schema, {"type": "null"}]}   # an empty value reads as null
    if fdef.get("label"):
        schema = dict(schema, title=fdef.label)
    return schema


def _nullable(schema):
    kinds = schema.get("type")
    return kinds == "null" or (isinstance(kinds, list) and "null" in kinds) or \
        any(_nullable(s) for s in schema.get("anyOf", ()))


def _input_schema(rt, fdef):
    """A field's value as a write accepts it: the type's schema narrowed by its validators."""
    ftype = rt.ftypes[fdef.api_name]
    base = ftype.openapi_schema(fdef)
    if "anyOf" in base:   # the type's own schema, without the null it allows when optional
        base = next(s for s in base["anyOf"] if s.get("type") != "null")
    base = {k: v for k, v in base.items() if k not in ("description", "readOnly")}
    mfield = ftype.marshmallow_field(fdef)
    for validator in getattr(mfield, "validators", ()):
        _narrow(base, validator)
    if hasattr(mfield, "precision") and hasattr(mfield, "scale"):
        bound = _decimal_bound(mfield.precision, mfield.scale)
        base.update(minimum=-bound, maximum=bound)
    if base.get("type") == "integer":
        base.update(minimum=-(2 ** 63 - 1), maximum=2 ** 63 - 1)
    if ftype.relates:
        base.update(minLength=1, maxLength=36, description=f"id of a record of '{fdef.target}' the writer may read")
    if fdef.required:
        if base.get("type") == "string" and "enum" not in base:
            base["minLength"] = max(base.get("minLength", 0), 1)
        if base.get("type") == "array":
            base["minItems"] = 1
        schema = base
    else:
        schema = {"anyOf": [base, {"type": "null"}]}
    if fdef.get("label"):
        schema = dict(schema, title=fdef.label)
    return schema


def _narrow(schema, validator):
    if isinstance(validator, validate.Length):
        if validator.max is not None:
            schema["maxLength"] = validator.max
        if validator.min is not None:
            schema["minLength"] = validator.min
    elif isinstance(validator, validate.Range):
        if validator.min is not None:
            schema["minimum"] = validator.min
        if validator.max is not None:
            schema["maximum"] = validator.max
    elif isinstance(validator, validate.OneOf):
        schema["enum"] = list(validator.choices)
    elif isinstance(validator, validate.URL):
        # marshmallow's URL check, simplified to the host names a client sends
        schemes = "|".join(sorted(getattr(validator, "schemes", None) or ("http", "https")))
        schema.pop("format", None)
        schema["pattern"] = (f"^({schemes})://[a-z0-9]([a-z0-9-]{{0,30}}[a-z0-9])?"
                             "(\\.[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?)*\\.[a-z]{2,10}"
                             "(/[A-Za-z0-9._~-]{0,40}){0,5}$(?!\\n)")
    elif isinstance(validator, validate.Email):
        schema["format"] = "email"
    elif isinstance(validator, validate.Regexp):   # re.match: anchored at the start only
        # \A and \Z are Python's; ECMA-262 (JSON Schema's regex dialect) spells them ^ and $(?!\n)
        body = validator.regex.pattern.replace("\\A", "^").replace("\\Z", "$(?!\\n)")
        schema["pattern"] = "^(?:" + body.removeprefix("^") + ")"


def _decimal_bound(precision, scale):
    """The largest JSON number a Numeric(precision, scale) field takes (after rounding)."""
    limit = Decimal(10) ** (precision - scale)
    value = float(limit - Decimal(10) ** -scale)
    quant = Decimal(1).scaleb(-scale)
    while Decimal(repr(value)).quantize(quant, rounding=ROUND_HALF_UP) >= limit:
        value = math.nextafter(value, 0)
    return int(value) if scale == 0 else value


def _sortable(rt, hidden):
    names = list(SYSTEM_FIELDS)
    for fdef in rt.odef.fields:
        ftype = rt.ftypes[fdef.api_name]
        if fdef.api_name in hidden or not ftype.sortable:
            continue
        if fdef.column or (ftype.computed and getattr(rt.formulas, "types", {}).get(fdef.api_name)):
            names.append(fdef.api_name)
    return names


def _list_params(rt, scope, max_page_size):
    hidden = scope.hidden[rt.name]
    visible = [n for n in list(SYSTEM_FIELDS) + [f.api_name for f in rt.odef.fields] if n not in hidden]
    keys = _alternatives(_sortable(rt, hidden))
    names = _alternatives(visible)
    return {
        "where": _query("where", TEXT, "A boolean formula over the fields the reader may see, e.g. "
                        "amount > 1000 && stage = 'Won' (422 with line and column when it is not one)."),
        "order_by": _query("order_by", {"type": "string",
                                        "pattern": f"^$|^[-+]?({keys})(,[-+]?({keys})){{0,4}}$(?!\\n)"},
                           "Up to 5 sortable fields, '-' for descending, e.g. -amount,name."),
        "limit": _query("limit", {"type": "integer", "minimum": 1, "maximum": max_page_size}),
        "cursor": _query("cursor", {"type": "string", "pattern": "^[A-Za-z0-9_-]*$(?!\\n)", "maxLength": 4000},
                         "next_cursor of the previous page of the same query (400 for any other value)."),
        "fields": _query("fields", {"type": "string", "pattern": f"^$|^({names})(,({names}))*$(?!\\n)"},
                         "Comma-separated fields to return (id always comes back)."),
        "with_total": _query("with_total", {"type": "boolean"}, "Add the number of matching records."),
        "deleted": _query("deleted", {"type": "boolean"}, "List the recycle bin."),
    }


def _record_paths(rt, scope, max_page_size):
    name = rt.name
    cname = "".join(p.title() for p in name.split("_"))
    hidden, read_only = scope.hidden[name], scope.read_only[name]
    props = dict(SYSTEM_PROPS)
    writable = {"name": dict(SYSTEM_PROPS["name"]),
                "owner_id": {"type": "string", "minLength": 1, "maxLength": 36,
                             "description": "id of an active user"}}
    if rt.odef.doc.get("name_required"):
        writable["name"] = {"type": "string", "minLength": 1, "maxLength": 255}
    required = ["name"] if rt.odef.doc.get("name_required") else []
    for f in rt.odef.fields:
        if f.api_name in hidden:
            continue
        props[f.api_name] = _field_schema(rt, f)
        if rt.ftypes[f.api_name].writable and f.api_name not in read_only:
            writable[f.api_name] = _input_schema(rt, f)
            if f.required:
                required.append(f.api_name)
    ref = _ref(cname)
    creating = dict(writable)
    if not scope.can[name]["modify_all"]:
        del creating["owner_id"]   # only they may give a new record to someone else
        writable["owner_id"] = dict(writable["owner_id"], description="id of an active user; only the "
                                    "record's owner (or a user with Modify All) may transfer it")
    schemas = {
        cname: {"type": "object", "title": rt.odef.label, "properties": props},
        f"{cname}Input": {"type": "object", "properties": creating, "required": required,
                          "additionalProperties": False},
        f"{cname}Patch": {"type": "object", "properties": writable, "additionalProperties": False},
        f"{cname}Page": {"type": "object", "required": ["records", "next_cursor"], "properties": {
            "records": {"type": "array", "items": ref}, "next_cursor": NULLABLE_STR, "total": {"type": "integer"}}},
    }
    params = _list_params(rt, scope, max_page_size)
    tag = rt.odef.label
    plural = rt.odef.plural_label
    id_param = [_path("id")]
    update = _op(f"update_{name}", tag, {"200": _ok("Updated", ref), **_errors(400, 401, 403, 404, 409, 412, 413, 422)},
                 parameters=[{"name": "If-Match", "in": "header", "schema": IF_MATCH}],
                 requestBody=_body(_ref(f"{cname}Patch")))
    replace = dict(update, operationId=f"replace_{name}", summary="Same as PATCH")
    shares_tag = "Sharing"
    paths = {
        f"/api/v1/records/{name}": {
            "get": _op(f"list_{name}", tag, {"200": _ok("A page of records", _ref(f"{cname}Page")),
                                             **_errors(400, 401, 403, 404, 422)},
                       summary=f"List {plural}", parameters=list(params.values())),
            "post": _op(f"create_{name}", tag, {
                "201": _ok("Created", {"anyOf": [ref, {"type": "object", "required": ["records"],
                                                       "properties": {"records": {"type": "array", "items": ref}}}]}),
                **_errors(400, 401, 403, 404, 409, 413, 422)},
                summary=f"Create a {rt.odef.label} (object) or many (array, all or nothing)",
                requestBody=_body({"oneOf": [_ref(f"{cname}Input"), {"type": "array", "minItems": 1,
                                                                      "items": _ref(f"{cname}Input")}]})),
        },
        f"/api/v1/records/{name}/export": {
            "get": _op(f"export_{name}", tag, {
                "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                **_errors(400, 401, 403, 404, 422)}, summary=f"Every visible {rt.odef.label}, as CSV",
                parameters=[params["where"], params["order_by"], params["fields"]]),
        },
        f"/api/v1/records/{name}/{{id}}": {
            "parameters": id_param,
            "get": _op(f"get_{name}", tag, {"200": _ok("The record", ref), **_errors(400, 401, 403, 404)},
                       parameters=[params["fields"], _query("include_deleted", {"type": "boolean"},
                                                            "Also find it in the recycle bin.")]),
            "patch": update,
            "put": replace,
            "delete": _op(f"delete_{name}", tag, {"204": {"description": "Moved to the recycle bin (or purged)"},
                                                  **_errors(400, 401, 403, 404, 409)},
                          parameters=[_query("purge", {"type": "boolean"}, "Delete for good.")]),
        },
        f"/api/v1/records/{name}/{{id}}/restore": {
            "parameters": id_param,
            "post": _op(f"restore_{name}", tag, {"200": _ok("Restored", ref), **_errors(401, 403, 404, 409, 422)}),
        },
        f"/api/v1/records/{name}/{{id}}/history": {
            "parameters": id_param,
            "get": _op(f"history_{name}", tag, {"200": _ok("Tracked field changes, oldest first", {
                "type": "object", "required": ["history"], "properties": {"history": {
                    "type": "array", "items": {"type": "object"}}}}), **_errors(400, 401, 403, 404)},
                parameters=[_query("field", TEXT, "Only this field's changes.")]),
        },
        f"/api/v1/records/{name}/{{id}}/shares": {
            "parameters": id_param,
            "get": _op(f"list_shares_{name}", shares_tag, {"200": _ok("Manual shares", _ref("Shares")),
                                                           **_errors(401, 403, 404)}),
            "post": _op(f"share_{name}", shares_tag, {"201": _ok("Shared", _ref("Shares")),
                                                      **_errors(400, 401, 403, 404, 413, 422)},
                        requestBody=_body(_ref("ShareInput"))),
        },
        f"/api/v1/records/{name}/{{id}}/shares/{{username}}": {
            "parameters": id_param + [_path("username")],
            "delete": _op(f"unshare_{name}", shares_tag, {"204": {"description": "Unshared"},
                                                          **_errors(401, 403, 404)}),
        },
    }
    return paths, schemas


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
