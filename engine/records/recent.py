"""Recently viewed records, per user: the home page's "Recent records".

A view is noted when a user opens a record's page (``note_viewed``); reading them back
(``recent_records``) goes through the record service's list as that user, so a record they may no
longer see — deleted, its sharing changed, its object no longer readable, a field hidden — is not
shown, and names are read as they are now. Only ids are kept here, never values.

Writes are kept cheap: one upsert-like delete + insert per view, none when the same user opens the
same record again within ``REPEAT_SECONDS`` in this process (a reload), and the table keeps the
newest ``KEEP_PER_USER`` rows of each user.
"""
from __future__ import annotations

import threading
import time

from sqlalchemy import Column, DateTime, Index, String, Table, delete, insert, select

from engine.db import system_metadata, utcnow
from engine.errors import EngineError

recent_views = Table(
    "tessera_recent_views", system_metadata,
    Column("user_id", String(36), primary_key=True),
    Column("record_id", String(36), primary_key=True),
    Column("object", String(64), nullable=False),
    Column("viewed_at", DateTime(timezone=True), nullable=False),
    Index("ix_tessera_recent_views_user", "user_id", "viewed_at"),
)

KEEP_PER_USER = 50
REPEAT_SECONDS = 60
_last = {}                 # user id -> (record id, monotonic time): the last view noted in this process
_last_lock = threading.Lock()


def note_viewed(engine, actor, obj, record_id):
    """Note that ``actor`` opened record ``record_id`` of ``obj`` (the system actor: nothing)."""
    user = getattr(actor, "user_id", None)
    if user is None:
        return
    now = time.monotonic()
    with _last_lock:
        last = _last.get(user)
        if last is not None and last[0] == record_id and now - last[1] < REPEAT_SECONDS:
            return
        _last[user] = (record_id, now)
    with engine.begin() as conn:
        conn.execute(delete(recent_views).where(recent_views.c.user_id == user,
                                                recent_views.c.record_id == record_id))
        conn.execute(insert(recent_views).values(user_id=user, record_id=record_id, object=obj,
                                                 viewed_at=utcnow()))
        keep = (select(recent_views.c.record_id).where(recent_views.c.user_id == user)
                .order_by(recent_views.c.viewed_at.desc()).limit(KEEP_PER_USER))
        conn.execute(delete(recent_views).where(recent_views.c.user_id == user,
                                                recent_views.c.record_id.not_in(keep.scalar_subquery())))


def forget_user_memo():
    """Clear this process's memo of the last views (tests)."""
    with _last_lock:
        _last.clear()


def recent_records(service, actor, limit=10):
    """``[(object, record)]``: the records ``actor`` opened last, newest first, that they may still
    read (each read through ``service.list`` as the actor, one query per object; records carry
    ``id`` and ``name``)."""
    user = getattr(actor, "user_id", None)
    if user is None:
        return []
    with service.engine.connect() as conn:
        rows = conn.execute(select(recent_views.c.object, recent_views.c.record_id)
                            .where(recent_views.c.user_id == user)
                            .order_by(recent_views.c.viewed_at.desc()).limit(limit * 3)).all()
    by_object = {}
    for obj, rid in rows:
        by_object.setdefault(obj, []).append(rid)
    found = {}
    for obj, ids in by_object.items():
        if service.snapshot.get(obj) is None or not actor.plan.can(obj, "read"):
            continue
        try:
            recs = service.list(obj, actor, filters={"id__in": ",".join(ids)}, fields=["name"],
                                limit=len(ids), max_limit=200)["records"]
        except EngineError:
            continue
        found.update({r["id"]: (obj, r) for r in recs})
    return [found[rid] for _obj, rid in rows if rid in found][:limit]
