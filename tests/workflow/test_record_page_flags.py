"""The flags the writers keep (``tessera_object_features``): a record page skips the field history,
run log and approval reads of an object that never had such rows, and the first row each writer
writes shows on the page at once — from this app and from a second one (another process's
snapshot), on SQLite and PostgreSQL; a concurrent first write does not fail, nor does a first
write racing a metadata change of its object (PostgreSQL: the state row is locked first); an
existing database is filled when the table is first created."""
from __future__ import annotations

import datetime as _dt
import threading
import time

import pytest
from croniter import croniter

from sqlalchemy import delete, event, select, text

from engine.db import APPROVALS, HISTORY, RUN_LOG, init_db, object_features
from engine.metadata.store import current_version, note_rows
from engine.security.users import create_token, create_user
from tests.conftest import Api
from tests.ui_renderer.live import sign_in

from .conftest import CASE, make_app, wait_for

PAGE_TABLES = ("tessera_field_history", "tessera_wf_runs", "tessera_wf_outbox", "tessera_wf_approval_requests",
               "tessera_wf_approval_items")     # the last: the top bar's inbox count
PROCESS = {"name": "check", "label": "Manager check", "active": True, "order": 1,
           "steps": [{"name": "one", "label": "One", "approvers": [{"type": "user", "user": "admin"}],
                      "decision": "first"}]}


class Site:
    """One app over the test's database: an API client (admin) and a page client signed in."""

    def __init__(self, db_url, **config):
        self.app = make_app(db_url, **config)
        self.services = self.app.extensions["tessera"]
        self.engine = self.services.engine

    def sign_in(self):
        self.api = Api(self.app.test_client(), create_token(self.engine, "admin"))
        self.pages = self.app.test_client()
        assert sign_in(self.pages, "admin", "admin-password").status_code == 303
        return self

    def page(self, rid, obj="support_case"):
        """The record page's HTML and the page tables it read."""
        seen = []

        def note(conn, cursor, statement, params, context, executemany):
            seen.append(statement)
        event.listen(self.engine, "before_cursor_execute", note)
        try:
            r = self.pages.get(f"/o/{obj}/{rid}")
        finally:
            event.remove(self.engine, "before_cursor_execute", note)
        assert r.status_code == 200, r.text[:500]
        return r.text, len(seen), {t for t in PAGE_TABLES for s in seen if f"FROM {t}" in s}

    def flags(self):
        with self.engine.connect() as conn:
            return set(map(tuple, conn.execute(select(object_features.c.object, object_features.c.feature))))

    def version(self):
        with self.engine.connect() as conn:
            return current_version(conn)


def _setup(db_url, **config):
    first = Site(db_url, **config)
    create_user(first.engine, "admin", "admin-password", is_admin=True)
    first.sign_in()
    case = dict(CASE, fields=[dict(f, track_history=True) if f["api_name"] == "priority" else f
                              for f in CASE["fields"]])
    assert first.api.post("/api/v1/objects", json=case).status_code == 201
    rid = first.api.post("/api/v1/records/support_case", json={"name": "C1", "priority": "Low"}).get_json()["id"]
    return first, Site(db_url, **config).sign_in(), rid


def test_a_page_of_an_object_without_rows_reads_less_and_each_first_row_shows_at_once(db_url):
    first, second, rid = _setup(db_url)
    first.page(rid)                         # (the people's names are kept from here on)
    html, before, tables = first.page(rid)
    assert tables == set() and "No tracked changes yet." in html and "Run log" not in html
    assert second.page(rid)[2] == set()
    assert first.flags() == set()

    # the first history row (the update's own transaction) flags the object and bumps the version
    version = first.version()
    assert first.api.patch(f"/api/v1/records/support_case/{rid}", json={"priority": "High"}).status_code == 200
    assert first.flags() == {("support_case", HISTORY)} and first.version() == version + 1
    for site in (first, second):
        html, _count, tables = site.page(rid)          # (its snapshot is rebuilt: the version moved)
        assert tables == {"tessera_field_history"}
        html, count, tables = site.page(rid)
        assert tables == {"tessera_field_history"} and count == before + 1
        assert "No tracked changes yet." not in html and "High" in html
    version = first.version()
    assert first.api.patch(f"/api/v1/records/support_case/{rid}", json={"priority": "Medium"}).status_code == 200
    assert first.version() == version      # a flag already set: no statement, no bump

    # the first run log lines: an automation rule (its outbox row and the embedded run's lines)
    r = first.api.post("/api/v1/objects/support_case/automation_rules", json={
        "name": "mark", "label": "Mark escalated", "trigger": "update", "actions": [
            {"type": "field_update", "field": "escalated", "value": "TRUE"}]})
    assert r.status_code == 201, r.get_json()
    assert first.api.patch(f"/api/v1/records/support_case/{rid}", json={"subject_line": "x"}).status_code == 200
    assert ("support_case", RUN_LOG) in first.flags()
    for site in (first, second):
        html, _count, tables = site.page(rid)
        assert {"tessera_wf_runs", "tessera_wf_outbox"} <= tables
        assert "Run log" in html and "Mark escalated" in html

    # the first approval request (and work item: the top bar's count is read from then on)
    assert first.api.post("/api/v1/objects/support_case/approval_processes", json=PROCESS).status_code == 201
    assert second.page(rid)[2].isdisjoint({"tessera_wf_approval_requests", "tessera_wf_approval_items"})
    r = first.api.post(f"/api/v1/records/support_case/{rid}/approval/submit", json={})
    assert r.status_code == 200 and r.get_json()["request"]["process_label"] == "Manager check", r.get_json()
    assert ("support_case", APPROVALS) in first.flags()
    for site in (first, second):
        html, _count, tables = site.page(rid)
        assert {"tessera_wf_approval_requests", "tessera_wf_approval_items"} <= tables and "Manager check" in html
        assert '<span class="inbox-count">1<' in html


def test_the_scheduler_and_a_retry_flag_their_lines(db_url):
    first, second, rid = _setup(db_url)
    wf = first.services.extensions["workflow"]
    assert first.api.patch(f"/api/v1/records/support_case/{rid}", json={"status": "Open"}).status_code == 200
    r = first.api.post("/api/v1/objects/support_case/automation_rules", json={
        "name": "monday", "label": "Monday flag", "trigger": {"schedule": "0 8 * * 1"},
        "condition": "status = 'Open'", "actions": [{"type": "field_update", "field": "escalated", "value": "TRUE"}]})
    assert r.status_code == 201, r.get_json()
    assert second.page(rid)[2] == set()
    monday = croniter("0 8 * * 1", _dt.datetime.now(_dt.timezone.utc)).get_next(_dt.datetime)
    assert wf.run_due(monday + _dt.timedelta(seconds=30))["schedule"] == 1
    assert ("support_case", RUN_LOG) in first.flags()
    html, _count, tables = second.page(rid)
    assert {"tessera_wf_runs", "tessera_wf_outbox"} <= tables and "Monday flag" in html

    # a row written before the flags (an older process): not on the page until a writer notes it
    [entry] = first.api.get(f"/api/v1/outbox?record_id={rid}").get_json()["entries"]
    with first.engine.begin() as conn:
        conn.execute(delete(object_features))
        conn.execute(text("UPDATE tessera_wf_outbox SET status = 'dead'"))
        conn.execute(text("UPDATE tessera_meta_state SET version = version + 1 WHERE id = 1"))
    assert second.page(rid)[2] == set()
    assert first.api.post(f"/api/v1/outbox/{entry['id']}/retry", json={}).status_code == 200
    assert ("support_case", RUN_LOG) in first.flags()
    html, _count, tables = second.page(rid)
    assert "tessera_wf_runs" in tables and "Retry asked by admin." in html


def test_a_row_queued_before_its_rule_was_removed_and_run_by_the_rq_worker(db_url, redis_url, worker_factory,
                                                                           receiver):
    queue = f"tq_flags_{time.monotonic_ns()}"
    first, second, rid = _setup(db_url, redis_url=redis_url, workflow_queue=queue)
    r = first.api.post("/api/v1/objects/support_case/automation_rules", json={
        "name": "tell", "label": "Tell the hook", "trigger": "update", "actions": [
            {"type": "webhook", "url": receiver.url, "secret_ref": "case_hook"}]})
    assert r.status_code == 201, r.get_json()
    assert first.api.patch(f"/api/v1/records/support_case/{rid}", json={"subject_line": "x"}).status_code == 200
    first.services.extensions["workflow"].flush()
    assert first.api.delete("/api/v1/objects/support_case/automation_rules/tell").status_code in (200, 204)
    # as if the row had been queued by a process older than the flags: the worker's line notes it
    with first.engine.begin() as conn:
        conn.execute(delete(object_features))
        conn.execute(text("UPDATE tessera_meta_state SET version = version + 1 WHERE id = 1"))
    assert second.page(rid)[2] == set()
    worker = worker_factory(db_url, queue=queue).start()
    wait_for(lambda: ("support_case", RUN_LOG) in first.flags(), what="the worker's line", timeout=90)
    wait_for(lambda: first.api.get(f"/api/v1/outbox?record_id={rid}").get_json()["entries"][0]["status"] == "done",
             what="the row done")
    worker.stop()
    assert len(receiver.deliveries) == 1
    for site in (first, second):
        html, _count, tables = site.page(rid)
        assert {"tessera_wf_runs", "tessera_wf_outbox"} <= tables
        assert "Tell the hook" in html and "Delivered to 127.0.0.1" in html


def test_a_concurrent_first_write_waits_and_does_not_fail(db_url):
    first, _second, _rid = _setup(db_url)
    version = first.version()
    results, errors = [], []
    a = first.engine.connect()
    trans = a.begin()
    results.append(note_rows(a, frozenset(), ["support_case"], HISTORY))

    def other():
        try:
            with first.engine.begin() as b:
                results.append(note_rows(b, frozenset(), ["support_case"], HISTORY))
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            errors.append(exc)
    thread = threading.Thread(target=other)
    thread.start()
    time.sleep(0.5)                          # the other writer waits on this one
    trans.commit()
    a.close()
    thread.join(30)
    assert errors == [] and results == [True, False]
    assert first.flags() == {("support_case", HISTORY)} and first.version() == version + 1

    # two record writes at once, each the first of its kind on its record: both are saved
    ids = [first.api.post("/api/v1/records/support_case", json={"name": f"P{i}"}).get_json()["id"] for i in range(4)]
    with first.engine.begin() as conn:     # (a flag never goes: the snapshots must forget it too)
        conn.execute(delete(object_features))
        conn.execute(text("UPDATE tessera_meta_state SET version = version + 1 WHERE id = 1"))
    codes = []
    threads = [threading.Thread(target=lambda i=i: codes.append(first.app.test_client().patch(
        f"/api/v1/records/support_case/{i}", json={"priority": "High"},
        headers={"Authorization": f"Bearer {create_token(first.engine, 'admin')}"}).status_code)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == [200] * 4 and first.flags() == {("support_case", HISTORY)}


def test_an_existing_database_is_filled_once(db_url):
    first, _second, rid = _setup(db_url)
    assert first.api.patch(f"/api/v1/records/support_case/{rid}", json={"priority": "High"}).status_code == 200
    assert first.api.post("/api/v1/objects/support_case/approval_processes", json=PROCESS).status_code == 201
    assert first.api.post(f"/api/v1/records/support_case/{rid}/approval/submit", json={}).status_code == 200
    assert first.api.post("/api/v1/objects/support_case/automation_rules", json={
        "name": "mark", "trigger": "update", "actions": [
            {"type": "field_update", "field": "escalated", "value": "TRUE"}]}).status_code == 201
    assert first.api.patch(f"/api/v1/records/support_case/{rid}", json={"subject_line": "x"}).status_code == 200
    want = {("support_case", HISTORY), ("support_case", APPROVALS), ("support_case", RUN_LOG)}
    assert first.flags() == want
    with first.engine.begin() as conn:
        conn.execute(text("DROP TABLE tessera_object_features"))
    init_db(first.engine)                    # the table is new: filled from the rows there are
    assert first.flags() == want
    with first.engine.begin() as conn:
        conn.execute(delete(object_features))
    init_db(first.engine)                    # the table exists: never filled again
    assert first.flags() == set()
    third = Site(db_url).sign_in()
    with third.engine.begin() as conn:
        conn.execute(text("DROP TABLE tessera_object_features"))
    third = Site(db_url).sign_in()           # a process starting on an old database
    assert "Manager check" in third.page(rid)[0] and third.flags() == want


def _pause_before(monkeypatch, module, name):
    """Patch ``module.name`` (a writer's note_rows / note_run_log) to stop, the first time, in the
    writer's transaction right before it: ``paused`` is set with the writer's backend pid, and it
    goes on when ``go`` is set."""
    real = getattr(module, name)
    paused, go, pid = threading.Event(), threading.Event(), []

    def pausing(conn, *args, **kwargs):
        if not paused.is_set():
            pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar())
            paused.set()
            assert go.wait(30)
        return real(conn, *args, **kwargs)
    monkeypatch.setattr(module, name, pausing)
    return paused, go, pid


def _run(fn, out, errors):
    def target():
        try:
            out.append(fn())
        except Exception as exc:  # noqa: BLE001 - the assertion names it
            errors.append(exc)
    thread = threading.Thread(target=target)
    thread.start()
    return thread


@pytest.mark.parametrize("kind", ["history", "history_by_rule", "run_log", "approvals"])
def test_a_first_write_and_a_metadata_change_of_its_object_do_not_deadlock(db_url, monkeypatch, kind):
    """The write holds the object's table when it notes its first row; a metadata change of the
    object (DDL: ALTER TABLE) begins meanwhile. Both must end well, the write saved once."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite takes one write lock per database: no lock order between two writers")
    from engine.records import history as history_module
    from engine.security import SYSTEM_ACTOR
    from engine.workflow import automation as automation_module
    from engine.workflow.approvals import machine as machine_module

    first, _second, rid = _setup(db_url)
    token = create_token(first.engine, "admin")
    headers = {"Authorization": f"Bearer {token}"}
    client = first.app.test_client()
    if kind == "history":
        feature, paused, go, pid = HISTORY, *_pause_before(monkeypatch, history_module, "note_rows")

        def write():
            return client.patch(f"/api/v1/records/support_case/{rid}", json={"priority": "High"}, headers=headers)
    elif kind == "history_by_rule":     # the write sends no tracked field: a rule's field update sets one
        r = first.api.post("/api/v1/objects/support_case/automation_rules", json={
            "name": "raise", "label": "Raise", "trigger": "update", "condition": "subject_line = 'x'", "actions": [
                {"type": "field_update", "field": "priority", "value": "'High'"}]})
        assert r.status_code == 201, r.get_json()
        with first.engine.begin() as conn:      # the run log flagged already, the history not
            conn.execute(object_features.insert().values(object="support_case", feature=RUN_LOG))
            conn.execute(text("UPDATE tessera_meta_state SET version = version + 1 WHERE id = 1"))
        feature, paused, go, pid = HISTORY, *_pause_before(monkeypatch, history_module, "note_rows")

        def write():
            return client.patch(f"/api/v1/records/support_case/{rid}", json={"subject_line": "x"}, headers=headers)
    elif kind == "run_log":
        r = first.api.post("/api/v1/objects/support_case/automation_rules", json={
            "name": "mark", "label": "Mark escalated", "trigger": "create", "actions": [
                {"type": "field_update", "field": "escalated", "value": "TRUE"}]})
        assert r.status_code == 201, r.get_json()
        feature, paused, go, pid = RUN_LOG, *_pause_before(monkeypatch, automation_module, "note_run_log")

        def write():
            return client.post("/api/v1/records/support_case", json={"name": "Racing"}, headers=headers)
    else:
        assert first.api.post("/api/v1/objects/support_case/approval_processes", json=PROCESS).status_code == 201
        feature, paused, go, pid = APPROVALS, *_pause_before(monkeypatch, machine_module, "note_rows")

        def write():
            return client.post(f"/api/v1/records/support_case/{rid}/approval/submit", json={}, headers=headers)
    assert (("support_case", feature) in first.flags()) is False
    version = first.version()
    out, errors = [], []
    writer = _run(write, out, errors)
    assert paused.wait(30), "the write did not reach its first flag"
    changer = _run(lambda: first.services.store.add_field(
        "support_case", {"api_name": "region", "label": "Region", "type": "text"}, SYSTEM_ACTOR), out, errors)

    def change_waits():     # on the writer: for its table (before the fix) or the state row
        with first.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                                {"pid": pid[0]}).scalar() > 0
    wait_for(change_waits, what="the metadata change waiting on the write", timeout=30)
    go.set()
    writer.join(60)
    changer.join(60)
    assert not writer.is_alive() and not changer.is_alive()
    assert errors == []
    response = next(r for r in out if hasattr(r, "status_code"))
    assert response.status_code in (200, 201), response.get_json()
    # the write's flag and the new field: two versions; an approval's submit also notes the run
    # log's flag it locked for (it wrote no run-log line): a third
    bumps = 3 if kind == "approvals" else 2
    assert ("support_case", feature) in first.flags() and first.version() == version + bumps
    doc = next(r for r in out if isinstance(r, dict))
    assert "region" in [f["api_name"] for f in doc["fields"]]
    with first.engine.connect() as conn:
        if kind.startswith("history"):
            rows = conn.execute(text("SELECT field, new_value FROM tessera_field_history")).all()
            assert rows == [("priority", '"High"')]
            assert conn.execute(text("SELECT row_version FROM obj_support_case")).scalar() == 2
        elif kind == "run_log":
            assert conn.execute(text("SELECT escalated FROM obj_support_case WHERE name = 'Racing'")).all() == [(True,)]
        else:
            assert conn.execute(text("SELECT count(*) FROM tessera_wf_approval_requests")).scalar() == 1


def test_the_state_row_is_locked_first_only_while_a_flag_is_missing(db_url):
    """A write that may add a flag its snapshot lacks locks the state row as its first statement
    (PostgreSQL); once the object is flagged, and always on SQLite, no statement is added."""
    first, _second, rid = _setup(db_url)
    seen = []

    def note(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    def patch(value, field="priority"):
        seen.clear()
        event.listen(first.engine, "before_cursor_execute", note)
        try:
            assert first.api.patch(f"/api/v1/records/support_case/{rid}", json={field: value}).status_code == 200
        finally:
            event.remove(first.engine, "before_cursor_execute", note)
        return [s for s in seen if "tessera_meta_state" in s and "FOR UPDATE" in s]

    assert patch("x", "subject_line") == []     # no tracked field sent: no history row, no lock
    locks = patch("High")              # the first history row of the object
    if db_url.startswith("postgresql"):
        assert len(locks) >= 1
        first_write = next(s for s in seen if "FOR UPDATE" in s or "obj_support_case" in s)
        assert "tessera_meta_state" in first_write      # before any statement on the table
    else:
        assert locks == []
    assert ("support_case", HISTORY) in first.flags()
    assert patch("Medium") == []           # flagged: nothing more
    assert first.api.post("/api/v1/records/support_case", json={"name": "C2"}).status_code == 201


def test_a_write_that_locked_for_a_flag_notes_it_so_the_lock_is_taken_once(db_url):
    """PostgreSQL: a write that may add a flag takes the state row first; it notes the flag even
    when it wrote no such row (the rule's condition did not hold), so the writes after it take no
    lock — the state row is not a queue for as long as no row comes. The record page reads an
    empty run log and shows what it showed without the flag. SQLite: no lock, no early flag."""
    first, _second, rid = _setup(db_url)
    r = first.api.post("/api/v1/objects/support_case/automation_rules", json={
        "name": "never", "trigger": "create_or_update", "condition": "subject_line = 'no such subject'",
        "actions": [{"type": "field_update", "field": "priority", "value": "'High'"}]})
    assert r.status_code == 201, r.get_json()
    seen = []

    def note(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    def create(name):
        seen.clear()
        event.listen(first.engine, "before_cursor_execute", note)
        try:
            assert first.api.post("/api/v1/records/support_case", json={"name": name}).status_code == 201
        finally:
            event.remove(first.engine, "before_cursor_execute", note)
        return [s for s in seen if "tessera_meta_state" in s and "FOR UPDATE" in s]

    version = first.version()
    if db_url.startswith("postgresql"):
        assert create("N1")                                    # the rule may fire: locked first
        assert ("support_case", RUN_LOG) in first.flags()      # noted though the rule did not fire
        assert first.version() == version + 1
        assert create("N2") == [] and create("N3") == []      # the next writes: no lock
    else:
        assert create("N1") == [] and create("N2") == []
        assert ("support_case", RUN_LOG) not in first.flags() and first.version() == version
    html, _count, _tables = first.page(rid)
    assert "Run log" not in html                               # nothing ran: the page is the same
