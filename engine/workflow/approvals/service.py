"""The approval service (``services.extensions["approvals"]``): approval processes as documents,
the operations the doors call (submit, approve, reject, recall, reassign), what a record's
approval and a user's inbox look like, the record lock, and deadlines for the scheduler.

Every method takes the acting user and checks rights itself; the doors only translate.
An operation is carried out inside a write of the record (see :mod:`.machine`): the service asks
the record service to update the record as the system, with the operation in a context variable
that the ``before_save`` hook picks up.
"""
from __future__ import annotations

import contextvars
import functools
import json
import logging
import threading

from sqlalchemy import bindparam, insert, or_, select, update

from engine.db import APPROVALS, RUN_LOG, read_connection, users, utcnow
from engine.errors import (
    ConflictError,
    EngineError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    WorkflowError,
)
from engine.records.formula_checks import FieldMaps
from engine.records.pipeline import Event
from engine.security import SYSTEM_ACTOR
from engine.security import access as acl

from ..documents import DocumentList
from ..outbox import new_id
from .machine import Machine, Operation, record_shown
from .model import label_of
from .tables import history, items, requests, steps
from .views import history_view, item_view, request_view

log = logging.getLogger("tessera.workflow")
KIND = "approval_processes"
COMMENT_MAX = 4000
_current = contextvars.ContextVar("tessera_approval_operation", default=None)


class ApprovalService:
    """See the module docstring."""

    def __init__(self, services, workflow):
        self.services = services
        self.workflow = workflow
        self.engine = services.engine
        self._maps = {}
        self._maps_lock = threading.Lock()
        self.process_docs = DocumentList(services, KIND, "approval process", "process",
                                         unknown="workflow.E601", exists="workflow.E621",
                                         admin_what="change approval processes", may_read=self._may_read_object,
                                         before_delete=self._no_pending_requests)

    # -- formulas ----------------------------------------------------------------------------
    def fields_map(self, snapshot, obj):
        """The formula field map of ``obj`` for ``snapshot`` (built once per metadata version)."""
        maps = self._maps.get(snapshot.version)
        if maps is None:
            with self._maps_lock:
                maps = self._maps.get(snapshot.version)
                if maps is None:
                    maps = FieldMaps({n: dict(r.odef.doc) for n, r in snapshot.objects.items()})
                    self._maps = {v: m for v, m in self._maps.items() if v > snapshot.version - 3}
                    self._maps[snapshot.version] = maps
        return maps.fields(obj)

    # -- processes as documents ------------------------------------------------------------------
    def list_processes(self, obj, actor):
        """The approval processes of ``obj`` (for whoever may see its records)."""
        return self.process_docs.entries(obj, actor)

    def _may_read_object(self, obj, actor):
        if actor.is_admin:
            return
        rt = self.services.records().runtime(obj)
        acl.require(actor.plan, rt, "read")

    def get_process(self, obj, name, actor):
        return self.process_docs.get(obj, name, actor)

    def add_process(self, obj, process, actor):
        return self.process_docs.add(obj, process, actor)

    def update_process(self, obj, name, patch, actor):
        """Change some keys of a process (``null`` removes an optional key); the name cannot change.
        Requests already submitted keep the process as it was when they were submitted."""
        return self.process_docs.update(obj, name, patch, actor)

    def delete_process(self, obj, name, actor):
        self.process_docs.delete(obj, name, actor)

    def _no_pending_requests(self, obj, name, process):
        """A process with pending requests is not deleted (``before_delete`` of its documents)."""
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            waiting = conn.execute(select(requests.c.id).where(
                requests.c.object == obj, requests.c.process == name, requests.c.status == "pending")).all()
        if waiting:
            raise ConflictError("workflow.E622", f"Approval process '{label_of(process)}' has {len(waiting)} pending "
                                                 f"request{'s' if len(waiting) != 1 else ''}; they must be decided or "
                                                 "recalled before it can be deleted (or make it inactive).")

    # -- operations --------------------------------------------------------------------------
    def submit(self, obj, record_id, actor, *, process=None, comment=None, now=None):
        """Submit a record the actor may edit: to ``process``, or the first active one whose entry
        criteria hold. Returns the record's approval (see :meth:`approval`)."""
        self._writer(actor)
        _text("process", process, 40)
        records = self.services.records()
        # an object the actor may not read answers as an unknown one (before "you may not edit")
        acl.require(actor.plan, records.runtime(obj, actor), "edit")
        records.lock_for_edit(obj, record_id, actor)
        op = Operation("submit", obj, str(record_id), actor, now or utcnow(), comment=_text("comment", comment),
                       process=process)
        self._run(records, op)
        return self.approval(obj, record_id, actor)

    def approve(self, obj, record_id, actor, *, comment=None, now=None):
        return self._participant_op("approve", obj, record_id, actor, comment=comment, now=now)

    def reject(self, obj, record_id, actor, *, comment=None, now=None):
        return self._participant_op("reject", obj, record_id, actor, comment=comment, now=now)

    def recall(self, obj, record_id, actor, *, comment=None, now=None):
        return self._participant_op("recall", obj, record_id, actor, comment=comment, now=now)

    def reassign(self, obj, record_id, actor, *, to=None, from_user=None, comment=None, now=None):
        if not isinstance(to, str) or not to:
            raise InvalidRequestError("workflow.E625", "Send {\"to\": \"<username>\"}: the user to give the work "
                                                       "item to.")
        _text("to", to, 150)
        _text("from", from_user, 150)
        return self._participant_op("reassign", obj, record_id, actor, comment=comment, now=now, to=to,
                                    from_user=from_user)

    def _participant_op(self, kind, obj, record_id, actor, *, comment, now, **extra):
        self._writer(actor)
        records = self.services.records()
        self._may_see(records, obj, record_id, actor)
        op = Operation(kind, obj, str(record_id), actor, now or utcnow(), comment=_text("comment", comment), **extra)
        self._run(records, op)
        return self.approval(obj, record_id, actor)

    def _run(self, records, op):
        """Carry ``op`` out in a write of its record (as the system: the lock and the rights were
        checked by the operation), then hand the outbox rows it wrote to the dispatcher."""
        token = _current.set(op)
        try:
            # the operation may write the object's first request and outbox row: the write locks
            # the metadata state row first when its snapshot lacks their flags (no deadlock)
            records.update(op.object, op.record_id, {}, SYSTEM_ACTOR,
                           flags=((op.object, APPROVALS), (op.object, RUN_LOG)))
        finally:
            _current.reset(token)
        if not op.applied:      # a hook before ours refused silently: never report success then
            raise RuntimeError(f"approval operation {op.kind} on {op.object} {op.record_id} did not run")
        self.workflow.dispatch(op.outbox_ids, now=op.now)    # a deadline's rows are due at the tick's clock
        return op

    @staticmethod
    def _writer(actor):
        if actor is None or getattr(actor, "plan", None) is None:
            raise TypeError("approvals need an actor with a plan (engine.security.SYSTEM_ACTOR for internal work)")
        if actor.read_only:
            raise PermissionDeniedError("security.E030", "This token is read-only.")

    def _may_see(self, records, obj, record_id, actor):
        """A record's approval is for whoever may read the record, an administrator, and everyone
        taking part in one of its requests (submitter, approvers and their delegates), who may
        act on it without the right to read the record. Anyone else is told it does not exist."""
        try:
            records.get(obj, record_id, actor, include_deleted=True)
        except (NotFoundError, PermissionDeniedError):
            if actor.is_admin or not self._takes_part(obj, record_id, actor):
                raise

    def _takes_part(self, obj, record_id, actor):
        if actor.user_id is None:
            return False
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            reqs = conn.execute(select(requests.c.id, requests.c.submitter_id).where(
                requests.c.object == obj, requests.c.record_id == str(record_id))).all()
            if any(r.submitter_id == actor.user_id for r in reqs):
                return True
            ids = [r.id for r in reqs]
            if not ids:
                return False
            delegators = select(users.c.id).where(users.c.delegate_id == actor.user_id)
            return conn.execute(select(items.c.id).where(
                items.c.request_id.in_(ids),
                or_(items.c.approver_id == actor.user_id, items.c.approver_id.in_(delegators))).limit(1)).first() \
                is not None

    # -- the pipeline hooks ------------------------------------------------------------------
    def before_save(self, ctx):
        """``before_save`` (first): carry out the operation this write was started for."""
        op = _current.get()
        if op is None or op.applied or op.object != ctx.rt.name or op.record_id != str(ctx.values.get("id")):
            return
        op.applied = True
        Machine(self, ctx, op).run()

    def authorise(self, ctx):
        """``authorise``: a record with a pending request is locked as its process says — for every
        door (API, pages, imports, automations running as a user)."""
        if ctx.event is not Event.UPDATE or ctx.actor.is_admin or not ctx.rt.odef.doc.get(KIND):
            return
        req = ctx.conn.execute(select(requests).where(
            requests.c.object == ctx.rt.name, requests.c.record_id == str(ctx.values["id"]),
            requests.c.status == "pending")).mappings().first()
        if req is None or req["lock_mode"] == "none":
            return
        if req["lock_mode"] == "approvers_and_admins" and self._is_current_approver(ctx.conn, req, ctx.actor):
            return
        raise WorkflowError("workflow.E615", _locked_message(ctx.rt, ctx.prior or ctx.values, req, "changed"))

    def after_write(self, wctx):
        """``after_write``: deleting a record with a pending request — refused by the lock for
        everyone but administrators; otherwise the request is cancelled with the record."""
        if wctx.event is not Event.DELETE or not wctx.rt.odef.doc.get(KIND):
            return
        ids = [str(c.values["id"]) for c in wctx.changes]
        pending = wctx.conn.execute(select(requests).where(
            requests.c.object == wctx.rt.name, requests.c.record_id.in_(ids),
            requests.c.status == "pending")).mappings().all()
        for req in pending:
            change = next(c for c in wctx.changes if str(c.values["id"]) == req["record_id"])
            if req["lock_mode"] != "none" and not wctx.actor.is_admin:
                raise WorkflowError("workflow.E615", _locked_message(wctx.rt, change.values, req, "deleted"))
            self._cancel(wctx.conn, req, wctx.actor, wctx.now or utcnow(), wctx.rt)

    @staticmethod
    def _cancel(conn, req, actor, now, rt):
        conn.execute(update(items).where(items.c.request_id == req["id"], items.c.status == "pending")
                     .values(status="closed", decided_at=now))
        conn.execute(update(steps).where(steps.c.request_id == req["id"], steps.c.status == "pending")
                     .values(status="closed", decided_at=now))
        conn.execute(update(requests).where(requests.c.id == req["id"]).values(status="cancelled", decided_at=now,
                                                                               updated_at=now))
        conn.execute(insert(history).values(
            id=new_id(), request_id=req["id"], step_id=None, step_name=None, action="cancelled",
            actor_id=actor.user_id, on_behalf_of=None, comment=None,
            details=json.dumps({"reason": f"the {rt.odef.label} was deleted"}), created_at=now))

    def _is_current_approver(self, conn, req, actor):
        if actor.user_id is None or req["current_step_id"] is None:
            return False
        delegators = select(users.c.id).where(users.c.delegate_id == actor.user_id)
        return conn.execute(select(items.c.id).where(
            items.c.step_id == req["current_step_id"], items.c.status == "pending",
            or_(items.c.approver_id == actor.user_id, items.c.approver_id.in_(delegators))).limit(1)).first() \
            is not None

    # -- deadlines (a scheduler hook) ----------------------------------------------------------
    def run_deadlines(self, now=None):
        """Carry out every step deadline that has passed (called by each scheduler tick). Each one
        is a separate operation; a deadline that fails is logged and tried again next tick."""
        now = now or utcnow()
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            due = conn.execute(select(steps.c.id, requests.c.object, requests.c.record_id)
                               .join(requests, requests.c.id == steps.c.request_id)
                               .where(steps.c.status == "pending", steps.c.deadline_done.is_(False),
                                      steps.c.deadline_at <= now, requests.c.status == "pending")
                               .order_by(steps.c.deadline_at)).all()
        done = []
        for step_id, obj, record_id in due:
            op = Operation("deadline", obj, record_id, SYSTEM_ACTOR, now, step_id=step_id)
            try:
                self._run(self.services.records(), op)
            except EngineError as exc:
                log.error("the deadline of approval step %s on %s %s could not be carried out: %s", step_id, obj,
                          record_id, exc.message)
                continue
            done.append(op.result)
        return done

    # -- reading ------------------------------------------------------------------------------
    def approval(self, obj, record_id, actor, records=None):
        """The record's current (latest) request — status, step, approvers and their decisions —
        and the full history of every request of the record, oldest first. ``records``: the
        caller's record service (a page's, which may remember the record it read already)."""
        records = records or self.services.records()
        self._may_see(records, obj, record_id, actor)
        if not records.snapshot.has_rows(obj, APPROVALS):   # no request of the object was ever written
            return {"request": None, "history": []}
        with read_connection(self.engine, snapshot=True) as conn:
            reqs = conn.execute(_requests_of(), {"obj": obj, "record_id": str(record_id)}).mappings().all()
            ids = [r["id"] for r in reqs]
            step_rows = conn.execute(select(steps).where(steps.c.request_id.in_(ids))
                                     .order_by(steps.c.seq)).mappings().all() if ids else []
            item_rows = conn.execute(select(items).where(items.c.request_id.in_(ids))
                                     .order_by(items.c.slot, items.c.id)).mappings().all() if ids else []
            hist = conn.execute(select(history).where(history.c.request_id.in_(ids))
                                .order_by(history.c.id)).mappings().all() if ids else []
            names = _usernames(conn, [r["submitter_id"] for r in reqs]
                               + [i["approver_id"] for i in item_rows] + [i["decided_by"] for i in item_rows]
                               + [h["actor_id"] for h in hist] + [h["on_behalf_of"] for h in hist])
        latest = reqs[-1] if reqs else None
        out = {"request": None, "history": [history_view(h, names) for h in hist]}
        if latest is not None:
            out["request"] = request_view(latest, [s for s in step_rows if s["request_id"] == latest["id"]],
                                          [i for i in item_rows if i["request_id"] == latest["id"]], names)
        return out

    def pending_for(self, actor):
        """The work items waiting for ``actor`` — as approver or as someone's delegate — oldest first."""
        if actor.user_id is None:
            return []
        with read_connection(self.engine, snapshot=True) as conn:
            delegators = select(users.c.id).where(users.c.delegate_id == actor.user_id)
            rows = conn.execute(
                select(items, requests.c.object, requests.c.record_id, requests.c.process,
                       requests.c.process_label, requests.c.submitter_id, requests.c.submitted_at,
                       steps.c.name.label("step_name"), steps.c.label.label("step_label"), steps.c.deadline_at)
                .join(requests, requests.c.id == items.c.request_id)
                .join(steps, steps.c.id == items.c.step_id)
                .where(items.c.status == "pending", requests.c.status == "pending",
                       or_(items.c.approver_id == actor.user_id, items.c.approver_id.in_(delegators)))
                .order_by(items.c.created_at, items.c.id)).mappings().all()
            names = _usernames(conn, [r["approver_id"] for r in rows] + [r["submitter_id"] for r in rows])
            record_names = _record_names(conn, self.services.snapshots.refresh(), rows)
        return [item_view(r, names, record_names, actor) for r in rows]


def _usernames(conn, ids):
    ids = sorted({i for i in ids if i})
    out = {}
    for start in range(0, len(ids), 500):
        out.update(dict(conn.execute(select(users.c.id, users.c.username)
                                     .where(users.c.id.in_(ids[start:start + 500]))).all()))
    return out


def _record_names(conn, snapshot, rows):
    """``{(object, id): (object label, record name)}`` of the records the rows are about."""
    wanted = {}
    for r in rows:
        wanted.setdefault(r["object"], set()).add(r["record_id"])
    out = {}
    for obj, ids in wanted.items():
        rt = snapshot.get(obj)
        if rt is None:
            continue
        t = rt.table
        for rid, name in conn.execute(select(t.c.id, t.c.name).where(t.c.id.in_(sorted(ids)))):
            out[(obj, rid)] = (rt.odef.label, name)
    return out


def _locked_message(rt, values, req, verb):
    who = ("only its current approvers and administrators may change it" if req["lock_mode"] == "approvers_and_admins"
           else "only administrators may change it")
    return (f"{record_shown(rt, values)} cannot be {verb} while its approval request "
            f"('{req['process_label']}') is pending: {who}.")


def _text(key, value, limit=COMMENT_MAX):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequestError("workflow.E625", f"{key} must be text of at most {limit} characters.",
                                  fields={key: ["must be text"]})
    return value


@functools.cache
def _requests_of():
    """A record's approval requests, oldest first (binds: obj, record_id): built once, every record
    page reads them."""
    return select(requests).where(requests.c.object == bindparam("obj"),
                                  requests.c.record_id == bindparam("record_id")).order_by(requests.c.id)
