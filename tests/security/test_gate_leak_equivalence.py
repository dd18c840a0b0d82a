"""Leak equivalence (issue 8), inside one organisation: for the rep, something they may not read
answers byte for byte like something that does not exist, on every door.

- a record of another user they may not see (a peer's private deal, the admin's private deal)
  against an id that exists nowhere, on GET, PATCH, PUT, DELETE, restore, history, shares,
  approvals, automation runs, list and export filters, report filters, as the target of a lookup
  or the parent of a master-detail child in a write (single and bulk), and on the pages;
- a parent they may read but not edit, as the parent of a master-detail child: the same again;
- an object they may not read (``vault``) against an unknown one (``vaulx``, one letter away, so
  that a did-you-mean naming the hidden one would show);
- a field hidden from them (``cost_basis``, the lookup to ``vault``, a formula over the hidden
  field, a roll-up over ``vault``) against an unknown field one letter away, in ``where=``,
  ``order_by=``, ``fields=``, filters, writes, exports, ``/formula/check``, reports and analytics.

Both answers are compared after replacing the probed name or id (and only it) by a placeholder:
status, content type, the headers that describe the body, and the body's bytes. ``tests/security/
test_leaks.py`` compares whole organisations instead (A, B and C); this test needs one, and
compares bytes.
"""
from __future__ import annotations

import re

import pytest

from tests.security.worlds import worlds_on
from tests.ui_renderer.live import csrf_of, sign_in

NOT_FOUND = 404
HEADERS = ("Content-Type", "ETag", "Location", "Content-Disposition", "Allow", "Retry-After")

# -- the doors ----------------------------------------------------------------------------------
# (method, url, query, body); "{rid}" is the probed record id, other "{symbol}" come from the world.

RECORD_DOORS = [
    ("GET", "/api/v1/records/deal/{rid}", None, None),
    ("GET", "/api/v1/records/deal/{rid}", {"fields": "name,stage"}, None),
    ("GET", "/api/v1/records/deal/{rid}", {"include_deleted": "true"}, None),
    ("PATCH", "/api/v1/records/deal/{rid}", None, {"name": "y"}),
    ("PATCH", "/api/v1/records/deal/{rid}", None, {"cost_basis": 1}),
    ("PATCH", "/api/v1/records/deal/{rid}", None, {"stage": "Nope"}),
    ("PUT", "/api/v1/records/deal/{rid}", None, {"name": "y", "stage": "New"}),
    ("DELETE", "/api/v1/records/deal/{rid}", None, None),
    ("POST", "/api/v1/records/deal/{rid}/restore", None, None),
    ("GET", "/api/v1/records/deal/{rid}/history", None, None),
    ("GET", "/api/v1/records/deal/{rid}/history", {"field": "name"}, None),
    ("GET", "/api/v1/records/deal/{rid}/shares", None, None),
    ("POST", "/api/v1/records/deal/{rid}/shares", None, {"user": "rep", "access": "edit"}),
    ("POST", "/api/v1/records/deal/{rid}/shares", None, {"user": "peer", "access": "read"}),
    ("DELETE", "/api/v1/records/deal/{rid}/shares/peer", None, None),
    ("DELETE", "/api/v1/records/deal/{rid}/shares/rep", None, None),
    ("GET", "/api/v1/records/deal/{rid}/approval", None, None),
    ("POST", "/api/v1/records/deal/{rid}/approval/submit", None, {}),
    ("POST", "/api/v1/records/deal/{rid}/approval/submit", None, {"process": "review", "comment": "c"}),
    ("POST", "/api/v1/records/deal/{rid}/approval/approve", None, {}),
    ("POST", "/api/v1/records/deal/{rid}/approval/reject", None, {}),
    ("POST", "/api/v1/records/deal/{rid}/approval/recall", None, {}),
    ("POST", "/api/v1/records/deal/{rid}/approval/reassign", None, {"to": "peer"}),
    ("GET", "/api/v1/records/deal/{rid}/runs", None, None),
    ("GET", "/api/v1/records/deal", {"id": "{rid}", "with_total": "true"}, None),
    ("GET", "/api/v1/records/deal", {"where": "id = '{rid}'", "with_total": "true"}, None),
    ("GET", "/api/v1/records/deal", {"id__in": "{rid},{d1}", "with_total": "true"}, None),
    ("GET", "/api/v1/records/deal/export", {"id": "{rid}"}, None),
    ("GET", "/api/v1/records/deal/export", {"where": "id = '{rid}'"}, None),
    ("GET", "/api/v1/records/memo", {"deal": "{rid}", "with_total": "true"}, None),
    ("GET", "/api/v1/records/memo", {"where": "deal = '{rid}'", "with_total": "true"}, None),
    ("GET", "/api/v1/records/memo/export", {"deal": "{rid}"}, None),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "deal", "filter": "id = '{rid}'",
                                           "aggregates": [{"function": "count"}]}),
    # a lookup to the record in a write: single, bulk, update
    ("POST", "/api/v1/records/memo", None, {"name": "m", "deal": "{rid}"}),
    ("POST", "/api/v1/records/memo", None, [{"name": "m", "deal": "{d1}"}, {"name": "m", "deal": "{rid}"}]),
    ("PATCH", "/api/v1/records/memo/{memo}", None, {"deal": "{rid}"}),
    ("PUT", "/api/v1/records/memo/{memo}", None, {"name": "m", "deal": "{rid}"}),
    # the record as the parent of a master-detail child
    ("POST", "/api/v1/records/line", None, {"name": "l", "deal": "{rid}", "qty": 1}),
    ("POST", "/api/v1/records/line", None, [{"name": "l", "deal": "{d1}"}, {"name": "l", "deal": "{rid}"}]),
    ("PATCH", "/api/v1/records/line/{line}", None, {"deal": "{rid}"}),
    # the pages
    ("GET", "/o/deal/{rid}", None, None),
    ("GET", "/o/deal/{rid}/edit", None, None),
    ("POST", "/o/deal/{rid}/edit", None, {"name": "y", "stage": "New", "_row_version": "1"}),
    ("POST", "/o/deal/{rid}/delete", None, {}),
    ("POST", "/o/deal/{rid}/restore", None, {}),
    ("POST", "/o/deal/{rid}/approval/submit", None, {}),
    ("POST", "/o/deal/delete", None, {"ids": "{rid}"}),
    ("GET", "/o/memo/new", {"deal": "{rid}"}, None),
    ("GET", "/o/line/new", {"deal": "{rid}"}, None),
    ("POST", "/o/memo/new", None, {"name": "m", "deal": "{rid}"}),
    ("POST", "/o/line/new", None, {"name": "l", "deal": "{rid}"}),
]

# doors where a record the rep may read but not edit must answer as a missing one too (the form
# of a new line may show the name of a parent the rep may read: not these)
PARENT_DOORS = [d for d in RECORD_DOORS if "/line" in d[1] and d[:2] != ("GET", "/o/line/new")]

OBJECT_DOORS = [
    ("GET", "/api/v1/objects/{obj}", None, None),
    ("GET", "/api/v1/objects/{obj}/fields/name", None, None),
    ("GET", "/api/v1/objects/{obj}/fields/secret_code", None, None),
    ("GET", "/api/v1/objects/{obj}/history", None, None),
    ("GET", "/api/v1/objects/{obj}/layouts", None, None),
    ("GET", "/api/v1/objects/{obj}/list_views", None, None),
    ("GET", "/api/v1/objects/{obj}/validation_rules", None, None),
    ("GET", "/api/v1/objects/{obj}/approval_processes", None, None),
    ("GET", "/api/v1/objects/{obj}/approval_processes/review", None, None),
    ("GET", "/api/v1/objects/{obj}/automation_rules", None, None),
    ("POST", "/api/v1/objects/{obj}/fields", None, {"api_name": "x", "type": "text"}),
    ("PATCH", "/api/v1/objects/{obj}", None, {"label": "X"}),
    ("DELETE", "/api/v1/objects/{obj}", None, None),
    ("GET", "/api/v1/records/{obj}", None, None),
    ("GET", "/api/v1/records/{obj}", {"with_total": "true", "where": "secret_code = 'x'"}, None),
    ("GET", "/api/v1/records/{obj}/export", None, None),
    ("POST", "/api/v1/records/{obj}", None, {"name": "x"}),
    ("POST", "/api/v1/records/{obj}", None, [{"name": "x"}]),
    ("GET", "/api/v1/records/{obj}/{orid}", None, None),
    ("PATCH", "/api/v1/records/{obj}/{orid}", None, {"name": "y"}),
    ("DELETE", "/api/v1/records/{obj}/{orid}", None, None),
    ("POST", "/api/v1/records/{obj}/{orid}/restore", None, None),
    ("GET", "/api/v1/records/{obj}/{orid}/history", None, None),
    ("GET", "/api/v1/records/{obj}/{orid}/shares", None, None),
    ("POST", "/api/v1/records/{obj}/{orid}/shares", None, {"user": "rep", "access": "read"}),
    ("GET", "/api/v1/records/{obj}/{orid}/approval", None, None),
    ("POST", "/api/v1/records/{obj}/{orid}/approval/submit", None, {}),
    ("POST", "/api/v1/records/{obj}/{orid}/approval/approve", None, {}),
    ("GET", "/api/v1/records/{obj}/{orid}/runs", None, None),
    ("POST", "/api/v1/formula/check", None, {"object": "{obj}", "formula": "1"}),
    ("POST", "/api/v1/formula/check", None, {"object": "{obj}", "formula": "secret_code"}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "{obj}"}),
    ("GET", "/api/v1/analytics/forecast", {"object": "{obj}"}, None),
    ("GET", "/api/v1/analytics/trend", {"object": "{obj}"}, None),
    ("GET", "/o/{obj}", None, None),
    ("GET", "/o/{obj}/new", None, None),
    ("GET", "/o/{obj}/bin", None, None),
    ("GET", "/o/{obj}/lookup", {"q": "A"}, None),
    ("GET", "/o/{obj}/{orid}", None, None),
    ("POST", "/o/{obj}/new", None, {"name": "x"}),
    ("POST", "/o/{obj}/{orid}/approval/submit", None, {}),
    ("POST", "/o/{obj}/{orid}/delete", None, {}),
]

FIELD_DOORS = [
    ("GET", "/api/v1/records/{obj}", {"where": "ISBLANK({f})"}, None),
    ("GET", "/api/v1/records/{obj}", {"where": "NOT(ISBLANK({f})) && name != ''", "with_total": "true"}, None),
    ("GET", "/api/v1/records/{obj}", {"order_by": "{f}"}, None),
    ("GET", "/api/v1/records/{obj}", {"order_by": "-{f},name"}, None),
    ("GET", "/api/v1/records/{obj}", {"fields": "name,{f}"}, None),
    ("GET", "/api/v1/records/{obj}", {"{f}__isnull": "true"}, None),
    ("GET", "/api/v1/records/{obj}", {"{f}": "1"}, None),
    ("GET", "/api/v1/records/{obj}", {"{f}__gt": "1"}, None),
    ("GET", "/api/v1/records/{obj}/{own}", {"fields": "{f}"}, None),
    ("GET", "/api/v1/records/{obj}/{own}/history", {"field": "{f}"}, None),
    ("POST", "/api/v1/records/{obj}", None, {"name": "x", "stage": "New", "{f}": 1}),
    ("POST", "/api/v1/records/{obj}", None, [{"name": "x", "stage": "New", "{f}": "{vault_record}"}]),
    ("PATCH", "/api/v1/records/{obj}/{own}", None, {"{f}": 1}),
    ("GET", "/api/v1/records/{obj}/export", {"fields": "name,{f}"}, None),
    ("GET", "/api/v1/records/{obj}/export", {"where": "ISBLANK({f})"}, None),
    ("GET", "/api/v1/objects/{obj}/fields/{f}", None, None),
    ("POST", "/api/v1/formula/check", None, {"object": "{obj}", "formula": "{f}"}),
    ("POST", "/api/v1/formula/check", None, {"object": "{obj}", "formula": "ISBLANK({f}) && name = 'x'"}),
    ("POST", "/api/v1/formula/check", None, {"object": "{obj}", "formula": "{f}.name"}),
    ("POST", "/api/v1/formula/check", None, {"object": "memo", "formula": "ISBLANK({from_memo}{f})"}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "{obj}", "columns": ["name", "{f}"]}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "{obj}", "filter": "ISBLANK({f})"}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "{obj}", "group_by": [{"field": "{f}"}],
                                           "aggregates": [{"function": "count"}]}),
    ("POST", "/api/v1/reports/run", None, {"name": "r", "object": "{obj}",
                                           "aggregates": [{"function": "sum", "field": "{f}"}]}),
    ("GET", "/api/v1/analytics/forecast", {"object": "{obj}", "amount": "{f}"}, None),
    ("GET", "/api/v1/analytics/trend", {"object": "{obj}", "field": "{f}"}, None),
    ("GET", "/o/{obj}", {"where": "ISBLANK({f})"}, None),
    ("GET", "/o/{obj}", {"sort": "{f}"}, None),
]

# (object, a field hidden from the rep, an unknown field one letter away, a record of theirs, the
# path from a memo to the object)
HIDDEN_FIELDS = [("deal", "cost_basis", "cost_basiz", "d1", "deal."), ("deal", "vault_ref", "vault_rex", "d1", "deal."),
                 ("deal", "margin_calc", "margin_calx", "d1", "deal."),
                 ("account", "vault_count", "vault_counx", "acme", "deal.account.")]


# -- the organisation -----------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def org(tmp_path_factory, request):
    """World A of ``worlds.py`` plus two objects the rep may use: ``memo`` (a lookup to deal) and
    ``line`` (a master-detail child of deal, summed on deal), an approval process on deal, the
    rep's own memo and line, and the rep signed in on the pages."""
    with worlds_on(request.param, tmp_path_factory, ("A",)) as worlds:
        world = worlds["A"]
        admin = world.admin

        def ok(r):
            assert r.status_code in (200, 201), (r.status_code, r.get_json())
            return r.get_json()

        ok(admin.post("/api/v1/objects", json={"api_name": "memo", "label": "Memo", "fields": [
            {"api_name": "deal", "label": "Deal", "type": "lookup", "target": "deal"}]}))
        ok(admin.post("/api/v1/objects", json={"api_name": "line", "label": "Line", "fields": [
            {"api_name": "deal", "label": "Deal", "type": "master_detail", "target": "deal"},
            {"api_name": "qty", "label": "Qty", "type": "number"}]}))
        ok(admin.post("/api/v1/objects/deal/fields", json={
            "api_name": "line_qty", "label": "Line Qty", "type": "roll_up_summary",
            "summary": {"object": "line", "function": "sum", "field": "qty"}}))
        ok(admin.post("/api/v1/objects/deal/approval_processes", json={
            "name": "review", "label": "Review", "entry_criteria": "TRUE",
            "steps": [{"name": "boss", "label": "Boss", "approvers": [{"type": "user", "user": "admin"}]}]}))
        ok(admin.post("/api/v1/permission_sets", json={
            "api_name": "notes", "objects": {o: {"read": True, "create": True, "edit": True, "delete": True}
                                             for o in ("memo", "line")}}))
        ok(admin.post("/api/v1/users/rep/permission_sets", json={"permission_set": "notes"}))
        world.ids["memo"] = ok(world.rep.post("/api/v1/records/memo",
                                              json={"name": "m0", "deal": world.ids["d1"]}))["id"]
        world.ids["line"] = ok(world.rep.post("/api/v1/records/line", json={"name": "l0", "deal": world.ids["d1"],
                                                                            "qty": 1}))["id"]
        client = world.app.test_client()
        assert sign_in(client, "rep", "password-123").status_code == 303
        world.pages = client
        yield world


def _call(world, method, template, query, body, subst):
    """The rep's raw answer, ``subst`` (placeholder -> value) filled into the request."""
    names = dict(world.ids, **subst)

    def fill(value):
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            return re.sub(r"\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), value)
        return value

    url, query, body = fill(template), fill(query or {}), fill(body)
    if url.startswith("/o/"):
        if method == "GET":
            return world.pages.get(url, query_string=query)
        form = dict(body or {})
        form["csrf_token"] = csrf_of(world.pages.get("/").text)
        # follow the redirect: the message shown on the next page is part of the answer
        return world.pages.post(url, data=form, query_string=query, follow_redirects=True)
    api = world.rep
    kw = {"json": body} if body is not None else {}
    return getattr(api, method.lower())(url, query_string=query, **kw)


def _seen(world, method, template, query, body, subst, secret):
    """(status, headers, body bytes) with ``secret`` (the probed value) replaced by a placeholder."""
    r = _call(world, method, template, query, body, subst)
    assert r.status_code < 500, (method, template, query, body, r.status_code, r.get_data(as_text=True)[:500])
    raw = r.get_data()
    value = subst[secret].encode()
    headers = tuple((h, r.headers.get(h, "").replace(subst[secret], "<P>")) for h in HEADERS)
    if r.mimetype == "text/html":   # a page carries the session's CSRF token, made afresh per page
        raw = re.sub(rb'name="csrf_token" value="[^"]+"', b'name="csrf_token" value=""', raw)
        raw = re.sub(rb'<meta name="csrf-token" content="[^"]+"', b'<meta name="csrf-token" content=""', raw)
    return r.status_code, headers, raw.replace(value, b"<P>")


def _differences(world, doors, pairs):
    """The doors (and pairs) where the two answers are not the same bytes."""
    out = []
    for door in doors:
        for hidden, unknown, secret in pairs:
            a = _seen(world, *door, hidden, secret)
            b = _seen(world, *door, unknown, secret)
            if a != b:
                out.append(f"{door} {hidden[secret]!r} vs {unknown[secret]!r}:\n{_explain(a, b)}")
    return out


def _missing_near(rid):
    """An id that exists nowhere, of the same shape as ``rid`` and close to it."""
    return rid[:-6] + ("ffffff" if rid[-6:] != "ffffff" else "eeeeee")


# -- the tests --------------------------------------------------------------------------------------

def test_a_private_record_answers_as_a_missing_one_on_every_door(org):
    pairs = []
    for symbol in ("invisible_deal", "admin_deal"):
        rid = org.ids[symbol]
        for missing in (org.ids["missing"], _missing_near(rid)):
            pairs.append(({"rid": rid}, {"rid": missing}, "rid"))
    diffs = _differences(org, RECORD_DOORS, pairs)
    assert not diffs, "\n\n".join(diffs)
    # and it is a 404 where a record is named in the path
    for symbol in ("invisible_deal", "admin_deal", "missing"):
        r = org.rep.get(f"/api/v1/records/deal/{org.ids[symbol]}")
        assert r.status_code == NOT_FOUND


def test_a_parent_the_rep_may_not_edit_answers_as_a_missing_one(org):
    """d3 is shared with the rep for reading only: it may not be the parent of their line."""
    assert org.rep.get(f"/api/v1/records/deal/{org.ids['d3']}").status_code == 200
    pairs = [({"rid": org.ids["d3"]}, {"rid": missing}, "rid")
             for missing in (org.ids["missing"], _missing_near(org.ids["d3"]))]
    diffs = _differences(org, PARENT_DOORS, pairs)
    assert not diffs, "\n\n".join(diffs)


def test_an_unreadable_object_answers_as_an_unknown_one_on_every_door(org):
    missing = org.ids["missing"]
    pairs = [({"obj": "vault", "orid": org.ids["vault_record"]}, {"obj": "vaulx", "orid": missing}, "obj")]
    # the record ids differ too: compare with both replaced
    diffs = []
    for door in OBJECT_DOORS:
        for hidden, unknown, _ in pairs:
            a = _strip(_seen(org, *door, hidden, "obj"), hidden["orid"])
            b = _strip(_seen(org, *door, unknown, "obj"), unknown["orid"])
            if a != b:
                diffs.append(f"{door}:\n{_explain(a, b)}")
    assert not diffs, "\n\n".join(diffs)


def test_a_hidden_field_answers_as_an_unknown_one_on_every_door(org):
    diffs = []
    for obj, hidden, unknown, own, from_memo in HIDDEN_FIELDS:
        extra = {"obj": obj, "own": org.ids[own], "from_memo": from_memo}
        pairs = [(dict(extra, f=hidden), dict(extra, f=unknown), "f")]
        diffs += _differences(org, FIELD_DOORS, pairs)
    assert not diffs, "\n\n".join(diffs)


def test_formula_check_names_nothing_hidden(org):
    """Not even in a did-you-mean: a name one letter from a hidden field or an unreadable object."""
    for obj, formula in [("deal", "cost_basi > 1"), ("deal", "cost_basis_ > 1"), ("deal", "margin_cal"),
                         ("deal", "vault_re"), ("deal", "vault_ref.secret_cod"), ("account", "vault_coun + 1"),
                         ("deal", "account.vault_coun"), ("deal", "COST_BASIS"), ("vaults", "1"), ("vaul", "1"),
                         ("memo", "deal.cost_basi"), ("line", "deal.margin_cal")]:
        r = org.rep.post("/api/v1/formula/check", json={"object": obj, "formula": formula})
        assert r.status_code < 500
        text = r.get_data(as_text=True)
        for secret in ("cost_basis", "margin_calc", "vault", "secret_code", "Cost Basis", "Vault"):
            if secret.lower() not in formula.lower() and secret.lower() not in obj:
                assert secret not in text, (obj, formula, text)
        # the admin gets the did-you-mean the rep does not
    r = org.admin.post("/api/v1/formula/check", json={"object": "deal", "formula": "cost_basi > 1"})
    assert "cost_basis" in r.get_data(as_text=True)


def _strip(seen, value):
    status, headers, raw = seen
    return status, tuple((h, v.replace(value, "<R>")) for h, v in headers), raw.replace(value.encode(), b"<R>")


def _explain(a, b):
    """Both answers' status and headers, and the bodies from the first byte where they part."""
    at = next((i for i, (x, y) in enumerate(zip(a[2], b[2])) if x != y), min(len(a[2]), len(b[2])))
    start = max(0, at - 200)
    return (f"  {a[0]} {[h for h in a[1] if h[1]]}\n  {b[0]} {[h for h in b[1] if h[1]]}\n"
            f"  ...{a[2][start:at + 300]!r}\n  ...{b[2][start:at + 300]!r}")


def test_the_services_answer_so_whatever_the_door(org):
    """The rule lives below the doors: the approval service and the record service answer an
    unreadable object as an unknown one, and a private record as a missing one, called directly."""
    from engine.errors import EngineError

    services = org.app.extensions["tessera"]
    actor = services.actor("rep")
    approvals = services.extensions["approvals"]
    records = services.records()

    def refusal(call):
        with pytest.raises(EngineError) as info:
            call()
        err = info.value
        return type(err).__name__, getattr(err, "code", None), str(getattr(err, "message", err))

    missing = org.ids["missing"]
    for hidden, unknown in [(("vault", org.ids["vault_record"]), ("vaulx", missing)),
                            (("deal", org.ids["invisible_deal"]), ("deal", missing))]:
        for call in (lambda o, r: approvals.submit(o, r, actor), lambda o, r: approvals.approve(o, r, actor),
                     lambda o, r: approvals.approval(o, r, actor), lambda o, r: records.get(o, r, actor),
                     lambda o, r: records.update(o, r, {"name": "y"}, actor), lambda o, r: records.delete(o, r, actor)):
            a = refusal(lambda: call(*hidden))
            b = refusal(lambda: call(*unknown))
            assert (a[0], a[1], a[2].replace(hidden[0], "<O>").replace(hidden[1], "<R>")) == \
                (b[0], b[1], b[2].replace(unknown[0], "<O>").replace(unknown[1], "<R>")), (hidden, a, b)
