"""The CRUD benchmark's baseline: what a competent developer writes by hand with Flask and
SQLAlchemy Core for the one table ``obj_deal`` that the engine generated.

Same table, same bearer-token check (the SHA-256 of the token looked up in ``tessera_tokens``
joined to ``tessera_users``, as ``engine.security.users.actor_for_token`` does), same JSON shapes
(``{"records": [...], "next_cursor": ...}`` for lists and bulk, the record's system fields plus
its fields), the same input checks a careful developer writes for these seven fields, and the
same SQLite durability (WAL, ``PRAGMA synchronous`` from ``TESSERA_SQLITE_SYNCHRONOUS``, FULL by
default). It knows its table by heart: no metadata, no permission plans, no hooks.

Served by ``bench/crud_wsgi.py:hand_app()`` under gunicorn, exactly like the engine.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from decimal import Decimal, InvalidOperation

from flask import Flask, abort, jsonify, request
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    event,
    select,
    update,
)
from uuid6 import uuid7

STAGES = ("New", "Qualified", "Won", "Lost")
FIELDS = {"name", "amount", "stage", "close_date", "quantity", "is_priority", "description", "account",
          "owner_id"}
MAX_AMOUNT = Decimal("1e16")   # Numeric(18, 2)
MAX_BULK = 10000

md = MetaData()
deals = Table(
    "obj_deal", md,
    Column("id", String(36), primary_key=True), Column("name", String(255)), Column("owner_id", String(36)),
    Column("created_at", DateTime(timezone=True)), Column("created_by", String(36)),
    Column("updated_at", DateTime(timezone=True)), Column("updated_by", String(36)),
    Column("row_version", Integer), Column("deleted_at", DateTime(timezone=True)),
    Column("amount", Numeric(18, 2)), Column("stage", String(255)), Column("close_date", Date),
    Column("quantity", BigInteger), Column("is_priority", Boolean), Column("description", String(200)),
    Column("account", String(36)))
accounts = Table("obj_account", md, Column("id", String(36), primary_key=True),
                 Column("deleted_at", DateTime(timezone=True)))
tokens = Table("tessera_tokens", md, Column("id", String(36), primary_key=True), Column("user_id", String(36)),
               Column("token_hash", String(64)), Column("revoked_at", DateTime(timezone=True)))
users = Table("tessera_users", md, Column("id", String(36), primary_key=True), Column("active", Boolean))

def make_db(url):
    """A pooled engine; on SQLite WAL with the engine's durability setting."""
    if url.startswith("sqlite"):
        db = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        synchronous = os.environ.get("TESSERA_SQLITE_SYNCHRONOUS", "FULL").upper()
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"TESSERA_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA (got {synchronous!r})")

        @event.listens_for(db, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.close()
        return db
    # PostgreSQL: the same pool settings as the engine's make_engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def create_hand_app(url):
    """The hand-written Flask app serving ``/bench/deal`` on the database at ``url``."""
    db = make_db(url)
    app = Flask(__name__)
    app.json.sort_keys = False      # the engine's JSON provider settings: same bytes, same work
    app.json.ensure_ascii = False

    def user_id():
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            abort(401)
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        with db.connect() as conn:
            row = conn.execute(select(users.c.id).join(tokens, tokens.c.user_id == users.c.id).where(
                tokens.c.token_hash == digest, tokens.c.revoked_at.is_(None), users.c.active.is_(True))).first()
        if row is None:
            abort(401)
        return row.id

    def body(allow_list=False):
        data = request.get_json(silent=True)
        if not isinstance(data, dict) and not (allow_list and isinstance(data, list)):
            abort(400)
        return data

    @app.errorhandler(422)
    def _invalid(exc):
        return jsonify({"error": {"code": "validation_failed", "message": "Invalid record.",
                                  "fields": exc.description}}), 422

    @app.get("/healthz")
    def healthz():
        return jsonify({"ok": True})

    @app.post("/bench/deal")
    def create():
        uid = user_id()
        data = body(allow_list=True)
        now = dt.datetime.now(dt.timezone.utc)
        if isinstance(data, list):
            if not data or len(data) > MAX_BULK:
                abort(400)
            rows = []
            for i, item in enumerate(data):
                row, errors = _row(item, uid, now)
                if errors:
                    abort(422, {f"records[{i}].{k}": v for k, v in errors.items()})
                rows.append(row)
            with db.begin() as conn:
                _check_accounts(conn, rows)
                conn.execute(deals.insert(), rows)
            return jsonify({"records": [_out(r) for r in rows]}), 201
        row, errors = _row(data, uid, now)
        if errors:
            abort(422, errors)
        with db.begin() as conn:
            _check_accounts(conn, [row])
            conn.execute(deals.insert(), row)
        resp = jsonify(_out(row))
        resp.headers["ETag"] = '"1"'
        resp.headers["Location"] = f"/bench/deal/{row['id']}"
        return resp, 201

    @app.get("/bench/deal/<rid>")
    def read(rid):
        user_id()
        with db.connect() as conn:
            r = conn.execute(select(deals).where(deals.c.id == rid, deals.c.deleted_at.is_(None))).mappings().first()
        if r is None:
            abort(404)
        resp = jsonify(_out(r))
        resp.headers["ETag"] = f'"{r["row_version"]}"'
        return resp

    @app.get("/bench/deal")
    def listing():
        user_id()
        try:
            limit = int(request.args.get("limit", 50))
        except ValueError:
            abort(400)
        if not 1 <= limit <= 200:
            abort(400)
        q = select(deals).where(deals.c.deleted_at.is_(None))
        if request.args.get("stage"):
            q = q.where(deals.c.stage == request.args["stage"])
        after = request.args.get("cursor")
        if after:
            q = q.where(deals.c.id > base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode())
        with db.connect() as conn:
            rows = conn.execute(q.order_by(deals.c.id).limit(limit + 1)).mappings().all()
        nxt = None
        if len(rows) > limit:
            rows = rows[:limit]
            nxt = base64.urlsafe_b64encode(rows[-1]["id"].encode()).decode().rstrip("=")
        return jsonify({"records": [_out(r) for r in rows], "next_cursor": nxt})

    @app.patch("/bench/deal/<rid>")
    def patch(rid):
        uid = user_id()
        data = body()
        values, errors = _values(data, partial=True)
        if errors:
            abort(422, errors)
        with db.begin() as conn:
            if "account" in values:
                _check_accounts(conn, [values])
            values.update(updated_by=uid, updated_at=dt.datetime.now(dt.timezone.utc),
                          row_version=deals.c.row_version + 1)
            res = conn.execute(update(deals).where(deals.c.id == rid, deals.c.deleted_at.is_(None)).values(values))
            if res.rowcount != 1:
                abort(404)
            r = conn.execute(select(deals).where(deals.c.id == rid)).mappings().first()
        resp = jsonify(_out(r))
        resp.headers["ETag"] = f'"{r["row_version"]}"'
        return resp

    app.extensions["bench_db"] = db
    return app


def _row(data, uid, now):
    values, errors = _values(data, partial=False)
    row = {"id": str(uuid7()), "name": None, "owner_id": uid, "created_at": now, "created_by": uid,
           "updated_at": now, "updated_by": uid, "row_version": 1, "deleted_at": None, "amount": None,
           "stage": None, "close_date": None, "quantity": None, "is_priority": False, "description": None,
           "account": None}
    row.update(values)
    return row, errors


def _values(data, partial):
    """Check and convert one record's fields (the checks a careful developer writes for them)."""
    if not isinstance(data, dict):
        return {}, {"_body": ["Must be a JSON object."]}
    out, errors = {}, {}
    for key in data:
        if key not in FIELDS:
            errors[key] = ["Unknown field."]
    if "name" in data:
        v = data["name"]
        if v is not None and (not isinstance(v, str) or len(v) > 255):
            errors["name"] = ["Not a valid string (at most 255 characters)."]
        out["name"] = v or None
    if "amount" in data:
        v = data["amount"]
        if v is None:
            out["amount"] = None
        else:
            try:
                if isinstance(v, bool):
                    raise InvalidOperation
                d = Decimal(str(v)).quantize(Decimal("0.01"))
                if not d.is_finite() or abs(d) >= MAX_AMOUNT:
                    raise InvalidOperation
                out["amount"] = d
            except (InvalidOperation, ValueError):
                errors["amount"] = ["Not a valid number."]
    if "stage" in data:
        v = data["stage"]
        if v is not None and v not in STAGES:
            errors["stage"] = [f"Must be one of: {', '.join(STAGES)}."]
        out["stage"] = v or None
    if "close_date" in data:
        v = data["close_date"]
        try:
            out["close_date"] = None if v is None else dt.date.fromisoformat(v)
        except (TypeError, ValueError):
            errors["close_date"] = ["Not a valid date (YYYY-MM-DD)."]
    if "quantity" in data:
        v = data["quantity"]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or abs(v) > 2 ** 63 - 1):
            errors["quantity"] = ["Not a valid integer."]
        out["quantity"] = v
    if "is_priority" in data:
        v = data["is_priority"]
        if v is not None and not isinstance(v, bool):
            errors["is_priority"] = ["Not a valid boolean."]
        out["is_priority"] = bool(v)
    if "description" in data:
        v = data["description"]
        if v is not None and (not isinstance(v, str) or len(v) > 200):
            errors["description"] = ["Not a valid string (at most 200 characters)."]
        out["description"] = v or None
    if "account" in data:
        v = data["account"]
        if v is not None and not isinstance(v, str):
            errors["account"] = ["Not a valid id."]
        out["account"] = v or None
    if not partial and not out.get("stage"):
        errors.setdefault("stage", ["Required."])
    return out, errors


def _check_accounts(conn, rows):
    ids = {r["account"] for r in rows if r.get("account")}
    if ids:
        found = set(conn.execute(select(accounts.c.id).where(accounts.c.id.in_(ids),
                                                             accounts.c.deleted_at.is_(None))).scalars())
        if ids - found:
            abort(422, {"account": [f"No Account with id '{min(ids - found)[:40]}'."]})


def _iso(v):
    if v is None:
        return None
    if v.tzinfo is None:            # SQLite hands back naive UTC
        v = v.replace(tzinfo=dt.timezone.utc)
    return v.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _out(r):
    amount = r["amount"]
    return {"id": r["id"], "name": r["name"], "owner_id": r["owner_id"], "created_at": _iso(r["created_at"]),
            "created_by": r["created_by"], "updated_at": _iso(r["updated_at"]), "updated_by": r["updated_by"],
            "row_version": r["row_version"], "deleted_at": _iso(r["deleted_at"]),
            "amount": None if amount is None else float(amount), "stage": r["stage"],
            "close_date": r["close_date"].isoformat() if r["close_date"] else None, "quantity": r["quantity"],
            "is_priority": bool(r["is_priority"]), "description": r["description"], "account": r["account"]}


__all__ = ["create_hand_app"]
