"""Server time of the generated list and detail pages against a hand-written Flask + Jinja2 page
over the same table, in the same run (issue 9: goal >= 0.7x the hand-written throughput), and the
bytes a browser downloads (first visit: HTML + CSS + JS; later pages: HTML only, the assets being
cached for a year by their content hash).

    python bench/pages.py [--requests 300] [--database-url sqlite:///...]

The list shows 50 rows and 10 columns, one a lookup (shown by the target's name) and one a formula
field; the hand-written page joins the lookup in SQL and computes the formula in Python.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask import Flask, render_template_string  # noqa: E402
from sqlalchemy import select  # noqa: E402

HAND_LIST = """<!doctype html><html><head><title>Deals</title><link rel="stylesheet" href="/assets/x.css"></head>
<body><h1>Deals</h1><table><thead><tr>{% for c in cols %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for r in rows %}<tr><td><a href="/o/deal/{{ r.id }}">{{ r.name }}</a></td><td><a href="/o/account/{{ r.account }}">{{ r.account_name }}</a></td>
<td>{{ "{:,.2f}".format(r.amount) }}</td><td>{{ r.stage }}</td><td>{{ r.probability }}%</td><td>{{ r.close_date }}</td>
<td>{{ "{:,.2f}".format(r.weighted) }}</td><td>{{ "yes" if r.is_priority else "no" }}</td><td>{{ r.contact_email or "" }}</td>
<td>{{ r.number }}</td></tr>{% endfor %}</tbody></table></body></html>"""
HAND_DETAIL = """<!doctype html><html><head><title>{{ r.name }}</title></head><body><h1>{{ r.name }}</h1><dl>
{% for k, v in r.items() %}<dt>{{ k }}</dt><dd>{{ v }}</dd>{% endfor %}</dl></body></html>"""


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
    """The hand-written page: one SQL statement, a template, nothing generated."""
    hand = Flask("hand")
    snap = services.records().snapshot
    deal, account = snap.get("deal").table, snap.get("account").table

    @hand.get("/deals")
    def deals():
        stmt = (select(deal, account.c.name.label("account_name"))
                .join(account, account.c.id == deal.c.account, isouter=True)
                .where(deal.c.deleted_at.is_(None)).order_by(deal.c.created_at.desc()).limit(50))
        with services.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
        for r in rows:
            r["weighted"] = (r["amount"] or 0) * (r["probability"] or 0) / 100
        return render_template_string(HAND_LIST, rows=rows, cols=["Name", "Account", "Amount", "Stage", "Probability",
                                                                  "Close date", "Weighted", "Priority", "Email", "Number"])

    @hand.get("/deals/<rid>")
    def detail(rid):
        with services.engine.connect() as conn:
            row = conn.execute(select(deal).where(deal.c.id == rid)).mappings().first()
        return render_template_string(HAND_DETAIL, r=dict(row))

    return hand.test_client()


def _rate(client, url, n):
    client.get(url)   # warm up
    start = time.perf_counter()
    for _ in range(n):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)
    return n / (time.perf_counter() - start), len(r.data)


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
        ours_rate, ours_bytes = _rate(client, ours, args.requests)
        hand_rate, _ = _rate(hand, theirs, args.requests)
        rows.append((name, ours_rate, hand_rate, ours_bytes))
    css = len(client.get("/assets/tessera.css").data)
    js = len(client.get("/assets/tessera.js").data)
    print(f"database: {services.engine.dialect.name}, {args.requests} requests each, one thread, in-process")
    print(f"{'page':30} {'pages/s':>9} {'hand-written/s':>15} {'ratio':>6} {'HTML bytes':>11}")
    for name, ours, hand_rate, size in rows:
        print(f"{name:30} {ours:9.0f} {hand_rate:15.0f} {ours / hand_rate:6.2f} {size:11,}")
    first = rows[0][3] + css + js
    print(f"first visit (list HTML + CSS {css:,} + JS {js:,}): {first:,} bytes; later pages: HTML only")
    services.dispose()


if __name__ == "__main__":
    main()
