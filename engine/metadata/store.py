"""The versioned metadata store.

Every change of an object definition is a new version (full document, author,
time) in ``tessera_meta_history``; ``tessera_meta_objects`` holds the current one,
and ``tessera_meta_state.version`` is bumped so that every process notices. A
change, its checks and its DDL run in one transaction: all or nothing.
"""
from __future__ import annotations

import copy
import json
import logging

from sqlalchemy import insert, select, update

from engine.db import meta_history, meta_objects, meta_state, object_features, utcnow
from engine.errors import Conflict, Forbidden, MetadataError, NotFound
from engine.hooks import HookSet
from engine.metadata.checks import check_object, suggest
from engine.metadata.ddl import SchemaChanger, _short
from engine.metadata.field_types import field_types
from engine.metadata.model import build_field_def, build_object_def, table_name_for
from engine.metadata.private_views import carry_private_views, owns, require_own_view_rights

log = logging.getLogger(__name__)


class MetadataHooks(HookSet):
    """Where higher layers plug into a metadata change (filled by the composition root)."""

    POINTS = {
        "checks": "fn(doc, ctx) -> [(path, message)]: more semantic checks of a document (formulas)",
        "dependency_checks": "fn(conn, old_doc, new_doc, all_docs) -> [(path, message)]: refuse a change "
                             "that breaks something using it (a formula reading a deleted field)",
        "after_change": "fn(conn, old_odef, new_odef, all_docs, actor=...): in the change's transaction, "
                        "after the DDL (roll-up back-fill, audit)",
    }


def require_admin(actor, what="change metadata"):
    """Only administrators (and the system actor) may change metadata."""
    if actor is None or not getattr(actor, "is_admin", False):
        raise Forbidden("metadata.E040", f"Only administrators may {what}.")


def _lookup_dependants(conn, old_doc, new_doc, docs_after):
    """Refuse archiving an object that other objects' lookups point to."""
    if old_doc is None or new_doc is not None:
        return []
    name = old_doc["api_name"]
    refs = [f"{other}.{f['api_name']}" for other, doc in sorted(docs_after.items())
            for f in doc.get("fields", []) if f.get("target") == name]
    if refs:
        return [(f"objects.{name}", f"cannot delete '{name}': lookups point to it from "
                 f"{', '.join(refs)}; delete those fields first")]
    return []



def _bump(conn):
    if conn.dialect.name == "postgresql":
        row = conn.execute(select(meta_state.c.version).where(meta_state.c.id == 1).with_for_update()).one()
    else:
        row = conn.execute(select(meta_state.c.version).where(meta_state.c.id == 1)).one()
    new = row.version + 1
    conn.execute(update(meta_state).where(meta_state.c.id == 1).values(version=new))
    return new


# built once: ``services.records()`` reads the version on every call, and building and keying this
# statement cost as much as running it (SQLite: 132 -> 68 us a call)
_CURRENT_VERSION = select(meta_state.c.version).where(meta_state.c.id == 1)


def current_version(conn):
    """The metadata version committed now (read on every call: never remembered)."""
    return conn.execute(_CURRENT_VERSION).scalar_one()


_FEATURES = select(object_features.c.object, object_features.c.feature)


def load_features(conn):
    """Every (object, feature) that has rows: read by a snapshot build *after* its version (a flag
    committed with a later version is then at worst one too many, never one missing)."""
    return frozenset(tuple(r) for r in conn.execute(_FEATURES))


def note_rows(conn, known, objects, feature):
    """Before a writer inserts rows of ``feature`` (``engine.db.FEATURE_TABLES``) for ``objects``,
    in its transaction: each object's flag, inserted if absent, and when one was new the metadata
    version bumped so that every process's next snapshot loads it. ``known``: the writer's
    snapshot's flags (a flag never goes, so one it holds needs no statement); None reads nothing
    and notes every object. The state row is locked first (PostgreSQL): transactions adding flags
    take their locks in one order, and a concurrent first write waits instead of failing. A writer
    that touched an object's table before this call must have locked it before that
    (:func:`lock_before_flags`): else it may deadlock with a metadata change of the object."""
    new = [o for o in set(objects) if known is None or (o, feature) not in known]
    if not new:
        return False
    lock_state(conn)
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    added = 0
    for obj in sorted(new):
        # RETURNING: a row only when inserted (psycopg's rowcount of this statement is -1)
        added += conn.execute(upsert(object_features).values(object=obj, feature=feature)
                              .on_conflict_do_nothing().returning(object_features.c.object)).first() is not None
    if added:
        _bump(conn)
    return bool(added)


def load_docs(conn, include_archived=False):
    """Current object rows: api_name -> dict(doc, version, table_name, status, archive)."""
    q = select(meta_objects)
    if not include_archived:
        q = q.where(meta_objects.c.status == "active")
    out = {}
    for r in conn.execute(q.order_by(meta_objects.c.api_name)):
        out[r.api_name] = {"doc": json.loads(r.doc), "version": r.version, "table_name": r.table_name,
                           "status": r.status, "archive": json.loads(r.archive or "[]"),
                           "updated_at": r.updated_at, "updated_by": r.updated_by}
    return out


def lock_state(conn):
    """Lock the metadata state row until the transaction ends (PostgreSQL ``SELECT … FOR UPDATE``;
    nothing on SQLite, whose writes are serial). Every metadata change takes it before its DDL on
    an object's table, and so does :func:`note_rows`; a writer that may add a flag takes it before
    its first statement on an object's table (:func:`lock_before_flags`), so that both orders are
    the same: state row, then table. Taken again in the same transaction it only waits for nothing."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(meta_state.c.version).where(meta_state.c.id == 1).with_for_update())


def missing_flags(known, pairs):
    """The ``(object, feature)`` of ``pairs`` that the flags ``known`` (a snapshot's; None:
    unknown, every one) lack: the flags a writer's :func:`note_rows` may still add."""
    return [p for p in pairs if known is None or p not in known]


def lock_before_flags(conn, known, pairs):
    """At the start of a writer's transaction, before its first statement on an object's table:
    lock the state row (PostgreSQL) when the writer may add one of the flags ``pairs`` (``(object,
    feature)``) that its snapshot's ``known`` lacks. Without it the writer would hold the table
    (its INSERT/UPDATE, even a SELECT) when :func:`note_rows` asks for the state row, while a
    metadata change of the object holds the state row and waits for the table (ALTER TABLE):
    a deadlock, one of them failed (SQLSTATE 40P01). No statement once the flags are known."""
    if conn.dialect.name == "postgresql" and missing_flags(known, pairs):
        lock_state(conn)


class MetadataStore:
    """Apply, version and roll back metadata changes on a SQLAlchemy engine."""

    def __init__(self, engine, hooks):
        self.engine = engine
        self.hooks = hooks

    # -- reading -------------------------------------------------------------
    def history(self, api_name):
        with self.engine.connect() as conn:
            rows = conn.execute(select(meta_history).where(meta_history.c.api_name == api_name)
                                .order_by(meta_history.c.version)).all()
        if not rows:
            raise NotFound("metadata.E041", f"Unknown object '{api_name}'.")
        return [{"version": r.version, "action": r.action, "summary": r.summary,
                 "author_id": r.author_id, "created_at": r.created_at,
                 "doc": json.loads(r.doc) if r.doc else None} for r in rows]

    # -- the one write path -------------------------------------------------
    def change(self, api_name, mutate, *, actor, action="update", summary="", create=False,
               restore_fields=(), archive_object=False, restore_object=False, _own_view=False, drop_views=()):
        """Apply ``mutate(doc) -> new doc`` to object ``api_name`` with its DDL, atomically.
        ``actor`` must be an administrator (or the system actor); ``_own_view`` is the private list
        view methods' way in (their ``mutate`` touches only the actor's own view). Users' private
        list views survive any other change unless it names them in ``drop_views``
        (:func:`~engine.metadata.private_views.carry_private_views`)."""
        if not _own_view:
            require_admin(actor)
        author = actor.user_id
        with self.engine.begin() as conn:
            lock_state(conn)
            rows = load_docs(conn, include_archived=True)
            active = {k: v for k, v in rows.items() if v["status"] == "active"}
            row = rows.get(api_name)
            if create:
                if row is not None:
                    what = "an archived object" if row["status"] == "archived" else "an object"
                    raise Conflict("metadata.E047",
                                   f"There is already {what} named '{api_name}'."
                                   + (" Restore or purge it first." if row["status"] == "archived" else ""),
                                   fields={"api_name": ["already exists"]})
                old_doc, archive = None, []
            else:
                if row is None or (row["status"] != "active" and not restore_object):
                    raise NotFound("metadata.E041", f"Unknown object '{api_name}'{suggest(api_name, active)}.")
                old_doc, archive = row["doc"], row["archive"]
            new_doc = mutate(copy.deepcopy(old_doc)) if not archive_object else old_doc
            if not _own_view and not archive_object and old_doc is not None:
                new_doc = carry_private_views(old_doc, new_doc, dropped=drop_views)
            others = {k: v["doc"] for k, v in active.items() if k != api_name}
            if not archive_object:
                problems = check_object(new_doc, {"objects": others}, self.hooks.checks)
                if problems:
                    raise MetadataError(problems)
            docs_after = dict(others)
            if not archive_object:
                docs_after[api_name] = new_doc
            problems = _lookup_dependants(conn, old_doc if not restore_object else None,
                                          None if archive_object else new_doc, docs_after)
            for check in self.hooks.dependency_checks:
                problems += check(conn, old_doc if not restore_object else None,
                                  None if archive_object else new_doc, docs_after)
            if problems:
                raise MetadataError(problems, code="metadata.E030")
            table_names = {k: v["table_name"] for k, v in active.items()}
            table_names[api_name] = table_name_for(api_name)
            changer = SchemaChanger(conn, table_names)
            version = 1 if old_doc is None else row["version"] + 1
            now = utcnow()
            status = "active"
            new_odef = build_object_def(new_doc, version) if not archive_object else None
            old_odef = build_object_def(old_doc, row["version"]) if old_doc is not None else None
            if create:
                changer.create_object(new_odef)
                from engine.metadata.counters import ensure_counter
                for fdef in new_odef.fields:
                    if field_types.get(fdef.type).assign_on_insert:
                        ensure_counter(conn, api_name, fdef)
            elif archive_object:
                status = "archived"
                changer.archive_object(old_odef, _short(f"zz_{api_name}_v{version}"))
            elif restore_object:
                changer.restore_object(new_odef, row["table_name"])
            else:
                archive = self._apply_field_diff(conn, changer, old_odef, new_odef, archive,
                                                 restore_fields, version, now)
            for hook in self.hooks.after_change:
                hook(conn, old_odef, new_odef, docs_after, actor=actor)
            gv = _bump(conn)
            table_name = (_short(f"zz_{api_name}_v{version}") if archive_object else table_name_for(api_name))
            values = dict(version=version, doc=json.dumps(new_doc), status=status, table_name=table_name,
                          archive=json.dumps(archive), updated_at=now, updated_by=author)
            if create:
                conn.execute(insert(meta_objects).values(api_name=api_name, **values))
            else:
                conn.execute(update(meta_objects).where(meta_objects.c.api_name == api_name).values(**values))
            conn.execute(insert(meta_history).values(
                api_name=api_name, version=version, global_version=gv, action=action, summary=summary,
                doc=None if archive_object else json.dumps(new_doc), author_id=author, created_at=now))
        return new_doc

    def _apply_field_diff(self, conn, changer, old, new, archive, restore_fields, version, now):
        old_f, new_f = old.field_map, new.field_map
        archive = list(archive)
        for name, fdef in old_f.items():
            if name not in new_f and fdef.column:
                col = _short(f"zz_{fdef.column}_v{version}")
                changer.archive_field(old, fdef, col)
                archive.append({"field": dict(fdef.doc), "column": col, "archived_at": now.isoformat()})
        for name, fdef in new_f.items():
            if name in old_f:
                continue
            entry = next((a for a in reversed(archive) if a["field"]["api_name"] == name
                          and name in restore_fields), None)
            if entry is not None:
                changer.restore_field(new, fdef, entry["column"])
                archive.remove(entry)
            else:
                changer.add_field(new, fdef)
                if field_types.get(fdef.type).assign_on_insert:
                    from engine.metadata.counters import ensure_counter
                    ensure_counter(conn, new.api_name, fdef)
                    self._backfill_auto_number(conn, new, fdef)
        for name, fnew in new_f.items():
            fold = old_f.get(name)
            if fold is None or fold.doc == fnew.doc:
                continue
            self._change_field(conn, changer, old, fold, new, fnew)
        return archive

    def _change_field(self, conn, changer, old, fold, new, fnew):
        path = f"objects.{new.api_name}.fields.{fnew.api_name}"
        told, tnew = field_types.get(fold.type), field_types.get(fnew.type)
        if bool(fold.column) != bool(fnew.column):
            raise MetadataError([(f"{path}.type", f"cannot change a {fold.type} field into a {fnew.type} "
                                  "field; add a new field instead")], code="metadata.E021")
        if not fnew.column:
            return
        if (told.family == "lookup") != (tnew.family == "lookup") or \
                (told.family == "lookup" and fold.target != fnew.target):
            raise MetadataError([(f"{path}.type", "cannot change a lookup's type or target; add a new field "
                                  "instead")], code="metadata.E021")
        if tnew.assign_on_insert and not told.assign_on_insert:
            raise MetadataError([(f"{path}.type", "cannot turn an existing field into an auto_number; add a "
                                  "new auto_number field (existing records are numbered)")], code="metadata.E021")
        table = self._table(conn, new)
        if fnew.required and not fold.required:
            missing = conn.execute(select(_count()).select_from(table).where(
                table.c[fnew.column].is_(None), table.c.deleted_at.is_(None))).scalar()
            if missing:
                raise MetadataError([(f"{path}.required", f"cannot be required: {missing} record(s) have no "
                                      "value; fill them first")], code="metadata.E022")
        type_changed = fold.type != fnew.type or repr(told.column_type(fold)) != repr(tnew.column_type(fnew))
        converted = None
        if type_changed:
            converted = self._convert_values(conn, self._table(conn, old), fold, fnew, path)
            if fold.type == fnew.type and told.family in ("text",):
                converted = None  # a length change: plain ALTER after the check above
        changer.change_field(old, fold, new, fnew, converted=converted)

    def _convert_values(self, conn, table, fold, fnew, path):
        """Convert every stored value to the new type in Python; refuse if any does not convert."""
        from marshmallow import ValidationError

        told, tnew = field_types.get(fold.type), field_types.get(fnew.type)
        mfield = tnew.marshmallow_field(fnew)
        out, bad, example = [], 0, None
        col = table.c[fold.column]
        for rid, value in conn.execute(select(table.c.id, col).where(col.is_not(None))):
            raw = told.to_json(fold, value)
            if tnew.formula_type == "text" and not isinstance(raw, str):
                raw = _text_of(raw)
            try:
                new_value = tnew.to_storage(fnew, mfield.deserialize(raw))
            except ValidationError as exc:
                bad += 1
                example = example or (rid, raw, _first_message(exc))
                continue
            out.append((rid, new_value))
        if bad:
            rid, raw, msg = example
            raise MetadataError([(f"{path}.type", f"cannot change {fold.type} to {fnew.type}: {bad} record(s) "
                                  f"hold values that do not convert, e.g. {json.dumps(raw)[:60]} on record "
                                  f"{rid} ({msg})")], code="metadata.E023")
        return out

    def _table(self, conn, odef):
        from sqlalchemy import MetaData

        from engine.metadata.ddl import build_table
        return build_table(odef, MetaData(), {})

    def _backfill_auto_number(self, conn, odef, fdef):
        from engine.metadata.counters import next_numbers
        from engine.metadata.field_types.computed import format_auto_number

        table = self._table(conn, odef)
        ids = [r.id for r in conn.execute(select(table.c.id).order_by(table.c.id))]
        if not ids:
            return
        numbers = next_numbers(conn, odef.api_name, fdef, len(ids))
        from sqlalchemy import bindparam
        stmt = update(table).where(table.c.id == bindparam("_id")).values(
            {fdef.column: bindparam("_v")})
        fmt = fdef.get("format", "{0}")
        conn.execute(stmt, [{"_id": i, "_v": format_auto_number(fmt, n)} for i, n in zip(ids, numbers)])

    # -- conveniences used by the API and the CLI ---------------------------
    def create_object(self, doc, actor):
        if not isinstance(doc, dict) or not isinstance(doc.get("api_name"), str):
            problems = check_object(doc, {"objects": {}}) or [("object.api_name", "is required")]
            raise MetadataError(problems)
        return self.change(doc["api_name"], lambda _old: doc, actor=actor, action="create_object",
                           summary=f"created object '{doc['api_name']}'", create=True)

    def update_object(self, api_name, patch, actor):
        def mutate(doc):
            if not isinstance(patch, dict):
                raise MetadataError([("object", "must be a JSON object")])
            for key in ("api_name", "fields"):
                if key in patch and patch[key] != doc.get(key):
                    raise MetadataError([(f"objects.{api_name}.{key}", "cannot be changed with PATCH; "
                                          + ("create a new object" if key == "api_name" else
                                             "use the fields endpoints"))])
            doc.update(patch)
            return doc
        return self.change(api_name, mutate, actor=actor, action="update_object",
                           summary="changed " + ", ".join(sorted(patch)) if isinstance(patch, dict) else "")

    def delete_object(self, api_name, actor):
        return self.change(api_name, None, actor=actor, action="delete_object",
                           summary=f"archived object '{api_name}'", archive_object=True)

    def restore_object(self, api_name, actor):
        with self.engine.connect() as conn:
            row = load_docs(conn, include_archived=True).get(api_name)
        if row is None or row["status"] != "archived":
            raise NotFound("metadata.E044", f"No archived object '{api_name}'.")
        last = self.history(api_name)
        doc = next(h["doc"] for h in reversed(last) if h["doc"] is not None)
        return self.change(api_name, lambda _d: doc, actor=actor, action="restore_object",
                           summary=f"restored object '{api_name}'", restore_object=True)

    def purge_object(self, api_name, actor):
        require_admin(actor)
        with self.engine.begin() as conn:
            lock_state(conn)
            row = load_docs(conn, include_archived=True).get(api_name)
            if row is None or row["status"] != "archived":
                raise NotFound("metadata.E044", f"No archived object '{api_name}' (delete it first).")
            SchemaChanger(conn, {}).purge_table(row["table_name"])
            from sqlalchemy import delete
            conn.execute(delete(meta_objects).where(meta_objects.c.api_name == api_name))
            conn.execute(delete(meta_history).where(meta_history.c.api_name == api_name))
            _bump(conn)

    def add_field(self, api_name, fdoc, actor):
        def mutate(doc):
            doc.setdefault("fields", []).append(fdoc)
            return doc
        name = fdoc.get("api_name") if isinstance(fdoc, dict) else None
        return self.change(api_name, mutate, actor=actor, action="add_field",
                           summary=f"added field '{name}'")

    def update_field(self, api_name, field_name, patch, actor):
        def mutate(doc):
            fdoc = _find_field(doc, api_name, field_name)
            if not isinstance(patch, dict):
                raise MetadataError([(f"objects.{api_name}.fields.{field_name}", "must be a JSON object")])
            if "api_name" in patch and patch["api_name"] != field_name:
                raise MetadataError([(f"objects.{api_name}.fields.{field_name}.api_name",
                                      "cannot be changed; change the label instead")])
            fdoc.update(patch)
            for key, value in list(fdoc.items()):
                if value is None and key not in ("default",):
                    del fdoc[key]
            return doc
        return self.change(api_name, mutate, actor=actor, action="update_field",
                           summary=f"changed field '{field_name}'")

    def delete_field(self, api_name, field_name, actor):
        def mutate(doc):
            fdoc = _find_field(doc, api_name, field_name)
            doc["fields"].remove(fdoc)
            return doc
        return self.change(api_name, mutate, actor=actor, action="delete_field",
                           summary=f"archived field '{field_name}'")

    def restore_field(self, api_name, field_name, actor):
        with self.engine.connect() as conn:
            row = load_docs(conn).get(api_name)
        if row is None:
            raise NotFound("metadata.E041", f"Unknown object '{api_name}'.")
        entry = next((a for a in reversed(row["archive"]) if a["field"]["api_name"] == field_name), None)
        if entry is None:
            raise NotFound("metadata.E045", f"No archived field '{field_name}' on '{api_name}'.")

        def mutate(doc):
            doc.setdefault("fields", []).append(entry["field"])
            return doc
        return self.change(api_name, mutate, actor=actor, action="restore_field",
                           summary=f"restored field '{field_name}'", restore_fields=(field_name,))

    def purge_field(self, api_name, field_name, actor):
        require_admin(actor)
        with self.engine.begin() as conn:
            lock_state(conn)
            row = load_docs(conn).get(api_name)
            if row is None:
                raise NotFound("metadata.E041", f"Unknown object '{api_name}'.")
            entries = [a for a in row["archive"] if a["field"]["api_name"] == field_name]
            if not entries:
                raise NotFound("metadata.E045", f"No archived field '{field_name}' on '{api_name}'.")
            changer = SchemaChanger(conn, {})
            for e in entries:
                changer.purge_column(row["table_name"], e["column"])
            archive = [a for a in row["archive"] if a not in entries]
            conn.execute(update(meta_objects).where(meta_objects.c.api_name == api_name)
                         .values(archive=json.dumps(archive)))
            _bump(conn)

    def set_list(self, api_name, kind, item, actor, *, replace=False):
        """Add (or replace by name) a validation rule, layout or list view."""
        def mutate(doc):
            items = doc.setdefault(kind, [])
            name = item.get("name") if isinstance(item, dict) else None
            existing = next((i for i, x in enumerate(items) if x.get("name") == name), None)
            if existing is not None and not replace:
                raise Conflict("metadata.E049", f"There is already a {kind[:-1].replace('_', ' ')} named '{name}'.")
            if existing is None and replace:
                raise NotFound("metadata.E046", f"Unknown {kind[:-1].replace('_', ' ')} '{name}'.")
            if existing is None:
                items.append(item)
            else:
                items[existing] = item
            return doc
        return self.change(api_name, mutate, actor=actor, action=f"set_{kind}",
                           drop_views=(item.get("name"),) if replace and isinstance(item, dict) else (),
                           summary=f"{'changed' if replace else 'added'} {kind[:-1]} "
                                   f"'{item.get('name') if isinstance(item, dict) else '?'}'")

    def remove_from_list(self, api_name, kind, name, actor):
        def mutate(doc):
            items = doc.get(kind) or []
            keep = [x for x in items if x.get("name") != name]
            if len(keep) == len(items):
                raise NotFound("metadata.E046", f"Unknown {kind[:-1].replace('_', ' ')} '{name}'.")
            doc[kind] = keep
            return doc
        return self.change(api_name, mutate, actor=actor, action=f"remove_{kind}", drop_views=(name,),
                           summary=f"removed {kind[:-1]} '{name}'")

    # -- private list views: a user's own, saved from the list page ----------------------------------
    def save_own_list_view(self, api_name, view, actor, *, replace=False):
        """Add (or, with ``replace``, change) ``actor``'s private list view: ``shared`` is set to
        false and ``owner_id`` to the actor. Replacing needs a view the actor owns; the name of
        anyone else's view is refused as taken. Raises Forbidden, Conflict, NotFound, MetadataError."""
        require_own_view_rights(actor, api_name)
        if not isinstance(view, dict):
            raise MetadataError([("list_views", "must be an object")])
        item = dict(view, shared=False, owner_id=actor.user_id)

        def mutate(doc):
            items = doc.setdefault("list_views", [])
            at = next((i for i, x in enumerate(items) if x.get("name") == item.get("name")), None)
            if at is not None and not (replace and owns(items[at], actor)):
                raise Conflict("metadata.E049", f"There is already a list view named '{item.get('name')}'.",
                               fields={"name": ["already exists"]})
            if at is None and replace:
                raise NotFound("metadata.E046", f"Unknown list view '{item.get('name')}'.")
            if at is None:
                items.append(item)
            else:
                items[at] = item
            return doc
        return self.change(api_name, mutate, actor=actor, action="set_list_views", _own_view=True,
                           summary=f"{'changed' if replace else 'added'} private list view '{item.get('name')}'")

    def remove_own_list_view(self, api_name, name, actor):
        """Delete ``actor``'s private list view ``name`` (another's, or a shared one: NotFound)."""
        require_own_view_rights(actor, api_name)

        def mutate(doc):
            items = doc.get("list_views") or []
            keep = [x for x in items if not (x.get("name") == name and owns(x, actor))]
            if len(keep) == len(items):
                raise NotFound("metadata.E046", f"Unknown list view '{name}'.")
            doc["list_views"] = keep
            return doc
        return self.change(api_name, mutate, actor=actor, action="remove_list_views", _own_view=True,
                           summary=f"removed private list view '{name}'")

    def rollback(self, api_name, version, actor):
        """Make an earlier version's definition current again (as a new version).

        Fields that the old version had and that were deleted since come back with
        their archived data; fields added since are archived.
        """
        hist = self.history(api_name)
        target = next((h for h in hist if h["version"] == version), None)
        if target is None or target["doc"] is None:
            raise NotFound("metadata.E048", f"Object '{api_name}' has no version {version}.")
        doc = target["doc"]
        names = tuple(f["api_name"] for f in doc.get("fields", []))
        return self.change(api_name, lambda _d: copy.deepcopy(doc), actor=actor, action="rollback",
                           summary=f"rolled back to version {version}", restore_fields=names)


def _count():
    from sqlalchemy import func
    return func.count()


def _text_of(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def _first_message(exc):
    msgs = exc.messages
    while isinstance(msgs, (list, dict)):
        msgs = next(iter(msgs.values())) if isinstance(msgs, dict) else (msgs[0] if msgs else "")
    return str(msgs)


def _find_field(doc, api_name, field_name):
    for fdoc in doc.get("fields", []):
        if fdoc.get("api_name") == field_name:
            return fdoc
    names = [f.get("api_name") for f in doc.get("fields", [])]
    raise NotFound("metadata.E042", f"Unknown field '{field_name}' on '{api_name}'{suggest(field_name, names)}.")


__all__ = ["MetadataStore", "load_docs", "current_version", "build_field_def"]
