"""Roll-up summary fields: COUNT/SUM/MIN/MAX over master-detail children (with an optional
filter formula), stored on the parent and recomputed in the child write's transaction for every
parent it touches; back-filled when the field is created."""
from __future__ import annotations

from sqlalchemy import and_, func, select, update

from engine.formula import compile_formula
from engine.metadata import store
from engine.metadata.field_types import field_types
from engine.metadata.model import build_object_def
from engine.records import service as service_mod

from .formulas import SqlResolver, _context


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

