"""Hooks of the security layer into the metadata store and the record service:
field history and the metadata audit trail, written in the change's own transaction."""
from __future__ import annotations

import json

from sqlalchemy import insert, select

from engine.db import utcnow
from engine.metadata import store
from engine.records import service as service_mod

from .audit import metadata_audit_hook
from .model import field_history


def _jsonable(rt, name, fdef, value):
    ft = rt.ftypes[name]
    if value is not None:
        value = ft.to_json(fdef, value)
    return json.dumps(value, default=str)


def track_history(service, conn, rt, event, records, priors, actor):
    """Write one history row per tracked field whose value changed (updates only)."""
    if event != "update":
        return
    track_all = bool(rt.odef.doc.get("track_history"))
    tracked = [(n, f) for n, f in rt.stored.items() if f.track_history or (track_all and rt.ftypes[n].writable)]
    if not tracked:
        return
    rows, now = [], utcnow()
    for new, old in zip(records, priors):
        for name, fdef in tracked:
            a, b = old.get(fdef.column), new.get(fdef.column)
            if a == b or (a in (None, "", []) and b in (None, "", [])):
                continue
            rows.append({"object": rt.name, "record_id": new["id"], "field": name,
                         "old_value": _jsonable(rt, name, fdef, a), "new_value": _jsonable(rt, name, fdef, b),
                         "user_id": actor.user_id, "at": now})
    if rows:
        conn.execute(insert(field_history), rows)


def history(engine, obj, record_id, field=None):
    q = select(field_history).where(field_history.c.object == obj, field_history.c.record_id == record_id)
    if field:
        q = q.where(field_history.c.field == field)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(field_history.c.id)).all()
    return [{"field": r.field, "old": json.loads(r.old_value), "new": json.loads(r.new_value),
             "user_id": r.user_id, "at": r.at.isoformat()} for r in rows]


service_mod.after_write.append(track_history)
store.after_change_hooks.append(metadata_audit_hook)
