"""The composition root on its own: ``build_services()`` without a Flask app refuses bad metadata
and enforces validation rules; a rule added by another process is enforced by a running web app;
hook points are listed by name and frozen after the build."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.errors import MetadataError, RecordValidationError
from engine.hooks import HookError
from engine.security import SYSTEM_ACTOR
from engine.services import build_services
from tests.conftest import Api

DEAL = {"api_name": "deal", "label": "Deal", "fields": [{"api_name": "amount", "label": "Amount", "type": "currency"}]}
RULE = {"name": "not_negative", "condition": "amount < 0", "message": "Amount must not be negative.",
        "field": "amount"}

ADD_RULE = """
import json, sys
from engine.security import SYSTEM_ACTOR
from engine.services import build_services
services = build_services({"database_url": sys.argv[1]})
services.store.set_list("deal", "validation_rules", json.loads(sys.argv[2]), SYSTEM_ACTOR)
services.dispose()
"""


@pytest.fixture
def bare(db_url):
    """Services of a process that never builds a Flask app."""
    services = build_services({"database_url": db_url})
    yield services
    services.dispose()


def test_services_alone_refuse_a_misspelt_formula(bare):
    bare.store.create_object(DEAL, SYSTEM_ACTOR)
    with pytest.raises(MetadataError) as exc:
        bare.store.add_field("deal", {"api_name": "double", "type": "formula", "formula": "amout * 2"},
                             SYSTEM_ACTOR)
    assert exc.value.code == "metadata.E001"
    assert exc.value.message == ("objects.deal.fields.double.formula: Unknown field 'amout' (line 1, column 1). "
                                 "Did you mean 'amount'?")
    assert exc.value.problems == [("objects.deal.fields.double.formula",
                                   "Unknown field 'amout' (line 1, column 1). Did you mean 'amount'?")]
    assert [f.api_name for f in bare.snapshots.refresh().get("deal").odef.fields] == ["amount"]


def test_services_alone_enforce_validation_rules(bare):
    bare.store.create_object(DEAL, SYSTEM_ACTOR)
    bare.store.set_list("deal", "validation_rules", RULE, SYSTEM_ACTOR)
    records = bare.records()
    with pytest.raises(RecordValidationError) as exc:
        records.create("deal", {"name": "Acme", "amount": -1}, SYSTEM_ACTOR)
    assert exc.value.code == "records.E001"
    assert exc.value.message == "Deal 'Acme' was not saved: Amount: Amount must not be negative."
    assert exc.value.fields == {"amount": ["Amount must not be negative."]}
    assert records.list("deal", SYSTEM_ACTOR)["records"] == []
    assert records.create("deal", {"name": "Acme", "amount": 1}, SYSTEM_ACTOR)["amount"] == 1


def test_rule_added_by_another_process_is_enforced_by_a_running_app(api, app, db_url):
    assert api.post("/api/v1/objects", json=DEAL).status_code == 201
    assert api.post("/api/v1/records/deal", json={"name": "Before", "amount": -1}).status_code == 201
    done = subprocess.run([sys.executable, "-c", ADD_RULE, db_url, json.dumps(RULE)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    r = api.post("/api/v1/records/deal", json={"name": "After", "amount": -1})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"] == {"code": "records.E001",
                                     "message": "Deal 'After' was not saved: Amount: Amount must not be negative.",
                                     "fields": {"amount": ["Amount must not be negative."]}}
    assert api.post("/api/v1/records/deal", json={"name": "Fine", "amount": 1}).status_code == 201


def _in_order(names, expected):
    return [n for n in names if n in expected] == expected


def test_hook_points_are_listed_by_name_and_frozen(bare):
    # subsystems may add hooks of their own: check the points and the engine's hooks, in order
    rec, meta = bare.record_hooks.describe(), bare.metadata_hooks.describe()
    assert list(rec) == ["flags", "authorise", "defaults", "validate", "before_save", "after_write", "after_commit"]
    assert _in_order(rec["flags"], ["field_history"])
    assert list(meta) == ["checks", "dependency_checks", "after_change"]
    assert _in_order(rec["defaults"], ["formula_defaults"])
    assert _in_order(rec["validate"], ["validation_rules"])
    assert _in_order(rec["after_write"], ["field_history", "rollups"])
    assert _in_order(meta["checks"], ["formulas"])
    assert _in_order(meta["dependency_checks"], ["formula_references"])
    assert _in_order(meta["after_change"], ["rollup_backfill", "audit"])
    with pytest.raises(HookError, match=r"^Hook point 'RecordHooks.after_write' is frozen; add 'late' in "
                                        r"build_services\(\).$"):
        bare.record_hooks.after_write.add("late", lambda ctx: None)
    with pytest.raises(HookError, match=r"^Hook point 'MetadataHooks.checks' is frozen; add 'late' in "
                                        r"build_services\(\).$"):
        bare.metadata_hooks.checks.add("late", lambda doc, ctx: [])
    with pytest.raises(HookError, match="is frozen"):
        bare.record_hooks.validate.remove("validation_rules")
    assert bare.record_hooks.describe() == rec
