"""The formula language inside the record service, compiled once per metadata version:
formula fields (computed on read, a page at a time), default values, validation rules,
``where=`` filters and sorting by formula fields.

Save-time checks live in ``formula_checks``, roll-up summaries in ``rollups``. Wires
``engine.formula`` into the snapshot and the record service through their hook lists;
imports no Flask.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from sqlalchemy import select

from engine.errors import BadRequest
from engine.formula import FormulaError, compile_formula
from engine.records import service as service_mod
from engine.records import snapshot as snapshot_mod

from .formula_checks import SYSTEM_FORMULA_TYPES, FieldMaps, _declared

# ---------------------------------------------------------------------------
# per-version compilation
# ---------------------------------------------------------------------------

class ObjectFormulas:
    """Compiled formulas of one object for one metadata version."""

    def __init__(self, rt, maps, snap):
        obj = rt.name
        self.rt = rt
        self.fields_map = maps.fields(obj)
        self.formula_fields = []        # (api_name, compiled, fdef) in dependency order
        self.defaults = []              # (fdef, compiled)
        self.rules = []                 # (ValidationRuleDef, compiled)
        self.types = {}
        for fdef in rt.odef.fields:
            if fdef.type == "formula":
                c = compile_formula(fdef.get("formula"), self.fields_map, return_type=_declared(fdef.doc),
                                    blank_as_zero=bool(fdef.get("blank_as_zero")))
                self.formula_fields.append((fdef.api_name, c, fdef))
                self.types[fdef.api_name] = c.return_type or "text"
            if fdef.get("default") is not None and rt.ftypes[fdef.api_name].writable:
                ft = rt.ftypes[fdef.api_name]
                self.defaults.append((fdef, compile_formula(fdef.get("default"), self.fields_map,
                                                            return_type=ft.formula_type)))
        self.formula_fields = _order_by_deps(self.formula_fields)
        for rule in rt.odef.validation_rules:
            if rule.active:
                self.rules.append((rule, compile_formula(rule.condition, self.fields_map, return_type="boolean")))
        refs = set()
        for _n, c, _f in self.formula_fields:
            refs |= c.references
        for _r, c in self.rules:
            refs |= c.references
        for _f, c in self.defaults:
            refs |= c.references
        self.read_paths = _relationship_paths(refs, rt, snap)
        self.rule_paths = self.read_paths
        self.where_cache = {}


def _order_by_deps(items):
    names = {n for n, _c, _f in items}
    done, out = set(), []
    pending = list(items)
    while pending:
        progressed = False
        for item in list(pending):
            deps = {r.split(".")[0] for r in item[1].references} & names
            if deps <= done | {item[0]}:
                out.append(item)
                done.add(item[0])
                pending.remove(item)
                progressed = True
        if not progressed:  # cycles are refused at save time; keep going regardless
            out += pending
            break
    return out


def _relationship_paths(refs, rt, snap):
    """The lookup paths (tuples of lookup field names) that references walk through."""
    paths = set()
    for ref in refs:
        parts = ref.split(".")
        if parts[0].startswith("$"):
            continue
        current = rt
        for i in range(len(parts) - 1):
            f = current.odef.field(parts[i]) if current else None
            if f is None or not f.target:
                break
            paths.add(tuple(parts[:i + 1]))
            current = snap.get(f.target)
    return sorted(paths, key=len)


def _compile_snapshot(snap):
    docs = {name: dict(rt.odef.doc) for name, rt in snap.objects.items()}
    maps = FieldMaps(docs)
    for rt in snap.objects.values():
        try:
            of = ObjectFormulas(rt, maps, snap)
        except FormulaError:  # refused at save time; a stale document must not break reads
            continue
        rt.extra["formulas"] = of
        rt.extra["formula_types"] = of.types
        rt.extra["where"] = where_sql
        rt.extra["order_sql"] = order_sql
        if of.formula_fields:
            rt.extra["compute"] = compute_fields
        if of.defaults:
            rt.extra["defaults"] = apply_defaults


snapshot_mod.compile_hooks.append(_compile_snapshot)


# ---------------------------------------------------------------------------
# Python evaluation on read and write
# ---------------------------------------------------------------------------

def record_for_formula(rt, row):
    """A row (mapping of columns) as a formula record (api_name -> Python value)."""
    rec = {k: row.get(k) for k in SYSTEM_FORMULA_TYPES}
    for name, fdef in rt.stored.items():
        rec[name] = row.get(fdef.column)
    return rec


def load_related(service, rt, records, paths, conn=None, actor=None):
    """Attach related records (as nested dicts) along ``paths`` to each formula record.

    With an ``actor``, a related record the actor may not see reads as an empty lookup, so a
    formula field never shows data from a record its reader cannot open.
    """
    if not paths:
        return
    snap = service.snapshot
    level = {(): [(r, rt) for r in records]}
    for path in paths:
        parent_items = level.get(path[:-1])
        if not parent_items:
            continue
        lookup = path[-1]
        ids, owners = set(), []
        target_rt = None
        for rec, prt in parent_items:
            f = prt.odef.field(lookup)
            if f is None or not f.target:
                continue
            target_rt = snap.get(f.target)
            v = rec.get(lookup)
            if isinstance(v, dict):
                v = v.get("id")
            if v:
                ids.add(v)
            owners.append((rec, v))
        if target_rt is None:
            continue
        found = {}
        if ids:
            t = target_rt.table
            stmt = select(t).where(t.c.id.in_(list(ids)))
            vis = service._vis(target_rt, actor, "read") if actor is not None else None
            if vis is not None:
                stmt = stmt.where(vis)
            if conn is None:
                with service.engine.connect().execution_options(tessera_readonly=True) as c:
                    rows = c.execute(stmt).mappings().all()
            else:
                rows = conn.execute(stmt).mappings().all()
            for row in rows:
                found[row["id"]] = record_for_formula(target_rt, row)
        children = []
        for rec, v in owners:
            rel = found.get(v) if v else None
            rec[lookup] = rel
            if rel is not None:
                children.append((rel, target_rt))
        level[path] = children


def _context(actor, prior=None, creating=False):
    ctx = {"now": _dt.datetime.now(_dt.timezone.utc)}
    if actor is not None:
        ctx["user"] = {"id": actor.user_id, "username": actor.username, "name": actor.username,
                       "is_admin": actor.is_admin, "locale": actor.locale}
    if not creating:
        ctx["prior"] = prior if prior is not None else {}
    return ctx


def compute_fields(service, rt, rows, outs, actor, conn=None):
    """Add formula field values to JSON records, loading related records once per page."""
    of = rt.extra["formulas"]
    recs = [record_for_formula(rt, row) for row in rows]
    load_related(service, rt, recs, of.read_paths, conn=conn, actor=actor)
    ctx = _context(actor)  # one clock reading and one context for the whole page
    for rec, out in zip(recs, outs):
        _evaluate_into(of, rec, out, ctx)


def _evaluate_into(of, rec, out, ctx):
    for name, compiled, fdef in of.formula_fields:
        try:
            value = compiled.evaluate(rec, context=ctx)
        except FormulaError:
            value = None  # e.g. a division by zero on this record: shown as blank
        rec[name] = value
        out[name] = _json(value, fdef)


def _json(value, fdef):
    if isinstance(value, Decimal):
        scale = fdef.get("scale")
        if scale is not None:
            value = value.quantize(Decimal(1).scaleb(-int(scale)))
        return int(value) if value == value.to_integral_value() and scale in (None, 0) else float(value)
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def apply_defaults(service, rt, values, data, actor, now):
    of = rt.extra["formulas"]
    ctx = _context(actor, creating=True)
    ctx["now"] = now
    rec = None
    for fdef, compiled in of.defaults:
        if fdef.api_name in (data or {}):
            continue
        if rec is None:
            rec = record_for_formula(rt, values)
        try:
            value = compiled.evaluate(rec, context=ctx)
        except FormulaError:
            continue
        if value is None:
            continue
        ft = rt.ftypes[fdef.api_name]
        if ft.family == "number" and fdef.type == "integer":
            value = int(value)
        elif ft.family == "number":
            value = value.quantize(Decimal(1).scaleb(-ft.scale(fdef)))
        values[fdef.column] = ft.to_storage(fdef, value)
        rec[fdef.api_name] = values[fdef.column]


def run_validation_rules(service, conn, rt, values, prior, actor):
    of = rt.extra.get("formulas")
    if of is None or not of.rules:
        return {}
    rec = record_for_formula(rt, values)
    prior_rec = record_for_formula(rt, prior) if prior is not None else None
    load_related(service, rt, [rec], of.rule_paths, conn=conn)
    for name, compiled, _f in of.formula_fields:
        try:
            rec[name] = compiled.evaluate(rec, context=_context(actor))
        except FormulaError:
            rec[name] = None
    ctx = _context(actor, prior=prior_rec, creating=prior is None)
    errors = {}
    for rule, compiled in of.rules:
        try:
            hit = compiled.evaluate(rec, context=ctx)
        except FormulaError as exc:
            errors.setdefault(rule.field or "_record", []).append(
                f"Validation rule '{rule.name}' could not be evaluated: {exc.message}")
            continue
        if hit is True:
            errors.setdefault(rule.field or "_record", []).append(rule.message)
    return errors


service_mod.validators.append(run_validation_rules)


# ---------------------------------------------------------------------------
# SQL: where=, order_by on formula fields
# ---------------------------------------------------------------------------

class SqlResolver:
    """Resolve formula paths to SQL for one object: columns, formula fields, related fields
    through correlated subqueries (one per hop, indexed by the related table's primary key)."""

    def __init__(self, service, rt, dialect, ctx, actor=None):
        self.service, self.rt, self.dialect, self.ctx, self.actor = service, rt, dialect, ctx, actor

    def __call__(self, path):
        return self._resolve(self.rt, self.rt.table, tuple(path), set())

    def _resolve(self, rt, table, path, seen):
        head = path[0]
        if head in SYSTEM_FORMULA_TYPES:
            return table.c[head]
        fdef = rt.odef.field(head)
        if fdef is None:
            raise BadRequest("records.E020", f"Unknown field '{head}'.")
        if len(path) == 1:
            if fdef.column:
                return table.c[fdef.column]
            if fdef.type == "formula":
                key = (rt.name, head)
                if key in seen:
                    raise BadRequest("records.E021", f"Formula field '{head}' refers to itself.")
                of = rt.extra["formulas"]
                compiled = next(c for n, c, _f in of.formula_fields if n == head)
                return compiled.to_sql(lambda p: self._resolve(rt, table, tuple(p), seen | {key}),
                                       self.dialect, context=self.ctx)
            raise BadRequest("records.E022", f"Field '{head}' cannot be used in SQL.")
        target_rt = self.service.snapshot.get(fdef.target)
        alias = target_rt.table.alias()
        inner = self._resolve(target_rt, alias, path[1:], seen)
        conds = [alias.c.id == table.c[fdef.column]]
        plan = getattr(self.actor, "plan", None)
        if plan is not None and not plan.is_admin:
            # a related record the reader may not see reads as an empty lookup, as in Python
            from engine.security import access as acl
            vis = acl.visibility(plan, target_rt, "read", None, True, table=alias)
            if vis is not None:
                conds.append(vis)
        return select(inner).where(*conds).scalar_subquery()


def where_sql(service, rt, source, actor):
    """Compile a ``where=`` formula to a SQL condition (422 with line/column when it is wrong)."""
    of = rt.extra["formulas"]
    compiled = of.where_cache.get(source)
    if compiled is None:  # a client repeats its filters: parse and check each text once per version
        compiled = compile_formula(source, of.fields_map, return_type="boolean")
        if len(of.where_cache) >= 256:
            of.where_cache.pop(next(iter(of.where_cache)))
        of.where_cache[source] = compiled
    dialect = service.engine.dialect.name
    expr = compiled.to_sql(SqlResolver(service, rt, dialect, _context(actor), actor), dialect,
                           context=_context(actor))
    return expr


def order_sql(service, rt, name, actor):
    of = rt.extra["formulas"]
    compiled = next((c for n, c, _f in of.formula_fields if n == name), None)
    if compiled is None:
        return None
    dialect = service.engine.dialect.name
    return compiled.to_sql(SqlResolver(service, rt, dialect, _context(actor), actor), dialect,
                           context=_context(actor))




from . import rollups  # noqa: E402,F401  (registers the roll-up hooks)
