"""A two-level summary report (stage x close month: count, sum, average, with subtotals and a grand
total) over N opportunities on PostgreSQL, through the reports service, against a hand-written
GROUP BY ROLLUP with the same visibility, in the same run; for an administrator (sees all) and for
a sales rep who sees 1% (private sharing: the rep owns every 100th deal).

    python bench/reports.py [--rows 1000000] [--repeat 7] [--server postgresql+psycopg://postgres@127.0.0.1:5432]

Creates a database of its own (bench_reports_<hex>), dropped at the end. The rows are loaded with
one INSERT ... SELECT generate_series (a fixture, not the record service: 1,000,000 writes through
the pipeline would take longer than the measurement). Prints median times and ratios; no asserts.
Goal (issue 11): the report at most 1.3x the hand-written query's time, for both readers.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402

REPORT = {"name": "bench", "object": "opportunity",
          "group_by": [{"field": "stage"}, {"field": "close_date", "granularity": "month"}],
          "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}, {"fn": "avg", "field": "probability"}]}

HAND = """
SELECT stage, CAST(date_trunc('month', CAST(close_date AS timestamp)) AS date) AS month,
       GROUPING(stage, CAST(date_trunc('month', CAST(close_date AS timestamp)) AS date)) AS lvl,
       count(*), sum(amount), avg(probability)
FROM obj_opportunity
WHERE deleted_at IS NULL {visibility}
GROUP BY ROLLUP(stage, CAST(date_trunc('month', CAST(close_date AS timestamp)) AS date))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = ap.parse_args(argv)

    from engine.security import SYSTEM_ACTOR
    from engine.security.users import create_user
    from engine.services import build_services

    db = f"bench_reports_{uuid.uuid4().hex[:8]}"
    server = create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    services = None
    try:
        services = build_services({"database_url": f"{args.server}/{db}"})
        engine, store, acl = services.engine, services.store, services.access
        store.create_object({"api_name": "opportunity", "label": "Opportunity", "sharing": "private", "fields": [
            {"api_name": "amount", "type": "currency", "scale": 2},
            {"api_name": "probability", "type": "percent", "scale": 0},
            {"api_name": "stage", "type": "picklist", "options": [
                {"value": v} for v in ("Prospecting", "Proposal", "Negotiation", "Won", "Lost")]},
            {"api_name": "close_date", "type": "date"}]}, SYSTEM_ACTOR)
        rep_id = create_user(engine, "rep", "password-123")["id"]
        admin_id = create_user(engine, "boss", "password-123", is_admin=True)["id"]
        acl.save_permission_set({"api_name": "sales", "objects": {"opportunity": {"read": True}}}, SYSTEM_ACTOR,
                                {"opportunity": {"amount", "probability", "stage", "close_date"}})
        acl.assign("rep", "sales", SYSTEM_ACTOR)
        others = [str(uuid.uuid4()) for _ in range(99)]
        owners = ",".join(f"'{u}'" for u in [rep_id] + others)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(f"""
                INSERT INTO obj_opportunity (id, name, owner_id, created_at, updated_at, row_version, amount,
                                             probability, stage, close_date)
                SELECT lpad(to_hex(g), 36, '0'), 'Opp ' || g, (ARRAY[{owners}])[1 + (g % 100)], now(), now(), 1,
                       CASE WHEN g % 17 = 0 THEN NULL ELSE (g % 5000) * 10.5 END, (g % 11) * 10,
                       (ARRAY['Prospecting', 'Proposal', 'Negotiation', 'Won', 'Lost'])[1 + (g % 5)],
                       DATE '2024-01-01' + (g % 1096)
                FROM generate_series(1, :n) AS g"""), {"n": args.rows})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE obj_opportunity"))
        print(f"loaded {args.rows:,} opportunities in {time.perf_counter() - t0:.1f}s (database {db})")
        reports = services.extensions["reports"]
        readers = {"admin (sees all)": (services.actor("boss"), ""),
                   "rep (sees 1%)": (services.actor("rep"), f"AND owner_id = '{rep_id}'")}

        def engine_run(actor):
            # as the API calls it: with the request's metadata snapshot (resolved once per request)
            snapshot = services.snapshots.get()
            return lambda: reports.run_doc(REPORT, actor, snapshot=snapshot, group_limit=10_000)

        def hand_run(visibility):
            sql = text(HAND.format(visibility=visibility))

            def run():
                with engine.connect() as conn:
                    return conn.execute(sql).all()
            return run

        print(f"{'reader':20s} {'report ms':>10s} {'by hand ms':>11s} {'ratio':>6s}   groups  total count")
        for label, (actor, visibility) in readers.items():
            ours, theirs = engine_run(actor), hand_run(visibility)
            result, rows = ours(), theirs()     # warm-up, and the two agree
            total = next(r for r in rows if r.lvl == 3)
            assert result["totals"]["count"] == total.count, (result["totals"], total)
            t_ours, t_theirs = [], []
            for i in range(args.repeat):       # alternate which side goes first
                for side, out in ((ours, t_ours), (theirs, t_theirs))[:: 1 if i % 2 == 0 else -1]:
                    t = time.perf_counter()
                    side()
                    out.append(time.perf_counter() - t)
            a, b = statistics.median(t_ours), statistics.median(t_theirs)
            print(f"{label:20s} {a * 1000:10.1f} {b * 1000:11.1f} {a / b:6.2f}   {len(rows):6d}  {total.count:,}")
    finally:
        if services is not None:
            services.dispose()
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        server.dispose()


if __name__ == "__main__":
    main()
