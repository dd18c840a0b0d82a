"""The approval state machine's own tables: requests, step instances, work items and history.

They live on the workflow's ``MetaData`` (created with the other workflow tables, idempotently).
A request keeps a copy of the process document it was submitted to, so an admin's later edit
of the process never changes a request already running. Every column naming another row is
indexed; at most one request per record is pending (a partial unique index on both databases).
"""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, text

from ..tables import TS, workflow_metadata

# One row per submission of a record.
requests = Table(
    "tessera_wf_approval_requests", workflow_metadata,
    Column("id", String(36), primary_key=True),               # time-ordered (uuid7)
    Column("object", String(64), nullable=False),
    Column("record_id", String(36), nullable=False),
    Column("process", String(40), nullable=False),
    Column("process_label", String(120), nullable=False),
    Column("process_doc", Text, nullable=False),              # the process as submitted (JSON)
    Column("status", String(10), nullable=False),             # pending | approved | rejected | recalled | cancelled
    Column("lock_mode", String(24), nullable=False),          # none | approvers_and_admins | locked
    Column("submitter_id", String(36), nullable=True, index=True),
    Column("comment", Text, nullable=True),
    Column("current_step_id", String(36), nullable=True),
    Column("submitted_at", TS, nullable=False),
    Column("decided_at", TS, nullable=True),
    Column("updated_at", TS, nullable=False),
    Index("ix_tessera_wf_approval_requests_record", "object", "record_id"),
    Index("ux_tessera_wf_approval_requests_pending", "object", "record_id", unique=True,
          sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
)

# One row each time a step is reached (a step sent back to runs again as a new row).
steps = Table(
    "tessera_wf_approval_steps", workflow_metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False, index=True),
    Column("seq", Integer, nullable=False),                   # order of the instances within the request
    Column("step_index", Integer, nullable=False),            # position in the process's steps
    Column("name", String(40), nullable=False),
    Column("label", String(120), nullable=False),
    Column("status", String(10), nullable=False),             # pending | approved | rejected | skipped | back | closed
    Column("rule", String(20), nullable=False),               # first | unanimous | quorum | percent
    Column("required", Integer, nullable=False),              # approvals needed
    Column("slots", Integer, nullable=False),                 # approvers the step started with
    Column("deadline_at", TS, nullable=True),
    Column("deadline_done", Boolean, nullable=False),
    Column("started_at", TS, nullable=False),
    Column("decided_at", TS, nullable=True),
    Index("ix_tessera_wf_approval_steps_deadline", "status", "deadline_at"),
)

# A work item: one approver's turn in a step. Items of one ``slot`` stand for one vote: the
# approver first given it, the manager it was escalated to, the user it was reassigned to.
items = Table(
    "tessera_wf_approval_items", workflow_metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False, index=True),
    Column("step_id", String(36), nullable=False, index=True),
    Column("slot", Integer, nullable=False),
    Column("approver_id", String(36), nullable=False),
    Column("origin", String(200), nullable=False),            # why this user: "role 'sales_director'", ...
    Column("status", String(10), nullable=False),             # pending | approved | rejected | reassigned | closed
    Column("decided_by", String(36), nullable=True),          # differs from approver_id for a delegate
    Column("decided_at", TS, nullable=True),
    Column("comment", Text, nullable=True),
    Column("created_at", TS, nullable=False),
    Index("ix_tessera_wf_approval_items_approver", "approver_id", "status"),
)

# Every change of state: who, on behalf of whom, what, comment, when.
history = Table(
    "tessera_wf_approval_history", workflow_metadata,
    Column("id", String(36), primary_key=True),               # time-ordered (uuid7)
    Column("request_id", String(36), nullable=False, index=True),
    Column("step_id", String(36), nullable=True),
    Column("step_name", String(40), nullable=True),
    Column("action", String(20), nullable=False),
    Column("actor_id", String(36), nullable=True),            # None: the system (a deadline)
    Column("on_behalf_of", String(36), nullable=True),        # the approver a delegate decided for
    Column("comment", Text, nullable=True),
    Column("details", Text, nullable=True),                   # JSON
    Column("created_at", TS, nullable=False),
)
