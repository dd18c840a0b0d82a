"""Metadata endpoints: objects, fields, validation rules, layouts, list views,
history and rollback. Admin only for changes; any signed-in user may read."""
from __future__ import annotations

from flask import g, jsonify

from engine.errors import BadRequest, NotFound
from engine.metadata.checks import suggest
from engine.metadata.store import load_docs
from engine.metadata.system_fields import SYSTEM_FIELD_DEFS

from . import api, body_json, require_admin, svc

SYSTEM_FIELD_DOCS = [f.describe() for f in SYSTEM_FIELD_DEFS]   # declared once, in engine.metadata


def _describe(name, row):
    doc = dict(row["doc"])
    doc["version"] = row["version"]
    doc["system_fields"] = SYSTEM_FIELD_DOCS
    doc["archived_fields"] = [{"api_name": a["field"]["api_name"], "type": a["field"]["type"],
                               "archived_at": a["archived_at"]} for a in row["archive"]]
    doc["updated_at"] = row["updated_at"].isoformat() if row["updated_at"] else None
    return doc


def _one(name):
    with svc().engine.connect() as conn:
        rows = load_docs(conn)
    if name not in rows:
        raise NotFound("metadata.E404", f"Unknown object '{name}'{suggest(name, rows)}.")
    return _describe(name, rows[name])


@api.get("/objects")
def list_objects():
    with svc().engine.connect() as conn:
        rows = load_docs(conn)
    return jsonify({"objects": [_describe(n, r) for n, r in rows.items()]})


@api.get("/objects/<name>")
def get_object(name):
    return jsonify(_one(name))


@api.post("/objects")
def create_object():
    require_admin()
    doc = body_json()
    svc().store.create_object(doc, actor=g.actor)
    return jsonify(_one(doc["api_name"])), 201


@api.patch("/objects/<name>")
def patch_object(name):
    require_admin()
    svc().store.update_object(name, body_json(), actor=g.actor)
    return jsonify(_one(name))


@api.delete("/objects/<name>")
def delete_object(name):
    require_admin()
    svc().store.delete_object(name, actor=g.actor)
    return "", 204


@api.post("/objects/<name>/restore")
def restore_object(name):
    require_admin()
    svc().store.restore_object(name, actor=g.actor)
    return jsonify(_one(name))


@api.post("/objects/<name>/purge")
def purge_object(name):
    require_admin()
    svc().store.purge_object(name, actor=g.actor)
    return "", 204


@api.get("/objects/<name>/history")
def object_history(name):
    hist = svc().store.history(name)
    return jsonify({"versions": [dict(h, created_at=h["created_at"].isoformat()) for h in hist]})


@api.post("/objects/<name>/rollback")
def rollback_object(name):
    require_admin()
    body = body_json()
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadRequest("metadata.E002", "Send {\"version\": <number>} naming the version to roll back to.",
                         fields={"version": ["must be an integer"]})
    svc().store.rollback(name, version, actor=g.actor)
    return jsonify(_one(name))


@api.post("/objects/<name>/fields")
def add_field(name):
    require_admin()
    fdoc = body_json()
    svc().store.add_field(name, fdoc, actor=g.actor)
    obj = _one(name)
    return jsonify(next(f for f in obj["fields"] if f["api_name"] == fdoc["api_name"])), 201


@api.get("/objects/<name>/fields/<field>")
def get_field(name, field):
    obj = _one(name)
    for f in obj["fields"]:
        if f["api_name"] == field:
            return jsonify(f)
    raise NotFound("metadata.E404", f"Unknown field '{field}' on '{name}'"
                   f"{suggest(field, [f['api_name'] for f in obj['fields']])}.")


@api.patch("/objects/<name>/fields/<field>")
def patch_field(name, field):
    require_admin()
    svc().store.update_field(name, field, body_json(), actor=g.actor)
    return get_field(name, field)


@api.delete("/objects/<name>/fields/<field>")
def delete_field(name, field):
    require_admin()
    svc().store.delete_field(name, field, actor=g.actor)
    return "", 204


@api.post("/objects/<name>/fields/<field>/restore")
def restore_field(name, field):
    require_admin()
    svc().store.restore_field(name, field, actor=g.actor)
    return get_field(name, field)


@api.post("/objects/<name>/fields/<field>/purge")
def purge_field(name, field):
    require_admin()
    svc().store.purge_field(name, field, actor=g.actor)
    return "", 204


_LISTS = {"validation_rules": "validation_rules", "layouts": "layouts", "list_views": "list_views"}


def _list_routes(kind):
    def list_items(name):
        return jsonify({kind: _one(name).get(kind, [])})

    def add_item(name):
        require_admin()
        item = body_json()
        svc().store.set_list(name, kind, item, actor=g.actor)
        return jsonify(item), 201

    def put_item(name, item_name):
        require_admin()
        item = body_json()
        item.setdefault("name", item_name)
        if item["name"] != item_name:
            raise BadRequest("metadata.E003", "The name in the body differs from the one in the URL.")
        svc().store.set_list(name, kind, item, actor=g.actor, replace=True)
        return jsonify(item)

    def delete_item(name, item_name):
        require_admin()
        svc().store.remove_from_list(name, kind, item_name, actor=g.actor)
        return "", 204

    api.add_url_rule(f"/objects/<name>/{kind}", f"list_{kind}", list_items, methods=["GET"])
    api.add_url_rule(f"/objects/<name>/{kind}", f"add_{kind}", add_item, methods=["POST"])
    api.add_url_rule(f"/objects/<name>/{kind}/<item_name>", f"put_{kind}", put_item, methods=["PUT", "PATCH"])
    api.add_url_rule(f"/objects/<name>/{kind}/<item_name>", f"delete_{kind}", delete_item, methods=["DELETE"])


for _kind in _LISTS:
    _list_routes(_kind)


@api.get("/field_types")
def list_field_types():
    from engine.metadata.field_types import field_types
    return jsonify({"field_types": [
        {"name": k, "label": t.label, "formula_type": t.formula_type, "widget": t.widget,
         "stored": t.stored, "writable": t.writable, "options": sorted(t.options_schema)}
        for k, t in field_types.items()]})
