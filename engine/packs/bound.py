"""Services bound to one open transaction, so that a whole pack applies or nothing does.

The metadata store, the access admin and the record service each open their own transaction per
call. A pack is many such calls, so the installer hands them :class:`ConnectionEngine`, an engine
look-alike over one connection the installer opened: ``begin()`` becomes a SAVEPOINT on it and
``connect()`` lends it. Every call still runs its own checks, DDL, hooks, versioning and audit —
exactly as when an admin makes the change — but they all commit together at the end, or roll back
together (SQLite here runs DDL transactionally, as PostgreSQL does; see ``engine/db.py``).

:func:`bind_services` builds the whole composition (``engine.services``: hooks, subsystems such as
the workflow's checks) again over that connection, so that a check that reads the database (an
approval process naming a role the same pack just created) sees the pack's own uncommitted work.
What must wait for the commit — handing automations' outbox rows to the dispatcher — does: the
bound services have no ``after_commit`` dispatch, and the installer hands the rows the pack's
sample data queued to the process's dispatcher after the commit.
"""
from __future__ import annotations

from contextlib import contextmanager

from engine import services as root
from engine.metadata.store import MetadataStore
from engine.records.snapshot import SnapshotCache
from engine.security.access import PlanCache
from engine.security.admin import AccessAdmin


class _Lent:
    """``engine.connect()`` of a :class:`ConnectionEngine`: the one connection, never closed here."""

    def __init__(self, conn):
        self._conn = conn

    def execution_options(self, **_options):
        return self

    def __enter__(self):
        return self._conn

    def __exit__(self, *_exc):
        return False


class ConnectionEngine:
    """An ``Engine`` look-alike over one open connection: ``begin()`` is a SAVEPOINT, ``connect()``
    lends the connection. A failing step rolls back to its savepoint, so the installer may try it
    again later (see ``apply.converge``)."""

    def __init__(self, conn):
        self.conn = conn
        self.dialect = conn.dialect
        self.url = conn.engine.url

    @contextmanager
    def begin(self):
        with self.conn.begin_nested():
            yield self.conn

    def connect(self):
        return _Lent(self.conn)

    def dispose(self):
        """Nothing to dispose: the connection belongs to the installer."""


def bind_services(services, conn):
    """A ``Services`` like ``services`` whose every part works inside ``conn``'s transaction."""
    engine = ConnectionEngine(conn)
    record_hooks, metadata_hooks = root.build_record_hooks(), root.build_metadata_hooks()
    bound = root.Services(config=services.config, engine=engine, store=MetadataStore(engine, metadata_hooks),
                          snapshots=SnapshotCache(engine), plans=PlanCache(), access=AccessAdmin(engine),
                          record_hooks=record_hooks, metadata_hooks=metadata_hooks)
    for install in root.SUBSYSTEMS:
        install(bound)
    for name in record_hooks.after_commit.names():
        # after the real commit instead: the installer dispatches then (see the module docstring)
        record_hooks.after_commit.remove(name)
    record_hooks.freeze()
    metadata_hooks.freeze()
    return bound
