"""The packs' own tables: which packs are installed, and who owns each element.

``tessera_packs`` holds one row per installed pack (its version, its pack.yaml and where it came
from). ``tessera_pack_elements`` holds one row per element a pack installed — an object, a field,
a picklist option, a layout, a list view, a validation rule, an automation rule, an approval
process, a role, a permission set, a sharing rule, a sample record — with the version that
installed it and its definition *as the pack wrote it*. That definition is the baseline: what an
administrator changed since is the difference between the live metadata and it (see
``engine/packs/merge.py``), so an admin's own work is never confused with the pack's.
"""
from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text

packs_metadata = MetaData()

installed_packs = Table(
    "tessera_packs", packs_metadata,
    Column("name", String(64), primary_key=True),
    Column("version", String(40), nullable=False),
    Column("manifest", Text, nullable=False),          # pack.yaml as installed (JSON)
    Column("source", String(400), nullable=False),     # builtin | entry point | the --path folder
    Column("with_data", String(5), nullable=False, default="false"),
    Column("installed_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("installed_by", String(36), nullable=True, index=True),
)

pack_elements = Table(
    "tessera_pack_elements", packs_metadata,
    Column("kind", String(32), primary_key=True),      # object | field | option | layout | ... | record
    Column("key", String(300), primary_key=True),      # account, account.industry, account.industry:Energy
    Column("pack", String(64), nullable=False),
    Column("version", String(40), nullable=False),
    Column("object", String(64), nullable=True),       # the object it lives on (None: roles, permission sets)
    Column("definition", Text, nullable=False),        # JSON: the element as the pack defined it
    Index("ix_tessera_pack_elements_pack", "pack"),
    Index("ix_tessera_pack_elements_object", "object"),
)


def create_tables(engine):
    """Create the packs' tables (idempotent)."""
    with engine.begin() as conn:
        packs_metadata.create_all(conn)
