"""Where the engine's time goes in the CRUD benchmark: py-spy samples of the gunicorn workers,
summarised by stage of a request, and the query plans of the list queries.

Used by ``crud.py --profile DIR``; on its own it summarises stacks already recorded:

    python bench/crud_profile.py DIR/sqlite-read.collapsed [...]
"""
from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Where a sample belongs: the first label whose marker is in its stack (py-spy frames read
# "function (file:line)"). Only samples inside gunicorn's handle_request count; the lingering
# close of the socket (close_graceful, waiting for the client to close) is wall time, not CPU.
BUCKETS = [
    ("token check (resolve_token)", ("resolve_token (",)),
    ("where= formula to SQL (where_sql)", ("where_sql (",)),
    ("query planning (filters, visibility, sort)", ("plan_query (",)),
    ("input: marshmallow + checks (_deserialise)", ("_deserialise (",)),
    ("records to JSON dicts (page_json)", ("page_json (",)),
    ("JSON encoding (jsonify)", ("jsonify (", "DefaultJSONProvider.response (")),
    ("request body parsing (body_json)", ("body_json (",)),
    ("record SQL: build, execute, fetch", ("RecordReader.list (", "RecordReader.get (", "_create_many (",
                                           "RecordService.update (", "_transaction (")),
    ("other SQL", ("(sqlalchemy/",)),
]
EXEC_PARTS = [("compile", ("compiler.py",)), ("cache key", ("cache_key.py",)),
              ("driver", ("do_execute", "do_executemany", "do_rollback", "do_commit", "do_begin")),
              ("result set-up + fetch", ("cursor.py", "result.py"))]


def record(server, op, seconds, outdir, kind, drive):
    """Sample every worker of ``server`` with py-spy while ``drive()`` loads it; returns stacks."""
    if shutil.which("py-spy") is None:
        return None
    spies = []
    for pid in server.worker_pids():
        raw = Path(outdir) / f"{kind}-{op}-{pid}.txt"
        spies.append((raw, subprocess.Popen(
            ["py-spy", "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250",
             "--format", "raw", "--nonblocking", "-o", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    time.sleep(0.5)
    drive()
    stacks = collections.Counter()
    for raw, proc in spies:
        proc.wait(timeout=seconds + 60)
        if raw.exists():
            stacks.update(read_stacks(raw))
            raw.unlink()
    (Path(outdir) / f"{kind}-{op}.collapsed").write_text("".join(f"{s} {n}\n" for s, n in stacks.most_common()))
    return stacks


def read_stacks(path):
    stacks = collections.Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            stacks[stack] += int(n)
    return stacks


def _sql_part(frames):
    """What SQLAlchemy is doing in a sample whose outermost SQLAlchemy frame is ``frames[0]``."""
    head = frames[0].split(" (")[0]
    rest = ";".join(frames)
    if head in ("Connection.execute", "ClauseElement._execute_on_connection", "Connection.exec_driver_sql",
                "Connection.scalar", "Connection.scalars"):
        return "execute: " + next((lab for lab, keys in EXEC_PARTS if any(k in rest for k in keys)), "other")
    if any(k in head for k in ("connect", "close", "begin", "__exit__", "__enter__", "commit", "rollback",
                               "Transaction")):
        return "connection: checkout, BEGIN, COMMIT/ROLLBACK, return"
    if any(k in head for k in ("Result", "Row", "fetch", "first", "all", "scalar", "one")):
        return "fetch"
    return "statement building"


def summarise(stacks):
    """Share of in-request samples per stage, SQLAlchemy's share by part, and hottest frames."""
    buckets, sql, own = collections.Counter(), collections.Counter(), collections.Counter()
    inside = 0
    for stack, n in stacks.items():
        frames = stack.split(";")
        start = next((i for i, f in enumerate(frames) if f.startswith("SyncWorker.handle_request")), None)
        if start is None or any(f.startswith("close_graceful") for f in frames):
            continue
        frames = frames[start:]
        inside += n
        joined = ";".join(frames)
        buckets[next((lab for lab, keys in BUCKETS if any(k in joined for k in keys)),
                     "other (Flask, werkzeug, gunicorn)")] += n
        first_sa = next((i for i, f in enumerate(frames) if "(sqlalchemy/" in f), None)
        if first_sa is not None:
            sql[_sql_part(frames[first_sa:])] += n
        name, _, loc = frames[-1].partition(" (")
        own[f"{name} ({loc.split(':')[0].rsplit('/', 1)[-1]})"] += n
    return {"samples": inside, "buckets": buckets.most_common(), "sql": sql.most_common(),
            "own": own.most_common(10)}


def print_summary(title, found, log=print):
    n = found.get("samples", 0)
    if not n:
        log(f"  {title}: no samples")
        return
    log(f"\n  {title}: {n} samples inside requests (py-spy, 250 Hz, every worker)")
    for label, k in found["buckets"]:
        log(f"    {k / n * 100:5.1f}%  {label}")
    log("    SQLAlchemy + driver, by part: " + ", ".join(f"{lab} {k / n * 100:.1f}%" for lab, k in found["sql"]))
    log("    hottest own time: " + "; ".join(f"{lab} {k / n * 100:.1f}%" for lab, k in found["own"][:6]))


# -- query plans ------------------------------------------------------------------------------
def explain(url, kind):
    """``[(label, SQL, plan lines)]`` of the list query each side sends, with ``?stage=`` and with
    ``where=``, as the database plans them."""
    from sqlalchemy import select

    from engine.security import SYSTEM_ACTOR
    from engine.services import build_services

    sys.path.insert(0, str(HERE))
    from handwritten import deals

    services = build_services({"database_url": url})
    out = []
    try:
        records = services.records()
        dialect = services.engine.dialect
        for label, kwargs in (("engine ?stage=Won", {"filters": {"stage": "Won"}}),
                              ("engine where=stage = 'Won'", {"where": "stage = 'Won'"})):
            stmt = records.plan_query("deal", SYSTEM_ACTOR, **kwargs).ordered().limit(51)
            out.append((label,) + _plan(services.engine, kind, stmt.compile(dialect=dialect)))
        hand = select(deals).where(deals.c.deleted_at.is_(None), deals.c.stage == "Won").order_by(deals.c.id)
        out.append(("hand-written ?stage=Won",) + _plan(services.engine, kind, hand.limit(51).compile(dialect=dialect)))
    finally:
        services.dispose()
    return out


def _plan(engine, kind, compiled):
    """``(SQL, plan lines)`` of a compiled statement, its parameters passed to the driver."""
    params = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[k] for k in compiled.positiontup)
    sql = str(compiled)
    prefix = "EXPLAIN QUERY PLAN " if kind == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + sql, params).all()
    return " ".join(sql.split()), [str(r[-1]) for r in rows]


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print_summary(Path(path).stem, summarise(read_stacks(path)))
