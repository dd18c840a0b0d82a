"""send_email over SMTP (a fake server on 127.0.0.1: the idempotency key is the Message-ID), and
``tessera worker`` without Redis (the embedded mode): the scheduler alone retries a failed entry."""
from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
import time

from engine.security.users import create_token, create_user
from tests.conftest import Api

from .conftest import CASE, REPO, SECRETS, make_app


class FakeSMTP(socketserver.ThreadingTCPServer):
    """Just enough SMTP for smtplib: keeps every message it is sent."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        self.messages = []
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                def say(line):
                    self.wfile.write(line.encode() + b"\r\n")
                say("220 fake ESMTP")
                rcpt = []
                while True:
                    line = self.rfile.readline().decode().strip()
                    verb = line.split(" ")[0].upper()
                    if verb in ("EHLO", "HELO", "MAIL", "RSET", "NOOP"):
                        say("250 ok")
                    elif verb == "RCPT":
                        rcpt.append(line.split(":", 1)[1].strip(" <>"))
                        say("250 ok")
                    elif verb == "DATA":
                        say("354 end with .")
                        data = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(chunk.decode())
                        server.messages.append((rcpt, "".join(data)))
                        say("250 queued")
                    elif verb == "QUIT" or not line:
                        say("221 bye")
                        return
                    else:
                        say("502 no")

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def test_send_email_over_smtp(sqlite_url):
    smtp = FakeSMTP()
    app = make_app(sqlite_url, smtp_url=f"smtp://127.0.0.1:{smtp.server_address[1]}", mail_from="crm@example.com")
    services = app.extensions["tessera"]
    try:
        create_user(services.engine, "admin", is_admin=True)
        owner = create_user(services.engine, "queue@example.com")
        plain = create_user(services.engine, "plain")
        api = Api(app.test_client(), create_token(services.engine, "admin"))
        assert api.post("/api/v1/objects", json=CASE).status_code == 201
        r = api.post("/api/v1/objects/support_case/automation_rules", json={
            "name": "tell", "trigger": "create", "actions": [
                {"type": "send_email", "to": ["owner", "'boss@example.com'"], "subject": "'New: ' & name",
                 "body": "'Case ' & name & ' arrived.'"}]})
        assert r.status_code == 201, r.get_json()
        api.post("/api/v1/records/support_case", json={"name": "Mail me", "owner_id": owner["id"]})
        [entry] = api.get("/api/v1/outbox?status=done").get_json()["entries"]
        [(rcpt, message)] = smtp.messages
        assert rcpt == ["queue@example.com", "boss@example.com"]
        assert "Subject: New: Mail me" in message and "From: crm@example.com" in message
        assert f"Message-ID: <{entry['id']}.0@tessera>" in message and "Case Mail me arrived." in message
        assert entry["actions"][0]["result"]["mail"]["status"] == "sent"
        # a user whose username is no address cannot be mailed over SMTP: dead at once, said plainly
        api.post("/api/v1/records/support_case", json={"name": "No address", "owner_id": plain["id"]})
        [dead] = api.get("/api/v1/outbox?status=dead").get_json()["entries"]
        assert dead["last_error"] == ("workflow.E321: User 'plain' has no e-mail address (a username that is an "
                                      "e-mail address is used as one).")
        assert len(smtp.messages) == 1
    finally:
        smtp.shutdown()
        services.dispose()


def test_worker_without_redis_runs_the_scheduler(sqlite_url, receiver):
    app = make_app(sqlite_url, workflow_retry_base_seconds=0.1)
    services = app.extensions["tessera"]
    try:
        create_user(services.engine, "admin", is_admin=True)
        api = Api(app.test_client(), create_token(services.engine, "admin"))
        assert api.post("/api/v1/objects", json=CASE).status_code == 201
        assert api.post("/api/v1/objects/support_case/automation_rules", json={
            "name": "notify", "trigger": "create",
            "actions": [{"type": "webhook", "url": receiver.url, "secret_ref": "case_hook"}]}).status_code == 201
        receiver.fail_next = 1
        api.post("/api/v1/records/support_case", json={"name": "Retry me"})
        assert services.extensions["workflow"].outbox_counts() == {"failed": 1}
        time.sleep(0.2)
        env = dict(os.environ, PYTHONPATH=str(REPO), TESSERA_DATABASE_URL=sqlite_url,
                   TESSERA_WEBHOOK_SECRETS=json.dumps(SECRETS))
        env.pop("TESSERA_REDIS_URL", None)
        done = subprocess.run([sys.executable, "-m", "engine.cli", "worker", "--burst"], env=env, cwd=str(REPO),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "no TESSERA_REDIS_URL: running the scheduler and due outbox rows in this process" in done.stdout
        assert services.extensions["workflow"].outbox_counts() == {"done": 1}
        assert len(receiver.effects) == 1 and sum(receiver.deliveries.values()) == 2
    finally:
        services.dispose()
