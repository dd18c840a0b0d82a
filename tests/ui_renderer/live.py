"""Helpers for the browser tests and the documentation screenshots: a real server in a thread,
Debian's Chromium through Playwright (never a downloaded browser), sign-in, and a small CRM
model with layouts, list views and Chinese labels, built through the services like a user would.
"""
from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid

import pytest
from werkzeug.serving import make_server

from tests.conftest import PG_URL, _pg_schema_url

CHROMIUM = os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def launch_chromium(playwright):
    """Debian's Chromium, headless (``playwright install`` is never needed)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class LiveServer:
    """The app served by werkzeug on 127.0.0.1 (a free port) in a daemon thread."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=10)


def csrf_of(html):
    """The CSRF token of the first form in a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, username, password):
    """Sign a Flask test client in through the form; returns the response."""
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)})


STAGES = [("Prospecting", "初步接洽"), ("Qualification", "资格审查"), ("Proposal", "方案报价"),
          ("Negotiation", "商务谈判"), ("Closed Won", "赢单"), ("Closed Lost", "输单")]

ACCOUNT = {
    "api_name": "account", "label": "Account", "plural_label": "Accounts", "label_zh": "客户",
    "description": "Companies you sell to.",
    "fields": [
        {"api_name": "industry", "label": "Industry", "label_zh": "行业", "type": "picklist",
         "options": [{"value": "Energy", "label_zh": "能源"}, {"value": "Technology", "label_zh": "科技"},
                     {"value": "Manufacturing", "label_zh": "制造"}, {"value": "Retail", "label_zh": "零售"}]},
        {"api_name": "website", "label": "Website", "label_zh": "网站", "type": "url"},
        {"api_name": "phone", "label": "Phone", "label_zh": "电话", "type": "phone"},
        {"api_name": "employees", "label": "Employees", "label_zh": "员工数", "type": "integer"},
    ]}

DEAL = {
    "api_name": "deal", "label": "Deal", "plural_label": "Deals", "label_zh": "商机",
    "description": "Opportunities you are working on, from the first call to the signature.",
    "fields": [
        {"api_name": "account", "label": "Account", "label_zh": "客户", "type": "lookup", "target": "account",
         "help_text": "The company buying."},
        {"api_name": "amount", "label": "Amount", "label_zh": "金额", "type": "currency", "scale": 2,
         "filterable": True, "track_history": True},
        {"api_name": "stage", "label": "Stage", "label_zh": "阶段", "type": "picklist", "required": True,
         "track_history": True, "options": [{"value": v, "label_zh": z} for v, z in STAGES]},
        {"api_name": "probability", "label": "Probability", "label_zh": "赢率", "type": "percent", "scale": 0},
        {"api_name": "close_date", "label": "Close date", "label_zh": "预计成交日期", "type": "date"},
        {"api_name": "next_call", "label": "Next call", "label_zh": "下次通话", "type": "datetime"},
        {"api_name": "is_priority", "label": "Priority", "label_zh": "重点", "type": "checkbox"},
        {"api_name": "channels", "label": "Channels", "label_zh": "渠道", "type": "multi_picklist",
         "options": [{"value": "Web", "label_zh": "网站"}, {"value": "Partner", "label_zh": "合作伙伴"},
                     {"value": "Event", "label_zh": "展会"}]},
        {"api_name": "contact_email", "label": "Contact email", "label_zh": "联系人邮箱", "type": "email"},
        {"api_name": "number", "label": "Deal number", "label_zh": "商机编号", "type": "auto_number",
         "format": "D-{0000}"},
        {"api_name": "weighted", "label": "Weighted amount", "label_zh": "加权金额", "type": "formula",
         "formula": "amount * probability / 100", "return_type": "currency", "scale": 2},
        {"api_name": "notes", "label": "Notes", "label_zh": "备注", "type": "long_text"},
    ],
    "validation_rules": [
        {"name": "won_needs_date", "condition": "AND(stage = 'Closed Won', ISBLANK(close_date))",
         "message": "A won deal needs a close date.", "field": "close_date"},
        {"name": "no_negative", "condition": "amount < 0", "message": "The amount cannot be negative."},
    ],
    "layouts": [{"name": "default", "sections": [
        {"label": "Deal", "label_zh": "商机", "columns": 2,
         "fields": ["name", "account", "amount", "stage", "probability", "close_date", "weighted", "number"]},
        {"label": "Follow-up", "label_zh": "跟进", "columns": 2,
         "fields": ["next_call", "is_priority", "channels", "contact_email", "notes"]},
    ]}],
    "list_views": [
        {"name": "open_deals", "label": "Open deals", "label_zh": "进行中的商机",
         "columns": ["name", "account", "stage", "amount", "close_date", "is_priority"],
         "where": "NOT(OR(stage = 'Closed Won', stage = 'Closed Lost'))", "order_by": "close_date"},
        {"name": "big_deals", "label": "Big deals", "label_zh": "大额商机",
         "columns": ["name", "account", "amount", "weighted", "stage"], "where": "amount >= 50000",
         "order_by": "-amount"},
    ],
}

ACCOUNTS = [("Acme Energy", "Energy"), ("Globex Technology", "Technology"), ("Initech Manufacturing",
                                                                             "Manufacturing"),
            ("Umbrella Retail", "Retail"), ("Stark Industries", "Manufacturing"), ("Hooli Labs", "Technology")]


def build_model(services, deals=40):
    """The account/deal model and sample data, owned by ``admin`` (created when missing)."""
    from engine.errors import Conflict
    from engine.security import SYSTEM_ACTOR
    from engine.security.users import create_user

    for doc in (ACCOUNT, DEAL):
        services.store.create_object(doc, SYSTEM_ACTOR)
    try:
        create_user(services.engine, "admin", "admin-password", is_admin=True)
    except Conflict:
        pass
    actor = services.actor("admin")
    svc = services.records()
    accounts = svc.bulk_create("account", [
        {"name": n, "industry": i, "website": f"https://{n.split()[0].lower()}.example.com",
         "employees": 50 * (k + 3)} for k, (n, i) in enumerate(ACCOUNTS)], actor)
    rows = []
    for k in range(deals):
        stage = STAGES[k % len(STAGES)][0]
        rows.append({"name": f"{ACCOUNTS[k % len(ACCOUNTS)][0].split()[0]} {['renewal', 'expansion', 'pilot', 'upgrade'][k % 4]} {k + 1}",
                     "account": accounts[k % len(accounts)]["id"], "amount": 2500 + (k * 7919) % 120000,
                     "stage": stage, "probability": [10, 25, 50, 75, 100, 0][k % 6],
                     "close_date": f"2025-{(k % 12) + 1:02d}-{(k % 27) + 1:02d}",
                     "is_priority": k % 3 == 0, "channels": [["Web"], ["Partner", "Event"], []][k % 3] or None})
    svc.bulk_create("deal", rows, actor)
    return accounts


@contextlib.contextmanager
def live_server(kind, tmp_path_factory, prepare):
    """A live server on SQLite or on a PostgreSQL schema of its own; ``prepare(services)`` fills it."""
    import logging

    from sqlalchemy import create_engine, text

    from engine import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    schema = admin = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'tessera.db'}"
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL variant: set TESSERA_TEST_POSTGRES_URL to run it")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(schema)
    app = create_app({"database_url": url})
    prepare(app.extensions["tessera"])
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()
        app.extensions["tessera"].engine.dispose()
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
