"""Row visibility cost: list and count for a sales rep who sees ~1% of N deals, for an admin
who sees all, and the same rep's query written by hand in SQL.

    python bench/visibility.py [--rows 1000000] [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Runs in a schema of its own (dropped at the end). Prints median times and ratios; no asserts.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402


def _once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(sides, repeat):
    """``{name: [seconds per round]}``: every side once per round, the order rotating each round
    (the machine is shared: a ratio is taken within each round, never across a quiet and a busy one)."""
    names = list(sides)
    for fn in sides.values():
        fn()  # warm-up
    out = {n: [] for n in names}
    for r in range(repeat):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            out[n].append(_once(sides[n]))
    return out


def ratio_range(a, b):
    per_round = [x / y for x, y in zip(a, b)]
    return statistics.median(per_round), min(per_round), max(per_round)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)

    from engine.security import SYSTEM_ACTOR
    from engine.security.users import create_user
    from engine.services import build_services

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin_engine = create_engine(args.db_url)
    with admin_engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.db_url else "?"
    url = f"{args.db_url}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        services = build_services({"database_url": url})
        engine, store, acl = services.engine, services.store, services.access
        store.create_object({"api_name": "deal", "sharing": "private", "fields": [
            {"api_name": "amount", "type": "currency"}, {"api_name": "stage", "type": "text"}]}, SYSTEM_ACTOR)
        root = SYSTEM_ACTOR
        for name, parent in [("ceo", None), ("vp", "ceo"), ("mgr", "vp"), ("rep", "mgr")]:
            acl.create_role({"api_name": name, "parent": parent}, root)
        users = {}
        for i in range(100):
            u = create_user(engine, f"user{i}", "password-123")
            acl.update_user(u["username"], {"role": "rep" if i == 0 else "mgr" if i == 1 else None}, root)
            users[i] = u["id"]
        acl.save_permission_set({"api_name": "sales", "objects": {"deal": {"read": True, "edit": True}}}, root,
                                {"deal": {"amount", "stage"}})
        acl.assign("user0", "sales", root)
        ids = ",".join(f"'{users[i]}'" for i in range(100))
        t0 = time.perf_counter()
        with engine.begin() as conn:
            # owner: user0 (the rep) for 1% of rows, the other 99 users for the rest
            conn.execute(text(f"""
                INSERT INTO obj_deal (id, name, owner_id, created_at, updated_at, row_version, amount, stage)
                SELECT lpad(to_hex(g), 36, '0'), 'Deal ' || g, (ARRAY[{ids}])[1 + (g % 100)],
                       now(), now(), 1, (g % 1000) * 10, CASE WHEN g % 3 = 0 THEN 'Won' ELSE 'New' END
                FROM generate_series(1, :n) AS g"""), {"n": args.rows})
            conn.execute(text("ANALYZE obj_deal"))
        print(f"loaded {args.rows:,} deals in {time.perf_counter() - t0:.1f}s (schema {schema})")
        svc = services.records()
        rep = services.actor("user0")
        acl.update_user("user1", {"is_admin": True}, root)
        admin = services.actor("user1")

        def generated(actor):
            return lambda: svc.list("deal", actor, filters={"stage": "Won"}, order_by="-amount", limit=50,
                                    with_total=True)

        def same_visibility_by_hand():
            # what a developer would write by hand for the same rules: own + subordinates + shares
            sql = """FROM obj_deal WHERE deleted_at IS NULL AND stage = 'Won'
                     AND (owner_id = ANY(:owners) OR id IN (SELECT record_id FROM tessera_record_shares
                                                         WHERE user_id = :me AND object = 'deal'))"""
            p = {"owners": [users[0]], "me": users[0]}
            with engine.connect() as conn:
                conn.execute(text(f"SELECT * {sql} ORDER BY amount DESC NULLS LAST, id DESC LIMIT 51"), p).all()
                conn.execute(text(f"SELECT count(*) {sql}"), p).scalar()

        def by_hand():
            with engine.connect() as conn:
                conn.execute(text("""
                    SELECT * FROM obj_deal WHERE deleted_at IS NULL AND stage = 'Won' AND owner_id = :me
                    ORDER BY amount DESC NULLS LAST, id DESC LIMIT 51"""), {"me": users[0]}).all()
                conn.execute(text("""SELECT count(*) FROM obj_deal
                    WHERE deleted_at IS NULL AND stage = 'Won' AND owner_id = :me"""), {"me": users[0]}).scalar()

        n_rep = len(svc.list("deal", rep, limit=200)["records"])
        runs = interleaved({"rep": generated(rep), "admin": generated(admin), "hand": by_hand,
                            "same": same_visibility_by_hand}, args.repeat)
        t_rep, t_admin, t_hand, t_same = (statistics.median(runs[k]) for k in ("rep", "admin", "hand", "same"))
        print(f"rep sees {svc.list('deal', rep, with_total=True, limit=1)['total']:,} of {args.rows:,} deals "
              f"(first page {n_rep})")
        print(f"{'query (page of 50 + total, stage=Won, by -amount)':52s} {'median ms':>10s}")
        print(f"{'rep, generated (visibility compiled into SQL)':52s} {t_rep * 1000:10.1f}")
        print(f"{'admin, generated (sees all)':52s} {t_admin * 1000:10.1f}")
        print(f"{'rep, hand-written SQL (owner_id = me)':52s} {t_hand * 1000:10.1f}")
        print(f"{'rep, hand-written SQL with shares (same visibility)':52s} {t_same * 1000:10.1f}")
        print(f"{args.repeat} rounds, the four queries in rotating order; ratios: median of the per-round "
              "ratios [min-max]")
        for label, a, b in (("rep generated / hand-written owner-only", "rep", "hand"),
                            ("rep generated / hand-written same rules", "rep", "same"),
                            ("rep / admin", "rep", "admin")):
            med, lo, hi = ratio_range(runs[a], runs[b])
            print(f"ratio {label + ':':42s} {med:.2f}x [{lo:.2f}-{hi:.2f}]" +
                  ("  (goal <= 1.3x)" if b == "hand" else ""))
        services.dispose()
    finally:
        with admin_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


if __name__ == "__main__":
    main()
