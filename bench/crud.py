"""CRUD through the generated REST API against a hand-written Flask + SQLAlchemy baseline, in
the production shape, in the same run.

    python bench/crud.py [--quick] [--db sqlite|postgresql|both] [--pg-url URL] [--profile DIR]
                         [--ops create,read,...] [--engine-root OTHER_CHECKOUT]

Shape (issue 7, item 11):

* **Servers.** Each side runs under ``gunicorn -w 2 --worker-class sync`` (``crud_wsgi.py``:
  ``engine.create_app`` for the engine, ``handwritten.py`` for the baseline), pinned to CPU 0
  with ``taskset -c 0``. Only one side is under load at a time, and only once every server has
  gone idle (requests queued in the listen backlog when a run stops are still served).
* **Databases.** SQLite in WAL mode with the same ``PRAGMA synchronous`` on both sides
  (``TESSERA_SQLITE_SYNCHRONOUS``, FULL by default) and PostgreSQL (a database of its own,
  ``bench_crud_<hex>``, dropped at the end). Both sides use the same table ``obj_deal``, with
  10,000 deals preloaded through the record service (``bulk_create`` as ``SYSTEM_ACTOR``).
* **Load.** This process pins itself to CPU 1 (``--load-cpu``). ``wrk`` (Debian package) with
  ``crud_load.lua`` drives create, read, update and the two lists: 8 connections to 127.0.0.1,
  bounded in time (``-d``) and in count (the script stops a thread after a maximum of
  responses; reported if that ever happens). Bulk calls take a second or more each, so a timed
  run would lose a large share of work in flight: they are a fixed count of calls over 8
  keep-alive-less connections from Python threads, timed from the first to the last answer.
* **Operations.** create (POST one record), read (GET by id), update (PATCH amount), list
  (GET ``?stage=X&limit=50``), where (GET ``?where=stage = 'X'&limit=50``, the formula filter;
  the baseline serves its ``?stage=X`` list), bulk (POST a list of 1,000 records).
* **Fairness.** Each operation runs in rounds alternating which side goes first; throughput is
  total responses / total time over the rounds. Any 4xx/5xx makes a figure invalid (printed).

Prints requests per second per side, the ratio engine / hand-written and p50/p99 latency; the
goals (>= 0.7x for create, read, update and lists, >= 0.5x for bulk) are printed, never asserted.
``--profile DIR`` then samples the engine's workers with py-spy during extra read, where and
bulk runs (``crud_profile.py``). ``--engine-root DIR`` (repeatable) adds a side ``engine-b``
(``engine-c``, ...): the engine of another checkout, e.g. a copy with a change, measured in the
same rounds.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(1, str(HERE))

import crud_profile  # noqa: E402

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
OPS = ("create", "read", "update", "list", "where", "bulk")
NAMES = {"create": "create (POST 1)", "read": "read (GET by id)", "update": "update (PATCH)",
         "list": "list ?stage=X&limit=50", "where": "list where=stage = 'X'", "bulk": "bulk (POST 1,000)"}
GOALS = {"create": 0.7, "read": 0.7, "update": 0.7, "list": 0.7, "where": 0.7, "bulk": 0.5}
ALTERNATIVES = ("engine-b", "engine-c", "engine-d")
BASES = {"engine": "/api/v1/records/deal", **{a: "/api/v1/records/deal" for a in ALTERNATIVES},
         "hand": "/bench/deal"}
PRELOAD = 10_000
BULK_SIZE = 1000
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# -- databases --------------------------------------------------------------------------------
def create_database(kind, pg_url, workdir):
    """A fresh database: ``(url, drop)``."""
    if kind == "sqlite":
        return f"sqlite:///{workdir}/crud.db", lambda: None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_crud_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False), drop


def prepare(url, synchronous, workdir):
    """Tables, a user with a token and 10,000 deals through the record service; returns
    ``(token, ids_file, seconds to preload)``."""
    from engine.security import SYSTEM_ACTOR
    from engine.security.users import create_token, create_user
    from engine.services import build_services

    services = build_services({"database_url": url, "sqlite_synchronous": synchronous})
    try:
        user = create_user(services.engine, "bench", "bench-password", is_admin=True)
        token = create_token(services.engine, "bench")
        services.store.create_object({"api_name": "account", "label": "Account", "fields": []}, SYSTEM_ACTOR)
        services.store.create_object(DEAL, SYSTEM_ACTOR)
        records = services.records()
        t0 = time.perf_counter()
        ids = []
        for start in range(0, PRELOAD, 1000):
            batch = [dict(deal_body(i), owner_id=user["id"]) for i in range(start, start + 1000)]
            ids += [r["id"] for r in records.bulk_create("deal", batch, SYSTEM_ACTOR)]
        preload = time.perf_counter() - t0
        with services.engine.begin() as conn:   # fresh planner statistics, as after a real import
            conn.exec_driver_sql("ANALYZE")
    finally:
        services.dispose()
    ids_file = Path(workdir) / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    return token, ids_file, preload


def deal_body(i):
    """The record crud_load.lua sends as number ``i``."""
    return {"name": f"Deal {i}", "amount": round(1000 + (i % 5000) + (i % 100) / 100, 2), "stage": STAGES[i % 4],
            "close_date": "2025-06-30", "quantity": i % 20, "is_priority": i % 2 == 0,
            "description": "benchmark deal"}


# -- servers ---------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One side under gunicorn, pinned to a CPU."""

    def __init__(self, side, url, args, logdir):
        self.side, self.port, self.base = side, free_port(), BASES[side]
        env = dict(os.environ, BENCH_DATABASE_URL=url, TESSERA_SQLITE_SYNCHRONOUS=args.synchronous)
        env.pop("TESSERA_DATABASE_URL", None)
        env.pop("BENCH_ENGINE_ROOT", None)
        if side in ALTERNATIVES:
            env["BENCH_ENGINE_ROOT"] = str(Path(args.engine_root[ALTERNATIVES.index(side)]).resolve())
        self.log = open(Path(logdir) / f"gunicorn-{side}.log", "w")
        factory = "hand_app()" if side == "hand" else "engine_app()"
        cmd = ["taskset", "-c", str(args.server_cpu), sys.executable, "-m", "gunicorn", "-w", str(args.workers),
               "--worker-class", "sync", "--bind", f"127.0.0.1:{self.port}", "--chdir", str(HERE),
               "--timeout", "300", "--log-level", "warning", f"crud_wsgi:{factory}"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.side}) exited; see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn ({self.side}) did not answer within {timeout}s")

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True,
                             check=False).stdout
        return [int(p) for p in out.split()]

    def cpu_ticks(self):
        total = 0
        for pid in [self.proc.pid] + self.worker_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])   # utime + stime
        return total

    def wait_idle(self, timeout=300):
        """Wait until the workers stopped using CPU: when a load run stops, requests queued in
        the listen backlog are still served and must not bleed into the next measurement."""
        deadline = time.monotonic() + timeout
        last, quiet = self.cpu_ticks(), 0
        while time.monotonic() < deadline and quiet < 2:
            time.sleep(0.2)
            now = self.cpu_ticks()
            quiet = quiet + 1 if now - last <= 1 else 0
            last = now

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def call(server, token, method, path, body=None):
    """One request on a fresh connection; returns ``(seconds, status, raw body)``."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    try:
        conn.request(method, path, body=data,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
    finally:
        conn.close()
    return time.perf_counter() - t0, resp.status, payload


def call_json(server, token, method, path, body=None):
    _t, status, payload = call(server, token, method, path, body)
    if status >= 400:
        raise RuntimeError(f"{server.side}: {method} {path} -> {status}: {payload[:300]!r}")
    return json.loads(payload)


def check_shapes(servers, token, rid):
    """Every side answers with the same JSON keys (a benchmark of different work is no benchmark)."""
    problems = []
    calls = [("read", lambda b: f"{b}/{rid}", "GET", None),
             ("list", lambda b: f"{b}?stage=Won&limit=2", "GET", None),
             ("create", lambda b: b, "POST", deal_body(1)),
             ("update", lambda b: f"{b}/{rid}", "PATCH", {"amount": 1234.5}),
             ("bulk", lambda b: b, "POST", [deal_body(2), deal_body(3)])]
    for name, path, method, body in calls:
        shapes = {side: _shape(call_json(s, token, method, path(s.base), body)) for side, s in servers.items()}
        if len({json.dumps(v, sort_keys=True) for v in shapes.values()}) > 1:
            problems.append(f"{name}: " + "; ".join(f"{side} {v}" for side, v in shapes.items()))
    return problems


def _shape(v):
    if isinstance(v, dict):
        if "records" in v:
            return {k: _shape(x) for k, x in v.items() if k != "next_cursor"}
        return sorted(v)
    if isinstance(v, list):
        return [_shape(v[0])] if v else []
    return type(v).__name__


# -- load -----------------------------------------------------------------------------------
def run_wrk(op, server, token, ids_file, args, seconds):
    """One wrk run against ``server``; returns its figures (requests, seconds, latency, errors)."""
    if op == "where" and server.side == "hand":
        op = "list"     # the baseline has no formula language: its answer to where= is its ?stage= list
    cmd = ["taskset", "-c", str(args.load_cpu), "wrk", "-t2", f"-c{args.connections}",
           f"-d{max(1, round(seconds))}s", "--timeout", "60s", "-s", str(HERE / "crud_load.lua"),
           f"http://127.0.0.1:{server.port}", "--", op, token, server.base, str(ids_file),
           str(args.max_requests // 2)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 180, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("CRUDJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    res = json.loads(line[len("CRUDJSON "):])
    return {"requests": res["requests"], "seconds": res["duration_us"] / 1e6, "p50_ms": res["p50_us"] / 1000,
            "p99_ms": res["p99_us"] / 1000, "bad": res["bad"] + res["socket_errors"] + res["timeouts"],
            "first_error": res["first_error"], "stopped": res["stopped_by_count"]}


def run_bulk(server, token, calls, connections):
    """``calls`` bulk creates of 1,000 records over ``connections`` threads, timed first to last."""
    body = json.dumps([deal_body(i) for i in range(BULK_SIZE)]).encode()
    lock, todo, lat, errors = threading.Lock(), [calls], [], []

    def worker():
        while True:
            with lock:
                if todo[0] <= 0:
                    return
                todo[0] -= 1
            t, status, payload = call(server, token, "POST", server.base, body)
            with lock:
                lat.append(t)
                if status >= 400:
                    errors.append(f"{status} {payload[:200]!r}")

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"requests": calls, "seconds": wall, "p50_ms": lat[len(lat) // 2] * 1000,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, "bad": len(errors),
            "first_error": errors[0] if errors else "", "stopped": 0}


def run_op(op, server, servers, token, ids_file, args):
    for s in servers.values():
        s.wait_idle()
    if op == "bulk":
        return run_bulk(server, token, args.bulk_calls, args.connections)
    return run_wrk(op, server, token, ids_file, args, args.seconds)


def measure(servers, token, ids_file, args, log):
    """Every operation, rounds alternating the order of the sides; returns {(op, side): stats}."""
    results = {}
    sides = list(servers)
    for op in args.ops:
        runs = {side: [] for side in sides}
        for r in range(args.rounds):
            for side in (sides if r % 2 == 0 else sides[::-1]):
                res = run_op(op, servers[side], servers, token, ids_file, args)
                runs[side].append(res)
                log(f"  {op:6s} {side:8s} round {r + 1}: {res['requests'] / res['seconds']:8.1f} req/s "
                    f"p50 {res['p50_ms']:.1f} ms"
                    + (f"  [{res['bad']} errors: {res['first_error'][:160]}]" if res["bad"] else ""))
        for side, rs in runs.items():
            results[(op, side)] = {
                "rps": sum(x["requests"] for x in rs) / sum(x["seconds"] for x in rs),
                "p50_ms": statistics.median(x["p50_ms"] for x in rs),
                "p99_ms": statistics.median(x["p99_ms"] for x in rs),
                "bad": sum(x["bad"] for x in rs), "stopped": sum(x["stopped"] for x in rs)}
    return results


def warm_up(servers, token, rid):
    """A few calls of each kind so that every worker has imported, connected, built its metadata
    snapshot and its formula parser, and compiled its statements before anything is measured."""
    bulk = [deal_body(i) for i in range(20)]
    for server in servers.values():
        b = server.base
        for i in range(6):
            call_json(server, token, "POST", b, deal_body(i))
            call_json(server, token, "GET", f"{b}/{rid}")
            call_json(server, token, "PATCH", f"{b}/{rid}", {"amount": 1000 + i})
            call_json(server, token, "GET", f"{b}?stage={STAGES[i % 4]}&limit=50")
            call_json(server, token, "GET", f"{b}?where=stage%20%3D%20%27{STAGES[i % 4]}%27&limit=50"
                      if server.side != "hand" else f"{b}?stage={STAGES[i % 4]}&limit=50")
        for _ in range(4):
            call_json(server, token, "POST", b, bulk)


def profile(servers, token, ids_file, args, kind, log):
    """py-spy on the engine's workers during extra read, where and bulk runs."""
    if shutil.which("py-spy") is None:
        log("  py-spy not found (pip install py-spy): no profile")
        return {}
    Path(args.profile).mkdir(parents=True, exist_ok=True)
    found, server = {}, servers[args.profile_side]
    for op in args.profile_ops:
        for s in servers.values():
            s.wait_idle()
        seconds = args.profile_seconds

        def drive(op=op, seconds=seconds):
            if op == "bulk":
                run_bulk(server, token, args.connections, args.connections)
            else:
                run_wrk(op, server, token, ids_file, args, seconds - 1)
        stacks = crud_profile.record(server, op, seconds, args.profile, f"{kind}-{server.side}", drive)
        found[op] = crud_profile.summarise(stacks or {})
    return found


# -- main -----------------------------------------------------------------------------------
def bench_database(kind, args, log):
    workdir = tempfile.mkdtemp(prefix=f"crud-{kind}-")
    url, drop = create_database(kind, args.pg_url, workdir)
    servers = {}
    try:
        t0 = time.perf_counter()
        token, ids_file, preload = prepare(url, args.synchronous, workdir)
        log(f"\n{kind}: {PRELOAD:,} deals preloaded through the record service in {preload:.1f}s")
        plans = crud_profile.explain(url, kind) if args.explain else []
        sides = ["engine"] + list(ALTERNATIVES[:len(args.engine_root)]) + ["hand"]
        servers = {side: Server(side, url, args, workdir) for side in sides}
        for s in servers.values():
            s.wait_ready()
        rid = ids_file.read_text().split()[0]
        problems = check_shapes(servers, token, rid)
        for p in problems:
            log(f"  JSON SHAPES DIFFER: {p}")
        warm_up(servers, token, rid)
        log(f"  ready after {time.perf_counter() - t0:.0f}s")
        results = measure(servers, token, ids_file, args, log)
        found = profile(servers, token, ids_file, args, kind, log) if args.profile else {}
        return results, plans, found
    finally:
        for s in servers.values():
            s.stop()
        drop()
        shutil.rmtree(workdir, ignore_errors=True)


def report(kind, results, plans, args, log):
    label = {"sqlite": f"SQLite (WAL, synchronous={args.synchronous})", "postgresql": "PostgreSQL"}[kind]
    sides = sorted({side for _op, side in results}, key=lambda s: list(BASES).index(s))
    engines = [s for s in sides if s != "hand"]
    log(f"\n{label}: requests/s; gunicorn -w {args.workers} sync on 1 core; load on the other, "
        f"{args.connections} connections; {args.rounds} round(s) of {args.seconds:g}s per side and operation "
        f"(bulk: {args.bulk_calls} calls)")
    head = "".join(f" {s:>8s}" for s in sides) + "".join(f" {s + '/hand':>14s}" for s in engines)
    log(f"{'operation':26s}{head}  goal   " + "  ".join(f"{s + ' p50/p99 ms':>20s}" for s in sides))
    for op in args.ops:
        row = "".join(f" {results[(op, s)]['rps']:8.1f}" for s in sides)
        ratios = [results[(op, s)]["rps"] / results[(op, "hand")]["rps"] for s in engines]
        row += "".join(f" {r:13.2f}x" for r in ratios)
        met = "met " if ratios[0] >= GOALS[op] else "MISS"
        lat = "  ".join(f"{results[(op, s)]['p50_ms']:9.1f}/{results[(op, s)]['p99_ms']:<10.1f}" for s in sides)
        flags = ""
        bad = {s: results[(op, s)]["bad"] for s in sides if results[(op, s)]["bad"]}
        if bad:
            flags += f"  INVALID: errors {bad}"
        if any(results[(op, s)]["stopped"] for s in sides):
            flags += "  (count bound reached)"
        log(f"{NAMES[op]:26s}{row} {GOALS[op]:4.1f}x {met} {lat}{flags}")
    for plabel, sql, plan in plans:
        log(f"  {plabel}: ...{sql[sql.find(' WHERE '):]}")
        log("      plan: " + " / ".join(plan))


def main(argv=None):
    ap = argparse.ArgumentParser(description="CRUD benchmark: engine API vs hand-written, under gunicorn")
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG),
                    help="a PostgreSQL server where a database may be created and dropped")
    ap.add_argument("--quick", action="store_true", help="1 round of 2s per side and operation, 4 bulk calls")
    ap.add_argument("--seconds", type=float, help="seconds per wrk run (default 6, quick 2)")
    ap.add_argument("--rounds", type=int, help="rounds per operation, alternating sides (default 2, quick 1)")
    ap.add_argument("--bulk-calls", type=int, help="bulk calls per run (default 16, quick 4)")
    ap.add_argument("--max-requests", type=int, default=40000, help="count bound of one wrk run")
    ap.add_argument("--ops", default=",".join(OPS), help=f"comma-separated subset of {','.join(OPS)}")
    ap.add_argument("--synchronous", default=os.environ.get("TESSERA_SQLITE_SYNCHRONOUS", "FULL").upper())
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--load-cpu", type=int, default=1)
    ap.add_argument("--engine-root", action="append", default=[],
                    help="also serve the engine of this checkout (sides engine-b, engine-c, engine-d)")
    ap.add_argument("--profile", metavar="DIR", help="sample the engine with py-spy; stacks left in DIR")
    ap.add_argument("--profile-seconds", type=int, default=10)
    ap.add_argument("--profile-ops", default="read,where,bulk", help="operations to profile")
    ap.add_argument("--profile-side", default="engine", choices=tuple(BASES), help="the side to profile")
    ap.add_argument("--no-explain", dest="explain", action="store_false", help="skip EXPLAIN of the list queries")
    args = ap.parse_args(argv)
    args.seconds = args.seconds or (2 if args.quick else 6)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.bulk_calls = args.bulk_calls or (4 if args.quick else 16)
    if len(args.engine_root) > len(ALTERNATIVES):
        ap.error(f"at most {len(ALTERNATIVES)} --engine-root")
    args.ops = [op.strip() for op in args.ops.split(",") if op.strip()]
    args.profile_ops = [op.strip() for op in args.profile_ops.split(",") if op.strip()]
    if unknown := [op for op in args.ops + args.profile_ops if op not in OPS]:
        ap.error(f"unknown operation(s) {', '.join(unknown)}; known: {', '.join(OPS)}")
    for tool, package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install -y {package}")
    if (os.cpu_count() or 1) < 2:
        print("warning: fewer than 2 CPUs; server and load share one", file=sys.stderr)
    else:
        os.sched_setaffinity(0, {args.load_cpu})

    def log(msg):
        print(msg, flush=True)

    t0 = time.perf_counter()
    done = {}
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        done[kind] = bench_database(kind, args, log)
    for kind, (results, plans, found) in done.items():
        report(kind, results, plans, args, log)
        for op, f in found.items():
            crud_profile.print_summary(f"{kind}, {args.profile_side} {op}", f, log)
    log(f"\n(total {time.perf_counter() - t0:.0f}s)")


if __name__ == "__main__":
    main()
