"""Walk every route in the URL map as anonymous, as a user without rights and as an admin:
401/403/404 where due, never a 500."""
from __future__ import annotations

import re

import pytest

from tests.conftest import Api

SAMPLE = {"obj": "deal", "name": "deal", "rid": None, "field": "amount", "item_name": "main",
          "username": "rep", "ps": "sales", "rule_id": "nope", "index": "0", "version": "1"}


def _urls(app, rid):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        url = rule.rule
        for arg in rule.arguments:
            value = rid if arg == "rid" else SAMPLE.get(arg, "x")
            url = re.sub(rf"<(?:[a-z]+:)?{arg}>", value, url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url, rule.endpoint


@pytest.fixture
def walk(crm, app, services):
    from engine.security.users import create_token, create_user

    rec = crm.post("/api/v1/records/deal", json={"stage": "New"}).get_json()
    create_user(services.engine, "norights", "password-123")
    return {"admin": crm, "norights": Api(app.test_client(), create_token(services.engine, "norights")),
            "anon": Api(app.test_client(), None)}, rec["id"]


def test_every_route(walk, app):
    clients, rid = walk
    seen = 0
    for who in ("anon", "norights", "admin"):
        client = clients[who]
        for method, url, endpoint in _urls(app, rid):
            body = {} if method in ("POST", "PATCH", "PUT") else None
            r = getattr(client, method.lower())(url, json=body) if body is not None else \
                getattr(client, method.lower())(url)
            seen += 1
            assert r.status_code < 500 or (r.status_code == 501 and endpoint == "api.check_formula"), \
                (who, method, url, r.get_json())
            assert r.is_json or r.status_code == 204 or r.mimetype == "text/csv", (who, method, url)
            if who == "anon" and endpoint != "api.login":
                assert r.status_code == 401, (method, url)
            if who == "norights" and endpoint not in ("api.login", "api.me", "api.get_object", "api.list_objects",
                                                       "api.get_field", "api.list_field_types", "api.object_history",
                                                       "api.openapi_document", "api.check_formula", "api.get_user",
                                                       "api.list_validation_rules", "api.list_layouts",
                                                       "api.list_list_views", "api.pending_approvals",
                                                       # lists of the reports, dashboards, segments and RFM
                                                       # models the caller may see (empty here)
                                                       "api.list_reports", "api.list_dashboards",
                                                       "api.list_segments", "api.list_rfm_models"):
                assert r.status_code in (400, 403, 404, 422), (method, url, r.status_code)
    assert seen > 100
