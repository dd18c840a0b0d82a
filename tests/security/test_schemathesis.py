"""A bounded schemathesis run against the generated OpenAPI document: no 5xx, and every
response matches the document (status codes, content types, bodies)."""
from __future__ import annotations

import os

import schemathesis  # in the [test] extras: the run must never be skipped silently
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_openapi_conformance(crm, app):
    auth = {"Authorization": f"Bearer {crm.token}"}
    acc = crm.post("/api/v1/records/account", json={"name": "A", "industry": "Energy"}).get_json()
    crm.post("/api/v1/records/deal", json=[{"stage": "New", "account": acc["id"], "amount": i} for i in range(5)])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=auth)
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=bool(os.environ.get("CI")))
        @given(case=operation.as_strategy())
        def run(case):
            case.call_and_validate(headers=auth, checks=CHECKS)

        run()
        ran += 1
    assert ran >= 10
