"""Frozen definitions compiled from metadata documents.

``ObjectDef`` and ``FieldDef`` are read-only views of a validated object document;
the document (a plain dict) stays the source of truth and is what the store keeps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from engine.metadata.system_fields import SYSTEM_FIELDS  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class FieldDef:
    api_name: str
    label: str
    type: str
    required: bool = False
    unique: bool = False
    filterable: bool = False
    track_history: bool = False
    column: str | None = None          # physical column; None for computed fields
    doc: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def get(self, key, default=None):
        return self.doc.get(key, default)

    @property
    def options(self):
        return [o["value"] for o in self.doc.get("options") or []]

    @property
    def target(self):
        return self.doc.get("target")


@dataclass(frozen=True)
class ValidationRuleDef:
    name: str
    condition: str
    message: str
    field: str | None = None
    active: bool = True


@dataclass(frozen=True)
class ObjectDef:
    api_name: str
    label: str
    plural_label: str
    table_name: str
    version: int
    fields: tuple            # tuple[FieldDef] (user fields, in document order)
    validation_rules: tuple = ()
    sharing: str = "public_read_write"
    doc: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def field(self, api_name):
        for f in self.fields:
            if f.api_name == api_name:
                return f
        return None

    @property
    def field_map(self):
        return {f.api_name: f for f in self.fields}


def table_name_for(api_name):
    return f"obj_{api_name}"


def build_field_def(doc):
    from engine.metadata.field_types import field_types

    ftype = field_types.get(doc["type"])
    return FieldDef(
        api_name=doc["api_name"],
        label=doc.get("label") or doc["api_name"].replace("_", " ").title(),
        type=doc["type"],
        required=bool(doc.get("required", False)),
        unique=bool(doc.get("unique", False)),
        filterable=bool(doc.get("filterable", False)),
        track_history=bool(doc.get("track_history", False)),
        column=doc.get("column") or doc["api_name"] if ftype.stored else None,
        doc=MappingProxyType(dict(doc)),
    )


def build_object_def(doc, version=1, table_name=None):
    """Build an ``ObjectDef`` from a validated object document."""
    fields = tuple(build_field_def(f) for f in doc.get("fields", []))
    rules = tuple(
        ValidationRuleDef(name=r["name"], condition=r["condition"], message=r["message"],
                          field=r.get("field"), active=r.get("active", True))
        for r in doc.get("validation_rules", []))
    return ObjectDef(
        api_name=doc["api_name"],
        label=doc.get("label") or doc["api_name"].replace("_", " ").title(),
        plural_label=doc.get("plural_label") or (doc.get("label") or doc["api_name"].title()) + "s",
        table_name=table_name or table_name_for(doc["api_name"]),
        version=version,
        fields=fields,
        validation_rules=rules,
        sharing=doc.get("sharing", "public_read_write"),
        doc=MappingProxyType(dict(doc)),
    )
