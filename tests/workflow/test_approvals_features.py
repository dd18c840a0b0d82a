"""Approval features beyond the discount story, through the API on SQLite and PostgreSQL: reassign,
send back, delegation, decision rules, deadlines that approve, reject or find nobody to escalate
to, lock modes and deletes, approver kinds, and every refusal with its exact code and message."""
from __future__ import annotations

import copy
import datetime as _dt

import pytest

from engine.workflow.approvals.model import Decision, step_outcome

from .conftest import make_app
from .test_approvals import DISCOUNT, setup_story

APPROVER_FIELD = {"api_name": "approver", "label": "Approver", "type": "text"}
DIRECTORS = "Directors and finance"


@pytest.fixture
def app(db_url):
    application = make_app(db_url)
    yield application
    application.extensions["tessera"].dispose()


def one_step(approvers, **step):
    """A process with one step ('Check') and the story's status updates."""
    doc = {"name": "check", "label": "Check", "approvers": approvers}
    doc.update(step)
    return {"name": "checking", "label": "Checking", "allow_recall": True, "steps": [doc],
            "on_submit": [{"type": "field_update", "field": "status", "value": "'Pending'"}],
            "on_approve": [{"type": "field_update", "field": "status", "value": "'Approved'"}],
            "on_reject": [{"type": "field_update", "field": "status", "value": "'Rejected'"}]}


def submitted(s, name="Deal", discount=30, owner="rep"):
    q = s.quote(name, discount, owner=owner)
    s.act(owner, q["id"], "submit")
    return q["id"]


def err(r):
    body = r.get_json()["error"]
    return r.status_code, body["code"], body["message"]


# -- reassign -------------------------------------------------------------------------------

def test_reassign(app):
    s = setup_story(app)
    rid = submitted(s)
    s.act("mike", rid, "approve")
    body = s.act("fiona", rid, "reassign", {"to": "gina", "comment": "I am away"})
    approvers = {(a["user"], a["status"]) for a in body["request"]["step"]["approvers"]}
    assert ("fiona", "reassigned") in approvers and ("gina", "pending") in approvers
    assert s.pending("fiona") == [] and [w["origin"] for w in s.pending("gina")] == ["reassigned from 'fiona'"]

    assert s.refused("rep", rid, "reassign", {"to": "bob"}) == (
        403, "workflow.E613", f"Only a current approver of step '{DIRECTORS}' or an administrator may reassign its "
                              "work items.")
    # olga may not read quotes: the object does not exist for her
    assert s.refused("olga", rid, "reassign", {"to": "bob"}) == (404, "metadata.E041", "Unknown object 'quote'.")
    assert s.refused("gina", rid, "reassign", {"to": "nobody"}) == (
        422, "workflow.E611", "No active user 'nobody' to reassign the work item to.")
    assert s.refused("gina", rid, "reassign", {"to": "diana"}) == (
        409, "workflow.E612", f"'diana' is already an approver of step '{DIRECTORS}'.")
    assert s.refused("gina", rid, "reassign", {}) == (
        400, "workflow.E625", "Send {\"to\": \"<username>\"}: the user to give the work item to.")
    assert s.refused("gina", rid, "reassign", {"to": "bob", "coment": "x"}) == (
        400, "workflow.E626", "Unknown key 'coment' (did you mean 'comment'?) (known: to, from, comment).")
    assert s.refused("admin", rid, "reassign", {"to": "bob"}) == (
        422, "workflow.E614", f"Step '{DIRECTORS}' has several pending work items; say whose to reassign with "
                              "\"from\": one of 'dave', 'diana', 'gina', 'frank'.")
    assert s.refused("admin", rid, "reassign", {"to": "bob", "from": "olga"}) == (
        422, "workflow.E614", f"'olga' has no pending work item in step '{DIRECTORS}' (pending: 'dave', 'diana', "
                              "'gina', 'frank').")
    s.act("admin", rid, "reassign", {"to": "bob", "from": "frank"})
    s.act("gina", rid, "approve")
    body = s.act("bob", rid, "approve")
    assert body["request"]["status"] == "approved"
    assert [m for m in s.messages(rid) if m.startswith("Reassigned")] == [
        "Reassigned from 'fiona' to 'gina' by 'fiona'.", "Reassigned from 'frank' to 'bob' by 'admin'."]
    hist = s.approval(rid)["history"]
    assert [h["comment"] for h in hist if h["action"] == "reassigned"] == ["I am away", None]


# -- send back ---------------------------------------------------------------------------------

def test_send_back_returns_to_the_previous_step(app):
    process = copy.deepcopy(DISCOUNT)
    process["steps"][1].update(approvers=[{"type": "user", "user": "fiona"}], decision="first", on_reject="back")
    s = setup_story(app, process=process)
    rid = submitted(s)
    s.act("mike", rid, "approve")
    body = s.act("fiona", rid, "reject", {"comment": "ask the manager again"})
    request = body["request"]
    assert request["status"] == "pending" and request["step"]["name"] == "manager"
    assert [w["record_name"] for w in s.pending("mike")] == ["Deal"]
    assert s.record(rid)["status"] == "Pending"
    s.act("mike", rid, "approve", {"comment": "still fine"})
    body = s.act("fiona", rid, "approve")
    assert body["request"]["status"] == "approved" and s.record(rid)["status"] == "Approved"
    assert [st["status"] for st in body["request"]["steps"]] == ["approved", "back", "approved", "approved"]
    assert s.messages(rid)[5:9] == [
        "Rejected by 'fiona'.", f"Step '{DIRECTORS}' sent back to 'Manager'.",
        "Step 'Manager' started: approvers 'mike' (first answer decides).", "Approved by 'mike'."]


# -- delegation ---------------------------------------------------------------------------------

def test_delegate_decides_on_behalf(app):
    s = setup_story(app)
    r = s["mike"].patch("/api/v1/users/mike", json={"delegate": "bob"})
    assert r.status_code == 200 and r.get_json()["delegate"] == "bob"
    assert err(s["rep"].patch("/api/v1/users/mike", json={"delegate": "rep"}))[:2] == (403, "security.E033")
    assert err(s["mike"].patch("/api/v1/users/mike", json={"delegate": "bob", "role": None}))[:2] == (
        403, "security.E033")
    assert err(s["mike"].patch("/api/v1/users/mike", json={"delegate": "mike"})) == (
        422, "security.E018", "delegate: a user cannot be their own delegate")
    assert err(s["mike"].patch("/api/v1/users/mike", json={"delegate": "ghost"})) == (
        422, "security.E011", "delegate: unknown user 'ghost' (no active user has this username)")

    rid = submitted(s)
    [item] = s.pending("bob")
    assert (item["record_name"], item["on_behalf_of"], item["step"]) == ("Deal", "mike", "manager")
    # the delegate of a current approver may edit the locked record, as the approver may
    assert s["bob"].patch(f"/api/v1/records/quote/{rid}", json={"notes": "seen"}).status_code == 200
    body = s.act("bob", rid, "approve", {"comment": "for mike"})
    [first] = body["request"]["steps"][0]["approvers"]
    assert (first["user"], first["decided_by"], first["on_behalf_of"], first["comment"]) == (
        "mike", "bob", "mike", "for mike")
    assert "Approved by 'bob' on behalf of 'mike'." in s.messages(rid)
    hist = [h for h in s.approval(rid)["history"] if h["action"] == "approved"]
    assert (hist[0]["user"], hist[0]["on_behalf_of"]) == ("bob", "mike")

    # the delegation ends: bob sees and decides nothing of mike's any more; mike decides himself
    assert s["mike"].patch("/api/v1/users/mike", json={"delegate": None}).get_json()["delegate"] is None
    rid2 = submitted(s, "Second deal", 15)
    assert s.pending("bob") == []
    assert s.refused("bob", rid2, "approve")[:2] == (403, "workflow.E608")
    s.act("mike", rid2, "approve")
    assert s.record(rid2)["status"] == "Approved"
    # an admin may set anyone's delegate
    assert s.admin.patch("/api/v1/users/diana", json={"delegate": "dave"}).get_json()["delegate"] == "dave"


# -- decisions --------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, required, votes, outcome", [
    ("first", 1, [None, None], None),
    ("first", 1, [None, "approved"], "approved"),
    ("first", 1, ["rejected", None], "rejected"),
    ("unanimous", 3, ["approved", "approved", None], None),
    ("unanimous", 3, ["approved", "approved", "approved"], "approved"),
    ("unanimous", 3, ["approved", "rejected", None], "rejected"),
    ("quorum", 2, ["approved", None, None, None], None),
    ("quorum", 2, ["approved", "approved", None, None], "approved"),
    ("quorum", 2, ["rejected", "rejected", None, None], None),
    ("quorum", 2, ["rejected", "rejected", "rejected", None], "rejected"),
    ("percent", 2, ["approved", "rejected", None], None),
    ("percent", 2, ["approved", "rejected", "rejected"], "rejected"),
])
def test_step_outcome(rule, required, votes, outcome):
    assert step_outcome(rule, required, votes) == outcome


@pytest.mark.parametrize("decision, slots, required", [
    (Decision("first"), 5, 1), (Decision("unanimous"), 4, 4), (Decision("quorum", 2), 4, 2),
    (Decision("percent", 50), 4, 2), (Decision("percent", 50), 3, 2), (Decision("percent", 1), 3, 1),
    (Decision("percent", 100), 3, 3)])
def test_required_approvals(decision, slots, required):
    assert decision.required(slots) == required


def test_unanimous_and_percent_through_the_api(app):
    users = [{"type": "user", "user": u} for u in ("fiona", "frank", "gina")]
    process = one_step(users, decision="unanimous")
    process["steps"].append({"name": "half", "label": "Half", "approvers": users, "decision": {"percent": 50}})
    s = setup_story(app, process=process)
    rid = submitted(s)
    s.act("fiona", rid, "approve")
    s.act("frank", rid, "approve")
    assert s.approval(rid)["request"]["step"]["name"] == "check"      # all three must approve
    body = s.act("gina", rid, "approve")
    step = body["request"]["step"]
    assert (step["name"], step["decision"], step["required"]) == ("half", "percent", 2)
    s.act("gina", rid, "reject")
    s.act("frank", rid, "approve")
    assert s.approval(rid)["request"]["status"] == "pending"           # 1 of 2 approvals, one slot open
    assert s.act("fiona", rid, "reject")["request"]["status"] == "rejected"
    assert s.record(rid)["status"] == "Rejected"
    # one reject ends a unanimous step
    rid2 = submitted(s, "Other")
    s.act("fiona", rid2, "approve")
    assert s.act("gina", rid2, "reject")["request"]["status"] == "rejected"


# -- deadlines ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, status, message", [
    ("approve", "Approved", "Deadline of 2 hours passed: step 'Check' approved automatically."),
    ("reject", "Rejected", "Deadline of 2 hours passed: step 'Check' rejected automatically."),
    ("escalate", "Pending", "Deadline of 2 hours passed: nobody to escalate to (no active manager)."),
])
def test_deadlines(app, mode, status, message):
    process = one_step([{"type": "user", "user": "bob"}], deadline_hours=2, on_deadline=mode)
    process["on_approve"].append({"type": "send_email", "to": "submitter", "subject": "'Approved: ' & name",
                                  "body": "status"})
    s = setup_story(app, process=process)
    rid = submitted(s)
    now = _dt.datetime.now(_dt.timezone.utc)
    s.run_due(now + _dt.timedelta(hours=1))
    assert s.approval(rid)["request"]["status"] == "pending" and len(s.messages(rid)) == 2
    s.run_due(now + _dt.timedelta(hours=3))
    s.run_due(now + _dt.timedelta(hours=4))        # carried out once
    assert s.record(rid)["status"] == status
    assert [m for m in s.messages(rid) if m.startswith("Deadline")] == [message]
    mails = [(e["status"], a["result"]["mail"]["subject"], a["result"]["mail"]["body"], a["result"]["mail"]["to"])
             for e in s.admin.get(f"/api/v1/outbox?record_id={rid}").get_json()["entries"] for a in e["actions"]]
    # the mail goes out at the scheduler's clock, with the record as approved
    assert mails == ([("done", "Approved: Deal", "Approved", [{"user": "rep", "address": None}])]
                     if mode == "approve" else [])


# -- the lock -----------------------------------------------------------------------------------

def test_lock_modes_and_deletes(app):
    process = dict(one_step([{"type": "user", "user": "mike"}]), lock="locked", order=1,
                   entry_criteria="discount_percent >= 10")
    open_process = dict(one_step([{"type": "user", "user": "mike"}]), lock="none", name="open", order=2,
                        entry_criteria="discount_percent < 10")
    s = setup_story(app, process=process)
    assert s.admin.post("/api/v1/objects/quote/approval_processes", json=open_process).status_code == 201

    locked = submitted(s, "Locked", 30)
    message = ("Quote 'Locked' cannot be changed while its approval request ('Checking') is pending: only "
               "administrators may change it.")
    assert err(s["mike"].patch(f"/api/v1/records/quote/{locked}", json={"notes": "x"})) == (
        422, "workflow.E615", message)
    assert s.admin.patch(f"/api/v1/records/quote/{locked}", json={"notes": "x"}).status_code == 200

    free = submitted(s, "Free", 5)
    assert s.approval(free)["request"]["process"] == "open"
    assert s["rep"].patch(f"/api/v1/records/quote/{free}", json={"notes": "edited"}).status_code == 200
    # deleting a record with a pending request: refused by a lock, else the request is cancelled
    assert s["rep"].delete(f"/api/v1/records/quote/{free}").status_code == 204
    assert s.approval(free)["request"]["status"] == "cancelled"
    assert s.messages(free)[-1] == "Cancelled: the Quote was deleted."
    assert s.pending("mike") == [w for w in s.pending("mike") if w["record_id"] == locked]
    assert err(s["rep"].delete(f"/api/v1/records/quote/{locked}"))[:2] == (422, "workflow.E615")
    assert s.admin.delete(f"/api/v1/records/quote/{locked}").status_code == 204
    assert s.pending("mike") == []


# -- approver kinds --------------------------------------------------------------------------

def test_approver_kinds(app):
    process = one_step([{"type": "field", "field": "approver"}, {"type": "owner_manager"},
                        {"type": "manager", "levels": 2}, {"type": "field", "field": "owner_id"}],
                       decision="unanimous")
    s = setup_story(app, process=process, extra_quote_fields=[APPROVER_FIELD])
    q = s.quote("Kinds", 30)
    s["rep"].patch(f"/api/v1/records/quote/{q['id']}", json={"approver": "fiona"})
    body = s.act("rep", q["id"], "submit")
    assert [(a["user"], a["origin"]) for a in body["request"]["step"]["approvers"]] == [
        ("fiona", "field 'approver'"), ("mike", "manager of owner"), ("victor", "manager of submitter (2 levels up)"),
        ("rep", "field 'owner_id'")]


def _no_approver(step_label="Check", process_label="Checking"):
    return f"Step '{step_label}' of approval process '{process_label}' has no approver: "


@pytest.mark.parametrize("approvers, approver_value, code, message", [
    ([{"type": "manager", "levels": 3}], None, "workflow.E605",
     _no_approver() + "the submitter 'rep' has no active manager 3 levels up."),
    ([{"type": "role", "role": "auditor"}], None, "workflow.E605",
     _no_approver() + "nobody active has the role 'auditor'."),
    ([{"type": "field", "field": "approver"}], None, "workflow.E605", _no_approver() + "the field 'Approver' is blank."),
    ([{"type": "field", "field": "approver"}], "zed", "workflow.E605",
     _no_approver() + "the field 'Approver' does not name an active user ('zed')."),
    ([{"type": "user", "user": "frank"}], None, "workflow.E605", _no_approver() + "user 'frank' is not an active user."),
    ([{"type": "user", "user": "fiona"}, {"type": "user", "user": "frank"}, {"type": "user", "user": "fiona"}],
     "quorum", "workflow.E606",
     "Step 'Check' of approval process 'Checking' needs 3 approvals but has only 2 approvers."),
])
def test_submit_refused_when_a_step_has_no_approver(app, approvers, approver_value, code, message):
    decision = {"quorum": 3} if approver_value == "quorum" else "first"
    s = setup_story(app, process=one_step(approvers, decision=decision), extra_quote_fields=[APPROVER_FIELD])
    q = s.quote("Nobody", 30)
    if approver_value and approver_value != "quorum":
        s["rep"].patch(f"/api/v1/records/quote/{q['id']}", json={"approver": approver_value})
    if "frank" in str(approvers) and "fiona" not in str(approvers):
        assert s.admin.patch("/api/v1/users/frank", json={"active": False}).status_code == 200
    assert s.refused("rep", q["id"], "submit") == (422, code, message)
    # nothing was written: no request, the status update of on_submit rolled back
    assert s.approval(q["id"]) == {"request": None, "history": []}
    assert s.record(q["id"])["status"] == "Draft"


# -- other refusals -----------------------------------------------------------------------------

def test_operation_refusals(app):
    s = setup_story(app)
    q = s.quote("Plain", 30)
    rid = q["id"]
    assert s.refused("rep", rid, "approve") == (409, "workflow.E607", "Quote 'Plain' has no pending approval request.")
    assert s.refused("rep", rid, "submit", {"process": "discount"}) == (
        404, "workflow.E601", "Unknown approval process 'discount' on 'quote' (did you mean 'discount_approval'?).")
    assert s.refused("rep", rid, "submit", {"comment": 5}) == (
        400, "workflow.E625", "comment must be text of at most 4000 characters.")
    assert s.refused("olga", rid, "submit") == (404, "metadata.E041", "Unknown object 'quote'.")   # may not read
    assert s.refused("rep", "0000", "submit") == (404, "records.E070", "No Quote with id '0000'.")
    assert s.refused("admin", "0000", "approve") == (404, "records.E070", "No Quote with id '0000'.")
    assert err(s.admin.get("/api/v1/records/quote/0000/approval")) == (404, "records.E070", "No Quote with id '0000'.")
    assert err(s.admin.get("/api/v1/records/quot/0000/approval"))[:2] == (404, "metadata.E041")
    assert s["olga"].get(f"/api/v1/records/quote/{rid}/approval").status_code == 404
    assert s.admin.patch("/api/v1/objects/quote/approval_processes/discount_approval",
                         json={"active": False}).status_code == 200
    assert s.refused("rep", rid, "submit") == (
        422, "workflow.E600", "No approval process applies to Quote 'Plain': Quote has no active approval process.")
    assert s.refused("rep", rid, "submit", {"process": "discount_approval"}) == (
        422, "workflow.E602", "Approval process 'Discount approval' is not active.")
    assert s.admin.patch("/api/v1/objects/quote/approval_processes/discount_approval",
                         json={"active": True, "allow_recall": False}).status_code == 200
    small = s.quote("Small", 5)
    assert s.refused("rep", small["id"], "submit", {"process": "discount_approval"}) == (
        422, "workflow.E603", "Quote 'Small' does not meet the entry criteria of approval process 'Discount approval' "
                              "(discount_percent > 10).")
    s.act("rep", rid, "submit")
    assert s.refused("rep", rid, "recall") == (
        422, "workflow.E609", "Approval process 'Discount approval' does not allow recalling a request.")
    # an approver who may not read quotes still sees and decides the work item
    assert s.admin.patch("/api/v1/users/rep", json={"manager": "olga"}).status_code == 200
    rid3 = submitted(s, "Olga's", 15)
    assert [w["record_name"] for w in s.pending("olga")] == ["Olga's"]
    assert s.approval(rid3, "olga")["request"]["step"]["approvers"][0]["user"] == "olga"
    assert s.act("olga", rid3, "approve")["request"]["status"] == "approved"
    # submitting needs the right to edit the record
    assert s.admin.post("/api/v1/permission_sets", json={"api_name": "viewer", "objects": {
        "quote": {"read": True}}}).status_code in (200, 201)
    assert s.admin.post("/api/v1/users/olga/permission_sets", json={"permission_set": "viewer"}).status_code == 201
    assert s.refused("olga", s.quote("Viewed", 30)["id"], "submit") == (403, "security.E034", "You may not edit Quotes.")


# -- processes as documents ------------------------------------------------------------------------

P = "objects.quote.approval_processes[0]"


def bad(path, value):
    """DISCOUNT with ``value`` at ``path`` (a list of keys; None deletes)."""
    doc = copy.deepcopy(DISCOUNT)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


REFUSALS = [
    (bad(["steps"], None), f"{P}.steps: is required"),
    (bad(["lock"], "strict"), f"{P}.lock: must be one of \"none\", \"approvers_and_admins\", \"locked\" (got \"strict\")"),
    (bad(["entry_criteria"], "discont_percent > 10"),
     f"{P}.entry_criteria: Unknown field 'discont_percent' (line 1, column 1). Did you mean 'discount_percent'?"),
    (bad(["steps", 1, "criteria"], "name"),
     f"{P}.steps[1].criteria: The formula gives text, but a boolean (TRUE/FALSE) is needed (line 1, column 1)"),
    (bad(["steps", 1, "approvers", 1], {"type": "user", "user": "nobody"}),
     f"{P}.steps[1].approvers[1].user: unknown user 'nobody' (no active user has this username)"),
    (bad(["steps", 1, "approvers", 0], {"type": "role", "role": "sales_directr"}),
     f"{P}.steps[1].approvers[0].role: unknown role 'sales_directr' (did you mean 'sales_director'?) "
     "(known: auditor, sales_director)"),
    (bad(["steps", 1, "approvers", 0], {"type": "role"}), f"{P}.steps[1].approvers[0].role: is required"),
    (bad(["steps", 0, "approvers", 0], {"type": "manager", "role": "x"}),
     f"{P}.steps[0].approvers[0]: unknown key 'role' for a 'manager' approver (known: 'levels')"),
    (bad(["steps", 0, "approvers", 0], {"type": "boss"}),
     f"{P}.steps[0].approvers[0].type: must be one of \"field\", \"manager\", \"owner_manager\", \"role\", \"user\" "
     "(got \"boss\")"),
    (bad(["steps", 0, "approvers", 0], {"type": "field", "field": "discount_percent"}),
     f"{P}.steps[0].approvers[0].field: 'discount_percent' is a number field; an approver field must hold a user: "
     "owner_id, created_by, updated_by or a text field with a user id or username"),
    (bad(["steps", 0, "approvers", 0], {"type": "field", "field": "aprover"}),
     f"{P}.steps[0].approvers[0].field: unknown field 'aprover' on 'quote' (did you mean 'approver'?)"),
    (bad(["steps", 1, "decision"], "majority"),
     f"{P}.steps[1].decision: must be \"first\", \"unanimous\", {{\"quorum\": N}} or {{\"percent\": P}} "
     "(got 'majority')"),
    (bad(["steps", 1, "decision"], {"quorum": 0}),
     f"{P}.steps[1].decision: quorum must be a whole number of approvals between 1 and 100 (got 0)"),
    (bad(["steps", 0, "on_reject"], "back"),
     f"{P}.steps[0].on_reject: the first step cannot send a request back (no step comes before it); use \"reject\""),
    (bad(["steps", 1, "deadline_hours"], None),
     f"{P}.steps[1].on_deadline: needs deadline_hours (the hours after which it happens)"),
    (bad(["steps", 1, "name"], "manager"), f"{P}.steps[1].name: duplicate step name 'manager' (also steps[0])"),
    (bad(["on_approve", 0, "field"], "statu"),
     f"{P}.on_approve[0].field: unknown field 'statu' on 'quote' (did you mean 'status'?)"),
    (bad(["on_approve", 1, "to"], "user:ghost"),
     f"{P}.on_approve[1].to: unknown user 'ghost' (no active user has this username)"),
    (bad(["on_reject", 0, "value"], "discount_percent"),
     f"{P}.on_reject[0].value: The formula gives a number, but text is needed (line 1, column 1)"),
]


def test_process_documents(app):
    s = setup_story(app, extra_quote_fields=[APPROVER_FIELD])
    admin = s.admin
    url = "/api/v1/objects/quote/approval_processes"
    for doc, message in REFUSALS:
        doc = dict(doc, name="other")
        r = admin.post(url, json=doc)
        assert err(r) == (422, "metadata.E001", message.replace(P, "objects.quote.approval_processes[1]")), doc

    # a mail to the submitter is known in approval processes
    ok = dict(copy.deepcopy(DISCOUNT), name="other", active=False)
    ok["on_reject"].append({"type": "send_email", "to": "submitter", "subject": "'Rejected'", "body": "name"})
    assert admin.post(url, json=ok).status_code == 201
    assert err(admin.post(url, json=ok)) == (
        409, "workflow.E621", "There is already an approval process named 'other' on 'quote'.")
    assert err(s["rep"].post(url, json=dict(ok, name="third"))) == (
        403, "workflow.E702", "Only administrators may change approval processes.")
    assert [p["name"] for p in s["rep"].get(url).get_json()["approval_processes"]] == ["discount_approval", "other"]
    assert err(s["olga"].get(url)) == (404, "metadata.E041", "Unknown object 'quote'.")     # may not read quotes
    assert err(admin.get(f"{url}/othr")) == (
        404, "workflow.E601", "Unknown approval process 'othr' on 'quote' (did you mean 'other'?).")

    # versioned with the object
    version = admin.get("/api/v1/objects/quote").get_json()["version"]
    r = admin.patch(f"{url}/other", json={"label": "Other approval", "order": None})
    assert r.status_code == 200 and r.get_json()["label"] == "Other approval" and "order" not in r.get_json()
    assert admin.get("/api/v1/objects/quote").get_json()["version"] == version + 1
    assert err(admin.patch(f"{url}/other", json={"name": "renamed"})) == (
        400, "workflow.E701", "The name of approval process 'other' cannot change; create a new process and delete "
                              "this one.")
    assert err(admin.patch(f"{url}/other", json={"lock": "strict"}))[:2] == (422, "metadata.E001")

    # a field a process reads cannot be deleted; a process with pending requests cannot be deleted
    r = admin.delete("/api/v1/objects/quote/fields/discount_percent")
    assert r.status_code == 422 and "approval_processes[0].entry_criteria" in r.get_json()["error"]["message"]
    rid = submitted(s)
    assert err(admin.delete(f"{url}/discount_approval")) == (
        409, "workflow.E622", "Approval process 'Discount approval' has 1 pending request; they must be decided or "
                              "recalled before it can be deleted (or make it inactive).")
    s.act("rep", rid, "recall")
    assert admin.delete(f"{url}/discount_approval").status_code == 204
    assert [p["name"] for p in admin.get(url).get_json()["approval_processes"]] == ["other"]
    # the request keeps the process it was submitted to
    assert s.approval(rid)["request"]["process_label"] == "Discount approval"


def test_delegate_column_is_added_to_an_existing_database(db_url):
    from sqlalchemy import create_engine, inspect

    from engine.db import init_db, make_engine

    raw = create_engine(db_url)
    with raw.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE tessera_users (id VARCHAR(36) PRIMARY KEY, username VARCHAR(150) NOT NULL "
                             "UNIQUE, password_hash VARCHAR(255), is_admin BOOLEAN NOT NULL, active BOOLEAN NOT NULL, "
                             "locale VARCHAR(16) NOT NULL, manager_id VARCHAR(36), role VARCHAR(64), "
                             "created_at TIMESTAMP NOT NULL)")
    raw.dispose()
    engine = make_engine(db_url)
    try:
        init_db(engine)
        init_db(engine)          # idempotent
        assert "delegate_id" in {c["name"] for c in inspect(engine).get_columns("tessera_users")}
        assert "ix_tessera_users_delegate_id" in {i["name"] for i in inspect(engine).get_indexes("tessera_users")}
    finally:
        engine.dispose()


def test_refusals_of_the_process_at_run_time(app):
    process = copy.deepcopy(DISCOUNT)
    process["steps"][1]["criteria"] = "discount_percent > 25 && notes <> 'waived'"
    s = setup_story(app, process=process)
    url = "/api/v1/objects/quote/approval_processes/discount_approval"
    rid = submitted(s)
    # the process changes and the field its old step criteria read is deleted: the pending request
    # keeps the process as submitted, whose formula no longer compiles; an admin recalls it
    assert s.admin.patch(url, json={"steps": DISCOUNT["steps"]}).status_code == 200
    assert s.admin.delete("/api/v1/objects/quote/fields/notes").status_code in (200, 204)
    assert s.refused("mike", rid, "approve") == (
        422, "workflow.E616", f"The criteria of step '{DIRECTORS}' of approval process 'Discount approval' no longer "
                              "compiles: Unknown field 'notes' (line 1, column 26). An administrator must correct it.")
    assert s.approval(rid)["request"]["step"]["name"] == "manager"      # nothing changed
    assert s.act("admin", rid, "recall")["request"]["status"] == "recalled"
    # a field update the field refuses
    assert s.admin.patch(url, json={"on_submit": [{"type": "field_update", "field": "status",
                                                   "value": "'Waiting'"}]}).status_code == 200
    assert s.refused("rep", rid, "submit") == (
        422, "workflow.E617", "Quote 'Deal' was not saved: Status: Approval process 'Discount approval' set an "
                              "invalid value: Must be one of: Draft, Pending, Approved, Rejected.")
    assert s.approval(rid)["request"]["status"] == "recalled"
