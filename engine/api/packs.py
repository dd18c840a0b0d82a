"""Pack endpoints (``../shared/specs/packs.md``): list, install, upgrade, uninstall. The pack service
checks rights (administrators only) and does the work; these views translate HTTP to it and back.
Packs come from the server's ``packs/`` folder and the ``tessera.packs`` entry points; a folder
path is a command-line matter and is not accepted here.

``openapi_paths()`` / ``openapi_schemas()`` describe these endpoints for the OpenAPI document.
"""
from __future__ import annotations

from flask import g, jsonify, request

from engine.errors import BadRequest

from . import api, body_json, svc

OPTIONS = {"install": ("with_sample_data", "dry_run"), "upgrade": ("allow_destructive", "dry_run"),
           "uninstall": ("purge", "dry_run")}


def _service():
    from engine.packs import packs

    return packs(svc())


def _options(operation):
    data = body_json() if request.get_data(cache=True).strip() else {}
    known = OPTIONS[operation]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise BadRequest("packs.E019", f"Unknown key(s): {', '.join(unknown)}. Known: {', '.join(known)}.",
                         fields={k: ["unknown key"] for k in unknown})
    bad = [k for k, v in data.items() if not isinstance(v, bool)]
    if bad:
        raise BadRequest("packs.E023", f"{bad[0]} must be true or false.", fields={k: ["must be true or false"]
                                                                                  for k in bad})
    return data


def _plans(plans):
    return jsonify({"plans": [p.as_dict() for p in plans]})


@api.get("/packs")
def list_packs():
    return jsonify(_service().list(g.actor))


@api.post("/packs/<name>/install")
def install_pack(name):
    o = _options("install")
    return _plans(_service().install(name, g.actor, with_data=o.get("with_sample_data", False),
                                     dry_run=o.get("dry_run", False)))


@api.post("/packs/<name>/upgrade")
def upgrade_pack(name):
    o = _options("upgrade")
    return _plans(_service().upgrade(name, g.actor, allow_destructive=o.get("allow_destructive", False),
                                     dry_run=o.get("dry_run", False)))


@api.post("/packs/<name>/uninstall")
def uninstall_pack(name):
    o = _options("uninstall")
    return _plans(_service().uninstall(name, g.actor, purge=o.get("purge", False), dry_run=o.get("dry_run", False)))


# -- OpenAPI ---------------------------------------------------------------------------------

def _op(op_id, summary, responses, **extra):
    return {"tags": ["Packs"], "operationId": op_id, "summary": summary, "responses": responses, **extra}


def _ok(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes):
    return {str(c): {"description": "Error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def openapi_schemas():
    """Component schemas of the pack endpoints."""
    text_i18n = {"anyOf": [{"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}]}
    pack = {"type": "object", "required": ["name", "status"], "properties": {
        "name": {"type": "string"}, "title": text_i18n, "description": text_i18n,
        "available_version": {"type": ["string", "null"]}, "installed_version": {"type": ["string", "null"]},
        "status": {"enum": ["available", "installed", "upgrade available"]},
        "depends": {"type": "object", "additionalProperties": {"type": "string"}},
        "source": {"type": "string"}, "problems": {"type": "array", "items": {"type": "string"}}}}
    item = {"type": "object", "required": ["kind", "key", "action"], "properties": {
        "kind": {"type": "string", "description": "object, field, option, layout, list_view, validation_rule, "
                                                  "automation_rule, approval_process, role, permission_set, "
                                                  "sharing_rule"},
        "key": {"type": "string"}, "action": {"enum": ["create", "change", "keep", "archive"]},
        "note": {"type": "string"}, "destructive": {"type": "boolean"}}}
    plan = {"type": "object", "required": ["pack", "operation", "applied", "items"], "properties": {
        "pack": {"type": "string"}, "operation": {"enum": ["install", "upgrade", "uninstall"]},
        "from_version": {"type": ["string", "null"]}, "to_version": {"type": ["string", "null"]},
        "applied": {"type": "boolean", "description": "false for a dry run"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/PackPlanItem"}},
        "overrides": {"type": "array", "items": {"type": "string"},
                      "description": "administrators' changes the operation keeps"},
        "data": {"type": "object", "additionalProperties": {"type": "integer"},
                 "description": "records loaded (install) or archived (uninstall) per object"},
        "notes": {"type": "array", "items": {"type": "string"}}}}
    return {"Pack": pack, "PackPlanItem": item, "PackPlan": plan}


def openapi_paths(objects=()):
    """Path items of the pack endpoints."""
    plans = _ok("The plan of each pack, dependencies first", {"type": "object", "required": ["plans"], "properties": {
        "plans": {"type": "array", "items": {"$ref": "#/components/schemas/PackPlan"}}}})
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}

    def body(*flags):
        return {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False,
            "properties": {f: {"type": "boolean"} for f in flags}}}}}

    return {
        "/api/v1/packs": {"get": _op("list_packs", "Available and installed packs (administrators)", {
            "200": _ok("The packs", {"type": "object", "required": ["packs"], "properties": {
                "packs": {"type": "array", "items": {"$ref": "#/components/schemas/Pack"}},
                "notes": {"type": "array", "items": {"type": "string"}}}}), **_errors(401, 403)})},
        "/api/v1/packs/{name}/install": {"parameters": [name], "post": _op(
            "install_pack", "Install a pack and the packs it depends on, each in one transaction "
                            "(dry_run: the plan only)",
            {"200": plans, **_errors(400, 401, 403, 404, 409, 413, 415, 422)},
            requestBody=body("with_sample_data", "dry_run"))},
        "/api/v1/packs/{name}/upgrade": {"parameters": [name], "post": _op(
            "upgrade_pack", "Apply the difference between the installed version and the one found; "
                            "administrators' changes are kept",
            {"200": plans, **_errors(400, 401, 403, 404, 409, 413, 415, 422)},
            requestBody=body("allow_destructive", "dry_run"))},
        "/api/v1/packs/{name}/uninstall": {"parameters": [name], "post": _op(
            "uninstall_pack", "Remove what the pack added; its data is archived unless purge",
            {"200": plans, **_errors(400, 401, 403, 404, 409, 413, 415, 422)},
            requestBody=body("purge", "dry_run"))},
    }
