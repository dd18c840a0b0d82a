"""The outbox: rows written in the triggering transaction, and the runner that carries them out.

Guarantees (``../shared/specs/workflow.md``, Execution guarantees):

- An outbox row is written in the transaction of the write that fired the rule, so a crash, a
  Redis outage or a killed worker loses nothing: a row is pending until every action is applied.
- A worker *claims* a row (a conditional update that sets ``locked_until``); a row whose worker
  died is claimed again once that lease has run out, and the scheduler re-enqueues it.
- Each action has the idempotency key ``<outbox id>:<action index>``, recorded in
  ``tessera_wf_applied`` whose primary key is the key. An action whose effect is a write in this
  database (create_record, update_related, field_update, create_task) records its key in the same
  transaction as the write (an ``after_write`` hook), so it can be applied only once; other actions
  (webhook, SMTP) record it right after, and are delivered at least once with the same key — a
  receiver that remembers keys applies each once.
- A failed attempt is retried with exponential backoff; after ``max_attempts`` the row is dead
  (visible to admins, who may retry it).
"""
from __future__ import annotations

import contextvars
import datetime as _dt
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring_ascii

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from engine.db import utcnow
from engine.errors import ConflictError, EngineError, StaleVersionError
from engine.registry import RegistryError
from engine.security import SYSTEM_ACTOR

from .actions import ActionContext, ActionError, PermanentActionError, actions
from .tables import applied, aware, note_run_log, outbox, runs

log = logging.getLogger("tessera.workflow")

MAX_BACKOFF_SECONDS = 6 * 3600


@dataclass
class ActionRun:
    """The action being carried out in this thread (a context variable while it runs)."""

    key: str
    outbox_id: str
    index: int
    depth: int
    consumed: bool = False          # its key was written by the write it made
    result: dict | None = None


_current = contextvars.ContextVar("tessera_workflow_action", default=None)


def current_run():
    return _current.get()


def current_depth():
    """How deep in a chain of automations the current write is (0: a person's own write)."""
    run = _current.get()
    return run.depth if run is not None else 0


class AlreadyApplied(Exception):
    """The action's key is already recorded: its effect exists; nothing to do."""


_ids = threading.Lock()
_time_ns = time.time_ns
_state = [0, 0]                    # [the millisecond of the last id, its number in it (12 bits)]
_prefix = [-1, ""]                 # [a millisecond, its "xxxxxxxx-xxxx-7" text]: made once per millisecond
_SEQ = [f"{i:03x}" for i in range(4096)]
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}   # 2 random bits -> the variant 0b10xx
_RANDOM_IDS = 64                   # ids' worth of random bits read from os.urandom at a time
_random = ["", 0]                  # [hex text of random bytes, offset of the next unused id's 16 digits]


def _forget_random():
    """A forked child must not make the ids its parent makes from the same bytes."""
    _random[0], _random[1] = "", 0


os.register_at_fork(after_in_child=_forget_random)


def new_id():
    """A UUID version 7 as text (RFC 9562): the clock's millisecond, then a 12-bit number of the id
    within it (``rand_a`` as a counter, RFC 9562 6.2 method 1: the ids of one process sort in the
    order they were made, and the time stays the clock's however many ids a millisecond makes —
    4,096 in one millisecond move on to the next; a clock that goes back keeps the last
    millisecond), and 62 random bits from ``os.urandom`` (read for 64 ids at a time, each bit used
    once; dropped in a forked child). Written out directly, without a ``UUID`` object (a write with
    rules makes four or five: its outbox rows and their run-log lines)."""
    with _ids:
        ms = _time_ns() // 1_000_000
        last, seq = _state
        if ms > last:
            seq = 0
        else:
            ms, seq = last, seq + 1
            if seq > 0xFFF:
                ms, seq = last + 1, 0
        _state[0], _state[1] = ms, seq
        if ms != _prefix[0]:
            m = f"{ms & 0xFFFFFFFFFFFF:012x}"
            _prefix[0], _prefix[1] = ms, f"{m[:8]}-{m[8:]}-7"
        prefix = _prefix[1]
        text, at = _random
        if at >= len(text):
            text, at = os.urandom(8 * _RANDOM_IDS).hex(), 0
            _random[0] = text
        _random[1] = at + 16
    return f"{prefix}{_SEQ[seq]}-{_VARIANT[text[at]]}{text[at + 1:at + 4]}-{text[at + 4:at + 16]}"


def run_row(obj, record_id, message, *, status, rule=None, outbox_id=None, action_index=None, action_type=None,
            code=None, now=None):
    """A run log row (for ``insert(runs)``)."""
    return {"id": new_id(), "object": obj, "record_id": record_id, "rule": rule, "outbox_id": outbox_id,
            "action_index": action_index, "action_type": action_type, "status": status, "code": code,
            "message": message[:4000], "created_at": now or utcnow()}


def log_line(message, *, status, rule=None, action_index=None, action_type=None, code=None):
    """A run log line to keep in an outbox row (:func:`outbox_row`'s ``log``): its own keys only —
    the object, record, outbox id and time are the row's, and a blank action index, action type or
    code is left out (:func:`log_lines` adds them back)."""
    line = {"id": new_id(), "rule": rule, "status": status, "message": message[:4000]}
    if action_index is not None:
        line["action_index"] = action_index
    if action_type is not None:
        line["action_type"] = action_type
    if code is not None:
        line["code"] = code
    return line


_LINE_BLANKS = {"action_index": None, "action_type": None, "code": None}


def line_row(line, obj, record_id, now):
    """A :func:`log_line` as a run log row of its own (for ``insert(runs)``)."""
    return dict(_LINE_BLANKS, **line, object=obj, record_id=record_id, outbox_id=None, created_at=now)


# one encoder for every payload, made once: the same text as ``json.dumps(payload, default=str,
# separators=(",", ":"))`` (``JSONEncoder.encode`` makes a new C encoder, a closure and a markers
# dict on every call; compact: a smaller row is less of SQLite's page to write). No check for
# circular references: a payload is built here from JSON values, never refers to itself.
_PAYLOAD_JSON = c_make_encoder(None, str, encode_basestring_ascii, None, ":", ",", False, False, True) \
    if c_make_encoder is not None else None
_PAYLOAD_JSON_PY = json.JSONEncoder(default=str, separators=(",", ":"))


def payload_json(payload):
    """``payload`` as the JSON text stored in an outbox row."""
    if _PAYLOAD_JSON is None:
        return _PAYLOAD_JSON_PY.encode(payload)
    return "".join(_PAYLOAD_JSON(payload, 0))


def outbox_row(*, id, origin, obj, record_id, rule, event, depth, actions_payload, max_attempts, now,
               run_as=None, record=None, context=None, log=None):
    """An outbox row. ``log``: run log lines of the firing (:func:`log_line`: of this record, written
    at ``now``) kept in the row itself (one INSERT less in the triggering write; :func:`log_lines`
    reads them back)."""
    payload = {"actions": actions_payload}        # blank keys left out (readers default them)
    if run_as:
        payload["run_as"] = run_as
    if record is not None:
        payload["record"] = record
    if context:
        payload["context"] = context
    if log:
        payload["log"] = log
    return {"id": id, "origin": origin, "object": obj, "record_id": record_id, "rule": rule, "event": str(event),
            "depth": depth, "status": "pending", "attempts": 0, "max_attempts": max_attempts,
            "next_attempt_at": now, "locked_until": None, "enqueued_at": now, "last_error": None,
            "payload": payload_json(payload), "created_at": now, "updated_at": now, "done_at": None}


def log_lines(row):
    """The run log rows kept in an outbox row (``id``, ``object``, ``record_id``, ``created_at`` and
    ``payload`` of it): each line's own keys, and the row's object, record, id and time. Rows
    written before the lines were stored short carry every key themselves (they win)."""
    lines = json.loads(row["payload"]).get("log") or ()
    if not lines:
        return []
    base = {"object": row["object"], "record_id": row["record_id"], "outbox_id": row["id"],
            "action_index": None, "action_type": None, "code": None, "created_at": row["created_at"]}
    out = []
    for entry in lines:
        line = dict(base, **entry)
        if isinstance(line["created_at"], str):
            line["created_at"] = _dt.datetime.fromisoformat(line["created_at"])
        out.append(line)
    return out


def mark_applied_in_write(wctx):
    """``after_write`` hook: the first write an action makes records the action's key in the same
    transaction (so the write and the key commit together, or neither)."""
    run = _current.get()
    if run is None or run.consumed:
        return
    run.consumed = True
    conn = wctx.conn
    if conn.execute(select(applied.c.key).where(applied.c.key == run.key)).first() is not None:
        raise AlreadyApplied(run.key)
    first = wctx.changes[0].values if wctx.changes else {}
    label = wctx.rt.odef.label
    run.result = {"object": wctx.rt.name, "id": first.get("id"), "event": str(wctx.event),
                  "message": f"{str(wctx.event).capitalize()}d {label} "
                             f"'{first.get('name') or first.get('id')}' ({first.get('id')})."}
    conn.execute(insert(applied).values(key=run.key, outbox_id=run.outbox_id, action_index=run.index,
                                        result=json.dumps(run.result, default=str), applied_at=utcnow()))


class Runner:
    """Carries out outbox rows (in a web process after commit, in an rq job, or in the scheduler)."""

    def __init__(self, services, workflow):
        self.services = services
        self.workflow = workflow
        self.engine = services.engine
        self.config = services.config

    # -- claiming ---------------------------------------------------------------------
    def claim(self, outbox_id, now):
        """Take a row for one lease: ``(row, keys of its actions already applied)``, or ``(None, None)``
        when it is done, dead, not yet due or held by a live worker."""
        lease = now + _dt.timedelta(seconds=self.config.workflow_lease_seconds)
        t = outbox
        with self.engine.begin() as conn:
            row = conn.execute(update(t).where(
                t.c.id == outbox_id, t.c.status.in_(("pending", "failed")), t.c.next_attempt_at <= now,
                or_(t.c.locked_until.is_(None), t.c.locked_until < now),
            ).values(locked_until=lease, attempts=t.c.attempts + 1, updated_at=now).returning(*t.c)).mappings().first()
            if row is None:
                return None, None
            if row["attempts"] == 1 and row["last_error"] is None:
                return row, set()          # a first attempt ever (an admin's retry keeps last_error)
            done = set(conn.execute(select(applied.c.key).where(applied.c.outbox_id == outbox_id)).scalars())
            return row, done

    def is_applied(self, key):
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            return conn.execute(select(applied.c.key).where(applied.c.key == key)).first() is not None

    # -- running ----------------------------------------------------------------------
    def run(self, outbox_id, now=None):
        """Run one outbox row if it is due and nobody holds it: ``"done"``, ``"failed"``, ``"dead"`` or
        ``"skipped"`` (not claimable: done, dead, held by another worker, or not yet due)."""
        now = now or utcnow()
        row, done = self.claim(outbox_id, now)
        if row is None:
            return "skipped"
        payload = json.loads(row["payload"])
        try:
            actor = self._actor(payload.get("run_as"))
        except EngineError as exc:
            return self._fail(row, None, PermanentActionError(exc.message, code=exc.code), now)
        items = payload["actions"]
        for n, item in enumerate(items):
            key = f"{outbox_id}:{item['index']}"
            last = n == len(items) - 1
            if key in done:
                if last:
                    self._finish(row, None)
                continue
            outcome = self._run_action(row, payload, item, key, actor, last, now)
            if outcome != "done":
                return outcome
        if not items:
            self._finish(row, None)
        return "done"

    def _actor(self, run_as):
        if not run_as:
            return SYSTEM_ACTOR
        try:
            return self.services.actor(run_as)
        except EngineError:
            raise
        except Exception as exc:   # noqa: BLE001 - an unknown or inactive user
            raise PermanentActionError(f"The rule runs as '{run_as}', who is not an active user: {exc}.",
                                       code="workflow.E301") from None

    def _run_action(self, row, payload, item, key, actor, last, now):
        try:
            action = actions.get(item["type"])
        except RegistryError as exc:
            return self._fail(row, item, PermanentActionError(str(exc), code="workflow.E302"), now)
        ctx = ActionContext(services=self.services, workflow=self.workflow, key=key, outbox_id=row["id"],
                            index=item["index"], object=row["object"], record_id=row["record_id"],
                            record=payload.get("record"), actor=actor, rule=row["rule"], event=row["event"],
                            depth=row["depth"], extra={"context": payload.get("context") or {}})
        run = ActionRun(key, row["id"], item["index"], row["depth"])
        token = _current.set(run)
        try:
            result = action.run(ctx, item["options"]) or {}
        except AlreadyApplied:
            result = {"message": "Already applied (by an earlier attempt)."}
            run.consumed = True
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none escapes
            if self.is_applied(key):    # a concurrent attempt applied it: this one was rolled back
                result = {"message": "Already applied (by another attempt)."}
                run.consumed = True
            else:
                return self._fail(row, item, exc, now)
        finally:
            _current.reset(token)
        if run.result and "message" not in result:
            result = dict(run.result, **result)
        self._record(row, item, key, result, run.consumed, ctx.extra.get("key_writes", ()), last)
        return "done"

    def _record(self, row, item, key, result, consumed, key_writes, last):
        """In one transaction: the key (unless the action's write recorded it), what the action
        writes with its key, the run log line, and the row's completion if this was its last action."""
        now = utcnow()
        message = result.get("message") or f"{item['type']} done."
        status = "skipped" if result.get("skipped") else "done"
        try:
            with self.engine.begin() as conn:
                if not consumed:
                    conn.execute(insert(applied).values(key=key, outbox_id=row["id"], action_index=item["index"],
                                                        result=json.dumps(result, default=str), applied_at=now))
                    for fn in key_writes:
                        fn(conn)
                line = run_row(row["object"], row["record_id"], message, status=status, rule=row["rule"],
                               outbox_id=row["id"], action_index=item["index"], action_type=item["type"], now=now)
                note_run_log(conn, self.services.snapshots.get().features, [line])
                conn.execute(insert(runs).values(line))
                if last:
                    self._complete(conn, row, now)
        except IntegrityError:
            # another attempt recorded the key first: its effect stands, this one's is dropped
            if last:
                self._finish(row, None)

    def _finish(self, row, _result):
        with self.engine.begin() as conn:
            self._complete(conn, row, utcnow())

    @staticmethod
    def _complete(conn, row, now):
        conn.execute(update(outbox).where(outbox.c.id == row["id"], outbox.c.status != "done").values(
            status="done", done_at=now, locked_until=None, last_error=None, updated_at=now))

    def _fail(self, row, item, exc, now):
        """Record a failed attempt: retry later with backoff, or dead (permanent, or out of attempts).
        ``now``: the clock the attempt was claimed with (the scheduler's, in tests a chosen one)."""
        permanent = isinstance(exc, PermanentActionError) or (
            isinstance(exc, EngineError) and not isinstance(exc, (StaleVersionError, ConflictError))
            and exc.code != "records.E030")
        code = getattr(exc, "code", None) or "workflow.E399"
        message = getattr(exc, "message", None) or str(exc)
        if not isinstance(exc, (ActionError, EngineError)):
            log.warning("workflow action failed (outbox %s): %s", row["id"], exc, exc_info=exc)
            message = f"{type(exc).__name__}: {str(exc)[:300]}"
        attempts = row["attempts"]
        dead = permanent or attempts >= row["max_attempts"]
        what = f"Action {item['index']} ({item['type']})" if item else "The entry"
        if dead:
            status, next_at = "dead", now
            why = "" if permanent else f" after {attempts} attempts"
            line = f"{what} failed{why}: {message} The entry is dead; an administrator may retry it."
        else:
            delay = min(MAX_BACKOFF_SECONDS, self.config.workflow_retry_base_seconds * 2 ** (attempts - 1))
            status, next_at = "failed", now + _dt.timedelta(seconds=delay)
            line = f"{what} failed (attempt {attempts} of {row['max_attempts']}): {message} Retrying in {_human(delay)}."
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row["id"]).values(
                status=status, next_attempt_at=next_at, locked_until=None, last_error=f"{code}: {message}"[:4000],
                updated_at=now))
            entry = run_row(row["object"], row["record_id"], line, status="dead" if dead else "retry",
                            rule=row["rule"], outbox_id=row["id"], action_index=item["index"] if item else None,
                            action_type=item["type"] if item else None, code=code, now=now)
            note_run_log(conn, self.services.snapshots.get().features, [entry])
            conn.execute(insert(runs).values(entry))
        return status


def _human(seconds):
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def due_for_dispatch(conn, now, requeue_seconds, *, unclaimed=True, limit=500):
    """Ids of rows a worker should (re)try now and that are not held by a live worker:

    - failed rows whose backoff is over (once per attempt);
    - rows whose worker died holding them (lease run out, not re-enqueued since);
    - with ``unclaimed``: rows enqueued more than ``requeue_seconds`` ago that no worker ever took
      (their job was lost: Redis restarted, the enqueue failed). The dispatcher passes False
      while the queue still holds jobs, so a long queue is not enqueued twice.
    """
    t = outbox
    stale = now - _dt.timedelta(seconds=requeue_seconds)
    reasons = [and_(t.c.status == "failed", or_(t.c.enqueued_at.is_(None), t.c.enqueued_at < t.c.next_attempt_at)),
               and_(t.c.locked_until.is_not(None), or_(t.c.enqueued_at.is_(None), t.c.enqueued_at < t.c.locked_until))]
    if unclaimed:
        reasons.append(or_(t.c.enqueued_at.is_(None), t.c.enqueued_at < stale))
    stmt = select(t.c.id).where(
        t.c.status.in_(("pending", "failed")), t.c.next_attempt_at <= now,
        or_(t.c.locked_until.is_(None), t.c.locked_until < now), or_(*reasons),
    ).order_by(t.c.next_attempt_at).limit(limit)
    return list(conn.execute(stmt).scalars())


__all__ = ["Runner", "ActionRun", "current_run", "current_depth", "mark_applied_in_write", "outbox_row",
           "log_lines", "log_line", "line_row", "run_row", "new_id", "due_for_dispatch", "aware"]
