"""Metadata endpoints: objects, fields, validation rules, layouts, list views,
history and rollback. Admin only for changes; any signed-in user may read.

What a reader sees: an administrator, everything. Anyone else sees only the objects they may
read (any other answers 404, as if it did not exist), without the fields hidden from them, without
formula text that needs a hidden field, and without who made each change. Every timestamp is UTC
with microseconds and a 'Z' (``2026-11-26T08:23:05.123456Z``).
"""
from __future__ import annotations

import copy
import datetime as _dt
import re
from decimal import Decimal

from flask import g, jsonify

from engine.errors import BadRequest, NotFound
from engine.formula import FormulaError, compile_formula
from engine.metadata.checks import suggest
from engine.metadata.model import SYSTEM_FIELDS
from engine.metadata.private_views import list_view_visible
from engine.metadata.store import load_docs
from engine.metadata.system_fields import SYSTEM_FIELD_DEFS
from engine.records.field_security import reader_view

from . import api, body_json, require_admin, svc

SYSTEM_FIELD_DOCS = [f.describe() for f in SYSTEM_FIELD_DEFS]   # declared once, in engine.metadata


def timestamp(value):
    """A timestamp as the API writes every one: ``2026-11-26T08:23:05.123456Z``.

    Accepts what the store hands out: aware datetimes (PostgreSQL), naive ones that are UTC
    (SQLite keeps no zone) and ISO 8601 text (the archive list); None stays None.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class MetadataReader:
    """The metadata as the caller may see it (see the module docstring)."""

    def __init__(self):
        self.actor = g.actor
        self.is_admin = bool(g.actor.plan.is_admin)
        self.view = None if self.is_admin else reader_view(g.snapshot, g.actor)

    def may_read(self, name):
        return self.is_admin or (name in g.snapshot.objects and self.actor.plan.can(name, "read"))

    def hidden(self, name):
        return frozenset() if self.is_admin else self.view.hidden_fields(name)

    def not_found(self, name, rows):
        """The 404 for an object the caller cannot read: the same as for one that does not exist."""
        readable = [n for n in rows if self.may_read(n)]
        return NotFound("metadata.E041", f"Unknown object '{name}'{suggest(name, readable)}.")

    def _formula_ok(self, obj, source):
        """Whether formula text reads only fields the caller may see (always, with none hidden)."""
        if self.is_admin or not self.view.hidden:
            return True
        try:
            compile_formula(source, self.view.fields_map(obj))
        except (FormulaError, KeyError):
            return False
        return True

    def document(self, name, doc):
        """``doc`` (an object definition, current or historical) as the caller may see it."""
        if self.is_admin or not isinstance(doc, dict):
            return doc
        doc = copy.deepcopy(doc)
        # automation rules and approval processes (webhook URLs, who approves what) are setup data:
        # administrators read them through their own endpoints
        doc.pop("automation_rules", None)
        doc.pop("approval_processes", None)
        hidden = self.hidden(name)
        fields = []
        for fdoc in doc.get("fields") or []:
            if not isinstance(fdoc, dict) or fdoc.get("api_name") in hidden or not self._reaches_readable(fdoc):
                continue
            for key in ("formula", "default"):
                if isinstance(fdoc.get(key), str) and not self._formula_ok(name, fdoc[key]):
                    del fdoc[key]
            summary = fdoc.get("summary")
            if isinstance(summary, dict):
                child = str(summary.get("object"))
                if summary.get("field") in self.hidden(child):
                    del summary["field"]
                if isinstance(summary.get("filter"), str) and not self._formula_ok(child, summary["filter"]):
                    del summary["filter"]
            fields.append(fdoc)
        if "fields" in doc:
            doc["fields"] = fields
        for rule in doc.get("validation_rules") or []:
            if isinstance(rule, dict):
                if isinstance(rule.get("condition"), str) and not self._formula_ok(name, rule["condition"]):
                    del rule["condition"]
                if rule.get("field") in hidden:
                    del rule["field"]
        shown = {f.get("api_name") for f in fields} | set(SYSTEM_FIELDS)
        for layout in doc.get("layouts") or []:
            if not isinstance(layout, dict):
                continue
            sections = []
            for section in layout.get("sections") or []:
                if isinstance(section, dict) and isinstance(section.get("fields"), list):
                    kept = [f for f in section["fields"] if not isinstance(f, str) or (f in shown and f not in hidden)]
                    if section["fields"] and not kept:
                        continue   # a section of hidden fields only is not there for this reader
                    section["fields"] = kept
                sections.append(section)
            if "sections" in layout:
                layout["sections"] = sections
            if isinstance(layout.get("related_lists"), list):
                layout["related_lists"] = [self._related_list(item) for item in layout["related_lists"]
                                           if self._related_list(item) is not None]
        if isinstance(doc.get("list_views"), list):   # another user's private views are theirs alone
            doc["list_views"] = [v for v in doc["list_views"] if not isinstance(v, dict) or list_view_visible(v, self.actor)]
        for view in doc.get("list_views") or []:
            if not isinstance(view, dict):
                continue
            if isinstance(view.get("columns"), list):
                view["columns"] = [c for c in view["columns"] if not isinstance(c, str) or (c in shown and c not in hidden)]
            if isinstance(view.get("where"), str) and not self._formula_ok(name, view["where"]):
                del view["where"]
            keys = str(view.get("order_by") or "").split(",")
            if any(k.strip().lstrip("+-") in hidden for k in keys):
                del view["order_by"]
        return doc

    def _reaches_readable(self, fdoc):
        """Whether a field's lookup target and roll-up child are objects the reader may read (a
        field of an older version may name one that the reader view does not know of)."""
        target = fdoc.get("target")
        summary = fdoc.get("summary") if isinstance(fdoc.get("summary"), dict) else {}
        return all(not isinstance(o, str) or o == "user" or self.may_read(o)
                   for o in (target, summary.get("object")))

    def _related_list(self, item):
        """A layout's related list as the reader may see it, or None for a child object they may
        not read or a relationship field hidden from them."""
        child = item if isinstance(item, str) else item.get("object") if isinstance(item, dict) else None
        if not isinstance(child, str) or not self.may_read(child):
            return None if isinstance(child, str) else item
        gone = self.hidden(child)
        if isinstance(item, dict):
            if item.get("field") in gone:
                return None
            item = dict(item)
            if isinstance(item.get("columns"), list):
                item["columns"] = [c for c in item["columns"] if c not in gone]
        return item

    def history(self, name, entries):
        """The versions of ``name`` as the reader may see them. A non-admin does not see who made
        each change, nor a version that changed only what they may not see; a summary naming a
        field they may not see says 'changed a field'."""
        out, previous = [], None
        for h in entries:
            doc = self.document(name, h["doc"])
            entry = dict(h, created_at=timestamp(h["created_at"]), doc=doc)
            if not self.is_admin:
                del entry["author_id"]
                if previous is not None and doc == previous:
                    continue
                entry["summary"] = _summary_for(entry.get("summary") or "", _field_names(doc) | _field_names(previous))
                previous = doc
            out.append(entry)
        return out

    def describe(self, name, row):
        """An object row of the store as the API answers it."""
        doc = self.document(name, dict(row["doc"]))
        doc.setdefault("fields", [])
        doc["version"] = row["version"]
        doc["system_fields"] = SYSTEM_FIELD_DOCS
        hidden = self.hidden(name)
        doc["archived_fields"] = [{"api_name": a["field"]["api_name"], "type": a["field"]["type"],
                                   "archived_at": timestamp(a["archived_at"])} for a in row["archive"]
                                  if a["field"]["api_name"] not in hidden]
        doc["updated_at"] = timestamp(row["updated_at"])
        return doc


_FIELD_SUMMARY = re.compile(r"\b(added|changed|archived|restored|removed) field '([^']*)'")


def _summary_for(summary, visible):
    """A history summary in which a field not in ``visible`` reads 'a field'."""
    return _FIELD_SUMMARY.sub(lambda m: m.group(0) if m.group(2) in visible else f"{m.group(1)} a field", summary)


def _field_names(doc):
    fields = (doc or {}).get("fields") if isinstance(doc, dict) else None
    return {f.get("api_name") for f in fields or [] if isinstance(f, dict)}


def readable_object(name):
    """Raise the 404 of an unknown object unless the caller may read ``name`` (for the doors
    under ``/objects/<name>/...`` that other services answer)."""
    reader = MetadataReader()
    if not reader.may_read(name):
        raise reader.not_found(name, g.snapshot.objects)


def _body():
    """The request body with plain JSON numbers: body_json reads fractions as Decimal, which a
    metadata document cannot store; 5.0 becomes the integer 5, as JSON Schema counts it."""
    def plain(value):
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value
    return plain(body_json())


def _one(name, reader=None):
    reader = reader or MetadataReader()
    with svc().engine.connect() as conn:
        rows = load_docs(conn)
    if name not in rows or not reader.may_read(name):
        raise reader.not_found(name, rows)
    return reader.describe(name, rows[name])


@api.get("/objects")
def list_objects():
    reader = MetadataReader()
    with svc().engine.connect() as conn:
        rows = load_docs(conn)
    return jsonify({"objects": [reader.describe(n, r) for n, r in rows.items() if reader.may_read(n)]})


@api.get("/objects/<name>")
def get_object(name):
    return jsonify(_one(name))


@api.post("/objects")
def create_object():
    require_admin()
    doc = _body()
    svc().store.create_object(doc, actor=g.actor)
    return jsonify(_one(doc["api_name"])), 201


@api.patch("/objects/<name>")
def patch_object(name):
    require_admin()
    svc().store.update_object(name, _body(), actor=g.actor)
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
    reader = MetadataReader()
    if not reader.is_admin:
        _one(name, reader)   # others: only the history of an object they may read now
    return jsonify({"versions": reader.history(name, svc().store.history(name))})


@api.post("/objects/<name>/rollback")
def rollback_object(name):
    require_admin()
    body = _body()
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadRequest("metadata.E002", "Send {\"version\": <number>} naming the version to roll back to.",
                         fields={"version": ["must be an integer"]})
    svc().store.rollback(name, version, actor=g.actor)
    return jsonify(_one(name))


@api.post("/objects/<name>/fields")
def add_field(name):
    require_admin()
    fdoc = _body()
    svc().store.add_field(name, fdoc, actor=g.actor)
    obj = _one(name)
    return jsonify(next(f for f in obj["fields"] if f["api_name"] == fdoc["api_name"])), 201


@api.get("/objects/<name>/fields/<field>")
def get_field(name, field):
    obj = _one(name)
    for f in obj["fields"]:
        if f["api_name"] == field:
            return jsonify(f)
    raise NotFound("metadata.E042", f"Unknown field '{field}' on '{name}'"
                   f"{suggest(field, [f['api_name'] for f in obj['fields']])}.")


@api.patch("/objects/<name>/fields/<field>")
def patch_field(name, field):
    require_admin()
    svc().store.update_field(name, field, _body(), actor=g.actor)
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

    # anyone who may read an object saves, changes and deletes their own private list views
    own = kind == "list_views"

    def add_item(name):
        item = _body()
        if own and not g.actor.is_admin:
            _readable(name)
            svc().records(g.snapshot).check_list_view(name, item, g.actor)
            svc().store.save_own_list_view(name, item, actor=g.actor)
            return jsonify(_own_item(name, item)), 201
        require_admin()
        svc().store.set_list(name, kind, item, actor=g.actor)
        return jsonify(item), 201

    def put_item(name, item_name):
        item = _body()
        item.setdefault("name", item_name)
        if item["name"] != item_name:
            raise BadRequest("metadata.E003", "The name in the body differs from the one in the URL.")
        if own and not g.actor.is_admin:
            _readable(name)
            svc().records(g.snapshot).check_list_view(name, item, g.actor)
            svc().store.save_own_list_view(name, item, actor=g.actor, replace=True)
            return jsonify(_own_item(name, item))
        require_admin()
        svc().store.set_list(name, kind, item, actor=g.actor, replace=True)
        return jsonify(item)

    def delete_item(name, item_name):
        if own and not g.actor.is_admin:
            _readable(name)
            svc().store.remove_own_list_view(name, item_name, actor=g.actor)
            return "", 204
        require_admin()
        svc().store.remove_from_list(name, kind, item_name, actor=g.actor)
        return "", 204

    api.add_url_rule(f"/objects/<name>/{kind}", f"list_{kind}", list_items, methods=["GET"])
    api.add_url_rule(f"/objects/<name>/{kind}", f"add_{kind}", add_item, methods=["POST"])
    api.add_url_rule(f"/objects/<name>/{kind}/<item_name>", f"put_{kind}", put_item, methods=["PUT", "PATCH"])
    api.add_url_rule(f"/objects/<name>/{kind}/<item_name>", f"delete_{kind}", delete_item, methods=["DELETE"])


def _readable(name):
    """An object the caller may not read answers 404 as an unknown one (no leak)."""
    _one(name)


def _own_item(name, item):
    return dict(item, shared=False, owner_id=g.actor.user_id) if isinstance(item, dict) else item


for _kind in _LISTS:
    _list_routes(_kind)


@api.get("/field_types")
def list_field_types():
    from engine.metadata.field_types import field_types
    return jsonify({"field_types": [
        {"name": k, "label": t.label, "formula_type": t.formula_type, "widget": t.widget,
         "stored": t.stored, "writable": t.writable, "options": sorted(t.options_schema)}
        for k, t in field_types.items()]})
