"""Reading records: the one query seam, single reads, list pages and serialisation.

:meth:`RecordReader.select` is the seam every read builds on — lists, counts, cursor pages,
CSV export and, next, reports, dashboards, segments and the pages. It returns the SQL for what
an actor may see: visibility (:func:`~engine.records.visibility.visible`) and field security
(:mod:`~engine.records.field_security`: a hidden field is unknown to the reader's filters,
``where=``, sorting and field lists) are applied inside, never by a caller.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Column, bindparam, func, select
from sqlalchemy.exc import DBAPIError

from engine.db import read_connection
from engine.errors import BadRequest, Forbidden, NotFound, RecordValidationError
from engine.metadata.checks import suggest
from engine.metadata.field_types.scalar import iso_utc
from engine.metadata.model import SYSTEM_FIELDS
from engine.security import access as acl

from . import query as q
from .field_security import reader_view
from .formulas import BrokenFormulas, compute_fields
from .resolver import SqlResolver
from .visibility import visible

log = logging.getLogger("tessera.records")


@dataclass
class RecordQuery:
    """A planned read: the statement (visibility, filters, ``where=`` applied; not yet ordered)
    and the sort keys ``[(name, column, descending)]`` ending with ``id``."""

    rt: object
    stmt: object
    keys: list
    conditions: list
    visibility: object = None   # the reader's visibility condition (the last of ``conditions``), or None
    reusable: bool = False      # the other conditions and the keys hold for any request with the same
    #                             inputs and reader view (no $user, NOW()/TODAY(), related hop, formula field)

    def ordered(self):
        return self.stmt.order_by(*q.order_clauses(self.keys))


class RecordReader:
    """Reads over the records of one snapshot, as one actor sees them. One per request."""

    def __init__(self, engine, snapshot):
        self.engine = engine
        self.snapshot = snapshot
        self._shares = {}
        self._conn = None      # the connection of a ``reading()`` block, for its probes
        self._memo = None      # remember_reads(): (actor, object, id, deleted, fields) -> record

    def remember_reads(self):
        """Keep the records :meth:`get` reads for the life of this reader (one request of a page
        that asks for the same record several times: the page, its approval panel, its run log).
        Every check still runs on each ``get`` — the object right, the field list — and only the
        SQL of a repeated read by the same actor is saved; any write through this service forgets
        them all. Returns self."""
        if self._memo is None:
            self._memo = {}
        return self

    # -- helpers -----------------------------------------------------------------
    def runtime(self, object_name, actor=None):
        """The runtime of ``object_name``. Given ``actor``, an object they may not read answers
        exactly as one that does not exist (metadata.E041, did-you-mean over the objects they may
        read); without an actor the error suggests nothing (it may reach someone who may not read them)."""
        rt = self.snapshot.get(object_name)
        names = ()
        if actor is not None:
            self._check_actor(actor)
            if rt is not None and actor.plan.can(rt.name, "read"):
                return rt
            names = [n for n in self.snapshot.objects if actor.plan.can(n, "read")]
        elif rt is not None:
            return rt
        raise NotFound("metadata.E041", f"Unknown object '{object_name}'{suggest(str(object_name), names)}.")

    @staticmethod
    def _check_actor(actor):
        if actor is None or getattr(actor, "plan", None) is None:
            raise TypeError("the record service needs an actor with a plan "
                            "(engine.security.SYSTEM_ACTOR for internal work)")

    def _require(self, rt, actor, right):
        self._check_actor(actor)
        acl.require(actor.plan, rt, right)

    def shares_exist(self, plan, obj):
        """Whether any record of ``obj`` is shared with the user by hand (probed once per call)."""
        key = (plan.user_id, obj)
        if key not in self._shares:
            if self._conn is not None:
                self._shares[key] = acl.has_shares(self._conn, plan, obj)
            else:
                with self.engine.connect().execution_options(tessera_readonly=True) as conn:
                    self._shares[key] = acl.has_shares(conn, plan, obj)
        return self._shares[key]

    @contextmanager
    def reading(self, *, shared=False, snapshot=True):
        """One read-only connection for the block: the probes of the plans made inside it run on
        it, and the caller runs its statement on it too (one pool checkout per read, not two).
        ``shared``: the page's connection inside a page request (:func:`engine.db.read_connection`;
        ``snapshot=False``: its statements need no common snapshot), else one of its own."""
        opened = read_connection(self.engine, snapshot=snapshot, one_read=not snapshot) if shared else \
            self.engine.connect().execution_options(tessera_readonly=True)
        with opened as conn:
            outer, self._conn = self._conn, conn
            try:
                yield conn
            finally:
                self._conn = outer

    def hidden_fields(self, rt, actor):
        """Fields of ``rt`` hidden from ``actor`` (also formula fields and roll-ups built on them)."""
        return reader_view(self.snapshot, actor).hidden_fields(rt.name)

    @contextmanager
    def _database_errors(self, what="query"):
        """A database error is logged, never shown: one generic message (a stale snapshot is
        re-raised so the door can retry on the new metadata)."""
        try:
            yield
        except DBAPIError as exc:
            from engine.metadata.store import current_version
            with self.engine.connect() as conn:
                if current_version(conn) != self.snapshot.version:
                    raise
            log.warning("database error in a record %s: %s", what, str(exc.orig).splitlines()[0][:300])
            raise RecordValidationError({"_query": ["The database could not run this query."]},
                                        message="The database could not run this query; check the filter's "
                                                "values and try again.", code="records.E030") from None

    # -- the query seam ------------------------------------------------------------
    def plan_query(self, object_name, actor, *, filters=None, where=None, order_by=None, deleted=False,
                   access="read"):
        """Plan a read of ``object_name`` as ``actor`` (see :meth:`select`)."""
        rt = self.runtime(object_name, actor)
        self._require(rt, actor, access)
        hidden = self.hidden_fields(rt, actor)
        # A hidden field answers exactly as a field that does not exist, and no did-you-mean names
        # one. The names of filters and sort keys are checked first, for every reader: were this
        # check made only for readers with hidden fields, which error comes first (a filter's
        # operator, the where= formula, a sort key after 'id') would tell whether they have any.
        names = list(filters or {}) + [k.strip().lstrip("+-") for k in (order_by or "").split(",")]
        known = list(SYSTEM_FIELDS) + [f.api_name for f in rt.odef.fields if f.api_name not in hidden]
        for key in names:
            name = key.partition("__")[0]
            if name and (name in hidden or (name not in SYSTEM_FIELDS and name not in rt.ftypes)):
                raise BadRequest("records.E010", f"Unknown field '{name}' on '{rt.name}'"
                                 f"{suggest(name, known)}.", fields={name: ["unknown field"]})
        t = rt.table
        conds = [t.c.deleted_at.is_not(None) if deleted else t.c.deleted_at.is_(None)]
        conds += q.build_filters(rt, filters or {})
        reusable = True
        if where:
            conds.append(self.where_sql(rt, where, actor))
            reusable = reader_independent(reader_view(self.snapshot, actor).compile_where(rt, where).tree, rt)
        vis = visible(self, rt, actor, access)
        if vis is not None:
            conds.append(vis)
        keys = q.parse_order(rt, order_by, computed=lambda n: self._formula_sql(rt, n, actor))
        reusable = reusable and all(isinstance(col, Column) and col.table is t for _n, col, _d in keys)
        return RecordQuery(rt=rt, stmt=select(t).where(*conds), keys=keys, conditions=conds, visibility=vis,
                           reusable=reusable)

    def select(self, object_name, actor, *, filters=None, where=None, order_by=None, deleted=False):
        """The ``Select`` of the rows of ``object_name`` that ``actor`` may see, filtered and ordered."""
        return self.plan_query(object_name, actor, filters=filters, where=where, order_by=order_by,
                               deleted=deleted).ordered()

    def where_sql(self, rt, source, actor):
        """A ``where=`` formula as SQL, compiled against the fields ``actor`` may see."""
        if isinstance(rt.formulas, BrokenFormulas):
            raise rt.formulas.refusal()
        compiled = reader_view(self.snapshot, actor).compile_where(rt, source)
        return SqlResolver(self, rt, actor).compile(compiled)

    def check_list_view(self, object_name, view, actor):
        """Refuse a list view ``actor`` saves for themselves that names a field they may not see:
        columns, sort keys and the filter formula are checked against their fields, and a hidden
        field answers exactly as an unknown one (no way to learn that it exists)."""
        rt = self.runtime(object_name, actor)
        if not isinstance(view, dict):
            return
        hidden = self.hidden_fields(rt, actor)
        known = (set(rt.ftypes) | set(SYSTEM_FIELDS)) - set(hidden)
        names = [c for c in view.get("columns") or [] if isinstance(c, str)]
        names += [k.strip().lstrip("+-") for k in str(view.get("order_by") or "").split(",") if k.strip()]
        for name in names:
            if name not in known:
                raise BadRequest("records.E010", f"Unknown field '{name[:40]}' on '{rt.name}'.",
                                 fields={"columns": [f"Unknown field '{name[:40]}'."]})
        if isinstance(view.get("where"), str) and view["where"].strip():
            self.where_sql(rt, view["where"], actor)

    def _formula_sql(self, rt, name, actor):
        if not rt.ftypes[name].computed:
            return None
        if isinstance(rt.formulas, BrokenFormulas):
            raise rt.formulas.refusal()
        return SqlResolver(self, rt, actor).compile(rt.formulas.field(name))

    # -- reads -----------------------------------------------------------------------
    def get(self, object_name, record_id, actor, *, include_deleted=False, fields=None):
        rt = self.runtime(object_name, actor)
        self._require(rt, actor, "read")
        self._check_fields(rt, actor, fields)
        memo_key = None
        if self._memo is not None:
            # the actor object itself is in the key (kept alive by the entry): another actor of
            # the same request, even with the same user id, never shares an entry
            memo_key = (id(actor), rt.name, str(record_id), include_deleted, tuple(fields) if fields else None)
            found = self._memo.get(memo_key)
            if found is not None and found[0] is actor:
                return _copy_record(found[1])
        t = rt.table
        vis = visible(self, rt, actor, "read")
        key = ("get", include_deleted)
        stmt = rt.statements.get(key) if vis is None else None
        if stmt is None:   # built per request only when visibility adds the reader's condition
            stmt = select(t).where(t.c.id == bindparam("record_id"))
            if not include_deleted:
                stmt = stmt.where(t.c.deleted_at.is_(None))
            if vis is not None:
                stmt = stmt.where(vis)
            else:
                rt.statements[key] = stmt
        # one statement: a page's shared read connection (engine.db.shared_reads), else one of its own
        with self._database_errors("read"), read_connection(self.engine, one_read=True) as conn:
            row = conn.execute(stmt, {"record_id": str(record_id)}).mappings().first()
        if row is None:
            raise NotFound("records.E070", f"No {rt.odef.label} with id '{str(record_id)[:40]}'.")
        rec = self.to_json(rt, row, actor, fields=fields)
        if memo_key is not None:
            self._memo[memo_key] = (actor, _copy_record(rec))
        return rec

    def names_of(self, object_name, ids, actor):
        """``{id: name}`` of the records ``ids`` (at most 1,000) of ``object_name`` that ``actor`` may
        read — the object right, the name's field security and visibility checked as :meth:`list`
        checks them; deleted and invisible records left out. One statement, no JSON: a list page
        names its lookups with it. Raises what :meth:`list` raises (NotFound, Forbidden, BadRequest)."""
        rt = self.runtime(object_name, actor)
        self._require(rt, actor, "read")
        self._check_fields(rt, actor, ["name"])
        ids = [str(i) for i in ids][:q.MAX_IN_VALUES]
        if not ids:
            return {}
        t = rt.table
        with self._database_errors("list"), self.reading(shared=True, snapshot=False) as conn:
            vis = visible(self, rt, actor, "read")     # probes (shares) run on this connection
            stmt = rt.statements.get("names_of") if vis is None else None
            if stmt is None:   # built per request only when visibility adds the reader's condition
                stmt = select(t.c.id, t.c.name).where(t.c.id.in_(bindparam("ids", expanding=True)),
                                                      t.c.deleted_at.is_(None))
                if vis is not None:
                    stmt = stmt.where(vis)
                else:
                    rt.statements["names_of"] = stmt
            return {rid: name or "" for rid, name in conn.execute(stmt, {"ids": ids})}

    def forget_reads(self):
        """Drop the records :meth:`remember_reads` kept (every write through the service does)."""
        if self._memo:
            self._memo.clear()

    def _check_fields(self, rt, actor, fields):
        if fields is None:
            return
        hidden = self.hidden_fields(rt, actor)
        unknown = [f for f in fields if (f not in SYSTEM_FIELDS and f not in rt.ftypes) or f in hidden]
        if unknown:
            visible_names = [n for n in rt.ftypes if n not in hidden]
            raise BadRequest("records.E019", f"Unknown field '{unknown[0]}' in fields="
                             f"{suggest(unknown[0], visible_names)}.", fields={"fields": ["unknown field"]})

    def list(self, object_name, actor, *, filters=None, where=None, order_by=None, limit=50, cursor=None,
             fields=None, with_total=False, deleted=False, max_limit=200):
        """List records: ``{"records": [...], "next_cursor": str|None[, "total": n]}``."""
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise BadRequest("records.E017", f"limit must be a whole number between 1 and {max_limit}.",
                             fields={"limit": ["invalid"]}) from None
        if not 1 <= limit <= max_limit:
            raise BadRequest("records.E017", f"limit must be between 1 and {max_limit} (got {limit}).",
                             fields={"limit": ["out of range"]})
        page = self._list_plan(object_name, actor, filters, where, order_by, deleted)
        rt, keys, conditions, fp = page.rt, page.keys, page.conditions, page.fingerprint
        self._check_fields(rt, actor, fields)
        t = rt.table
        stmt = page.statements.get(limit) if cursor is None and page.visibility is None else None
        if stmt is None:
            stmt = select(t, *[col.label(f"_k{i}") for i, (_n, col, _d) in enumerate(keys)]).where(*conditions)
            if cursor:
                values = q.decode_cursor(cursor, fp, len(keys))
                stmt = stmt.where(q.keyset_condition(keys, values))
            stmt = stmt.order_by(*q.order_clauses(keys)).limit(limit + 1)
            if cursor is None and page.visibility is None and page.reusable:
                page.statements[limit] = stmt
        # a page's shared connection inside a page request, else one of its own; the count: one snapshot
        with self._database_errors("list"), self.reading(shared=True, snapshot=with_total) as conn:
            rows = conn.execute(stmt).mappings().all()
            total = None
            if with_total:
                count = page.statements.get("count") if page.visibility is None else None
                if count is None:
                    count = select(func.count()).select_from(t).where(*conditions)
                    if page.visibility is None and page.reusable:
                        page.statements["count"] = count
                total = conn.execute(count).scalar()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = q.encode_cursor([last[f"_k{i}"] for i in range(len(keys))], fp)
        out = {"records": self.page_json(rt, rows, actor, fields=fields), "next_cursor": next_cursor}
        if with_total:
            out["total"] = total
        return out

    def _list_plan(self, object_name, actor, filters, where, order_by, deleted):
        """The planned read of a list page. What does not depend on the request's reader beyond their
        view of the metadata (filters, a ``where=`` without ``$user``/``NOW()``/related fields, the
        sort keys, the cursor fingerprint, the statement itself when no visibility condition
        applies) is kept per object version, per reader view and per input: a client repeats its
        lists. Rights and visibility are checked for every request; a request that fails is never
        kept, so it fails again the same way."""
        rt = self.runtime(object_name, actor)
        self._require(rt, actor, "read")
        view = reader_view(self.snapshot, actor)
        key = (object_name, view, tuple((filters or {}).items()), where, order_by, bool(deleted))
        kept = rt.list_plans.get(key)
        if kept is not None:
            vis = visible(self, rt, actor, "read")
            conds = kept.conditions if vis is None else kept.conditions + [vis]
            return ListPlan(rt, kept.keys, conds, kept.fingerprint, vis, True, kept.statements)
        plan = self.plan_query(object_name, actor, filters=filters, where=where, order_by=order_by,
                               deleted=deleted)
        fp = q.fingerprint(object_name, sorted((filters or {}).items()), where, order_by, deleted)
        page = ListPlan(rt, plan.keys, plan.conditions, fp, plan.visibility, plan.reusable, {})
        if plan.reusable:
            base = plan.conditions[:-1] if plan.visibility is not None else plan.conditions
            if len(rt.list_plans) >= LIST_PLAN_CACHE_SIZE:
                try:   # the oldest goes (another thread may be changing the dict: then none does)
                    rt.list_plans.pop(next(iter(rt.list_plans)), None)
                except (RuntimeError, StopIteration):
                    pass
            rt.list_plans[key] = ListPlan(rt, plan.keys, list(base), fp, None, True, page.statements)
        return page

    def visible_columns(self, object_name, actor, fields=None):
        """The JSON keys a record of ``object_name`` has for ``actor`` (export headers)."""
        rt = self.runtime(object_name, actor)
        self._check_fields(rt, actor, fields)
        hidden = self.hidden_fields(rt, actor)
        names = list(SYSTEM_FIELDS) + [f.api_name for f in rt.odef.fields]
        if fields:
            keep = set(fields) | {"id"}
            names = [n for n in names if n in keep]
        return [n for n in names if n not in hidden]

    # -- serialisation ------------------------------------------------------------------
    def to_json(self, rt, row, actor, fields=None, conn=None):
        """Serialise a row (mapping) into the API's JSON record, formula fields computed."""
        return self.page_json(rt, [row], actor, fields=fields, conn=conn)[0]

    def page_json(self, rt, rows, actor, fields=None, conn=None):
        """Serialise rows for ``actor``: hidden fields left out, formula fields evaluated once for
        the page (inside the caller's transaction when ``conn`` is given)."""
        hidden = self.hidden_fields(rt, actor)
        if fields:     # only the asked fields' JSON is built (a list page asks for its columns)
            plain = _plain_json_of(rt, set(fields) | {"id"})
            outs = [plain(row) for row in rows]
        else:
            outs = [_plain_json(rt, row) for row in rows]
        if isinstance(rt.formulas, BrokenFormulas):   # formula fields read blank until an admin fixes them
            blank = {n: None for n, ft in rt.ftypes.items() if ft.computed}
            outs = [dict(out, **blank) for out in outs]
        if rows and rt.formulas.formula_fields and (fields is None or any(
                f in rt.ftypes and rt.ftypes[f].computed for f in fields)):
            skip = set(hidden)
            if fields is not None:
                skip |= {n for n in rt.ftypes if n not in fields}
            compute_fields(self, rt, rows, outs, actor, conn=conn, skip=skip)
        if fields or hidden:
            keep = (set(fields) | {"id"}) if fields else None
            outs = [{k: v for k, v in out.items() if (keep is None or k in keep) and k not in hidden}
                    for out in outs]
        return outs


@dataclass
class ListPlan:
    """A list read as planned: sort keys, conditions (visibility last when it applies), the cursor
    fingerprint; ``statements`` holds the statement by page size, and the count's ("count"), once
    built (kept only when the plan is ``reusable`` and no visibility condition applies)."""

    rt: object
    keys: list
    conditions: list
    fingerprint: str
    visibility: object
    reusable: bool
    statements: dict


LIST_PLAN_CACHE_SIZE = 256   # per object and metadata version
_CONTEXT_FORMS = frozenset({"NOW", "TODAY", "ISNEW", "ISCHANGED", "PRIORVALUE"})


def reader_independent(node, rt):
    """Whether a compiled formula's SQL is the same for every reader with the same view of the
    metadata: only stored fields of ``rt`` and system fields, literals, operators and the engine's
    own functions — no ``$user``/``$prior``, no ``NOW()``/``TODAY()``, no related field (whose
    sub-query carries the reader's visibility), no formula field, no plugin function."""
    kind = node.kind
    if kind == "path":
        path = node.extra.get("keys") or node.value   # the field names as checked
        if len(path) != 1 or str(path[0]).startswith("$"):
            return False
        if path[0] not in SYSTEM_FIELDS:
            fdef = rt.odef.field(path[0])
            if fdef is None or not fdef.column or rt.ftypes[path[0]].computed:
                return False
    elif kind == "call":
        fdef = node.extra.get("fdef")
        if str(node.value).upper() in _CONTEXT_FORMS or (fdef is not None and (
                fdef.reads_record or not (fdef.builtin or fdef.special))):   # special: the compiler's own
            return False
    return all(reader_independent(arg, rt) for arg in node.args)


_SYSTEM_JSON = (("id", False), ("name", False), ("owner_id", False), ("created_at", True), ("created_by", False),
                ("updated_at", True), ("updated_by", False), ("row_version", False), ("deleted_at", True))


def _plain_json_of(rt, keep):
    """``row -> ``:func:`_plain_json` ``(rt, row)`` with only the keys in ``keep``, in the same order."""
    system = [(name, moment) for name, moment in _SYSTEM_JSON if name in keep]
    out = [item for item in rt.json_out if item[0] in keep]
    blanks = [item for item in rt.json_blanks if item[0] in keep]

    def plain(row):
        rec = {name: iso_utc(row[name]) if moment else row[name] for name, moment in system}
        for name, col, conv, _fdef in out:
            value = row[col]
            rec[name] = conv(value) if conv is not None and value is not None else value
        for name, make in blanks:
            if rec[name] is None:
                rec[name] = make()
        return rec
    return plain


def _plain_json(rt, row):
    out = {"id": row["id"], "name": row["name"], "owner_id": row["owner_id"],
           "created_at": iso_utc(row["created_at"]), "created_by": row["created_by"],
           "updated_at": iso_utc(row["updated_at"]), "updated_by": row["updated_by"],
           "row_version": row["row_version"], "deleted_at": iso_utc(row["deleted_at"])}
    for name, col, conv, fdef in rt.json_out:
        value = row[col]
        out[name] = conv(value) if conv is not None and value is not None else value
    for name, make in rt.json_blanks:     # the same JSON whether the row was read back or just written
        if out[name] is None:
            out[name] = make()
    return out


def system_json(rt, row):
    """``page_json(rt, [row], SYSTEM_ACTOR)[0]`` for an object without formula fields (the system
    sees every field, and no value is computed): the row's JSON without the page machinery."""
    if rt.formulas.formula_fields or isinstance(rt.formulas, BrokenFormulas):
        raise ValueError(f"{rt.name} has formula fields: use page_json")
    return _plain_json(rt, row)


__all__ = ["RecordReader", "RecordQuery", "Forbidden", "system_json"]


def _copy_record(rec):
    """A record dict the caller may change without changing the remembered one (lists: multi-picklists)."""
    return {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v) for k, v in rec.items()}
