"""Fixtures of the workflow tests: a webhook receiver on 127.0.0.1, the case-story metadata, a
Redis database of our own and a real ``tessera worker`` process."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECRET = "case-hook-s3cret"
SECRETS = {"case_hook": SECRET}
REDIS_URL = os.environ.get("TESSERA_TEST_WORKFLOW_REDIS_URL", "redis://127.0.0.1:6379/14")

CASE = {"api_name": "support_case", "label": "Case", "plural_label": "Cases", "fields": [
    {"api_name": "priority", "label": "Priority", "type": "picklist",
     "options": [{"value": "Low"}, {"value": "Medium"}, {"value": "High"}]},
    {"api_name": "escalated", "label": "Escalated", "type": "checkbox"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "status", "label": "Status", "type": "picklist",
     "options": [{"value": "Open"}, {"value": "Closed"}]},
    {"api_name": "subject_line", "label": "Subject", "type": "text"},
]}
TASK = {"api_name": "task", "label": "Task", "plural_label": "Tasks", "fields": [
    {"api_name": "due_date", "label": "Due date", "type": "date"},
    {"api_name": "what_id", "label": "Related to", "type": "text"},
]}


def escalate_rule(receiver_url, queue_user_id):
    """The case story's rule (``../shared/specs/workflow.md``, Automation rule)."""
    return {"name": "escalate_high_priority", "label": "Escalate high-priority cases", "active": True,
            "trigger": "create_or_update", "condition": "priority = 'High' && ISCHANGED(priority)",
            "actions": [
                {"type": "field_update", "field": "escalated", "value": "TRUE"},
                {"type": "field_update", "field": "owner_id", "value": f"'{queue_user_id}'"},
                {"type": "create_record", "object": "task",
                 "values": {"name": "'Call back: ' & name", "due_date": "TODAY() + 1", "what_id": "id"}},
                {"type": "webhook", "url": receiver_url, "secret_ref": "case_hook"}]}


class Receiver:
    """A webhook receiver that checks signatures and counts deliveries by idempotency key.

    ``deliveries`` counts every POST per key (at least once); ``effects`` applies each key once
    (what a receiver that dedups by key does); ``bodies`` keeps the bytes of every POST. ``fail_next``
    answers 500 to that many requests.
    """

    def __init__(self, delay=0.0):
        self.deliveries = Counter()
        self.effects = {}
        self.bodies = {}            # key -> the raw bodies received, in order
        self.bad_signatures = 0
        self.fail_next = 0
        self.delay = delay
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("X-Tessera-Delivery")
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    receiver.bodies.setdefault(key, []).append(body)
                    if not hmac.compare_digest(want, self.headers.get("X-Tessera-Signature", "")):
                        receiver.bad_signatures += 1
                        status = 401
                    elif receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        receiver.deliveries[key] += 1
                        status = 500
                    else:
                        receiver.deliveries[key] += 1
                        receiver.effects.setdefault(key, json.loads(body))
                        status = 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/case"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def make_app(db_url, **config):
    from engine import create_app

    return create_app(dict({"database_url": db_url, "testing": True, "webhook_secrets": SECRETS}, **config))


@pytest.fixture
def redis_url():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


class WorkerProcess:
    """``python -m engine.cli worker`` in a subprocess, with the test's database and queue."""

    def __init__(self, db_url, redis_url, queue, log_path, **env):
        self.env = dict(os.environ, PYTHONPATH=str(REPO), TESSERA_DATABASE_URL=db_url, TESSERA_REDIS_URL=redis_url,
                        TESSERA_WORKFLOW_QUEUE=queue, TESSERA_WEBHOOK_SECRETS=json.dumps(SECRETS),
                        TESSERA_WORKFLOW_LEASE_SECONDS="2", TESSERA_WORKFLOW_REQUEUE_SECONDS="1",
                        TESSERA_WORKFLOW_RETRY_BASE_SECONDS="0.2", **env)
        self.log_path = log_path
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "worker", "--interval", "0.5"],
                                     env=self.env, cwd=str(REPO), stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def kill(self, sig=9):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def output(self):
        return Path(self.log_path).read_text(errors="replace")[-3000:]


@pytest.fixture
def worker_factory(redis_url, tmp_path):
    started = []

    def make(db_url, queue=None, **env):
        w = WorkerProcess(db_url, redis_url, queue or f"tq_{uuid.uuid4().hex[:8]}", tmp_path / "worker.log", **env)
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


def wait_for(predicate, timeout=60.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
