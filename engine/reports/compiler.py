"""A report document → one SQL ``GROUP BY`` statement, built on the query seam.

:func:`compile_report` starts from :meth:`RecordReader.plan_query` (``object``, the viewer,
``where=`` the report's filter), so visibility and field security come with the plan; every path,
group and aggregate is then checked against the viewer's formula field map (a hidden field is
unknown, as one that does not exist) and turned into SQL by the records'
:class:`~engine.records.resolver.SqlResolver` (related fields through lookups as correlated
sub-queries that apply the viewer's visibility). Nothing here reads data another way.

The statement (:func:`summary_statement`) selects the group keys and aggregate inputs from the
planned rows in a sub-query ``base``, then aggregates it at every grouping level: on PostgreSQL
one ``GROUP BY ROLLUP`` (``CUBE`` for a matrix) with ``GROUPING()`` telling subtotal rows apart;
on SQLite a ``UNION ALL`` of one ``GROUP BY`` per level over the same ``WITH base``. Medians are
``percentile_cont(0.5)`` on PostgreSQL and, on SQLite, the middle row(s) found with
``row_number()`` and ``count()`` window functions per level.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import (Date, DateTime, Float, Integer, Numeric, String, and_, case, cast, distinct, func,
                        literal, literal_column, null, over, select, type_coerce, union_all)

from engine.errors import EngineError
from engine.formula import FormulaError, compile_formula
from engine.records.field_security import reader_view
from engine.records.resolver import SqlResolver

from .errors import ReportDefinitionError
from .fields import PathError, resolve_path

DEFAULT_AGGREGATES = ({"fn": "count"},)
GRANULARITIES = ("day", "week", "month", "quarter", "year")


@dataclass
class GroupSpec:
    name: str
    label: str
    expr: object
    type: str                      # formula type of the key
    granularity: str | None = None
    source: dict = field(default_factory=dict)   # the group_by entry (drill-down needs it)
    ref: object = None             # FieldRef of a field group
    bucket: dict | None = None
    base_type: str | None = None   # the type before a granularity (date or datetime)


@dataclass
class AggSpec:
    name: str
    label: str
    fn: str
    expr: object                   # None for count(*)
    type: str


@dataclass
class CompiledReport:
    """A checked report for one viewer: its plan (rows the viewer may see), groups and aggregates."""

    doc: dict
    rt: object
    conditions: list
    groups: list
    aggregates: list
    columns: list                  # FieldRefs of the tabular columns
    dialect: str
    filter_sources: list           # formula texts ANDed into the plan (the report's and the run's)

    @property
    def summary(self):
        return bool(self.groups)


class _Problems:
    def __init__(self):
        self.items, self.line, self.column, self.position = [], None, None, None

    def add(self, path, message, exc=None):
        self.items.append((path, message))
        if exc is not None and self.line is None and getattr(exc, "line", None) is not None:
            self.line, self.column, self.position = exc.line, exc.column, exc.position

    def raise_if_any(self):
        if self.items:
            raise ReportDefinitionError(self.items, line=self.line, column=self.column, position=self.position)


def compile_report(reader, actor, doc, *, extra_filters=(), for_check=False):
    """Check ``doc`` for ``actor`` and build its :class:`CompiledReport`.

    ``extra_filters``: ``[(path, formula)]`` ANDed to the report's filter (a run's ``filter=``,
    a dashboard's filters). Raises :class:`ReportDefinitionError` with every problem found (paths
    relative to the document, formula problems with line and column); ``Forbidden``/``NotFound``
    when the viewer may not read the object."""
    obj = doc["object"]
    rt = reader.runtime(obj)
    problems = _Problems()
    plan = None
    sources = []
    try:
        plan = reader.plan_query(obj, actor, where=doc.get("filter") or None)
        if doc.get("filter"):
            sources.append(doc["filter"])
    except FormulaError as exc:
        problems.add("filter", exc.message, exc)
    conditions = list(plan.conditions) if plan is not None else []
    for path, source in extra_filters:
        try:
            conditions.append(reader.where_sql(rt, source, actor))
            sources.append(source)
        except FormulaError as exc:
            problems.add(path, exc.message, exc)
    view = reader_view(reader.snapshot, actor)
    fields_map = view.fields_map(obj)
    resolver = SqlResolver(reader, rt, actor)
    dialect = reader.engine.dialect.name
    ctx = _Ctx(reader.snapshot, fields_map, obj, resolver, dialect, problems)

    buckets = {}
    for i, b in enumerate(doc.get("buckets") or []):
        if b["name"] in buckets:
            problems.add(f"buckets[{i}].name", f"bucket '{b['name']}' is defined twice")
            continue
        ref = ctx.field(f"buckets[{i}].field", b["field"])
        # a bucket that failed is None: its groupings say nothing more (the problem is reported once)
        buckets[b["name"]] = _bucket(ctx, f"buckets[{i}]", b, ref) if ref is not None else None

    groups = []
    for i, g in enumerate(doc.get("group_by") or []):
        spec = _group(ctx, f"group_by[{i}]", g, buckets, i)
        if spec is not None:
            if any(s.name == spec.name for s in groups):
                problems.add(f"group_by[{i}]", f"two groupings are named '{spec.name}'; give one a 'name'")
            groups.append(spec)

    aggregates = []
    for i, a in enumerate(doc.get("aggregates") or DEFAULT_AGGREGATES):
        spec = _aggregate(ctx, f"aggregates[{i}]", a, i)
        if spec is not None:
            if any(s.name == spec.name for s in aggregates) or any(s.name == spec.name for s in groups):
                problems.add(f"aggregates[{i}]", f"the result name '{spec.name}' is used twice; give it a 'name'")
            aggregates.append(spec)

    columns = []
    for i, path in enumerate(doc.get("columns") or []):
        ref = ctx.field(f"columns[{i}]", path)
        if ref is not None:
            if ref.type == "multi" and len(ref.path) > 1:
                problems.add(f"columns[{i}]", f"'{path}' is a multi-select picklist of a related record; "
                             "only the object's own multi-select fields can be columns")
            columns.append(ref)

    names = {s.name for s in groups} | {s.name for s in aggregates}
    for i, s in enumerate(doc.get("sort") or []):
        by = s["by"]
        if groups and by not in names:
            problems.add(f"sort[{i}].by", f"unknown result '{by}'; sort by a grouping or an aggregate: "
                         f"{', '.join(sorted(names))}")
        elif not groups:
            ref = ctx.field(f"sort[{i}].by", by)
            if ref is not None and len(ref.path) > 1:
                problems.add(f"sort[{i}].by", f"a tabular report sorts by the object's own fields, not '{by}'")
    chart = doc.get("chart")
    if chart:
        _check_chart(problems, "chart", chart, groups, aggregates)
    problems.raise_if_any()
    return CompiledReport(doc=doc, rt=rt, conditions=conditions, groups=groups, aggregates=aggregates,
                          columns=columns, dialect=dialect, filter_sources=sources)


def _check_chart(problems, path, chart, groups, aggregates):
    gnames, anames = [g.name for g in groups], [a.name for a in aggregates]
    y = chart.get("y")
    if y is not None and y not in anames:
        problems.add(f"{path}.y", f"unknown aggregate '{y}'; known: {', '.join(anames)}")
    if chart["type"] != "number":
        if not groups:
            problems.add(f"{path}.type", f"a {chart['type']} chart needs at least one grouping")
        for key in ("x", "series"):
            if chart.get(key) is not None and chart[key] not in gnames:
                problems.add(f"{path}.{key}", f"unknown grouping '{chart[key]}'; known: {', '.join(gnames) or 'none'}")
        if chart.get("series") and len(groups) < 2:
            problems.add(f"{path}.series", "a series needs a second grouping")


class _Ctx:
    def __init__(self, snapshot, fields_map, obj, resolver, dialect, problems):
        self.snapshot, self.fields_map, self.obj = snapshot, fields_map, obj
        self.resolver, self.dialect, self.problems = resolver, dialect, problems
        self.pg = dialect == "postgresql"

    def field(self, path, name):
        try:
            return resolve_path(self.snapshot, self.fields_map, self.obj, name)
        except PathError as exc:
            self.problems.add(path, str(exc))
            return None

    def sql(self, ref):
        """The SQL of a field path: a column, a formula field's SQL or a related field's sub-query."""
        try:
            return self.resolver(ref.path)
        except EngineError as exc:
            self.problems.add(ref.name, exc.message)
            return None

    def formula(self, path, source):
        """(compiled, SQL) of a formula over the reader's fields, or (None, None) with a problem."""
        try:
            compiled = compile_formula(source, self.fields_map)
            expr = self.resolver.compile(compiled)
        except FormulaError as exc:
            self.problems.add(path, exc.message, exc)
            return None, None
        return compiled, expr


def _slug(text, fallback):
    slug = re.sub(r"[^a-z0-9]+", "_", str(text or "").lower()).strip("_")
    if not slug or not slug[0].isalpha():
        return fallback
    return slug[:64]


def _group(ctx, path, g, buckets, index):
    if "bucket" in g or ("field" in g and g["field"] in buckets and "." not in g["field"]):
        name = g.get("bucket") or g["field"]
        bucket = buckets.get(name)
        if bucket is None and name in buckets:
            return None
        if bucket is None:
            ctx.problems.add(f"{path}.bucket", f"unknown bucket '{name}'; define it under 'buckets'")
            return None
        return GroupSpec(name=g.get("name") or name, label=g.get("label") or bucket["label"], expr=bucket["expr"],
                         type="text", source=g, bucket=bucket)
    if "formula" in g:
        compiled, expr = ctx.formula(f"{path}.formula", g["formula"])
        if compiled is None:
            return None
        rtype = compiled.return_type or "text"
        if rtype not in ("text", "number", "boolean", "date", "datetime"):
            ctx.problems.add(f"{path}.formula", f"a grouping formula cannot give a {rtype} value")
            return None
        gran = g.get("granularity")
        if gran and rtype not in ("date", "datetime"):
            ctx.problems.add(f"{path}.granularity", "only a date or date/time can have a granularity")
            return None
        if rtype == "datetime" and not ctx.pg:
            expr = func.datetime(expr)   # the formula SQL gives a Julian day number on SQLite
        if gran:
            expr = period_start(expr, gran, ctx.dialect, rtype == "datetime")
        name = g.get("name") or _slug(g.get("label"), f"group_{index + 1}")
        return GroupSpec(name=name, label=g.get("label") or g["formula"], expr=expr,
                         type="date" if gran else rtype, granularity=gran, source=g, base_type=rtype)
    ref = ctx.field(f"{path}.field", g["field"])
    if ref is None:
        return None
    if not ref.groupable:
        what = "a multi-select picklist" if ref.type == "multi" else f"a {ref.kind} field"
        ctx.problems.add(f"{path}.field", f"'{ref.name}' is {what} and cannot be grouped")
        return None
    gran = g.get("granularity")
    if gran and ref.type not in ("date", "datetime"):
        ctx.problems.add(f"{path}.granularity", f"'{ref.name}' is not a date, so it has no granularity")
        return None
    expr = ctx.sql(ref)
    if expr is None:
        return None
    if ref.type == "datetime" and ref.computed and not ctx.pg:
        expr = func.datetime(expr)
    if gran:
        expr = period_start(expr, gran, ctx.dialect, ref.type == "datetime")
    return GroupSpec(name=g.get("name") or ref.name, label=g.get("label") or ref.label, expr=expr,
                     type="date" if gran else ref.type, granularity=gran, source=g, ref=ref,
                     base_type=ref.type)


def _bucket(ctx, path, b, ref):
    expr = ctx.sql(ref)
    if expr is None:
        return None
    whens, last_below = [], None
    for j, r in enumerate(b["ranges"]):
        rp = f"{path}.ranges[{j}]"
        if "values" in r:
            if ref.type != "text":
                ctx.problems.add(rp, f"'values' buckets need a text field; '{ref.name}' is {ref.type}")
                return None
            whens.append((expr.in_(r["values"]), r["label"]))
        elif "below" in r:
            bound = _bound(ctx, rp, ref, r["below"])
            if bound is None:
                return None
            if last_below is not None and not bound > last_below:
                ctx.problems.add(f"{rp}.below", "ranges must go up: each 'below' greater than the one before")
                return None
            last_below = bound
            whens.append((expr < _literal_bound(ref, bound, ctx.pg), r["label"]))
        elif j != len(b["ranges"]) - 1:
            ctx.problems.add(rp, "only the last range may have neither 'below' nor 'values'")
            return None
        else:
            whens.append((None, r["label"]))
    else_ = None
    if whens and whens[-1][0] is None:
        else_ = literal(whens.pop()[1], String())
    sql = case((expr.is_(None), null()), *[(c, literal(label, String())) for c, label in whens], else_=else_)
    return {"name": b["name"], "label": b.get("label") or b["name"], "expr": sql, "ref": ref,
            "ranges": b["ranges"]}


def _bound(ctx, path, ref, raw):
    if ref.type == "number":
        if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
            ctx.problems.add(f"{path}.below", f"'{ref.name}' is a number: 'below' must be a number")
            return None
        return Decimal(str(raw))
    if ref.type == "date":
        try:
            return _dt.date.fromisoformat(str(raw))
        except ValueError:
            ctx.problems.add(f"{path}.below", f"'{ref.name}' is a date: 'below' must be YYYY-MM-DD")
            return None
    ctx.problems.add(f"{path}.below", f"'below' buckets need a number or date field; '{ref.name}' is {ref.type}")
    return None


def _literal_bound(ref, bound, pg):
    if ref.type == "date":
        return literal(bound, Date()) if pg else literal(bound.isoformat(), String())
    return literal(bound, Numeric()) if pg else literal(float(bound), Float())


def _aggregate(ctx, path, a, index):
    fn = a["fn"]
    if "formula" in a:
        compiled, expr = ctx.formula(f"{path}.formula", a["formula"])
        if compiled is None:
            return None
        rtype = compiled.return_type or "number"
        from .fields import AGGREGATE_TYPES
        allowed = AGGREGATE_TYPES[fn]
        if allowed is not None and rtype not in allowed:
            ctx.problems.add(f"{path}.formula", f"{fn} needs a formula giving {' or '.join(allowed)}, not {rtype}")
            return None
        if rtype == "datetime" and not ctx.pg:
            expr = func.datetime(expr)
        name = a.get("name") or _slug(a.get("label"), f"{fn}_formula_{index + 1}")
        return AggSpec(name=name, label=a.get("label") or f"{fn} of {a['formula']}", fn=fn, expr=expr,
                       type=_agg_type(fn, rtype))
    if "field" not in a:
        if fn != "count":
            ctx.problems.add(path, f"{fn} needs a 'field' or a 'formula'")
            return None
        return AggSpec(name=a.get("name") or "count", label=a.get("label") or "Record count", fn="count",
                       expr=None, type="number")
    ref = ctx.field(f"{path}.field", a["field"])
    if ref is None:
        return None
    if not ref.aggregatable(fn):
        ctx.problems.add(f"{path}.field", f"{fn} cannot be computed over '{ref.name}' ({ref.kind})")
        return None
    expr = ctx.sql(ref)
    if expr is None:
        return None
    if ref.type == "datetime" and ref.computed and not ctx.pg:
        expr = func.datetime(expr)
    name = a.get("name") or f"{fn}_{ref.name.replace('.', '_')}"
    label = a.get("label") or f"{_FN_LABELS[fn]} {ref.label}"
    return AggSpec(name=name, label=label, fn=fn, expr=expr, type=_agg_type(fn, ref.type))


_FN_LABELS = {"count": "Count of", "count_distinct": "Distinct", "sum": "Sum of", "avg": "Average",
              "min": "Min", "max": "Max", "median": "Median"}


def _agg_type(fn, rtype):
    return "number" if fn in ("count", "count_distinct", "sum", "avg", "median") else rtype


# -- dates ------------------------------------------------------------------------------------

def period_start(expr, granularity, dialect, is_datetime=False):
    """SQL: the first day of the ``granularity`` period ``expr`` (a date or date/time, in UTC)
    falls in; weeks start on Monday (ISO)."""
    if dialect == "postgresql":
        if is_datetime:
            expr = func.timezone("UTC", expr)
        else:
            expr = cast(expr, DateTime())
        if granularity == "day":
            return cast(expr, Date())
        return cast(func.date_trunc(granularity, expr), Date())
    if granularity == "day":
        return func.date(expr)
    if granularity == "month":
        return func.strftime("%Y-%m-01", expr)
    if granularity == "year":
        return func.strftime("%Y-01-01", expr)
    if granularity == "quarter":
        month = (cast(func.strftime("%m", expr), Integer) - 1) // 3 * 3 + 1
        return func.nullif(func.printf("%s-%02d-01", func.strftime("%Y", expr), month), "-00-01")   # NULL stays NULL
    shift = (cast(func.strftime("%w", expr), Integer) + 6) % 7
    return func.date(expr, literal("-").concat(cast(shift, String())).concat(" days"))


def period_label(value, granularity):
    """The key of a period from its first day: 2026-03-15, 2026-W11, 2026-03, 2026-Q1, 2026."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _dt.date.fromisoformat(value[:10])
    elif isinstance(value, _dt.datetime):
        value = value.date()
    if granularity == "day":
        return value.isoformat()
    if granularity == "week":
        year, week, _ = value.isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "month":
        return f"{value.year:04d}-{value.month:02d}"
    if granularity == "quarter":
        return f"{value.year:04d}-Q{(value.month - 1) // 3 + 1}"
    return f"{value.year:04d}"


# -- the statement -------------------------------------------------------------------------------

def summary_statement(cr, *, matrix=False, full_only=False):
    """The one statement of a summary report (or of a tabular report's totals when it has no
    groups). Columns: ``g0..gN`` (keys), ``lvl`` (a bit per group rolled up: the ``GROUPING()``
    of PostgreSQL) and ``a0..aM`` (aggregates). ``full_only``: no subtotals (analytics)."""
    t = cr.rt.table
    n = len(cr.groups)
    cols = [g.expr.label(f"g{i}") for i, g in enumerate(cr.groups)]
    cols += [a.expr.label(f"x{j}") for j, a in enumerate(cr.aggregates) if a.expr is not None]
    if not cols:
        cols = [literal_column("1").label("one")]
    inner = select(*cols).select_from(t).where(*cr.conditions)
    pg = cr.dialect == "postgresql"
    levels = [0] if full_only else _levels(n, matrix)
    if pg:
        base = inner.subquery("base")
        keys = [base.c[f"g{i}"] for i in range(n)]
        aggs = [_agg_sql(a, base, j, pg=True).label(f"a{j}") for j, a in enumerate(cr.aggregates)]
        if n == 0:
            return select(literal(0, Integer()).label("lvl"), *aggs).select_from(base)
        if full_only:
            return select(*keys, literal(0, Integer()).label("lvl"), *aggs).group_by(*keys)
        lvl = func.grouping(*keys).label("lvl")
        grouping = (func.cube if matrix and n == 2 else func.rollup)(*keys)
        return select(*keys, lvl, *aggs).group_by(grouping)
    base = inner.cte("base")
    medians = [j for j, a in enumerate(cr.aggregates) if a.fn == "median"]
    branches = []
    for mask in levels:
        kept = [i for i in range(n) if not mask & (1 << (n - 1 - i))]
        src = base
        if medians:   # the middle rows of each group at this level, by window functions
            part = [base.c[f"g{i}"] for i in kept]
            extra = []
            for j in medians:
                x = base.c[f"x{j}"]
                extra.append(over(func.row_number(), partition_by=part or None,
                                  order_by=[x.is_(None), x]).label(f"rn{j}"))
                extra.append(over(func.count(x), partition_by=part or None).label(f"n{j}"))
            src = select(base, *extra).subquery(f"w{mask}")
        keys = [src.c[f"g{i}"] if i in kept else null().label(f"g{i}") for i in range(n)]
        aggs = [_agg_sql(a, src, j, pg=False).label(f"a{j}") for j, a in enumerate(cr.aggregates)]
        sel = select(*[k if i not in kept else k.label(f"g{i}") for i, k in enumerate(keys)],
                     literal(mask, Integer()).label("lvl"), *aggs).select_from(src)
        if kept:
            sel = sel.group_by(*[src.c[f"g{i}"] for i in kept])
        branches.append(sel)
    return branches[0] if len(branches) == 1 else union_all(*branches)


def _levels(n, matrix):
    if n == 0:
        return [0]
    if n == 1:
        return [0, 1]
    return [0, 1, 2, 3] if matrix else [0, 1, 3]


def _agg_sql(a, src, j, *, pg):
    if a.expr is None:
        return func.count()
    x = src.c[f"x{j}"]
    if a.fn == "count":
        return func.count(x)
    if a.fn == "count_distinct":
        return func.count(distinct(x))
    # an average or a median is not of its field's scale: without a type of their own, SQLAlchemy would
    # round them to the field's decimals (Numeric(18, 2))
    if a.fn == "median":
        if pg:
            return type_coerce(func.percentile_cont(0.5).within_group(x), Numeric())
        rn, n = src.c[f"rn{j}"], src.c[f"n{j}"]
        return type_coerce(func.avg(case((rn.in_([(n + 1) // 2, (n + 2) // 2]), x))), Numeric())
    if a.fn == "avg":
        return type_coerce(func.avg(x), Numeric())
    return getattr(func, a.fn)(x)
