"""Users, argon2 password hashing and API tokens.

Passwords are hashed with argon2id (argon2-cffi). API tokens are 256-bit random
secrets shown once; only their SHA-256 is stored (a fast hash is right for
high-entropy secrets and keeps every request to one indexed lookup). Revoking a
token takes effect on the next request of every process.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, insert, select, update
from uuid6 import uuid7

from engine.db import SECURITY_STATE, meta_state, tokens, users, utcnow
from engine.errors import BadRequest, Conflict, NotFound, Unauthorized
from engine.errors import TooManyRequests as TooManyAttempts

from . import Actor
from .audit import audit
from .model import login_failures

_hasher = PasswordHasher()
# fullmatch, never match with "$": "$" also matches before a final newline.
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,149}")
TOKEN_PREFIX = "tsr_"


def hash_password(password):
    return _hasher.hash(password)


def verify_password(password_hash, password):
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(engine, username, password=None, *, is_admin=False, locale="en"):
    """Create a user; returns its row as a dict. Raises BadRequest/Conflict on bad input."""
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise BadRequest("security.E001", f"Invalid username '{username}': use letters, digits and _ . @ + - "
                         "(at most 150 characters).", fields={"username": ["invalid"]})
    if password is not None and (not isinstance(password, str) or len(password) < 8):
        raise BadRequest("security.E002", "Password must be at least 8 characters long.",
                         fields={"password": ["too short"]})
    with engine.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise Conflict("security.E003", f"User '{username}' already exists.",
                           fields={"username": ["already exists"]})
        uid = str(uuid7())
        conn.execute(insert(users).values(
            id=uid, username=username, password_hash=hash_password(password) if password else None,
            is_admin=bool(is_admin), active=True, locale=locale, created_at=utcnow()))
    return {"id": uid, "username": username, "is_admin": bool(is_admin)}


def get_user(engine, username):
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        raise NotFound("security.E036", f"Unknown user '{username}'.")
    return row


def authenticate(engine, username, password):
    """Return an Actor for valid credentials, else None (constant work either way)."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None or not row.active:
        verify_password(_DUMMY_HASH, password or "")
        return None
    if not verify_password(row.password_hash, password or ""):
        return None
    return Actor(user_id=row.id, username=row.username, is_admin=row.is_admin, locale=row.locale)


_DUMMY_HASH = hash_password("not-a-real-password")


def _digest(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(engine, username, *, label=None, scope="all"):
    """Create an API token for a user; returns the secret (shown once)."""
    if scope not in ("all", "read"):
        raise BadRequest("security.E004", f"Unknown token scope '{scope}'. Known: all, read.")
    user = get_user(engine, username)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(insert(tokens).values(
            id=str(uuid7()), user_id=user.id, token_hash=_digest(secret), prefix=secret[:12],
            label=label, scope=scope, created_at=utcnow()))
    return secret


def revoke_token(engine, secret_or_prefix):
    with engine.begin() as conn:
        res = conn.execute(update(tokens).where(
            (tokens.c.token_hash == _digest(secret_or_prefix)) | (tokens.c.prefix == secret_or_prefix))
            .where(tokens.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
    return res.rowcount


def _token_statements():
    """The token check's two statements, built once (building a select and its cache key on every
    request cost more than running it)."""
    version = select(meta_state.c.version).where(meta_state.c.id == 1).scalar_subquery()
    sec = select(meta_state.c.version).where(meta_state.c.id == SECURITY_STATE).scalar_subquery()
    versions = select(version.label("v"), sec.label("s"))
    by_token = (select(users.c.id, users.c.username, users.c.is_admin, users.c.active, users.c.locale,
                       tokens.c.scope, tokens.c.id.label("token_id"), tokens.c.last_used_at,
                       version.label("meta_version"), sec.label("security_version"))
                .select_from(tokens.join(users, users.c.id == tokens.c.user_id))
                .where(tokens.c.token_hash == bindparam("digest"), tokens.c.revoked_at.is_(None)))
    return versions, by_token


_VERSIONS, _BY_TOKEN = _token_statements()


def actor_for_token(conn, secret):
    """Resolve a bearer token and read the metadata and security versions in one round trip.

    Returns ``(actor | None, metadata_version, security_version, token_row | None)``.
    """
    if not secret or len(secret) > 200:
        row = conn.execute(_VERSIONS).one()
        return None, row.v, row.s, None
    row = conn.execute(_BY_TOKEN, {"digest": _digest(secret)}).first()
    if row is None or not row.active:
        v = conn.execute(_VERSIONS).one()
        return None, v.v, v.s, None
    return (Actor(user_id=row.id, username=row.username, is_admin=row.is_admin, scope=row.scope,
                  locale=row.locale), row.meta_version, row.security_version, row)


def note_token_use(engine, token_row, ip=None):
    """Record token use at most once an hour per token (last_used_at and the audit log)."""
    last = token_row.last_used_at
    now = utcnow()
    if last is not None:
        if last.tzinfo is None:
            last = last.replace(tzinfo=_dt.timezone.utc)
        if now - last < _dt.timedelta(hours=1):
            return
    with engine.begin() as conn:
        conn.execute(update(tokens).where(tokens.c.id == token_row.token_id).values(last_used_at=now))
        audit(conn, "token_use", user_id=token_row.id, username=token_row.username, ip=ip,
              token=token_row.token_id)


LOCK_AFTER = 5
LOCK_MINUTES = 15


def sign_in(engine, username, password, ip=None):
    """Check credentials with throttling; returns an Actor. Audits success, failure and lockout.

    Each attempt reserves its place in the failure count *before* the password is checked,
    under a row lock, so parallel attempts cannot all read "4 failures" and all get checked:
    at most ``LOCK_AFTER`` passwords are checked per lockout, the attempt that reaches the
    limit locks the username before its check, and a success resets the count. Once a lock
    expires, one attempt is checked again (a wrong one locks again). API tokens are not
    affected: a lockout is a denial of service against a username, not against its tokens.

    Raises Unauthorized for bad credentials and TooManyAttempts while locked.
    """
    now = utcnow()
    uname = str(username)[:150]
    attempt, until = _reserve_attempt(engine, uname, now, ip)
    if attempt is None:
        raise TooManyAttempts("security.E032", f"Too many failed sign-ins for '{uname}'; try again after "
                              f"{until.strftime('%H:%M')} UTC.")
    actor = authenticate(engine, uname, password)
    lf = login_failures
    with engine.begin() as conn:
        if actor is None:
            conn.execute(update(lf).where(lf.c.username == uname).values(last_failure_at=now))
            audit(conn, "login_failed", username=uname, ip=ip, failures=attempt, locked=attempt >= LOCK_AFTER)
        else:
            conn.execute(update(lf).where(lf.c.username == uname).values(failures=0, locked_until=None))
            audit(conn, "login", user_id=actor.user_id, username=uname, ip=ip)
    if actor is None:
        raise Unauthorized("security.E031", "Wrong username or password.")
    return actor


def _reserve_attempt(engine, uname, now, ip):
    """Count one sign-in attempt atomically; return ``(attempt number, None)`` when its password
    may be checked, or ``(None, locked_until)`` when the username is locked (audited)."""
    lf = login_failures
    with engine.begin() as conn:
        # The row must exist before it can be locked; ON CONFLICT DO NOTHING never raises on
        # a concurrent insert (PostgreSQL waits for the other transaction, SQLite serialises
        # writers with BEGIN IMMEDIATE).
        conn.execute(_insert_ignoring_conflict(conn, lf).values(username=uname, failures=0))
        row = conn.execute(select(lf).where(lf.c.username == uname).with_for_update()).one()
        until = row.locked_until
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=_dt.timezone.utc)
        if until is not None and until > now:
            audit(conn, "login_locked", username=uname, ip=ip, until=until.isoformat())
            return None, until
        # An expired lock leaves room for exactly one more check.
        attempt = LOCK_AFTER if until is not None else min(row.failures, LOCK_AFTER) + 1
        if attempt > LOCK_AFTER:  # only rows written before locks were taken up front
            until = now + _dt.timedelta(minutes=LOCK_MINUTES)
            conn.execute(update(lf).where(lf.c.username == uname).values(locked_until=until))
            audit(conn, "login_locked", username=uname, ip=ip, until=until.isoformat())
            return None, until
        locked = now + _dt.timedelta(minutes=LOCK_MINUTES) if attempt >= LOCK_AFTER else None
        conn.execute(update(lf).where(lf.c.username == uname).values(failures=attempt, locked_until=locked))
    return attempt, None


def _insert_ignoring_conflict(conn, table):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=[table.c.username])


# -- API tokens managed from Setup (the pages) ---------------------------------------------------
TOKEN_LABEL_MAX = 200


def _may_manage_tokens(actor, username):
    """An administrator manages everyone's tokens; a user only their own."""
    from engine.errors import Forbidden

    if actor is None or not (actor.is_admin or actor.username == username):
        raise Forbidden("security.E033", "Only administrators may manage other users' API tokens.")


def issue_token(engine, username, actor, *, label=None, scope="all"):
    """Create an API token for ``username`` on behalf of ``actor`` (an administrator, or the user
    themself) and audit it (``token_created``). Returns the secret, which is shown once.

    Raises ``Forbidden`` (security.E033), ``NotFound`` (E036), ``BadRequest`` for an unknown scope
    (E004) or a label longer than 200 characters (E005)."""
    _may_manage_tokens(actor, username)
    label = (label or "").strip() or None
    if label is not None and len(label) > TOKEN_LABEL_MAX:
        raise BadRequest("security.E005", f"A token's label may have at most {TOKEN_LABEL_MAX} characters "
                         f"(got {len(label)}).", fields={"label": ["too long"]})
    secret = create_token(engine, username, label=label, scope=scope)
    with engine.begin() as conn:
        audit(conn, "token_created", user_id=actor.user_id, username=actor.username, target=username,
              prefix=secret[:12], scope=scope)
    return secret


def list_tokens(engine, username, actor):
    """The API tokens of ``username`` that still work, newest first: ``[{"id", "prefix", "label",
    "scope", "created_at", "last_used_at"}]`` (never the secret: only its hash is stored)."""
    _may_manage_tokens(actor, username)
    user = get_user(engine, username)
    with engine.connect() as conn:
        rows = conn.execute(select(tokens).where(tokens.c.user_id == user.id, tokens.c.revoked_at.is_(None))
                            .order_by(tokens.c.created_at.desc(), tokens.c.id.desc())).all()
    return [{"id": r.id, "prefix": r.prefix, "label": r.label, "scope": r.scope, "created_at": _aware(r.created_at),
             "last_used_at": _aware(r.last_used_at)} for r in rows]


def revoke_token_id(engine, username, token_id, actor):
    """Revoke one token of ``username`` by its id (audited as ``token_revoked``); the next request
    with it is refused in every process. Raises ``NotFound`` (security.E040) when ``username`` has
    no working token with that id."""
    _may_manage_tokens(actor, username)
    user = get_user(engine, username)
    with engine.begin() as conn:
        row = conn.execute(select(tokens.c.prefix).where(
            tokens.c.id == str(token_id)[:36], tokens.c.user_id == user.id, tokens.c.revoked_at.is_(None))).first()
        if row is None:
            raise NotFound("security.E040", f"User '{username}' has no working API token '{str(token_id)[:36]}'.")
        conn.execute(update(tokens).where(tokens.c.id == str(token_id)[:36]).values(revoked_at=utcnow()))
        audit(conn, "token_revoked", user_id=actor.user_id, username=actor.username, target=username,
              prefix=row.prefix)
    return row.prefix


def _aware(value):
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value
