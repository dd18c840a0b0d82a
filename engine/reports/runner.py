"""Running a compiled report: the summary tree with subtotals and totals, or tabular rows paged
with the list API's cursor.

A summary's result is ``{"groups": [{"key", "values", "where", "groups"?}], "totals",
"column_totals"? (matrix), "truncated", "meta"}``. ``key`` holds the group's key values by
grouping name (a child's key holds its parent's too); ``values`` the aggregates by result name;
``where`` a formula that selects exactly the group's records through the list API (drill-down).
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from sqlalchemy import select

from engine.errors import InvalidRequestError

from .compiler import period_label, summary_statement
from .fields import json_value

MAX_RESULT_ROWS = 50_000
DEFAULT_GROUP_LIMIT = 100
MAX_GROUP_LIMIT = 10_000


def parse_group_limit(raw, default):
    """``group_limit=`` as an int in 1..10000 (reports.E020 otherwise)."""
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_GROUP_LIMIT:
        raise InvalidRequestError("reports.E020", f"group_limit must be a whole number between 1 and "
                                  f"{MAX_GROUP_LIMIT} (got '{str(raw)[:20]}').", fields={"group_limit": ["invalid"]})
    return value


def meta(cr):
    """What a page needs to show the result: groupings, aggregates and columns with labels and types."""
    return {"object": cr.rt.name, "object_label": cr.rt.odef.label,
            "group_by": [{"name": g.name, "label": g.label, "type": g.type, "granularity": g.granularity}
                         for g in cr.groups],
            "aggregates": [{"name": a.name, "label": a.label, "fn": a.fn, "type": a.type} for a in cr.aggregates],
            "columns": [{"name": c.name, "label": c.label, "type": c.type} for c in cr.columns]}


def execute(reader, stmt, what="report", conn=None):
    """The rows of ``stmt`` (at most MAX_RESULT_ROWS), on ``conn`` or a read-only connection of its own."""
    if conn is not None:
        with reader._database_errors(what):
            rows = conn.execute(stmt).mappings().fetchmany(MAX_RESULT_ROWS + 1)
    else:
        with reader._database_errors(what), \
                reader.engine.connect().execution_options(tessera_readonly=True) as own:
            rows = own.execute(stmt).mappings().fetchmany(MAX_RESULT_ROWS + 1)
    if len(rows) > MAX_RESULT_ROWS:
        raise InvalidRequestError("reports.E021", f"The report has more than {MAX_RESULT_ROWS:,} groups; add a "
                                  "filter or group by something coarser (a month instead of a day).")
    return rows


def run_summary(reader, cr, *, group_limit=DEFAULT_GROUP_LIMIT, matrix=False, conn=None):
    """Run a summary report (or, with no groups, the totals of a tabular one)."""
    n = len(cr.groups)
    matrix = bool(matrix) and n == 2
    rows = execute(reader, summary_statement(cr, matrix=matrix), conn=conn)
    full = (1 << n) - 1
    totals, top, children, columns = None, [], {}, []
    for row in rows:
        mask = row["lvl"]
        values = {a.name: json_value(row[f"a{j}"]) for j, a in enumerate(cr.aggregates)}
        raw = [row[f"g{i}"] if f"g{i}" in row else None for i in range(n)]
        if mask == full:
            totals = values
        elif n == 1 or mask == 1:
            top.append(_group(cr, [0], raw, values))
        elif mask == 0:
            children.setdefault(_hashable(raw[0]), []).append(_group(cr, [0, 1], raw, values))
        elif mask == 2:
            columns.append(_group(cr, [1], raw, values))
    if totals is None:   # no row at all (PostgreSQL's ROLLUP over nothing still gives one; keep both alike)
        totals = {a.name: (0 if a.fn in ("count", "count_distinct") else None) for a in cr.aggregates}
    if n == 0:
        return {"groups": [], "totals": totals, "truncated": False, "meta": meta(cr)}
    truncated = False
    top, cut = _order(cr, top, 0, group_limit)
    truncated |= cut
    if n == 2:
        for g in top:
            kids, cut = _order(cr, children.get(_hashable(g.pop("_raw")[0]), []), 1, group_limit)
            truncated |= cut
            for k in kids:
                k.pop("_raw")
            g["groups"] = kids
    else:
        for g in top:
            g.pop("_raw")
    out = {"groups": top, "totals": totals, "truncated": truncated, "meta": meta(cr)}
    if matrix:
        cols, _ = _order(cr, columns, 1, MAX_GROUP_LIMIT)
        for c in cols:
            c.pop("_raw")
        out["column_totals"] = cols
    return out


def _hashable(v):
    return ("__none__",) if v is None else v


def _group(cr, levels, raw, values):
    key, conds = {}, list(cr.filter_sources)
    for i in levels:
        g = cr.groups[i]
        key[g.name] = _key_value(g, raw[i])
        conds.append(drill_condition(g, raw[i]))
    where = " && ".join(f"({c})" if " " in c and len(conds) > 1 else c for c in conds)
    return {"key": key, "values": values, "where": where, "_raw": raw}


def _key_value(g, value):
    if g.granularity:
        return period_label(value, g.granularity)
    if g.type == "boolean" and value is not None:
        return bool(value)
    return json_value(value)


def _order(cr, groups, level, limit):
    """Siblings sorted by the report's ``sort`` (default: by key, blanks last), cut to ``limit``."""
    name = cr.groups[level].name
    specs = [(s["by"], bool(s.get("desc"))) for s in cr.doc.get("sort") or []]
    specs = [(by, desc) for by, desc in specs if by == name or any(a.name == by for a in cr.aggregates)]
    if not any(by == name for by, _ in specs):
        specs.append((name, False))
    for by, desc in reversed(specs):
        def sort_key(g, by=by):
            v = g["key"][by] if by in g["key"] else g["values"].get(by)
            return _sortable(v)
        present = [g for g in groups if sort_key(g)[0] == 0]
        blank = [g for g in groups if sort_key(g)[0] != 0]
        present.sort(key=sort_key, reverse=desc)
        groups = present + blank
    return groups[:limit], len(groups) > limit


def _sortable(v):
    if v is None:
        return (1, 0)
    if isinstance(v, bool):
        return (0, int(v))
    if isinstance(v, (int, float, Decimal)):
        return (0, Decimal(str(v)))
    return (0, str(v))


# -- drill-down -----------------------------------------------------------------------------------

def quote(text):
    """A formula text literal."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def literal_formula(value, ftype):
    """``value`` (as read from SQL) written as a formula literal of type ``ftype``."""
    if ftype == "number":
        return format(Decimal(str(value)).normalize(), "f") if not isinstance(value, bool) else str(int(value))
    if ftype == "boolean":
        return "TRUE" if value else "FALSE"
    if ftype == "date":
        d = _as_date(value)
        return f"DATE({d.year}, {d.month}, {d.day})"
    if ftype == "datetime":
        v = value if isinstance(value, _dt.datetime) else _dt.datetime.fromisoformat(str(value))
        v = v.replace(tzinfo=_dt.timezone.utc) if v.tzinfo is None else v.astimezone(_dt.timezone.utc)
        return f"DATETIMEVALUE({quote(v.strftime('%Y-%m-%dT%H:%M:%S.%fZ'))})"
    return quote(value)


def _as_date(value):
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    return _dt.date.fromisoformat(str(value)[:10])


def _next_period(start, granularity):
    if granularity == "day":
        return start + _dt.timedelta(days=1)
    if granularity == "week":
        return start + _dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[granularity]
    total = start.year * 12 + start.month - 1 + months
    return _dt.date(total // 12, total % 12 + 1, 1)


def drill_condition(g, value):
    """A formula selecting the records of group ``g`` whose key (as read from SQL) is ``value``."""
    if g.bucket is not None:
        return _bucket_condition(g.bucket, value)
    subject = f"({g.source['formula']})" if "formula" in g.source else g.ref.name
    if value is None:
        return f"ISBLANK({subject})"
    if g.granularity:
        start = _as_date(value)
        end = _next_period(start, g.granularity)
        if g.base_type == "datetime":
            lo = _dt.datetime(start.year, start.month, start.day, tzinfo=_dt.timezone.utc)
            hi = _dt.datetime(end.year, end.month, end.day, tzinfo=_dt.timezone.utc)
            return f"{subject} >= {literal_formula(lo, 'datetime')} && {subject} < {literal_formula(hi, 'datetime')}"
        return f"{subject} >= {literal_formula(start, 'date')} && {subject} < {literal_formula(end, 'date')}"
    if g.type == "boolean":
        return subject if value else f"NOT({subject})"
    return f"{subject} = {literal_formula(value, g.type)}"


def _bucket_condition(bucket, label):
    """Records in the bucket range(s) labelled ``label`` (None: blank, or in no range). As in the
    CASE, a record falls in the first range that takes it."""
    subject = bucket["ref"].name
    conds = []
    for r in bucket["ranges"]:
        if "values" in r:
            cond = " || ".join(f"{subject} = {quote(v)}" for v in r["values"])
        elif "below" in r:
            cond = f"{subject} < {literal_formula(r['below'], bucket['ref'].type)}"
        else:
            cond = f"NOT(ISBLANK({subject}))"
        conds.append((f"({cond})" if " " in cond else cond, r["label"]))
    if label is None:
        return f"ISBLANK({subject}) || " + " && ".join(f"NOT{c}" if c.startswith("(") else f"NOT({c})"
                                                         for c, _ in conds)
    options = []
    for i, (cond, lab) in enumerate(conds):
        if lab == label:
            earlier = [f"NOT{c}" if c.startswith("(") else f"NOT({c})" for c, _ in conds[:i]]
            options.append(" && ".join(earlier + [cond]))
    if not options:
        return "FALSE"
    return options[0] if len(options) == 1 else " || ".join(f"({o})" for o in options)


# -- tabular -----------------------------------------------------------------------------------------

def run_tabular(reader, actor, cr, *, limit=50, cursor=None, max_limit=200):
    """Detail rows of a report without groupings, paged with the list API's cursor, and the totals."""
    where = " && ".join(f"({s})" for s in cr.filter_sources) or None
    own = [c.name for c in cr.columns if len(c.path) == 1]
    related = [c for c in cr.columns if len(c.path) > 1]
    order_by = ",".join(("-" if s.get("desc") else "") + s["by"] for s in cr.doc.get("sort") or []) or None
    page = reader.list(cr.rt.name, actor, where=where, order_by=order_by, limit=limit, cursor=cursor,
                       fields=own or None, max_limit=max_limit)
    rows = page["records"]
    if related and rows:
        from engine.records.resolver import SqlResolver

        t = cr.rt.table
        resolver = SqlResolver(reader, cr.rt, actor)
        exprs = [resolver(c.path).label(f"c{i}") for i, c in enumerate(related)]
        stmt = select(t.c.id, *exprs).where(t.c.id.in_([r["id"] for r in rows]))
        found = {r["id"]: r for r in execute(reader, stmt)}
        for rec in rows:
            hit = found.get(rec["id"])
            for i, c in enumerate(related):
                rec[c.name] = json_value(hit[f"c{i}"]) if hit is not None else None
    if cr.columns:
        names = ["id"] + [c.name for c in cr.columns]
        rows = [{k: r.get(k) for k in names} for r in rows]
    totals = run_summary(reader, cr)["totals"]
    return {"rows": rows, "next_cursor": page["next_cursor"], "totals": totals, "meta": meta(cr)}
