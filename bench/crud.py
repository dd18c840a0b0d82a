"""CRUD through the generated REST API against a hand-written Flask + SQLAlchemy endpoint on
the same table, the same server and the same run.

    python bench/crud.py [--db-url URL] [--threads 4] [--quick]

Both sides do what a real endpoint does: check the bearer token (same SHA-256 lookup),
validate the input, write with system fields, serialise JSON. The hand-written side knows
its one table by heart; the generated side reads everything from metadata. Prints throughput,
p50/p95 latency and the ratio generated/hand (1.0 = as fast); no assertions.
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ["New", "Qualified", "Won", "Lost"]
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "amount", "type": "currency", "scale": 2},
    {"api_name": "stage", "type": "picklist", "filterable": True, "options": [{"value": s} for s in STAGES]},
    {"api_name": "close_date", "type": "date"},
    {"api_name": "quantity", "type": "integer"},
    {"api_name": "is_priority", "type": "checkbox"},
    {"api_name": "description", "type": "text", "max_length": 200},
    {"api_name": "account", "type": "lookup", "target": "account"},
]}


def hand_written_blueprint(engine):
    """What a competent developer writes by hand for the one table ``obj_deal``."""
    import datetime as dt
    import hashlib

    from flask import Blueprint, abort, jsonify, request
    from sqlalchemy import MetaData, Table, select, update
    from uuid6 import uuid7

    bp = Blueprint("bench", __name__)
    md = MetaData()
    t = Table("obj_deal", md, autoload_with=engine)
    tokens = Table("tessera_tokens", md, autoload_with=engine)
    users = Table("tessera_users", md, autoload_with=engine)

    def user_id():
        auth = request.headers.get("Authorization", "")
        digest = hashlib.sha256(auth.removeprefix("Bearer ").encode()).hexdigest()
        with engine.connect() as conn:
            row = conn.execute(select(users.c.id).join(tokens, tokens.c.user_id == users.c.id).where(
                tokens.c.token_hash == digest, tokens.c.revoked_at.is_(None), users.c.active.is_(True))).first()
        if row is None:
            abort(401)
        return row.id

    def out(r):
        return {"id": r.id, "name": r.name, "owner_id": r.owner_id, "row_version": r.row_version,
                "created_at": r.created_at.isoformat() if hasattr(r.created_at, "isoformat") else r.created_at,
                "amount": float(r.amount) if r.amount is not None else None, "stage": r.stage,
                "close_date": r.close_date.isoformat() if r.close_date else None, "quantity": r.quantity,
                "is_priority": bool(r.is_priority), "description": r.description, "account": r.account}

    @bp.post("/bench/deal")
    def create():
        uid = user_id()
        body = request.get_json()
        if not isinstance(body, dict) or body.get("stage") not in STAGES:
            return jsonify({"error": {"fields": {"stage": ["invalid"]}}}), 422
        try:
            amount = Decimal(str(body["amount"])).quantize(Decimal("0.01")) if body.get("amount") is not None else None
        except InvalidOperation:
            return jsonify({"error": {"fields": {"amount": ["invalid"]}}}), 422
        now = dt.datetime.now(dt.timezone.utc)
        row = {"id": str(uuid7()), "name": body.get("name"), "owner_id": uid, "created_at": now,
               "created_by": uid, "updated_at": now, "updated_by": uid, "row_version": 1, "deleted_at": None,
               "amount": amount, "stage": body["stage"],
               "close_date": dt.date.fromisoformat(body["close_date"]) if body.get("close_date") else None,
               "quantity": body.get("quantity"), "is_priority": bool(body.get("is_priority")),
               "description": body.get("description"), "account": None}
        with engine.begin() as conn:
            conn.execute(t.insert().values(row))
        return jsonify(out(type("R", (), row))), 201

    @bp.get("/bench/deal/<rid>")
    def read(rid):
        user_id()
        with engine.connect() as conn:
            r = conn.execute(select(t).where(t.c.id == rid, t.c.deleted_at.is_(None))).first()
        if r is None:
            abort(404)
        return jsonify(out(r))

    @bp.get("/bench/deal")
    def listing():
        user_id()
        q = select(t).where(t.c.deleted_at.is_(None))
        if request.args.get("stage"):
            q = q.where(t.c.stage == request.args["stage"])
        q = q.order_by(t.c.amount.desc(), t.c.id.desc()).limit(50)
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        return jsonify({"records": [out(r) for r in rows]})

    @bp.patch("/bench/deal/<rid>")
    def patch(rid):
        uid = user_id()
        body = request.get_json()
        try:
            amount = Decimal(str(body["amount"])).quantize(Decimal("0.01"))
        except (InvalidOperation, KeyError, TypeError):
            return jsonify({"error": {"fields": {"amount": ["invalid"]}}}), 422
        with engine.begin() as conn:
            res = conn.execute(update(t).where(t.c.id == rid, t.c.deleted_at.is_(None)).values(
                amount=amount, updated_by=uid, updated_at=dt.datetime.now(dt.timezone.utc),
                row_version=t.c.row_version + 1))
            if res.rowcount != 1:
                abort(404)
            r = conn.execute(select(t).where(t.c.id == rid)).first()
        return jsonify(out(r))

    return bp


class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        t0 = time.perf_counter()
        self.conn.request(method, path, body=data, headers=self.headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        elapsed = time.perf_counter() - t0
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {payload[:200]!r}")
        return elapsed, json.loads(payload)


def run_phase(port, token, threads, jobs):
    """Run ``jobs`` (list of (method, path, body)) spread over threads; return (ops/s, latencies)."""
    lat, results = [], []
    lock = threading.Lock()
    chunks = [jobs[i::threads] for i in range(threads)]

    def work(chunk):
        c = Client(port, token)
        mine, res = [], []
        for method, path, body in chunk:
            e, payload = c.call(method, path, body)
            mine.append(e)
            res.append(payload)
        with lock:
            lat.extend(mine)
            results.extend(res)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(ch,)) for ch in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    return len(jobs) / wall, lat, results


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000


def main(argv=None):
    ap = argparse.ArgumentParser(description="CRUD benchmark: generated API vs hand-written endpoint")
    ap.add_argument("--db-url", help="default: a temporary SQLite file")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="a small run (for smoke tests)")
    args = ap.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    counts = {"create": int(2000 * scale), "read": int(2000 * scale), "list": int(500 * scale),
              "update": int(1000 * scale)}

    import logging

    from sqlalchemy import create_engine, text
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from engine import create_app
    from engine.security.users import create_token, create_user

    schema = None
    if args.db_url:
        schema = f"crud_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.db_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.db_url else "?"
        url = f"{args.db_url}{sep}options={quote(f'-csearch_path={schema}')}"
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/crud.db"
    try:
        app = create_app({"database_url": url})
        s = app.extensions["tessera"]
        create_user(s.engine, "bench", "bench-password", is_admin=True)
        token = create_token(s.engine, "bench")
        s.store.create_object({"api_name": "account", "fields": []})
        s.store.create_object(DEAL)
        app.register_blueprint(hand_written_blueprint(s.engine))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        port = server.server_port
        threading.Thread(target=server.serve_forever, daemon=True).start()

        def body(i):
            return {"name": f"Deal {i}", "amount": round(1000 + i * 7.31, 2), "stage": STAGES[i % 4],
                    "close_date": "2025-06-30", "quantity": i % 20, "is_priority": i % 2 == 0,
                    "description": "benchmark deal"}

        bases = {"generated": "/api/v1/records/deal", "hand": "/bench/deal"}
        # warm-up both sides
        for base in bases.values():
            run_phase(port, token, 2, [("POST", base, body(i)) for i in range(50)])
            run_phase(port, token, 2, [("GET", f"{base}?stage=Won", None) for _ in range(20)])
        results = {}
        order = ["generated", "hand"]
        ids = {}
        for phase in ("create", "read", "list", "update"):
            for side in (order if phase in ("create", "list") else order[::-1]):
                base = bases[side]
                n = counts[phase]
                if phase == "create":
                    jobs = [("POST", base, body(i)) for i in range(n)]
                elif phase == "read":
                    jobs = [("GET", f"{base}/{ids[side][i % len(ids[side])]}", None) for i in range(n)]
                elif phase == "list":
                    q = "?stage=Won&order_by=-amount&limit=50" if side == "generated" else "?stage=Won"
                    jobs = [("GET", base + q, None) for _ in range(n)]
                else:
                    jobs = [("PATCH", f"{base}/{ids[side][i % len(ids[side])]}", {"amount": 5000 + i})
                            for i in range(n)]
                ops, lat, res = run_phase(port, token, args.threads, jobs)
                if phase == "create":
                    ids[side] = [r["id"] for r in res]
                results[(phase, side)] = (ops, pct(lat, 50), pct(lat, 95))
        server.shutdown()
        db = "PostgreSQL" if args.db_url else "SQLite"
        print(f"CRUD benchmark on {db}, {args.threads} client threads, werkzeug threaded server, one process")
        print(f"{'operation':10s} {'generated ops/s':>16s} {'hand ops/s':>11s} {'ratio':>6s} "
              f"{'gen p50/p95 ms':>15s} {'hand p50/p95 ms':>16s}")
        ratios = []
        for phase in ("create", "read", "list", "update"):
            g, h = results[(phase, "generated")], results[(phase, "hand")]
            ratios.append(g[0] / h[0])
            print(f"{phase:10s} {g[0]:16,.0f} {h[0]:11,.0f} {g[0] / h[0]:5.2f}x "
                  f"{g[1]:7.1f}/{g[2]:<7.1f} {h[1]:8.1f}/{h[2]:<7.1f}")
        print(f"geometric mean ratio: {statistics.geometric_mean(ratios):.2f}x (goal >= 0.7x)")
        app.extensions["tessera"].engine.dispose()
    finally:
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
