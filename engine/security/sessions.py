"""Who is acting: a bearer token (the API) or a signed-in session (the pages) resolved to an
:class:`~engine.security.Actor` with its permission plan, plus the metadata version the
request must run on. Every door uses this; none decides on its own who the caller is."""
from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select

from engine.db import users
from engine.errors import Unauthorized

from . import Actor
from .users import actor_for_token, note_token_use


@dataclass(frozen=True)
class Resolved:
    """An authenticated actor (with plan) and the metadata version to serve them."""

    actor: Actor
    metadata_version: int


def resolve_token(engine, plans, token, *, ip=None, header_sent=True):
    """Resolve a bearer token; raise ``Unauthorized`` (``auth.E401``) when missing or invalid."""
    with engine.connect().execution_options(tessera_readonly=True) as conn:
        actor, version, sec_version, token_row = actor_for_token(conn, token)
    if actor is None:
        if not header_sent:
            raise Unauthorized("api.E401", "Sign in: send 'Authorization: Bearer <token>'.")
        raise Unauthorized("api.E401", "The token is invalid or revoked.")
    note_token_use(engine, token_row, ip=ip)
    plan = plans.get(engine, actor.user_id, actor.is_admin, sec_version)
    return Resolved(replace(actor, plan=plan), version)


def actor_for_user(engine, plans, username):
    """The actor for an active user by name (command line, packs, tests)."""
    from engine.db import meta_state
    from engine.db import SECURITY_STATE

    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        sec = conn.execute(select(meta_state.c.version).where(meta_state.c.id == SECURITY_STATE)).scalar_one()
    if row is None or not row.active:
        raise Unauthorized("auth.E402", f"No active user '{username}'.")
    actor = Actor(user_id=row.id, username=row.username, is_admin=row.is_admin, locale=row.locale)
    return replace(actor, plan=plans.get(engine, row.id, row.is_admin, sec))
