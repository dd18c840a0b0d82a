"""A non-admin learns nothing about a record, field or object they may not read (issue 8).

Every request below is sent by the rep to three organisations (``tests/security/worlds.py``): ``A``
with secrets, ``B`` with other secrets, ``C`` without them. The answers — status, content type,
body, error code and message, counts, documents — must be the same in all three, on SQLite and
PostgreSQL: a record they may not see answers as one that does not exist, a hidden field as a
field that does not exist, an object they may not read as an object that does not exist.
"""
from __future__ import annotations

import pytest

from tests.security.worlds import SECRETS, answer, worlds_on

# (method, url template, query, body). Templates name records by symbol (worlds.build_world).
PROBES = [
    # metadata: objects, fields, lists, history, the OpenAPI document
    ("GET", "/api/v1/objects", None, None),
    ("GET", "/api/v1/objects/deal", None, None),
    ("GET", "/api/v1/objects/account", None, None),
    ("GET", "/api/v1/objects/vault", None, None),
    ("GET", "/api/v1/objects/vaults", None, None),          # a did-you-mean must not name 'vault'
    ("GET", "/api/v1/objects/nothing", None, None),
    ("GET", "/api/v1/objects/deal/history", None, None),
    ("GET", "/api/v1/objects/account/history", None, None),
    ("GET", "/api/v1/objects/vault/history", None, None),
    ("GET", "/api/v1/objects/deal/fields/cost_basis", None, None),
    ("GET", "/api/v1/objects/deal/fields/cost_basi", None, None),
    ("GET", "/api/v1/objects/deal/fields/vault_ref", None, None),
    ("GET", "/api/v1/objects/deal/fields/margin_calc", None, None),
    ("GET", "/api/v1/objects/deal/fields/stage", None, None),
    ("GET", "/api/v1/objects/account/fields/vault_count", None, None),
    ("GET", "/api/v1/objects/vault/fields/secret_code", None, None),
    ("GET", "/api/v1/objects/deal/layouts", None, None),
    ("GET", "/api/v1/objects/deal/list_views", None, None),
    ("GET", "/api/v1/objects/deal/validation_rules", None, None),
    ("GET", "/api/v1/objects/account/layouts", None, None),
    ("GET", "/api/v1/objects/vault/layouts", None, None),
    ("GET", "/api/v1/objects/vault/list_views", None, None),
    ("GET", "/api/v1/objects/vault/approval_processes", None, None),
    ("GET", "/api/v1/objects/vaults/approval_processes", None, None),
    ("GET", "/api/v1/objects/deal/approval_processes", None, None),
    ("GET", "/api/v1/objects/vault/approval_processes/p", None, None),
    ("GET", "/api/v1/objects/vault/automation_rules", None, None),
    ("GET", "/api/v1/openapi.json", None, None),
    ("GET", "/api/v1/field_types", None, None),
    # the formula editor's check
    ("POST", "/api/v1/formula/check", None, {"object": "vault", "formula": "1"}),
    ("POST", "/api/v1/formula/check", None, {"object": "vaults", "formula": "1"}),
    ("POST", "/api/v1/formula/check", None, {"object": "deal", "formula": "cost_basis > 1"}),
    ("POST", "/api/v1/formula/check", None, {"object": "deal", "formula": "cost_basi > 1"}),
    ("POST", "/api/v1/formula/check", None, {"object": "deal", "formula": "margin_calc"}),
    ("POST", "/api/v1/formula/check", None, {"object": "deal", "formula": "vault_ref.secret_code"}),
    ("POST", "/api/v1/formula/check", None, {"object": "deal", "formula": "vault_re"}),
    ("POST", "/api/v1/formula/check", None, {"object": "deal", "formula": "account.vault_count"}),
    ("POST", "/api/v1/formula/check", None, {"object": "account", "formula": "vault_count + 1"}),
    ("POST", "/api/v1/formula/check", None, {"object": "deal", "formula": "account.name & stage"}),
    # lists, counts, cursors, exports
    ("GET", "/api/v1/records/deal", {"with_total": "true"}, None),
    ("GET", "/api/v1/records/deal", {"with_total": "true", "limit": "1"}, None),
    ("GET", "/api/v1/records/deal", {"with_total": "true", "order_by": "-quantity"}, None),
    ("GET", "/api/v1/records/deal", {"with_total": "true", "where": "quantity >= 0 || ISBLANK(quantity)"}, None),
    ("GET", "/api/v1/records/deal", {"with_total": "true", "where": "account.industry = 'Energy'"}, None),
    ("GET", "/api/v1/records/deal", {"where": "cost_basis > 1"}, None),
    ("GET", "/api/v1/records/deal", {"where": "vault_ref.secret_code = 'x'"}, None),
    ("GET", "/api/v1/records/deal", {"where": "margin_calc > 1"}, None),
    ("GET", "/api/v1/records/deal", {"where": "account.vault_count > 0"}, None),
    ("GET", "/api/v1/records/deal", {"where": "cost_basi > 1"}, None),
    ("GET", "/api/v1/records/deal", {"order_by": "cost_basis"}, None),
    ("GET", "/api/v1/records/deal", {"order_by": "-margin_calc"}, None),
    ("GET", "/api/v1/records/deal", {"fields": "name,cost_basis"}, None),
    ("GET", "/api/v1/records/deal", {"fields": "name,vault_ref"}, None),
    ("GET", "/api/v1/records/deal", {"cost_basis__gt": "1"}, None),
    ("GET", "/api/v1/records/deal", {"vault_ref": "{vault_record}"}, None),
    ("GET", "/api/v1/records/deal", {"vault_ref__isnull": "true"}, None),
    ("GET", "/api/v1/records/deal", {"id": "{invisible_deal}", "with_total": "true"}, None),
    ("GET", "/api/v1/records/deal", {"owner_id": "{peer}", "with_total": "true"}, None),
    ("GET", "/api/v1/records/account", {"with_total": "true", "fields": "name,vault_count"}, None),
    ("GET", "/api/v1/records/account", {"with_total": "true"}, None),
    ("GET", "/api/v1/records/vault", None, None),
    ("GET", "/api/v1/records/vaults", None, None),
    ("GET", "/api/v1/records/vault", {"with_total": "true"}, None),
    ("GET", "/api/v1/records/deal/export", None, None),
    ("GET", "/api/v1/records/deal/export", {"fields": "name,cost_basis"}, None),
    ("GET", "/api/v1/records/deal/export", {"where": "name = 'PEER-SECRET 0'"}, None),
    ("GET", "/api/v1/records/vault/export", None, None),
    ("GET", "/api/v1/records/account/export", None, None),
    # single records
    ("GET", "/api/v1/records/deal/{d1}", None, None),
    ("GET", "/api/v1/records/deal/{d3}", None, None),
    ("GET", "/api/v1/records/deal/{d1}", {"fields": "cost_basis"}, None),
    ("GET", "/api/v1/records/deal/{invisible_deal}", None, None),
    ("GET", "/api/v1/records/deal/{admin_deal}", None, None),
    ("GET", "/api/v1/records/deal/{missing}", None, None),
    ("GET", "/api/v1/records/deal/{invisible_deal}", {"include_deleted": "true"}, None),
    ("GET", "/api/v1/records/vault/{vault_record}", None, None),
    ("GET", "/api/v1/records/vault/{missing}", None, None),
    ("GET", "/api/v1/records/account/{acme}", None, None),
    # around a record: history, shares, approvals, automation runs
    ("GET", "/api/v1/records/deal/{d1}/history", None, None),
    ("GET", "/api/v1/records/deal/{d1}/history", {"field": "cost_basis"}, None),
    ("GET", "/api/v1/records/deal/{invisible_deal}/history", None, None),
    ("GET", "/api/v1/records/vault/{vault_record}/history", None, None),
    ("GET", "/api/v1/records/deal/{d1}/shares", None, None),
    ("GET", "/api/v1/records/deal/{invisible_deal}/shares", None, None),
    ("GET", "/api/v1/records/deal/{admin_deal}/shares", None, None),
    ("GET", "/api/v1/records/vault/{vault_record}/shares", None, None),
    ("POST", "/api/v1/records/deal/{invisible_deal}/shares", None, {"user": "rep", "access": "read"}),
    ("POST", "/api/v1/records/vault/{vault_record}/shares", None, {"user": "rep", "access": "read"}),
    ("DELETE", "/api/v1/records/deal/{admin_deal}/shares/peer", None, None),
    ("GET", "/api/v1/records/deal/{invisible_deal}/approval", None, None),
    ("GET", "/api/v1/records/vault/{vault_record}/approval", None, None),
    ("POST", "/api/v1/records/deal/{invisible_deal}/approval/submit", None, {}),
    ("POST", "/api/v1/records/vault/{vault_record}/approval/submit", None, {}),
    ("POST", "/api/v1/records/vaults/{vault_record}/approval/submit", None, {}),
    ("POST", "/api/v1/records/vault/{vault_record}/approval/approve", None, {}),
    ("GET", "/api/v1/records/deal/{invisible_deal}/runs", None, None),
    ("GET", "/api/v1/records/vault/{vault_record}/runs", None, None),
    ("GET", "/api/v1/approvals/pending", None, None),
    # reports and analytics over an object the rep may not read, or fields they may not see
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "vault"}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "vaults"}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "deal", "filter": "cost_basis > 1"}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "deal", "group_by": [{"field": "stage"}]}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "deal", "columns": ["name", "cost_basis"]}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "deal",
                                           "aggregates": [{"function": "sum", "field": "cost_basis"}]}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "deal",
                                           "aggregates": [{"function": "count"}], "group_by": [{"field": "stage"}]}),
    ("GET", "/api/v1/reports", None, None),
    ("GET", "/api/v1/segments", None, None),
    ("GET", "/api/v1/dashboards", None, None),
    ("GET", "/api/v1/analytics/forecast", {"object": "vault"}, None),
    ("GET", "/api/v1/analytics/forecast", {"object": "vaults"}, None),
    ("GET", "/api/v1/analytics/forecast", {"object": "deal", "amount": "cost_basis"}, None),
    ("GET", "/api/v1/analytics/trend", {"object": "vault"}, None),
    ("GET", "/api/v1/analytics/trend", {"object": "deal", "field": "cost_basis"}, None),
    # writes the rep may not make (none changes anything)
    ("POST", "/api/v1/records/deal", None, {"name": "x", "stage": "New", "cost_basis": 1}),
    ("POST", "/api/v1/records/deal", None, {"name": "x", "stage": "New", "vault_ref": "{vault_record}"}),
    ("POST", "/api/v1/records/deal", None, {"name": "x", "stage": "New", "margin_calc": 2}),
    ("POST", "/api/v1/records/deal", None, {"name": "x", "stage": "New", "cost_basi": 2}),
    ("POST", "/api/v1/records/deal", None, [{"name": "x", "stage": "Nope", "vault_ref": "x", "cost_basis": "y"}]),
    ("POST", "/api/v1/records/vault", None, {"name": "x"}),
    ("POST", "/api/v1/records/vaults", None, {"name": "x"}),
    ("PATCH", "/api/v1/records/deal/{d1}", None, {"cost_basis": 5}),
    ("PATCH", "/api/v1/records/deal/{d1}", None, {"probability": 5}),
    ("PATCH", "/api/v1/records/deal/{invisible_deal}", None, {"name": "y"}),
    ("PATCH", "/api/v1/records/deal/{admin_deal}", None, {"name": "y"}),
    ("PATCH", "/api/v1/records/vault/{vault_record}", None, {"name": "y"}),
    ("DELETE", "/api/v1/records/deal/{invisible_deal}", None, None),
    ("DELETE", "/api/v1/records/vault/{vault_record}", None, None),
    ("POST", "/api/v1/records/deal/{invisible_deal}/restore", None, None),
    ("POST", "/api/v1/records/vault/{vault_record}/restore", None, None),
    ("PATCH", "/api/v1/records/deal/{d3}", None, {"name": "y"}),     # visible, not editable: 403 everywhere
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def worlds(tmp_path_factory, request):
    """Worlds A, B and C on one database kind (module-scoped: the probes change nothing)."""
    with worlds_on(request.param, tmp_path_factory) as out:
        yield out


def test_probes_answer_the_same_in_every_world(worlds):
    different = []
    for method, url, query, body in PROBES:
        answers = {}
        for name, world in worlds.items():
            sent = _fill(world, body)
            answers[name] = answer(world, method, url, body=sent, query=query)
            assert answers[name][0] < 500, (name, method, url, answers[name])
        if not answers["A"] == answers["B"] == answers["C"]:
            different.append((method, url, query, body, answers))
    assert not different, "\n\n".join(_explain(d) for d in different)


def test_no_secret_in_any_answer(worlds):
    """Belt and braces: no answer to the rep names a secret they did not send themselves."""
    world = worlds["A"]
    for method, url, query, body in PROBES:
        status, _ctype, payload = answer(world, method, url, body=_fill(world, body), query=query)
        sent = f"{url} {query} {body}"
        text = str(payload)
        leaked = [s for s in SECRETS if s in text and s not in sent and s.lower() not in sent.lower()]
        assert not leaked, (method, url, query, status, leaked, text[:2000])


def _fill(world, body):
    if isinstance(body, dict):
        return {k: _fill(world, v) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(world, v) for v in body]
    if isinstance(body, str):
        return world.url(body)
    return body


def _explain(item):
    import difflib
    import json

    method, url, query, body, answers = item
    a = json.dumps(answers["A"], indent=1, sort_keys=True, default=str).splitlines()
    lines = [f"{method} {url} {query or ''} {body or ''}"]
    for other in ("B", "C"):
        b = json.dumps(answers[other], indent=1, sort_keys=True, default=str).splitlines()
        diff = list(difflib.unified_diff(a, b, "A", other, lineterm="", n=1))
        if diff:
            lines += diff[:60]
    return "\n".join(lines)


@pytest.fixture
def hiding(crm, app, services):
    """The sample model; 'rep' may read and create deals, with 'amount' hidden (it is made required
    and carries a validation rule's message)."""
    from engine.security.users import create_token, create_user
    from tests.conftest import Api

    assert crm.patch("/api/v1/objects/deal/fields/amount", json={"required": True}).status_code == 200
    assert crm.post("/api/v1/objects/deal/validation_rules", json={
        "name": "big_quantity", "condition": "quantity > 100", "message": "At most 100, please.",
        "field": "amount"}).status_code == 201
    assert crm.post("/api/v1/permission_sets", json={
        "api_name": "sales", "objects": {"deal": {"read": True, "create": True, "edit": True},
                                         "account": {"read": True}},
        "fields": {"deal": {"amount": "hidden"}}}).status_code == 201
    create_user(services.engine, "rep", "password-123")
    assert crm.post("/api/v1/users/rep/permission_sets", json={"permission_set": "sales"}).status_code == 201
    return crm, Api(app.test_client(), create_token(services.engine, "rep"))


def test_a_required_hidden_field_and_a_rule_on_it_are_not_named(hiding):
    admin, rep = hiding
    r = rep.post("/api/v1/records/deal", json={"name": "x", "stage": "New"})
    assert (r.status_code, r.get_json()["error"]["fields"]) == (422, {"_record": [
        "A required field that you may not see has no value; ask an administrator."]})
    assert "amount" not in str(r.get_json()).lower()
    rid = admin.post("/api/v1/records/deal", json={"name": "x", "stage": "New", "amount": 5}).get_json()["id"]
    r = rep.patch(f"/api/v1/records/deal/{rid}", json={"quantity": 101})
    assert (r.status_code, r.get_json()["error"]["fields"]) == (422, {"_record": ["At most 100, please."]})
    assert "amount" not in str(r.get_json()).lower()
    r = admin.patch(f"/api/v1/records/deal/{rid}", json={"quantity": 101})    # the admin sees where it belongs
    assert r.get_json()["error"]["fields"] == {"amount": ["At most 100, please."]}
