"""Gap-free counters for auto-number fields.

The counter row is updated in the caller's transaction: PostgreSQL's row lock
serialises concurrent inserts, SQLite's write lock does the same, and a rolled-back
insert gives its numbers back. So numbers are unique and without gaps.
"""
from __future__ import annotations

from sqlalchemy import insert, select, update

from engine.db import counters


def next_numbers(conn, object_name, fdef, count):
    """Reserve ``count`` consecutive numbers; return them as a list of ints."""
    c = counters.c
    where = (c.object == object_name) & (c.field == fdef.api_name)
    stmt = update(counters).where(where).values(value=c.value + count).returning(c.value)
    row = conn.execute(stmt).first()
    if row is None:  # the field was created before counters existed: start it now
        ensure_counter(conn, object_name, fdef)
        row = conn.execute(stmt).first()
    last = row.value
    return list(range(last - count + 1, last + 1))


def ensure_counter(conn, object_name, fdef):
    """Create the counter row of an auto-number field (in the metadata change's transaction)."""
    c = counters.c
    exists = conn.execute(select(c.value).where((c.object == object_name) & (c.field == fdef.api_name))).first()
    if exists is None:
        start = int(fdef.get("start", 1) or 0)
        conn.execute(insert(counters).values(object=object_name, field=fdef.api_name, value=start - 1))
