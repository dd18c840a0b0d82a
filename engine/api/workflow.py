"""Workflow endpoints: automation rules (stored in the object document, versioned with it), the
outbox for administrators, and the run log of a record. The workflow service checks rights;
these views translate HTTP to it and back.

``openapi_paths()`` / ``openapi_schemas()`` describe these endpoints for the OpenAPI document.
"""
from __future__ import annotations

from flask import g, jsonify, request

from . import api, body_json, svc


def workflow():
    return svc().extensions["workflow"]


@api.get("/objects/<name>/automation_rules")
def list_automation_rules(name):
    return jsonify({"automation_rules": workflow().list_rules(name, g.actor)})


@api.post("/objects/<name>/automation_rules")
def add_automation_rule(name):
    return jsonify(workflow().add_rule(name, body_json(), g.actor)), 201


@api.get("/objects/<name>/automation_rules/<rule>")
def get_automation_rule(name, rule):
    return jsonify(workflow().get_rule(name, rule, g.actor))


@api.patch("/objects/<name>/automation_rules/<rule>")
def patch_automation_rule(name, rule):
    return jsonify(workflow().update_rule(name, rule, body_json(), g.actor))


@api.delete("/objects/<name>/automation_rules/<rule>")
def delete_automation_rule(name, rule):
    workflow().delete_rule(name, rule, g.actor)
    return "", 204


@api.get("/outbox")
def list_outbox():
    return jsonify({"entries": workflow().list_outbox(g.actor, status=request.args.get("status") or None,
                                                      limit=request.args.get("limit", 100),
                                                      record=request.args.get("record_id") or None)})


@api.post("/outbox/<outbox_id>/retry")
def retry_outbox(outbox_id):
    return jsonify(workflow().retry(outbox_id, g.actor))


@api.get("/records/<obj>/<rid>/runs")
def record_runs(obj, rid):
    return jsonify({"runs": workflow().runs_of(obj, rid, g.actor, svc().records(g.snapshot),
                                               limit=request.args.get("limit", 200))})


# -- OpenAPI ---------------------------------------------------------------------------------

def _op(op_id, summary, responses, **extra):
    return {"tags": ["Workflow"], "operationId": op_id, "summary": summary, "responses": responses, **extra}


def _ok(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes):
    return {str(c): {"description": "Error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def _param(name, where="path", schema=None, required=True):
    return {"name": name, "in": where, "required": required, "schema": schema or {"type": "string"}}


def openapi_schemas():
    """Component schemas of the workflow endpoints (``AutomationRule`` from its JSON Schema)."""
    from engine.workflow.checks import load_schema

    rule = {k: v for k, v in load_schema("automation_rule").items() if k not in ("$schema", "$id")}
    patch = dict(rule, required=[], title="Automation rule: the keys to change (null removes one)")
    patch["properties"] = {k: {"anyOf": [v, {"type": "null"}]} for k, v in rule["properties"].items()}
    run = {"type": "object", "required": ["id", "at", "status", "message"], "properties": {
        "id": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
        "rule": {"type": ["string", "null"]}, "status": {"enum": ["fired", "done", "skipped", "retry", "error", "dead"]},
        "code": {"type": ["string", "null"]}, "message": {"type": "string"},
        "outbox_id": {"type": ["string", "null"]}, "action_index": {"type": ["integer", "null"]},
        "action_type": {"type": ["string", "null"]}}}
    entry = {"type": "object", "required": ["id", "status", "attempts", "actions"], "properties": {
        "id": {"type": "string"}, "origin": {"type": "string"}, "object": {"type": "string"},
        "record_id": {"type": ["string", "null"]}, "rule": {"type": ["string", "null"]},
        "event": {"type": "string"}, "depth": {"type": "integer"},
        "status": {"enum": ["pending", "failed", "done", "dead"]}, "running": {"type": "boolean"},
        "attempts": {"type": "integer"}, "max_attempts": {"type": "integer"},
        "next_attempt_at": {"type": ["string", "null"]}, "last_error": {"type": ["string", "null"]},
        "created_at": {"type": "string"}, "done_at": {"type": ["string", "null"]},
        "actions": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "type": {"type": "string"},
            "key": {"type": "string", "description": "the idempotency key <outbox id>:<action index>"},
            "applied": {"type": "boolean"}, "result": {"type": "object"}}}}}}
    return {"AutomationRule": rule, "AutomationRulePatch": patch, "RunLogEntry": run, "OutboxEntry": entry}


def openapi_paths(objects=()):
    """Path items of the workflow endpoints; ``objects``: the object names the run log is listed for
    (the record routes are documented once per object)."""
    ref = {"$ref": "#/components/schemas/AutomationRule"}
    obj, rule = _param("object", schema={"type": "string", "maxLength": 200}), _param("name")
    paths = {
        "/api/v1/objects/{object}/automation_rules": {
            "parameters": [obj],
            "get": _op("list_automation_rules", "Automation rules of an object (administrators)",
                       {"200": _ok("The rules", {"type": "object", "required": ["automation_rules"], "properties": {
                           "automation_rules": {"type": "array", "items": ref}}}), **_errors(401, 403, 404)}),
            "post": _op("add_automation_rule", "Add a rule (administrators)",
                        {"201": _ok("Added", ref), **_errors(400, 401, 403, 404, 409, 413, 422)},
                        requestBody={"required": True, "content": {"application/json": {"schema": ref}}}),
        },
        "/api/v1/objects/{object}/automation_rules/{name}": {
            "parameters": [obj, rule],
            "get": _op("get_automation_rule", "One rule (administrators)", {"200": _ok("The rule", ref),
                                                                              **_errors(401, 403, 404)}),
            "patch": _op("patch_automation_rule", "Change some keys of a rule (administrators)",
                         {"200": _ok("Changed", ref), **_errors(400, 401, 403, 404, 413, 422)},
                         requestBody={"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/AutomationRulePatch"}}}}),
            "delete": _op("delete_automation_rule", "Remove a rule (administrators)",
                          {"204": {"description": "Removed"}, **_errors(401, 403, 404, 422)}),
        },
        "/api/v1/outbox": {"get": _op(
            "list_outbox", "Queued and finished actions (administrators)",
            {"200": _ok("Entries, newest first", {"type": "object", "required": ["entries"], "properties": {
                "entries": {"type": "array", "items": {"$ref": "#/components/schemas/OutboxEntry"}}}}),
             **_errors(400, 401, 403)},
            parameters=[_param("status", "query", {"enum": ["pending", "failed", "done", "dead"]}, False),
                        _param("record_id", "query", None, False),
                        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}, False)])},
        "/api/v1/outbox/{id}/retry": {"parameters": [_param("id")], "post": _op(
            "retry_outbox", "Run a failed or dead entry again (administrators)",
            {"200": _ok("The entry", {"$ref": "#/components/schemas/OutboxEntry"}), **_errors(401, 403, 404, 409)})},
    }
    runs = _op("record_runs", "The run log of a record: rules fired, actions run, results and errors",
               {"200": _ok("Oldest first", {"type": "object", "required": ["runs"], "properties": {
                   "runs": {"type": "array", "items": {"$ref": "#/components/schemas/RunLogEntry"}}}}),
                **_errors(400, 401, 403, 404)},
               parameters=[_param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, False)])
    for name in objects:
        paths[f"/api/v1/records/{name}/{{id}}/runs"] = {"parameters": [_param("id")],
                                                        "get": dict(runs, operationId=f"record_runs_{name}")}
    return paths
