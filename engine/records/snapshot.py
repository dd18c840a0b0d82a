"""One compiled, read-only snapshot per metadata version.

A snapshot holds, for every object, its ``ObjectDef``, SQLAlchemy ``Table``, generated
marshmallow schema, per-field converters and compiled formulas. Every request of that version
shares it; nothing is copied or re-read per request. ``SnapshotCache.get(version)`` rebuilds
only when the global metadata version changed (checked once per request). The caches inside
(``criteria_cache``, ``filter_fields``, ``reader_views``) only ever gain entries that are a pure
function of the version, so request threads may fill them without a lock.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema
from sqlalchemy import MetaData

from engine.metadata.ddl import build_table, unique_index_map
from engine.metadata.field_types import field_types
from engine.metadata.model import build_object_def
from engine.metadata.store import current_version, load_docs

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
    json_out: list                  # [(api_name, column, converter or None)]
    children: list = field(default_factory=list)   # [(child ObjectRuntime name, FieldDef)] lookups in
    formulas: object = None                        # formulas.ObjectFormulas (or BrokenFormulas)
    criteria_cache: dict = field(default_factory=dict)   # sharing-rule criteria source -> compiled
    filter_fields: dict = field(default_factory=dict)    # field -> marshmallow field for filters
    statements: dict = field(default_factory=dict)       # key -> statement with bind parameters, built once

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

    def get(self, api_name):
        return self.objects.get(api_name)


def _schema_for(odef, writable):
    fields = {name: field_types.get(f.type).marshmallow_field(f) for name, f in writable.items()}
    from marshmallow import fields as mf
    from marshmallow import validate
    fields["name"] = mf.String(allow_none=True, validate=validate.Length(max=255))
    fields["owner_id"] = mf.String(allow_none=False, validate=validate.Length(min=1, max=36))
    cls = Schema.from_dict(fields, name=f"{odef.api_name}_v{odef.version}")
    return cls(unknown=EXCLUDE)


def build_snapshot(conn):
    version = current_version(conn)
    rows = load_docs(conn)
    md = MetaData()
    table_names = {k: v["table_name"] for k, v in rows.items()}
    odefs = {k: build_object_def(v["doc"], v["version"], v["table_name"]) for k, v in rows.items()}
    objects = {}
    for name in sorted(odefs, key=lambda n: _depth(n, odefs)):
        odef = odefs[name]
        table = build_table(odef, md, table_names)
        writable, stored, ftypes, out = {}, {}, {}, []
        for f in odef.fields:
            ft = field_types.get(f.type)
            ftypes[f.api_name] = ft
            if ft.writable:
                writable[f.api_name] = f
            if f.column:
                stored[f.api_name] = f
                conv = None if type(ft).to_json is _identity_to_json else ft.to_json
                out.append((f.api_name, f.column, conv, f))
        objects[name] = ObjectRuntime(odef=odef, table=table, schema=_schema_for(odef, writable),
                                      writable=writable, stored=stored, ftypes=ftypes,
                                      unique_indexes=unique_index_map(odef), json_out=out)
    for rt in objects.values():
        for f in rt.odef.fields:
            if f.target and f.target in objects:
                objects[f.target].children.append((rt.name, f))
    snap = Snapshot(version=version, objects=objects, metadata=md)
    compile_object_formulas(snap)
    snap.rollups_by_child = index_rollups(snap)
    return snap


def _depth(name, odefs, seen=()):
    """Order objects so that lookup targets are built before the objects pointing at them."""
    if name in seen:
        return 0
    deps = [f.target for f in odefs[name].fields if f.target and f.target in odefs and f.target != name]
    return 1 + max((_depth(d, odefs, seen + (name,)) for d in deps), default=0)


from engine.metadata.field_types.base import FieldType as _FT  # noqa: E402

_identity_to_json = _FT.to_json   # field types that do not override to_json need no conversion


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

