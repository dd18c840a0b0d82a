"""The record write pipeline: its named phases, events and the typed contexts its hooks take.

Every write of a record — from the API, a page, an import, a pack or an automation — runs
these phases in this order, in one transaction up to ``after_write``::

    authorise → deserialise → defaults → required → lookups → validate → before_save
              → write → after_write  ──commit──▶  after_commit

``deserialise``, ``required``, ``lookups`` and ``write`` are the service's own; the others are
:class:`~engine.hooks.HookPoint` s in :class:`RecordHooks`, filled by the composition root
(``engine.services``): formula defaults, validation rules, field history, roll-ups — and next,
approval locks (``authorise``), automations (``before_save``), the workflow outbox
(``after_write``) and in-process dispatch (``after_commit``).

``flags`` is not a phase: it says which record-page flags (``tessera_object_features``) a write
of an object may add, so that the write locks the metadata state row before its first statement
when its snapshot lacks one (``RecordService._transaction``; docs/architecture.md).

Hooks take one small context: :class:`RecordContext` for the per-record phases,
:class:`WriteContext` (a batch of :class:`Change` s) for ``after_write`` and ``after_commit``.
Values are keyed by field api_name (a field's column is its api_name).
"""
from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass, field

from engine.hooks import HookSet


class Event(str, enum.Enum):
    """What happened to a record."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"        # moved to the recycle bin
    RESTORE = "restore"      # back from the recycle bin
    PURGE = "purge"          # deleted for good

    __str__ = str.__str__       # the value ('create'), without Enum's lookup of ``value`` on every call


@dataclass
class RecordContext:
    """One record going through the per-record phases (authorise … before_save).

    ``values`` is the whole record as it will be written (api_name -> value); ``sent`` what
    the caller sent; ``prior`` the stored record before an update (None on create). Hooks of
    ``validate`` add messages with :meth:`error`; ``before_save`` hooks may change ``values``.
    """

    service: object
    conn: object
    actor: object
    rt: object
    event: Event
    values: dict
    prior: dict | None = None
    sent: dict = field(default_factory=dict)
    now: _dt.datetime | None = None
    errors: dict = field(default_factory=dict)

    def error(self, field_name, message):
        self.errors.setdefault(field_name, []).append(message)


@dataclass
class Change:
    """One record written: its values after the write and before (None when created)."""

    values: dict
    prior: dict | None = None


@dataclass
class WriteContext:
    """A batch of records written by one call (``after_write``: in the transaction, ``conn`` open;
    ``after_commit``: after it committed, ``conn`` is None)."""

    service: object
    conn: object
    actor: object
    rt: object
    event: Event
    changes: list
    now: _dt.datetime | None = None
    notes: dict = field(default_factory=dict)    # what after_write hooks leave for their after_commit


class RecordHooks(HookSet):
    """The extensible phases of the write pipeline (see the module docstring)."""

    POINTS = {
        "flags": "fn(service, rt, event) -> [(object, feature[, fields])]: the flags (engine.db.FEATURE_TABLES) "
                 "a write of rt's records may add (metadata.store.note_rows) — with fields: only an update "
                 "sending one of them; asked once per snapshot, object and event; a write whose snapshot "
                 "lacks one locks the metadata state row first",
        "authorise": "fn(RecordContext): raise to refuse the write (e.g. a record locked by an approval)",
        "defaults": "fn(RecordContext): fill default values of fields the caller did not send (create only)",
        "validate": "fn(RecordContext): add field errors with ctx.error(field, message)",
        "before_save": "fn(RecordContext): last changes to ctx.values before the write (automations)",
        "after_write": "fn(WriteContext): in the transaction (history, roll-ups, outbox rows)",
        "after_commit": "fn(WriteContext): after the commit, conn=None (in-process dispatch)",
    }
