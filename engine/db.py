"""Database engines and the engine's own system tables.

SQLite runs in WAL mode with transactional DDL (the pysqlite driver is told not
to manage transactions, and we emit BEGIN ourselves) so that a metadata change
and its DDL commit together or not at all, as on PostgreSQL. Foreign keys are
declared on both databases but enforced by the database only on PostgreSQL:
SQLite's table-rebuilding ALTER (batch mode) would otherwise cascade deletes; the
record service enforces lookups, cascades and nulling itself on both.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String,
                        Table, Text, create_engine, event, insert, select)
from sqlalchemy.pool import NullPool

system_metadata = MetaData()

users = Table(
    "tessera_users", system_metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("locale", String(16), nullable=False, default="en"),
    Column("manager_id", String(36), nullable=True, index=True),
    Column("role", String(64), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # who decides this user's approval work items while it is set (engine/workflow/approvals)
    Column("delegate_id", String(36), nullable=True, index=True),
)

# Columns added to system tables after their first release: ``create_all`` does not add columns
# to a table that exists, so ``init_db`` adds these (idempotent) to databases created before.
ADDED_COLUMNS = ((users, "delegate_id"),)

tokens = Table(
    "tessera_tokens", system_metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(12), nullable=False),
    Column("label", String(200), nullable=True),
    Column("scope", String(16), nullable=False, default="all"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

# One row per object api_name: the current definition.
meta_objects = Table(
    "tessera_meta_objects", system_metadata,
    Column("api_name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("doc", Text, nullable=False),
    Column("status", String(16), nullable=False, default="active"),  # active | archived
    Column("table_name", String(64), nullable=False),
    # JSON list of archived (deleted, not yet purged) fields: {"field": doc, "column", "archived_at"}
    Column("archive", Text, nullable=False, default="[]"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(36), nullable=True, index=True),
)

# Every change of an object definition: the full document after the change.
meta_history = Table(
    "tessera_meta_history", system_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("api_name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("global_version", BigInteger, nullable=False),
    Column("action", String(40), nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("doc", Text, nullable=True),
    Column("author_id", String(36), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_tessera_meta_history_obj", "api_name", "version", unique=True),
)

# A single row: the global metadata version every request compares against.
meta_state = Table(
    "tessera_meta_state", system_metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# Gap-free auto-number counters, incremented in the record's transaction.
counters = Table(
    "tessera_counters", system_metadata,
    Column("object", String(64), primary_key=True),
    Column("field", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Which kinds of record-page data exist for an object: a row per (object, feature) — field history,
# run log (run-log lines and outbox rows), approval requests, customer-value models — written by the writer in the same
# transaction as the first such row (``metadata.store.note_rows``), never deleted. A snapshot loads
# it; a record page skips the reads its snapshot says find nothing (docs/architecture.md).
object_features = Table(
    "tessera_object_features", system_metadata,
    Column("object", String(64), primary_key=True),
    Column("feature", String(20), primary_key=True),
)

HISTORY, RUN_LOG, APPROVALS, RFM_MODELS = "history", "runs", "approvals", "rfm_models"
# the rows each feature stands for, (table, condition): an existing database is filled from them once
FEATURE_TABLES = {HISTORY: (("tessera_field_history", None),),
                  RUN_LOG: (("tessera_wf_runs", None), ("tessera_wf_outbox", None)),
                  APPROVALS: (("tessera_wf_approval_requests", None),),
                  RFM_MODELS: (("tessera_rpt_documents", "kind = 'rfm_model'"),)}


def utcnow():
    return _dt.datetime.now(_dt.timezone.utc)


def iso_utc(value):
    """A date/time as the one timestamp format of the API: UTC, microseconds, ``Z``
    (``2026-11-26T08:23:05.123456Z``, microseconds only when non-zero). Naive values are UTC (SQLite hands them back so)."""
    if value is None:
        return None
    tz = value.tzinfo
    if tz is None:
        value = value.replace(tzinfo=_UTC)
    elif tz is not _UTC:
        value = value.astimezone(_UTC)
    return value.isoformat()[:-6] + "Z"   # an aware UTC value's isoformat ends with '+00:00'


_UTC = _dt.timezone.utc


SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def make_engine(url, *, pool=True, synchronous="FULL"):
    """Create a SQLAlchemy engine configured for Tessera on SQLite or PostgreSQL.

    ``synchronous``: SQLite's durability (``FULL``, the default, survives a power cut; ``NORMAL``
    may lose the last transactions on one, never corrupting the file)."""
    if str(synchronous).upper() not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)} (got {synchronous!r}).")
    kwargs = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            raise ValueError("Tessera needs a file database for SQLite (sqlite:///path.db).")
        if not pool:
            kwargs["poolclass"] = NullPool
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, str(synchronous).upper())
    return engine


def _configure_sqlite(engine, synchronous):
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let us issue BEGIN ourselves so that DDL is transactional.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")   # one of SYNCHRONOUS, checked above
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # IMMEDIATE takes the write lock up front: no deadlock between two writers
        # that both read first (SQLITE_BUSY on upgrade cannot be retried by busy_timeout).
        options = conn.get_execution_options()
        if options.get("tessera_one_read"):
            # reads that need no common snapshot (one SELECT; the token check): SQLite runs each
            # statement as a transaction of its own, and the BEGIN is saved
            return
        # (on the driver's connection: exec_driver_sql would run the whole statement machinery
        # for it, a fifth of what a small read costs)
        readonly = options.get("tessera_readonly", False)
        conn.connection.driver_connection.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")


# -- one connection for the reads of a page ---------------------------------------------------------
class SharedReads:
    """One connection lent to every :func:`read_connection` of a block of work on ``engine`` (a
    page request), opened at the first read and closed at the end. It never holds a transaction:
    each statement is a transaction of its own (SQLite: no BEGIN; PostgreSQL: autocommit), as
    when each read opened its own connection, so a read after a write in the same block sees the
    write, a failed statement spoils nothing, and no lock outlives its statement. It carries no
    data: only the pool checkout, the BEGIN and the rollback of each read are saved."""

    def __init__(self, engine):
        self.engine = engine
        self._conn = None

    def connection(self):
        if self._conn is None:
            conn = self.engine.connect()
            if self.engine.dialect.name == "sqlite":
                conn.execution_options(tessera_readonly=True, tessera_one_read=True)
            else:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
        return self._conn

    def close(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


_shared_reads = contextvars.ContextVar("tessera_shared_reads", default=None)


@contextlib.contextmanager
def shared_reads(engine):
    """Inside this block, :func:`read_connection` on ``engine`` hands out one connection (of
    this context only: another thread or request opens its own)."""
    shared = SharedReads(engine)
    token = _shared_reads.set(shared)
    try:
        yield shared
    finally:
        _shared_reads.reset(token)
        shared.close()


@contextlib.contextmanager
def read_connection(engine, *, snapshot=False, one_read=False):
    """A read-only connection: the shared one inside :func:`shared_reads`, else one of its own
    (in a read transaction, as ``engine.connect()`` with ``tessera_readonly``; ``one_read=True``:
    a single statement that needs no transaction, ``tessera_one_read``). ``snapshot=True``:
    the block's statements see one snapshot on the shared connection too, as they do in a
    transaction of their own (SQLite: BEGIN ... ROLLBACK around the block; PostgreSQL, at READ
    COMMITTED, gives each statement its own snapshot either way). ``one_read=True``: a connection of
    its own runs each statement on its own too (SQLite: no BEGIN; for reads that need no snapshot)."""
    shared = _shared_reads.get()
    if shared is None or shared.engine is not engine:
        with engine.connect().execution_options(tessera_readonly=True, tessera_one_read=one_read) as conn:
            yield conn
        return
    conn = shared.connection()
    if not snapshot or engine.dialect.name != "sqlite":
        yield conn
        return
    driver = conn.connection.driver_connection
    driver.execute("BEGIN")
    try:
        yield conn
    finally:
        driver.rollback()


METADATA_STATE, SECURITY_STATE = 1, 2


def init_db(engine):
    """Create the system tables (idempotent) and the version rows (metadata: 1, security: 2).

    Higher layers declare their tables on ``system_metadata``; the composition root imports them
    before calling this."""
    from sqlalchemy import inspect

    with engine.begin() as conn:
        fill = not inspect(conn).has_table(object_features.name)
        system_metadata.create_all(conn)
        _add_missing_columns(conn)
        if fill:
            _fill_features(conn)
        for row_id in (METADATA_STATE, SECURITY_STATE):
            if conn.execute(select(meta_state.c.version).where(meta_state.c.id == row_id)).first() is None:
                conn.execute(insert(meta_state).values(id=row_id, version=1))


def _fill_features(conn):
    """An existing database, when its feature table is first created: a row per (object, feature)
    that has rows today (the workflow's tables exist only if it was installed before)."""
    from sqlalchemy import inspect

    have = set(inspect(conn).get_table_names())
    verb, tail = ("INSERT OR IGNORE INTO", "") if conn.dialect.name == "sqlite" else ("INSERT INTO",
                                                                                    " ON CONFLICT DO NOTHING")
    for feature, tables in FEATURE_TABLES.items():
        for table, condition in tables:
            if table in have:
                where = "object IS NOT NULL" + (f" AND {condition}" if condition else "")
                conn.exec_driver_sql(f"{verb} {object_features.name} (object, feature) SELECT DISTINCT object, "
                                     f"'{feature}' FROM {table} WHERE {where}{tail}")


def _add_missing_columns(conn):
    """``ALTER TABLE … ADD COLUMN`` (and its index) for each of :data:`ADDED_COLUMNS` a table lacks."""
    from sqlalchemy import inspect
    from sqlalchemy.schema import CreateIndex

    inspector = inspect(conn)
    for table, name in ADDED_COLUMNS:
        if name in {c["name"] for c in inspector.get_columns(table.name)}:
            continue
        column = table.c[name]
        ddl_type = column.type.compile(dialect=conn.dialect)
        # IF NOT EXISTS: two PostgreSQL processes starting at once (SQLite's BEGIN IMMEDIATE orders them)
        guard = "IF NOT EXISTS " if conn.dialect.name == "postgresql" else ""
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {guard}{name} {ddl_type}")
        for index in table.indexes:
            if [c.name for c in index.columns] == [name]:
                conn.execute(CreateIndex(index, if_not_exists=True))
