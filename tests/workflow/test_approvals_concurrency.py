"""Approvers answering at the same moment produce exactly one outcome, on SQLite and PostgreSQL:
threads released together by a barrier decide through the approval service (each its own
connection). The record row lock of the write every decision runs in (``SELECT … FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) orders them; the later ones see the earlier outcome."""
from __future__ import annotations

import threading

import pytest

from engine.errors import EngineError

from .conftest import make_app
from .test_approvals import setup_story

APPROVERS = ["diana", "fiona", "frank"]


def process(decision):
    return {"name": "sign_off", "label": "Sign-off", "allow_recall": True,
            "steps": [{"name": "board", "label": "Board", "decision": decision,
                       "approvers": [{"type": "user", "user": u} for u in APPROVERS]}],
            "on_approve": [{"type": "field_update", "field": "status", "value": "'Approved'"},
                           {"type": "send_email", "to": "owner", "subject": "'Approved: ' & name", "body": "name"}],
            "on_reject": [{"type": "field_update", "field": "status", "value": "'Rejected'"}]}


def race(calls):
    """Run ``calls`` (name, fn) at the same moment; ``{name: "ok" | error code}``."""
    barrier = threading.Barrier(len(calls))
    out = {}

    def run(name, fn):
        barrier.wait()
        try:
            fn()
            out[name] = "ok"
        except EngineError as exc:
            out[name] = exc.code

    threads = [threading.Thread(target=run, args=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


@pytest.fixture
def story(db_url):
    app = make_app(db_url)
    yield app
    app.extensions["tessera"].dispose()


def _history(story_, rid):
    return [h["action"] for h in story_.approval(rid)["history"]]


def _mails(story_, rid):
    return [e for e in story_.admin.get(f"/api/v1/outbox?record_id={rid}").get_json()["entries"]
            if e["origin"] == "approval"]


@pytest.mark.parametrize("decision", ["first", {"quorum": 2}])
def test_simultaneous_approvals_have_one_outcome(story, decision):
    s = setup_story(story, process=process(decision))
    approvals = s.services.extensions["approvals"]
    actors = {u: s.services.actor(u) for u in APPROVERS}
    for round_no in range(4):
        q = s.quote(f"Race {round_no}", 30)
        s.act("rep", q["id"], "submit")
        version = s.record(q["id"])["row_version"]
        out = race([(u, lambda u=u, rid=q["id"]: approvals.approve("quote", rid, actors[u]))
                                for u in APPROVERS])
        needed = 1 if decision == "first" else 2
        assert sorted(out.values()) == ["ok"] * needed + ["workflow.E607"] * (3 - needed), out
        actions = _history(s, q["id"])
        assert actions.count("approved") == needed and actions.count("request_approved") == 1
        assert actions[-2:] == ["step_approved", "request_approved"]
        record = s.record(q["id"])
        assert record["status"] == "Approved" and record["row_version"] == version + 1
        assert len(_mails(s, q["id"])) == 1


def test_approve_and_reject_at_once_have_one_outcome(story):
    s = setup_story(story, process=process("first"))
    approvals = s.services.extensions["approvals"]
    actors = {u: s.services.actor(u) for u in ("diana", "fiona", "rep")}
    for round_no in range(4):
        q = s.quote(f"Tug {round_no}", 30)
        s.act("rep", q["id"], "submit")
        rid = q["id"]
        out = race([
            ("diana", lambda rid=rid: approvals.approve("quote", rid, actors["diana"])),
            ("fiona", lambda rid=rid: approvals.reject("quote", rid, actors["fiona"])),
            ("rep", lambda rid=rid: approvals.recall("quote", rid, actors["rep"]))])
        assert sorted(out.values()) == ["ok", "workflow.E607", "workflow.E607"], out
        winner = next(k for k, v in out.items() if v == "ok")
        status = {"diana": "Approved", "fiona": "Rejected", "rep": "Draft"}[winner]
        request = s.approval(q["id"])["request"]
        assert request["status"] == {"diana": "approved", "fiona": "rejected", "rep": "recalled"}[winner]
        assert s.record(q["id"])["status"] == status
        actions = _history(s, q["id"])
        assert sum(actions.count(a) for a in ("request_approved", "request_rejected", "recalled")) == 1


def test_two_submits_at_once_start_one_request(story):
    s = setup_story(story, process=process("first"))
    approvals = s.services.extensions["approvals"]
    q = s.quote("Twice", 30)
    rep = s.services.actor("rep")
    out = race([(n, lambda: approvals.submit("quote", q["id"], rep)) for n in ("one", "two")])
    assert sorted(out.values()) == ["ok", "workflow.E604"]
    assert _history(s, q["id"]).count("submitted") == 1
