"""The vocabulary of the OpenAPI document (``openapi.py``) and the record paths of one object.

Shared pieces: the error shape, name and text patterns, the small builders of operations and
parameters (``_op``, ``_query``, ``_path``...), the pass that forbids NUL in every free-form string
of a request, and the paths and schemas of one object's records as a reader sees it (bodies from each
field's validators, the list's query parameters from the list endpoint's rules).
"""

from __future__ import annotations

import copy
import math
from decimal import ROUND_HALF_UP, Decimal

from marshmallow import validate

from engine.metadata.checks import MAX_NAME
from engine.metadata.model import SYSTEM_FIELDS

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

