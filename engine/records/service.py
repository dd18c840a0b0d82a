"""The record service: the only code that writes records.

A façade over the write pipeline (:mod:`engine.records.pipeline`): every create, update,
delete, restore and purge runs the named phases in one transaction, then ``after_commit``.
What formulas, roll-ups, history — and next, approvals and automations — do on a write are
hooks the composition root put on those phases; this module knows none of them. Reads and
the query seam are in :mod:`engine.records.reader`. The acting user is always explicit
(``engine.security.SYSTEM_ACTOR`` for internal work); this module imports no Flask.
"""
from __future__ import annotations

import re

from marshmallow import ValidationError
from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from uuid6 import uuid7

from engine.db import users, utcnow
from engine.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed
from engine.metadata.checks import suggest
from engine.metadata.counters import next_numbers
from engine.metadata.field_types.computed import format_auto_number
from engine.metadata.model import SYSTEM_FIELDS
from engine.metadata.store import lock_state, missing_flags, note_rows

from engine.security.admin import AccessAdmin

from .errors import record_errors, row_errors
from .history import field_history_of
from .pipeline import Change, Event, RecordContext, WriteContext
from .recent import note_viewed, recent_records
from .reader import RecordReader
from .visibility import visible

from engine.metadata.system_fields import WRITABLE_SYSTEM_FIELDS as WRITABLE_SYSTEM
EMPTY = (None, "", [])
HIDDEN_REQUIRED = "A required field that you may not see has no value; ask an administrator."


class AfterCommit:
    """A write's answer to build once its transaction has committed (``_transaction``)."""

    __slots__ = ("build",)

    def __init__(self, build):
        self.build = build


class RecordService(RecordReader):
    """CRUD and the recycle bin over the records of one snapshot, through the write pipeline."""

    def __init__(self, engine, snapshot, hooks):
        super().__init__(engine, snapshot)
        self.hooks = hooks
        self._written = []    # WriteContexts of the current transaction (after_write ran on each)

    # -- phases shared by every write ----------------------------------------------
    def _authorise(self, rt, actor, right):
        self._require(rt, actor, right)
        if actor.read_only:
            raise Forbidden("security.E030", "This token is read-only.")

    def _run(self, point, ctx):
        for hook in getattr(self.hooks, point):
            hook(ctx)

    def _check_writable(self, rt, data, row_no=None):
        if not isinstance(data, dict):
            where = f"records[{row_no}]" if row_no is not None else "body"
            raise BadRequest("records.E002", f"The {where} must be a JSON object with field values.")
        errors = {}
        for key in data:
            if key in rt.writable or key in WRITABLE_SYSTEM:
                continue
            if key in SYSTEM_FIELDS or key in rt.ftypes:
                errors[key] = ["Read-only field."]
            else:
                names = list(rt.writable) + list(WRITABLE_SYSTEM)
                errors[key] = [f"Unknown field{suggest(key, names)}."]
        return errors

    def _deserialise(self, rt, data, actor, *, partial, row_no=None):
        """Phase ``deserialise``: the caller's JSON through the object's marshmallow schema."""
        from engine.security import access as acl

        errors = self._check_writable(rt, data, row_no)
        hidden = self.hidden_fields(rt, actor)
        if hidden:   # a hidden field answers as one that does not exist; no did-you-mean names one
            known = [n for n in rt.writable if n not in hidden] + list(WRITABLE_SYSTEM)
            for k in data:
                if k in hidden or (k in errors and k not in rt.ftypes and k not in SYSTEM_FIELDS):
                    errors[k] = [f"Unknown field{suggest(k, known)}."]
        for k, v in acl.writable_check(actor.plan, rt, data).items():
            errors.setdefault(k, v)
        values = {}
        if hidden and isinstance(data, dict):   # nothing more is said about a hidden field's value
            data = {k: v for k, v in data.items() if k not in hidden}
        loaded = None
        if rt.loader is not None:
            try:   # valid input through the lean loader; anything else through marshmallow's own load
                loaded = rt.loader(data, partial)
            except Exception:   # noqa: BLE001 - schema.load below raises or reports it, exactly
                loaded = None
        try:
            if loaded is None:
                loaded = rt.schema.load(data, partial=partial)
        except ValidationError as exc:
            for k, v in exc.messages.items():
                errors.setdefault(k, []).extend(_flatten(v))
            loaded = exc.valid_data or {}
        for key, value in loaded.items():
            if key in WRITABLE_SYSTEM:
                values[key] = value or None if key == "name" else value
                continue
            fdef = rt.writable[key]
            values[fdef.column] = rt.ftypes[key].to_storage(fdef, value)
        return values, errors

    def _required(self, ctx, creating):
        """Phase ``required``. A required field hidden from the writer is not named (an admin
        should not hide a required field that has no default)."""
        rt, values = ctx.rt, ctx.values
        changed = ctx.sent if not creating else None
        hidden = self.hidden_fields(rt, ctx.actor)
        for name, fdef in rt.writable.items():
            if not fdef.required or not fdef.column or name in ctx.errors:
                continue
            if (creating or name in changed) and values.get(fdef.column) in EMPTY:
                if name not in hidden:
                    ctx.error(name, "Required.")
                elif HIDDEN_REQUIRED not in ctx.errors.get("_record", ()):
                    ctx.error("_record", HIDDEN_REQUIRED)
        if rt.odef.doc.get("name_required") and (creating or "name" in changed) and not values.get("name"):
            ctx.error("name", "Required.")

    def _validate(self, ctx):
        """Phase ``validate``; a rule's message on a field hidden from the writer is shown for the
        record instead (the rule's own text, written by an admin, without the field's name)."""
        self._run("validate", ctx)
        hidden = self.hidden_fields(ctx.rt, ctx.actor)
        for name in [k for k in ctx.errors if k in hidden]:
            for message in ctx.errors.pop(name):
                ctx.error("_record", message)

    def _check_lookups(self, conn, rt, contexts, actor, only_sent=False):
        """Phase ``lookups``: a lookup must point to a live record the writer can read (a
        master-detail child: one the writer can edit); otherwise the same message as for an id
        that does not exist, so a write never reveals a record the writer cannot see."""
        for name, fdef in rt.writable.items():
            if not fdef.target:
                continue
            todo = [c for c in contexts if c.values.get(fdef.column) and (not only_sent or name in c.sent)]
            ids = {c.values[fdef.column] for c in todo}
            target = self.snapshot.get(fdef.target)
            if not ids or target is None:
                continue
            t = target.table
            vis = visible(self, target, actor, "edit" if rt.ftypes[name].cascade else "read")
            found, id_list = set(), list(ids)
            for i in range(0, len(id_list), 5000):
                stmt = select(t.c.id).where(t.c.id.in_(id_list[i:i + 5000]), t.c.deleted_at.is_(None))
                found |= set(conn.execute(stmt.where(vis) if vis is not None else stmt).scalars())
            for c in todo:
                v = c.values[fdef.column]
                if v not in found:
                    c.error(name, f"No {target.odef.label} with id '{str(v)[:40]}'.")

    def _check_owner(self, conn, ctx):
        """Ownership transfer: admins, users with Modify All, and the current owner may give a
        record to another active user."""
        owner, prior, actor = ctx.values.get("owner_id"), ctx.prior, ctx.actor
        if "owner_id" not in ctx.sent or owner is None or (prior is None and owner == actor.user_id) or \
                (prior is not None and owner == prior["owner_id"]):
            return
        allowed = actor.is_admin or actor.plan.can(ctx.rt.name, "modify_all") \
            or (prior is not None and prior["owner_id"] == actor.user_id)
        if not allowed:
            ctx.error("owner_id", "Only the owner, an administrator or a user with Modify All can transfer "
                      "this record.")
        elif conn.execute(select(users.c.id).where(users.c.id == owner, users.c.active.is_(True))).first() is None:
            ctx.error("owner_id", f"No active user with id '{str(owner)[:40]}'.")

    def _unique_error(self, rt, exc):
        text = str(exc.orig)
        for ix, fname in rt.unique_indexes.items():
            col = rt.stored[fname].column
            if ix in text or re.search(rf"\b{re.escape(rt.table.name)}\.{re.escape(col)}\b", text):
                label = rt.odef.field(fname).label
                return Conflict("records.E071", f"Another {rt.odef.label} already has this {label}.",
                                fields={fname: ["Must be unique; this value is already used."]})
        return None

    def _transaction(self, rt, fn, event, flags=(), sent=None):
        """Run ``fn(conn) -> (result, WriteContext|None)`` in one transaction, then ``after_commit``
        for every batch ``after_write`` saw in it (master-detail children cascaded too, same order).
        ``flags``: ``(object, feature)`` the caller's own hooks may add beyond the ``flags`` hooks';
        ``sent``: an update's fields (a flag that only a change of some fields adds)."""
        written = self._written = []
        self.forget_reads()
        with self._database_errors("write"):
            try:
                with self.engine.begin() as conn:
                    # a flag this write may add and its snapshot lacks: the state row before the first
                    # statement on a table, a metadata change's order (no deadlock); else no statement
                    need = self._lock_first(rt, event)
                    noted = ()
                    if need or flags:
                        noted = self._flags_to_note(need, flags, sent)
                        if noted:
                            lock_state(conn)
                    result, _wctx = fn(conn)
                    # the lock was taken for these flags: noted now, written rows or not, so that the
                    # next write of the object takes it no more (one write per object and flag)
                    for obj, feature in noted:
                        note_rows(conn, self.snapshot.features, (obj,), feature)
            except IntegrityError as exc:
                err = self._unique_error(rt, exc)
                if err is not None:
                    raise err from None
                raise
        if isinstance(result, AfterCommit):   # built once committed, before any after_commit hook
            result = result.build()
        if len(self.hooks.after_commit):
            for wctx in written:
                wctx.conn = None
                self._run("after_commit", wctx)
        self.forget_reads()    # after_commit may change records through other services too
        return result

    def _lock_first(self, rt, event):
        """The flags a write of ``rt`` with ``event`` may add that the snapshot lacks (on
        PostgreSQL, as the ``flags`` hooks say): ``((object, feature, fields or None), ...)``, with
        ``fields`` the fields of which an update must send one; empty when none (and always on
        SQLite, whose writes are serial). Known once per snapshot, object, event and hooks (a flag
        set is a new version: a new snapshot)."""
        key = ("lock_first", event, self.hooks)
        need = rt.statements.get(key)
        if need is None:
            need = ()
            if self.engine.dialect.name == "postgresql":
                known = self.snapshot.features
                need = tuple((obj, feature, only[0] if only and event is Event.UPDATE else None)
                             for obj, feature, *only in self._flags_of(rt, event, {rt.name})
                             if missing_flags(known, ((obj, feature),)))
            rt.statements[key] = need
        return need

    def _flags_to_note(self, need, flags, sent):
        """The ``(object, feature)`` this write locks the state row for: those of ``need``
        (:meth:`_lock_first`) that apply to what it sends, and the caller's own ``flags`` its
        snapshot lacks (PostgreSQL)."""
        pairs = [(obj, feature) for obj, feature, fields in need
                 if fields is None or (sent is not None and not fields.isdisjoint(sent))]
        if flags and self.engine.dialect.name == "postgresql":
            pairs += [p for p in missing_flags(self.snapshot.features, flags) if p not in pairs]
        return pairs

    def _flags_of(self, rt, event, seen):
        flags = []
        for hook in self.hooks.flags:
            flags += hook(self, rt, event)
        if event in (Event.DELETE, Event.RESTORE, Event.PURGE):   # master-detail children follow
            for child_name, fdef in rt.children:
                child = self.snapshot.get(child_name)
                if child is not None and child_name not in seen and child.ftypes[fdef.api_name].cascade:
                    flags += self._flags_of(child, event, seen | {child_name})
        return flags

    def _after_write(self, conn, rt, actor, event, changes, now):
        wctx = WriteContext(self, conn, actor, rt, event, changes, now)
        self._run("after_write", wctx)
        self._written.append(wctx)
        return wctx

    def _lock_row(self, conn, rt, record_id, actor, *, deleted=False):
        """Lock a record the actor can see; ``NotFound`` (records.E070) when invisible, ``Forbidden``
        (security.E035) when visible but not editable."""
        t = rt.table
        vis = visible(self, rt, actor, "read")
        key = ("lock_row", deleted, conn.dialect.name)
        stmt = rt.statements.get(key) if vis is None else None
        if stmt is None:   # built per request only when visibility adds the reader's condition
            stmt = select(t).where(t.c.id == bindparam("record_id"))
            if vis is not None:
                stmt = stmt.where(vis)
            stmt = stmt.where(t.c.deleted_at.is_not(None) if deleted else t.c.deleted_at.is_(None))
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            if vis is None:
                rt.statements[key] = stmt
        row = conn.execute(stmt, {"record_id": str(record_id)}).mappings().first()
        if row is None:
            where = " in the recycle bin" if deleted else ""
            raise NotFound("records.E070", f"No {rt.odef.label} with id '{str(record_id)[:40]}'{where}.")
        edit = visible(self, rt, actor, "edit")
        if edit is not None and conn.execute(select(t.c.id).where(t.c.id == row["id"], edit)).first() is None:
            raise Forbidden("security.E035", f"You may see this {rt.odef.label} but not change it.")
        return row

    def lock_for_edit(self, object_name, record_id, actor):
        """Check (in its own transaction) that ``actor`` may edit the record: ``NotFound`` /
        ``Forbidden`` otherwise."""
        rt = self.runtime(object_name, actor)
        self._require(rt, actor, "read")
        with self.engine.begin() as conn:
            self._lock_row(conn, rt, record_id, actor)
        return rt

    # -- around a record: shares and history ------------------------------------------------
    def shares(self, object_name, record_id, actor):
        """Who the record is shared with by hand (for whoever may see the record)."""
        self.get(object_name, record_id, actor)
        return AccessAdmin(self.engine).list_shares(object_name, str(record_id))

    def share(self, object_name, record_id, username, access, actor, *, remove=False):
        """Share a record with a user (or stop): for whoever may edit the record."""
        self.lock_for_edit(object_name, record_id, actor)
        AccessAdmin(self.engine).share(object_name, str(record_id), username, access, actor, remove=remove)
        return self.shares(object_name, record_id, actor)

    def history(self, object_name, record_id, actor, *, field=None):
        """The field history of a record the actor may see, without the fields hidden from them."""
        self.get(object_name, record_id, actor, include_deleted=True)
        hidden = self.hidden_fields(self.runtime(object_name, actor), actor)
        return field_history_of(self.engine, object_name, str(record_id), field, hidden, self.snapshot)

    # -- recently viewed (the home page) ---------------------------------------------------
    def note_viewed(self, object_name, record_id, actor):
        """Note that ``actor`` opened a record they may read (the caller has read it as them)."""
        note_viewed(self.engine, actor, object_name, str(record_id))

    def recent(self, actor, limit=10):
        """``[(object, {"id", "name"})]``: the records ``actor`` opened last and may still read."""
        return recent_records(self, actor, limit)

    # -- create ---------------------------------------------------------------------------
    def create(self, object_name, data, actor):
        rt = self.runtime(object_name, actor)
        self._authorise(rt, actor, "create")
        loaded = self._deserialise_all(rt, [data], actor, single=True)
        return self._transaction(rt, lambda conn: self._create_many(conn, rt, [data], actor, loaded, True),
                                 Event.CREATE)[0]

    def bulk_create(self, object_name, items, actor, max_records=10000):
        """Create many records, all or nothing; errors are keyed ``records[i].field``."""
        rt = self.runtime(object_name, actor)
        self._authorise(rt, actor, "create")
        if not isinstance(items, list) or not items:
            raise BadRequest("records.E003", "Send at least one record.")
        if len(items) > max_records:
            raise BadRequest("records.E004", f"Send at most {max_records} records in one call (got {len(items)}).")
        loaded = self._deserialise_all(rt, items, actor, single=False)
        return self._transaction(rt, lambda conn: self._create_many(conn, rt, items, actor, loaded, False),
                                 Event.CREATE)

    def _deserialise_all(self, rt, items, actor, single):
        """Phase ``deserialise`` of every record to create, before the transaction: pure Python,
        so on SQLite it does not hold the write lock (``BEGIN IMMEDIATE``) that other writers wait for."""
        return [self._deserialise(rt, data, actor, partial=False, row_no=None if single else i)
                for i, data in enumerate(items)]

    def _create_many(self, conn, rt, items, actor, loaded, single):
        now = utcnow()
        contexts = []
        booleans = [f.column for n, f in rt.stored.items() if rt.ftypes[n].family == "boolean"]
        for data, (values, errs) in zip(items, loaded):
            values.setdefault("owner_id", actor.user_id)
            ctx = RecordContext(self, conn, actor, rt, Event.CREATE, values, None, sent=data, now=now, errors=errs)
            self._run("authorise", ctx)
            self._check_owner(conn, ctx)
            self._run("defaults", ctx)
            for col in booleans:
                if values.get(col) is None:
                    values[col] = False
            self._required(ctx, creating=True)
            values.update(id=str(uuid7()), created_at=now, updated_at=now, created_by=actor.user_id,
                          updated_by=actor.user_id, row_version=1, deleted_at=None)
            contexts.append(ctx)
        if not any(c.errors for c in contexts):
            self._check_lookups(conn, rt, contexts, actor)
        if not any(c.errors for c in contexts):
            for ctx in contexts:
                self._validate(ctx)
        if any(c.errors for c in contexts):
            raise row_errors(rt, contexts, single)
        for ctx in contexts:
            self._run("before_save", ctx)
        rows = [c.values for c in contexts]
        for name, fdef in rt.stored.items():
            if rt.ftypes[name].assign_on_insert:
                fmt = fdef.get("format", "{0}")
                for values, n in zip(rows, next_numbers(conn, rt.name, fdef, len(rows))):
                    values[fdef.column] = format_auto_number(fmt, n)
        cols = [c.name for c in rt.table.columns]
        full = [{c: r.get(c) for c in cols} for r in rows]
        # one cached INSERT, executed for many rows (SQLAlchemy batches them as multi-row VALUES):
        # building a 16,000-parameter statement per batch cost more than SQLite's own work
        conn.execute(insert(rt.table), full)
        wctx = self._after_write(conn, rt, actor, Event.CREATE, [Change(r) for r in full], now)
        if not rt.formulas.formula_fields:   # plain values only: the JSON needs no query, so it is
            # built after the commit, outside SQLite's write lock (a bulk of 1,000: a few per cent)
            return AfterCommit(lambda: self.page_json(rt, full, actor)), wctx
        return self.page_json(rt, full, actor, conn=conn), wctx

    # -- update ---------------------------------------------------------------------------
    def update(self, object_name, record_id, data, actor, *, if_match=None, flags=()):
        """Change some fields of a record. A change that changes nothing writes nothing (the
        row_version stays). ``flags``: ``(object, feature)`` a caller's hook may add in this write
        beyond what the ``flags`` hooks say (an approval operation: ``_transaction``)."""
        rt = self.runtime(object_name, actor)
        self._authorise(rt, actor, "edit")

        # pure Python, before the transaction: on SQLite it does not hold the write lock
        values, errs = self._deserialise(rt, data, actor, partial=True)

        def run(conn):
            prior = dict(self._lock_row(conn, rt, record_id, actor))
            if if_match is not None and str(prior["row_version"]) != str(if_match):
                raise PreconditionFailed("records.E073", f"The {rt.odef.label} was changed by someone else "
                                         f"(version {prior['row_version']}, you sent {if_match}); "
                                         "reload it and apply your change again.")
            ctx = RecordContext(self, conn, actor, rt, Event.UPDATE, dict(prior, **values), prior,
                                sent=data, now=utcnow(), errors=errs)
            self._run("authorise", ctx)
            self._check_owner(conn, ctx)
            self._required(ctx, creating=False)
            if not ctx.errors:
                self._check_lookups(conn, rt, [ctx], actor, only_sent=True)
            if not ctx.errors:
                self._validate(ctx)
            if ctx.errors:
                raise record_errors(rt, ctx.errors, prior)
            self._run("before_save", ctx)
            changed = {k: v for k, v in ctx.values.items() if k in rt.table.c and prior.get(k) != v}
            if not changed:
                return self.to_json(rt, prior, actor, conn=conn), None
            changed.update(updated_at=ctx.now, updated_by=actor.user_id, row_version=prior["row_version"] + 1)
            res = conn.execute(_update_statement(rt, changed),
                               dict({f"v_{k}": v for k, v in changed.items()},
                                    w_id=prior["id"], w_version=prior["row_version"]))
            if res.rowcount != 1:
                raise PreconditionFailed("records.E073", f"The {rt.odef.label} was changed by someone else; "
                                         "reload it and apply your change again.")
            merged = dict(prior, **changed)
            wctx = self._after_write(conn, rt, actor, Event.UPDATE, [Change(merged, prior)], ctx.now)
            return self.to_json(rt, merged, actor, conn=conn), wctx

        return self._transaction(rt, run, Event.UPDATE, flags, data)

    # -- recycle bin ---------------------------------------------------------------------------
    def delete(self, object_name, record_id, actor):
        """Move a record (and its master-detail children) to the recycle bin."""
        rt = self.runtime(object_name, actor)
        self._authorise(rt, actor, "delete")

        def run(conn):
            row = self._lock_row(conn, rt, record_id, actor)
            now = utcnow()
            self._cascade(conn, rt, [row["id"]], now, actor, Event.DELETE)
            new = dict(row, deleted_at=now, updated_by=actor.user_id, row_version=row["row_version"] + 1)
            conn.execute(update(rt.table).where(rt.table.c.id == row["id"]).values(
                deleted_at=now, updated_by=actor.user_id, row_version=new["row_version"]))
            return None, self._after_write(conn, rt, actor, Event.DELETE, [Change(new, dict(row))], now)

        self._transaction(rt, run, Event.DELETE)

    def _cascade(self, conn, rt, ids, now, actor, event):
        """Children through master-detail follow their parent into (or out of) the recycle bin."""
        restore = event is Event.RESTORE
        for child_name, fdef in rt.children:
            child = self.snapshot.get(child_name)
            if child is None or not child.ftypes[fdef.api_name].cascade:
                continue
            ct = child.table
            col = ct.c[fdef.column]
            cond = and_(col.in_(ids), ct.c.deleted_at == now) if restore else \
                and_(col.in_(ids), ct.c.deleted_at.is_(None))
            child_rows = [dict(r) for r in conn.execute(select(ct).where(cond)).mappings()]
            if not child_rows:
                continue
            child_ids = [r["id"] for r in child_rows]
            self._cascade(conn, child, child_ids, now, actor, event)
            conn.execute(update(ct).where(ct.c.id.in_(child_ids)).values(
                deleted_at=None if restore else now, row_version=ct.c.row_version + 1))
            changes = [Change(dict(r, deleted_at=None if restore else now, row_version=r["row_version"] + 1), r)
                       for r in child_rows]
            self._after_write(conn, child, actor, event, changes, now)

    def restore(self, object_name, record_id, actor):
        rt = self.runtime(object_name, actor)
        self._authorise(rt, actor, "delete")

        def run(conn):
            row = self._lock_row(conn, rt, record_id, actor, deleted=True)
            for name, fdef in rt.stored.items():
                if rt.ftypes[name].cascade and row[fdef.column]:
                    parent = self.snapshot.get(fdef.target)
                    alive = conn.execute(select(parent.table.c.id).where(
                        parent.table.c.id == row[fdef.column], parent.table.c.deleted_at.is_(None))).first()
                    if alive is None:
                        raise Conflict("records.E072", f"Restore the {parent.odef.label} "
                                       f"'{row[fdef.column]}' first: this {rt.odef.label} belongs to it.")
            self._cascade(conn, rt, [row["id"]], row["deleted_at"], actor, Event.RESTORE)
            restored = dict(row, deleted_at=None, row_version=row["row_version"] + 1)
            conn.execute(update(rt.table).where(rt.table.c.id == row["id"]).values(
                deleted_at=None, row_version=restored["row_version"]))
            wctx = self._after_write(conn, rt, actor, Event.RESTORE, [Change(restored, dict(row))], utcnow())
            return self.to_json(rt, restored, actor, conn=conn), wctx

        return self._transaction(rt, run, Event.RESTORE)

    def purge(self, object_name, record_id, actor):
        """Delete a record from the recycle bin for good (children too; lookups to it cleared)."""
        rt = self.runtime(object_name, actor)
        self._authorise(rt, actor, "delete")

        def run(conn):
            row = self._lock_row(conn, rt, record_id, actor, deleted=True)
            now = utcnow()
            self._purge_ids(conn, rt, [row["id"]], actor, now)
            return None, self._after_write(conn, rt, actor, Event.PURGE, [Change(dict(row), dict(row))], now)

        self._transaction(rt, run, Event.PURGE)

    def _purge_ids(self, conn, rt, ids, actor, now):
        for child_name, fdef in rt.children:
            child = self.snapshot.get(child_name)
            if child is None:
                continue
            col = child.table.c[fdef.column]
            if child.ftypes[fdef.api_name].cascade:
                rows = [dict(r) for r in conn.execute(select(child.table).where(col.in_(ids))).mappings()]
                if rows:
                    self._purge_ids(conn, child, [r["id"] for r in rows], actor, now)
                    self._after_write(conn, child, actor, Event.PURGE, [Change(r, r) for r in rows], now)
            else:
                conn.execute(update(child.table).where(col.in_(ids)).values({fdef.column: None}))
        conn.execute(delete(rt.table).where(rt.table.c.id.in_(ids)))


def _flatten(v):
    if isinstance(v, dict):
        out = []
        for k, x in v.items():
            out += [f"item {k}: {m}" for m in _flatten(x)]
        return out
    if isinstance(v, list):
        out = []
        for x in v:
            out += _flatten(x)
        return out
    return [str(v)]


__all__ = ["RecordService", "NotFound"]


def _update_statement(rt, changed):
    """``UPDATE … SET <changed columns> WHERE id = :w_id AND row_version = :w_version``, built once
    per object version and set of columns (building and keying a statement per request cost more
    than running it)."""
    key = ("update", frozenset(changed))
    stmt = rt.statements.get(key)
    if stmt is None:
        t = rt.table
        stmt = (update(t).where(t.c.id == bindparam("w_id"), t.c.row_version == bindparam("w_version"))
                .values({t.c[k]: bindparam(f"v_{k}", type_=t.c[k].type) for k in changed}))
        rt.statements[key] = stmt
    return stmt
