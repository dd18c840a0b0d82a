"""Automation rules on the write pipeline: the hooks ``install`` puts on ``before_save``,
``after_write`` and ``after_commit``.

- ``before_save``: the rules whose trigger matches the event and whose condition holds (with
  ``ISNEW``/``ISCHANGED``/``PRIORVALUE`` against the stored record) fire; their field updates on
  the record are applied to the values about to be written — one transaction, one row version.
  Every condition is evaluated on the record as the writer sent it, before any rule's update.
- ``after_write`` (same transaction): each firing with other actions becomes an outbox row whose
  actions' formulas are evaluated now, on the record as written; the run log notes the firing;
  time-based rules are planned. Delete rules fire here (a delete has no ``before_save``).
- ``after_commit``: the rows are handed to the dispatcher (rq, or run in this process).

The loop guard: a write made by an action at depth ``d`` fires rules at depth ``d + 1``; beyond
``TESSERA_AUTOMATION_MAX_DEPTH`` the rules are not run, the run log says why, and the write
itself succeeds.
"""
from __future__ import annotations

from marshmallow import ValidationError
from sqlalchemy import insert, select

from engine.db import HISTORY, RUN_LOG, users
from engine.errors import RecordValidationError
from engine.formula import FormulaError
from engine.records.formulas import record_for_formula
from engine.records.history import tracked_fields
from engine.records.pipeline import Event
from engine.records.resolver import formula_context

from .actions import to_json_value
from .fire import Fire, formula_record
from .outbox import current_depth, line_row, log_line, new_id, outbox_row, run_row
from .tables import RowInsert, note_run_log, outbox, runs

WRITABLE_SYSTEM = ("name", "owner_id")
_OUTBOX_IDS = "automation.outbox_ids"     # WriteContext.notes: the outbox rows after_write wrote
# built once: a write with rules paid for building and keying these statements on every call
INSERT_OUTBOX, _INSERT_RUNS = RowInsert(outbox), insert(runs)


def build_outbox_row(config, service, conn, rt, values, rec, rule, *, event, depth, actor, now, prior_values=None,
                     creating=False, origin="automation", context=None, log=None, fctx=None):
    """``(outbox row, warnings)`` for a firing of ``rule`` on the record ``values`` (a row): the
    rule's deferred actions resolved now, in the caller's transaction. With ``log`` (run log lines),
    those rows and the warnings are kept in the outbox row instead of being returned. ``fctx``: the
    formula context of the write when the caller has it (else built from ``prior_values``)."""
    oid = new_id()
    prior = record_for_formula(rt, prior_values) if prior_values is not None and fctx is None else None
    fire = Fire(service, conn, rt, values, rec, event=event, rule=rule.name, outbox_id=oid, now=now, actor=actor,
                prior_rec=prior, creating=creating, context=context, fctx=fctx)
    resolved = []
    for action in rule.deferred:
        fire.index = action.index
        resolved.append({"index": action.index, "type": action.key,
                         "options": action.action.prepare(action.options, action.formulas, fire)})
    warnings = fire.warnings
    if log is not None:
        if warnings:
            log = log + [log_line(w, status="error", rule=rule.name, code="workflow.E202") for w in warnings]
        warnings = []
    row = outbox_row(id=oid, origin=origin, obj=rt.name, record_id=values.get("id"), rule=rule.name, event=event,
                     depth=depth, actions_payload=resolved, max_attempts=config.workflow_max_attempts, now=now,
                     run_as=rule.run_as, record=fire.built_json, context=context, log=log)
    return row, warnings


def _pending(conn):
    """The firings ``before_save`` left for ``after_write`` in this connection's transaction. Kept in
    the connection's own ``info`` (one thread uses a connection at a time); every entry is
    overwritten by the next ``before_save`` of its record, so one left by a failed transaction
    never reaches another transaction's ``after_write``."""
    pending = conn.info.get("tessera.automation.pending")
    if pending is None or len(pending) > 10000:
        pending = conn.info["tessera.automation.pending"] = {}
    return pending


class Firing:
    """The rules that fired on one record in ``before_save``, waiting for ``after_write``."""

    def __init__(self, depth):
        self.depth = depth
        self.rules = []
        self.logs = []          # run log rows (kwargs) to write with the firing
        self.inline = {}        # rule name -> run log rows of its field updates
        self.guarded = False
        self.fctx = None        # before_save's formula context, and what it was built from
        self.made_of = None

    def context_for(self, wctx, change):
        """before_save's formula context when ``after_write`` would build the same one (same actor,
        prior row, clock and ISNEW), else None."""
        if self.fctx is not None and self.made_of == (wctx.actor, change.prior, wctx.now,
                                                      wctx.event is Event.CREATE):
            return self.fctx
        return None


class Automations:
    """The record hooks of automation rules (see the module docstring)."""

    def __init__(self, workflow):
        self.wf = workflow
        self.config = workflow.config

    # -- flags --------------------------------------------------------------------------
    def flags(self, service, rt, event):
        """``flags``: a write that may fire a rule (or meet broken rules) may write the object's
        first run log line or outbox row (``after_write`` notes the flag), and an update whose rule
        sets a tracked field its first history row."""
        if event not in (Event.CREATE, Event.UPDATE, Event.DELETE):
            return ()
        rules = self.wf.rules(service.snapshot, rt.name)
        firing = [r for r in rules.rules if r.trigger.fires_on(event)]
        if rules.error is None and not firing:
            return ()
        out = [(rt.name, RUN_LOG)]
        if event is Event.UPDATE:
            tracked = {n for n, _f in tracked_fields(rt)}
            if any(a.options.get("field") in tracked for r in firing for a in r.inline):
                out.append((rt.name, HISTORY))
        return out

    # -- before_save ------------------------------------------------------------------
    def before_save(self, ctx):
        rules = self.wf.rules(ctx.service.snapshot, ctx.rt.name)
        if not rules.has_event_rules:
            return
        matching = rules.for_event(ctx.event)
        pending = _pending(ctx.conn)
        key = (ctx.rt.name, ctx.values["id"])
        pending.pop(key, None)
        if not matching:
            return
        firing = Firing(current_depth() + 1)
        rec = formula_record(ctx.service, ctx.rt, ctx.values, ctx.conn, rules.references,
                             plan=rules.read_plan(ctx.service, ctx.rt))
        prior = record_for_formula(ctx.rt, ctx.prior) if ctx.prior is not None else None
        fctx = formula_context(ctx.actor, prior=prior, creating=ctx.prior is None, now=ctx.now)
        for rule in matching:
            if rule.condition is not None:
                try:
                    hit = rule.condition.evaluate(rec, context=fctx)
                except FormulaError as exc:
                    firing.logs.append(dict(status="error", rule=rule.name, code="workflow.E201",
                                            message=f"Rule '{rule.label}' was not run: its condition could not "
                                                    f"be evaluated ({exc.message})."))
                    continue
                if hit is not True:
                    continue
            firing.rules.append(rule)
        if not firing.rules and not firing.logs:
            return
        pending[key] = firing
        firing.fctx, firing.made_of = fctx, (ctx.actor, ctx.prior, ctx.now, ctx.prior is None)
        if firing.depth > self.config.automation_max_depth:
            firing.guarded = True
            return
        for rule in firing.rules:
            for action in rule.inline:
                self._field_update(ctx, rule, action, rec, fctx)
                firing.inline.setdefault(rule.name, []).append(dict(
                    status="done", rule=rule.name, action_index=action.index, action_type=action.key,
                    message=f"Set {action.options['field']} (field update, in the same write)."))

    def _field_update(self, ctx, rule, action, rec, fctx):
        rt, name = ctx.rt, action.options["field"]
        fdef = rt.writable.get(name)

        def refuse(detail, code):
            label = fdef.label if fdef is not None else name.replace("_", " ").capitalize().replace(" id", "")
            message = f"Automation rule '{rule.label}' set an invalid value: {detail}"
            shown = ctx.values.get("name") or ctx.values.get("id")
            raise RecordValidationError({name: [message]}, code=code,
                                        message=f"{rt.odef.label} '{shown}' was not saved: {label}: {message}")
        try:
            value = to_json_value(action.formulas["value"].evaluate(rec, context=fctx))
        except FormulaError as exc:
            refuse(f"the formula could not be evaluated ({exc.message})", "workflow.E121")
        mfield = rt.schema.fields[name]
        try:
            loaded = mfield.deserialize(value) if value is not None else None
        except ValidationError as exc:
            msgs = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
            refuse(" ".join(map(str, msgs)), "workflow.E120")
        if name in WRITABLE_SYSTEM:
            stored, column = loaded, name
            if name == "owner_id" and (loaded is None or ctx.conn.execute(select(users.c.id).where(
                    users.c.id == loaded, users.c.active.is_(True))).first() is None):
                refuse(f"no active user with id '{str(loaded)[:40]}'", "workflow.E120")
        else:
            stored, column = rt.ftypes[name].to_storage(fdef, loaded), fdef.column
            if fdef.required and stored in (None, "", []):
                refuse("the field is required", "workflow.E120")
        ctx.values[column] = stored
        rec[name] = stored

    # -- after_write ------------------------------------------------------------------
    def after_write(self, wctx):
        rules = self.wf.rules(wctx.service.snapshot, wctx.rt.name)
        if not rules.rules and rules.error is None:
            return
        if rules.time_rules:
            self.wf.planner.plan_after_write(wctx, rules)
        if wctx.event in (Event.CREATE, Event.UPDATE):
            pending = _pending(wctx.conn)
            firings = [(c, pending.pop((wctx.rt.name, c.values["id"]), None)) for c in wctx.changes]
        elif wctx.event is Event.DELETE:
            firings = self._delete_firings(wctx, rules)
        else:
            return
        log_rows, out_rows = [], []
        obj, now, event = wctx.rt.name, wctx.now, str(wctx.event)
        for change, firing in firings:
            if firing is None:
                continue
            rid = change.values["id"]
            for entry in firing.logs:
                log_rows.append(run_row(obj, rid, now=now, **entry))
            if firing.guarded:
                limit = self.config.automation_max_depth
                for rule in firing.rules:
                    log_rows.append(run_row(
                        obj, rid, status="error", rule=rule.name, code="workflow.E203", now=now,
                        message=f"Rule '{rule.label}' was not run: the chain of automations would be {firing.depth} "
                                f"deep, deeper than TESSERA_AUTOMATION_MAX_DEPTH ({limit}). Rules that update "
                                "records trigger each other; change a condition to end the loop. The write "
                                "itself was saved."))
                continue
            # the firing's lines, short (log_line): they ride in its outbox rows, or go to the run log
            lines, with_rows, alone = {}, [], []
            for rule in firing.rules:
                mine = [log_line(f"Rule '{rule.label}' fired ({event}).", status="fired", rule=rule.name)]
                mine += [log_line(**e) for e in firing.inline.get(rule.name, ())]
                if rule.deferred:
                    lines[rule.name] = mine
                    with_rows.append(rule)
                else:
                    alone += mine
            if not with_rows:
                log_rows += [line_row(line, obj, rid, now) for line in alone]
                continue
            # the run log lines of the firing ride in its outbox rows: one INSERT less in the write
            rec = formula_record(wctx.service, wctx.rt, change.values, wctx.conn, rules.references,
                                 plan=rules.read_plan(wctx.service, wctx.rt))
            fctx = firing.context_for(wctx, change)
            if fctx is None:
                prior = record_for_formula(wctx.rt, change.prior) if change.prior is not None else None
                fctx = formula_context(wctx.actor, prior=prior, creating=wctx.event is Event.CREATE, now=now)
            for n, rule in enumerate(with_rows):
                row, _warnings = self.build_row(wctx, rule, change, rec, firing.depth,
                                                log=lines[rule.name] + (alone if n == 0 else []), fctx=fctx)
                out_rows.append(row)
        if out_rows or log_rows:
            known = wctx.service.snapshot.features
            if known is None or (obj, RUN_LOG) not in known:      # (every row is of this object)
                note_run_log(wctx.conn, known, out_rows + log_rows)
        if out_rows:
            INSERT_OUTBOX.execute(wctx.conn, out_rows)
            wctx.notes[_OUTBOX_IDS] = [r["id"] for r in out_rows]     # for after_commit
        if log_rows:
            wctx.conn.execute(_INSERT_RUNS, log_rows)

    def build_row(self, wctx, rule, change, rec, depth, log=None, fctx=None):
        """The outbox row of one firing: its deferred actions resolved on the record as written, the
        firing's run log lines kept in it."""
        return build_outbox_row(self.config, wctx.service, wctx.conn, wctx.rt, change.values, rec, rule,
                                event=wctx.event, depth=depth, actor=wctx.actor, now=wctx.now,
                                prior_values=change.prior, creating=wctx.event is Event.CREATE, log=log, fctx=fctx)

    def _delete_firings(self, wctx, rules):
        matching = rules.for_event(Event.DELETE)
        if not matching:
            return []
        out = []
        depth = current_depth() + 1
        for change in wctx.changes:
            firing = Firing(depth)
            rec = formula_record(wctx.service, wctx.rt, change.values, wctx.conn, rules.references,
                                 plan=rules.read_plan(wctx.service, wctx.rt))
            same = record_for_formula(wctx.rt, change.values)
            fctx = formula_context(wctx.actor, prior=same, creating=False, now=wctx.now)
            for rule in matching:
                try:
                    hit = rule.condition is None or rule.condition.evaluate(rec, context=fctx) is True
                except FormulaError as exc:
                    firing.logs.append(dict(status="error", rule=rule.name, code="workflow.E201",
                                            message=f"Rule '{rule.label}' was not run: its condition could not "
                                                    f"be evaluated ({exc.message})."))
                    continue
                if hit:
                    firing.rules.append(rule)
            firing.guarded = depth > self.config.automation_max_depth
            if firing.rules or firing.logs:
                out.append((change, firing))
        return out

    # -- after_commit -----------------------------------------------------------------
    def after_commit(self, wctx):
        ids = wctx.notes.get(_OUTBOX_IDS)
        if ids:
            self.wf.dispatch(ids)
