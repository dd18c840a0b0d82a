"""Inputs that used to end in a 500 (issue 8) answer a 4xx with a stable code and exact message,
on SQLite and PostgreSQL: projections without row_version, forged cursors, odd If-Match
values, junk filter values and operators, date/times outside years 1..9999 in UTC."""
from __future__ import annotations

import base64
import json

import pytest

CURSOR_MESSAGE = ("Invalid cursor: it is malformed or was made for another sort or filter; start again "
                  "without cursor.")


def _deal(api, **values):
    r = api.post("/api/v1/records/deal", json={"stage": "New", **values})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _error(r, status):
    assert r.status_code == status, (r.status_code, r.get_json())
    return r.get_json()["error"]


# -- ETag and If-Match ----------------------------------------------------------------------

def test_get_with_fields_without_row_version(crm):
    deal = _deal(crm, name="Acme")
    r = crm.get(f"/api/v1/records/deal/{deal['id']}?fields=name")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"id": deal["id"], "name": "Acme"}
    etag = r.headers["ETag"]
    assert etag.startswith('W/"c') and etag.endswith('"')   # a weak validator of this projection
    assert crm.get(f"/api/v1/records/deal/{deal['id']}?fields=name").headers["ETag"] == etag
    # It is not a row_version, so it cannot be used as one.
    err = _error(crm.patch(f"/api/v1/records/deal/{deal['id']}", json={"name": "B"}, headers={"If-Match": etag}), 400)
    assert (err["code"], err["message"]) == ("api.E011", "If-Match must be the record's row_version (its ETag).")
    # With row_version in the projection the ETag is the version, as without fields=.
    r = crm.get(f"/api/v1/records/deal/{deal['id']}?fields=name,row_version")
    assert r.headers["ETag"] == '"1"'


@pytest.mark.parametrize("value", ['"²"', '"٣"', "²", '"1²"', '"' + "9" * 19 + '"', '"' + "9" * 5000 + '"',
                                   '"-1"', '"1.0"', '" 1"', '""'])
def test_if_match_must_be_ascii_digits(crm, value):
    deal = _deal(crm)
    err = _error(crm.patch(f"/api/v1/records/deal/{deal['id']}", json={"name": "B"}, headers={"If-Match": value}),
                 400)
    assert err["code"] == "api.E011"
    assert err["message"] == "If-Match must be the record's row_version (its ETag)."


def test_if_match_still_accepts_versions(crm):
    deal = _deal(crm)
    for i, (value, status) in enumerate((('"1"', 200), ('W/"2"', 200), ("3", 200), ('"1"', 412), ("*", 200))):
        r = crm.patch(f"/api/v1/records/deal/{deal['id']}", json={"name": f"B{i}"}, headers={"If-Match": value})
        assert r.status_code == status, (value, r.get_json())


# -- cursors --------------------------------------------------------------------------------

def _real_cursor(api, order_by):
    for i in range(3):
        _deal(api, name=f"d{i}", amount=i, close_date=f"2025-01-0{i + 1}", signed_at=f"2025-01-0{i + 1}T10:00:00Z")
    body = api.get(f"/api/v1/records/deal?order_by={order_by}&limit=1").get_json()
    assert body["next_cursor"]
    raw = body["next_cursor"]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def _forge(data):
    raw = json.dumps(data, allow_nan=True).encode() if not isinstance(data, bytes) else data
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


ID = "01a00000-0000-7000-8000-000000000000"
FORGED = [
    # (order_by, replacement of the cursor's values or a function of the decoded cursor)
    ("amount", [{"n": "abc"}, ID]),                 # a bad decimal
    ("amount", [{"n": "NaN"}, ID]),
    ("amount", [{"n": "-Infinity"}, ID]),
    ("amount", [{"n": "1e999999"}, ID]),            # finite, but no database stores it
    ("amount", [float("nan"), ID]),                 # JSON NaN
    ("amount", [{"x": 1}, ID]),                     # a dict with an unknown tag
    ("amount", [{"n": "1", "d": "2025-01-01"}, ID]),  # two tags
    ("amount", [{"n": 5}, ID]),                     # a tag with a non-text value
    ("amount", [[1, 2], ID]),                       # a list
    ("amount", [True, ID]),                         # a boolean for a number
    ("amount", ["12", ID]),                         # text for a number
    ("amount", [{"d": "2025-01-01"}, ID]),          # a date for a number
    ("amount", [2 ** 70, ID]),                      # too large for any integer column
    ("amount", [1, 2]),                             # a number for the id
    ("name", ["a\u0000b", ID]),                     # NUL: PostgreSQL cannot bind it
    ("name", ["\ud800", ID]),                       # a lone surrogate
    ("close_date", [{"t": "2025-01-01T00:00:00+00:00"}, ID]),   # a date/time for a date
    ("close_date", [{"d": "2025-02-30"}, ID]),
    ("signed_at", [{"d": "2025-01-01"}, ID]),       # a date for a date/time
    ("signed_at", [{"t": "9999-12-31T23:59:59-01:00"}, ID]),   # overflows in UTC
    ("signed_at", [{"t": "0001-01-01T00:00:00+01:00"}, ID]),
    ("amount", [{"n": "1"}]),                       # one value for two sort keys
    ("amount", "ab"),                               # values not a list
]


@pytest.mark.parametrize("order_by, values", FORGED)
def test_forged_cursors(crm, order_by, values):
    data = _real_cursor(crm, order_by)
    data["v"] = values
    err = _error(crm.get(f"/api/v1/records/deal?order_by={order_by}&limit=1&cursor={_forge(data)}"), 400)
    assert (err["code"], err["message"]) == ("records.E016", CURSOR_MESSAGE)
    assert err["fields"] == {"cursor": ["invalid"]}


@pytest.mark.parametrize("raw", [b"[" * 5000 + b"]" * 5000, b'{"v": [], "f": 1}', b"[1]", b"5", b"\xff\xfe",
                                 b'{"v": {"a": 1}, "f": null}'])
def test_malformed_cursors(crm, raw):
    err = _error(crm.get(f"/api/v1/records/deal?cursor={_forge(raw)}"), 400)
    assert (err["code"], err["message"]) == ("records.E016", CURSOR_MESSAGE)


def test_real_cursors_still_page(crm):
    """Every kind of sort key survives the stricter cursor checks, NULLs and ties included."""
    r = crm.post("/api/v1/objects/deal/fields", json={"api_name": "double", "type": "formula",
                                                      "formula": "amount * 2"})
    assert r.status_code == 201, r.get_json()
    ids = {_deal(crm, name=None if i == 0 else f"d{i % 3}", amount=None if i == 1 else i * 1.5, quantity=i % 2,
                 close_date=None if i == 2 else f"2025-03-0{i % 3 + 1}",
                 signed_at=None if i == 3 else f"2025-03-0{i % 3 + 1}T10:00:00Z", is_priority=i % 2 == 0)["id"]
           for i in range(7)}
    for order_by in ("amount", "-amount", "close_date", "-signed_at", "name", "-quantity", "-is_priority,name",
                     "double", "-double", "created_at", "row_version", "-id"):
        seen, cursor = [], None
        while True:
            r = crm.get(f"/api/v1/records/deal?order_by={order_by}&limit=2" + (f"&cursor={cursor}" if cursor else ""))
            assert r.status_code == 200, (order_by, r.get_json())
            seen += [d["id"] for d in r.get_json()["records"]]
            cursor = r.get_json()["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(ids) and set(seen) == ids, order_by


# -- filters --------------------------------------------------------------------------------

BAD_FILTERS = [
    # (query string, status, code, message)
    ("amount__isnull=banana", 400, "records.E061", "Filter 'amount__isnull' must be true or false (got 'banana')."),
    ("deleted_at__isnull=yes", 400, "records.E061", "Filter 'deleted_at__isnull' must be true or false (got 'yes')."),
    ("is_priority__gt=true", 400, "records.E062",
     "Filter 'is_priority__gt': a checkbox field cannot be filtered with 'gt'; use eq, ne, in, isnull."),
    ("is_priority__startswith=t", 400, "records.E062",
     "Filter 'is_priority__startswith': a checkbox field cannot be filtered with 'startswith'; use eq, ne, in, "
     "isnull."),
    ("tags=a", 400, "records.E062", "Filter 'tags': a multi_picklist field cannot be filtered with 'eq'; use isnull "
     "(to find records with a value use where=INCLUDES(tags, 'value'))."),
    ("tags__in=a,b", 400, "records.E062", "Filter 'tags__in': a multi_picklist field cannot be filtered with 'in'; "
     "use isnull (to find records with a value use where=INCLUDES(tags, 'value'))."),
    ("tags__contains=a", 400, "records.E012", "Unknown filter operator 'contains' in 'tags__contains'. Known: eq, ne, "
     "gt, gte, lt, lte, in, isnull, startswith."),
    ("stage__in=" + ",".join(["New"] * 1001), 400, "records.E063",
     "Filter 'stage__in' takes at most 1000 values (got 1001); split the query or use where=."),
    ("close_date=notadate", 422, "records.E060", "Invalid value for filter 'close_date': Not a valid date (YYYY-MM-DD)."),
    ("close_date__in=2025-01-01,nope", 422, "records.E060",
     "Invalid value for filter 'close_date__in': Not a valid date (YYYY-MM-DD)."),
    ("amount__gt=1e999", 422, "records.E060", "Invalid value for filter 'amount__gt': Number is too large."),
    ("amount=NaN", 422, "records.E060",
     "Invalid value for filter 'amount': Special numeric values (nan or infinity) are not permitted."),
    ("quantity__lt=1.5", 422, "records.E060", "Invalid value for filter 'quantity__lt': Not a valid integer."),
    ("quantity=99999999999999999999", 422, "records.E060", "Invalid value for filter 'quantity': Integer is out of "
     "range."),
    ("is_priority=banana", 422, "records.E060", "Invalid value for filter 'is_priority': Not a valid boolean (true or "
     "false)."),
    ("signed_at__gt=notadate", 422, "records.E060", "Invalid value for filter 'signed_at__gt': Not a valid datetime."),
    ("signed_at__gt=9999-12-31T23:59:59-01:00", 422, "records.E060", "Invalid value for filter 'signed_at__gt': Not "
     "a valid datetime: it must fall between years 1 and 9999 in UTC."),
    ("signed_at__lt=0001-01-01T00:00:00%2B01:00", 422, "records.E060", "Invalid value for filter 'signed_at__lt': "
     "Not a valid datetime: it must fall between years 1 and 9999 in UTC."),
    ("created_at__gt=9999-12-31T23:59:59-01:00", 422, "records.E060", "Invalid value for filter 'created_at__gt': "
     "Not a valid datetime: '9999-12-31T23:59:59-01:00' (ISO 8601, between years 1 and 9999 in UTC)."),
    ("updated_at=yesterday", 422, "records.E060", "Invalid value for filter 'updated_at': Not a valid datetime: "
     "'yesterday' (ISO 8601, between years 1 and 9999 in UTC)."),
    ("row_version=99999999999999999999", 422, "records.E060", "Invalid value for filter 'row_version': Not a valid "
     "integer: '99999999999999999999'."),
    ("row_version=%EF%BC%91%EF%BC%92", 422, "records.E060", "Invalid value for filter 'row_version': Not a valid "
     "integer: '１２'."),
    ("row_version__startswith=1", 400, "records.E013", "'startswith' needs a text field ('row_version')."),
    *[(f"{name}__{op}=", 400, "records.E064", f"Filter '{name}__{op}' needs a value; to find records where "
       f"'{name}' is blank use {name}__isnull=true.")
      for name in ("stage", "contact_email", "notes", "account") for op in ("gt", "lte", "startswith")],
]


@pytest.mark.parametrize("query, status, code, message", BAD_FILTERS)
def test_bad_filters(crm, query, status, code, message):
    _deal(crm)
    err = _error(crm.get(f"/api/v1/records/deal?{query}"), status)
    assert (err["code"], err["message"]) == (code, message)


@pytest.mark.parametrize("query, count", [
    ("amount__isnull=true", 1), ("amount__isnull=FALSE", 1), ("amount__isnull=0", 1), ("is_priority=true", 1),
    ("is_priority__ne=true", 1), ("is_priority__in=true,false", 2), ("tags__isnull=false", 1),
    ("row_version=1", 2), ("row_version__gte=%2B1", 2), ("signed_at__gt=2025-01-01T00:00:00%2B14:00", 1),
    ("created_at__gt=2000-01-01T00:00:00Z", 2), ("amount__gt=1e-999", 1), ("notes=", 2), ("notes__ne=", 0),
    ("name=", 1), ("name__ne=", 1),
])
def test_good_filters(crm, query, count):
    _deal(crm, amount=5, is_priority=True, tags=["a"], signed_at="2025-01-01T00:00:00Z", name="Acme")
    _deal(crm)
    r = crm.get(f"/api/v1/records/deal?{query}&with_total=true")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["total"] == count


def test_roll_up_filters_parse_numbers(crm):
    r = crm.post("/api/v1/objects", json={"api_name": "line", "fields": [
        {"api_name": "deal", "type": "master_detail", "target": "deal"}, {"api_name": "qty", "type": "number"}]})
    assert r.status_code == 201, r.get_json()
    r = crm.post("/api/v1/objects/deal/fields", json={
        "api_name": "total_qty", "type": "roll_up_summary", "summary": {"function": "sum", "object": "line",
                                                                        "field": "qty"}})
    assert r.status_code == 201, r.get_json()
    deal = _deal(crm)
    assert crm.post("/api/v1/records/line", json={"deal": deal["id"], "qty": 3}).status_code == 201
    err = _error(crm.get("/api/v1/records/deal?total_qty__gt=abc"), 422)
    assert (err["code"], err["message"]) == ("records.E060", "Invalid value for filter 'total_qty__gt': Not a valid "
                                                             "number.")
    assert [d["id"] for d in crm.get("/api/v1/records/deal?total_qty__gt=2.5").get_json()["records"]] == [deal["id"]]


# -- writes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_datetimes_outside_utc_range_are_refused(crm, value):
    err = _error(crm.post("/api/v1/records/deal", json={"stage": "New", "signed_at": value}), 422)
    assert err["code"] == "records.E001"
    assert err["fields"] == {"signed_at": ["Not a valid datetime: it must fall between years 1 and 9999 in UTC."]}
