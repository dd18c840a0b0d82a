"""OpenAPI 3.1 document generated from the current metadata, as one reader sees it.

Every ``/api/v1`` route is described (``tests/api/test_openapi.py`` walks the URL map), and
each parameter and body says what the server really accepts: the metadata bodies come from the
JSON Schemas in ``engine/metadata/schemas``, record bodies from each field's validators, query
parameters from the rules of the list endpoint. What JSON Schema cannot say — a ``where=``
formula's grammar and types, a cursor made for another query, a lookup naming a record that does
not exist — is in the descriptions and answered with 400 or 422.

An administrator sees every object. Anyone else sees the objects they may read, without the
fields hidden from them, with the fields they may only read left out of the request bodies.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

from flask import current_app, g, jsonify

from engine import __version__

from . import api, svc
from .openapi_admin import _metadata_paths, _platform_paths, metadata_schemas
from .openapi_schema import ERROR, _record_paths, _refuse_nul

# Route modules that describe their own endpoints with ``openapi_paths(objects)`` (``objects``:
# the object names the reader may read, for per-object record routes) and ``openapi_schemas()``.
SELF_DESCRIBED = ("workflow", "approvals", "reports", "packs")


class ReaderScope:
    """What one reader may see of the metadata: objects, hidden and read-only fields."""

    def __init__(self, snapshot, actor, hidden_of):
        plan = actor.plan
        self.is_admin = bool(plan.is_admin)
        self.objects = [n for n in sorted(snapshot.objects) if plan.can(n, "read")]
        self.hidden = {n: frozenset(hidden_of(snapshot.objects[n])) for n in self.objects}
        self.read_only = {n: frozenset(f for f, level in (plan.fields.get(n) or {}).items() if level != "edit")
                          if not self.is_admin else frozenset() for n in self.objects}
        self.can = {n: {r: plan.can(n, r) for r in ("create", "edit", "delete", "modify_all")} for n in self.objects}

    def key(self):
        return (self.is_admin, tuple((n, tuple(sorted(self.hidden[n])), tuple(sorted(self.read_only[n])),
                                      tuple(sorted(self.can[n].items()))) for n in self.objects))


def reader_scope(snapshot=None, actor=None):
    """The :class:`ReaderScope` of the current request's reader."""
    snapshot = snapshot if snapshot is not None else g.snapshot
    actor = actor if actor is not None else g.actor
    records = svc().records(snapshot)
    return ReaderScope(snapshot, actor, lambda rt: records.hidden_fields(rt, actor))


class _DocCache:
    """Built documents per (metadata version, reader scope); bounded, shared by threads."""

    def __init__(self, size=64):
        self._data = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key, build):
        with self._lock:
            doc = self._data.get(key)
            if doc is not None:
                self._data.move_to_end(key)
                return doc
        doc = build()
        with self._lock:
            self._data[key] = doc
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return doc


@api.get("/openapi.json")
def openapi_document():
    scope = reader_scope()
    cache = current_app.extensions.setdefault("tessera.openapi", _DocCache())
    config = svc().config
    doc = cache.get((g.snapshot.version, scope.key()),
                    lambda: build_openapi(g.snapshot, scope, max_page_size=config.max_page_size))
    return jsonify(doc)


# ---------------------------------------------------------------------------
# The document

# ---------------------------------------------------------------------------

def build_openapi(snapshot, scope, *, max_page_size=200):
    """The OpenAPI 3.1 document of ``snapshot`` as the reader of ``scope`` sees it."""
    schemas = {"Error": ERROR}
    schemas.update(metadata_schemas())
    paths = {}
    for name in scope.objects:
        rt = snapshot.objects[name]
        object_paths, object_schemas = _record_paths(rt, scope, max_page_size)
        paths.update(object_paths)
        schemas.update(object_schemas)
    paths.update(_metadata_paths())
    paths.update(_platform_paths())
    for module in _self_described():
        paths.update(module.openapi_paths(scope.objects))
        schemas.update(module.openapi_schemas())
    return _refuse_nul({
        "openapi": "3.1.0",
        "info": {"title": "Tessera API", "version": __version__,
                 "description": f"Generated from metadata version {snapshot.version}"
                                + ("." if scope.is_admin else ", showing what the reader may see.")},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    })


def _self_described():
    """The loaded route modules of SELF_DESCRIBED that describe themselves (register_api loads them)."""
    modules = (sys.modules.get(f"{__package__}.{name}") for name in SELF_DESCRIBED)
    return [m for m in modules if m is not None and hasattr(m, "openapi_paths") and hasattr(m, "openapi_schemas")]

