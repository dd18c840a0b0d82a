"""Approval endpoints: approval processes (stored in the object document, versioned with it), the
operations on a record's approval, a record's approval and history, and the caller's inbox. The
approval service checks rights; these views translate HTTP to it and back."""
from __future__ import annotations

from flask import g, jsonify, request

from engine.errors import InvalidRequestError
from engine.metadata.checks import suggest

from . import api, body_json, svc
from .metadata import readable_object


def approvals():
    return svc().extensions["approvals"]


def _body(*known):
    """The JSON object sent, or ``{}`` when the body is empty (every key is optional); a key the
    operation does not know is refused rather than ignored (a misspelt comment would be lost)."""
    body = body_json() if request.get_data(cache=True).strip() else {}
    for key in body:
        if key not in known:
            raise InvalidRequestError("workflow.E626", f"Unknown key '{key[:40]}'{suggest(key, known)} "
                                                       f"(known: {', '.join(known)}).", fields={key: ["unknown"]})
    return body


# -- processes as documents -----------------------------------------------------------------

@api.get("/objects/<name>/approval_processes")
def list_approval_processes(name):
    readable_object(name)
    return jsonify({"approval_processes": approvals().list_processes(name, g.actor)})


@api.post("/objects/<name>/approval_processes")
def add_approval_process(name):
    return jsonify(approvals().add_process(name, body_json(), g.actor)), 201


@api.get("/objects/<name>/approval_processes/<process>")
def get_approval_process(name, process):
    readable_object(name)
    return jsonify(approvals().get_process(name, process, g.actor))


@api.patch("/objects/<name>/approval_processes/<process>")
def patch_approval_process(name, process):
    return jsonify(approvals().update_process(name, process, body_json(), g.actor))


@api.delete("/objects/<name>/approval_processes/<process>")
def delete_approval_process(name, process):
    approvals().delete_process(name, process, g.actor)
    return "", 204


# -- a record's approval ----------------------------------------------------------------------

@api.get("/records/<obj>/<rid>/approval")
def record_approval(obj, rid):
    return jsonify(approvals().approval(obj, rid, g.actor))


@api.post("/records/<obj>/<rid>/approval/submit")
def submit_for_approval(obj, rid):
    body = _body("comment", "process")
    return jsonify(approvals().submit(obj, rid, g.actor, process=body.get("process"), comment=body.get("comment")))


@api.post("/records/<obj>/<rid>/approval/approve")
def approve_record(obj, rid):
    return jsonify(approvals().approve(obj, rid, g.actor, comment=_body("comment").get("comment")))


@api.post("/records/<obj>/<rid>/approval/reject")
def reject_record(obj, rid):
    return jsonify(approvals().reject(obj, rid, g.actor, comment=_body("comment").get("comment")))


@api.post("/records/<obj>/<rid>/approval/recall")
def recall_approval(obj, rid):
    return jsonify(approvals().recall(obj, rid, g.actor, comment=_body("comment").get("comment")))


@api.post("/records/<obj>/<rid>/approval/reassign")
def reassign_approval(obj, rid):
    body = _body("to", "from", "comment")
    return jsonify(approvals().reassign(obj, rid, g.actor, to=body.get("to"), from_user=body.get("from"),
                                        comment=body.get("comment")))


@api.get("/approvals/pending")
def pending_approvals():
    return jsonify({"work_items": approvals().pending_for(g.actor)})


# -- OpenAPI ---------------------------------------------------------------------------------

def _op(op_id, summary, responses, **extra):
    return {"tags": ["Approvals"], "operationId": op_id, "summary": summary, "responses": responses, **extra}


def _ok(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes):
    return {str(c): {"description": "Error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def _param(name, where="path", schema=None, required=True):
    return {"name": name, "in": where, "required": required, "schema": schema or {"type": "string"}}


def _body_of(schema, required=False):
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def openapi_schemas():
    """Component schemas of the approval endpoints (``ApprovalProcess`` from its JSON Schema)."""
    from engine.workflow.approvals.checks import process_schema

    process = {k: v for k, v in process_schema().items() if k not in ("$schema", "$id")}
    defs = process.pop("$defs")
    process = _inline_defs(process, defs)
    patch = dict(process, required=[], title="Approval process: the keys to change (null removes one)")
    patch["properties"] = {k: {"anyOf": [v, {"type": "null"}]} for k, v in process["properties"].items()}
    text = {"type": ["string", "null"]}
    item = {"type": "object", "properties": {
        "id": {"type": "string"}, "user": text, "slot": {"type": "integer"},
        "status": {"enum": ["pending", "approved", "rejected", "reassigned", "closed"]}, "origin": {"type": "string"},
        "comment": text, "decided_by": text, "decided_at": text, "on_behalf_of": text}}
    step = {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "label": {"type": "string"},
        "status": {"enum": ["pending", "approved", "rejected", "skipped", "back", "closed"]},
        "decision": {"enum": ["first", "unanimous", "quorum", "percent"]}, "required": {"type": "integer"},
        "approvals": {"type": "integer"}, "rejections": {"type": "integer"}, "started_at": text,
        "decided_at": text, "deadline_at": text, "approvers": {"type": "array", "items": item}}}
    request = {"type": "object", "properties": {
        "id": {"type": "string"}, "object": {"type": "string"}, "record_id": {"type": "string"},
        "process": {"type": "string"}, "process_label": {"type": "string"},
        "status": {"enum": ["pending", "approved", "rejected", "recalled", "cancelled"]},
        "lock": {"enum": ["none", "approvers_and_admins", "locked"]}, "allow_recall": {"type": "boolean"},
        "submitted_by": text, "submitted_at": {"type": "string"}, "decided_at": text, "comment": text,
        "step": {"anyOf": [step, {"type": "null"}]}, "steps": {"type": "array", "items": step}}}
    entry = {"type": "object", "properties": {
        "id": {"type": "string"}, "request_id": {"type": "string"}, "at": {"type": "string"},
        "action": {"type": "string"}, "step": text, "user": text, "on_behalf_of": text, "comment": text,
        "details": {"type": ["object", "null"]}, "message": {"type": "string"}}}
    approval = {"type": "object", "required": ["request", "history"], "properties": {
        "request": {"anyOf": [request, {"type": "null"}]}, "history": {"type": "array", "items": entry}}}
    work_item = {"type": "object", "properties": {k: text for k in (
        "id", "request_id", "object", "object_label", "record_id", "record_name", "process", "process_label",
        "step", "step_label", "origin", "submitted_by", "submitted_at", "assigned_at", "deadline_at",
        "on_behalf_of")}}
    return {"ApprovalProcess": process, "ApprovalProcessPatch": patch, "RecordApproval": approval,
            "ApprovalWorkItem": work_item}


def _inline_defs(node, defs):
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"].startswith("#/$defs/"):
            return _inline_defs(defs[node["$ref"][len("#/$defs/"):]], defs)
        return {k: _inline_defs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_defs(v, defs) for v in node]
    return node


def openapi_paths(objects=()):
    """Path items of the approval endpoints; the record routes once per object in ``objects``."""
    ref = {"$ref": "#/components/schemas/ApprovalProcess"}
    approval = _ok("The record's approval", {"$ref": "#/components/schemas/RecordApproval"})
    obj, name = _param("object", schema={"type": "string", "maxLength": 200}), _param("name")
    comment = {"comment": {"type": "string", "maxLength": 4000}}
    paths = {
        "/api/v1/objects/{object}/approval_processes": {
            "parameters": [obj],
            "get": _op("list_approval_processes", "Approval processes of an object",
                       {"200": _ok("The processes", {"type": "object", "required": ["approval_processes"],
                                                     "properties": {"approval_processes": {"type": "array",
                                                                                           "items": ref}}}),
                        **_errors(401, 403, 404)}),
            "post": _op("add_approval_process", "Add a process (administrators)",
                        {"201": _ok("Added", ref), **_errors(400, 401, 403, 404, 409, 413, 422)},
                        requestBody=_body_of(ref, True)),
        },
        "/api/v1/objects/{object}/approval_processes/{name}": {
            "parameters": [obj, name],
            "get": _op("get_approval_process", "One process", {"200": _ok("The process", ref),
                                                                 **_errors(401, 403, 404)}),
            "patch": _op("patch_approval_process", "Change some keys of a process (administrators)",
                         {"200": _ok("Changed", ref), **_errors(400, 401, 403, 404, 413, 422)},
                         requestBody=_body_of({"$ref": "#/components/schemas/ApprovalProcessPatch"}, True)),
            "delete": _op("delete_approval_process", "Remove a process without pending requests (administrators)",
                          {"204": {"description": "Removed"}, **_errors(401, 403, 404, 409, 422)}),
        },
        "/api/v1/approvals/pending": {"get": _op(
            "pending_approvals", "The work items waiting for the caller (as approver or delegate), oldest first",
            {"200": _ok("Work items", {"type": "object", "required": ["work_items"], "properties": {
                "work_items": {"type": "array", "items": {"$ref": "#/components/schemas/ApprovalWorkItem"}}}}),
             **_errors(401)})},
    }
    operations = {
        "submit": ("Submit the record: to the named process, or the first active one whose entry criteria hold",
                   dict(comment, process={"type": "string", "maxLength": 40}), (403, 404, 409, 422)),
        "approve": ("Approve, as a current approver or the delegate of one", comment, (403, 404, 409, 422)),
        "reject": ("Reject, as a current approver or the delegate of one", comment, (403, 404, 409, 422)),
        "recall": ("Recall a pending request (the submitter or an administrator)", comment, (403, 404, 409, 422)),
        "reassign": ("Give a work item to another user (a current approver or an administrator)",
                     dict(comment, to={"type": "string", "minLength": 1, "maxLength": 150},
                          **{"from": {"type": "string", "maxLength": 150}}),
                     (403, 404, 409, 422)),
    }
    for o in objects:
        paths[f"/api/v1/records/{o}/{{id}}/approval"] = {"parameters": [_param("id")], "get": _op(
            f"record_approval_{o}", "The current request (status, step, approvers, decisions) and the full history",
            {"200": approval, **_errors(401, 403, 404)})}
        for what, (summary, props, codes) in operations.items():
            schema = {"type": "object", "properties": props, "additionalProperties": False}
            if what == "reassign":
                schema["required"] = ["to"]
            paths[f"/api/v1/records/{o}/{{id}}/approval/{what}"] = {"parameters": [_param("id")], "post": _op(
                f"approval_{what}_{o}", summary, {"200": approval, **_errors(400, 401, *codes)},
                requestBody=_body_of(schema, required=what == "reassign"))}
    return paths
