"""The audit log: sign-ins (success and failure), lockouts, token use, metadata and
permission changes. Written in the same transaction as the change it records."""
from __future__ import annotations

import datetime as _dt
import json

from sqlalchemy import insert, select

from engine.db import iso_utc, utcnow

from .model import audit_log

EVENTS = ("login", "login_failed", "login_locked", "token_use", "token_created", "token_revoked",
          "metadata_change", "permission_change", "user_change")


def audit(conn, event, *, user_id=None, username=None, ip=None, **detail):
    conn.execute(insert(audit_log).values(at=utcnow(), event=event, user_id=user_id, username=username,
                                          ip=ip, detail=json.dumps(detail, default=str)))


def search(engine, *, event=None, user=None, since=None, limit=200, before_id=None):
    """Audit entries, newest first; ``user`` matches the username."""
    t = audit_log
    q = select(t).order_by(t.c.id.desc()).limit(limit)
    if event:
        q = q.where(t.c.event == event)
    if user:
        q = q.where(t.c.username == user)
    if since:
        if since.tzinfo is None:
            since = since.replace(tzinfo=_dt.timezone.utc)
        q = q.where(t.c.at >= since)
    if before_id:
        q = q.where(t.c.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [{"id": r.id, "at": _iso(r.at), "event": r.event, "user_id": r.user_id, "username": r.username,
             "ip": r.ip, "detail": json.loads(r.detail or "{}")} for r in rows]


def _iso(value):
    return iso_utc(value)


def metadata_audit_hook(conn, old_odef, new_odef, docs_after, actor):
    """A ``MetadataHooks.after_change`` hook: every metadata change is audited in its transaction."""
    name = (new_odef or old_odef).api_name
    audit(conn, "metadata_change", user_id=actor.user_id, username=actor.username, object=name,
          version=new_odef.version if new_odef else (old_odef.version + 1 if old_odef else None),
          change="deleted" if new_odef is None else ("created" if old_odef is None else "changed"))
