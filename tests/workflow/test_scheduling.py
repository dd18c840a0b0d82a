"""Time-based and scheduled rules, carried out by ``run_due(now)`` at chosen times: planned from
the date field plus the offset, moved when the date moves, cancelled when the condition stops
holding, re-planned when the rule changes, run once; cron schedules select records with the
condition and run once per slot."""
from __future__ import annotations

import datetime as _dt

from croniter import croniter

from engine.security.users import create_token, create_user
from tests.conftest import Api

from .conftest import CASE, TASK, make_app

UTC = _dt.timezone.utc


def _api(db_url):
    app = make_app(db_url)
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", is_admin=True)
    api = Api(app.test_client(), create_token(services.engine, "admin"))
    for doc in (CASE, TASK):
        assert api.post("/api/v1/objects", json=doc).status_code == 201
    return api, services, services.extensions["workflow"]


def _midnight(days):
    today = _dt.datetime.now(UTC).date() + _dt.timedelta(days=days)
    return _dt.datetime(today.year, today.month, today.day, tzinfo=UTC)


def test_time_based_rule(db_url, receiver):
    api, services, wf = _api(db_url)
    try:
        rule = {"name": "before_close", "trigger": {"time": {"field": "close_date", "offset_hours": -72}},
                "condition": "status = 'Open'",
                "actions": [{"type": "webhook", "url": receiver.url, "secret_ref": "case_hook"}]}
        assert api.post("/api/v1/objects/support_case/automation_rules", json=rule).status_code == 201

        def case(name, days, status="Open", **extra):
            close = (_dt.datetime.now(UTC).date() + _dt.timedelta(days=days)).isoformat() if days is not None else None
            r = api.post("/api/v1/records/support_case", json={"name": name, "close_date": close, "status": status,
                                                               **extra})
            assert r.status_code == 201, r.get_json()
            return r.get_json()

        a = case("A", 10)                  # due 7 days from today, 00:00 UTC
        case("B", None)                    # no date: nothing planned
        case("C", 10, status="Closed")     # the condition does not hold: nothing planned
        d = case("D", 10)
        e = case("E", 10)
        due = _midnight(10) - _dt.timedelta(hours=72)

        def fired():
            return sorted(body["record"]["name"] for body in receiver.effects.values())

        assert wf.run_due(due - _dt.timedelta(minutes=1))["time"] == 0
        # the date moves: the plan moves; the condition stops holding: the plan is cancelled
        assert api.patch(f"/api/v1/records/support_case/{d['id']}", json={"close_date": (
            _dt.datetime.now(UTC).date() + _dt.timedelta(days=20)).isoformat()}).status_code == 200
        assert api.patch(f"/api/v1/records/support_case/{e['id']}", json={"status": "Closed"}).status_code == 200
        assert wf.run_due(due + _dt.timedelta(minutes=1))["time"] == 1
        assert fired() == ["A"]
        assert wf.run_due(due + _dt.timedelta(minutes=2))["time"] == 0          # once
        # an edit that does not move the date does not run it again
        assert api.patch(f"/api/v1/records/support_case/{a['id']}", json={"subject_line": "x"}).status_code == 200
        assert wf.run_due(due + _dt.timedelta(minutes=3))["time"] == 0
        runs = api.get(f"/api/v1/records/support_case/{a['id']}/runs").get_json()["runs"]
        assert [r["message"][:40] for r in runs] == ["Rule 'before_close' fired (time).", "Delivered to 127.0.0.1 (HTTP 200)."]

        # the rule changes: its plan is rebuilt over every record (only High cases now)
        f = case("F", 20, priority="High")
        assert api.patch("/api/v1/objects/support_case/automation_rules/before_close", json={
            "condition": "status = 'Open' && priority = 'High'"}).status_code == 200
        later = _midnight(20) - _dt.timedelta(hours=72)
        summary = wf.run_due(later + _dt.timedelta(minutes=1))
        assert summary["replanned"] == 1 and summary["time"] == 1
        assert fired() == ["A", "F"]                                             # D (not High) was cancelled
        # a record deleted before its time does not fire
        g = case("G", 30, priority="High")
        assert api.delete(f"/api/v1/records/support_case/{g['id']}").status_code == 204
        assert wf.run_due(_midnight(30))["time"] == 0
        assert f["id"] != g["id"]
    finally:
        services.dispose()


def test_cron_schedule(db_url):
    api, services, wf = _api(db_url)
    try:
        for name, status in (("Open one", "Open"), ("Open two", "Open"), ("Closed", "Closed")):
            api.post("/api/v1/records/support_case", json={"name": name, "status": status})
        rule = {"name": "monday_flag", "trigger": {"schedule": "0 8 * * 1"}, "condition": "status = 'Open'",
                "actions": [{"type": "field_update", "field": "escalated", "value": "TRUE"}]}
        assert api.post("/api/v1/objects/support_case/automation_rules", json=rule).status_code == 201
        monday = croniter("0 8 * * 1", _dt.datetime.now(UTC)).get_next(_dt.datetime)

        def escalated():
            records = api.get("/api/v1/records/support_case?order_by=name").get_json()["records"]
            return [r["name"] for r in records if r["escalated"]]

        assert wf.run_due(monday - _dt.timedelta(minutes=1))["schedule"] == 0
        assert escalated() == []
        assert wf.run_due(monday + _dt.timedelta(seconds=30))["schedule"] == 2
        assert escalated() == ["Open one", "Open two"]
        assert wf.run_due(monday + _dt.timedelta(minutes=5))["schedule"] == 0   # once per slot
        # a scheduler that was down for two weeks runs the missed schedule once, not once per slot
        assert wf.run_due(monday + _dt.timedelta(days=14, hours=1))["schedule"] == 2
        entries = api.get("/api/v1/outbox?status=done").get_json()["entries"]
        assert len(entries) == 4 and {e["event"] for e in entries} == {"schedule"}
    finally:
        services.dispose()
