"""Formula engine speed.

(a) Evaluations per second of compiled formulas (closures built once) against the same logic
    hand-written in Python with Decimal, and against a tree-walking interpreter over the parsed tree.
(b) On PostgreSQL: a list query with a formula filter over N rows (default 1,000,000), compiled by
    ``to_sql``, against the same query written by hand in SQL.

    python bench/formula.py [--rows 1000000] [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                            [--skip-sql] [--evals 20000]

Prints ratios (higher is better for (a), lower for (b)); no assertions.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.formula import compile_formula, prepare_context  # noqa: E402
from engine.formula import runtime as R  # noqa: E402

FIELDS = {"amount": "currency", "probability": "percent", "tier": "picklist", "close_date": "date",
          "name": "text", "quantity": "integer", "stage": "picklist"}
NOW = dt.datetime(2024, 3, 10, 12, tzinfo=dt.timezone.utc)
# prepared once, as the engine does for a page of records (records/formulas.py::compute_fields)
CONTEXT = prepare_context({"now": NOW})
RECORDS = [{"amount": Decimal(1000 + 137 * i), "probability": Decimal(10 * (i % 10)),
            "tier": ["Gold", "Silver", "Bronze"][i % 3], "close_date": dt.date(2024, 1, 1) + dt.timedelta(days=i % 200),
            "name": f"Deal {i}", "quantity": i % 50, "stage": ["Won", "New", "Lost"][i % 3]} for i in range(1000)]
HUNDRED, TWO_PLACES = Decimal(100), Decimal("0.01")


def _weighted(r):
    a, p = r.get("amount"), r.get("probability")
    if a is None or p is None:
        return None
    return (a * p / HUNDRED).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def _discount(r):
    a = r.get("amount")
    rate = {"Gold": Decimal("0.2"), "Silver": Decimal("0.1")}.get(r.get("tier"), Decimal(0))
    return None if a is None else a * (1 - rate)


def _size(r):
    a = r.get("amount")
    if a is not None and a >= 100000:
        return "Enterprise"
    if a is not None and a >= 10000:
        return "Mid-Market"
    return "SMB"


def _days(r):
    d = r.get("close_date")
    return None if d is None else Decimal((d - NOW.date()).days)


def _label(r):
    name = r.get("name") or ""
    q = r.get("quantity")
    return name[:3].upper() + "-" + ("" if q is None else str(q))


def _won_big(r):
    a, p = r.get("amount"), r.get("probability")
    w = None if a is None or p is None else a * p / HUNDRED
    return r.get("stage") == "Won" and w is not None and w > 40000


CASES = [
    ("weighted pipeline", "ROUND(amount * probability / 100, 2)", _weighted),
    ("discount tier", "amount * (1 - CASE(tier, 'Gold', 0.2, 'Silver', 0.1, 0))", _discount),
    ("size label", "IF(amount >= 100000, 'Enterprise', IF(amount >= 10000, 'Mid-Market', 'SMB'))", _size),
    ("days to close", "IF(ISBLANK(close_date), NULL, close_date - TODAY())", _days),
    ("text label", "UPPER(LEFT(name, 3)) & '-' & TEXT(quantity)", _label),
    ("won and big", "stage = 'Won' && amount * probability / 100 > 40000", _won_big),
]


class TreeWalker:
    """A naive interpreter: walks the parsed tree on every evaluation (the baseline to beat)."""

    def __init__(self, compiled):
        self.tree = compiled.tree

    def evaluate(self, rec, ctx):
        return self.ev(self.tree, rec, ctx)

    def ev(self, n, rec, ctx):
        k = n.kind
        if k in ("number", "string", "bool"):
            return n.value
        if k == "null":
            return None
        if k == "path":
            v = rec.get(n.extra["keys"][0])
            return R.NORMALISE.get(n.type, R.to_text)(v)
        if k == "binop":
            a, b = self.ev(n.args[0], rec, ctx), self.ev(n.args[1], rec, ctx)
            op = n.value
            if op == "&&":
                return a is True and b is True
            if op == "=":
                return R.equal(a, b)
            if op in (">", ">=", "<", "<="):
                if a is None or b is None:
                    return False
                return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]
            if op == "&":
                return (a or "") + (b or "")
            if op == "-" and n.args[0].type == "date":
                return R.date_diff(a, b)
            return R.number_op(op)(a, b)
        if k == "call":
            name = n.value
            if name == "IF":
                return self.ev(n.args[1] if self.ev(n.args[0], rec, ctx) is True else n.args[2], rec, ctx)
            if name == "CASE":
                x = self.ev(n.args[0], rec, ctx)
                for i in range(1, len(n.args) - 1, 2):
                    if R.equal(x, self.ev(n.args[i], rec, ctx)):
                        return self.ev(n.args[i + 1], rec, ctx)
                return self.ev(n.args[-1], rec, ctx)
            if name == "ISBLANK":
                return R.is_blank(self.ev(n.args[0], rec, ctx))
            if name == "TODAY":
                return ctx["now"].date()
            if name == "TEXT":
                return R.text_of(self.ev(n.args[0], rec, ctx), n.args[0].type)
            args = [self.ev(a, rec, ctx) for a in n.args]
            if any(a is None for a in args):
                return None
            return n.extra["fdef"].impl(*args)
        raise ValueError(k)


def rate(fn, records, seconds=0.6):
    n, t0 = 0, time.perf_counter()
    while True:
        for r in records:
            fn(r)
        n += len(records)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return n / elapsed


def bench_python(evals_seconds, rounds=7):
    """Compiled, hand-written and tree walk in alternating short rounds (the machine is shared: a
    ratio is taken within each round, and the median and range of the rounds are printed)."""
    print(f"(a) evaluations per second (1,000 records, {rounds} alternating rounds of {evals_seconds}s per side; "
          "rates are medians, the ratio is the median of the per-round ratios [min-max])")
    print(f"{'formula':20s} {'compiled':>12s} {'hand Python':>12s} {'tree walk':>12s} {'vs hand':>8s} "
          f"{'range':>13s} {'vs walk':>8s}")
    ratios = []
    for label, source, hand in CASES:
        compiled = compile_formula(source, FIELDS)
        walker = TreeWalker(compiled)
        for r in RECORDS[:50]:  # the three agree
            assert compiled.evaluate(r, CONTEXT) == hand(r) == walker.evaluate(r, CONTEXT), (label, r)
        sides = {"c": lambda r: compiled.evaluate(r, CONTEXT), "h": hand}
        seen = {"c": [], "h": []}
        per_round = []
        for i in range(rounds):
            for side in (("c", "h") if i % 2 == 0 else ("h", "c")):
                seen[side].append(rate(sides[side], RECORDS, evals_seconds))
            per_round.append(seen["c"][-1] / seen["h"][-1])
        c, h = statistics.median(seen["c"]), statistics.median(seen["h"])
        w = rate(lambda r: walker.evaluate(r, CONTEXT), RECORDS, evals_seconds)
        ratio = statistics.median(per_round)
        ratios.append(ratio)
        spread = f"{min(per_round):.2f}-{max(per_round):.2f}"
        print(f"{label:20s} {c:12,.0f} {h:12,.0f} {w:12,.0f} {ratio:7.2f}x {spread:>13s} {c / w:7.2f}x")
    print(f"geometric mean compiled / hand-written: {statistics.geometric_mean(ratios):.2f}x (goal >= 0.5x)")


def bench_sql(url, rows, repeat=7):
    from sqlalchemy import Column, MetaData, Numeric, String, Table, create_engine, func, select, text

    schema = f"fbench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        md = MetaData(schema=schema)
        t = Table("deal", md, Column("id", String(36), primary_key=True), Column("amount", Numeric(18, 2)),
                  Column("probability", Numeric(18, 0)), Column("stage", String(40)))
        md.create_all(engine)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(f"""INSERT INTO "{schema}".deal (id, amount, probability, stage)
                SELECT lpad(g::text, 12, '0'), (g % 100000) * 1.37, (g % 10) * 10,
                       CASE g % 3 WHEN 0 THEN 'Won' WHEN 1 THEN 'New' ELSE 'Lost' END
                FROM generate_series(1, :n) g"""), {"n": rows})
            conn.execute(text(f'ANALYZE "{schema}".deal'))
        print(f"\n(b) PostgreSQL, {rows:,} rows loaded in {time.perf_counter() - t0:.1f}s")
        source = "stage = 'Won' && amount * probability / 100 > 40000"
        compiled = compile_formula(source, FIELDS)
        where = compiled.to_sql(lambda p: t.c[p[0]], "postgresql", CONTEXT)
        gen_page = select(t).where(where).order_by(t.c.id).limit(50)
        gen_count = select(func.count()).select_from(t).where(where)
        hand_where = f"""FROM "{schema}".deal WHERE stage = 'Won' AND amount * probability / 100 > 40000"""

        def generated():
            with engine.connect() as conn:
                conn.execute(gen_page).all()
                return conn.execute(gen_count).scalar()

        def by_hand():
            with engine.connect() as conn:
                conn.execute(text(f"SELECT * {hand_where} ORDER BY id LIMIT 50")).all()
                return conn.execute(text(f"SELECT count(*) {hand_where}")).scalar()

        assert generated() == by_hand()
        tg = statistics.median(_timed(generated) for _ in range(repeat))
        th = statistics.median(_timed(by_hand) for _ in range(repeat))
        print(f"filter: {source}  ({generated():,} matching rows)")
        print(f"{'compiled to_sql (page of 50 + count)':40s} {tg * 1000:9.1f} ms")
        print(f"{'hand-written SQL':40s} {th * 1000:9.1f} ms")
        print(f"ratio compiled / hand-written: {tg / th:.2f}x (goal <= 1.2x)")
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Formula engine benchmark")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--skip-sql", action="store_true")
    ap.add_argument("--seconds", type=float, default=0.3, help="time per measurement in (a)")
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds per formula in (a)")
    args = ap.parse_args(argv)
    bench_python(args.seconds, args.rounds)
    if not args.skip_sql:
        try:
            bench_sql(args.db_url, args.rows)
        except Exception as exc:  # noqa: BLE001 - e.g. no PostgreSQL here
            print(f"\n(b) skipped: {str(exc).splitlines()[0][:200]}")


if __name__ == "__main__":
    main()
