"""Durable execution in the embedded mode (no Redis): idempotency keys, retries with backoff, dead
entries and the admin retry, the loop guard, delete triggers, related updates, kept mail, refused
field updates, and a plugin action through an entry point."""
from __future__ import annotations

import datetime as _dt
import json
import sys
import textwrap

import pytest
from sqlalchemy import func, select, update

from engine.security.users import create_token, create_user
from engine.workflow.tables import applied, outbox
from tests.conftest import Api

from .conftest import CASE, TASK, make_app


@pytest.fixture
def env(db_url):
    app = make_app(db_url, workflow_retry_base_seconds=60, workflow_max_attempts=3)
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", is_admin=True)
    admin = Api(app.test_client(), create_token(services.engine, "admin"))
    for doc in (CASE, TASK):
        assert admin.post("/api/v1/objects", json=doc).status_code == 201
    admin.services = services
    admin.wf = services.extensions["workflow"]
    yield admin
    services.dispose()


def add_rule(api, obj, doc):
    r = api.post(f"/api/v1/objects/{obj}/automation_rules", json=doc)
    assert r.status_code == 201, r.get_json()


def hook_rule(receiver, trigger="create", condition=None, extra=()):
    doc = {"name": "notify", "trigger": trigger, "actions": [
        *extra, {"type": "webhook", "url": receiver.url, "secret_ref": "case_hook", "payload": ["priority"]}]}
    if condition:
        doc["condition"] = condition
    return doc


def test_an_applied_action_is_not_applied_again(env, receiver):
    add_rule(env, "support_case", hook_rule(receiver, extra=[
        {"type": "create_record", "object": "task", "values": {"name": "'Call ' & name", "what_id": "id"}}]))
    case = env.post("/api/v1/records/support_case", json={"name": "A", "priority": "High"}).get_json()
    [entry] = env.get("/api/v1/outbox?status=done").get_json()["entries"]
    keys = [f"{entry['id']}:0", f"{entry['id']}:1"]
    assert receiver.deliveries == {keys[1]: 1}
    assert receiver.effects[keys[1]]["record"] == {"id": case["id"], "priority": "High"}   # payload: chosen fields

    # a worker that died after the effects but before the entry was marked done: the entry runs again
    with env.services.engine.begin() as conn:
        conn.execute(update(outbox).values(status="pending", done_at=None))
    assert env.wf.run_outbox(entry["id"]) == "done"
    tasks = env.get("/api/v1/records/task").get_json()["records"]
    assert len(tasks) == 1                                   # the record write carried its key: not again
    assert receiver.deliveries == {keys[1]: 1}               # the webhook's key was recorded too
    # ... and one that died after the webhook was delivered but before its key was recorded: delivered
    # again with the same key (at least once); a receiver that dedups by key applies it once
    with env.services.engine.begin() as conn:
        conn.execute(update(outbox).values(status="pending", done_at=None))
        conn.execute(applied.delete().where(applied.c.key == keys[1]))
    assert env.wf.run_outbox(entry["id"]) == "done"
    assert receiver.deliveries == {keys[1]: 2} and list(receiver.effects) == [keys[1]]
    assert len(env.get("/api/v1/records/task").get_json()["records"]) == 1
    with env.services.engine.connect() as conn:
        assert conn.execute(select(applied.c.key).order_by(applied.c.key)).scalars().all() == keys
    # a done entry is never claimed again
    assert env.wf.run_outbox(entry["id"]) == "skipped"


def test_retries_back_off_then_die_and_an_admin_retries(env, receiver):
    add_rule(env, "support_case", hook_rule(receiver))
    receiver.fail_next = 10
    t0 = _dt.datetime.now(_dt.timezone.utc)
    case = env.post("/api/v1/records/support_case", json={"name": "B"})
    assert case.status_code == 201                       # a failing action never fails the write
    [entry] = env.get("/api/v1/outbox?status=failed").get_json()["entries"]
    assert entry["attempts"] == 1 and entry["last_error"] == "workflow.E331: The webhook to 127.0.0.1 answered HTTP 500."
    assert env.wf.run_due(t0 + _dt.timedelta(seconds=30))["redispatched"] == 0      # not due yet (60 s)
    assert env.wf.run_due(t0 + _dt.timedelta(seconds=75))["redispatched"] == 1      # attempt 2
    [entry] = env.get("/api/v1/outbox?status=failed").get_json()["entries"]
    assert entry["attempts"] == 2
    assert env.wf.run_due(t0 + _dt.timedelta(seconds=140))["redispatched"] == 0     # backoff doubled: 120 s
    assert env.wf.run_due(t0 + _dt.timedelta(seconds=200))["redispatched"] == 1     # attempt 3 of 3
    [entry] = env.get("/api/v1/outbox?status=dead").get_json()["entries"]
    assert entry["attempts"] == 3 and entry["actions"][0]["applied"] is False
    key = f"{entry['id']}:0"
    assert receiver.deliveries == {key: 3} and receiver.effects == {}
    runs = env.get(f"/api/v1/records/support_case/{case.get_json()['id']}/runs").get_json()["runs"]
    assert [r["message"] for r in runs[1:]] == [
        "Action 0 (webhook) failed (attempt 1 of 3): The webhook to 127.0.0.1 answered HTTP 500. Retrying in 60 s.",
        "Action 0 (webhook) failed (attempt 2 of 3): The webhook to 127.0.0.1 answered HTTP 500. Retrying in 2 min.",
        "Action 0 (webhook) failed after 3 attempts: The webhook to 127.0.0.1 answered HTTP 500. The entry is dead; "
        "an administrator may retry it."]
    assert runs[-1]["status"] == "dead" and runs[-1]["code"] == "workflow.E331"

    receiver.fail_next = 0
    r = env.post(f"/api/v1/outbox/{entry['id']}/retry")
    assert r.status_code == 200 and r.get_json()["status"] == "done" and r.get_json()["attempts"] == 1
    assert receiver.effects.keys() == {key}
    r = env.post(f"/api/v1/outbox/{entry['id']}/retry")
    assert r.status_code == 409 and r.get_json()["error"] == {
        "code": "workflow.E708", "fields": {},
        "message": f"Outbox entry '{entry['id']}' is done; only failed or dead entries can be retried."}
    r = env.post("/api/v1/outbox/nope/retry")
    assert r.status_code == 404 and r.get_json()["error"]["message"] == "No outbox entry with id 'nope'."
    r = env.get("/api/v1/outbox?status=lost")
    assert r.status_code == 400 and r.get_json()["error"]["message"] == \
        "Unknown outbox status 'lost'; use one of pending, failed, done, dead."


def test_the_loop_guard_stops_a_chain_and_keeps_the_write(env):
    # every task creates another task: a chain that would never end
    add_rule(env, "task", {"name": "breed", "trigger": "create", "actions": [
        {"type": "create_record", "object": "task", "values": {"name": "'Child of ' & name"}}]})
    r = env.post("/api/v1/records/task", json={"name": "T"})
    assert r.status_code == 201
    names = sorted(t["name"] for t in env.get("/api/v1/records/task?limit=50").get_json()["records"])
    assert len(names) == 6            # the original and 5 levels (TESSERA_AUTOMATION_MAX_DEPTH)
    last = next(t for t in env.get("/api/v1/records/task?limit=50").get_json()["records"]
                if t["name"] == "Child of " * 5 + "T")
    [run] = env.get(f"/api/v1/records/task/{last['id']}/runs").get_json()["runs"]
    assert run["status"] == "error" and run["code"] == "workflow.E203"
    assert run["message"] == ("Rule 'breed' was not run: the chain of automations would be 6 deep, deeper than "
                              "TESSERA_AUTOMATION_MAX_DEPTH (5). Rules that update records trigger each other; "
                              "change a condition to end the loop. The write itself was saved.")


def test_delete_triggers_related_updates_kept_mail_and_refused_updates(env, receiver):
    api = env
    assert api.post("/api/v1/objects", json={"api_name": "account", "label": "Account", "fields": [
        {"api_name": "hot", "label": "Hot", "type": "checkbox"},
        {"api_name": "note", "label": "Note", "type": "text"}]}).status_code == 201
    assert api.post("/api/v1/objects/support_case/fields", json={
        "api_name": "account", "label": "Account", "type": "lookup", "target": "account"}).status_code == 201
    queue = create_user(api.services.engine, "queue")
    add_rule(api, "support_case", {"name": "heat", "trigger": "create_or_update", "condition": "priority = 'High'",
                                   "actions": [
        {"type": "update_related", "relation": "account", "values": {"hot": "TRUE", "note": "'From ' & name"}},
        {"type": "send_email", "to": ["owner", "'boss@example.com'"], "subject": "'Hot: ' & account.name",
         "body": "'Case ' & name & ' is ' & priority"}]})
    add_rule(api, "support_case", hook_rule(receiver, trigger="delete"))
    acct = api.post("/api/v1/records/account", json={"name": "Acme"}).get_json()
    case = api.post("/api/v1/records/support_case", json={
        "name": "C", "priority": "High", "account": acct["id"], "owner_id": queue["id"]}).get_json()
    acct = api.get(f"/api/v1/records/account/{acct['id']}").get_json()
    assert acct["hot"] is True and acct["note"] == "From C"
    [entry] = api.get("/api/v1/outbox?status=done").get_json()["entries"]
    mail = entry["actions"][1]["result"]["mail"]
    assert mail == {"status": "kept", "subject": "Hot: Acme", "body": "Case C is High",
                    "to": [{"user": "queue", "address": None}, {"user": None, "address": "boss@example.com"}]}
    assert api.delete(f"/api/v1/records/support_case/{case['id']}").status_code == 204
    [body] = receiver.effects.values()
    assert body["event"] == "delete" and body["record"]["id"] == case["id"]

    # a field update that gives a value the field refuses refuses the write, naming the rule
    add_rule(api, "support_case", {"name": "bad", "trigger": "create", "actions": [
        {"type": "field_update", "field": "priority", "value": "'Urgent'"}]})
    r = api.post("/api/v1/records/support_case", json={"name": "D"})
    assert r.status_code == 422
    assert r.get_json()["error"] == {
        "code": "workflow.E120",
        "message": "Case 'D' was not saved: Priority: Automation rule 'bad' set an invalid value: Must be one of: "
                   "Low, Medium, High.",
        "fields": {"priority": ["Automation rule 'bad' set an invalid value: Must be one of: Low, Medium, High."]}}


def test_a_plugin_action_through_an_entry_point(db_url, tmp_path, monkeypatch):
    from engine.workflow.actions import actions

    (tmp_path / "tessera_wf_plugin.py").write_text(textwrap.dedent('''
        from engine.workflow.actions import Action

        CALLS = []

        class Stamp(Action):
            """Appends a line to a list: a stand-in for a call to another system."""
            key = "stamp"
            label = "Stamp"
            options_schema = {"type": "object", "required": ["text"], "properties": {
                "text": {"type": "string", "description": "a formula"}}}
            formula_keys = (("text", "text"),)

            def run(self, ctx, options):
                CALLS.append((ctx.key, options["text"], ctx.record_id))
                return {"message": "Stamped " + options["text"] + "."}
    '''))
    dist = tmp_path / "tessera_wf_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tessera-wf-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tessera.workflow_actions]\nstamp = tessera_wf_plugin:Stamp\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tessera_wf_plugin", None)       # a fresh import (and CALLS) for each database
    # other tests built services (and froze the registry) in this process already: reopen it for this one
    monkeypatch.setattr(actions, "_items", dict(actions._items))
    monkeypatch.setattr(actions, "_owners", dict(actions._owners))
    monkeypatch.setattr(actions, "_frozen", False)
    monkeypatch.setattr(actions, "_plugins_loaded", False)
    app = make_app(db_url)
    try:
        services = app.extensions["tessera"]
        assert "stamp" in actions.keys() and actions._frozen
        create_user(services.engine, "admin", is_admin=True)
        api = Api(app.test_client(), create_token(services.engine, "admin"))
        assert api.post("/api/v1/objects", json=CASE).status_code == 201
        bad = {"name": "s", "trigger": "create", "actions": [{"type": "stamp", "text": "1 + 1"}]}
        r = api.post("/api/v1/objects/support_case/automation_rules", json=bad)
        assert r.get_json()["error"]["message"] == ("objects.support_case.automation_rules[0].actions[0].text: The "
                                                    "formula gives a number, but text is needed (line 1, column 1)")
        add_rule(api, "support_case", dict(bad, actions=[{"type": "stamp", "text": "name & '!'"}]))
        case = api.post("/api/v1/records/support_case", json={"name": "P"}).get_json()
        import tessera_wf_plugin

        [entry] = api.get("/api/v1/outbox?status=done").get_json()["entries"]
        # the plugin ran once for this record (the module's list may also hold the other database's
        # run when the entry point hands back a module imported earlier in the same process)
        assert [c for c in tessera_wf_plugin.CALLS if c[2] == case["id"]] == [(f"{entry['id']}:0", "P!", case["id"])]
        runs = api.get(f"/api/v1/records/support_case/{case['id']}/runs").get_json()["runs"]
        assert [r["message"] for r in runs] == ["Rule 's' fired (create).", "Stamped P!."]
    finally:
        app.extensions["tessera"].dispose()


def test_bulk_writes_fire_once_per_record(env, receiver):
    add_rule(env, "support_case", hook_rule(receiver, condition="priority = 'High'"))
    items = [{"name": f"R{i}", "priority": "High" if i % 2 else "Low"} for i in range(20)]
    assert env.post("/api/v1/records/support_case", json=items).status_code == 201
    assert len(receiver.effects) == 10 and all(n == 1 for n in receiver.deliveries.values())
    with env.services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 10
        payloads = [json.loads(p) for p in conn.execute(select(outbox.c.payload)).scalars()]
    assert all(p["actions"][0]["type"] == "webhook" for p in payloads)
