"""Report, dashboard, segment and RFM-model documents: checked, versioned, owned, packable.

Each kind is a :class:`DocumentStore` over the table ``tessera_rpt_documents`` (the current
version of each document) and ``tessera_rpt_history`` (every version, with its author), written
in one transaction. A document is checked before it is stored — its JSON Schema, then the
kind's semantic check run *as the saving user* (every field, path and formula resolved against
what they may see; formulas with line and column) — and every problem is reported at once
(``reports.E001``).

Rights: anyone signed in (not with a read-only token) may create a document; its creator owns
it; administrators and the owner may change or delete it. A document marked ``private`` is seen
by its owner and administrators only; reports and segments are listed to those who may read
their object. RFM models are administrators' only.

Packs: :meth:`DocumentStore.export` gives plain JSON documents, :meth:`DocumentStore.import_docs`
stores them (created or replaced, history action ``import``) after the same checks.
"""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import jsonschema
from sqlalchemy import bindparam, delete, func, insert, select, update

from engine.db import RFM_MODELS, read_connection, utcnow
from engine.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from engine.metadata.checks import _schema_problems, suggest
from engine.metadata.store import note_rows

from .errors import ReportDefinitionError
from .tables import documents, history

KINDS = {"report": ("report", "reports"), "dashboard": ("dashboard", "dashboards"),
         "segment": ("segment", "segments"), "rfm_model": ("RFM model", "RFM models")}


@lru_cache(maxsize=None)
def load_schema(kind):
    text = resources.files("engine.reports").joinpath("schemas").joinpath(f"{kind}.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=None)
def _validator(kind):
    schema = load_schema(kind)
    return jsonschema.validators.validator_for(schema)(schema)


def schema_problems(kind, doc):
    """JSON Schema problems of ``doc`` as ``(path, message)`` with paths relative to the document."""
    if not isinstance(doc, dict):
        return [(None, f"a {KINDS[kind][0]} must be a JSON object")]
    out = []
    for path, message in _schema_problems(_validator(kind), doc, ""):
        if "is not valid under any of the given schemas" in message or "is valid under each of" in message:
            message = "needs exactly one of 'field', 'bucket' or 'formula'" if ".group_by[" in path else \
                "has conflicting keys"
        elif "should not be valid under" in message:
            message = "takes either 'field' or 'formula', not both" if ".aggregates[" in path else \
                "takes either 'below' or 'values', not both"
        out.append((path.lstrip(".") or None, message))
    return out


class DocumentStore:
    """One kind of document (see the module docstring). ``check(doc, actor) -> [(path, message)]``
    is the kind's semantic check; ``admin_only``: only administrators may write."""

    def __init__(self, engine, kind, check, *, admin_only=False, object_key="object"):
        self.engine, self.kind, self.check = engine, kind, check
        self.admin_only, self.object_key = admin_only, object_key
        self.singular, self.plural = KINDS[kind]

    # -- reading ---------------------------------------------------------------------------------
    def _visible(self, row, actor):
        if actor.is_admin:
            return True
        if row.private and row.owner_id != actor.user_id:
            return False
        return row.object is None or actor.plan.can(row.object, "read")

    def _row(self, conn, name):
        return conn.execute(select(documents).where(documents.c.kind == self.kind,
                                                    documents.c.name == name)).first()

    def _unknown(self, name, conn, actor):
        names = [r.name for r in conn.execute(select(documents).where(documents.c.kind == self.kind))
                 if self._visible(r, actor)]
        return NotFoundError("reports.E082", f"Unknown {self.singular} '{str(name)[:64]}'{suggest(name, names)}.")

    def get(self, name, actor):
        """The document ``name`` as stored (with ``_meta``: version, owner, times), if ``actor`` may see it."""
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            row = self._row(conn, name)
            if row is None or not self._visible(row, actor):
                raise self._unknown(name, conn, actor)
        return self._out(row)

    def find(self, name):
        """The stored document ``name`` or None, whoever asks (internal use: IN_SEGMENT, dashboards)."""
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            row = self._row(conn, name)
        return None if row is None else self._out(row)

    @staticmethod
    def _out(row):
        doc = json.loads(row.doc)
        doc["_meta"] = {"version": row.version, "owner_id": row.owner_id, "private": row.private,
                        "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
                        "updated_by": row.updated_by}
        return doc

    def list(self, actor, *, object_name=None):
        """Summaries of the documents ``actor`` may see, by name."""
        with read_connection(self.engine) as conn:
            rows = [r for r in conn.execute(_list_query(bool(object_name)), {"kind": self.kind, "object": object_name})
                    if self._visible(r, actor)]
        out = []
        for r in rows:
            doc = json.loads(r.doc)
            item = {"name": r.name, "label": r.label, "version": r.version, "owner_id": r.owner_id,
                    "private": r.private, "updated_at": _iso(r.updated_at)}
            if r.object is not None:
                item["object"] = r.object
            for key in ("folder", "description", "label_i18n", "description_i18n"):
                if doc.get(key):
                    item[key] = doc[key]
            if self.kind == "report":
                item["summary"] = bool(doc.get("group_by"))
                if doc.get("chart"):
                    item["chart"] = doc["chart"]["type"]
            out.append(item)
        return out

    def history(self, name, actor):
        """Every stored version of ``name``, oldest first."""
        self.get(name, actor)
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            rows = conn.execute(select(history).where(history.c.kind == self.kind, history.c.name == name)
                                .order_by(history.c.version)).all()
        return [{"version": r.version, "action": r.action, "author_id": r.author_id,
                 "created_at": _iso(r.created_at), "doc": json.loads(r.doc) if r.doc else None} for r in rows]

    # -- writing ------------------------------------------------------------------------------------
    def _may_write(self, actor, row=None, verb="create"):
        if actor.read_only:
            raise PermissionDeniedError("security.E030", "This token is read-only.")
        if self.admin_only and not actor.is_admin:
            raise PermissionDeniedError("reports.E080", f"Only administrators may {verb} {self.plural}.")
        if row is not None and not actor.is_admin and row.owner_id != actor.user_id:
            raise PermissionDeniedError("reports.E081", f"Only administrators and its owner may {verb} "
                                        f"{self.singular} '{row.name}'.")

    def validate(self, doc, actor):
        """Raise ``reports.E001`` with every problem of ``doc`` (JSON Schema, then semantics as ``actor``)."""
        problems = schema_problems(self.kind, doc)
        if problems:
            raise ReportDefinitionError(problems)
        self.check(doc, actor)   # raises ReportDefinitionError itself (with line and column)

    def create(self, doc, actor):
        """Store a new document owned by ``actor``; 409 when the name is taken."""
        self._may_write(actor)
        doc = _clean(doc)
        self.validate(doc, actor)
        return self._write(doc, actor, "create", must_exist=False)

    def update(self, name, patch, actor):
        """Change some keys of ``name`` (``null`` removes a key); the name cannot change."""
        if not isinstance(patch, dict):
            raise ReportDefinitionError([(None, f"a {self.singular} change must be a JSON object")])
        with self.engine.connect() as conn:
            row = self._row(conn, name)
            if row is None or not self._visible(row, actor):
                raise self._unknown(name, conn, actor)
        self._may_write(actor, row, "change")
        if "name" in patch and patch["name"] != name:
            raise InvalidRequestError("reports.E002", f"A {self.singular} cannot be renamed ('{name}' to "
                                      f"'{str(patch['name'])[:64]}'); create a copy under the new name instead.",
                                      fields={"name": ["cannot change"]})
        doc = json.loads(row.doc)
        for key, value in _clean(patch).items():
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        doc["name"] = name
        self.validate(doc, actor)
        return self._write(doc, actor, "update", must_exist=True, expect_version=row.version)

    def replace(self, doc, actor, action="import"):
        """Create or replace a whole document (packs); the owner of a replaced one stays."""
        doc = _clean(doc)
        self._may_write(actor)
        self.validate(doc, actor)
        return self._write(doc, actor, action, must_exist=None)

    def delete(self, name, actor):
        with self.engine.begin() as conn:
            row = self._row(conn, name)
            if row is None or not self._visible(row, actor):
                raise self._unknown(name, conn, actor)
            self._may_write(actor, row, "delete")
            conn.execute(delete(documents).where(documents.c.kind == self.kind, documents.c.name == name))
            conn.execute(insert(history).values(kind=self.kind, name=name, version=row.version + 1, action="delete",
                                                doc=None, author_id=actor.user_id, created_at=utcnow()))

    def _write(self, doc, actor, action, *, must_exist, expect_version=None):
        name = doc["name"]
        now = utcnow()
        with self.engine.begin() as conn:
            row = self._row(conn, name)
            if must_exist is False and row is not None:
                raise ConflictError("reports.E083", f"There is already a {self.singular} named '{name}'.",
                                    fields={"name": ["already exists"]})
            if row is not None and expect_version is not None and row.version != expect_version:
                raise ConflictError("reports.E084", f"The {self.singular} '{name}' was changed meanwhile; "
                                    "load it again and repeat the change.")
            if row is None and must_exist:
                raise NotFoundError("reports.E082", f"Unknown {self.singular} '{name}'.")
            last = conn.execute(select(func.max(history.c.version)).where(
                history.c.kind == self.kind, history.c.name == name)).scalar()
            version = (last or 0) + 1
            values = dict(label=doc.get("label") or name, object=doc.get(self.object_key) if self.object_key else None,
                          private=bool(doc.get("private")), version=version, doc=json.dumps(doc),
                          updated_at=now, updated_by=actor.user_id)
            if self.kind == "rfm_model" and values["object"]:   # a record page of the object shows its scores
                note_rows(conn, None, (values["object"],), RFM_MODELS)
            if row is None:
                conn.execute(insert(documents).values(kind=self.kind, name=name, owner_id=actor.user_id,
                                                      created_at=now, **values))
            else:
                conn.execute(update(documents).where(documents.c.kind == self.kind, documents.c.name == name)
                             .values(**values))
            conn.execute(insert(history).values(kind=self.kind, name=name, version=version, action=action,
                                                doc=json.dumps(doc), author_id=actor.user_id, created_at=now))
            row = self._row(conn, name)
        return self._out(row)

    # -- packs ------------------------------------------------------------------------------------------
    def export(self, name=None):
        """Plain JSON documents (no owner, no version) for a pack: one by name, or all of this kind."""
        q = select(documents).where(documents.c.kind == self.kind).order_by(documents.c.name)
        if name is not None:
            q = q.where(documents.c.name == name)
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            rows = conn.execute(q).all()
        if name is not None and not rows:
            raise NotFoundError("reports.E082", f"Unknown {self.singular} '{name}'.")
        docs = [json.loads(r.doc) for r in rows]
        return docs[0] if name is not None else docs

    def import_docs(self, docs, actor):
        """Store plain JSON documents (created or replaced), each checked as ``actor`` would save it.
        Every problem of every document is collected before anything is stored."""
        problems = []
        for i, doc in enumerate(docs):
            try:
                self.validate(_clean(doc), actor)
            except ReportDefinitionError as exc:
                label = doc.get("name") if isinstance(doc, dict) else i
                problems += [(f"{self.plural}[{label}]" + (f".{p}" if p else ""), m) for p, m in exc.problems]
        if problems:
            raise ReportDefinitionError(problems)
        return [self._write(_clean(doc), actor, "import", must_exist=None) for doc in docs]


def _clean(doc):
    """A copy without ``_meta``, numbers as JSON numbers (the API reads fractions as Decimal)."""
    doc = _plain(doc) if isinstance(doc, dict) else doc
    if isinstance(doc, dict):
        doc.pop("_meta", None)
    return doc


def _plain(value, depth=0):
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() and abs(value) < 2 ** 63 else float(value)
    if depth > 50:
        return value
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    return copy.copy(value)


def _iso(value):
    from .fields import json_value
    return json_value(value)


@lru_cache(maxsize=None)
def _list_query(by_object):
    """The statement of ``list`` (binds: kind, object), built once (a record page runs it)."""
    q = select(documents).where(documents.c.kind == bindparam("kind"))
    if by_object:
        q = q.where(documents.c.object == bindparam("object"))
    return q.order_by(documents.c.name)
