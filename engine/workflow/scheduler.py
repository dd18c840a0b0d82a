"""Time-based and scheduled rules, durably: plans in database rows, carried out by ``run_due(now)``.

- A time-based rule (``{"time": {"field": "close_date", "offset_hours": -72}}``) has one planned
  row per record in ``tessera_wf_due``: planned when the record is written with the field set and
  the condition holding, moved when the field changes, cancelled when the field is cleared, the
  condition stops holding or the record is deleted. When the rule itself changes, its plan is
  rebuilt over every record (``replan``). At the due time the condition is checked again.
- A scheduled rule (``{"schedule": "0 8 * * 1"}``) has its next run in ``tessera_wf_rule_state``;
  at that time the condition (compiled to SQL) selects the records to act on. A scheduler that
  was down runs a missed schedule once, not once per missed slot.
- ``run_due`` also re-dispatches outbox rows that are due again (retries after backoff, rows whose
  worker died or whose enqueue failed).

Several scheduler processes may run at once: every step claims its row with a conditional update.
"""
from __future__ import annotations

import datetime as _dt
import logging

from sqlalchemy import delete, insert, select, update

from engine.db import RUN_LOG, utcnow
from engine.formula import FormulaError
from engine.metadata.store import lock_before_flags
from engine.records.pipeline import Event
from engine.records.resolver import formula_context
from engine.security import SYSTEM_ACTOR

from .automation import build_outbox_row
from .fire import formula_record
from .model import next_cron, parse_trigger, rule_spec
from .outbox import due_for_dispatch, run_row
from .tables import aware, due, note_run_log, outbox, rule_state, runs

log = logging.getLogger("tessera.workflow")
CHUNK = 500


class Planner:
    """Plans time-based rules and runs what is due (see the module docstring)."""

    def __init__(self, workflow):
        self.wf = workflow
        self.services = workflow.services
        self.engine = workflow.services.engine

    # -- planning on writes ---------------------------------------------------------------
    def plan_after_write(self, wctx, rules):
        """``after_write``: (re)plan the time-based rules of the records written."""
        ids = [c.values["id"] for c in wctx.changes]
        conn, obj = wctx.conn, wctx.rt.name
        if wctx.event is Event.PURGE:
            for i in range(0, len(ids), CHUNK):
                conn.execute(delete(due).where(due.c.object == obj, due.c.record_id.in_(ids[i:i + CHUNK])))
        elif wctx.event is Event.DELETE:
            for i in range(0, len(ids), CHUNK):
                conn.execute(update(due).where(due.c.object == obj, due.c.record_id.in_(ids[i:i + CHUNK]),
                                               due.c.status == "planned").values(status="cancelled",
                                                                                 updated_at=wctx.now))
        else:
            self.plan(conn, wctx.service, wctx.rt, rules, rules.time_rules, [c.values for c in wctx.changes],
                      wctx.now or utcnow())

    def plan(self, conn, service, rt, rules, time_rules, rows, now):
        """Upsert the planned runs of ``time_rules`` for ``rows`` (stored records)."""
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i:i + CHUNK]
            ids = [r["id"] for r in chunk]
            names = [r.name for r in time_rules]
            existing = {(e.record_id, e.rule): e for e in conn.execute(select(due).where(
                due.c.object == rt.name, due.c.record_id.in_(ids), due.c.rule.in_(names)))}
            for values in chunk:
                rec = formula_record(service, rt, values, conn, rules.references)
                for rule in time_rules:
                    self._upsert(conn, rt.name, values["id"], rule, self._due_at(rule, rec, now),
                                 existing.get((values["id"], rule.name)), now)

    @staticmethod
    def _due_at(rule, rec, now):
        value = rec.get(rule.trigger.field)
        if value is None:
            return None
        if isinstance(value, _dt.datetime):
            at = aware(value)
        elif isinstance(value, _dt.date):
            at = _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc)
        else:
            return None
        if rule.condition is not None:
            try:
                if rule.condition.evaluate(rec, context=formula_context(SYSTEM_ACTOR, creating=True, now=now)) is not True:
                    return None
            except FormulaError:
                return None
        return at + _dt.timedelta(hours=rule.trigger.offset_hours)

    @staticmethod
    def _upsert(conn, obj, record_id, rule, due_at, old, now):
        key = (due.c.object == obj, due.c.record_id == record_id, due.c.rule == rule.name)
        if due_at is None:
            if old is not None and old.status == "planned":
                conn.execute(update(due).where(*key).values(status="cancelled", updated_at=now))
        elif old is None:
            conn.execute(insert(due).values(object=obj, record_id=record_id, rule=rule.name, due_at=due_at,
                                            status="planned", outbox_id=None, updated_at=now))
        elif aware(old.due_at) != due_at or old.status == "cancelled":
            conn.execute(update(due).where(*key).values(due_at=due_at, status="planned", updated_at=now))
        # same time and already done: it ran; an edit that does not move the date does not run it again

    # -- rule state (metadata changes) -------------------------------------------------------
    def after_change(self, conn, old_odef, new_odef, docs_after, actor=None):
        """``MetadataHooks.after_change``: keep the time/schedule rule state of the object in step
        with its rules, in the metadata change's transaction."""
        obj = (new_odef or old_odef).api_name
        rules = (new_odef.doc.get("automation_rules") or []) if new_odef is not None else []
        self.sync(conn, obj, rules, utcnow())

    def sync(self, conn, obj, rule_docs, now):
        """Make ``tessera_wf_rule_state`` match the active time/schedule rules of ``obj``."""
        wanted = {}
        for doc in rule_docs:
            if not isinstance(doc, dict) or not doc.get("active", True):
                continue
            trigger, problem = parse_trigger(doc.get("trigger"))
            if problem is None and trigger.kind in ("time", "schedule"):
                wanted[doc["name"]] = (trigger, rule_spec(doc))
        have = {r.rule: r for r in conn.execute(select(rule_state).where(rule_state.c.object == obj))}
        for name, row in have.items():
            if name not in wanted:
                conn.execute(delete(rule_state).where(rule_state.c.object == obj, rule_state.c.rule == name))
                conn.execute(update(due).where(due.c.object == obj, due.c.rule == name, due.c.status == "planned")
                             .values(status="cancelled", updated_at=now))
        for name, (trigger, spec) in wanted.items():
            row = have.get(name)
            if row is not None and row.spec == spec:
                continue
            values = dict(kind=trigger.kind, spec=spec, updated_at=now, replan=trigger.kind == "time",
                          next_run_at=next_cron(trigger, now) if trigger.kind == "schedule" else None)
            if row is None:
                conn.execute(insert(rule_state).values(object=obj, rule=name, last_run_at=None, **values))
            else:
                conn.execute(update(rule_state).where(rule_state.c.object == obj, rule_state.c.rule == name)
                             .values(**values))

    # -- the scheduler's tick ------------------------------------------------------------------
    def run_due(self, now=None):
        """Do everything due at ``now`` (default: the clock); returns counts for logs and tests."""
        now = now or utcnow()
        snap = self.services.snapshots.refresh()
        self._sync_all(snap, now)
        summary = {"replanned": self._replan(snap, now)}
        ids = self._fire_time(snap, now)
        summary["time"] = len(ids)
        scheduled = self._fire_schedules(snap, now)
        summary["schedule"] = len(scheduled)
        self.wf.dispatch(ids + scheduled, now=now)
        with self.engine.begin() as conn:
            again = due_for_dispatch(conn, now, self.wf.config.workflow_requeue_seconds,
                                     unclaimed=self.wf.queue_is_empty())
            if again:
                conn.execute(update(outbox).where(outbox.c.id.in_(again)).values(enqueued_at=now))
        summary["redispatched"] = len(again)
        self.wf.dispatch(again, now=now)
        for hook in self.wf.due_hooks:
            hook(now)
        return summary

    def _sync_all(self, snap, now):
        """Rule state for every object (rules installed without a metadata change, e.g. restored
        from history, get theirs); a write transaction only when something differs."""
        wanted = {}
        for name, rt in snap.objects.items():
            for doc in rt.odef.doc.get("automation_rules") or []:
                if isinstance(doc, dict) and doc.get("active", True):
                    trigger, problem = parse_trigger(doc.get("trigger"))
                    if problem is None and trigger.kind in ("time", "schedule"):
                        wanted[(name, doc["name"])] = rule_spec(doc)
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            have = {(r.object, r.rule): r.spec for r in conn.execute(
                select(rule_state.c.object, rule_state.c.rule, rule_state.c.spec))}
        if have == wanted:
            return
        with self.engine.begin() as conn:
            for name in sorted({o for o, _r in have} | {o for o, _r in wanted}):
                rt = snap.get(name)
                self.sync(conn, name, (rt.odef.doc.get("automation_rules") or []) if rt is not None else [], now)

    def _replan(self, snap, now):
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            todo = conn.execute(select(rule_state).where(rule_state.c.kind == "time",
                                                         rule_state.c.replan.is_(True))).all()
        done = 0
        for st in todo:
            rules = self.wf.rules(snap, st.object)
            rule = rules.get(st.rule)
            rt = snap.get(st.object)
            if rule is None or rt is None or rules.error is not None:
                continue
            service = self.services.records(snap)
            t = rt.table
            with self.engine.begin() as conn:
                rows = [dict(r) for r in conn.execute(select(t).where(t.c.deleted_at.is_(None))).mappings()]
                self.plan(conn, service, rt, rules, [rule], rows, now)
                conn.execute(update(due).where(due.c.object == st.object, due.c.rule == st.rule,
                                               due.c.status == "planned", ~due.c.record_id.in_(
                                                   select(t.c.id).where(t.c.deleted_at.is_(None))))
                             .values(status="cancelled", updated_at=now))
                conn.execute(update(rule_state).where(rule_state.c.object == st.object, rule_state.c.rule == st.rule,
                                                      rule_state.c.spec == st.spec).values(replan=False))
            done += 1
        return done

    def _fire_time(self, snap, now):
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            todo = conn.execute(select(due).where(due.c.status == "planned", due.c.due_at <= now)
                                .order_by(due.c.due_at).limit(CHUNK)).all()
        ids = []
        for item in todo:
            rules = self.wf.rules(snap, item.object)
            rule, rt = rules.get(item.rule), snap.get(item.object)
            with self.engine.begin() as conn:
                # reads the record, then may note the object's first run log: state row first
                lock_before_flags(conn, snap.features, ((item.object, RUN_LOG),))
                claimed = conn.execute(update(due).where(
                    due.c.object == item.object, due.c.record_id == item.record_id, due.c.rule == item.rule,
                    due.c.status == "planned", due.c.due_at == item.due_at).values(status="done", updated_at=now))
                if claimed.rowcount != 1 or rule is None or rt is None or rule.trigger.kind != "time":
                    continue
                row = conn.execute(select(rt.table).where(rt.table.c.id == item.record_id,
                                                          rt.table.c.deleted_at.is_(None))).mappings().first()
                if row is None:
                    continue
                oid = self._fire(conn, snap, rt, rules, rule, dict(row), "time", now)
                if oid:
                    conn.execute(update(due).where(due.c.object == item.object, due.c.record_id == item.record_id,
                                                   due.c.rule == item.rule).values(outbox_id=oid))
                    ids.append(oid)
        return ids

    def _fire(self, conn, snap, rt, rules, rule, values, event, now, *, check=True):
        """Fire ``rule`` on one stored record (time/schedule): an outbox row with all its actions."""
        service = self.services.records(snap)
        rec = formula_record(service, rt, values, conn, rules.references)
        if check and rule.condition is not None:
            try:
                hit = rule.condition.evaluate(rec, context=formula_context(SYSTEM_ACTOR, creating=True, now=now))
            except FormulaError as exc:
                hit = None
                line = run_row(rt.name, values["id"], f"Rule '{rule.label}' was not run: its condition could not "
                                                      f"be evaluated ({exc.message}).", status="error",
                               rule=rule.name, code="workflow.E201", now=now)
                note_run_log(conn, snap.features, [line])
                conn.execute(insert(runs).values(line))
            if hit is not True:
                if hit is not None:
                    line = run_row(rt.name, values["id"], f"Rule '{rule.label}' was due but its condition no "
                                                          "longer holds; not run.", status="skipped", rule=rule.name,
                                   now=now)
                    note_run_log(conn, snap.features, [line])
                    conn.execute(insert(runs).values(line))
                return None
        row, warnings = build_outbox_row(self.wf.config, service, conn, rt, values, rec, rule, event=event, depth=1,
                                         actor=SYSTEM_ACTOR, now=now)
        logs = [run_row(rt.name, values["id"], f"Rule '{rule.label}' fired ({event}).", status="fired",
                        rule=rule.name, outbox_id=row["id"], now=now)]
        logs += [run_row(rt.name, values["id"], w, status="error", rule=rule.name, outbox_id=row["id"],
                         code="workflow.E202", now=now) for w in warnings]
        note_run_log(conn, snap.features, [row] + logs)
        conn.execute(insert(outbox).values(row))
        conn.execute(insert(runs), logs)
        return row["id"]

    def _fire_schedules(self, snap, now):
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            todo = conn.execute(select(rule_state).where(rule_state.c.kind == "schedule",
                                                         rule_state.c.next_run_at <= now)).all()
        ids = []
        for st in todo:
            rules = self.wf.rules(snap, st.object)
            rule, rt = rules.get(st.rule), snap.get(st.object)
            if rule is None or rt is None or rule.trigger.kind != "schedule":
                continue
            with self.engine.begin() as conn:
                lock_before_flags(conn, snap.features, ((st.object, RUN_LOG),))   # as in _fire_time
                claimed = conn.execute(update(rule_state).where(
                    rule_state.c.object == st.object, rule_state.c.rule == st.rule,
                    rule_state.c.next_run_at == st.next_run_at,
                ).values(next_run_at=next_cron(rule.trigger, now), last_run_at=now, updated_at=now))
                if claimed.rowcount != 1:
                    continue
                service = self.services.records(snap)
                stmt = service.select(rt.name, SYSTEM_ACTOR, where=rule.doc.get("condition") or None)
                for row in conn.execute(stmt).mappings().all():
                    oid = self._fire(conn, snap, rt, rules, rule, dict(row), "schedule", now, check=False)
                    if oid:
                        ids.append(oid)
        return ids


__all__ = ["Planner"]
