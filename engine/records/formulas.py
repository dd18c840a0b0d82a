"""The formula language inside the engine: formula fields, default values,
validation rules, ``where=`` filters and sorting, roll-up summaries, save-time
checks (types, cycles, dependants) — all compiled once per metadata version.

Wires ``engine.formula`` into the metadata checks, the snapshot and the record
service through their hook lists; imports no Flask.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from sqlalchemy import and_, func, select, update

from engine.errors import BadRequest, RecordValidationError
from engine.formula import FormulaError, compile_formula
from engine.metadata import checks, store
from engine.metadata.field_types import field_types
from engine.metadata.model import build_object_def
from engine.records import service as service_mod
from engine.records import snapshot as snapshot_mod

MAX_HOPS = 5
SYSTEM_FORMULA_TYPES = {"id": "text", "name": "text", "owner_id": "text", "created_by": "text",
                        "updated_by": "text", "created_at": "datetime", "updated_at": "datetime",
                        "row_version": "number", "deleted_at": "datetime"}
USER_FIELDS = {"id": "text", "username": "text", "name": "text", "is_admin": "boolean", "locale": "text"}


# ---------------------------------------------------------------------------
# field maps: what a formula on an object may reference
# ---------------------------------------------------------------------------

class FieldMaps:
    """Builds ``fields`` dicts for ``compile_formula`` over a set of object documents.

    Formula fields are typed by compiling them (dependencies first); relationship
    names map to the related object's map, shared, up to five hops.
    """

    def __init__(self, docs):
        self.docs = docs
        self.formula_types = {}       # (object, field) -> return type
        self._maps = {}
        self._compiling = []

    def formula_type(self, obj, fdoc):
        key = (obj, fdoc["api_name"])
        if key in self.formula_types:
            return self.formula_types[key]
        if key in self._compiling:
            cycle = " -> ".join(f"{o}.{f}" for o, f in self._compiling[self._compiling.index(key):] + [key])
            raise CycleError(f"formula fields refer to each other in a cycle: {cycle}", key)
        self._compiling.append(key)
        try:
            compiled = compile_formula(fdoc["formula"], self.fields(obj), return_type=_declared(fdoc),
                                       blank_as_zero=bool(fdoc.get("blank_as_zero")))
        finally:
            self._compiling.pop()
        rtype = compiled.return_type or "text"
        self.formula_types[key] = rtype
        return rtype

    def fields(self, obj, depth=0):
        key = (obj, depth)
        if key in self._maps:
            return self._maps[key]
        out = dict(SYSTEM_FORMULA_TYPES)
        self._maps[key] = out
        doc = self.docs.get(obj) or {}
        formulas = []
        for fdoc in doc.get("fields", []):
            if not isinstance(fdoc, dict) or fdoc.get("type") not in field_types:
                continue
            ftype = field_types.get(fdoc["type"])
            if fdoc["type"] == "formula":
                formulas.append(fdoc)
            elif ftype.family == "lookup" and fdoc.get("target") in self.docs and depth < MAX_HOPS:
                out[fdoc["api_name"]] = self.fields(fdoc["target"], depth + 1)
            else:
                out[fdoc["api_name"]] = ftype.formula_type
        if depth == 0:
            out["$user"] = dict(USER_FIELDS)
        for fdoc in _formula_order(obj, formulas):
            try:
                out[fdoc["api_name"]] = self.formula_type(obj, fdoc)
            except CycleError:
                raise
            except FormulaError:
                continue
        return out


def _formula_order(obj, formulas):
    """Formula fields in dependency order; a cycle raises CycleError naming it."""
    from engine.formula.parser import parse

    by_name = {f["api_name"]: f for f in formulas}
    deps = {}
    for f in formulas:
        try:
            deps[f["api_name"]] = {h for h in _heads(parse(f["formula"])) if h in by_name}
        except FormulaError:
            deps[f["api_name"]] = set()
    order, state = [], {}

    def visit(name, stack):
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = stack[stack.index(name):] + [name]
            raise CycleError("formula fields refer to each other in a cycle: "
                             + " -> ".join(f"{obj}.{n}" for n in cycle), (obj, name))
        state[name] = "active"
        for d in sorted(deps[name]):
            visit(d, stack + [name])
        state[name] = "done"
        order.append(by_name[name])

    for name in by_name:
        visit(name, [])
    return order


def _heads(node):
    if node.kind == "path":
        yield node.value[0]
    for a in node.args:
        yield from _heads(a)


class CycleError(FormulaError):
    def __init__(self, message, key):
        super().__init__(message, code="formula.E140")
        self.key = key


def _declared(fdoc):
    rt = fdoc.get("return_type")
    return {"currency": "number", "percent": "number", "checkbox": "boolean"}.get(rt, rt)


def _fmt(path, exc):
    return (path, exc.message)


# ---------------------------------------------------------------------------
# save-time checks
# ---------------------------------------------------------------------------

@checks.register_check
def check_formulas(doc, ctx):
    """Compile every formula of an object document; report errors with line and column."""
    docs = dict(ctx.get("objects", {}))
    docs[doc["api_name"]] = doc
    maps = FieldMaps(docs)
    obj = doc["api_name"]
    prefix = f"objects.{obj}"
    problems = []
    try:
        fields = maps.fields(obj)
    except CycleError as exc:
        return [(f"{prefix}.fields.{exc.key[1]}.formula", exc.message)]
    for fdoc in doc.get("fields", []):
        path = f"{prefix}.fields.{fdoc['api_name']}"
        ftype = field_types.get(fdoc["type"])
        if fdoc["type"] == "formula":
            try:
                maps.formula_type(obj, fdoc)
            except FormulaError as exc:
                problems.append(_fmt(f"{path}.formula", exc))
        if fdoc.get("default") is not None and ftype.writable:
            want = ftype.formula_type if ftype.formula_type != "multi" else None
            if want is None:
                problems.append((f"{path}.default", f"a {fdoc['type']} field cannot have a default formula"))
                continue
            try:
                compile_formula(fdoc["default"], fields, return_type=want)
            except FormulaError as exc:
                problems.append(_fmt(f"{path}.default", exc))
        if fdoc["type"] == "roll_up_summary":
            problems += _check_rollup(doc, fdoc, docs, maps, path)
    for i, rule in enumerate(doc.get("validation_rules", [])):
        try:
            compile_formula(rule["condition"], fields, return_type="boolean")
        except FormulaError as exc:
            problems.append(_fmt(f"{prefix}.validation_rules[{i}].condition", exc))
    for i, view in enumerate(doc.get("list_views", [])):
        if view.get("where"):
            try:
                compile_formula(view["where"], fields, return_type="boolean")
            except FormulaError as exc:
                problems.append(_fmt(f"{prefix}.list_views[{i}].where", exc))
    return problems


def _check_rollup(doc, fdoc, docs, maps, path):
    summary = fdoc["summary"]
    child = docs.get(summary["object"])
    if child is None:
        return [(f"{path}.summary.object", f"unknown object '{summary['object']}'"
                 f"{checks.suggest(summary['object'], docs)}")]
    links = [f for f in child.get("fields", []) if f.get("type") == "master_detail"
             and f.get("target") == doc["api_name"]]
    if summary.get("relationship_field"):
        links = [f for f in links if f["api_name"] == summary["relationship_field"]]
    if not links:
        return [(f"{path}.summary.object", f"'{summary['object']}' has no master-detail field pointing to "
                 f"'{doc['api_name']}'")]
    problems = []
    if summary["function"] != "count":
        target = next((f for f in child.get("fields", []) if f.get("api_name") == summary.get("field")), None)
        if target is None:
            problems.append((f"{path}.summary.field", f"{summary['function']} needs a number field of "
                             f"'{summary['object']}'"))
        elif target.get("type") not in ("number", "integer", "currency", "percent"):
            problems.append((f"{path}.summary.field", f"'{target['api_name']}' is not a number field"))
    if summary.get("filter"):
        try:
            compile_formula(summary["filter"], maps.fields(summary["object"]), return_type="boolean")
        except FormulaError as exc:
            problems.append(_fmt(f"{path}.summary.filter", exc))
    return problems


def _formula_sources(doc):
    """Yield (description, source) for every formula in an object document."""
    obj = doc["api_name"]
    for fdoc in doc.get("fields", []):
        if fdoc.get("type") == "formula":
            yield f"formula field {obj}.{fdoc['api_name']}", fdoc["formula"], obj
        if fdoc.get("default"):
            yield f"default of {obj}.{fdoc['api_name']}", fdoc["default"], obj
        if fdoc.get("type") == "roll_up_summary" and fdoc["summary"].get("filter"):
            yield f"roll-up filter of {obj}.{fdoc['api_name']}", fdoc["summary"]["filter"], fdoc["summary"]["object"]
    for rule in doc.get("validation_rules", []):
        yield f"validation rule {obj}.{rule['name']}", rule["condition"], obj
    for view in doc.get("list_views", []):
        if view.get("where"):
            yield f"list view {obj}.{view['name']}", view["where"], obj


def _dependants(conn, old_doc, new_doc, docs_after):
    """Refuse deleting a field (or an object) that formulas, rules or filters use."""
    if old_doc is None:
        return []
    name = old_doc["api_name"]
    old_fields = {f["api_name"] for f in old_doc.get("fields", [])}
    new_fields = {f["api_name"] for f in (new_doc or {}).get("fields", [])} if new_doc else set()
    removed = old_fields - new_fields
    if not removed and new_doc is not None:
        return []
    docs_before = dict(docs_after)
    docs_before[name] = old_doc
    maps = FieldMaps(docs_before)
    users = []
    for other, doc in sorted(docs_after.items()):
        for what, source, base in _formula_sources(doc):
            try:
                compiled = compile_formula(source, maps.fields(base))
            except FormulaError:
                continue
            for ref in compiled.references:
                if _path_hits(ref, base, name, removed, docs_before, whole_object=new_doc is None):
                    users.append(what)
                    break
    rollups = [f"roll-up {o}.{f['api_name']}" for o, d in docs_after.items() for f in d.get("fields", [])
               if f.get("type") == "roll_up_summary" and f["summary"]["object"] == name
               and (new_doc is None or f["summary"].get("field") in removed)]
    users += rollups
    if users:
        if new_doc is None:
            return [(f"objects.{name}", f"cannot delete '{name}': used by {', '.join(users)}")]
        return [(f"objects.{name}.fields.{sorted(removed)[0]}",
                 f"cannot delete {', '.join(repr(r) for r in sorted(removed))}: used by {', '.join(users)}; "
                 "change those first")]
    return []


def _path_hits(ref, base, obj, removed, docs, whole_object):
    parts = ref.split(".")
    current = base
    for i, part in enumerate(parts):
        if part.startswith("$"):
            return False
        if current == obj and (whole_object or part in removed) and (i > 0 or not whole_object):
            return True
        fdoc = next((f for f in (docs.get(current) or {}).get("fields", []) if f.get("api_name") == part), None)
        if fdoc is None or not fdoc.get("target"):
            return False
        current = fdoc["target"]
        if whole_object and current == obj:
            return True
    return False


store.dependency_checks.append(_dependants)


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
    for rec, out in zip(recs, outs):
        _evaluate_into(of, rec, out, actor)


def _evaluate_into(of, rec, out, actor):
    ctx = _context(actor)
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


# ---------------------------------------------------------------------------
# roll-up summaries
# ---------------------------------------------------------------------------

def _rollups_on(snap, child_name):
    """Roll-up fields of any object that summarise ``child_name`` (indexed once per version)."""
    index = snap.extra.get("rollups_by_child")
    if index is None:
        index = {}
        for parent in snap.objects.values():
            for fdef in parent.odef.fields:
                if fdef.type == "roll_up_summary":
                    index.setdefault(fdef.get("summary")["object"], []).append((parent, fdef))
        snap.extra["rollups_by_child"] = index
    return index.get(child_name, ())


def _rollup_expr(service, parent, fdef, parent_table, actor):
    summary = fdef.get("summary")
    child = service.snapshot.get(summary["object"])
    link = summary.get("relationship_field") or next(
        f.api_name for f in child.odef.fields if f.type == "master_detail" and f.target == parent.name)
    ct = child.table.alias()
    conds = [ct.c[child.odef.field(link).column] == parent_table.c.id, ct.c.deleted_at.is_(None)]
    if summary.get("filter"):
        of = child.extra["formulas"]
        compiled = compile_formula(summary["filter"], of.fields_map, return_type="boolean")
        dialect = service.engine.dialect.name
        conds.append(compiled.to_sql(_AliasResolver(service, child, ct, dialect, _context(actor)), dialect,
                                     context=_context(actor)))
    fn = summary["function"]
    if fn == "count":
        agg = func.count()
    else:
        col = ct.c[child.odef.field(summary["field"]).column]
        agg = {"sum": func.coalesce(func.sum(col), 0), "min": func.min(col), "max": func.max(col)}[fn]
    return select(agg).where(and_(*conds)).scalar_subquery()


class _AliasResolver(SqlResolver):
    def __init__(self, service, rt, table, dialect, ctx):
        super().__init__(service, rt, dialect, ctx)
        self.table = table

    def __call__(self, path):
        return self._resolve(self.rt, self.table, tuple(path), set())


def update_rollups(service, conn, rt, event, records, priors, actor):
    """Recompute the roll-ups that summarise ``rt`` for every parent these writes touch."""
    for parent, fdef in _rollups_on(service.snapshot, rt.name):
        summary = fdef.get("summary")
        link = summary.get("relationship_field") or next(
            f.api_name for f in rt.odef.fields if f.type == "master_detail" and f.target == parent.name)
        col = rt.odef.field(link).column
        ids = {r.get(col) for r in records if r} | {p.get(col) for p in priors if p}
        ids.discard(None)
        if not ids:
            continue
        pt = parent.table
        expr = _rollup_expr(service, parent, fdef, pt, actor)
        conn.execute(update(pt).where(pt.c.id.in_(list(ids))).values({fdef.column: expr}))


service_mod.after_write.append(update_rollups)


def backfill_rollups(conn, old_odef, new_odef, docs_after, author=None):
    """Compute a new roll-up field for every existing parent, in the metadata change's transaction."""
    if new_odef is None:
        return
    old_names = {f.api_name for f in old_odef.fields} if old_odef else set()
    new_rollups = [f for f in new_odef.fields if f.type == "roll_up_summary"
                   and (f.api_name not in old_names or (old_odef and old_odef.field(f.api_name).doc != f.doc))]
    if not new_rollups:
        return
    from engine.records.service import RecordService
    from engine.records.snapshot import Snapshot, build_snapshot

    snap = build_snapshot(conn)  # the version before this change ...
    objects = dict(snap.objects)
    # ... with this object's new definition compiled in
    tmp = Snapshot(version=-1, objects=objects, metadata=snap.metadata)
    from sqlalchemy import MetaData

    from engine.metadata.ddl import build_table
    from engine.records.snapshot import ObjectRuntime
    odef = build_object_def(dict(new_odef.doc), new_odef.version)
    rtmp = ObjectRuntime(odef=odef, table=build_table(odef, MetaData(), {}), schema=None,
                         writable={}, stored={}, ftypes={f.api_name: field_types.get(f.type) for f in odef.fields},
                         unique_indexes={}, json_out=[])
    objects[odef.api_name] = rtmp
    svc = RecordService(conn.engine, tmp)
    for fdef in new_rollups:
        pt = rtmp.table
        conn.execute(update(pt).values({fdef.column: _rollup_expr(svc, rtmp, fdef, pt, None)}))


store.after_change_hooks.append(backfill_rollups)
