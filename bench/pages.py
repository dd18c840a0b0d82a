"""Server time of the generated list and detail pages against a hand-written Flask + Jinja2 page
over the same table, in the same run (issue 9: goal >= 0.7x the hand-written throughput), and the
bytes a browser downloads (first visit: HTML + CSS + JS; later pages: HTML only, the assets being
cached for a year by their content hash).

    python bench/pages.py [--requests 300] [--database-url sqlite:///...]

The list shows 50 rows and 10 columns, one a lookup (shown by the target's name) and one a formula
field; the hand-written page joins the lookup in SQL and computes the formula in Python. Both sides
check a session cookie against the session table, render autoescaped templates compiled once and
write a sign-out form with a CSRF token; the two pages run in alternating rounds, and the CPU time
per page is printed beside the wall-clock rates (steadier on a shared machine).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask import Flask  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

# The hand-written pages do what any signed-in page of a hand-written app does, no more: check the
# session cookie against the session table (one query joining the user, as Flask-Login's user loader
# would), a frame with the objects' links and a sign-out form carrying a CSRF token (Flask-WTF),
# autoescaped templates compiled once (render_template from a loader, not render_template_string,
# which compiles its source on every call), values formatted and the lookup shown by name (a join).
HAND_FRAME = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{% block title %}{% endblock %}</title>
<link rel="stylesheet" href="/assets/x.css"><script src="/assets/x.js" defer></script></head><body>
<header><a href="/">Home</a><nav><a href="/deals">Deals</a> <a href="/accounts">Accounts</a></nav>
<form action="/logout" method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<span>{{ user.username }}</span><button type="submit">Sign out</button></form></header>
<main>{% block content %}{% endblock %}</main></body></html>"""
HAND_LIST = """{% extends "frame.html" %}{% block title %}Deals{% endblock %}{% block content %}<h1>Deals</h1>
<p>{{ total }} deals</p><table><thead><tr>{% for c in cols %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for r in rows %}<tr><td><a href="/o/deal/{{ r.id }}">{{ r.name }}</a></td><td><a href="/o/account/{{ r.account }}">{{ r.account_name }}</a></td>
<td>{{ "{:,.2f}".format(r.amount) }}</td><td>{{ r.stage }}</td><td>{{ r.probability }}%</td><td>{{ r.close_date }}</td>
<td>{{ "{:,.2f}".format(r.weighted) }}</td><td>{{ "yes" if r.is_priority else "no" }}</td><td>{{ r.contact_email or "" }}</td>
<td>{{ r.number }}</td></tr>{% endfor %}</tbody></table>{% endblock %}"""
HAND_DETAIL = """{% extends "frame.html" %}{% block title %}{{ r.name }}{% endblock %}{% block content %}<h1>{{ r.name }}</h1><dl>
<dt>Account</dt><dd><a href="/o/account/{{ r.account }}">{{ r.account_name }}</a></dd>
<dt>Amount</dt><dd>{{ "{:,.2f}".format(r.amount or 0) }}</dd><dt>Stage</dt><dd>{{ r.stage }}</dd>
<dt>Probability</dt><dd>{{ r.probability }}%</dd><dt>Close date</dt><dd>{{ r.close_date }}</dd>
<dt>Next call</dt><dd>{{ r.next_call or "" }}</dd><dt>Priority</dt><dd>{{ "yes" if r.is_priority else "no" }}</dd>
<dt>Channels</dt><dd>{{ (r.channels or [])|join(", ") }}</dd>
<dt>Contact email</dt><dd>{% if r.contact_email %}<a href="mailto:{{ r.contact_email }}">{{ r.contact_email }}</a>{% endif %}</dd>
<dt>Deal number</dt><dd>{{ r.number }}</dd><dt>Weighted amount</dt><dd>{{ "{:,.2f}".format(r.weighted) }}</dd>
<dt>Notes</dt><dd>{{ r.notes or "" }}</dd><dt>Owner</dt><dd>{{ r.owner_name }}</dd>
</dl>
<section><h2>History</h2>{% if history %}<ol>{% for h in history %}<li>{{ h.at }} {{ h.username or "" }}: {{ h.field }}
{{ h.old_value }} &rarr; {{ h.new_value }}</li>{% endfor %}</ol>{% else %}<p>No tracked changes yet.</p>{% endif %}</section>
<section><h2>System information</h2><dl><dt>Created</dt><dd>{{ r.created_at }}</dd><dt>Created by</dt><dd>{{ r.created_by_name }}</dd>
<dt>Last modified</dt><dd>{{ r.updated_at }}</dd><dt>Modified by</dt><dd>{{ r.updated_by_name }}</dd></dl></section>{% endblock %}"""


def _setup(url):
    from engine import create_app
    from engine.security.users import create_user
    from tests.ui_renderer.live import build_model, sign_in

    app = create_app({"database_url": url})
    services = app.extensions["tessera"]
    build_model(services, deals=300)
    services.store.update_object("deal", {"list_views": [{"name": "bench", "columns": [
        "name", "account", "amount", "stage", "probability", "close_date", "weighted", "is_priority",
        "contact_email", "number"]}]}, services.actor("admin"))
    create_user(services.engine, "bench", "bench-password", is_admin=True)
    client = app.test_client()
    assert sign_in(client, "bench", "bench-password").status_code == 303
    return app, services, client


def _hand_app(services):
    """The hand-written pages: a session check, then two SQL statements per page (the list: the rows
    and their count, which the page shows; the detail: the record with its lookup's and users' names,
    and its field history), a template; nothing generated."""
    import hashlib
    import json

    from flask import g, redirect, render_template, session
    from flask_wtf.csrf import CSRFProtect
    from jinja2 import DictLoader

    from engine.db import users
    from engine.records.history import field_history
    from engine.security.sessions import browser_sessions, open_session

    hand = Flask("hand")
    hand.config["SECRET_KEY"] = "bench-only-secret"
    hand.jinja_loader = DictLoader({"frame.html": HAND_FRAME, "list.html": HAND_LIST, "detail.html": HAND_DETAIL})
    CSRFProtect(hand)
    snap = services.records().snapshot
    deal, account = snap.get("deal").table, snap.get("account").table
    cols = ["Name", "Account", "Amount", "Stage", "Probability", "Close date", "Weighted", "Priority", "Email",
            "Number"]

    @hand.before_request
    def signed_in():
        secret = session.get("sid")
        if not secret:
            return redirect("/login")
        with services.engine.connect() as conn:
            g.user = conn.execute(
                select(users.c.id, users.c.username, users.c.is_admin, users.c.active)
                .select_from(browser_sessions.join(users, users.c.id == browser_sessions.c.user_id))
                .where(browser_sessions.c.id == hashlib.sha256(secret.encode()).hexdigest(),
                       browser_sessions.c.revoked_at.is_(None))).first()
        if g.user is None or not g.user.active:
            return redirect("/login")
        return None

    def weighted(r):
        r["weighted"] = (r["amount"] or 0) * (r["probability"] or 0) / 100
        return r

    @hand.get("/deals")
    def deals():
        stmt = (select(deal, account.c.name.label("account_name"))
                .join(account, account.c.id == deal.c.account, isouter=True)
                .where(deal.c.deleted_at.is_(None)).order_by(deal.c.created_at.desc()).limit(50))
        with services.engine.connect() as conn:
            rows = [weighted(dict(r)) for r in conn.execute(stmt).mappings()]
            total = conn.execute(select(func.count()).select_from(deal).where(deal.c.deleted_at.is_(None))).scalar()
        return render_template("list.html", rows=rows, total=total, cols=cols, user=g.user)

    owner, creator, modifier = users.alias("owner"), users.alias("creator"), users.alias("modifier")

    @hand.get("/deals/<rid>")
    def detail(rid):
        # the same cards as ours for a deal: its fields, the History of its tracked fields (who
        # changed what), the System information (created and modified, by whom)
        stmt = (select(deal, account.c.name.label("account_name"), owner.c.username.label("owner_name"),
                       creator.c.username.label("created_by_name"), modifier.c.username.label("updated_by_name"))
                .join(account, account.c.id == deal.c.account, isouter=True)
                .join(owner, owner.c.id == deal.c.owner_id, isouter=True)
                .join(creator, creator.c.id == deal.c.created_by, isouter=True)
                .join(modifier, modifier.c.id == deal.c.updated_by, isouter=True).where(deal.c.id == rid))
        history = (select(field_history, users.c.username)
                   .join(users, users.c.id == field_history.c.user_id, isouter=True)
                   .where(field_history.c.object == "deal", field_history.c.record_id == rid)
                   .order_by(field_history.c.at.desc()).limit(50))
        with services.engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
            changes = [dict(h, old_value=json.loads(h["old_value"]), new_value=json.loads(h["new_value"]))
                       for h in conn.execute(history).mappings()]
        return render_template("detail.html", r=weighted(dict(row)), history=changes, user=g.user)

    client = hand.test_client()
    with client.session_transaction() as sess:   # permanent, as the engine's: refreshed on each response
        sess["sid"] = open_session(services.engine, services.actor("bench"))
        sess.permanent = True
    return client


def _compare(ours, ours_url, hand, hand_url, n, rounds=10):
    """Both pages in alternating rounds (a change of the machine's load hits both alike):
    ``{side: (pages/s over the wall clock, CPU ms per page of the best round, HTML bytes)}``."""
    sides = (("ours", ours, ours_url), ("hand", hand, hand_url))
    wall, cpu, size = dict.fromkeys(("ours", "hand"), 0.0), dict.fromkeys(("ours", "hand"), float("inf")), {}
    for _side, client, url in sides:
        client.get(url)   # warm up
    per = max(1, n // rounds)
    for _ in range(rounds):
        for side, client, url in sides:
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(per):
                r = client.get(url)
                assert r.status_code == 200, (url, r.status_code)
            wall[side] += time.perf_counter() - start
            cpu[side] = min(cpu[side], (time.process_time() - start_cpu) / per)
            size[side] = len(r.data)
    return {side: (per * rounds / wall[side], cpu[side] * 1000, size[side]) for side in wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    import engine.ui_renderer.listing as listing
    listing.PAGE_SIZE = 50
    app, services, client = _setup(url)
    hand = _hand_app(services)
    rid = services.records().list("deal", services.actor("admin"), limit=1)["records"][0]["id"]
    rows = []
    for name, ours, theirs in (("list (50 rows, 10 columns)", "/o/deal?view=bench", "/deals"),
                               ("detail", f"/o/deal/{rid}", f"/deals/{rid}")):
        rows.append((name, _compare(client, ours, hand, theirs, args.requests)))
    css = len(client.get("/assets/tessera.css").data)
    js = len(client.get("/assets/tessera.js").data)
    print(f"database: {services.engine.dialect.name}, {args.requests} requests each, one thread, in-process; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'page':28} {'pages/s':>8} {'hand/s':>7} {'ratio':>6} {'CPU ms':>7} {'hand CPU':>9} {'CPU ratio':>9} "
          f"{'HTML bytes':>11}")
    for name, out in rows:
        (ours, ours_cpu, size), (hand_rate, hand_cpu, _h) = out["ours"], out["hand"]
        print(f"{name:28} {ours:8.0f} {hand_rate:7.0f} {ours / hand_rate:6.2f} {ours_cpu:7.2f} {hand_cpu:9.2f} "
              f"{hand_cpu / ours_cpu:9.2f} {size:11,}")
    print("ratio: ours / hand-written pages per second (wall clock); CPU ratio: hand-written CPU time per page / "
          "ours (best round of ten; steadier when the machine is shared)")
    first = rows[0][1]["ours"][2] + css + js
    print(f"first visit (list HTML + CSS {css:,} + JS {js:,}): {first:,} bytes; later pages: HTML only")
    services.dispose()


if __name__ == "__main__":
    main()
