"""The nine system fields every record carries, declared once.

Everything else is derived from :data:`SYSTEM_FIELD_DEFS`: the DDL's columns, the formula types,
the filter parser's types, the JSON Schema of records in the OpenAPI document, the description
``GET /objects/<o>`` gives, and which of them a client may write.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemField:
    api_name: str
    label: str
    kind: str                 # id | text | user | datetime | integer
    nullable: bool = True
    writable: bool = False    # a client may send it
    max_length: int | None = None

    @property
    def formula_type(self):
        return {"datetime": "datetime", "integer": "number"}.get(self.kind, "text")

    @property
    def filter_type(self):
        return {"datetime": "datetime", "integer": "integer"}.get(self.kind, "text")

    def column(self):
        """A new SQLAlchemy ``Column`` for this field (one per table)."""
        from sqlalchemy import Column, Integer, String

        from engine.metadata.field_types.scalar import UTCDateTime

        if self.kind == "id":
            return Column(self.api_name, String(36), primary_key=True)
        type_ = {"text": String(self.max_length or 255), "user": String(36), "datetime": UTCDateTime(),
                 "integer": Integer}[self.kind]
        kwargs = {"default": 1} if self.kind == "integer" else {}
        return Column(self.api_name, type_, nullable=self.nullable, **kwargs)

    def describe(self):
        """The field as ``GET /objects/<o>`` lists it under ``system_fields``."""
        doc = {"api_name": self.api_name, "label": self.label,
               "type": {"id": "text", "user": "lookup", "integer": "integer"}.get(self.kind, self.kind),
               "system": True}
        if self.kind == "user":
            doc["target"] = "user"
        if self.max_length:
            doc["max_length"] = self.max_length
        if not self.writable:
            doc["read_only"] = True
        return doc


SYSTEM_FIELD_DEFS = (
    SystemField("id", "Record ID", "id", nullable=False),
    SystemField("name", "Name", "text", writable=True, max_length=255),
    SystemField("owner_id", "Owner", "user", writable=True),
    SystemField("created_at", "Created at", "datetime", nullable=False),
    SystemField("created_by", "Created by", "user"),
    SystemField("updated_at", "Updated at", "datetime", nullable=False),
    SystemField("updated_by", "Updated by", "user"),
    SystemField("row_version", "Version", "integer", nullable=False),
    SystemField("deleted_at", "Deleted at", "datetime"),
)

SYSTEM_FIELDS = tuple(f.api_name for f in SYSTEM_FIELD_DEFS)
WRITABLE_SYSTEM_FIELDS = tuple(f.api_name for f in SYSTEM_FIELD_DEFS if f.writable)
SYSTEM_FORMULA_TYPES = {f.api_name: f.formula_type for f in SYSTEM_FIELD_DEFS}
SYSTEM_FILTER_TYPES = {f.api_name: f.filter_type for f in SYSTEM_FIELD_DEFS}
