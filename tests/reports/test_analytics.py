"""Analytics against Python over the list API's records: RFM quintiles (NTILE) and labels, the
refresh from the CLI and from the workflow scheduler's tick; forecast per owner, team and quarter
with quota attainment; trends against the previous period and the year before."""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

import pytest
from click.testing import CliRunner

from engine.reports.analytics.rfm import label_of

from .conftest import close, list_all, ok
from .reference import period

TODAY = _dt.date(2026, 6, 30)
MODEL = {"name": "customer_value", "label": "Customer value", "object": "account",
         "source": {"object": "opportunity", "link": "account", "date": "close_date", "amount": "amount",
                    "filter": "stage = 'Won' || stage = 'Negotiation'"},
         "window_days": 540}


def ntile(items, key):
    """{id: tile} as SQL's NTILE(5) OVER (ORDER BY key, id)."""
    ordered = sorted(items, key=lambda it: (key(it), it["id"]))
    n, out, i = len(ordered), {}, 0
    for tile in range(1, 6):
        size = n // 5 + (1 if tile <= n % 5 else 0)
        for it in ordered[i:i + size]:
            out[it["id"]] = tile
        i += size
    return out


def expected_rfm(records, today):
    since = today - _dt.timedelta(days=MODEL["window_days"] - 1)
    per = {}
    for r in records:
        if r["stage"] not in ("Won", "Negotiation") or not r["close_date"] or not r["account"]:
            continue
        d = _dt.date.fromisoformat(r["close_date"])
        if not since <= d <= today:
            continue
        e = per.setdefault(r["account"], {"id": r["account"], "last": d, "freq": 0, "mon": None})
        e["last"] = max(e["last"], d)
        e["freq"] += 1
        if r["amount"] is not None:
            e["mon"] = (e["mon"] or 0) + Decimal(str(r["amount"]))
    items = list(per.values())
    rs, fs = ntile(items, lambda e: e["last"]), ntile(items, lambda e: e["freq"])
    ms = ntile(items, lambda e: e["mon"] or 0)
    return {e["id"]: {"r": rs[e["id"]], "f": fs[e["id"]], "m": ms[e["id"]], "frequency": e["freq"],
                      "recency_days": (today - e["last"]).days, "last_date": e["last"].isoformat(),
                      "label": label_of(rs[e["id"]], fs[e["id"]], ms[e["id"]])} for e in items}


@pytest.fixture(scope="module")
def rfm(org):
    ok(org["clients"]["admin"].post("/api/v1/analytics/rfm_models", json=MODEL), 201)
    return org["services"].extensions["reports"].analytics.rfm


def test_rfm_scores_match_python_ntile(org, rfm):
    admin = org["clients"]["admin"]
    assert rfm.refresh("customer_value", today=TODAY) == {"customer_value": len(expected_rfm(
        list_all(admin, "opportunity"), TODAY))}
    expected = expected_rfm(list_all(admin, "opportunity"), TODAY)
    assert len(expected) >= 5
    got = {s["record_id"]: s for s in ok(admin.get("/api/v1/analytics/rfm_models/customer_value/scores"))["scores"]}
    assert set(got) == set(expected)
    for rid, want in expected.items():
        for key, value in want.items():
            assert got[rid][key] == value, (rid, key)
        assert got[rid]["score"] == f"{want['r']}{want['f']}{want['m']}"
    # a label filter and one account's scores (the account page)
    label = next(iter(expected.values()))["label"]
    some = ok(admin.get("/api/v1/analytics/rfm_models/customer_value/scores", query_string={"label": label}))
    assert {s["record_id"] for s in some["scores"]} == {k for k, v in expected.items() if v["label"] == label}
    rid = next(iter(expected))
    one = ok(org["clients"]["rep1"].get(f"/api/v1/analytics/rfm_models/customer_value/scores?record_id={rid}"))
    assert [s["r"] for s in one["scores"]] == [expected[rid]["r"]]


def test_rfm_refresh_from_the_cli_and_the_scheduler(org, rfm, module_db_url, monkeypatch):
    monkeypatch.setenv("TESSERA_DATABASE_URL", module_db_url)
    from engine.cli import main

    result = CliRunner().invoke(main, ["analytics", "refresh", "--model", "customer_value"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("customer_value: ") and "record(s) scored" in result.output
    bad = CliRunner().invoke(main, ["analytics", "refresh", "--model", "nope"])
    assert bad.exit_code == 1 and "Unknown RFM model 'nope'." in bad.output
    first = rfm.last_refresh("customer_value")["at"]
    workflow = org["services"].extensions["workflow"]
    workflow.run_due(_dt.datetime.fromisoformat(first) + _dt.timedelta(hours=1))
    assert rfm.last_refresh("customer_value")["at"] == first          # not yet due (every 24 hours)
    later = _dt.datetime.fromisoformat(first) + _dt.timedelta(hours=25)
    workflow.run_due(later)
    assert rfm.last_refresh("customer_value")["at"] == later.isoformat()


def test_rfm_model_is_checked_and_admin_only(org):
    admin, rep = org["clients"]["admin"], org["clients"]["rep1"]
    bad = dict(MODEL, name="bad", source={"object": "opportunity", "link": "stage", "date": "amount",
                                           "filter": "stage ="})
    err = ok(admin.post("/api/v1/analytics/rfm_models", json=bad), 422)["error"]
    assert sorted(err["fields"]) == ["source.date", "source.filter", "source.link"]
    assert err["fields"]["source.link"] == ["'stage' is not a lookup of 'opportunity'"]
    assert ok(rep.post("/api/v1/analytics/rfm_models", json=dict(MODEL, name="mine")), 403)["error"] == {
        "code": "reports.E080", "message": "Only administrators may create RFM models.", "fields": {}}
    assert ok(rep.post("/api/v1/analytics/rfm_models/customer_value/refresh"), 403)["error"]["code"] == "reports.E080"


def _category(p):
    if p is None:
        return None
    return "closed" if p >= 100 else "commit" if p >= 70 else "best_case" if p >= 40 else \
        "pipeline" if p > 0 else None


def test_forecast_per_owner_team_and_quarter_with_quota(org):
    admin = org["clients"]["admin"]
    ids = org["ids"]
    ok(admin.post("/api/v1/objects", json={"api_name": "quota", "label": "Quota", "fields": [
        {"api_name": "amount", "type": "currency"}, {"api_name": "period_start", "type": "date"}]}), 201)
    ok(admin.post("/api/v1/records/quota", json={"name": "Q", "owner_id": ids["rep1"], "amount": 50000,
                                                 "period_start": "2025-04-01"}))
    out = ok(admin.get("/api/v1/analytics/forecast?from=2025-01-01&to=2025-12-31&period=quarter"))
    assert out["periods"] == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] and out["quota"] is True
    expected = {}
    for r in list_all(admin, "opportunity"):
        cat = _category(r["probability"])
        if cat is None or not r["close_date"] or not r["close_date"].startswith("2025"):
            continue
        cell = expected.setdefault((r["owner_id"], period(r["close_date"], "quarter")),
                                   {"pipeline": 0, "best_case": 0, "commit": 0, "closed": 0, "weighted": 0, "count": 0})
        amount = Decimal(str(r["amount"] or 0))
        cell[cat] += amount
        cell["weighted"] += amount * r["probability"] / 100
        cell["count"] += 1
    got = {(row["owner_id"], row["period"]): row for row in out["owners"]}
    assert set(expected) <= set(got)
    for key, want in expected.items():
        for name, value in want.items():
            assert close(got[key][name], value), (key, name)
        row = got[key]
        assert close(row["best_case_total"], want["closed"] + want["commit"] + want["best_case"])
    q2 = got[(ids["rep1"], "2025-Q2")]
    assert q2["quota"] == 50000
    assert close(q2["attainment"], (Decimal(str(q2["closed"])) / 50000 * 100).quantize(Decimal("0.1")))
    team = {(t["role"], t["period"]): t for t in out["teams"]}
    members = {ids["rep1"], ids["rep2"], ids["manager"]}
    for quarter in out["periods"]:
        want = sum((v["closed"] for (o, p), v in expected.items() if p == quarter and o in members), Decimal(0))
        if ("sales_manager", quarter) in team:
            assert close(team[("sales_manager", quarter)]["closed"], want)
    # a team (role subtree) only; a rep sees their own deals only
    reps = ok(admin.get("/api/v1/analytics/forecast?from=2025-01-01&to=2025-12-31&role=sales_rep"))
    assert {row["owner_id"] for row in reps["owners"]} <= {ids["rep1"], ids["rep2"]}
    mine = ok(org["clients"]["rep1"].get("/api/v1/analytics/forecast?from=2025-01-01&to=2025-12-31"))
    assert {row["owner_id"] for row in mine["owners"]} == {ids["rep1"]}


def test_trend_against_previous_period_and_last_year(org):
    admin = org["clients"]["admin"]
    out = ok(admin.get("/api/v1/analytics/trend", query_string={
        "object": "opportunity", "date": "close_date", "fn": "sum", "field": "amount", "granularity": "month",
        "filter": "stage = 'Won'", "from": "2026-01-01", "to": "2026-06-30"}))
    sums = {}
    for r in list_all(admin, "opportunity", where="stage = 'Won'"):
        if r["close_date"] and r["amount"] is not None:
            key = period(r["close_date"], "month")
            sums[key] = sums.get(key, Decimal(0)) + Decimal(str(r["amount"]))
    assert [p["period"] for p in out["periods"]] == [f"2026-{m:02d}" for m in range(1, 7)]
    for p in out["periods"]:
        month = int(p["period"][5:])
        prev = f"2025-12" if month == 1 else f"2026-{month - 1:02d}"
        assert close(p["value"], sums.get(p["period"], 0))
        assert close(p["previous"], sums.get(prev, 0))
        assert close(p["last_year"], sums.get(f"2025-{month:02d}", 0))
        assert close(p["change"], sums.get(p["period"], 0) - sums.get(prev, 0))
    err = ok(admin.get("/api/v1/analytics/trend?object=opportunity&date=stage"), 422)["error"]
    assert err["message"] == "date: 'stage' is not a date or a date/time"
