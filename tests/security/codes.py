"""The error codes the gate's tests expect, by meaning, in one place.

When a code moves, change it here and the
gate's tests follow. A test asks ``code("page_size")`` rather than spelling ``records.E017``.
"""
from __future__ import annotations

CODES = {
    # resource bounds
    "body_too_large": "api.E022",
    "page_size": "records.E017",
    "report_page_size": "api.E012",
    "bulk_size": "records.E004",
    "formula_too_long": "formula.E009",
    "formula_too_many_parts": "formula.E010",
    "formula_too_deep": "formula.E008",
    "formula_bad_character": "formula.E011",
    "regex_unsupported": "formula.E127",
    "no_sql_form": "formula.E201",
    "no_sql_form_with_fields": "formula.E200",
    "metadata_invalid": "metadata.E001",
    "report_invalid": "reports.E001",
    "sharing_rule_invalid": "security.E016",
    # leaks
    "database_error": "records.E030",
    "unknown_field": "records.E010",
}


def code(meaning):
    """The current error code for ``meaning`` (a key of :data:`CODES`)."""
    return CODES[meaning]


def error_of(response, status):
    """The ``error`` object of a JSON answer, after checking its status."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:1000])
    return response.get_json()["error"]
