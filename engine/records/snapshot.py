"""One compiled, read-only snapshot per metadata version.

A snapshot holds, for every object, its ``ObjectDef``, SQLAlchemy ``Table``, generated
marshmallow schema, per-field converters and compiled formulas. Every request of that version
shares it; nothing is copied or re-read per request. ``SnapshotCache.get(version)`` rebuilds
only when the global metadata version changed (checked once per request). The caches inside
(``criteria_cache``, ``filter_fields``, ``reader_views``, ``statements``, ``list_plans``) only ever gain
entries that are a pure function of the version and their key (``list_plans``: bounded, the oldest
dropped), so request threads may fill them without a lock.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, missing, validate
from marshmallow import fields as mf
from sqlalchemy import MetaData

from engine.metadata.ddl import build_table, unique_index_map
from engine.metadata.field_types import field_types
from engine.metadata.model import build_object_def
from engine.metadata.store import current_version, load_docs, load_features

from .formulas import compile_object_formulas
from .rollups import index_rollups


@dataclass
class ObjectRuntime:
    """Everything compiled for one object of one metadata version."""

    odef: object
    table: object
    schema: Schema
    writable: dict                  # api_name -> FieldDef of client-writable fields
    stored: dict                    # api_name -> FieldDef of fields with a column
    ftypes: dict                    # api_name -> FieldType
    unique_indexes: dict            # index name -> field api_name
    json_out: list                  # [(api_name, column, converter(value) or None, FieldDef)]
    children: list = field(default_factory=list)   # [(child ObjectRuntime name, FieldDef)] lookups in
    formulas: object = None                        # formulas.ObjectFormulas (or BrokenFormulas)
    criteria_cache: dict = field(default_factory=dict)   # sharing-rule criteria source -> compiled
    filter_fields: dict = field(default_factory=dict)    # field -> marshmallow field for filters
    statements: dict = field(default_factory=dict)       # key -> statement with bind parameters, built once
    list_plans: dict = field(default_factory=dict)       # list pages planned (reader.RecordReader._list_plan)
    loader: object = None                          # fast_loader(schema) or None: the schema's load, lean
    json_blanks: tuple = ()                        # ((api_name, make()), ...) JSON of a stored NULL, when not null
    formula_columns: tuple = None                  # ((name, column), ...) of a formula record, built on first use

    @property
    def name(self):
        return self.odef.api_name

    def field(self, api_name):
        return self.odef.field(api_name)


@dataclass
class Snapshot:
    version: int
    objects: dict
    metadata: MetaData
    rollups_by_child: dict = field(default_factory=dict)   # child object -> [(parent rt, FieldDef)]
    reader_views: dict = field(default_factory=dict)       # hidden-field set -> field_security.ReaderView
    documents: dict = field(default_factory=dict)          # built from this snapshot, by key (pages: navigation)
    features: frozenset = None     # {(object, feature)} that have rows (engine.db.object_features); None: unknown

    def get(self, api_name):
        return self.objects.get(api_name)

    def has_rows(self, api_name, feature):
        """False only when no row of ``feature`` (``engine.db.FEATURE_TABLES``) exists for the object
        as of this version: the writers flag an object with its first row and bump the version."""
        return self.features is None or (api_name, feature) in self.features

    def has_any(self, feature):
        """False only when no object has rows of ``feature`` as of this version (see :meth:`has_rows`)."""
        return self.features is None or any(f == feature for _o, f in self.features)


def _schema_for(odef, writable):
    fields = {name: field_types.get(f.type).marshmallow_field(f) for name, f in writable.items()}
    from marshmallow import fields as mf
    from marshmallow import validate
    fields["name"] = mf.String(allow_none=True, validate=validate.Length(max=255))
    fields["owner_id"] = mf.String(allow_none=False, validate=validate.Length(min=1, max=36))
    cls = Schema.from_dict(fields, name=f"{odef.api_name}_v{odef.version}")
    return cls(unknown=EXCLUDE)


def fast_loader(schema):
    """``load(data, partial) -> dict`` doing what ``schema.load`` does for a schema made by
    :func:`_schema_for`, in the schema's field order, unknown keys left out, without marshmallow's
    per-record and per-field machinery: each field's value goes through a converter made once per
    version (:func:`_fast_field`: the field's own ``_deserialize`` and validators, the common ones
    inlined). It raises on anything it does not accept as valid: the caller then runs
    ``schema.load`` itself, whose errors (every field, exact messages) are the answer. None when
    the schema has anything this does not mirror (hooks, data keys, attributes)."""
    if any(schema._hooks.values()) or schema.unknown != EXCLUDE or schema.many:
        return None
    fields = tuple(schema.load_fields.items())
    if any(f.data_key is not None or f.attribute is not None or getattr(f, "pre_load", None)
           or getattr(f, "post_load", None) for _n, f in fields):
        return None
    plan = tuple((name, _fast_field(name, fld), not fld.required and fld.load_default is missing, fld)
                 for name, fld in fields)

    def load(data, partial):
        out = {}
        get = data.get
        for name, conv, skip_missing, fld in plan:
            raw = get(name, missing)
            if raw is missing:
                if partial is True or skip_missing:
                    continue
                value = fld.deserialize(raw, name, data, partial=partial)
                if value is not missing:
                    out[name] = value
                continue
            out[name] = conv(raw, data, partial)
        return out
    return load


class _Slow(Exception):
    """A value the fast converter leaves to marshmallow (invalid, or of a kind it does not know)."""


def _fast_field(name, fld):
    """``conv(value, data, partial)``: what ``fld.deserialize(value)`` returns for a present value,
    or raises (``_Slow`` or the field's own error) where marshmallow would report or might differ."""
    allow_none, deserialize = fld.allow_none, fld._deserialize
    kind = "text" if type(fld) is mf.String else "bool" if type(fld) is mf.Boolean else "field"
    min_len = max_len = choices = None
    others = []
    for v in fld.validators:
        if type(v) is validate.Length and v.equal is None and min_len is None and max_len is None:
            min_len, max_len = v.min, v.max
        elif type(v) is validate.OneOf and choices is None and all(type(c) is str for c in v.choices):
            choices = frozenset(v.choices)
        else:
            others.append(v)

    def conv(value, data, partial):
        if value is None:
            if allow_none:
                return None
            raise _Slow
        if kind == "text":
            if value.__class__ is not str:
                raise _Slow
            out = value
        elif kind == "bool" and (value is True or value is False):
            out = value
        else:
            out = deserialize(value, name, data, partial=partial)
        if min_len is not None or max_len is not None:
            size = len(out)
            if (min_len is not None and size < min_len) or (max_len is not None and size > max_len):
                raise _Slow
        if choices is not None and (out.__class__ is not str or out not in choices):
            raise _Slow
        for v in others:
            v(out)
        return out
    return conv


def build_snapshot(conn):
    version = current_version(conn)
    rows = load_docs(conn)
    features = load_features(conn)   # after the version: see load_features
    md = MetaData()
    table_names = {k: v["table_name"] for k, v in rows.items()}
    odefs = {k: build_object_def(v["doc"], v["version"], v["table_name"]) for k, v in rows.items()}
    objects = {}
    for name in sorted(odefs, key=lambda n: _depth(n, odefs)):
        odef = odefs[name]
        table = build_table(odef, md, table_names)
        writable, stored, ftypes, out, blanks = {}, {}, {}, [], []
        for f in odef.fields:
            ft = field_types.get(f.type)
            ftypes[f.api_name] = ft
            if ft.writable:
                writable[f.api_name] = f
            if f.column:
                stored[f.api_name] = f
                conv = ft.json_converter(f)   # built once per version; None: the value as it is
                out.append((f.api_name, f.column, conv, f))
                if ft.json_blank is not None:     # a multi-select picklist reads [] when empty
                    blanks.append((f.api_name, ft.json_blank))
        schema = _schema_for(odef, writable)
        objects[name] = ObjectRuntime(odef=odef, table=table, schema=schema,
                                      writable=writable, stored=stored, ftypes=ftypes,
                                      unique_indexes=unique_index_map(odef), json_out=out,
                                      loader=fast_loader(schema), json_blanks=tuple(blanks))
    for rt in objects.values():
        for f in rt.odef.fields:
            if f.target and f.target in objects:
                objects[f.target].children.append((rt.name, f))
    snap = Snapshot(version=version, objects=objects, metadata=md, features=features)
    compile_object_formulas(snap)
    snap.rollups_by_child = index_rollups(snap)
    return snap


def _depth(name, odefs, seen=()):
    """Order objects so that lookup targets are built before the objects pointing at them."""
    if name in seen:
        return 0
    deps = [f.target for f in odefs[name].fields if f.target and f.target in odefs and f.target != name]
    return 1 + max((_depth(d, odefs, seen + (name,)) for d in deps), default=0)


class SnapshotCache:
    """Per-process cache of the current snapshot; rebuilt when the version moves."""

    def __init__(self, engine):
        self.engine = engine
        self._snap = None
        self._lock = threading.Lock()

    def get(self, version=None):
        snap = self._snap
        if snap is not None and (version is None or snap.version == version):
            return snap
        with self._lock:
            snap = self._snap
            if snap is not None and version is not None and snap.version == version:
                return snap
            with self.engine.connect() as conn:
                snap = build_snapshot(conn)
            self._snap = snap
            return snap

    def refresh(self):
        with self.engine.connect() as conn:
            v = current_version(conn)
        return self.get(v)

