"""The workflow service (``services.extensions["workflow"]``): automation rules as documents, the
dispatcher, the outbox and the run log for the doors, and the seams approvals build on.

Every method that a door calls takes the acting user and checks rights itself.
"""
from __future__ import annotations

import json
import functools
import logging

from sqlalchemy import Text, bindparam, cast, func, insert, null, select, union_all, update

from engine.db import RUN_LOG, read_connection, utcnow
from engine.errors import ConflictError, InvalidRequestError, NotFoundError

from .automation import Automations, build_outbox_row
from .documents import DocumentList, require_admin
from .model import RuleCache, compile_rule
from .outbox import Runner, log_lines, run_row
from .scheduler import Planner
from .tables import applied, iso, mail, note_run_log, outbox, runs
from .worker import Enqueuer

log = logging.getLogger("tessera.workflow")
STATUSES = ("pending", "failed", "done", "dead")
KIND = "automation_rules"
JOB_BATCH = 250         # outbox rows per rq job when many are dispatched at once (a busy web process)
JOB_TIMEOUT_ROWS = 25   # rows TESSERA_WORKFLOW_JOB_TIMEOUT is meant for: a fuller job gets it once per 25 rows


class WorkflowService:
    """What the workflow subsystem offers the rest of the process (see the module docstring)."""

    def __init__(self, services):
        self.services = services
        self.config = services.config
        self.engine = services.engine
        self.rule_cache = RuleCache()
        self.automations = Automations(self)
        self.runner = Runner(services, self)
        self.planner = Planner(self)
        self.due_hooks = []          # fn(now) run by every scheduler tick (approval deadlines)
        self.rule_docs = DocumentList(services, KIND, "automation rule", "rule", unknown="workflow.E703",
                                      exists="workflow.E704", admin_what="see or change automation rules")
        self._queue = None
        self._enqueuer = None

    # -- compiled rules ---------------------------------------------------------------------
    def rules(self, snapshot, obj):
        """The active automation rules of ``obj`` compiled for ``snapshot`` (an ``ObjectRules``)."""
        return self.rule_cache.get(snapshot, obj)

    # -- dispatch and execution ----------------------------------------------------------------
    @property
    def queue(self):
        """The rq queue (``TESSERA_REDIS_URL``), or None in the embedded mode."""
        if self._queue is None and self.config.redis_url:
            from redis import Redis
            from rq import Queue
            from rq.serializers import JSONSerializer

            self._queue = Queue(self.config.workflow_queue, connection=Redis.from_url(self.config.redis_url),
                                serializer=JSONSerializer)
        return self._queue

    def queue_is_empty(self):
        """Whether no job waits in the rq queue (always True in the embedded mode, or when Redis
        cannot be asked: then rows not picked up are enqueued again, which is harmless)."""
        if not self.config.redis_url:
            return True
        try:
            return self.queue.count == 0
        except Exception:  # noqa: BLE001
            return True

    def dispatch(self, ids, now=None):
        """Hand outbox rows to rq, or run them here (embedded mode). With Redis the enqueue happens
        on a background thread, so a write's request never waits on Redis: the rows are already
        durable, and one not enqueued (the process died, Redis was down) is found by the scheduler.
        Never raises."""
        if not ids:
            return
        if self.config.redis_url:
            if self._enqueuer is None:
                self._enqueuer = Enqueuer(self.enqueue)
            self._enqueuer.put(ids)
            return
        for outbox_id in ids:
            self.run_outbox(outbox_id, now=now)

    def flush(self, timeout=5.0):
        """Wait until the rows handed to :meth:`dispatch` are enqueued (shutdown, tests, benchmarks)."""
        if self._enqueuer is not None:
            self._enqueuer.flush(timeout)

    def enqueue(self, ids):
        """Enqueue outbox rows to rq now: one job per row, or per batch of up to ``JOB_BATCH`` rows
        when there are many (rq spends some 60 Redis round trips on every job, and the web process
        0.3-1 ms of CPU). A job's timeout is ``TESSERA_WORKFLOW_JOB_TIMEOUT`` per 25 rows, so a full
        job of slow webhooks has the time 25 rows always had. Jobs carry ids only, as JSON."""
        if ids:
            try:
                q = self.queue
                batches = [ids] if len(ids) == 1 else [ids[i:i + JOB_BATCH] for i in range(0, len(ids), JOB_BATCH)]
                q.enqueue_many([q.prepare_data(
                    "engine.workflow.jobs.run_outbox" if len(b) == 1 else "engine.workflow.jobs.run_outbox_batch",
                    args=(b[0] if len(b) == 1 else list(b),), timeout=self.job_timeout(len(b)),
                    result_ttl=0, failure_ttl=86400, description=f"outbox {b[0]}" + (f" +{len(b) - 1}" if len(b) > 1 else ""))
                    for b in batches])
            except Exception as exc:  # noqa: BLE001 - Redis down: the rows wait in the database
                log.warning("could not enqueue %d outbox rows (the scheduler will): %s", len(ids), exc)

    def job_timeout(self, rows):
        """The rq timeout of a job of ``rows`` outbox rows."""
        return self.config.workflow_job_timeout * -(-rows // JOB_TIMEOUT_ROWS)

    def run_outbox(self, outbox_id, now=None):
        """Run one outbox row now (if it is due and free); never raises."""
        try:
            return self.runner.run(outbox_id, now=now)
        except Exception:  # noqa: BLE001
            log.exception("running outbox row %s failed", outbox_id)
            return "error"

    def run_due(self, now=None):
        """One scheduler tick: time-based and scheduled rules, retries, stale rows."""
        return self.planner.run_due(now)

    # -- automation rules as documents (administrators only) -----------------------------------
    def list_rules(self, obj, actor):
        return self.rule_docs.entries(obj, actor)

    def get_rule(self, obj, name, actor):
        return self.rule_docs.get(obj, name, actor)

    def add_rule(self, obj, rule, actor):
        return self.rule_docs.add(obj, rule, actor)

    def update_rule(self, obj, name, patch, actor):
        """Change some keys of a rule (``null`` removes an optional key); the name cannot change."""
        return self.rule_docs.update(obj, name, patch, actor)

    def delete_rule(self, obj, name, actor):
        self.rule_docs.delete(obj, name, actor)

    # -- the outbox for admins ---------------------------------------------------------------
    def list_outbox(self, actor, *, status=None, limit=100, record=None):
        """Outbox entries, newest first, with their attempts, last error and per-action results
        (webhook secrets are never stored in them)."""
        require_admin(actor, "see the outbox")
        if status is not None and status not in STATUSES:
            raise InvalidRequestError("workflow.E705", f"Unknown outbox status '{status}'; use one of "
                                                       f"{', '.join(STATUSES)}.")
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            limit = 0
        if not 1 <= limit <= 500:
            raise InvalidRequestError("workflow.E706", "limit must be a whole number between 1 and 500.")
        stmt = select(outbox).order_by(outbox.c.created_at.desc(), outbox.c.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(outbox.c.status == status)
        if record:
            stmt = stmt.where(outbox.c.record_id == str(record))
        return self._entries(stmt)

    def get_outbox(self, outbox_id, actor):
        """One outbox entry (admins)."""
        require_admin(actor, "see the outbox")
        found = self._entries(select(outbox).where(outbox.c.id == str(outbox_id)))
        if not found:
            raise NotFoundError("workflow.E707", f"No outbox entry with id '{str(outbox_id)[:40]}'.")
        return found[0]

    def _entries(self, stmt):
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            rows = conn.execute(stmt).mappings().all()
            ids = [r["id"] for r in rows]
            results = {}
            for i in range(0, len(ids), 500):
                for a in conn.execute(select(applied).where(applied.c.outbox_id.in_(ids[i:i + 500]))):
                    results.setdefault(a.outbox_id, {})[a.action_index] = json.loads(a.result)
                for m in conn.execute(select(mail).where(mail.c.outbox_id.in_(ids[i:i + 500]))):
                    index = int(m.key.rsplit(":", 1)[1])
                    results.setdefault(m.outbox_id, {}).setdefault(index, {})["mail"] = {
                        "status": m.status, "to": json.loads(m.recipients), "subject": m.subject, "body": m.body}
        return [self._entry(r, results.get(r["id"], {})) for r in rows]

    @staticmethod
    def _entry(row, results):
        payload = json.loads(row["payload"])
        now_running = row["locked_until"] is not None and row["status"] in ("pending", "failed") and \
            iso(row["locked_until"]) > iso(utcnow())
        actions = []
        for item in payload.get("actions", []):
            entry = {"index": item["index"], "type": item["type"], "key": f"{row['id']}:{item['index']}",
                     "applied": item["index"] in results}
            if item["index"] in results:
                entry["result"] = results[item["index"]]
            actions.append(entry)
        return {"id": row["id"], "origin": row["origin"], "object": row["object"], "record_id": row["record_id"],
                "rule": row["rule"], "event": row["event"], "depth": row["depth"], "status": row["status"],
                "running": now_running, "attempts": row["attempts"], "max_attempts": row["max_attempts"],
                "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] in ("pending", "failed") else None,
                "last_error": row["last_error"], "created_at": iso(row["created_at"]),
                "done_at": iso(row["done_at"]), "actions": actions}

    def retry(self, outbox_id, actor):
        """Put a failed or dead entry back in the queue now, with a fresh set of attempts."""
        require_admin(actor, "retry outbox entries")
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(select(outbox).where(outbox.c.id == str(outbox_id))).mappings().first()
            if row is None:
                raise NotFoundError("workflow.E707", f"No outbox entry with id '{str(outbox_id)[:40]}'.")
            if row["status"] in ("done", "pending"):
                what = "is done" if row["status"] == "done" else "is already waiting to run"
                raise ConflictError("workflow.E708", f"Outbox entry '{row['id']}' {what}; only failed or dead "
                                                     "entries can be retried.")
            conn.execute(update(outbox).where(outbox.c.id == row["id"]).values(
                status="pending", attempts=0, next_attempt_at=now, locked_until=None, enqueued_at=now,
                updated_at=now))
            line = run_row(row["object"], row["record_id"], f"Retry asked by {actor.username}.", status="retry",
                           rule=row["rule"], outbox_id=row["id"], now=now)
            note_run_log(conn, self.services.snapshots.get().features, [line])
            conn.execute(insert(runs).values(line))
        self.dispatch([row["id"]])
        return self.get_outbox(row["id"], actor)

    # -- the run log ------------------------------------------------------------------------
    def runs_of(self, obj, record_id, actor, records, *, limit=200):
        """The run log of a record the actor may read, oldest first."""
        records.get(obj, record_id, actor, include_deleted=True)
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            limit = 0
        if not 1 <= limit <= 1000:
            raise InvalidRequestError("workflow.E706", "limit must be a whole number between 1 and 1000.")
        if not records.snapshot.has_rows(obj, RUN_LOG):   # no run log line nor outbox row of the object
            return []
        rows = []
        with read_connection(self.engine) as conn:   # one statement: no snapshot block needed
            for row in conn.execute(_run_log_query(limit), {"obj": obj, "record_id": str(record_id)}).mappings():
                if row["payload"] is None:       # a run log line
                    rows.append(row)
                else:                            # an outbox row: a firing's own lines are kept in it
                    rows += log_lines(row)
        rows = sorted(rows, key=lambda r: r["id"])[-limit:]
        return [{"id": r["id"], "at": iso(r["created_at"]), "rule": r["rule"], "status": r["status"],
                 "code": r["code"], "message": r["message"], "outbox_id": r["outbox_id"],
                 "action_index": r["action_index"], "action_type": r["action_type"]} for r in rows]

    def outbox_counts(self):
        with self.engine.connect().execution_options(tessera_readonly=True) as conn:
            return dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all())

    # -- seams for approvals ---------------------------------------------------------------------
    def write_actions(self, conn, service, rt, values, action_docs, *, origin, label, actor, now=None,
                      context=None, run_as=None):
        """Write one outbox row for ``action_docs`` (checked action documents) on the record ``values``
        (a stored row), inside the caller's transaction; every action — field updates too — runs
        after the commit through the record service. Returns the outbox id (or None when there are
        no actions); hand it to :meth:`dispatch` after the commit."""
        if not action_docs:
            return None
        now = now or utcnow()
        doc = {"name": label, "trigger": {"schedule": "* * * * *"}, "actions": action_docs}
        from engine.records.formula_checks import FieldMaps

        from .fire import formula_record

        fields_map = FieldMaps({n: dict(r.odef.doc) for n, r in service.snapshot.objects.items()}).fields(rt.name)
        rule = compile_rule(rt.name, doc, fields_map)
        rule.run_as = run_as
        rec = formula_record(service, rt, values, conn, rule.references)
        row, warnings = build_outbox_row(self.config, service, conn, rt, values, rec, rule, event=origin, depth=1,
                                         actor=actor, now=now, origin=origin, context=context)
        logs = [run_row(rt.name, values.get("id"), w, status="error", rule=label, outbox_id=row["id"],
                        code="workflow.E202", now=now) for w in warnings]
        note_run_log(conn, service.snapshot.features, [row] + logs)
        conn.execute(insert(outbox).values(row))
        if logs:
            conn.execute(insert(runs), logs)
        return row["id"]


@functools.lru_cache(maxsize=16)
def _run_log_query(limit):
    """The run log as one statement for ``limit`` (binds: obj, record_id), built once: the record's
    last ``limit`` run log lines (``payload`` NULL) and, after them, its last ``limit`` outbox rows
    (their ``payload`` keeps a firing's lines; the line columns NULL)."""
    where = (bindparam("obj"), bindparam("record_id"))
    lines = (select(runs).where(runs.c.object == where[0], runs.c.record_id == where[1])
             .order_by(runs.c.id.desc()).limit(limit).subquery())
    rows = (select(outbox.c.id, outbox.c.object, outbox.c.record_id, outbox.c.created_at, outbox.c.payload)
            .where(outbox.c.object == where[0], outbox.c.record_id == where[1])
            .order_by(outbox.c.id.desc()).limit(limit).subquery())
    names = [c.name for c in runs.c]
    nothing = {c.name: cast(null(), c.type).label(c.name) for c in runs.c}
    return union_all(select(*[lines.c[n] for n in names], cast(null(), Text).label("payload")),
                     select(*[rows.c[n] if n in rows.c else nothing[n] for n in names], rows.c.payload))
