"""The lean loader (``snapshot.fast_loader``) that creates, bulk creates and updates deserialise
with: for every writable field type of the registry and a battery of valid and invalid values, it
returns exactly what the object's marshmallow schema loads (same keys, values and types) or it
raises — and then the record service asks marshmallow, so errors are marshmallow's own. It is
rebuilt with the snapshot when the metadata changes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from engine.metadata.field_types import field_types
from tests.conftest import field_doc

VALUES = [None, True, False, 0, 1, -7, 2 ** 70, 1.5, float("nan"), Decimal("1.005"), Decimal("12.345"),
          Decimal("-0.00"), Decimal("1E+400"), Decimal("99999999999999999.99"), "", " ", "a", "b", "abc",
          "x" * 40, "é" * 300, "12.5", "2025-06-30", "2025-13-01", "2025-06-30T10:00:00Z", "2025-06-30T10:00:00",
          "http://example.org/x", "a@b.co", "not an email", "+1 555 0100", "true", "false", "1", [], ["a"],
          ["a", "b", "a"], ["a", "z"], [1], {"k": 1}, dt.date(2025, 1, 1)]


@pytest.fixture
def probe(api, services):
    docs = [field_doc(name, ft) for name, ft in field_types.items() if ft.writable]
    docs.append({"api_name": "must", "type": "text", "required": True})
    assert api.post("/api/v1/objects", json={"api_name": "tgt", "label": "Target", "fields": []}).status_code == 201
    r = api.post("/api/v1/objects", json={"api_name": "probe", "label": "Probe", "fields": docs})
    assert r.status_code == 201, r.get_json()
    return services


def same(fast, slow):
    return list(fast) == list(slow) and all(type(fast[k]) is type(slow[k]) and (
        fast[k] == slow[k] or (fast[k] != fast[k] and slow[k] != slow[k])) for k in slow)


def check(rt, data, partial):
    try:
        slow = rt.schema.load(data, partial=partial)
    except ValidationError:
        slow = None
    try:
        fast = rt.loader(data, partial)
    except Exception:   # noqa: BLE001 - the service falls back to marshmallow
        return "fallback"
    assert slow is not None, f"marshmallow refuses {data!r} (partial={partial}); the fast loader accepted it"
    assert same(fast, slow), (data, partial, fast, slow)
    return "fast"


def test_fast_loader_loads_exactly_what_marshmallow_loads(probe):
    rt = probe.records().snapshot.get("probe")
    assert rt.loader is not None
    names = [n for n in rt.schema.load_fields if n.startswith("f_") or n in ("name", "owner_id", "must")]
    assert len(names) == len([1 for _n, ft in field_types.items() if ft.writable]) + 3
    outcomes = {"fast": 0, "fallback": 0}
    for name in names:
        for value in VALUES:
            for partial in (True, False):
                base = {} if partial else {"must": "x"}
                outcomes[check(rt, dict(base, **{name: value}), partial)] += 1
    for partial in (True, False):
        check(rt, {}, partial)
        check(rt, {"unknown_key": 1, "must": "x"}, partial)
    valid = {"name": "Rec", "owner_id": "u1", "must": "x", "f_checkbox": True, "f_currency": Decimal("10.5"),
             "f_date": "2025-06-30", "f_datetime": "2025-06-30T10:00:00Z", "f_email": "a@b.co",
             "f_integer": 3, "f_long_text": "long", "f_lookup": "t1", "f_master_detail": "t2",
             "f_multi_picklist": ["b", "a"], "f_number": 2, "f_percent": Decimal("0.5"), "f_phone": "555",
             "f_picklist": "a", "f_rich_text": "<p>x</p>", "f_text": "t", "f_url": "http://example.org"}
    assert check(rt, valid, False) == "fast"
    assert outcomes["fast"] > 100 and outcomes["fallback"] > 100, outcomes


def test_errors_are_marshmallows_and_the_loader_follows_the_metadata(probe, api):
    bad = {"must": "x", "f_picklist": "zz", "f_integer": "seven", "f_text": "y" * 31, "f_currency": True}
    r = api.post("/api/v1/records/probe", json=bad)
    assert r.status_code == 422, r.get_json()
    rt = probe.records().snapshot.get("probe")
    with pytest.raises(ValidationError) as exc:
        rt.schema.load(bad)
    assert {k: r.get_json()["error"]["fields"][k] for k in exc.value.messages} == exc.value.messages
    ok = api.post("/api/v1/records/probe", json={"must": "x", "f_text": "y" * 30, "f_picklist": "b"})
    assert ok.status_code == 201 and ok.get_json()["f_text"] == "y" * 30
    # a longer text allowed and a new option: a new snapshot, a new loader
    assert api.patch("/api/v1/objects/probe/fields/f_text", json={"max_length": 40}).status_code == 200
    assert api.patch("/api/v1/objects/probe/fields/f_picklist", json={
        "options": [{"value": "a"}, {"value": "b"}, {"value": "zz"}]}).status_code == 200
    new_rt = probe.records().snapshot.get("probe")
    assert new_rt.loader is not rt.loader
    assert new_rt.loader({"f_text": "y" * 31, "f_picklist": "zz"}, True) == {"f_text": "y" * 31, "f_picklist": "zz"}
    r = api.post("/api/v1/records/probe", json={"must": "x", "f_text": "y" * 31, "f_picklist": "zz"})
    assert r.status_code == 201, r.get_json()
