"""Field history: one row per tracked field whose value an update changed, written in the
update's own transaction (a ``after_write`` hook of the write pipeline)."""
from __future__ import annotations

import functools
import json

from sqlalchemy import (BigInteger, Column, DateTime, Index, Integer, String, Table, Text, bindparam, insert,
                        select)

from engine.db import HISTORY, iso_utc, read_connection, system_metadata, utcnow
from engine.metadata.store import note_rows

from .pipeline import Event

field_history = Table(
    "tessera_field_history", system_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("object", String(64), nullable=False),
    Column("record_id", String(36), nullable=False),
    Column("field", String(64), nullable=False),
    Column("old_value", Text, nullable=True),
    Column("new_value", Text, nullable=True),
    Column("user_id", String(36), nullable=True, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_tessera_field_history_rec", "object", "record_id", "at"),
)


def _jsonable(rt, name, fdef, value):
    if value is not None:
        value = rt.ftypes[name].to_json(fdef, value)
    return json.dumps(value, default=str)


def tracked_fields(rt):
    """``[(api_name, FieldDef)]`` of the fields whose changes an update writes to the history."""
    track_all = bool(rt.odef.doc.get("track_history"))
    return [(n, f) for n, f in rt.stored.items() if f.track_history or (track_all and rt.ftypes[n].writable)]


def history_flags(service, rt, event):
    """Pipeline hook (``flags``): an update that sends a tracked field may write the object's first
    history row (``track_history`` notes the flag); a hook that changes fields itself (automations'
    field updates) says so in its own ``flags``."""
    tracked = tracked_fields(rt) if event is Event.UPDATE else ()
    return ((rt.name, HISTORY, frozenset(n for n, _f in tracked)),) if tracked else ()


def track_history(ctx):
    """Pipeline hook (``after_write``): history rows for the tracked fields an update changed."""
    if ctx.event is not Event.UPDATE:
        return
    rt = ctx.rt
    tracked = tracked_fields(rt)
    if not tracked:
        return
    rows, now = [], ctx.now or utcnow()
    for change in ctx.changes:
        new, old = change.values, change.prior or {}
        for name, fdef in tracked:
            a, b = old.get(fdef.column), new.get(fdef.column)
            if a == b or (a in (None, "", []) and b in (None, "", [])):
                continue
            rows.append({"object": rt.name, "record_id": new["id"], "field": name,
                         "old_value": _jsonable(rt, name, fdef, a), "new_value": _jsonable(rt, name, fdef, b),
                         "user_id": ctx.actor.user_id, "at": now})
    if rows:
        note_rows(ctx.conn, ctx.service.snapshot.features, (rt.name,), HISTORY)   # the record page reads them
        ctx.conn.execute(insert(field_history), rows)


@functools.cache
def _history_query(by_field):
    """The statement of :func:`field_history_of`, built once (a record page runs it)."""
    q = select(field_history).where(field_history.c.object == bindparam("obj"),
                                    field_history.c.record_id == bindparam("record_id"))
    if by_field:
        q = q.where(field_history.c.field == bindparam("field"))
    return q.order_by(field_history.c.id)


def field_history_of(engine, obj, record_id, field=None, hidden=(), snapshot=None):
    """The history of one record, oldest first, without fields in ``hidden``; none read when
    ``snapshot`` says the object has no history rows (``Snapshot.has_rows``)."""
    if snapshot is not None and not snapshot.has_rows(obj, HISTORY):
        return []
    with read_connection(engine) as conn:   # a read: no write lock (SQLite)
        rows = conn.execute(_history_query(bool(field)), {"obj": obj, "record_id": record_id, "field": field}).all()
    return [{"field": r.field, "old": json.loads(r.old_value), "new": json.loads(r.new_value),
             "user_id": r.user_id, "at": iso_utc(r.at)} for r in rows if r.field not in hidden]
