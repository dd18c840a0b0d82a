"""The reports subsystem's own tables: report, dashboard, segment and analytics documents with
their history, the stored RFM scores, and small state rows (when analytics last ran).

They live on their own ``MetaData``; :func:`engine.reports.install` creates them (idempotent).
Every column that names another row (a user, a record) is indexed.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, Numeric, String, Table,
                        Text)

reports_metadata = MetaData()

TS = DateTime(timezone=True)

# One row per document: the current version. ``kind`` is report | dashboard | segment | rfm_model.
documents = Table(
    "tessera_rpt_documents", reports_metadata,
    Column("kind", String(20), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("object", String(64), nullable=True),
    Column("owner_id", String(36), nullable=True, index=True),
    Column("private", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False),
    Column("doc", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("updated_by", String(36), nullable=True, index=True),
)

# Every change of a document: the full document after it (None after a delete).
history = Table(
    "tessera_rpt_history", reports_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(20), nullable=False),      # create | update | delete | import
    Column("doc", Text, nullable=True),
    Column("author_id", String(36), nullable=True, index=True),
    Column("created_at", TS, nullable=False),
    Index("ix_tessera_rpt_history_doc", "kind", "name", "version", unique=True),
)

# RFM scores of one model per record of its object (an account), replaced as a whole by a refresh.
rfm_scores = Table(
    "tessera_rpt_rfm", reports_metadata,
    Column("model", String(64), primary_key=True),
    Column("record_id", String(36), primary_key=True),
    Column("last_date", String(32), nullable=True),
    Column("recency_days", Integer, nullable=True),
    Column("frequency", Integer, nullable=False),
    Column("monetary", Numeric(24, 4), nullable=True),
    Column("r", Integer, nullable=False),
    Column("f", Integer, nullable=False),
    Column("m", Integer, nullable=False),
    Column("score", String(3), nullable=False),
    Column("label", String(40), nullable=False),
    Column("computed_at", TS, nullable=False),
    Index("ix_tessera_rpt_rfm_record", "record_id"),
    Index("ix_tessera_rpt_rfm_label", "model", "label"),
)

# Small state rows: "rfm:<model>" -> when it was last refreshed (and how many records it scored).
state = Table(
    "tessera_rpt_state", reports_metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", TS, nullable=False),
)


def create_tables(engine):
    """Create the tables (idempotent)."""
    with engine.begin() as conn:
        reports_metadata.create_all(conn)
