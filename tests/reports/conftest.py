"""A small sales org for the reports tests, built once per module and database.

Roles director > sales_manager > sales_rep; users admin, director, manager, rep1, rep2 (reps),
marketer. Opportunities are private (a rep sees their own, a manager their reps' too); accounts
are readable by everyone. The ``margin`` field of opportunities is hidden from the reps (and so is
``margin_x2``, a formula built on it). The data are seeded from a fixed random generator.
"""
from __future__ import annotations

import datetime as _dt
import random
from decimal import Decimal

import pytest

from engine.security.users import create_token, create_user
from tests.conftest import Api

ALL = {"read": True, "create": True, "edit": True, "delete": True}
STAGES = ["Prospecting", "Proposal", "Negotiation", "Won", "Lost"]
INDUSTRIES = ["Energy", "Tech", "Retail"]

ACCOUNT = {"api_name": "account", "label": "Account", "plural_label": "Accounts", "sharing": "public_read",
           "fields": [{"api_name": "industry", "label": "Industry", "type": "picklist",
                       "options": [{"value": v} for v in INDUSTRIES]},
                      {"api_name": "annual_revenue", "label": "Annual revenue", "type": "currency", "scale": 0}]}
OPPORTUNITY = {"api_name": "opportunity", "label": "Opportunity", "plural_label": "Opportunities", "sharing": "private",
               "fields": [{"api_name": "amount", "label": "Amount", "type": "currency", "scale": 2},
                          {"api_name": "probability", "label": "Probability", "type": "percent", "scale": 0},
                          {"api_name": "stage", "label": "Stage", "type": "picklist",
                           "options": [{"value": v} for v in STAGES]},
                          {"api_name": "close_date", "label": "Close date", "type": "date"},
                          {"api_name": "signed_at", "label": "Signed at", "type": "datetime"},
                          {"api_name": "is_closed", "label": "Closed", "type": "checkbox"},
                          {"api_name": "quantity", "label": "Quantity", "type": "integer"},
                          {"api_name": "notes", "label": "Notes", "type": "long_text"},
                          {"api_name": "tags", "label": "Tags", "type": "multi_picklist",
                           "options": [{"value": "a"}, {"value": "b"}]},
                          {"api_name": "margin", "label": "Margin", "type": "percent", "scale": 0},
                          {"api_name": "margin_x2", "label": "Double margin", "type": "formula",
                           "formula": "margin * 2"},
                          {"api_name": "weighted_amount", "label": "Weighted amount", "type": "formula",
                           "formula": "amount * probability / 100"},
                          {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]}


def ok(r, status=(200, 201)):
    status = (status,) if isinstance(status, int) else status
    assert r.status_code in status, (r.status_code, r.get_json())
    return r.get_json()


def seed_opportunities(rng, n, owners, accounts, start=_dt.date(2025, 1, 1)):
    rows = []
    for i in range(n):
        stage = rng.choice(STAGES)
        day = start + _dt.timedelta(days=rng.randint(0, 700))
        rows.append({
            "name": f"Opp {i:03d}", "owner_id": rng.choice(owners),
            "amount": rng.choice([None, 900, 5000, 9999.5, 12000, 45000, 99999, 100000, 250000.25]),
            "probability": rng.choice([None, 0, 10, 40, 70, 90, 100]), "stage": stage,
            "close_date": rng.choice([None, day.isoformat(), day.isoformat()]),
            "signed_at": rng.choice([None, f"{day.isoformat()}T{rng.randint(0, 23):02d}:30:00Z"]),
            "is_closed": stage in ("Won", "Lost"), "quantity": rng.choice([None, 1, 2, 3, 7]),
            "margin": rng.choice([None, 5, 10, 20, 35]), "account": rng.choice(accounts + [None])})
    return rows


def build_org(app):
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", "admin-password", is_admin=True)
    admin = Api(app.test_client(), create_token(services.engine, "admin"))
    for doc in (ACCOUNT, OPPORTUNITY):
        ok(admin.post("/api/v1/objects", json=doc))
    ok(admin.post("/api/v1/roles", json={"api_name": "director"}))
    ok(admin.post("/api/v1/roles", json={"api_name": "sales_manager", "parent": "director"}))
    ok(admin.post("/api/v1/roles", json={"api_name": "sales_rep", "parent": "sales_manager"}))
    ok(admin.post("/api/v1/permission_sets", json={"api_name": "sales", "objects": {
        "account": ALL, "opportunity": ALL}}))
    ok(admin.post("/api/v1/permission_sets", json={"api_name": "sales_rep", "objects": {
        "account": ALL, "opportunity": ALL}, "fields": {"opportunity": {"margin": "hidden"}}}))
    ok(admin.post("/api/v1/permission_sets", json={"api_name": "marketing", "objects": {
        "account": ALL, "opportunity": {"read": True, "view_all": True}}}))
    clients, ids = {"admin": admin}, {}
    for name, role, pset in (("director", "director", "sales"), ("manager", "sales_manager", "sales"),
                             ("rep1", "sales_rep", "sales_rep"), ("rep2", "sales_rep", "sales_rep"),
                             ("marketer", None, "marketing")):
        create_user(services.engine, name, "password-123")
        if role:
            ok(admin.patch(f"/api/v1/users/{name}", json={"role": role}))
        ok(admin.post(f"/api/v1/users/{name}/permission_sets", json={"permission_set": pset}))
        clients[name] = Api(app.test_client(), create_token(services.engine, name))
    ids = {u["username"]: u["id"] for u in ok(admin.get("/api/v1/users"))["users"]}
    rng = random.Random(20261126)
    accounts = [ok(admin.post("/api/v1/records/account", json={
        "name": f"Account {i}", "industry": rng.choice(INDUSTRIES + [None]),
        "annual_revenue": rng.choice([None, 1000000, 5000000])}))["id"] for i in range(8)]
    owners = [ids[u] for u in ("rep1", "rep2", "manager", "admin")]
    rows = seed_opportunities(rng, 90, owners, accounts)
    ok(admin.post("/api/v1/records/opportunity", json=rows))
    return {"app": app, "services": services, "clients": clients, "ids": ids, "accounts": accounts}


@pytest.fixture(scope="module")
def org(module_app):
    return build_org(module_app)


def list_all(client, obj, **query):
    """Every record ``client`` may list (the list API, page by page)."""
    out, cursor = [], None
    while True:
        q = dict(query, limit=200)
        if cursor:
            q["cursor"] = cursor
        page = ok(client.get(f"/api/v1/records/{obj}", query_string=q))
        out += page["records"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def num(v):
    return None if v is None else Decimal(str(v))


def close(a, b, places=9):
    """Numbers equal to ``places`` decimals (SQLite computes in floats); other values equal."""
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(Decimal(str(a)) - Decimal(str(b))) < Decimal(10) ** -places * max(1, abs(Decimal(str(b))))
    return a == b
