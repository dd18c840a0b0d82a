"""No malformed input ends in a 500: random bodies and query strings on every record route."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ACCOUNT, DEAL, Api

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
field_names = st.sampled_from(["amount", "stage", "close_date", "signed_at", "tags", "account", "quantity",
                               "contact_email", "is_priority", "name", "owner_id", "id", "bogus", "number"])
bodies = st.dictionaries(field_names, json_values, max_size=6) | json_values
params = st.dictionaries(
    st.sampled_from(["limit", "cursor", "order_by", "fields", "with_total", "deleted", "amount__gte",
                     "stage__in", "close_date__lt", "tags", "quantity__isnull", "name__startswith", "x__y",
                     "signed_at__gt", "is_priority"]),
    st.text(max_size=20), max_size=4)


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory):
    from engine import create_app
    from engine.security.users import create_token, create_user

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}"
    app = create_app({"database_url": url, "testing": True})
    s = app.extensions["tessera"]
    create_user(s.engine, "admin", "admin-password", is_admin=True)
    api = Api(app.test_client(), create_token(s.engine, "admin"))
    for doc in (ACCOUNT, DEAL):
        assert api.post("/api/v1/objects", json=doc).status_code == 201
    rec = api.post("/api/v1/records/deal", json={"stage": "New"}).get_json()
    return api, rec["id"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=bool(os.environ.get("CI")))
@given(body=bodies, method=st.sampled_from(["post", "patch", "put"]))
def test_random_bodies(fuzz_api, body, method):
    api, rid = fuzz_api
    url = "/api/v1/records/deal" if method == "post" else f"/api/v1/records/deal/{rid}"
    r = getattr(api, method)(url, json=body)
    assert r.status_code < 500, (body, r.get_json())
    assert r.is_json


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=bool(os.environ.get("CI")))
@given(q=params)
def test_random_queries(fuzz_api, q):
    api, _ = fuzz_api
    r = api.get("/api/v1/records/deal", query_string=q)
    assert r.status_code < 500, (q, r.get_json())


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=bool(os.environ.get("CI")))
@given(body=json_values, path=st.sampled_from(["/api/v1/objects", "/api/v1/objects/deal/fields",
                                               "/api/v1/objects/deal/validation_rules",
                                               "/api/v1/objects/deal/list_views",
                                               "/api/v1/objects/deal/layouts", "/api/v1/objects/deal/rollback"]))
def test_random_metadata(fuzz_api, body, path):
    api, _ = fuzz_api
    r = api.post(path, json=body)
    assert r.status_code < 500, (path, json.dumps(body)[:200], r.get_json())
