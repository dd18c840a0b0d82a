"""Roll-up summary fields: COUNT/SUM/MIN/MAX over master-detail children (with an optional
filter formula), stored on the parent and recomputed in the child write's transaction for every
parent it touches; back-filled when the field is created."""
from __future__ import annotations

from sqlalchemy import and_, func, select, update

from engine.formula import compile_formula
from engine.metadata.field_types import field_types
from engine.metadata.model import build_object_def
from engine.security import SYSTEM_ACTOR

from .resolver import SqlResolver


def index_rollups(snap):
    """Roll-up fields of every object, by the child object they summarise (once per version)."""
    index = {}
    for parent in snap.objects.values():
        for fdef in parent.odef.fields:
            if parent.ftypes[fdef.api_name].summarises:
                index.setdefault(fdef.get("summary")["object"], []).append((parent, fdef))
    return index


def _link(child, parent_name, summary):
    return summary.get("relationship_field") or next(
        f.api_name for f in child.odef.fields if child.ftypes[f.api_name].cascade and f.target == parent_name)


def _rollup_expr(service, parent, fdef, parent_table):
    """The roll-up's value for each parent row, as a correlated sub-query (all children count:
    a stored roll-up is the same for every reader; who may see it is field security's call)."""
    summary = fdef.get("summary")
    child = service.snapshot.get(summary["object"])
    link = _link(child, parent.name, summary)
    ct = child.table.alias()
    conds = [ct.c[child.odef.field(link).column] == parent_table.c.id, ct.c.deleted_at.is_(None)]
    if summary.get("filter"):
        compiled = compile_formula(summary["filter"], child.formulas.fields_map, return_type="boolean")
        conds.append(SqlResolver(service, child, SYSTEM_ACTOR, table=ct).compile(compiled))
    fn = summary["function"]
    if fn == "count":
        agg = func.count()
    else:
        col = ct.c[child.odef.field(summary["field"]).column]
        agg = {"sum": func.coalesce(func.sum(col), 0), "min": func.min(col), "max": func.max(col)}[fn]
    return select(agg).where(and_(*conds)).scalar_subquery()


def update_rollups(ctx):
    """Pipeline hook (``after_write``): recompute the roll-ups that summarise ``ctx.rt`` for every
    parent these writes touch."""
    rt = ctx.rt
    for parent, fdef in ctx.service.snapshot.rollups_by_child.get(rt.name, ()):
        col = rt.odef.field(_link(rt, parent.name, fdef.get("summary"))).column
        ids = {c.values.get(col) for c in ctx.changes} | {c.prior.get(col) for c in ctx.changes if c.prior}
        ids.discard(None)
        if not ids:
            continue
        pt = parent.table
        expr = _rollup_expr(ctx.service, parent, fdef, pt)
        ctx.conn.execute(update(pt).where(pt.c.id.in_(list(ids))).values({fdef.column: expr}))


def backfill_rollups(conn, old_odef, new_odef, docs_after, actor=None):
    """Compute a new roll-up field for every existing parent, in the metadata change's transaction."""
    if new_odef is None:
        return
    old_names = {f.api_name for f in old_odef.fields} if old_odef else set()
    new_rollups = [f for f in new_odef.fields if field_types.get(f.type).summarises
                   and (f.api_name not in old_names or (old_odef and old_odef.field(f.api_name).doc != f.doc))]
    if not new_rollups:
        return
    from engine.records.reader import RecordReader
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
    svc = RecordReader(conn.engine, tmp)
    for fdef in new_rollups:
        pt = rtmp.table
        conn.execute(update(pt).values({fdef.column: _rollup_expr(svc, rtmp, fdef, pt)}))

