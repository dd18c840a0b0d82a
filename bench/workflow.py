"""Automation rules: record writes per second with three rules active versus none (same run), and
outbox-to-done latency through rq and a real ``tessera worker``.

    python bench/workflow.py [--db-url URL] [--writes 1000] [--rounds 3] [--latency 200]
                             [--redis-url redis://127.0.0.1:6379/13]

* **Writes.** Creates of ``ticket`` records, one record per call, as an administrator, through two
  doors: the record service directly (the pipeline every door uses: the harshest ratio) and
  ``POST /api/v1/records/ticket`` through the Flask app in this process (what a client sees, minus
  the network). Rounds alternate "no rules" and "three rules" (switched by changing the object's
  metadata between phases). The three
  rules: a same-record field update (``priority = 'High'`` -> ``escalated``), a webhook to a local
  receiver on every create (an outbox row, enqueued to rq after the commit), and a kept e-mail on
  High tickets (``ISNEW() || ISCHANGED(priority)``: a second outbox row on half the writes; with
  ``ISCHANGED`` alone, false on a create, it never fired in this create-only bench). No worker runs during the write phases: what is measured is the cost a write pays
  (rules evaluated, outbox and run log rows in its transaction, the enqueue), not the actions.
* **Latency.** A ``tessera worker`` process (rq SimpleWorker + scheduler) is started; writes are
  paced at ``--rate`` per second, each firing the webhook rule; latency is the outbox row's
  ``done_at - created_at`` (the write's clock to the moment the action's key was recorded).

Prints the rates, the ratio and p50/p95 latency; goals (>= 0.7x, p95 < 1 s) are printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from engine.security import SYSTEM_ACTOR  # noqa: E402
from engine.services import build_services  # noqa: E402
from engine.workflow.tables import aware, outbox  # noqa: E402

SECRETS = {"bench": "bench-secret"}
TICKET = {"api_name": "ticket", "label": "Ticket", "plural_label": "Tickets", "fields": [
    {"api_name": "priority", "label": "Priority", "type": "picklist",
     "options": [{"value": "Low"}, {"value": "High"}]},
    {"api_name": "escalated", "label": "Escalated", "type": "checkbox"},
    {"api_name": "amount", "label": "Amount", "type": "currency", "scale": 2},
    {"api_name": "notes", "label": "Notes", "type": "text"},
]}


def rules(url):
    return [
        {"name": "escalate", "trigger": "create_or_update", "condition": "priority = 'High'",
         "actions": [{"type": "field_update", "field": "escalated", "value": "TRUE"}]},
        {"name": "notify", "trigger": "create",
         "actions": [{"type": "webhook", "url": url, "secret_ref": "bench"}]},
        {"name": "mail_high", "trigger": "create_or_update", "condition": "priority = 'High' && (ISNEW() || ISCHANGED(priority))",
         "actions": [{"type": "send_email", "to": "'desk@example.com'", "subject": "'High: ' & name",
                      "body": "'Ticket ' & name & ' is High.'"}]},
    ]


class Receiver:
    def __init__(self):
        self.count = 0

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def set_rules(services, docs):
    services.store.update_object("ticket", {"automation_rules": docs}, SYSTEM_ACTOR)


def body(i):
    return {"name": f"T{i}", "priority": "High" if i % 2 else "Low", "amount": i, "notes": "bench"}


def service_writer(services):
    def write(i):
        services.records().create("ticket", body(i), SYSTEM_ACTOR)
    return write


def api_writer(services):
    """POST /api/v1/records/ticket through the Flask app in this process (no network)."""
    from engine.app import create_app
    from engine.security.users import create_token, create_user

    create_user(services.engine, "bench_admin", is_admin=True)
    headers = {"Authorization": f"Bearer {create_token(services.engine, 'bench_admin')}"}
    client = create_app(services=services).test_client()

    def write(i):
        r = client.post("/api/v1/records/ticket", json=body(i), headers=headers)
        assert r.status_code == 201, r.get_json()
    return write


CPU_MS = {}   # (door, rules active) -> CPU milliseconds per write of each round
OTHER_MS = {}  # the same, spent by threads other than the writing one (the enqueuer)


def write_phase(write, n, start, key=None, flush=None):
    """Writes per second (wall clock); with ``key``, also notes this process's CPU time per write
    (the enqueuer thread included): steadier than the wall clock on a shared machine, where the
    fsync of each commit and other people's work swing the rate. ``flush`` waits for the enqueuer
    thread to hand this phase's outbox rows to rq, so their enqueue is paid by this phase (not by the
    next one, which may be a phase without rules); it cuts the thread's linger short, so the phase
    pays the enqueue's work, not the idle wait of a sleep meant to gather ids."""
    c0, m0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    for i in range(n):
        write(start + i)
    if flush is not None:
        flush()
    if key is not None:
        CPU_MS.setdefault(key, []).append((time.process_time() - c0) / n * 1000)
        OTHER_MS.setdefault(key, []).append(((time.process_time() - c0) - (time.thread_time() - m0)) / n * 1000)
    return n / (time.perf_counter() - t0)


def percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db-url", help="default: a SQLite file in a temporary directory")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    ap.add_argument("--writes", type=int, default=300, help="writes per phase")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--latency", type=int, default=200, help="paced writes for the latency run (0: none)")
    ap.add_argument("--rate", type=float, default=20.0, help="paced writes per second")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_wf_")
    db_url = args.db_url or f"sqlite:///{tmp}/bench.db"
    queue = f"bench_{uuid.uuid4().hex[:8]}"
    from redis import Redis

    redis = Redis.from_url(args.redis_url)
    redis.ping()
    receiver = Receiver()
    services = build_services({"database_url": db_url, "redis_url": args.redis_url, "workflow_queue": queue,
                               "webhook_secrets": SECRETS})
    services.store.create_object(TICKET, SYSTEM_ACTOR)
    with_rules = rules(receiver.url)
    doors = {"service": service_writer(services), "api": api_writer(services)}
    rates = {(door, active): [] for door in doors for active in (False, True)}
    wf = services.extensions["workflow"]
    written = 0
    for door, write in doors.items():
        write_phase(write, 50, 10 ** 6 + written)    # warm-up: snapshot, compiled formulas, pools
        written += 50
    for r in range(args.rounds):
        for door, write in doors.items():
            for active in ((False, True) if r % 2 == 0 else (True, False)):
                set_rules(services, with_rules if active else [])
                write_phase(write, 20, 2 * 10 ** 6 + written, flush=wf.flush)   # warm-up of the new version
                rates[(door, active)].append(write_phase(write, args.writes, written, key=(door, active),
                                                         flush=wf.flush))
                written += args.writes + 20
    print(f"database: {services.engine.dialect.name}; {args.rounds} rounds of {args.writes} creates per phase "
          f"and door")
    for door in doors:
        plain, ruled = rates[(door, False)], rates[(door, True)]
        rate_plain, rate_rules = statistics.median(plain), statistics.median(ruled)
        print(f"{door:>7}: writes/s without rules {rate_plain:7.1f} ({', '.join(f'{x:.0f}' for x in plain)}); "
              f"three rules {rate_rules:7.1f} ({', '.join(f'{x:.0f}' for x in ruled)}); "
              f"ratio {rate_rules / rate_plain:.2f}x  (goal >= 0.7x)")
        cpu_plain, cpu_rules = statistics.median(CPU_MS[(door, False)]), statistics.median(CPU_MS[(door, True)])
        per_round = [p / r for p, r in zip(CPU_MS[(door, False)], CPU_MS[(door, True)])]
        print(f"{'':>7}  CPU ms per write without rules {cpu_plain:.2f}, three rules {cpu_rules:.2f}: "
              f"CPU-bound ratio {cpu_plain / cpu_rules:.2f}x (per round {min(per_round):.2f}-{max(per_round):.2f}); "
              f"other threads {statistics.median(OTHER_MS[(door, True)]):.2f} ms per write with rules")
    if args.latency <= 0:   # --latency 0: the write rates only
        cleanup(redis, wf, queue)
        services.dispose()
        return

    # drain what the write phases queued, then measure latency with an idle worker
    env = dict(os.environ, PYTHONPATH=str(ROOT), TESSERA_DATABASE_URL=db_url, TESSERA_REDIS_URL=args.redis_url,
               TESSERA_WORKFLOW_QUEUE=queue, TESSERA_WEBHOOK_SECRETS=json.dumps(SECRETS))
    worker = subprocess.Popen([sys.executable, "-m", "engine.cli", "worker", "--interval", "1"], env=env,
                              cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        queued = sum(wf.outbox_counts().values())
        t0 = time.perf_counter()
        while wf.outbox_counts().get("done", 0) < queued:
            time.sleep(0.2)
        drain = queued / (time.perf_counter() - t0)
        print(f"drained {queued} queued outbox rows at {drain:.0f} rows/s (one worker, jobs of 25 rows)")
        set_rules(services, with_rules[1:2])          # only the webhook: one outbox row per write
        records = services.records()
        wf.flush()
        ids = []
        for i in range(args.latency):
            t = time.perf_counter()
            ids.append(records.create("ticket", {"name": f"L{i}", "priority": "Low"}, SYSTEM_ACTOR)["id"])
            time.sleep(max(0.0, 1 / args.rate - (time.perf_counter() - t)))
        deadline = time.monotonic() + 60
        while wf.outbox_counts().get("done", 0) < queued + args.latency and time.monotonic() < deadline:
            time.sleep(0.1)
        with services.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.created_at, outbox.c.done_at).where(
                outbox.c.record_id.in_(ids))).all()
        lat = [(aware(d) - aware(c)).total_seconds() * 1000 for c, d in rows if d is not None]
        print(f"outbox -> done latency over {len(lat)} writes at {args.rate:g}/s: p50 {percentile(lat, 50):.0f} ms, "
              f"p95 {percentile(lat, 95):.0f} ms, max {max(lat):.0f} ms  (goal p95 < 1000 ms)")
        print(f"webhook deliveries received: {receiver.count}")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        cleanup(redis, wf, queue)
        services.dispose()


def cleanup(redis, wf, queue):
    """Remove this run's jobs (their hashes too: nothing ran the ones still queued) and queue keys."""
    wf.queue.empty()
    redis.srem("rq:queues", wf.queue.key)
    keys = list(redis.scan_iter(f"rq:*{queue}*"))
    if keys:
        redis.delete(*keys)


if __name__ == "__main__":
    main()
