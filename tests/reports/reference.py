"""A Python group-by over records read from the list API: the reference every report is checked
against (written independently of engine/reports)."""
from __future__ import annotations

import datetime as _dt
import statistics
from decimal import Decimal


def as_date(value):
    if value is None:
        return None
    if "T" in value:
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(_dt.timezone.utc).date()
    return _dt.date.fromisoformat(value)


def period(value, granularity):
    d = as_date(value)
    if d is None:
        return None
    if granularity == "day":
        return d.isoformat()
    if granularity == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    if granularity == "month":
        return f"{d.year:04d}-{d.month:02d}"
    if granularity == "quarter":
        return f"{d.year:04d}-Q{(d.month - 1) // 3 + 1}"
    return f"{d.year:04d}"


def bucket(value, ranges):
    if value is None:
        return None
    for r in ranges:
        if "below" in r:
            if Decimal(str(value)) < Decimal(str(r["below"])):
                return r["label"]
        elif "values" in r:
            if value in r["values"]:
                return r["label"]
        else:
            return r["label"]
    return None


def getter(path, related):
    """fn(record) -> value of ``path``; ``related``: {object field: {id: record}} for lookups."""
    parts = path.split(".")
    if len(parts) == 1:
        return lambda rec: rec.get(path)

    def get(rec):
        target = related[parts[0]].get(rec.get(parts[0]))
        return None if target is None else target.get(parts[1])
    return get


def key_fn(group, related, buckets):
    if "bucket" in group:
        b = buckets[group["bucket"]]
        get = getter(b["field"], related)
        return lambda rec: bucket(get(rec), b["ranges"])
    if "formula" in group:
        return group["python"]
    get = getter(group["field"], related)
    if group.get("granularity"):
        return lambda rec: period(get(rec), group["granularity"])
    return get


def aggregate(fn, values):
    present = [Decimal(str(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
               for v in values if v is not None]
    if fn == "count":
        return len(present)
    if fn == "count_distinct":
        return len(set(present))
    if not present:
        return None
    if fn == "sum":
        return sum(present)
    if fn == "avg":
        return sum(present) / len(present)
    if fn == "min":
        return min(present)
    if fn == "max":
        return max(present)
    if fn == "median":
        return Decimal(str(statistics.median(present)))
    raise AssertionError(fn)


def group_by(records, groups, aggregates, related=None, buckets=None):
    """{key tuple: {result name: value}} for every level: full keys, first-level subtotals (a
    1-tuple) and the grand total (an empty tuple)."""
    related, buckets = related or {}, {b["name"]: b for b in (buckets or [])}
    keys = [key_fn(g, related, buckets) for g in groups]
    out = {}
    levels = [len(groups)] + ([1] if len(groups) == 2 else []) + [0]
    for depth in levels:
        parts = {}
        for rec in records:
            parts.setdefault(tuple(k(rec) for k in keys[:depth]), []).append(rec)
        for key, recs in parts.items():
            values = {}
            for a in aggregates:
                if a["fn"] == "count" and "field" not in a:
                    values[a["name"]] = len(recs)
                else:
                    get = a.get("python") or getter(a["field"], related)
                    values[a["name"]] = aggregate(a["fn"], [get(r) for r in recs])
            out[key] = values
    if () not in out:       # no record at all: the grand total is still there
        out[()] = {a["name"]: 0 if a["fn"] in ("count", "count_distinct") else None for a in aggregates}
    return out


def flatten(result, groups):
    """A report run's result as the same {key tuple: values} mapping."""
    names = [g.get("name") or g.get("bucket") or g["field"] for g in groups]
    out = {(): result["totals"]}
    for g in result["groups"]:
        out[tuple(g["key"][n] for n in names[:1])] = g["values"]
        for k in g.get("groups", []):
            out[tuple(k["key"][n] for n in names)] = k["values"]
    return out
