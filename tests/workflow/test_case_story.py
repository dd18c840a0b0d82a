"""The case story end to end through the API: when a case becomes High priority it is escalated
and given to the queue owner (in the same write), a follow-up task is created and a signed
webhook is posted — in the embedded mode (no Redis) and through a real ``tessera worker`` on Redis,
on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from engine.security.users import create_token, create_user
from tests.conftest import Api

from .conftest import CASE, SECRET, TASK, escalate_rule, make_app, wait_for


def _setup(app, receiver):
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", is_admin=True)
    admin = Api(app.test_client(), create_token(services.engine, "admin"))
    queue = create_user(services.engine, "queue")
    create_user(services.engine, "rep")
    for doc in (CASE, TASK):
        assert admin.post("/api/v1/objects", json=doc).status_code == 201
    assert admin.post("/api/v1/permission_sets", json={"api_name": "agent", "objects": {
        "support_case": {"read": True, "create": True, "edit": True}}}).status_code in (200, 201)
    assert admin.post("/api/v1/users/rep/permission_sets", json={"permission_set": "agent"}).status_code in (200, 201)
    rep = Api(app.test_client(), create_token(services.engine, "rep"))
    r = admin.post("/api/v1/objects/support_case/automation_rules", json=escalate_rule(receiver.url, queue["id"]))
    assert r.status_code == 201, r.get_json()
    return services, admin, rep, queue


def _story(app, receiver, wait):
    services, admin, rep, queue = _setup(app, receiver)
    case = rep.post("/api/v1/records/support_case", json={"name": "Printer on fire", "priority": "Low"}).get_json()
    assert case["escalated"] is False
    # a Low case fires nothing
    wait()
    assert receiver.deliveries == {} and admin.get("/api/v1/outbox").get_json()["entries"] == []

    r = rep.patch(f"/api/v1/records/support_case/{case['id']}", json={"priority": "High"})
    assert r.status_code == 200, r.get_json()
    updated = r.get_json()
    # the field updates ran inside the write: one new row version, answered at once
    assert updated["escalated"] is True and updated["owner_id"] == queue["id"]
    assert updated["row_version"] == case["row_version"] + 1
    wait()

    tasks = admin.get("/api/v1/records/task").get_json()["records"]
    assert [(t["name"], t["what_id"]) for t in tasks] == [("Call back: Printer on fire", case["id"])]
    assert tasks[0]["owner_id"] == queue["id"]   # the task belongs to the case's owner as written

    [entry] = admin.get("/api/v1/outbox?status=done").get_json()["entries"]
    assert entry["rule"] == "escalate_high_priority" and entry["record_id"] == case["id"]
    assert [(a["index"], a["type"], a["applied"]) for a in entry["actions"]] == [
        (2, "create_record", True), (3, "webhook", True)]
    key = f"{entry['id']}:3"
    assert receiver.deliveries == {key: 1} and receiver.bad_signatures == 0
    body = receiver.effects[key]
    assert body["delivery"] == key and body["rule"] == "escalate_high_priority" and body["event"] == "update"
    assert body["record"]["id"] == case["id"] and body["record"]["priority"] == "High"
    assert body["record"]["escalated"] is True       # the record as written, field updates included
    assert "case-hook-s3cret" not in json.dumps(admin.get("/api/v1/outbox").get_json())

    runs = rep.get(f"/api/v1/records/support_case/{case['id']}/runs").get_json()["runs"]
    assert [(x["status"], x["action_type"]) for x in runs] == [
        ("fired", None), ("done", "field_update"), ("done", "field_update"), ("done", "create_record"),
        ("done", "webhook")]
    assert runs[0]["message"] == "Rule 'Escalate high-priority cases' fired (update)."
    assert runs[3]["message"].startswith("Created Task 'Call back: Printer on fire' (")
    assert runs[4]["message"].startswith("Delivered to 127.0.0.1 (HTTP 200)")

    # High again (another field changed): ISCHANGED(priority) is false, nothing fires
    r = admin.patch(f"/api/v1/records/support_case/{case['id']}", json={"subject_line": "still burning"})
    assert r.status_code == 200
    wait()
    assert len(admin.get("/api/v1/outbox").get_json()["entries"]) == 1 and len(receiver.deliveries) == 1
    return services


def test_case_story_embedded(db_url, receiver):
    app = make_app(db_url)
    try:
        _story(app, receiver, wait=lambda: None)    # embedded: actions ran before the response
    finally:
        app.extensions["tessera"].dispose()


def test_case_story_through_rq_worker(db_url, receiver, worker_factory):
    queue = f"tq_{uuid.uuid4().hex[:8]}"
    from .conftest import REDIS_URL

    app = make_app(db_url, redis_url=REDIS_URL, workflow_queue=queue)
    worker = worker_factory(db_url, queue).start()
    services = app.extensions["tessera"]

    def wait():
        wf = services.extensions["workflow"]
        wait_for(lambda: set(wf.outbox_counts()) <= {"done"}, timeout=30, what="the worker to finish\n"
                 + worker.output())

    try:
        _story(app, receiver, wait)
    finally:
        services.dispose()


def test_signature_is_hmac_of_the_body():
    from engine.workflow.actions.webhook import sign

    body = b'{"a":1}'
    assert sign(SECRET, body) == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
