"""Automation rules as metadata: stored in the object document and versioned with it, admin-only,
and refused with every problem named (path, line and column for formulas) on SQLite and
PostgreSQL."""
from __future__ import annotations

import pytest

from engine.security.users import create_token, create_user
from tests.conftest import Api

from .conftest import CASE, TASK, make_app

OK_RULE = {"name": "flag", "label": "Flag high", "trigger": "update", "condition": "priority = 'High'",
           "actions": [{"type": "field_update", "field": "escalated", "value": "TRUE"}]}
P = "objects.support_case.automation_rules[0]"


@pytest.fixture(scope="module")
def setup(module_db_url):
    app = make_app(module_db_url)
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", is_admin=True)
    create_user(services.engine, "rep")
    admin = Api(app.test_client(), create_token(services.engine, "admin"))
    rep = Api(app.test_client(), create_token(services.engine, "rep"))
    for doc in (CASE, TASK):
        assert admin.post("/api/v1/objects", json=doc).status_code == 201
    yield admin, rep
    services.dispose()


def rule(**changes):
    out = dict(OK_RULE, **changes)
    return {k: v for k, v in out.items() if v is not None}


REFUSALS = [
    (rule(trigger="on_save"), f"{P}.trigger: must be one of 'create', 'update', 'create_or_update', 'delete', "
     "{\"time\": {\"field\": ..., \"offset_hours\": ...}} or {\"schedule\": \"<cron>\"} (got 'on_save')"),
    (rule(trigger={"time": {"field": "subject_line", "offset_hours": -72}}, condition=None),
     f"{P}.trigger.time.field: 'subject_line' is a text field; a time trigger needs a date or datetime field"),
    (rule(trigger={"time": {"field": "close_date", "offset": 3}}),
     f"{P}.trigger: unknown key 'offset' in time (known: 'field', 'offset_hours')"),
    (rule(trigger={"schedule": "every monday"}), f"{P}.trigger: schedule must be a cron expression of five fields, "
     "minute hour day month weekday, such as '0 8 * * 1' (got \"every monday\")"),
    (rule(trigger={"schedule": "0 8 * * 1", "timezone": "Mars/Olympus"}),
     f"{P}.trigger: unknown time zone \"Mars/Olympus\" (use an IANA name such as 'Europe/Paris')"),
    (rule(condition="priority = 'High' &&"), f"{P}.condition: The formula ends too early: expected a value (a number, "
     "a text, a field or a function call) (line 1, column 21)"),
    (rule(condition="priorty = 'High'"), f"{P}.condition: Unknown field 'priorty' (line 1, column 1). "
     "Did you mean 'priority'?"),
    (rule(condition="priority"), f"{P}.condition: The formula gives text, but a boolean (TRUE/FALSE) is needed "
     "(line 1, column 1)"),
    (rule(trigger={"time": {"field": "close_date", "offset_hours": -72}}, condition="ISCHANGED(status)"),
     f"{P}.condition: ISNEW, ISCHANGED and PRIORVALUE need a record being saved; a time-based or scheduled rule "
     "cannot use them"),
    (rule(actions=[{"type": "field_update", "field": "escalatd", "value": "TRUE"}]),
     f"{P}.actions[0].field: unknown field 'escalatd' on 'support_case' (did you mean 'escalated'?)"),
    (rule(actions=[{"type": "field_update", "field": "created_at", "value": "NOW()"}]),
     f"{P}.actions[0].field: field 'created_at' of 'support_case' cannot be written (it is computed or kept by "
     "the system)"),
    (rule(actions=[{"type": "field_update", "field": "escalated", "value": "'yes'"}]),
     f"{P}.actions[0].value: The formula gives text, but a boolean (TRUE/FALSE) is needed (line 1, column 1)"),
    (rule(actions=[{"type": "field_update", "field": "escalated", "value": "TRUE", "colour": "red"}]),
     f"{P}.actions[0]: unknown key 'colour'"),
    (rule(actions=[{"type": "send_emial", "to": "owner"}]),
     f"{P}.actions[0].type: unknown action type 'send_emial' (did you mean 'send_email'?). Known: create_record, "
     "create_task, field_update, send_email, update_related, webhook"),
    (rule(actions=[{"type": "webhook", "url": "ftp://x", "secret_ref": "case_hok"}]),
     f"{P}.actions[0].url: must be an http:// or https:// URL (got 'ftp://x'); {P}.actions[0].secret_ref: unknown "
     "secret 'case_hok' (did you mean 'case_hook'?); configure it in TESSERA_WEBHOOK_SECRETS (known: case_hook)"),
    (rule(actions=[{"type": "webhook", "url": "http://127.0.0.1:1/x"}]), f"{P}.actions[0].secret_ref: is required"),
    (rule(actions=[{"type": "create_record", "object": "taks", "values": {}}]),
     f"{P}.actions[0].object: unknown object 'taks' (did you mean 'task'?)"),
    (rule(actions=[{"type": "create_record", "object": "task", "values": {"due_dat": "TODAY()", "due_date": "'x'"}}]),
     f"{P}.actions[0].values.due_dat: unknown field 'due_dat' on 'task' (did you mean 'due_date'?); "
     f"{P}.actions[0].values.due_date: The formula gives text, but a date is needed (line 1, column 1)"),
    (rule(run_as="nobody"), f"{P}.run_as: unknown user 'nobody' (no active user has this username)"),
    (rule(actions=[{"type": "send_email", "to": ["owner", "user:nobody", "submitter"], "subject": "'s'", "body": "1"}]),
     f"{P}.actions[0].body: The formula gives a number, but text is needed (line 1, column 1); {P}.actions[0].to[1]: "
     f"unknown user 'nobody' (no active user has this username); {P}.actions[0].to[2]: 'submitter' is only known "
     "in approval processes; use 'owner', 'user:<username>' or a formula"),
    (rule(trigger="delete"), f"{P}.actions[0].type: field_update cannot run when a record is deleted"),
    (rule(actions=[{"type": "update_related", "relation": "priority", "values": {"name": "'x'"}}]),
     f"{P}.actions[0].relation: 'priority' of 'support_case' is not a lookup to another object"),
    (rule(actions=[]), f"{P}.actions: must have at least 1 item"),
    (rule(name="Bad Name"), f"{P}.name: must be lowercase snake_case: a letter, then letters, digits or _ "
     "(got \"Bad Name\")"),
    ({"trigger": "update"}, f"{P}.name: is required; {P}.actions: is required"),
    (rule(actions=[{"type": "create_task", "subject": "name", "assign_to": "fiona"}]),
     f"{P}.actions[0].assign_to: must be 'owner' or 'user:<username>' (got 'fiona')"),
]


@pytest.mark.parametrize("doc,message", REFUSALS, ids=[str(i) for i in range(len(REFUSALS))])
def test_refusals_name_every_problem(setup, doc, message):
    admin, _rep = setup
    r = admin.post("/api/v1/objects/support_case/automation_rules", json=doc)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == "metadata.E001"
    assert r.get_json()["error"]["message"] == message
    assert admin.get("/api/v1/objects/support_case/automation_rules").get_json() == {"automation_rules": []}


def test_rules_are_versioned_with_their_object(setup):
    admin, rep = setup
    url = "/api/v1/objects/support_case/automation_rules"
    before = len(admin.get("/api/v1/objects/support_case/history").get_json()["versions"])
    r = admin.post(url, json=OK_RULE)
    assert r.status_code == 201 and r.get_json() == OK_RULE
    assert admin.get(f"{url}/flag").get_json() == OK_RULE
    r = admin.post(url, json=OK_RULE)
    assert r.status_code == 409 and r.get_json()["error"] == {
        "code": "workflow.E704", "message": "There is already an automation rule named 'flag' on 'support_case'.",
        "fields": {"name": ["already exists"]}}
    r = admin.patch(f"{url}/flag", json={"condition": "priority = 'Medium'", "label": None})
    assert r.status_code == 200 and r.get_json() == {k: v for k, v in dict(
        OK_RULE, condition="priority = 'Medium'").items() if k != "label"}
    r = admin.patch(f"{url}/flag", json={"condition": "priority = "})
    assert r.status_code == 422 and r.get_json()["error"]["message"].startswith(f"{P}.condition: The formula ends")
    r = admin.patch(f"{url}/flag", json={"name": "other"})
    assert r.status_code == 400 and r.get_json()["error"] == {
        "code": "workflow.E701", "fields": {},
        "message": "The name of automation rule 'flag' cannot change; create a new rule and delete this one."}
    versions = admin.get("/api/v1/objects/support_case/history").get_json()["versions"]
    assert [v["action"] for v in versions[before:]] == ["set_automation_rules", "set_automation_rules"]
    assert versions[-1]["doc"]["automation_rules"][0]["condition"] == "priority = 'Medium'"
    # only administrators see or change rules
    for method, path in (("get", url), ("post", url), ("get", f"{url}/flag"), ("patch", f"{url}/flag"),
                         ("delete", f"{url}/flag"), ("get", "/api/v1/outbox")):
        r = getattr(rep, method)(path, **({"json": OK_RULE} if method in ("post", "patch") else {}))
        assert r.status_code == 403, (method, path)
        assert r.get_json()["error"]["code"] == "workflow.E702"
    assert rep.get(url).get_json()["error"]["message"] == "Only administrators may see or change automation rules."
    assert admin.delete(f"{url}/flag").status_code == 204
    r = admin.get(f"{url}/flag")
    assert r.status_code == 404 and r.get_json()["error"] == {
        "code": "workflow.E703", "message": "Unknown automation rule 'flag' on 'support_case'.", "fields": {}}
    r = admin.get("/api/v1/objects/suport_case/automation_rules")
    assert r.status_code == 404 and r.get_json()["error"]["message"] == \
        "Unknown object 'suport_case' (did you mean 'support_case'?)."


def test_a_change_elsewhere_that_breaks_a_rule_is_refused(setup):
    admin, _rep = setup
    url = "/api/v1/objects/support_case/automation_rules"
    doc = rule(name="follow_up", actions=[{"type": "create_record", "object": "task",
                                           "values": {"name": "'Call ' & name", "due_date": "TODAY() + 1"}}])
    assert admin.post(url, json=doc).status_code == 201
    r = admin.delete("/api/v1/objects/task/fields/due_date")
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == "metadata.E030"
    assert r.get_json()["error"]["message"] == (
        f"{P}.actions[0].values.due_date: this change of 'task' would break an automation rule of 'support_case': "
        "unknown field 'due_date' on 'task'; change that rule first")
    # deleting a field of the rule's own object is refused by the rule's own checks
    fl = rule(name="flagging")
    assert admin.post(url, json=fl).status_code == 201
    r = admin.delete("/api/v1/objects/support_case/fields/escalated")
    assert r.status_code == 422
    assert r.get_json()["error"]["message"] == \
        "objects.support_case.automation_rules[1].actions[0].field: unknown field 'escalated' on 'support_case'"
    for name in ("follow_up", "flagging"):
        assert admin.delete(f"{url}/{name}").status_code == 204


def test_create_task_needs_a_task_object(db_url):
    from engine.errors import MetadataError
    from engine.security import SYSTEM_ACTOR
    from engine.services import build_services

    services = build_services({"database_url": db_url})
    try:
        services.store.create_object(CASE, SYSTEM_ACTOR)
        wf = services.extensions["workflow"]
        with pytest.raises(MetadataError) as exc:
            wf.add_rule("support_case", rule(actions=[{"type": "create_task", "subject": "'Call ' & name"}]),
                        SYSTEM_ACTOR)
        assert exc.value.message == (
            f"{P}.actions[0].type: create_task needs an object named 'task' (with a lookup to 'support_case' or a "
            "text field 'what_id', and a date field 'due_date'); create that object first, or use create_record")
        services.store.create_object({"api_name": "task", "fields": [{"api_name": "note", "type": "text"}]},
                                     SYSTEM_ACTOR)
        with pytest.raises(MetadataError) as exc:
            wf.add_rule("support_case", rule(actions=[{"type": "create_task", "subject": "name", "due_in_days": 1}]),
                        SYSTEM_ACTOR)
        assert exc.value.message == (
            f"{P}.actions[0].type: object 'task' has no lookup to 'support_case' and no text field 'what_id' to link "
            f"the task to the record; add one; {P}.actions[0].due_in_days: object 'task' has no date field "
            "'due_date'; add it or leave out due_in_days")
    finally:
        services.dispose()
