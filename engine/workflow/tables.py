"""The workflow's own tables: the outbox, the applied-action keys, the run log, kept mail, and the
durable state of time-based and scheduled rules.

They live on their own ``MetaData``; :func:`engine.workflow.install` creates them (idempotent). Every
column that names another row (a record, an outbox entry, a user) is indexed.
"""
from __future__ import annotations

import datetime as _dt
from operator import itemgetter

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text, bindparam, insert
from sqlalchemy.exc import DBAPIError

from engine.db import RUN_LOG
from engine.metadata.store import note_rows

workflow_metadata = MetaData()

TS = DateTime(timezone=True)

# One row per rule firing (or approval step outcome) whose actions run after the commit.
# ``payload`` (JSON) holds the resolved actions: every formula was evaluated in the triggering
# transaction, so a retry sends exactly what the first attempt sent.
outbox = Table(
    "tessera_wf_outbox", workflow_metadata,
    Column("id", String(36), primary_key=True),
    Column("origin", String(20), nullable=False),            # automation | approval | ...
    Column("object", String(64), nullable=False),
    Column("record_id", String(36), nullable=True),
    Column("rule", String(80), nullable=True),
    Column("event", String(20), nullable=False),
    Column("depth", Integer, nullable=False),
    Column("status", String(10), nullable=False),            # pending | failed | done | dead
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("next_attempt_at", TS, nullable=False),
    Column("locked_until", TS, nullable=True),               # a worker holds it (running) until then
    Column("enqueued_at", TS, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("payload", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("done_at", TS, nullable=True),
    Index("ix_tessera_wf_outbox_status", "status", "next_attempt_at"),
    Index("ix_tessera_wf_outbox_record", "object", "record_id"),
)

# An action applied, by its idempotency key ``<outbox id>:<action index>``. The primary key is
# the guarantee: an action whose effect is in this database writes its key in the same
# transaction, so a second application cannot commit.
applied = Table(
    "tessera_wf_applied", workflow_metadata,
    Column("key", String(80), primary_key=True),
    Column("outbox_id", String(36), nullable=False, index=True),
    Column("action_index", Integer, nullable=False),
    Column("result", Text, nullable=False),
    Column("applied_at", TS, nullable=False),
)

# The run log: rules fired, actions run, results and errors, per record.
runs = Table(
    "tessera_wf_runs", workflow_metadata,
    Column("id", String(36), primary_key=True),               # time-ordered
    Column("object", String(64), nullable=False),
    Column("record_id", String(36), nullable=True),
    Column("rule", String(80), nullable=True),
    Column("outbox_id", String(36), nullable=True, index=True),
    Column("action_index", Integer, nullable=True),
    Column("action_type", String(64), nullable=True),
    Column("status", String(10), nullable=False),             # fired | done | skipped | retry | error | dead
    Column("code", String(20), nullable=True),
    Column("message", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Index("ix_tessera_wf_runs_record", "object", "record_id"),
)

# Mail sent (SMTP) or kept (no SMTP configured): what admins see as sent mail.
mail = Table(
    "tessera_wf_mail", workflow_metadata,
    Column("key", String(80), primary_key=True),
    Column("outbox_id", String(36), nullable=False, index=True),
    Column("recipients", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(10), nullable=False),             # sent | kept
    Column("created_at", TS, nullable=False),
)

# Time-based rules: one planned run per (record, rule).
due = Table(
    "tessera_wf_due", workflow_metadata,
    Column("object", String(64), primary_key=True),
    Column("record_id", String(36), primary_key=True),
    Column("rule", String(80), primary_key=True),
    Column("due_at", TS, nullable=False),
    Column("status", String(10), nullable=False),             # planned | done | cancelled
    Column("outbox_id", String(36), nullable=True, index=True),
    Column("updated_at", TS, nullable=False),
    Index("ix_tessera_wf_due_when", "status", "due_at"),
    Index("ix_tessera_wf_due_record", "record_id"),
)

# Time-based and scheduled rules as the scheduler knows them: the next cron run, and whether a
# time-based rule's plan must be rebuilt (its field, offset or condition changed).
rule_state = Table(
    "tessera_wf_rule_state", workflow_metadata,
    Column("object", String(64), primary_key=True),
    Column("rule", String(80), primary_key=True),
    Column("kind", String(10), nullable=False),               # time | schedule
    Column("spec", Text, nullable=False),                     # trigger + condition, to notice changes
    Column("next_run_at", TS, nullable=True),
    Column("last_run_at", TS, nullable=True),
    Column("replan", Boolean, nullable=False),
    Column("updated_at", TS, nullable=False),
)


def note_run_log(conn, known, rows):
    """Before rows go into the run log or the outbox (both are the record page's run log), in
    their transaction: each row's object flagged (``metadata.store.note_rows``). ``known``: the
    writer's snapshot's flags."""
    note_rows(conn, known, {r["object"] for r in rows}, RUN_LOG)


class RowInsert:
    """``conn.execute(insert(table), rows)`` for the few rows of one write, cheaper: one ``INSERT ...
    VALUES (...), (...)`` of every column per number of rows (up to ``most``; more go in groups),
    compiled once per dialect, with each column's own bind processor applied (the same values
    stored), run on the connection's DBAPI cursor in its open transaction. It saves building,
    keying and looking up the statement and its parameters on every call (SQLite 31 -> 20 us for
    one row), and on PostgreSQL sends two rows as one statement instead of two (148 -> 84 us); the
    DBAPI cursor saves SQLAlchemy's execution context (~12 us a call). A driver's error is raised as
    SQLAlchemy's (``DBAPIError.instance``), as ``conn.execute`` would. Rows must carry every column."""

    def __init__(self, table, most=4):
        self.table, self.most = table, most
        self.columns = tuple(c.name for c in table.columns)
        self._values = itemgetter(*self.columns)
        # (dialect class, paramstyle, rows) -> (SQL, [(position in a row, processor)], positional)
        self._plans = {}
        self._param_names = {}   # rows -> the named parameters' names, in the order of the values

    def execute(self, conn, rows):
        for start in range(0, len(rows), self.most):
            self._execute(conn, rows[start:start + self.most])

    def _execute(self, conn, rows):
        dialect = conn.dialect
        key = (type(dialect), dialect.paramstyle, len(rows))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(dialect, len(rows))
        sql, processors, positional = plan
        values = []
        if processors:
            done = {}   # (processor, id of the value) -> bound value: a write's rows carry one clock object
            # in four columns (by identity: equal datetimes in two time zones may bind differently)
            for r in rows:
                row = list(self._values(r))
                for i, p in processors:
                    v = row[i]
                    if v is not None:
                        k = (p, id(v))
                        bound = done.get(k, done)
                        if bound is done:
                            bound = done[k] = p(v)
                        row[i] = bound
                values += row
        else:
            for r in rows:
                values += self._values(r)
        params = tuple(values) if positional else dict(zip(self._names(len(rows)), values))
        if not conn.in_transaction():
            conn.begin()       # as conn.execute would (autobegin): the rows go in a transaction
        dbapi = dialect.loaded_dbapi
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, params)
        except dbapi.Error as exc:
            raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=dialect) from exc
        finally:
            cursor.close()

    def _names(self, n):
        names = self._param_names.get(n)
        if names is None:
            names = self._param_names[n] = tuple(f"p{i}_{c}" for i in range(n) for c in self.columns)
        return names

    def _plan(self, dialect, n):
        t, names = self.table, [f"p{i}_{c}" for i in range(n) for c in self.columns]
        compiled = insert(t).values([{c: bindparam(f"p{i}_{c}", type_=t.c[c].type) for c in self.columns}
                                     for i in range(n)]).compile(dialect=dialect)
        positional = compiled.positiontup is not None
        if positional and list(compiled.positiontup) != names:
            raise RuntimeError(f"unexpected parameter order in {compiled}")
        # one processor per type implementation (``bind_processor`` makes a new function per call):
        # columns of one type share it, so one clock object in four of them is bound once. A blank
        # (None) is bound as None by every processor SQLAlchemy has, so it is passed as it is.
        shared = {}
        processors = []
        for i, c in enumerate(self.columns):
            impl = t.c[c].type.dialect_impl(dialect)
            if id(impl) not in shared:
                shared[id(impl)] = (impl, impl.bind_processor(dialect))
            if shared[id(impl)][1] is not None:
                processors.append((i, shared[id(impl)][1]))
        return str(compiled), tuple(processors), positional


def create_tables(engine):
    """Create the workflow tables (idempotent)."""
    with engine.begin() as conn:
        workflow_metadata.create_all(conn)


def aware(value):
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


def iso(value):
    value = aware(value)
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
