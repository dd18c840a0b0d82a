"""The formula language inside the record service, compiled once per metadata version:
formula fields (computed on read, a page at a time), default values and validation rules.

``compile_object_formulas`` is called by the snapshot build (no hook, no import side effect).
A formula that no longer compiles (a document that predates a stricter rule) does not make the
object silently skip it: the object's runtime keeps the error, writes refuse with it, and it is
logged. Save-time checks live in ``formula_checks``, roll-ups in ``rollups``, SQL paths in
``resolver``, and what a reader may see in ``field_security``.
"""
from __future__ import annotations

import datetime as _dt
import logging
from decimal import Decimal

from sqlalchemy import select

from engine.db import iso_utc
from engine.errors import RecordValidationError
from engine.formula import FormulaError, compile_formula
from engine.security import SYSTEM_ACTOR

from .formula_checks import MAX_HOPS, FieldMaps, _declared
from .resolver import SYSTEM_FORMULA_TYPES, formula_context

log = logging.getLogger("tessera.formulas")


class ObjectFormulas:
    """Compiled formulas of one object for one metadata version."""

    def __init__(self, rt, maps, snap):
        self.rt = rt
        self.fields_map = maps.fields(rt.name)
        self.formula_fields = []        # (api_name, compiled, fdef) in dependency order
        self.defaults = []              # (fdef, compiled)
        self.rules = []                 # (ValidationRuleDef, compiled)
        self.types = {}
        for fdef in rt.odef.fields:
            ft = rt.ftypes[fdef.api_name]
            if ft.computed:
                c = compile_formula(fdef.get("formula"), self.fields_map, return_type=_declared(fdef.doc),
                                    blank_as_zero=bool(fdef.get("blank_as_zero")))
                self.formula_fields.append((fdef.api_name, c, fdef))
                self.types[fdef.api_name] = c.return_type or "text"
            if fdef.get("default") is not None and ft.writable:
                self.defaults.append((fdef, compile_formula(fdef.get("default"), self.fields_map,
                                                            return_type=ft.formula_type)))
        self.formula_fields = _order_by_deps(self.formula_fields)
        self._by_name = {n: c for n, c, _f in self.formula_fields}
        for rule in rt.odef.validation_rules:
            if rule.active:
                self.rules.append((rule, compile_formula(rule.condition, self.fields_map, return_type="boolean")))
        refs = set()
        for c in [c for _n, c, _f in self.formula_fields] + [c for _r, c in self.rules] + \
                [c for _f, c in self.defaults]:
            refs |= c.references
        self.read_paths = relationship_paths(refs, rt, snap)
        self.formula_paths = _formula_paths(refs, rt, snap)

    def field(self, name):
        return self._by_name[name]


class BrokenFormulas:
    """Stands in for an object whose formulas no longer compile: reads show formula fields
    blank, writes and ``where=`` refuse with the error (never a silent bypass)."""

    formula_fields, defaults, rules, read_paths, types = (), (), (), (), {}

    def __init__(self, rt, error):
        self.rt = rt
        self.error = error
        self.fields_map = dict(SYSTEM_FORMULA_TYPES)

    def field(self, name):
        raise self.refusal()

    def refusal(self):
        message = (f"The definition of {self.rt.odef.label} has a formula that does not compile: "
                   f"{self.error.message} An administrator must correct it.")
        return RecordValidationError({"_record": [message]}, message=message, code="records.E050")


def compile_object_formulas(snap):
    """Compile every object's formulas for a snapshot (called once per metadata version)."""
    docs = {name: dict(rt.odef.doc) for name, rt in snap.objects.items()}
    maps = FieldMaps(docs)
    for rt in snap.objects.values():
        try:
            rt.formulas = ObjectFormulas(rt, maps, snap)
        except FormulaError as exc:
            log.error("object '%s' (version %s) has a formula that does not compile: %s",
                      rt.name, rt.odef.version, exc.message)
            rt.formulas = BrokenFormulas(rt, exc)


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


def relationship_paths(refs, rt, snap):
    """The lookup paths (tuples of lookup field names) that formula references ``refs`` walk
    through on ``rt``, shortest first (``$`` globals skipped). Also used by the workflow's
    read plan."""
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


def _formula_paths(refs, rt, snap):
    """The lookup paths at whose end a reference reads a formula field (``deal.x``): the related
    records there need their formula fields computed."""
    out = set()
    for ref in refs:
        parts = ref.split(".")
        current = rt
        for i, part in enumerate(parts[:-1]):
            f = current.odef.field(part) if current and not part.startswith("$") else None
            current = snap.get(f.target) if f is not None and f.target else None
            if current is None:
                break
            if i == len(parts) - 2 and parts[-1] in current.ftypes and current.ftypes[parts[-1]].computed:
                out.add(tuple(parts[:-1]))
    return frozenset(out)


# ---------------------------------------------------------------------------
# Python evaluation on read and write
# ---------------------------------------------------------------------------

def record_for_formula(rt, row):
    """A row (mapping of columns) as a formula record (api_name -> Python value)."""
    pairs = rt.formula_columns
    if pairs is None:   # a pure function of the version: built once (two threads build the same)
        pairs = rt.formula_columns = tuple((k, k) for k in SYSTEM_FORMULA_TYPES) + tuple(
            (name, fdef.column) for name, fdef in rt.stored.items())
    try:   # a row read with every column (a page of records): no Mapping.get per value
        return {name: row[col] for name, col in pairs}
    except KeyError:   # values of a write: absent columns read None
        return {name: row.get(col) for name, col in pairs}


def load_related(service, rt, records, paths, actor, conn=None, depth=0):
    """Attach related records (as nested dicts) along ``paths`` to each formula record.

    A related record the actor may not see reads as an empty lookup, so a formula never shows
    data from a record its reader cannot open (the same visibility as every query).
    """
    from .visibility import visible

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
            vis = visible(service, target_rt, actor, "read")
            if vis is not None:
                stmt = stmt.where(vis)
            if conn is None:
                with service.engine.connect().execution_options(tessera_readonly=True) as c:
                    rows = c.execute(stmt).mappings().all()
            else:
                rows = conn.execute(stmt).mappings().all()
            for row in rows:
                found[row["id"]] = record_for_formula(target_rt, row)
            if path in getattr(rt.formulas, "formula_paths", ()) and depth < MAX_HOPS:
                _compute_related(service, target_rt, list(found.values()), actor, conn, depth + 1)
        children = []
        for rec, v in owners:
            rel = found.get(v) if v else None
            rec[lookup] = rel
            if rel is not None:
                children.append((rel, target_rt))
        level[path] = children


def _compute_related(service, rt, recs, actor, conn, depth):
    """Add the formula fields of related records ``recs`` (of ``rt``), as ``actor`` reads them,
    so that ``deal.x`` reads deal's formula field ``x`` in Python as it does in SQL. They are
    computed on copies whose own related records are loaded, at most MAX_HOPS lookups away
    (beyond, they read blank: formulas cross at most that many relationships)."""
    of = rt.formulas
    if isinstance(of, BrokenFormulas) or not of.formula_fields or not recs:
        return
    copies = [dict(r) for r in recs]
    load_related(service, rt, copies, of.read_paths, actor, conn=conn, depth=depth)
    ctx = formula_context(actor)
    for rec, copy in zip(recs, copies):
        for name, compiled, _fdef in of.formula_fields:
            try:
                value = compiled.evaluate(copy, context=ctx)
            except FormulaError:
                value = None
            copy[name] = rec[name] = value


def compute_fields(service, rt, rows, outs, actor, conn=None, skip=()):
    """Add formula field values to JSON records, loading related records once per page.
    Fields in ``skip`` (hidden from this reader) are not computed."""
    of = rt.formulas
    wanted = [(n, c, f) for n, c, f in of.formula_fields if n not in skip]
    if not wanted:
        return
    recs = [record_for_formula(rt, row) for row in rows]
    load_related(service, rt, recs, of.read_paths, actor, conn=conn)
    ctx = formula_context(actor)  # one clock reading and one context for the whole page
    for rec, out in zip(recs, outs):
        _evaluate_into(wanted, rec, out, ctx)


def _evaluate_into(formula_fields, rec, out, ctx):
    for name, compiled, fdef in formula_fields:
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
        return iso_utc(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def apply_defaults(ctx):
    """Pipeline hook (``defaults``): default formulas of fields the caller did not send."""
    of = ctx.rt.formulas
    if isinstance(of, BrokenFormulas):
        raise of.refusal()
    if not of.defaults:
        return
    fctx = formula_context(ctx.actor, creating=True, now=ctx.now)
    rec = None
    for fdef, compiled in of.defaults:
        if fdef.api_name in ctx.sent:
            continue
        if rec is None:
            rec = record_for_formula(ctx.rt, ctx.values)
        try:
            value = compiled.evaluate(rec, context=fctx)
        except FormulaError:
            continue
        if value is None:
            continue
        ft = ctx.rt.ftypes[fdef.api_name]
        if ft.is_numeric:
            scale = getattr(ft, "scale", None)
            value = int(value) if scale is None else value.quantize(Decimal(1).scaleb(-scale(fdef)))
        ctx.values[fdef.column] = ft.to_storage(fdef, value)
        rec[fdef.api_name] = ctx.values[fdef.column]


def run_validation_rules(ctx):
    """Pipeline hook (``validate``): a rule whose condition is TRUE adds its message."""
    of = ctx.rt.formulas
    if isinstance(of, BrokenFormulas):
        raise of.refusal()
    if not of.rules:
        return
    rt = ctx.rt
    rec = record_for_formula(rt, ctx.values)
    prior_rec = record_for_formula(rt, ctx.prior) if ctx.prior is not None else None
    # rules see every related record (they protect data; their messages name no related value)
    load_related(ctx.service, rt, [rec], of.read_paths, SYSTEM_ACTOR, conn=ctx.conn)
    plain = formula_context(ctx.actor)
    for name, compiled, _f in of.formula_fields:
        try:
            rec[name] = compiled.evaluate(rec, context=plain)
        except FormulaError:
            rec[name] = None
    fctx = formula_context(ctx.actor, prior=prior_rec, creating=ctx.prior is None)
    for rule, compiled in of.rules:
        try:
            hit = compiled.evaluate(rec, context=fctx)
        except FormulaError as exc:
            ctx.error(rule.field or "_record", f"Validation rule '{rule.name}' could not be evaluated: {exc.message}")
            continue
        if hit is True:
            ctx.error(rule.field or "_record", rule.message)
