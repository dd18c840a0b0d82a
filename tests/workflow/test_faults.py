"""Fault tests with a real ``tessera worker`` on Redis: the worker is SIGKILLed in the middle of 500
webhook actions and restarted; Redis cannot be reached when the records are written. The receiver
counts deliveries by idempotency key: nothing is lost and no effect is applied twice (at-least-once
delivery, exactly-once effect by key), and the engine's own applied keys hold no duplicate."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from engine.security.users import create_token, create_user
from engine.workflow.tables import applied, outbox
from tests.conftest import Api

from .conftest import CASE, REDIS_URL, Receiver, make_app, wait_for

N = 500


# SQLite in WAL mode with synchronous=NORMAL, and PostgreSQL with synchronous_commit=off, lose nothing
# when a client process is killed (only a crash of the machine or the server may lose the last
# transactions): the guarantee under test stays, at a fraction of the fsyncs
FAST = {"sqlite_synchronous": "NORMAL"}


def fast(db_url):
    return db_url.replace("options=", "options=-csynchronous_commit%3Doff%20", 1)


def _app(db_url, queue, redis_url=REDIS_URL):
    app = make_app(db_url, redis_url=redis_url, workflow_queue=queue, workflow_requeue_seconds=1, **FAST)
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", is_admin=True)
    api = Api(app.test_client(), create_token(services.engine, "admin"))
    assert api.post("/api/v1/objects", json=CASE).status_code == 201
    return api, services


def _hook(api, url):
    r = api.post("/api/v1/objects/support_case/automation_rules", json={
        "name": "notify", "trigger": "create", "actions": [{"type": "webhook", "url": url, "secret_ref": "case_hook"}]})
    assert r.status_code == 201, r.get_json()


def _check_exactly_once(services, receiver, n):
    with services.engine.connect() as conn:
        ids = set(conn.execute(select(outbox.c.id)).scalars())
        keys = conn.execute(select(applied.c.key)).scalars().all()
        statuses = dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all())
    assert statuses == {"done": n}
    assert len(keys) == len(set(keys)) == n                         # the engine's done-state: no duplicate
    assert set(keys) == {f"{i}:0" for i in ids}
    assert set(receiver.effects) == set(keys)                         # 0 lost, each applied once by key
    assert sum(receiver.deliveries.values()) >= n and receiver.bad_signatures == 0
    return sum(receiver.deliveries.values()) - n                      # deliveries repeated after the kill


def test_sigkill_the_worker_in_the_middle_of_500_webhooks(db_url, worker_factory):
    db_url = fast(db_url)
    receiver = Receiver(delay=0.002)
    queue = f"tq_{uuid.uuid4().hex[:8]}"
    api, services = _app(db_url, queue)
    try:
        _hook(api, receiver.url)
        worker = worker_factory(db_url, queue, TESSERA_SQLITE_SYNCHRONOUS="NORMAL").start()
        r = api.post("/api/v1/records/support_case", json=[{"name": f"Case {i}"} for i in range(N)])
        assert r.status_code == 201
        wait_for(lambda: len(receiver.deliveries) >= N // 4, timeout=60, what="deliveries\n" + worker.output())
        worker.kill(9)
        killed_at = len(receiver.deliveries)
        assert killed_at < N, "the worker finished before it could be killed"
        worker.start()
        wf = services.extensions["workflow"]
        wait_for(lambda: wf.outbox_counts() == {"done": N}, timeout=90,
                 what=f"all {N} entries done (got {wf.outbox_counts()})\n" + worker.output())
        repeated = _check_exactly_once(services, receiver, N)
        print(f"killed after {killed_at} deliveries; {repeated} delivered again after the restart")
    finally:
        receiver.close()
        services.dispose()


def test_redis_unreachable_while_records_are_written(db_url, worker_factory, receiver):
    db_url = fast(db_url)
    queue = f"tq_{uuid.uuid4().hex[:8]}"
    # the web process cannot reach Redis: its writes succeed, its enqueues fail; the rows wait in the
    # database and the worker's scheduler enqueues them
    api, services = _app(db_url, queue, redis_url="redis://127.0.0.1:1/0")
    try:
        _hook(api, receiver.url)
        for i in range(20):
            assert api.post("/api/v1/records/support_case", json={"name": f"Case {i}"}).status_code == 201
        assert services.extensions["workflow"].outbox_counts() == {"pending": 20}
        worker_factory(db_url, queue, TESSERA_SQLITE_SYNCHRONOUS="NORMAL").start()
        wf = services.extensions["workflow"]
        wait_for(lambda: wf.outbox_counts() == {"done": 20}, timeout=60, what="the scheduler to enqueue them")
        assert _check_exactly_once(services, receiver, 20) == 0
    finally:
        services.dispose()
