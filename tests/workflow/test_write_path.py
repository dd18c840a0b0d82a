"""The triggering write's fast paths keep what the spec promises: the webhook body built by the
worker from what the outbox row stored (the same bytes on every attempt, old rows' stored bodies
sent as they are), run log lines kept short in their outbox row, the rules' read plan and formula
context per metadata version and per write, and the enqueuer's batches."""
from __future__ import annotations

import datetime as _dt
import json
import threading

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from engine.db import make_engine
from engine.security.users import create_token, create_user
from engine.workflow import outbox as outbox_module
from engine.workflow.outbox import log_lines, new_id
from engine.workflow.tables import RowInsert, create_tables, outbox
from engine.workflow.worker import Enqueuer
from tests.conftest import Api, field_doc

from .conftest import CASE, make_app


@pytest.fixture
def env(db_url):
    app = make_app(db_url, workflow_retry_base_seconds=60, workflow_max_attempts=3)
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", is_admin=True)
    admin = Api(app.test_client(), create_token(services.engine, "admin"))
    assert admin.post("/api/v1/objects", json=CASE).status_code == 201
    admin.services = services
    admin.wf = services.extensions["workflow"]
    yield admin
    services.dispose()


def add_rule(api, doc):
    r = api.post("/api/v1/objects/support_case/automation_rules", json=doc)
    assert r.status_code == 201, r.get_json()


def payload_of(api, outbox_id):
    with api.services.engine.connect() as conn:
        return json.loads(conn.execute(select(outbox.c.payload).where(outbox.c.id == outbox_id)).scalar_one())


def test_the_webhook_body_is_built_from_the_stored_record_and_is_the_same_on_every_attempt(env, receiver):
    add_rule(env, {"name": "notify", "trigger": "create", "actions": [
        {"type": "webhook", "url": receiver.url, "secret_ref": "case_hook", "payload": ["priority"]}]})
    receiver.fail_next = 1
    t0 = _dt.datetime.now(_dt.timezone.utc)
    case = env.post("/api/v1/records/support_case", json={"name": "A", "priority": "High"}).get_json()
    [entry] = env.get("/api/v1/outbox?status=failed").get_json()["entries"]
    payload = payload_of(env, entry["id"])
    [item] = payload["actions"]
    # the write stored the record once (for every action of the row) and no encoded body
    assert set(item["options"]) == {"url", "secret_ref", "payload", "occurred_at"}
    assert payload["record"]["id"] == case["id"] and payload["record"]["name"] == "A"
    assert env.wf.run_due(t0 + _dt.timedelta(seconds=75))["redispatched"] == 1
    key = f"{entry['id']}:0"
    first, second = receiver.bodies[key]
    assert first == second and receiver.bad_signatures == 0          # every attempt: the same bytes
    assert first == json.dumps({"delivery": key, "rule": "notify", "object": "support_case", "event": "create",
                                "occurred_at": item["options"]["occurred_at"],
                                "record": {"id": case["id"], "priority": "High"}},
                               sort_keys=True, separators=(",", ":")).encode()
    assert item["options"]["occurred_at"] == case["created_at"]      # the write's clock


def test_a_row_written_with_its_body_sends_that_body(env, receiver):
    add_rule(env, {"name": "notify", "trigger": "create", "actions": [
        {"type": "webhook", "url": receiver.url, "secret_ref": "case_hook"}]})
    receiver.fail_next = 1
    env.post("/api/v1/records/support_case", json={"name": "B"})
    [entry] = env.get("/api/v1/outbox?status=failed").get_json()["entries"]
    payload = payload_of(env, entry["id"])
    old = '{"delivery":"kept","record":{"name":"B"}}'
    payload["actions"][0]["options"] = {"url": receiver.url, "secret_ref": "case_hook", "body": old}
    with env.services.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == entry["id"]).values(
            payload=json.dumps(payload), next_attempt_at=_dt.datetime.now(_dt.timezone.utc)))
    assert env.wf.run_outbox(entry["id"]) == "done"
    assert receiver.bodies[f"{entry['id']}:0"][-1] == old.encode() and receiver.bad_signatures == 0


def test_run_log_lines_kept_in_the_outbox_row_are_short_and_read_back_whole(env, receiver):
    add_rule(env, {"name": "flag", "trigger": "create", "condition": "priority = 'High'", "actions": [
        {"type": "field_update", "field": "escalated", "value": "TRUE"}]})
    add_rule(env, {"name": "notify", "trigger": "create", "actions": [
        {"type": "webhook", "url": receiver.url, "secret_ref": "case_hook"}]})
    case = env.post("/api/v1/records/support_case", json={"name": "C", "priority": "High"}).get_json()
    [entry] = env.get("/api/v1/outbox?status=done").get_json()["entries"]
    lines = payload_of(env, entry["id"])["log"]
    # blank action index, action type and code are left out of a kept line
    assert sorted(sorted(line) for line in lines) == sorted(
        [["id", "message", "rule", "status"]] * 2 + [["action_index", "action_type", "id", "message", "rule", "status"]])
    assert all(v is not None for line in lines for v in line.values())
    runs = env.get(f"/api/v1/records/support_case/{case['id']}/runs").get_json()["runs"]
    kept = [r for r in runs if r["id"] in {line["id"] for line in lines}]
    assert sorted(r["message"] for r in kept) == sorted([
        "Rule 'flag' fired (create).", "Set escalated (field update, in the same write).",
        "Rule 'notify' fired (create)."])
    assert {r["outbox_id"] for r in kept} == {entry["id"]} and {r["at"] for r in kept} == {entry["created_at"]}

    # lines written whole (before they were kept short) read the same
    with env.services.engine.begin() as conn:
        row = conn.execute(select(outbox).where(outbox.c.id == entry["id"])).mappings().one()
        whole = [dict(line, created_at=line["created_at"].isoformat()) for line in log_lines(row)]
        payload = json.loads(row["payload"])
        conn.execute(update(outbox).where(outbox.c.id == entry["id"]).values(
            payload=json.dumps(dict(payload, log=whole))))
    assert env.get(f"/api/v1/records/support_case/{case['id']}/runs").get_json()["runs"] == runs


def test_the_read_plan_follows_the_metadata_version(env):
    assert env.post("/api/v1/objects/support_case/fields", json={
        "api_name": "hot", "label": "Hot", "type": "formula", "formula": "priority = 'High'"}).status_code == 201
    add_rule(env, {"name": "mail_hot", "trigger": "create", "condition": "hot", "actions": [
        {"type": "send_email", "to": "'desk@example.com'", "subject": "'Hot: ' & name", "body": "name"}]})
    services = env.services
    snapshot = services.records().snapshot
    rules = env.wf.rules(snapshot, "support_case")
    rt = snapshot.get("support_case")
    assert rules.read_plan(services.records(), rt) is rules.read_plan(services.records(), rt)    # kept
    assert [name for name, _c in rules.read_plan(services.records(), rt)[1]] == ["hot"]

    def subjects():
        return sorted(a["result"]["mail"]["subject"] for e in env.get("/api/v1/outbox?status=done").get_json()["entries"]
                      for a in e["actions"])

    env.post("/api/v1/records/support_case", json={"name": "H1", "priority": "High"})
    env.post("/api/v1/records/support_case", json={"name": "L1", "priority": "Low"})
    assert subjects() == ["Hot: H1"]
    # a new version of the formula field: a new version of the rules and of their plan
    assert env.patch("/api/v1/objects/support_case/fields/hot", json={"formula": "priority = 'Low'"}).status_code == 200
    env.post("/api/v1/records/support_case", json={"name": "H2", "priority": "High"})
    env.post("/api/v1/records/support_case", json={"name": "L2", "priority": "Low"})
    assert subjects() == ["Hot: H1", "Hot: L2"]
    assert env.wf.rules(services.records().snapshot, "support_case") is not rules


def test_isnew_and_priorvalue_in_deferred_actions_see_the_write(env):
    add_rule(env, {"name": "track", "trigger": "create_or_update",
                   "condition": "ISNEW() || ISCHANGED(priority)", "actions": [
        {"type": "send_email", "to": "'desk@example.com'",
         "subject": "IF(ISNEW(), 'new ', 'was ' & PRIORVALUE(priority) & ' ') & priority", "body": "name"}]})
    case = env.post("/api/v1/records/support_case", json={"name": "P", "priority": "Low"}).get_json()
    assert env.patch(f"/api/v1/records/support_case/{case['id']}", json={"priority": "High"}).status_code == 200
    assert env.patch(f"/api/v1/records/support_case/{case['id']}", json={"name": "P2"}).status_code == 200
    entries = env.get("/api/v1/outbox?status=done").get_json()["entries"]
    assert sorted(e["actions"][0]["result"]["mail"]["subject"] for e in entries) == ["new Low", "was Low High"]


class Gate:
    """Stands in for the enqueuer's sleep: notes the linger asked for, and holds the thread until
    the test opens it (so which ids share a batch does not depend on timing)."""

    def __init__(self):
        self.asked = []
        self.sleeping = threading.Event()
        self.open = threading.Event()

    def __call__(self, seconds):
        self.asked.append(seconds)
        self.sleeping.set()
        assert self.open.wait(30)
        self.open.clear()


def test_the_enqueuer_batches_the_ids_put_while_it_lingers():
    calls, clock = [], [0.0]
    enq = Enqueuer(calls.append, linger=0.005, busy_linger=0.05, busy_rate=50.0)
    gate = enq._sleep = Gate()
    enq._clock = lambda: clock[0]

    def batch(ids, at):
        enq.put(ids[:1])
        assert gate.sleeping.wait(30)
        for one in ids[1:]:
            enq.put([one])
        clock[0] = at
        gate.sleeping.clear()
        gate.open.set()
        enq.flush(30)

    a = [f"a{i}" for i in range(50)]
    batch(a, 1.0)                  # the first batch: no rate yet
    batch(["b"], 1.5)              # 1 id in 0.5 s: quiet
    c = [f"c{i}" for i in range(10)]
    batch(c, 1.6)                  # 10 ids in 0.1 s: busy, the next batch lingers longer
    batch(["d"], 10.0)             # 1 id in 8.4 s: quiet again
    batch(["e"], 11.0)
    assert calls == [a, ["b"], c, ["d"], ["e"]]                       # each id once, in order, in batches
    assert gate.asked == [0.005, 0.005, 0.005, 0.05, 0.005]


def test_a_flush_hands_over_at_once_without_waiting_out_the_linger():
    """flush() cuts the linger short (shutdown, tests and the benchmark's phases do not wait out a
    sleep meant to gather ids): with an hour's linger, a flush with 30 s to spare still hands
    every id over, each once, in order."""
    calls = []
    enq = Enqueuer(calls.append, linger=3600, busy_linger=3600)
    enq.put(["a"])
    enq.put(["b", "c"])
    enq.flush(30)
    assert calls == [["a", "b", "c"]]
    enq.put(["d"])                      # the next batch lingers again, and is cut short again
    enq.flush(30)
    assert calls == [["a", "b", "c"], ["d"]]


def test_outbox_rows_written_by_row_insert_are_stored_as_sqlalchemy_stores_them(db_url):
    engine = make_engine(db_url)
    create_tables(engine)
    fast = RowInsert(outbox, most=4)
    now = _dt.datetime(2026, 11, 26, 18, 0, 0, 123456, tzinfo=_dt.timezone.utc)
    # equal to ``now`` (the same instant) but another object in another zone: bound on its own
    same_instant = now.astimezone(_dt.timezone(_dt.timedelta(hours=8)))
    assert same_instant == now

    def rows(tag, n):
        return [{"id": f"{tag}-{n}-{i}", "origin": "automation", "object": "support_case", "record_id": f"r{i}",
                 "rule": None if i % 2 else "notify", "event": "create", "depth": i + 1, "status": "pending",
                 "attempts": 0, "max_attempts": 8, "next_attempt_at": now + _dt.timedelta(seconds=i),
                 "locked_until": None, "enqueued_at": now, "last_error": None if i % 2 else "50% ? %(x)s 'q' ☃",
                 "payload": json.dumps({"record": {"name": "Zoë %s ?", "n": i}}), "created_at": now,
                 "updated_at": now if i % 3 else same_instant, "done_at": None if i % 2 else now} for i in range(n)]
    try:
        for n in (1, 2, 3, 6, 9):             # 6 and 9: more than ``most``, written in groups
            with engine.begin() as conn:
                fast.execute(conn, rows("fast", n))
                conn.execute(insert(outbox), rows("plain", n))
        with engine.connect() as conn:
            stored = {r["id"]: dict(r) for r in conn.execute(select(outbox)).mappings()}
        assert len(stored) == 2 * (1 + 2 + 3 + 6 + 9)
        for row_id, row in stored.items():
            if row_id.startswith("fast-"):
                twin = stored["plain-" + row_id[5:]]
                assert dict(row, id=None) == dict(twin, id=None)
        assert {n for (_d, _s, n) in fast._plans} == {1, 2, 3, 4}          # one statement per row count
        for _sql, processors, _positional in fast._plans.values():      # timestamp columns share one
            assert len({id(p) for _c, p in processors if p is not None}) <= 1     # (a clock is bound once)
    finally:
        engine.dispose()


def test_a_driver_error_in_row_insert_is_sqlalchemys_error_and_nothing_of_the_transaction_stays(db_url):
    """RowInsert runs on the DBAPI cursor: a driver's error still reaches the caller as SQLAlchemy's
    (the records service's error handling knows those), and the whole transaction rolls back."""
    engine = make_engine(db_url)
    create_tables(engine)
    now = _dt.datetime(2026, 11, 26, 18, 0, tzinfo=_dt.timezone.utc)
    row = {"id": "dup", "origin": "automation", "object": "support_case", "record_id": "r1", "rule": "notify",
           "event": "create", "depth": 1, "status": "pending", "attempts": 0, "max_attempts": 8,
           "next_attempt_at": now, "locked_until": None, "enqueued_at": now, "last_error": None, "payload": "{}",
           "created_at": now, "updated_at": now, "done_at": None}
    try:
        with pytest.raises(IntegrityError) as caught:
            with engine.begin() as conn:
                RowInsert(outbox).execute(conn, [row, dict(row, record_id="r2")])    # the same id twice
        assert isinstance(caught.value, DBAPIError) and caught.value.orig is not None
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                conn.execute(insert(outbox), [dict(row, id="first")])
                RowInsert(outbox).execute(conn, [dict(row, id="first")])
        with engine.connect() as conn:            # nothing of either transaction was kept
            assert conn.execute(select(outbox.c.id)).all() == []
        with engine.connect() as conn:            # outside a transaction it begins one, as execute does
            RowInsert(outbox).execute(conn, [dict(row, id="alone")])
            conn.rollback()
            assert conn.execute(select(outbox.c.id)).all() == []
    finally:
        engine.dispose()


def test_workflow_ids_are_uuid7_in_the_order_they_were_made(monkeypatch):
    import time
    import uuid

    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for one in ids[:500]:
        parsed = uuid.UUID(one)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == one
    # ids made faster than one a millisecond keep the clock's time (a counter in rand_a orders
    # them): a busy process's run-log lines do not drift ahead of a worker's
    assert int(ids[-1].replace("-", "")[:12], 16) <= time.time_ns() // 10 ** 6

    def ms_and_seq(made):
        return [(int(m.replace("-", "")[:12], 16), int(m.replace("-", "")[13:16], 16)) for m in made]

    # a clock that stands still or goes back: still strictly increasing, the millisecond kept
    clock = iter([10 ** 18, 10 ** 18, 10 ** 18 - 5 * 10 ** 9, 10 ** 18 + 1, 10 ** 18 + 10 ** 6])
    monkeypatch.setattr(outbox_module, "_state", [0, 0])
    monkeypatch.setattr(outbox_module, "_time_ns", lambda: next(clock))
    made = [new_id() for _ in range(5)]
    assert made == sorted(made) and len(set(made)) == 5
    t = 10 ** 12
    assert ms_and_seq(made) == [(t, 0), (t, 1), (t, 2), (t, 3), (t + 1, 0)]
    # 4,096 ids in one millisecond: the next moves on to the next millisecond
    monkeypatch.setattr(outbox_module, "_time_ns", lambda: 10 ** 18 + 5 * 10 ** 6)
    burst = [new_id() for _ in range(4097)]
    assert burst == sorted(burst) and len(set(burst)) == 4097
    assert ms_and_seq(burst[-2:]) == [(t + 5, 4095), (t + 6, 0)]


def test_the_firing_clock_is_written_as_strftime_writes_it():
    from engine.workflow.fire import Fire

    class Clock:
        now_iso = Fire.now_iso

        def __init__(self, now):
            self.now = now

    for now in (_dt.datetime(2026, 11, 26, 18, 0, tzinfo=_dt.timezone.utc),          # no microseconds
                _dt.datetime(2026, 1, 1, 5, 0, 0, 1, tzinfo=_dt.timezone(_dt.timedelta(hours=8))),
                _dt.datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=_dt.timezone.utc),
                _dt.datetime.now(_dt.timezone.utc)):
        assert Clock(now).now_iso == now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_forked_child_makes_other_ids_than_its_parent():
    import os

    new_id()                      # the parent has random bits read ahead
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                  # the child: its next ids, to the parent
        try:
            os.write(write, ",".join(new_id() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode().split(",")
    os.close(read)
    mine = [new_id() for _ in range(3)]
    assert len(child) == 3 and not {i[14:] for i in child} & {i[14:] for i in mine}    # random parts differ


def test_payload_json_is_the_text_json_dumps_writes_compact():
    import decimal

    from engine.workflow.outbox import payload_json

    payloads = [{}, {"actions": [], "run_as": None, "record": None, "context": {}},
                {"actions": [{"index": 0, "type": "webhook", "options": {"url": "http://h/x?a=1&b=\"2\"",
                                                                        "occurred_at": "2026-11-26T18:00:00.000001Z"}}],
                 "run_as": "ann", "record": {"name": "Zoë ☃ \n\t\u0000", "n": 1.5, "big": 1e300, "i": -7, "ok": True,
                                             "d": decimal.Decimal("1.20"), "day": _dt.date(2026, 1, 2),
                                             "at": _dt.datetime(2026, 1, 2, 3, 4, 5), "tags": ["a", None, 3]},
                 "context": {"submitter": "u1"}, "log": [{"id": "x", "message": "Rule 'a' fired (create)."}]},
                {1: "int key", 2.5: "float key", True: "bool key", None: "none key"}]
    for payload in payloads:
        assert payload_json(payload) == json.dumps(payload, default=str, separators=(",", ":"))


def test_a_busy_process_enqueues_jobs_of_up_to_job_batch_rows_with_time_for_each_25(env):
    from engine.workflow.service import JOB_BATCH

    class Queue:
        def __init__(self):
            self.jobs = []

        def prepare_data(self, func, args, timeout, **kwargs):
            return func, args, timeout

        def enqueue_many(self, jobs):
            self.jobs += jobs

    assert JOB_BATCH == 250
    wf, base = env.wf, env.wf.config.workflow_job_timeout
    wf._queue = fake = Queue()
    ids = [f"o{i}" for i in range(2 * JOB_BATCH + 30)]
    wf.enqueue(ids)
    wf.enqueue(["single"])
    wf.enqueue(ids[:26])
    assert [(f.rsplit(".", 1)[1], len(a[0]) if isinstance(a[0], list) else 1, t) for f, a, t in fake.jobs] == [
        ("run_outbox_batch", JOB_BATCH, 10 * base), ("run_outbox_batch", JOB_BATCH, 10 * base),
        ("run_outbox_batch", 30, 2 * base),
        ("run_outbox", 1, base), ("run_outbox_batch", 26, 2 * base)]
    assert [i for _f, a, _t in fake.jobs[:3] for i in a[0]] == ids          # each id once, in order


def test_system_json_is_what_page_json_shows_the_system_for_every_field_type(db_url):
    """The webhook's record JSON (``Fire.record_json``) skips page_json for an object without
    formula fields: ``system_json`` must give the same keys, values and types, for every stored
    field type, blank or not."""
    from engine.metadata.field_types import field_types
    from engine.records.reader import system_json
    from engine.security import SYSTEM_ACTOR
    from engine.services import build_services

    services = build_services({"database_url": db_url})
    try:
        docs = [field_doc(name, ftype) for name, ftype in field_types.items() if ftype.writable]
        services.store.create_object({"api_name": "tgt", "label": "Target", "fields": []}, SYSTEM_ACTOR)
        services.store.create_object({"api_name": "probe", "label": "Probe", "fields": docs}, SYSTEM_ACTOR)
        records = services.records()
        target = records.create("tgt", {"name": "T"}, SYSTEM_ACTOR)
        full = {"name": "Full", "f_checkbox": True, "f_currency": "10.5", "f_number": 3, "f_percent": 12.5,
                "f_date": "2025-06-30", "f_datetime": "2025-06-30T10:00:00Z", "f_email": "a@b.co",
                "f_picklist": "a", "f_multi_picklist": ["a", "b"], "f_lookup": target["id"], "f_text": "x",
                "f_integer": 7, "f_long_text": "long", "f_phone": "+1 555 0100", "f_rich_text": "<b>x</b>",
                "f_url": "http://example.org/x", "f_master_detail": target["id"]}
        assert set(full) - {"name"} == {d["api_name"] for d in docs}       # a value for every stored type
        records.create("probe", full, SYSTEM_ACTOR)
        records.create("probe", {"name": "Blank", "f_master_detail": target["id"]}, SYSTEM_ACTOR)
        rt = services.records().snapshot.get("probe")
        with services.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(rt.table)).mappings()]
        assert len(rows) == 2
        for row in rows:
            mine, theirs = system_json(rt, row), records.page_json(rt, [row], SYSTEM_ACTOR)[0]
            assert list(mine) == list(theirs)
            assert all(type(mine[k]) is type(theirs[k]) and mine[k] == theirs[k] for k in theirs), (mine, theirs)
        services.store.add_field("probe", {"api_name": "doubled", "type": "formula", "return_type": "number",
                                           "formula": "f_number * 2"}, SYSTEM_ACTOR)
        with pytest.raises(ValueError):
            system_json(services.records().snapshot.get("probe"), rows[0])
    finally:
        services.dispose()
