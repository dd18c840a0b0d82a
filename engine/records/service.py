"""The record service: the only code that writes records.

Each call runs in one transaction: deserialise with the object's generated
marshmallow schema, apply defaults and auto-numbers, check lookups, evaluate
validation rules, write, and report unique violations by field. Reads add
computed (formula) fields. Higher layers (formulas, security, workflow) plug in
through the per-version state of the snapshot (``rt.extra``) and the hook lists
below; this module imports no Flask.
"""
from __future__ import annotations

import re

from marshmallow import ValidationError
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from uuid6 import uuid7

from engine.db import users, utcnow
from engine.errors import (BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed,
                           RecordValidationError)
from engine.metadata.checks import suggest
from engine.metadata.counters import next_numbers
from engine.metadata.field_types.computed import format_auto_number
from engine.metadata.field_types.scalar import iso_utc
from engine.metadata.model import SYSTEM_FIELDS

from engine.security import SYSTEM_ACTOR as _SYSTEM
from engine.security import access as acl

from . import query as q

WRITABLE_SYSTEM = ("name", "owner_id")
BATCH_PARAMS = 30000   # bound parameters per INSERT statement (SQLite allows 32766)

# fn(service, conn, rt, new_values: dict, prior: dict|None, actor) -> {field: [messages]}
validators = []
# fn(service, conn, rt, event, records: list[dict], priors: list[dict|None], actor), in the transaction
after_write = []


class RecordService:
    """CRUD, recycle bin and queries over the records of a snapshot."""

    def __init__(self, engine, snapshot):
        self.engine = engine
        self.snapshot = snapshot

    # -- helpers -------------------------------------------------------------
    def runtime(self, object_name):
        rt = self.snapshot.get(object_name)
        if rt is None:
            raise NotFound("records.E404", f"Unknown object '{object_name}'"
                           f"{suggest(object_name, self.snapshot.objects)}.")
        return rt

    def to_json(self, rt, row, fields=None, actor=None, conn=None):
        """Serialise a row (mapping) into the API's JSON record, formula fields computed."""
        return self.page_json(rt, [row], fields, actor, conn=conn)[0]

    def page_json(self, rt, rows, fields=None, actor=None, conn=None):
        """Serialise rows; computed fields are evaluated once for the whole page (inside the
        caller's transaction when ``conn`` is given)."""
        outs = [self._plain_json(rt, row) for row in rows]
        compute = rt.extra.get("compute")
        if compute is not None and rows and (fields is None or any(
                f in rt.ftypes and not rt.ftypes[f].stored for f in fields)):
            compute(self, rt, rows, outs, actor, conn)
        hidden = acl.hidden_fields(actor.plan, rt) if actor is not None else ()
        if fields or hidden:
            keep = (set(fields) | {"id"}) if fields else None
            outs = [{k: v for k, v in out.items() if (keep is None or k in keep) and k not in hidden}
                    for out in outs]
        return outs

    def _vis(self, rt, actor, access):
        """The SQL visibility condition for the actor (None: everything)."""
        plan = actor.plan if actor is not None else None
        if plan is None:
            return None
        where_fn = rt.extra.get("where")
        criteria = (lambda src: where_fn(self, rt, src, _SYSTEM)) if where_fn else None
        if plan.is_admin:
            return None
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            shares = acl.has_shares(conn, plan, rt.name)
        return acl.visibility(plan, rt, access, criteria, shares_exist=shares)

    def _require(self, rt, actor, right):
        acl.require(actor.plan if actor is not None else None, rt, right)

    def _plain_json(self, rt, row):
        out = {"id": row["id"], "name": row["name"], "owner_id": row["owner_id"],
               "created_at": iso_utc(row["created_at"]), "created_by": row["created_by"],
               "updated_at": iso_utc(row["updated_at"]), "updated_by": row["updated_by"],
               "row_version": row["row_version"], "deleted_at": iso_utc(row["deleted_at"])}
        for name, col, conv, fdef in rt.json_out:
            value = row[col]
            out[name] = conv(fdef, value) if conv is not None and value is not None else value
        return out

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

    def _deserialise(self, rt, data, *, partial, row_no=None, actor=None):
        errors = self._check_writable(rt, data, row_no)
        if actor is not None:
            for k, v in acl.writable_check(actor.plan, rt, data).items():
                errors.setdefault(k, v)
        values = {}
        try:
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

    def _required_errors(self, rt, values, *, creating):
        errors = {}
        for name, fdef in rt.writable.items():
            if not fdef.required or not fdef.column:
                continue
            if creating and values.get(fdef.column) in (None, "", []):
                errors[name] = ["Required."]
            elif not creating and fdef.column in values and values[fdef.column] in (None, "", []):
                errors[name] = ["Required."]
        if rt.odef.doc.get("name_required") and (
                (creating and not values.get("name")) or (not creating and "name" in values and not values["name"])):
            errors["name"] = ["Required."]
        return errors

    def _check_lookups(self, conn, rt, rows, errors_for):
        for name, fdef in rt.writable.items():
            if not fdef.target:
                continue
            ids = {r[fdef.column] for r in rows if r.get(fdef.column)}
            if not ids:
                continue
            target = self.snapshot.get(fdef.target)
            if target is None:
                continue
            found = set()
            id_list = list(ids)
            for i in range(0, len(id_list), 5000):
                chunk = id_list[i:i + 5000]
                found |= set(conn.execute(select(target.table.c.id).where(
                    target.table.c.id.in_(chunk), target.table.c.deleted_at.is_(None))).scalars())
            for idx, r in enumerate(rows):
                v = r.get(fdef.column)
                if v and v not in found:
                    errors_for(idx).setdefault(name, []).append(
                        f"No {target.odef.label} with id '{str(v)[:40]}'.")

    def _check_owner(self, conn, values, actor, rt=None, prior=None):
        """Ownership transfer: admins, users with modify-all, and the current owner may give a
        record to another active user."""
        owner = values.get("owner_id")
        if owner is None or (prior is None and owner == actor.user_id) or \
                (prior is not None and owner == prior["owner_id"]):
            return {}
        plan = actor.plan
        allowed = actor.is_admin or plan is None or (rt is not None and plan.can(rt.name, "modify_all")) \
            or (prior is not None and prior["owner_id"] == actor.user_id)
        if not allowed:
            return {"owner_id": ["Only the owner, an administrator or a user with Modify All can transfer "
                                 "this record."]}
        if conn.execute(select(users.c.id).where(users.c.id == owner, users.c.active.is_(True))).first() is None:
            return {"owner_id": [f"No active user with id '{str(owner)[:40]}'."]}
        return {}

    def _unique_error(self, rt, exc):
        text = str(exc.orig)
        for ix, fname in rt.unique_indexes.items():
            col = rt.stored[fname].column
            if ix in text or re.search(rf"\b{re.escape(rt.table.name)}\.{re.escape(col)}\b", text):
                label = rt.odef.field(fname).label
                return Conflict("records.E409", f"Another {rt.odef.label} already has this {label}.",
                                fields={fname: ["Must be unique; this value is already used."]})
        return None

    def _write(self, rt, fn):
        try:
            with self.engine.begin() as conn:
                return fn(conn)
        except IntegrityError as exc:
            err = self._unique_error(rt, exc)
            if err is not None:
                raise err from None
            raise

    def _lock_row(self, conn, rt, record_id, *, deleted=False, actor=None):
        """Lock a record the actor can see; 404 when invisible, 403 when visible but not editable."""
        t = rt.table
        stmt = select(t).where(t.c.id == str(record_id))
        vis = self._vis(rt, actor, "read")
        if vis is not None:
            stmt = stmt.where(vis)
        stmt = stmt.where(t.c.deleted_at.is_not(None) if deleted else t.c.deleted_at.is_(None))
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).mappings().first()
        if row is None:
            where = " in the recycle bin" if deleted else ""
            raise NotFound("records.E404", f"No {rt.odef.label} with id '{str(record_id)[:40]}'{where}.")
        edit = self._vis(rt, actor, "edit")
        if edit is not None and conn.execute(select(t.c.id).where(t.c.id == row["id"], edit)).first() is None:
            raise Forbidden("security.E403", f"You may see this {rt.odef.label} but not change it.")
        return row

    @staticmethod
    def _writer(actor):
        if actor.read_only:
            raise Forbidden("records.E403", "This token is read-only.")

    # -- create ----------------------------------------------------------------
    def create(self, object_name, data, actor):
        rt = self.runtime(object_name)
        self._writer(actor)
        self._require(rt, actor, "create")
        return self._write(rt, lambda conn: self._create_many(conn, rt, [data], actor, single=True))[0]

    def bulk_create(self, object_name, items, actor, max_records=10000):
        """Create many records, all or nothing; errors are keyed ``records[i].field``."""
        rt = self.runtime(object_name)
        self._writer(actor)
        self._require(rt, actor, "create")
        if not items:
            raise BadRequest("records.E003", "Send at least one record.")
        if len(items) > max_records:
            raise BadRequest("records.E004", f"Send at most {max_records} records in one call (got {len(items)}).")
        return self._write(rt, lambda conn: self._create_many(conn, rt, items, actor, single=False))

    def _create_many(self, conn, rt, items, actor, single):
        now = utcnow()
        rows, errors = [], {}

        def errors_for(i):
            return errors.setdefault(i, {})

        for i, data in enumerate(items):
            values, errs = self._deserialise(rt, data, partial=False, row_no=None if single else i, actor=actor)
            values.setdefault("owner_id", actor.user_id)
            errs.update(self._check_owner(conn, values, actor, rt) if "owner_id" in (data or {}) else {})
            defaults = rt.extra.get("defaults")
            if defaults:
                defaults(self, rt, values, data, actor, now)
            for name, fdef in rt.stored.items():
                if rt.ftypes[name].family == "boolean" and values.get(fdef.column) is None:
                    values[fdef.column] = False
            errs.update({k: v for k, v in self._required_errors(rt, values, creating=True).items()
                         if k not in errs})
            if errs:
                errors[i] = errs
            values.update(id=str(uuid7()), created_at=now, updated_at=now, created_by=actor.user_id,
                          updated_by=actor.user_id, row_version=1, deleted_at=None)
            rows.append(values)
        if not errors:
            self._check_lookups(conn, rt, rows, errors_for)
        if not errors:
            for i, values in enumerate(rows):
                errs = self._run_validators(conn, rt, values, None, actor)
                if errs:
                    errors[i] = errs
        if errors:
            raise _row_errors(errors, single)
        for name, fdef in rt.stored.items():
            if fdef.type == "auto_number":
                fmt = fdef.get("format", "{0}")
                for values, n in zip(rows, next_numbers(conn, rt.name, fdef, len(rows))):
                    values[fdef.column] = format_auto_number(fmt, n)
        cols = [c.name for c in rt.table.columns]
        full = [{c: r.get(c) for c in cols} for r in rows]
        per_stmt = max(1, BATCH_PARAMS // max(1, len(cols)))
        for start in range(0, len(full), per_stmt):
            chunk = full[start:start + per_stmt]
            if len(chunk) == 1:
                conn.execute(insert(rt.table).values(chunk[0]))
            else:
                conn.execute(insert(rt.table).values(chunk))
        for hook in after_write:
            hook(self, conn, rt, "create", full, [None] * len(full), actor)
        return self.page_json(rt, full, actor=actor, conn=conn)

    def _run_validators(self, conn, rt, values, prior, actor):
        errs = {}
        for fn in validators:
            for k, v in (fn(self, conn, rt, values, prior, actor) or {}).items():
                errs.setdefault(k, []).extend(v)
        return errs

    # -- read ------------------------------------------------------------------
    def get(self, object_name, record_id, actor, *, include_deleted=False, fields=None):
        rt = self.runtime(object_name)
        self._require(rt, actor, "read")
        t = rt.table
        stmt = select(t).where(t.c.id == str(record_id))
        if not include_deleted:
            stmt = stmt.where(t.c.deleted_at.is_(None))
        vis = self._vis(rt, actor, "read")
        if vis is not None:
            stmt = stmt.where(vis)
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            row = conn.execute(stmt).mappings().first()
        if row is None:
            raise NotFound("records.E404", f"No {rt.odef.label} with id '{str(record_id)[:40]}'.")
        return self.to_json(rt, row, fields=fields, actor=actor)

    def list(self, object_name, actor, *, filters=None, where=None, order_by=None, limit=50, cursor=None,
             fields=None, with_total=False, deleted=False, max_limit=200):
        """List records: ``{"records": [...], "next_cursor": str|None[, "total": n]}``."""
        rt = self.runtime(object_name)
        self._require(rt, actor, "read")
        hidden = acl.hidden_fields(actor.plan, rt) if actor is not None else ()
        for key in list(filters or {}) + [k.strip().lstrip("+-") for k in (order_by or "").split(",")] + list(fields or []):
            if key.partition("__")[0] in hidden:
                raise BadRequest("records.E010", f"Unknown field '{key.partition('__')[0]}' on '{rt.name}'.",
                                 fields={key: ["unknown field"]})
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise BadRequest("records.E017", f"limit must be a whole number between 1 and {max_limit}.",
                             fields={"limit": ["invalid"]}) from None
        if not 1 <= limit <= max_limit:
            raise BadRequest("records.E017", f"limit must be between 1 and {max_limit} (got {limit}).",
                             fields={"limit": ["out of range"]})
        t = rt.table
        conds = [t.c.deleted_at.is_not(None) if deleted else t.c.deleted_at.is_(None)]
        conds += q.build_filters(rt, filters or {})
        if where:
            where_fn = rt.extra.get("where")
            if where_fn is None:
                raise BadRequest("records.E018", "where= filters are not available.")
            conds.append(where_fn(self, rt, where, actor))
        vis = self._vis(rt, actor, "read")
        if vis is not None:
            conds.append(vis)
        if fields is not None:
            unknown = [f for f in fields if f not in SYSTEM_FIELDS and f not in rt.ftypes]
            if unknown:
                raise BadRequest("records.E019", f"Unknown field '{unknown[0]}' in fields="
                                 f"{suggest(unknown[0], list(rt.ftypes))}.", fields={"fields": ["unknown field"]})
        order_fn = rt.extra.get("order_sql")
        keys = q.parse_order(rt, order_by, computed=(lambda n: order_fn(self, rt, n, actor)) if order_fn else None)
        fp = q.fingerprint(object_name, sorted((filters or {}).items()), where, order_by, deleted)
        stmt = select(t, *[col.label(f"_k{i}") for i, (_n, col, _d) in enumerate(keys)]).where(*conds)
        if cursor:
            values = q.decode_cursor(cursor, fp, len(keys))
            stmt = stmt.where(q.keyset_condition(keys, values))
        stmt = stmt.order_by(*q.order_clauses(keys)).limit(limit + 1)
        try:
            with self.engine.connect().execution_options(tessera_readonly=True) as conn:
                rows = conn.execute(stmt).mappings().all()
                total = None
                if with_total:
                    total = conn.execute(select(func.count()).select_from(t).where(*conds)).scalar()
        except DataError as exc:  # e.g. a filter's arithmetic overflows in the database
            raise RecordValidationError({"where": ["The database could not compute this filter: "
                                                   f"{str(exc.orig).splitlines()[0][:200]}"]},
                                        code="records.E030") from None
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = q.encode_cursor([last[f"_k{i}"] for i in range(len(keys))], fp)
        out = {"records": self.page_json(rt, rows, fields=fields, actor=actor),
               "next_cursor": next_cursor}
        if with_total:
            out["total"] = total
        return out

    # -- update ----------------------------------------------------------------
    def update(self, object_name, record_id, data, actor, *, if_match=None):
        rt = self.runtime(object_name)
        self._writer(actor)
        self._require(rt, actor, "edit")

        def run(conn):
            prior = self._lock_row(conn, rt, record_id, actor=actor)
            if if_match is not None and str(prior["row_version"]) != str(if_match):
                raise PreconditionFailed("records.E412", f"The {rt.odef.label} was changed by someone else "
                                         f"(version {prior['row_version']}, you sent {if_match}); "
                                         "reload it and apply your change again.")
            values, errs = self._deserialise(rt, data, partial=True, actor=actor)
            if "owner_id" in (data or {}):
                errs.update(self._check_owner(conn, values, actor, rt, prior))
            errs.update({k: v for k, v in self._required_errors(rt, values, creating=False).items()
                         if k not in errs})
            if errs:
                raise RecordValidationError(errs)
            self._check_lookups(conn, rt, [values], lambda _i: errs)
            if errs:
                raise RecordValidationError(errs)
            merged = dict(prior)
            merged.update(values)
            errs = self._run_validators(conn, rt, merged, dict(prior), actor)
            if errs:
                raise RecordValidationError(errs)
            now = utcnow()
            values.update(updated_at=now, updated_by=actor.user_id, row_version=prior["row_version"] + 1)
            res = conn.execute(update(rt.table).where(rt.table.c.id == prior["id"],
                                                      rt.table.c.row_version == prior["row_version"])
                               .values(values))
            if res.rowcount != 1:
                raise PreconditionFailed("records.E412", f"The {rt.odef.label} was changed by someone else; "
                                         "reload it and apply your change again.")
            merged.update(values)
            for hook in after_write:
                hook(self, conn, rt, "update", [merged], [dict(prior)], actor)
            return self.to_json(rt, merged, actor=actor, conn=conn)

        return self._write(rt, run)

    # -- recycle bin -------------------------------------------------------------
    def delete(self, object_name, record_id, actor):
        """Move a record (and its master-detail children) to the recycle bin."""
        rt = self.runtime(object_name)
        self._writer(actor)
        self._require(rt, actor, "delete")

        def run(conn):
            row = self._lock_row(conn, rt, record_id, actor=actor)
            now = utcnow()
            self._cascade_soft_delete(conn, rt, [row["id"]], now, actor)
            conn.execute(update(rt.table).where(rt.table.c.id == row["id"]).values(
                deleted_at=now, updated_by=actor.user_id))
            for hook in after_write:
                hook(self, conn, rt, "delete", [dict(row, deleted_at=now)], [dict(row)], actor)

        self._write(rt, run)

    def _cascade_soft_delete(self, conn, rt, ids, now, actor, restore=False):
        for child_name, fdef in rt.children:
            child = self.snapshot.get(child_name)
            if child is None or not child.ftypes[fdef.api_name].cascade:
                continue
            ct = child.table
            col = ct.c[fdef.column]
            if restore:
                cond = and_(col.in_(ids), ct.c.deleted_at == now)
            else:
                cond = and_(col.in_(ids), ct.c.deleted_at.is_(None))
            child_rows = [dict(r) for r in conn.execute(select(ct).where(cond)).mappings()]
            if not child_rows:
                continue
            child_ids = [r["id"] for r in child_rows]
            self._cascade_soft_delete(conn, child, child_ids, now, actor, restore)
            conn.execute(update(ct).where(ct.c.id.in_(child_ids)).values(deleted_at=None if restore else now))
            event = "restore" if restore else "delete"
            for hook in after_write:
                hook(self, conn, child, event, [dict(r, deleted_at=None if restore else now) for r in child_rows],
                     child_rows, actor)

    def restore(self, object_name, record_id, actor):
        rt = self.runtime(object_name)
        self._writer(actor)
        self._require(rt, actor, "delete")

        def run(conn):
            row = self._lock_row(conn, rt, record_id, deleted=True, actor=actor)
            for name, fdef in rt.stored.items():
                if rt.ftypes[name].cascade and row[fdef.column]:
                    parent = self.snapshot.get(fdef.target)
                    alive = conn.execute(select(parent.table.c.id).where(
                        parent.table.c.id == row[fdef.column], parent.table.c.deleted_at.is_(None))).first()
                    if alive is None:
                        raise Conflict("records.E409", f"Restore the {parent.odef.label} "
                                       f"'{row[fdef.column]}' first: this {rt.odef.label} belongs to it.")
            self._cascade_soft_delete(conn, rt, [row["id"]], row["deleted_at"], actor, restore=True)
            conn.execute(update(rt.table).where(rt.table.c.id == row["id"]).values(deleted_at=None))
            restored = dict(row, deleted_at=None)
            for hook in after_write:
                hook(self, conn, rt, "restore", [restored], [dict(row)], actor)
            return self.to_json(rt, restored, actor=actor, conn=conn)

        return self._write(rt, run)

    def purge(self, object_name, record_id, actor):
        """Delete a record from the recycle bin for good (children too; lookups to it cleared)."""
        rt = self.runtime(object_name)
        self._writer(actor)
        self._require(rt, actor, "delete")

        def run(conn):
            row = self._lock_row(conn, rt, record_id, deleted=True, actor=actor)
            self._purge_ids(conn, rt, [row["id"]])

        self._write(rt, run)

    def _purge_ids(self, conn, rt, ids):
        for child_name, fdef in rt.children:
            child = self.snapshot.get(child_name)
            if child is None:
                continue
            col = child.table.c[fdef.column]
            if child.ftypes[fdef.api_name].cascade:
                child_ids = list(conn.execute(select(child.table.c.id).where(col.in_(ids))).scalars())
                if child_ids:
                    self._purge_ids(conn, child, child_ids)
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


def _row_errors(errors, single):
    if single:
        return RecordValidationError(errors[0])
    flat = {}
    for i, errs in sorted(errors.items()):
        for k, v in errs.items():
            flat[f"records[{i}].{k}"] = v
    first = min(errors)
    return RecordValidationError(flat, message=f"{len(errors)} record(s) are invalid; nothing was saved. "
                                 f"First: row {first}: " + "; ".join(
                                     f"{k}: {' '.join(v)}" for k, v in errors[first].items()))
