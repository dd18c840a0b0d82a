"""Tables of access control, history and audit.

Role hierarchy expansion lives in ``tessera_role_closure`` (ancestor, descendant,
depth) so that "records owned by my subordinates" is one indexed join, never a
recursive query per row. Shares (manual and from sharing rules) are rows in
``tessera_record_shares``; sharing rules by owner role are applied as SQL at query
time, criteria rules too (compiled formulas), so nothing needs recomputing when
records change owner.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Index, Integer, String, Table, Text)

from engine.db import system_metadata

roles = Table(
    "tessera_roles", system_metadata,
    Column("api_name", String(64), primary_key=True),
    Column("label", String(120), nullable=False),
    Column("parent", String(64), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

role_closure = Table(
    "tessera_role_closure", system_metadata,
    Column("ancestor", String(64), primary_key=True),
    Column("descendant", String(64), primary_key=True),
    Column("depth", Integer, nullable=False),
    Index("ix_tessera_role_closure_desc", "descendant"),
)

permission_sets = Table(
    "tessera_permission_sets", system_metadata,
    Column("api_name", String(64), primary_key=True),
    Column("label", String(120), nullable=False),
    Column("doc", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

user_permission_sets = Table(
    "tessera_user_permission_sets", system_metadata,
    Column("user_id", String(36), primary_key=True),
    Column("permission_set", String(64), primary_key=True),
    Index("ix_tessera_ups_ps", "permission_set"),
)

sharing_rules = Table(
    "tessera_sharing_rules", system_metadata,
    Column("id", String(36), primary_key=True),
    Column("object", String(64), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("owned_by_role", String(64), nullable=True, index=True),
    Column("criteria", Text, nullable=True),
    Column("include_subordinates", Boolean, nullable=False, default=False),
    Column("share_with_role", String(64), nullable=False, index=True),
    Column("share_with_subordinates", Boolean, nullable=False, default=False),
    Column("access", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_tessera_sharing_rules_name", "object", "name", unique=True),
)

record_shares = Table(
    "tessera_record_shares", system_metadata,
    Column("id", String(36), primary_key=True),
    Column("object", String(64), nullable=False),
    Column("record_id", String(36), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("access", String(8), nullable=False),       # read | edit
    Column("created_by", String(36), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_tessera_record_shares_rec", "object", "record_id", "user_id", unique=True),
    Index("ix_tessera_record_shares_user", "user_id", "object", "record_id"),
)

audit_log = Table(
    "tessera_audit_log", system_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("event", String(40), nullable=False, index=True),
    Column("user_id", String(36), nullable=True, index=True),
    Column("username", String(150), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
)

login_failures = Table(
    "tessera_login_failures", system_metadata,
    Column("username", String(150), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("last_failure_at", DateTime(timezone=True), nullable=True),
)
