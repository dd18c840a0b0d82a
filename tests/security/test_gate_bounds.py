"""Resource bounds through the API (issue 8, item 6 and 10), on SQLite and PostgreSQL, as a rep.

Every request that would make the server build something huge or work for long answers at once
with a clear 4xx (or, where the language says a runtime error is a blank, a correct 200): request
bodies, page sizes, bulk writes, formula size, nodes and depth on every door that takes a formula,
built text, and regular expressions (RE2: linear time, no backreferences). Nothing is timed: a
request that hung or exhausted memory would fail the run; each answer is asserted exactly.
The unit tests of the limits themselves are in ``tests/formula/test_limits.py``.
"""
from __future__ import annotations

import pytest

from tests.conftest import ACCOUNT, DEAL, Api
from tests.security.codes import code, error_of

MAX_BODY = 64 * 1024
MAX_BULK = 5
LONG_FORMULA = "1" + " + 1" * 6000 + " > 0"           # 24,005 characters
WIDE_FORMULA = "MAX(" + ", ".join(["1"] * 3000) + ") > 0"
DEEP_FORMULA = "-" * 200 + "1 > 0"
CATASTROPHIC = "(a+)+$"                              # exponential for a backtracking engine


@pytest.fixture(scope="module")
def bounded(module_db_url):
    """The sample CRM with small limits (64 KiB bodies, 5 records a bulk call), a rep who may read,
    create and edit deals, and a deal whose name a backtracking regex would choke on."""
    from engine import create_app
    from engine.security.users import create_token, create_user

    app = create_app({"database_url": module_db_url, "testing": True, "max_body_bytes": MAX_BODY,
                      "max_bulk_records": MAX_BULK})
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", "admin-password", is_admin=True)
    admin = Api(app.test_client(), create_token(services.engine, "admin"))
    for doc in (ACCOUNT, DEAL):
        assert admin.post("/api/v1/objects", json=doc).status_code == 201
    for fdoc in ({"api_name": "padded", "type": "formula", "formula": "RPAD(name, 1000000000, 'b')"},
                 {"api_name": "rounded", "type": "formula", "formula": "ROUND(amount, 1000000000)"},
                 {"api_name": "matches", "type": "formula", "formula": f"REGEX(name, '{CATASTROPHIC}')"}):
        r = admin.post("/api/v1/objects/deal/fields", json=fdoc)
        assert r.status_code == 201, r.get_json()
    assert admin.post("/api/v1/permission_sets", json={
        "api_name": "sales", "objects": {"deal": {"read": True, "create": True, "edit": True},
                                         "account": {"read": True}}}).status_code == 201
    create_user(services.engine, "rep", "password-123")
    assert admin.post("/api/v1/users/rep/permission_sets", json={"permission_set": "sales"}).status_code == 201
    rep = Api(app.test_client(), create_token(services.engine, "rep"))
    r = rep.post("/api/v1/records/deal", json={"name": "a" * 60 + "!", "stage": "New", "amount": 2.5})
    assert r.status_code == 201, r.get_json()
    yield admin, rep, r.get_json()["id"]
    services.engine.dispose()


def _total(rep):
    return rep.get("/api/v1/records/deal?with_total=true&limit=1").get_json()["total"]


# -- bodies, pages, bulk --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/records/deal", "/api/v1/formula/check", "/api/v1/reports/run",
                                  "/api/v1/auth/login", "/api/v1/records/deal/{rid}"])
def test_a_body_over_the_limit_is_413(bounded, path):
    _admin, rep, rid = bounded
    before = _total(rep)
    method = rep.patch if "{rid}" in path else rep.post
    err = error_of(method(path.format(rid=rid), json={"name": "x" * (MAX_BODY + 1), "stage": "New"}), 413)
    assert (err["code"], err["message"]) == (code("body_too_large"), "The request body is too large.")
    assert _total(rep) == before


def test_a_body_over_the_limit_is_413_on_the_pages_too(bounded):
    _admin, rep, _ = bounded
    r = rep.client.post("/login", data={"username": "rep", "password": "x" * (MAX_BODY + 1)})
    assert r.status_code == 413 and r.mimetype == "text/html"


@pytest.mark.parametrize("limit, message", [
    ("201", "limit must be between 1 and 200 (got 201)."),
    ("0", "limit must be between 1 and 200 (got 0)."),
    ("-1", "limit must be between 1 and 200 (got -1)."),
    ("9" * 40, f"limit must be between 1 and 200 (got {'9' * 40})."),
    ("abc", "limit must be a whole number between 1 and 200."),
    ("1.5", "limit must be a whole number between 1 and 200."),
])
def test_page_size_is_bounded(bounded, limit, message):
    _admin, rep, _ = bounded
    err = error_of(rep.get("/api/v1/records/deal", query_string={"limit": limit}), 400)
    assert (err["code"], err["message"]) == (code("page_size"), message)


def test_report_page_size_is_bounded(bounded):
    _admin, rep, _ = bounded
    err = error_of(rep.post("/api/v1/reports/run?limit=100000", json={"name": "r", "object": "deal"}), 400)
    assert (err["code"], err["message"]) == (code("report_page_size"),
                                             "limit must be a whole number between 1 and 200 (got '100000').")


def test_the_largest_page_is_served(bounded):
    _admin, rep, _ = bounded
    r = rep.get("/api/v1/records/deal?limit=200")
    assert r.status_code == 200 and len(r.get_json()["records"]) == 1


def test_bulk_size_is_bounded(bounded):
    _admin, rep, _ = bounded
    before = _total(rep)
    err = error_of(rep.post("/api/v1/records/deal", json=[{"name": f"b{i}", "stage": "New"}
                                                          for i in range(MAX_BULK + 1)]), 400)
    assert (err["code"], err["message"]) == (code("bulk_size"), f"Send at most {MAX_BULK} records in one call "
                                                                f"(got {MAX_BULK + 1}).")
    assert _total(rep) == before
    r = rep.post("/api/v1/records/deal", json=[{"name": f"b{i}", "stage": "New"} for i in range(MAX_BULK)])
    assert r.status_code == 201, r.get_json()
    ids = [d["id"] for d in r.get_json()["records"]] if isinstance(r.get_json(), dict) else \
        [d["id"] for d in r.get_json()]
    assert len(ids) == MAX_BULK and _total(rep) == before + MAX_BULK
    for rid in ids:
        assert rep.client.delete(f"/api/v1/records/deal/{rid}",
                                 headers={"Authorization": f"Bearer {rep.token}"}).status_code in (204, 403)


# -- formulas: size, parts, depth, on every door that takes one -------------------------------------

LONG = ("formula_too_long", "The formula is 24,005 characters long; the limit is 20,000 (line 1, column 20001). "
                            "Split it into several formula fields")
WIDE = ("formula_too_many_parts", "The formula has more than 3,000 parts (values, names, operators and function "
                                  "calls) (line 1, column 1). Split it into several formula fields")
DEEP = ("formula_too_deep", "The formula is nested more than 100 levels deep (line 1, column 101). Use CASE() "
                            "instead of nested IFs, or split it into several formula fields")


@pytest.mark.parametrize("formula, expected", [(LONG_FORMULA, LONG), (WIDE_FORMULA, WIDE), (DEEP_FORMULA, DEEP)],
                         ids=["long", "wide", "deep"])
def test_formula_bounds_on_the_rep_doors(bounded, formula, expected):
    _admin, rep, _ = bounded
    meaning, message = expected
    err = error_of(rep.get("/api/v1/records/deal", query_string={"where": formula}), 422)
    assert (err["code"], err["message"]) == (code(meaning), message)
    err = error_of(rep.get("/api/v1/records/deal/export", query_string={"where": formula}), 422)
    assert (err["code"], err["message"]) == (code(meaning), message)
    r = rep.post("/api/v1/formula/check", json={"object": "deal", "formula": formula})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["ok"], r.get_json()["error"]["code"], r.get_json()["error"]["message"]) == (
        False, code(meaning), message)


def test_a_formula_of_megabytes_in_a_query_string_is_refused_at_once(bounded):
    _admin, rep, _ = bounded
    err = error_of(rep.get("/api/v1/records/deal", query_string={"where": "'" + "a" * 4_900_000 + "' = name"}), 422)
    assert err["code"] == code("formula_too_long")
    assert err["message"].startswith("The formula is 4,900,009 characters long; the limit is 20,000")


def test_formula_bounds_on_the_admin_doors(bounded):
    admin, _rep, _ = bounded
    r = admin.post("/api/v1/objects/deal/fields", json={"api_name": "huge", "type": "formula", "formula": LONG_FORMULA})
    err = error_of(r, 422)
    assert (err["code"], err["message"]) == (code("metadata_invalid"),
                                             "objects.deal.fields.huge.formula: must be at most 5000 characters long")
    for path, doc, where in [
        ("/api/v1/objects/deal/validation_rules", {"name": "v", "message": "m"}, "condition"),
        ("/api/v1/objects/deal/list_views", {"name": "v", "columns": ["name"]}, "where"),
    ]:
        err = error_of(admin.post(path, json=dict(doc, **{where: LONG_FORMULA})), 422)
        assert err["code"] == code("metadata_invalid")
        assert err["message"].endswith(f".{where}: must be at most 5000 characters long"), err["message"]
    err = error_of(admin.post("/api/v1/reports/run", json={"name": "r", "object": "deal", "filter": LONG_FORMULA}), 422)
    assert (err["code"], err["message"]) == (code("report_invalid"), "filter: must be at most 10000 characters long")
    assert admin.post("/api/v1/roles", json={"api_name": "somebody"}).status_code == 201
    err = error_of(admin.post("/api/v1/sharing_rules", json={
        "object": "deal", "name": "s", "criteria": LONG_FORMULA, "share_with_role": "somebody", "access": "read"}), 422)
    assert err["code"] == code("sharing_rule_invalid") and err["fields"]["criteria"] == [LONG[1]]


# -- what a formula computes: text, numbers, regular expressions -----------------------------------

@pytest.mark.parametrize("where", [
    "RPAD('a', 1000000000, 'b') = 'x'",                   # folded in Python before the query: bounded
    "LEN(SUBSTITUTE(RPAD('a', 100000, 'a'), 'a', RPAD('b', 100000, 'b'))) > 0",
    "LEN(TEXT(10^100000)) > 0",
    "ROUND(amount, 1000000000) = 1",
    "ROUND(2.5, 10^999999) = 1",
    "DATE(2024, 1, 10^999999) = TODAY()",
    "MID(name, 10^999999, 10^999999) = ''",
    "LEFT(name, 100000000000000000) = 'x'",
    "REGEX('" + "a" * 60 + "!', '" + CATASTROPHIC + "')",
    "REGEX(name, '" + CATASTROPHIC + "')",
    "REGEX(name, '(x+x+)+y') || REGEX(name, '(a|aa)*b')",
    "IF(amount > 1, 1, " * 50 + "0" + ")" * 50 + " = 1",      # SQLite's parser stack
    "DATEVALUE(name) = TODAY()",                          # PostgreSQL's timezone(varchar, varchar)
    "VALUE(name) > 1",
])
def test_expensive_formulas_answer_at_once_without_a_5xx(bounded, where):
    """A runtime error is a blank in a filter (as in a formula field): the answer is a correct
    page, or a clear 4xx, never a hang, a 5xx or a database error."""
    _admin, rep, _ = bounded
    for door in ("/api/v1/records/deal", "/api/v1/records/deal/export"):
        r = rep.get(door, query_string={"where": where})
        assert r.status_code in (200, 422), (door, where, r.status_code, r.get_data(as_text=True)[:500])
        if r.status_code == 422:
            assert r.get_json()["error"]["code"].startswith("formula."), r.get_json()
    r = rep.post("/api/v1/formula/check", json={"object": "deal", "formula": where})
    assert r.status_code == 200, r.get_json()


def test_formula_fields_over_bounds_read_as_blank(bounded):
    """Formula fields whose result would be huge read as blank; the regex field answers false."""
    _admin, rep, rid = bounded
    r = rep.get(f"/api/v1/records/deal/{rid}", query_string={"fields": "name,padded,rounded,matches"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"id": rid, "name": "a" * 60 + "!", "padded": None, "rounded": None, "matches": False}
    r = rep.get("/api/v1/records/deal", query_string={"fields": "padded,matches", "order_by": "-rounded"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["records"][0]["padded"] is None


@pytest.mark.parametrize("pattern", ["(a)\\\\1", "(?=a)a", "a{1001}", "[a"])
def test_unsupported_regex_is_a_422(bounded, pattern):
    _admin, rep, _ = bounded
    err = error_of(rep.get("/api/v1/records/deal", query_string={"where": f"REGEX(name, '{pattern}')"}), 422)
    assert err["code"] == code("regex_unsupported")
    assert err["message"].startswith("REGEX pattern is not supported: ")
    assert "REGEX uses RE2 syntax" in err["message"]


def test_text_the_database_cannot_build_is_refused_in_filters(bounded):
    """RPAD over a field has no SQL form: a filter or sort on a formula field built with it says so."""
    _admin, rep, _ = bounded
    for query in ({"where": "LEN(padded) > 5"}, {"order_by": "padded"}):
        err = error_of(rep.get("/api/v1/records/deal", query_string=query), 422)
        assert (err["code"], err["message"]) == (
            code("no_sql_form"), "RPAD() has no SQL form, so it cannot be used in a filter or a sort (it works in "
                                 "formula fields).")
