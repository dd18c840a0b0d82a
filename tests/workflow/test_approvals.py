"""The discount approval story end to end through the API, on SQLite and PostgreSQL, in the
embedded mode and through a real ``tessera worker`` on Redis: a quote with more than 10 %
discount goes to the submitter's manager; above 25 % two of {every Sales Director, Fiona, Frank}
must approve too, with a 48-hour deadline that escalates to the approvers' managers; the quote is
locked while pending except for approvers and admins (through the API and the record service);
final approval sets Approved and mails the owner; rejection sets Rejected; the submitter may recall.

``setup_story`` and ``DISCOUNT`` are shared by the other ``test_approvals_*`` modules.
"""
from __future__ import annotations

import datetime as _dt
import uuid

import pytest

from engine.errors import WorkflowError
from engine.security.users import create_token, create_user
from tests.conftest import Api

from .conftest import make_app, wait_for

QUOTE = {"api_name": "quote", "label": "Quote", "plural_label": "Quotes", "fields": [
    {"api_name": "discount_percent", "label": "Discount", "type": "number", "scale": 0},
    {"api_name": "status", "label": "Status", "type": "picklist",
     "options": [{"value": "Draft"}, {"value": "Pending"}, {"value": "Approved"}, {"value": "Rejected"}]},
    {"api_name": "notes", "label": "Notes", "type": "text"},
]}

DISCOUNT = {
    "name": "discount_approval", "label": "Discount approval", "active": True, "order": 1,
    "entry_criteria": "discount_percent > 10", "allow_recall": True, "lock": "approvers_and_admins",
    "steps": [
        {"name": "manager", "label": "Manager", "approvers": [{"type": "manager", "levels": 1}], "decision": "first"},
        {"name": "directors", "label": "Directors and finance", "criteria": "discount_percent > 25",
         "approvers": [{"type": "role", "role": "sales_director"}, {"type": "user", "user": "fiona"},
                       {"type": "user", "user": "frank"}],
         "decision": {"quorum": 2}, "deadline_hours": 48, "on_deadline": "escalate", "on_reject": "reject"}],
    "on_submit": [{"type": "field_update", "field": "status", "value": "'Pending'"}],
    "on_approve": [{"type": "field_update", "field": "status", "value": "'Approved'"},
                   {"type": "send_email", "to": "owner", "subject": "'Approved: ' & name",
                    "body": "'Your discount on ' & name & ' was approved.'"}],
    "on_reject": [{"type": "field_update", "field": "status", "value": "'Rejected'"}],
    "on_recall": [{"type": "field_update", "field": "status", "value": "'Draft'"}],
}

# who reports to whom: rep -> mike -> victor; fiona, frank -> carla; dave -> victor
PEOPLE = [("victor", None, None), ("carla", None, None), ("mike", "victor", None), ("rep", "mike", None),
          ("diana", "victor", "sales_director"), ("dave", "victor", "sales_director"), ("fiona", "carla", None),
          ("frank", "carla", None), ("gina", "carla", None), ("bob", None, None), ("olga", None, None)]


class Story:
    """The apps' clients by username, the admin, and helpers over the API."""

    def __init__(self, app):
        self.app = app
        self.services = app.extensions["tessera"]
        self.clients = {}

    def __getitem__(self, username):
        if username not in self.clients:
            self.clients[username] = Api(self.app.test_client(), create_token(self.services.engine, username))
        return self.clients[username]

    @property
    def admin(self):
        return self["admin"]

    def quote(self, name, discount, owner="rep"):
        r = self[owner].post("/api/v1/records/quote", json={"name": name, "discount_percent": discount,
                                                            "status": "Draft"})
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def record(self, rid):
        return self.admin.get(f"/api/v1/records/quote/{rid}").get_json()

    def act(self, who, rid, what, body=None, status=200):
        r = self[who].post(f"/api/v1/records/quote/{rid}/approval/{what}", json=body or {})
        assert r.status_code == status, (who, what, r.get_json())
        return r.get_json()

    def refused(self, who, rid, what, body=None):
        r = self[who].post(f"/api/v1/records/quote/{rid}/approval/{what}", json=body or {})
        return r.status_code, r.get_json()["error"]["code"], r.get_json()["error"]["message"]

    def approval(self, rid, who="admin"):
        r = self[who].get(f"/api/v1/records/quote/{rid}/approval")
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def pending(self, who):
        return self[who].get("/api/v1/approvals/pending").get_json()["work_items"]

    def messages(self, rid):
        return [h["message"] for h in self.approval(rid)["history"]]

    def run_due(self, now):
        return self.services.extensions["workflow"].run_due(now)


def setup_story(app, process=DISCOUNT, extra_quote_fields=()):
    """Users, roles, managers, the quote object (public read/write) with ``process``."""
    story = Story(app)
    engine = story.services.engine
    create_user(engine, "admin", is_admin=True)     # no passwords: tokens only (hashing is slow on purpose)
    admin = story.admin
    for role in ("sales_director", "auditor"):      # nobody has the role auditor
        assert admin.post("/api/v1/roles", json={"api_name": role}).status_code == 201
    for username, _manager, _role in PEOPLE:
        create_user(engine, username)
    for username, manager, role in PEOPLE:
        r = admin.patch(f"/api/v1/users/{username}", json={"manager": manager, "role": role})
        assert r.status_code == 200, r.get_json()
    quote = dict(QUOTE, sharing="public_read_write", fields=QUOTE["fields"] + list(extra_quote_fields))
    assert admin.post("/api/v1/objects", json=quote).status_code == 201
    assert admin.post("/api/v1/permission_sets", json={"api_name": "sales", "objects": {
        "quote": {"read": True, "create": True, "edit": True, "delete": True}}}).status_code in (200, 201)
    for username, _manager, _role in PEOPLE:
        if username != "olga":    # olga may not see quotes at all
            r = admin.post(f"/api/v1/users/{username}/permission_sets", json={"permission_set": "sales"})
            assert r.status_code in (200, 201)
    r = admin.post("/api/v1/objects/quote/approval_processes", json=process)
    assert r.status_code == 201, r.get_json()
    return story


def _kept_mail(story, rid):
    out = []
    for entry in story.admin.get(f"/api/v1/outbox?record_id={rid}").get_json()["entries"]:
        for action in entry["actions"]:
            if action["type"] == "send_email" and action.get("result", {}).get("mail"):
                out.append((entry["origin"], entry["status"], action["result"]["mail"]))
    return out


def _story(app, wait):
    story = setup_story(app)
    s = story
    q = s.quote("Big deal", 30)
    rid = q["id"]

    # nothing pending yet; a quote below the entry criteria is refused with the reason
    assert s.approval(rid, "rep") == {"request": None, "history": []}
    small = s.quote("Small deal", 5)
    assert s.refused("rep", small["id"], "submit") == (
        422, "workflow.E600", "No approval process applies to Quote 'Small deal': 'Discount approval' needs "
                              "discount_percent > 10.")

    # the rep submits: status Pending (field update in the same transaction), step 1 with the rep's manager
    body = s.act("rep", rid, "submit", {"comment": "Strategic customer"})
    req = body["request"]
    assert (req["status"], req["process"], req["submitted_by"], req["lock"]) == (
        "pending", "discount_approval", "rep", "approvers_and_admins")
    assert req["step"]["name"] == "manager" and [a["user"] for a in req["step"]["approvers"]] == ["mike"]
    assert s.record(rid)["status"] == "Pending"
    assert s.refused("rep", rid, "submit") == (
        409, "workflow.E604", "Quote 'Big deal' already has a pending approval request ('Discount approval'); "
                              "wait for its decision or recall it.")

    # the lock: the owner may not edit (API and record service), the current approver and admins may
    locked = ("Quote 'Big deal' cannot be changed while its approval request ('Discount approval') is pending: "
              "only its current approvers and administrators may change it.")
    r = s["rep"].patch(f"/api/v1/records/quote/{rid}", json={"discount_percent": 40})
    assert (r.status_code, r.get_json()["error"]["code"], r.get_json()["error"]["message"]) == (
        422, "workflow.E615", locked)
    records = s.services.records()
    with pytest.raises(WorkflowError) as exc:
        records.update("quote", rid, {"discount_percent": 40}, s.services.actor("rep"))
    assert (exc.value.code, exc.value.message) == ("workflow.E615", locked)
    with pytest.raises(WorkflowError) as exc:      # a director is not a current approver yet
        records.update("quote", rid, {"notes": "x"}, s.services.actor("diana"))
    assert exc.value.code == "workflow.E615"
    r = s["rep"].delete(f"/api/v1/records/quote/{rid}")
    assert (r.status_code, r.get_json()["error"]["message"]) == (422, locked.replace("be changed", "be deleted"))
    assert s["mike"].patch(f"/api/v1/records/quote/{rid}", json={"notes": "checked"}).status_code == 200
    assert s.admin.patch(f"/api/v1/records/quote/{rid}", json={"notes": "ok"}).status_code == 200

    # only a current approver decides
    assert s.refused("diana", rid, "approve") == (
        403, "workflow.E608", "You are not an approver of step 'Manager' of the approval request of Quote "
                              "'Big deal', nor the delegate of one.")
    assert s.refused("olga", rid, "approve")[:2] == (404, "metadata.E041")     # may not see quotes at all
    assert [w["record_name"] for w in s.pending("mike")] == ["Big deal"]
    assert s.pending("fiona") == []

    # step 1: mike approves; step 2 (30 > 25) starts: every director, fiona and frank; two must approve
    body = s.act("mike", rid, "approve", {"comment": "fine by me"})
    step = body["request"]["step"]
    assert (step["name"], step["decision"], step["required"]) == ("directors", "quorum", 2)
    assert sorted(a["user"] for a in step["approvers"]) == ["dave", "diana", "fiona", "frank"]
    assert step["deadline_at"] is not None
    [item] = s.pending("fiona")
    assert (item["record_name"], item["step"], item["submitted_by"], item["on_behalf_of"]) == (
        "Big deal", "directors", "rep", None)
    assert s.pending("mike") == []
    s.act("diana", rid, "approve")
    assert s.approval(rid)["request"]["step"]["approvals"] == 1
    assert s.record(rid)["status"] == "Pending"

    # 49 hours later the scheduler escalates the open slots to the approvers' managers
    later = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(hours=49)
    s.run_due(later)
    step = s.approval(rid)["request"]["step"]
    assert sorted((a["user"], a["origin"]) for a in step["approvers"] if a["status"] == "pending") == [
        ("carla", "escalated: manager of 'fiona'"), ("carla", "escalated: manager of 'frank'"),
        ("dave", "role 'sales_director'"), ("fiona", "user 'fiona'"), ("frank", "user 'frank'"),
        ("victor", "escalated: manager of 'dave'")]
    s.run_due(later + _dt.timedelta(hours=1))      # once only
    assert len(s.approval(rid)["request"]["step"]["approvers"]) == 7

    # carla (escalated to) approves: two approvals, the request is approved
    body = s.act("carla", rid, "approve", {"comment": "approved for finance"})
    assert body["request"]["status"] == "approved" and body["request"]["step"] is None
    wait()
    quote = s.record(rid)
    assert quote["status"] == "Approved"
    [(origin, status, mail)] = _kept_mail(s, rid)
    assert (origin, status, mail["status"], mail["subject"], mail["body"]) == (
        "approval", "done", "kept", "Approved: Big deal", "Your discount on Big deal was approved.")
    assert mail["to"] == [{"user": "rep", "address": None}]
    assert s.pending("carla") == [] and s.pending("fiona") == []

    # the lock ends with the request
    assert s["rep"].patch(f"/api/v1/records/quote/{rid}", json={"notes": "signed"}).status_code == 200

    assert s.messages(rid) == [
        "Submitted by 'rep' to 'Discount approval'.",
        "Step 'Manager' started: approvers 'mike' (first answer decides).",
        "Approved by 'mike'.",
        "Step 'Manager' approved.",
        "Step 'Directors and finance' started: approvers 'dave', 'diana', 'fiona', 'frank' (2 approvals).",
        "Approved by 'diana'.",
        "Deadline of 48 hours passed: escalated from 'dave' to 'victor', 'fiona' to 'carla', 'frank' to 'carla'.",
        "Approved by 'carla'.",
        "Step 'Directors and finance' approved.",
        "Request approved."]
    hist = s.approval(rid, "rep")["history"]
    assert [(h["user"], h["comment"]) for h in hist if h["action"] in ("submitted", "approved")] == [
        ("rep", "Strategic customer"), ("mike", "fine by me"), ("diana", None), ("carla", "approved for finance")]

    # rejection: 20 % needs the manager only; mike rejects -> Rejected
    q2 = s.quote("Medium deal", 20)
    s.act("rep", q2["id"], "submit")
    body = s.act("mike", q2["id"], "reject", {"comment": "too generous"})
    assert body["request"]["status"] == "rejected"
    wait()
    assert s.record(q2["id"])["status"] == "Rejected"
    assert s.messages(q2["id"])[-3:] == ["Rejected by 'mike'.", "Step 'Manager' rejected.", "Request rejected."]

    # 15 %: step 2's criteria do not hold when it is reached, so it is skipped
    q3 = s.quote("Fair deal", 15)
    s.act("rep", q3["id"], "submit")
    s.act("mike", q3["id"], "approve")
    assert s.record(q3["id"])["status"] == "Approved"
    assert "Step 'Directors and finance' skipped: its criteria (discount_percent > 25) do not hold." in s.messages(q3["id"])

    # recall: only the submitter (or an admin); the record goes back to Draft and is unlocked
    q4 = s.quote("Recalled deal", 40)
    s.act("rep", q4["id"], "submit")
    assert s.refused("mike", q4["id"], "recall") == (
        403, "workflow.E610", "Only the submitter ('rep') or an administrator may recall this approval request.")
    body = s.act("rep", q4["id"], "recall", {"comment": "wrong discount"})
    assert body["request"]["status"] == "recalled"
    assert s.record(q4["id"])["status"] == "Draft"
    assert s.refused("rep", q4["id"], "recall") == (
        409, "workflow.E607", "Quote 'Recalled deal' has no pending approval request.")
    assert s.refused("mike", q4["id"], "approve")[:2] == (409, "workflow.E607")
    assert s.pending("mike") == []
    assert s["rep"].patch(f"/api/v1/records/quote/{q4['id']}", json={"discount_percent": 12}).status_code == 200
    # resubmitting starts a new request; the history keeps both
    s.act("rep", q4["id"], "submit")
    assert [h["action"] for h in s.approval(q4["id"])["history"]].count("submitted") == 2
    return story


def test_discount_story_embedded(db_url):
    app = make_app(db_url)
    try:
        _story(app, wait=lambda: None)
    finally:
        app.extensions["tessera"].dispose()


def test_discount_story_through_rq_worker(db_url, worker_factory):
    from .conftest import REDIS_URL

    queue = f"tq_{uuid.uuid4().hex[:8]}"
    app = make_app(db_url, redis_url=REDIS_URL, workflow_queue=queue)
    worker = worker_factory(db_url, queue).start()
    services = app.extensions["tessera"]

    def wait():
        wf = services.extensions["workflow"]
        wait_for(lambda: set(wf.outbox_counts()) <= {"done"}, timeout=30,
                 what="the worker to finish\n" + worker.output())

    try:
        _story(app, wait)
    finally:
        services.dispose()
