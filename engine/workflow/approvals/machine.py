"""The approval state machine: submit, approve, reject, recall, reassign and deadlines, each one
:class:`Operation` carried out by a :class:`Machine` inside a write of the record itself.

Why inside a record write: the process's field updates (``status`` to 'Approved') must commit
with the decision, through the write pipeline (validation, history, roll-ups, automations), and
two approvers answering at once must produce one outcome. The approval service asks the record
service to update the record as the system; this module runs in that write's ``before_save``
(first of the hooks), on its connection. The record row is locked by the write (``SELECT … FOR
UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and the request row again here, so the
second of two simultaneous decisions sees the first one's result.

Every refusal is an ``EngineError`` with a ``workflow.E6xx`` code (the table is in
``docs/workflow.md``, Approvals).
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field

from marshmallow import ValidationError
from sqlalchemy import insert, select, update

from engine.db import APPROVALS, users
from engine.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RecordValidationError,
    WorkflowError,
)
from engine.formula import FormulaError, compile_formula
from engine.metadata.store import note_rows
from engine.records.formulas import record_for_formula
from engine.records.resolver import formula_context

from ..actions import to_json_value
from ..fire import formula_record
from ..outbox import new_id
from .model import active_processes, label_of, lock_mode, parse_decision, step_outcome
from .resolvers import ResolveContext, resolve_approver
from .tables import history, items, requests, steps

WRITABLE_SYSTEM = ("name", "owner_id")


@dataclass
class Operation:
    """One thing asked of the state machine for one record (see the module docstring)."""

    kind: str                       # submit | approve | reject | recall | reassign | deadline
    object: str
    record_id: str
    actor: object
    now: _dt.datetime
    comment: str | None = None
    process: str | None = None      # submit: the process named by the caller
    to: str | None = None           # reassign: the username to give the work item to
    from_user: str | None = None    # reassign by an administrator: whose work item
    step_id: str | None = None      # deadline: the step instance whose deadline passed
    applied: bool = False
    request_id: str | None = None
    outbox_ids: list = field(default_factory=list)
    result: str | None = None       # what happened, for logs and tests


def record_shown(rt, values):
    return f"{rt.odef.label} '{values.get('name') or values.get('id')}'"


class Users:
    """Users read on the operation's connection, by id and by username."""

    def __init__(self, conn):
        self.conn = conn
        self._by_id = {}

    def get(self, user_id):
        if user_id is None:
            return None
        if user_id not in self._by_id:
            self._by_id[user_id] = self.conn.execute(select(users).where(users.c.id == user_id)).first()
        return self._by_id[user_id]

    def by_name(self, username):
        row = self.conn.execute(select(users).where(users.c.username == username)).first()
        if row is not None:
            self._by_id[row.id] = row
        return row

    def name(self, user_id):
        row = self.get(user_id)
        return row.username if row is not None else ("system" if user_id is None else user_id)

    def active(self, user_id):
        row = self.get(user_id)
        return row is not None and row.active


class Machine:
    """Carries out one :class:`Operation` in a record write's ``before_save`` (``ctx``)."""

    def __init__(self, approvals, ctx, op):
        self.approvals = approvals
        self.ctx, self.op = ctx, op
        self.conn, self.rt, self.service = ctx.conn, ctx.rt, ctx.service
        self.now = op.now
        self.users = Users(self.conn)
        self.shown = record_shown(self.rt, ctx.values)
        self._fields = None

    def run(self):
        getattr(self, f"_{self.op.kind}")()

    # -- formulas --------------------------------------------------------------------------
    def fields_map(self):
        if self._fields is None:
            self._fields = self.approvals.fields_map(self.service.snapshot, self.rt.name)
        return self._fields

    def compile(self, source, return_type, what, process):
        try:
            return compile_formula(source, self.fields_map(), return_type=return_type)
        except FormulaError as exc:
            raise WorkflowError("workflow.E616", f"The {what} of approval process '{label_of(process)}' no longer "
                                                 f"compiles: {exc.message}. An administrator must correct it.") from None

    def holds(self, source, what, process):
        """Whether a boolean formula of ``process`` holds on the record as it is being written."""
        if source is None:
            return True
        compiled = self.compile(source, "boolean", what, process)
        rec = formula_record(self.service, self.rt, self.ctx.values, self.conn, compiled.references)
        try:
            return compiled.evaluate(rec, context=self._context()) is True
        except FormulaError as exc:
            raise WorkflowError("workflow.E616", f"The {what} of approval process '{label_of(process)}' could not be "
                                                 f"evaluated on {self.shown}: {exc.message}.") from None

    def _context(self):
        prior = record_for_formula(self.rt, self.ctx.prior) if self.ctx.prior is not None else {}
        return formula_context(self.op.actor, prior=prior, creating=False, now=self.now)

    # -- reading state -----------------------------------------------------------------------
    def pending(self):
        stmt = select(requests).where(requests.c.object == self.rt.name,
                                      requests.c.record_id == str(self.ctx.values["id"]),
                                      requests.c.status == "pending")
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.conn.execute(stmt).mappings().first()

    def require_pending(self):
        req = self.pending()
        if req is None:
            raise ConflictError("workflow.E607", f"{self.shown} has no pending approval request.")
        self.op.request_id = req["id"]
        return req, json.loads(req["process_doc"])

    def current_step(self, req):
        return self.conn.execute(select(steps).where(steps.c.id == req["current_step_id"])).mappings().first()

    def step_items(self, step_id, status=None):
        stmt = select(items).where(items.c.step_id == step_id)
        if status:
            stmt = stmt.where(items.c.status == status)
        return list(self.conn.execute(stmt.order_by(items.c.slot, items.c.created_at, items.c.id)).mappings())

    def my_item(self, step):
        """The actor's pending work item in ``step``: their own first, else one they hold as a
        delegate (oldest first)."""
        actor_id = self.op.actor.user_id
        if actor_id is None:
            return None
        open_items = self.step_items(step["id"], "pending")
        own = [i for i in open_items if i["approver_id"] == actor_id]
        if own:
            return own[0]
        for item in open_items:
            holder = self.users.get(item["approver_id"])
            if holder is not None and holder.delegate_id == actor_id:
                return item
        return None

    # -- writing state -----------------------------------------------------------------------
    def log(self, req_id, action, *, step=None, actor_id="actor", on_behalf_of=None, comment=None, details=None):
        if step is not None:
            details = dict(details or {}, step_label=step["label"])
        self.conn.execute(insert(history).values(
            id=new_id(), request_id=req_id, step_id=step["id"] if step else None,
            step_name=step["name"] if step else None, action=action,
            actor_id=self.op.actor.user_id if actor_id == "actor" else actor_id, on_behalf_of=on_behalf_of,
            comment=comment, details=json.dumps(details) if details is not None else None, created_at=self.now))

    def _set_request(self, req_id, **values):
        self.conn.execute(update(requests).where(requests.c.id == req_id).values(updated_at=self.now, **values))

    def _close_items(self, step_id, *, slot=None):
        cond = [items.c.step_id == step_id, items.c.status == "pending"]
        if slot is not None:
            cond.append(items.c.slot == slot)
        self.conn.execute(update(items).where(*cond).values(status="closed", decided_at=self.now))

    # -- submit ----------------------------------------------------------------------------
    def _submit(self):
        existing = self.pending()
        if existing is not None:
            raise ConflictError("workflow.E604", f"{self.shown} already has a pending approval request "
                                                 f"('{existing['process_label']}'); wait for its decision or recall it.")
        process = self.choose()
        req_id = new_id()
        self.op.request_id = req_id
        note_rows(self.conn, self.service.snapshot.features, (self.rt.name,), APPROVALS)   # the record page reads them
        self.conn.execute(insert(requests).values(
            id=req_id, object=self.rt.name, record_id=str(self.ctx.values["id"]), process=process["name"],
            process_label=label_of(process), process_doc=json.dumps(process), status="pending",
            lock_mode=lock_mode(process), submitter_id=self.op.actor.user_id, comment=self.op.comment,
            current_step_id=None, submitted_at=self.now, decided_at=None, updated_at=self.now))
        self.log(req_id, "submitted", comment=self.op.comment,
                 details={"process": process["name"], "label": label_of(process)})
        req = {"id": req_id, "submitter_id": self.op.actor.user_id}
        # every step that would run now must have its approvers: a submit never starts a request
        # that is bound to stall
        for index, step in enumerate(process["steps"]):
            if self.holds(step.get("criteria"), f"criteria of step '{label_of(step)}'", process):
                self.resolve(process, index, req)
        self.run_actions(process, "on_submit", req)
        if self.advance(process, req, -1) == "approved":
            self.finish_request(process, req, "approved")
        self.op.result = "submitted"

    def choose(self):
        doc = self.rt.odef.doc
        if self.op.process is not None:
            every = [p for p in doc.get("approval_processes") or [] if isinstance(p, dict)]
            process = next((p for p in every if p.get("name") == self.op.process), None)
            if process is None:
                from engine.metadata.checks import suggest
                names = [p.get("name") for p in every]
                raise NotFoundError("workflow.E601", f"Unknown approval process '{self.op.process}' on "
                                                     f"'{self.rt.name}'{suggest(self.op.process, names)}.")
            if not process.get("active", True):
                raise WorkflowError("workflow.E602", f"Approval process '{label_of(process)}' is not active.")
            if not self.holds(process.get("entry_criteria"), "entry criteria", process):
                raise WorkflowError("workflow.E603", f"{self.shown} does not meet the entry criteria of approval "
                                                     f"process '{label_of(process)}' ({process['entry_criteria']}).")
            return process
        processes = active_processes(doc)
        if not processes:
            raise WorkflowError("workflow.E600", f"No approval process applies to {self.shown}: "
                                                 f"{self.rt.odef.label} has no active approval process.")
        for process in processes:
            if self.holds(process.get("entry_criteria"), "entry criteria", process):
                return process
        needs = "; ".join(f"'{label_of(p)}' needs {p['entry_criteria']}" for p in processes)
        raise WorkflowError("workflow.E600", f"No approval process applies to {self.shown}: {needs}.")

    # -- steps -------------------------------------------------------------------------------
    def advance(self, process, req, after_index):
        """Start the first step after ``after_index`` whose criteria hold (the others are skipped);
        ``"approved"`` when none is left."""
        for index in range(after_index + 1, len(process["steps"])):
            step = process["steps"][index]
            if self.holds(step.get("criteria"), f"criteria of step '{label_of(step)}'", process):
                self.start_step(process, req, index)
                return None
            self.log(req["id"], "skipped", actor_id=None, details={"step": step["name"], "step_label": label_of(step),
                                                                   "criteria": step["criteria"]})
        return "approved"

    def start_step(self, process, req, index):
        step = process["steps"][index]
        approvers = self.resolve(process, index, req)
        decision, _problem = parse_decision(step.get("decision"))
        required = decision.required(len(approvers))
        seq = len(self.conn.execute(select(steps.c.id).where(steps.c.request_id == req["id"])).all()) + 1
        hours = step.get("deadline_hours")
        row = {"id": new_id(), "request_id": req["id"], "seq": seq, "step_index": index, "name": step["name"],
               "label": label_of(step), "status": "pending", "rule": decision.rule,
               "required": required, "slots": len(approvers),
               "deadline_at": self.now + _dt.timedelta(hours=hours) if hours else None,
               "deadline_done": False, "started_at": self.now, "decided_at": None}
        self.conn.execute(insert(steps).values(row))
        self.conn.execute(insert(items), [
            {"id": new_id(), "request_id": req["id"], "step_id": row["id"], "slot": slot, "approver_id": uid,
             "origin": origin, "status": "pending", "decided_by": None, "decided_at": None, "comment": None,
             "created_at": self.now} for slot, (uid, origin) in enumerate(approvers)])
        self._set_request(req["id"], current_step_id=row["id"])
        self.log(req["id"], "step_started", step=row, actor_id=None,
                 details={"approvers": [self.users.name(uid) for uid, _o in approvers], "required": required,
                          "decision": decision.describe()})
        return row

    def resolve(self, process, index, req):
        """``[(user id, origin)]``: the approvers of a step, each user once; an approver that
        resolves to nobody refuses (E605), as does a quorum larger than the approvers (E606)."""
        step = process["steps"][index]
        out, seen = [], set()
        for spec in step["approvers"]:
            found, reason = self._resolve_one(spec, req)
            if not found:
                raise WorkflowError("workflow.E605", f"Step '{label_of(step)}' of approval process "
                                                     f"'{label_of(process)}' has no approver: {reason}.")
            for uid, origin in found:
                if uid not in seen:
                    seen.add(uid)
                    out.append((uid, origin))
        decision, _problem = parse_decision(step.get("decision"))
        if decision.rule == "quorum" and decision.number > len(out):
            raise WorkflowError("workflow.E606", f"Step '{label_of(step)}' of approval process '{label_of(process)}' "
                                                 f"needs {decision.number} approvals but has only {len(out)} "
                                                 f"approver{'s' if len(out) != 1 else ''}.")
        return out

    def _resolve_one(self, spec, req):
        rctx = ResolveContext(conn=self.conn, users=self.users, rt=self.rt, values=self.ctx.values, request=req,
                              actor=self.op.actor, now=self.now)
        return resolve_approver(spec, rctx)

    def finish_step(self, process, req, step, outcome):
        """A step decided ``outcome``: go on, send back, or end the request."""
        self._close_items(step["id"])
        if outcome == "approved":
            self.conn.execute(update(steps).where(steps.c.id == step["id"]).values(status="approved",
                                                                                     decided_at=self.now))
            self.log(req["id"], "step_approved", step=step, actor_id=None)
            if self.advance(process, req, step["step_index"]) == "approved":
                self.finish_request(process, req, "approved")
            return
        doc = process["steps"][step["step_index"]]
        previous = None
        if doc.get("on_reject") == "back":
            previous = self.conn.execute(select(steps).where(
                steps.c.request_id == req["id"], steps.c.status == "approved",
                steps.c.step_index < step["step_index"]).order_by(steps.c.seq.desc())).mappings().first()
        if previous is not None:
            self.conn.execute(update(steps).where(steps.c.id == step["id"]).values(status="back", decided_at=self.now))
            self.log(req["id"], "sent_back", step=step, actor_id=None,
                     details={"to": previous["name"], "label": previous["label"]})
            self.start_step(process, req, previous["step_index"])
            return
        self.conn.execute(update(steps).where(steps.c.id == step["id"]).values(status="rejected", decided_at=self.now))
        self.log(req["id"], "step_rejected", step=step, actor_id=None)
        self.finish_request(process, req, "rejected")

    def finish_request(self, process, req, status):
        self._set_request(req["id"], status=status, decided_at=self.now)
        self.log(req["id"], f"request_{status}", actor_id=None)
        self.run_actions(process, "on_approve" if status == "approved" else "on_reject", req)
        self.op.result = status

    # -- decisions ---------------------------------------------------------------------------
    def _approve(self):
        self._decide("approved")

    def _reject(self):
        self._decide("rejected")

    def _decide(self, verdict):
        req, process = self.require_pending()
        step = self.current_step(req)
        item = self.my_item(step)
        if item is None:
            raise PermissionDeniedError("workflow.E608", f"You are not an approver of step '{step['label']}' of the "
                                                         f"approval request of {self.shown}, nor the delegate of one.")
        actor_id = self.op.actor.user_id
        self.conn.execute(update(items).where(items.c.id == item["id"]).values(
            status=verdict, decided_by=actor_id, decided_at=self.now, comment=self.op.comment))
        self._close_items(step["id"], slot=item["slot"])
        if item["approver_id"] == actor_id:
            # one person, one vote: an approver holding other slots (escalated to them) gives them up
            self.conn.execute(update(items).where(items.c.step_id == step["id"], items.c.status == "pending",
                                                  items.c.approver_id == actor_id)
                              .values(status="closed", decided_at=self.now))
        self.log(req["id"], verdict, step=step, comment=self.op.comment,
                 on_behalf_of=item["approver_id"] if item["approver_id"] != actor_id else None)
        self.op.result = verdict
        self.decide_step(process, req, step)

    def decide_step(self, process, req, step):
        votes = {}
        for it in self.step_items(step["id"]):
            if it["status"] in ("approved", "rejected"):
                votes[it["slot"]] = it["status"]
            else:
                votes.setdefault(it["slot"], None)
        outcome = step_outcome(step["rule"], step["required"], list(votes.values()))
        if outcome is not None:
            self.finish_step(process, req, step, outcome)

    # -- recall and reassign --------------------------------------------------------------
    def _recall(self):
        req, process = self.require_pending()
        actor = self.op.actor
        if not (actor.is_admin or (actor.user_id is not None and actor.user_id == req["submitter_id"])):
            raise PermissionDeniedError("workflow.E610", f"Only the submitter ('{self.users.name(req['submitter_id'])}') "
                                                         "or an administrator may recall this approval request.")
        if not process.get("allow_recall", False):
            raise WorkflowError("workflow.E609", f"Approval process '{label_of(process)}' does not allow recalling "
                                                 "a request.")
        step = self.current_step(req)
        if step is not None:
            self._close_items(step["id"])
            self.conn.execute(update(steps).where(steps.c.id == step["id"]).values(status="closed",
                                                                                     decided_at=self.now))
        self._set_request(req["id"], status="recalled", decided_at=self.now)
        self.log(req["id"], "recalled", step=step, comment=self.op.comment)
        self.run_actions(process, "on_recall", req)
        self.op.result = "recalled"

    def _reassign(self):
        req, _process = self.require_pending()
        step = self.current_step(req)
        actor = self.op.actor
        target = self.users.by_name(self.op.to)
        if target is None or not target.active:
            raise WorkflowError("workflow.E611", f"No active user '{self.op.to}' to reassign the work item to.")
        item = self.my_item(step)
        if item is None:
            if not actor.is_admin:
                raise PermissionDeniedError("workflow.E613", f"Only a current approver of step '{step['label']}' or "
                                                             "an administrator may reassign its work items.")
            item = self._item_for_admin(step)
        open_items = self.step_items(step["id"], "pending")
        if any(i["approver_id"] == target.id for i in open_items):
            raise ConflictError("workflow.E612", f"'{target.username}' is already an approver of step "
                                                 f"'{step['label']}'.")
        holder = self.users.name(item["approver_id"])
        self.conn.execute(update(items).where(items.c.id == item["id"]).values(
            status="reassigned", decided_by=actor.user_id, decided_at=self.now, comment=self.op.comment))
        self.conn.execute(insert(items).values(
            id=new_id(), request_id=req["id"], step_id=step["id"], slot=item["slot"], approver_id=target.id,
            origin=f"reassigned from '{holder}'", status="pending", decided_by=None, decided_at=None, comment=None,
            created_at=self.now))
        on_behalf = item["approver_id"] if item["approver_id"] != actor.user_id and not actor.is_admin else None
        self.log(req["id"], "reassigned", step=step, comment=self.op.comment, on_behalf_of=on_behalf,
                 details={"from": holder, "to": target.username})
        self.op.result = "reassigned"

    def _item_for_admin(self, step):
        open_items = self.step_items(step["id"], "pending")
        holders = []
        for i in open_items:
            name = self.users.name(i["approver_id"])
            if name not in holders:
                holders.append(name)
        shown = ", ".join(f"'{h}'" for h in holders)
        if self.op.from_user is not None:
            found = [i for i in open_items if self.users.name(i["approver_id"]) == self.op.from_user]
            if not found:
                raise WorkflowError("workflow.E614", f"'{self.op.from_user}' has no pending work item in step "
                                                     f"'{step['label']}' (pending: {shown}).")
            return found[0]
        if len(holders) == 1:
            return open_items[0]
        raise WorkflowError("workflow.E614", f"Step '{step['label']}' has several pending work items; say whose to "
                                             f"reassign with \"from\": one of {shown}.")

    # -- deadlines -------------------------------------------------------------------------
    def _deadline(self):
        req = self.pending()
        if req is None or req["current_step_id"] != self.op.step_id:
            self.op.result = "gone"
            return
        self.op.request_id = req["id"]
        process = json.loads(req["process_doc"])
        step = self.current_step(req)
        if step["status"] != "pending" or step["deadline_done"] or step["deadline_at"] is None or \
                _aware(step["deadline_at"]) > self.now:
            self.op.result = "not due"
            return
        self.conn.execute(update(steps).where(steps.c.id == step["id"]).values(deadline_done=True))
        mode = process["steps"][step["step_index"]].get("on_deadline", "escalate")
        hours = process["steps"][step["step_index"]].get("deadline_hours")
        if mode == "escalate":
            added = self._escalate(req, step)
            self.log(req["id"], "escalated", step=step, actor_id=None,
                     details={"hours": hours, "to": [a[1] for a in added], "from": [a[0] for a in added]})
            self.op.result = "escalated"
            return
        verdict = "approved" if mode == "approve" else "rejected"
        self.log(req["id"], f"deadline_{mode}", step=step, actor_id=None, details={"hours": hours})
        self.op.result = f"deadline_{mode}"
        self.finish_step(process, req, step, verdict)

    def _escalate(self, req, step):
        """Add, for every slot still open, each waiting approver's manager to the same slot."""
        added = []
        open_items = self.step_items(step["id"], "pending")
        holding = {(i["slot"], i["approver_id"]) for i in open_items}
        for item in open_items:
            holder = self.users.get(item["approver_id"])
            manager = holder.manager_id if holder is not None else None
            if manager is None or not self.users.active(manager) or (item["slot"], manager) in holding:
                continue
            holding.add((item["slot"], manager))
            self.conn.execute(insert(items).values(
                id=new_id(), request_id=req["id"], step_id=step["id"], slot=item["slot"], approver_id=manager,
                origin=f"escalated: manager of '{holder.username}'", status="pending", decided_by=None,
                decided_at=None, comment=None, created_at=self.now))
            added.append((holder.username, self.users.name(manager)))
        return added

    # -- actions -----------------------------------------------------------------------------
    def run_actions(self, process, key, req):
        """The process's actions for ``key``: field updates on the record being written (this
        transaction); every other action through one outbox row, dispatched after the commit."""
        docs = process.get(key) or []
        for action in docs:
            if action["type"] == "field_update":
                self.set_field(process, action)
        deferred = [a for a in docs if a["type"] != "field_update"]
        if deferred:
            oid = self.approvals.workflow.write_actions(
                self.conn, self.service, self.rt, self.ctx.values, deferred, origin="approval",
                label=f"{process['name']}.{key}", actor=self.op.actor, now=self.now,
                context={"submitter": req["submitter_id"], "request": req["id"]})
            if oid:
                self.op.outbox_ids.append(oid)

    def set_field(self, process, action):
        rt, name, values = self.rt, action["field"], self.ctx.values
        fdef = rt.writable.get(name)
        label = fdef.label if fdef is not None else name.replace("_", " ").capitalize().replace(" id", "")

        def refuse(detail):
            message = f"Approval process '{label_of(process)}' set an invalid value: {detail}"
            raise RecordValidationError({name: [message]}, code="workflow.E617",
                                        message=f"{self.shown} was not saved: {label}: {message}")

        compiled = self.compile(action["value"], None, f"value for '{name}'", process)
        rec = formula_record(self.service, rt, values, self.conn, compiled.references)
        try:
            value = to_json_value(compiled.evaluate(rec, context=self._context()))
        except FormulaError as exc:
            refuse(f"the formula could not be evaluated ({exc.message})")
        if name not in rt.schema.fields:
            refuse("the field no longer exists")
        try:
            loaded = rt.schema.fields[name].deserialize(value) if value is not None else None
        except ValidationError as exc:
            msgs = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
            refuse(" ".join(map(str, msgs)))
        if name in WRITABLE_SYSTEM:
            if name == "owner_id" and not self.users.active(loaded):
                refuse(f"no active user with id '{str(loaded)[:40]}'")
            values[name] = loaded
            return
        stored = rt.ftypes[name].to_storage(fdef, loaded)
        if fdef.required and stored in (None, "", []):
            refuse("the field is required")
        values[fdef.column] = stored


def _aware(value):
    return value.replace(tzinfo=_dt.timezone.utc) if value.tzinfo is None else value
