"""Who is acting: a bearer token (the API) or a signed-in session (the pages) resolved to an
:class:`~engine.security.Actor` with its permission plan, plus the metadata version the
request must run on. Every door uses this; none decides on its own who the caller is."""
from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
from dataclasses import dataclass, replace

from sqlalchemy import Column, DateTime, String, Table, bindparam, insert, select, update

from engine.db import SECURITY_STATE, meta_state, read_connection, system_metadata, users, utcnow
from engine.errors import Unauthorized

from . import Actor
from .users import actor_for_token, note_token_use


@dataclass(frozen=True)
class Resolved:
    """An authenticated actor (with plan) and the metadata version to serve them."""

    actor: Actor
    metadata_version: int


def resolve_token(engine, plans, token, *, ip=None, header_sent=True):
    """Resolve a bearer token; raise ``Unauthorized`` when missing
    (``security.E044``) or invalid or revoked (``security.E045``)."""
    with engine.connect().execution_options(tessera_readonly=True, tessera_one_read=True) as conn:
        actor, version, sec_version, token_row = actor_for_token(conn, token)
    if actor is None:
        if not header_sent:
            raise Unauthorized("security.E044", "Sign in: send 'Authorization: Bearer <token>'.")
        raise Unauthorized("security.E045", "The token is invalid or revoked.")
    note_token_use(engine, token_row, ip=ip)
    plan = plans.get(engine, actor.user_id, actor.is_admin, sec_version)
    return Resolved(replace(actor, plan=plan), version)


def actor_for_user(engine, plans, username):
    """The actor for an active user by name (command line, packs, tests)."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        sec = conn.execute(select(meta_state.c.version).where(meta_state.c.id == SECURITY_STATE)).scalar_one()
    if row is None or not row.active:
        raise Unauthorized("security.E047", f"No active user '{username}'.")
    actor = Actor(user_id=row.id, username=row.username, is_admin=row.is_admin, locale=row.locale)
    return replace(actor, plan=plans.get(engine, row.id, row.is_admin, sec))


# -- browser sessions (the pages) ------------------------------------------------------------
# A browser session is a row here; the cookie holds only its random secret (signed by Flask), and
# only the secret's SHA-256 is stored, like API tokens. Sign-out, deactivating the user or
# ``revoke_user_sessions`` (a password reset) end it on the next request of every process. A
# table of its own rather than rows in ``tessera_tokens``: a session secret is never a bearer token,
# and API-token listings stay free of browser sessions.
browser_sessions = Table(
    "tessera_sessions", system_metadata,
    Column("id", String(64), primary_key=True),              # SHA-256 of the cookie's secret
    Column("user_id", String(36), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("ip", String(64), nullable=True),
)

SESSION_IDLE = _dt.timedelta(days=7)        # unused this long: signed out
SESSION_MAX_AGE = _dt.timedelta(days=30)    # signed out this long after sign-in, used or not
SESSION_TOUCH = _dt.timedelta(minutes=10)   # last_seen_at is written at most this often
LOCALES = ("en", "zh_CN")


def _session_id(secret):
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _aware(value):
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value


def open_session(engine, actor, *, ip=None):
    """Start a browser session for a signed-in ``actor``; returns the secret for the cookie."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(browser_sessions).values(id=_session_id(secret), user_id=actor.user_id,
                                                     created_at=now, last_seen_at=now, ip=(ip or "")[:64]))
    return secret


def close_session(engine, secret):
    """End a browser session (sign-out); unknown or already closed secrets are ignored."""
    if not secret or not isinstance(secret, str) or len(secret) > 200:
        return
    with engine.begin() as conn:
        conn.execute(update(browser_sessions).where(browser_sessions.c.id == _session_id(secret),
                                                    browser_sessions.c.revoked_at.is_(None))
                     .values(revoked_at=utcnow()))


def revoke_user_sessions(engine, user_id):
    """End every browser session of a user (password reset, deactivation); returns how many."""
    with engine.begin() as conn:
        res = conn.execute(update(browser_sessions).where(browser_sessions.c.user_id == user_id,
                                                          browser_sessions.c.revoked_at.is_(None))
                           .values(revoked_at=utcnow()))
    return res.rowcount


_SESSION_QUERY = []


def _session_query():
    """The statement of :func:`resolve_session`, built once (every page runs it)."""
    if not _SESSION_QUERY:
        s = browser_sessions
        version = select(meta_state.c.version).where(meta_state.c.id == 1).scalar_subquery()
        sec = select(meta_state.c.version).where(meta_state.c.id == SECURITY_STATE).scalar_subquery()
        _SESSION_QUERY.append(
            select(users.c.id, users.c.username, users.c.is_admin, users.c.active, users.c.locale,
                   s.c.id.label("session_id"), s.c.created_at, s.c.last_seen_at,
                   version.label("meta_version"), sec.label("security_version"))
            .select_from(s.join(users, users.c.id == s.c.user_id))
            .where(s.c.id == bindparam("session_id"), s.c.revoked_at.is_(None)))
    return _SESSION_QUERY[0]


def resolve_session(engine, plans, secret):
    """Resolve a browser session's secret like :func:`resolve_token` resolves a bearer token:
    the actor (with its plan) and the metadata version. Raises ``Unauthorized`` when there is
    no session (``security.E044``) or it is revoked, expired or its user inactive (``security.E046``)."""
    if not secret or not isinstance(secret, str) or len(secret) > 200:
        raise Unauthorized("security.E044", "Sign in to continue.")
    s = browser_sessions
    with read_connection(engine) as conn:
        row = conn.execute(_session_query(), {"session_id": _session_id(secret)}).first()
    now = utcnow()
    if row is None or not row.active or now - _aware(row.created_at) > SESSION_MAX_AGE \
            or now - _aware(row.last_seen_at) > SESSION_IDLE:
        raise Unauthorized("security.E046", "Your session has ended; sign in again.")
    if now - _aware(row.last_seen_at) > SESSION_TOUCH:
        with engine.begin() as conn:
            conn.execute(update(s).where(s.c.id == row.session_id).values(last_seen_at=now))
    actor = Actor(user_id=row.id, username=row.username, is_admin=row.is_admin, scope="all", locale=row.locale)
    plan = plans.get(engine, actor.user_id, actor.is_admin, row.security_version)
    return Resolved(replace(actor, plan=plan), row.meta_version)


def set_user_locale(engine, user_id, locale):
    """Remember a user's language (the pages' switcher); ``locale`` is one of :data:`LOCALES`."""
    if locale not in LOCALES:
        raise ValueError(f"Unknown locale '{locale}'. Known: {', '.join(LOCALES)}.")
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(locale=locale))
