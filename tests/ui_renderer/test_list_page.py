"""The list page's fast paths give the answers of the slow ones: cells written as text equal the
column formatters, the kept content equals a fresh rendering and carries each request's own CSRF
token, rows and pager, and is dropped when its key changes (metadata, language, another reader);
lookup names come from one statement with the reader's checks; the record service builds the JSON
of the asked fields only, as it was."""
from __future__ import annotations

import re

import pytest
from flask import g
from flask_babel import gettext as _

from engine.security import SYSTEM_ACTOR
from tests.ui_renderer.test_page_caches import VALUES, _outcome

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _content(html):
    """The page's content (between the frame's <main> tags), its CSRF tokens replaced."""
    return TOKEN.sub('name="csrf_token" value=""', html.split("<main", 1)[1].split("</main>", 1)[0])


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_a_cell_writer_writes_what_the_column_formatter_writes(app, services, crm_pages, locale):
    from engine.ui_renderer.listing import _cell_writer
    from engine.ui_renderer.viewmodels import DisplayContext

    snapshot = services.snapshots.refresh()
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        g._tessera_locale = locale
        for obj in ("deal", "account"):
            rt = snapshot.get(obj)
            ctx = DisplayContext(snapshot, {"acc-1": "Acme <Ltd>", "acc-2": ""}, {"u-1": "admin"}, compact=True)
            for name in list(rt.ftypes) + ["owner_id", "created_at", "created_by", "id"]:
                fmt = ctx.formatter(rt, name)
                write = _cell_writer(ctx, rt, name, _("(no name)"), _("(not visible)"))
                for value in VALUES + ["acc-1", "acc-2", "u-1", "2025-03-01"] * 2:   # twice: the kept texts
                    if value in ("", None, []):
                        continue
                    assert _outcome(write, value) == _outcome(fmt, value), (obj, name, value)


def test_the_kept_content_equals_a_fresh_one_with_the_requests_own_parts(app, admin_pages, crm_pages):
    for k in range(30):
        crm_pages.post("/api/v1/records/deal", json={"name": f"Deal <{k}>", "stage": "New", "amount": k})
    kept = app.extensions.setdefault("tessera.list_content", {})
    for url in ("/o/deal", "/o/deal?sort=-amount&q=deal", "/o/deal?where=bad((", "/o/deal?q=nothing-matches"):
        kept.clear()
        fresh = admin_pages.get(url)
        assert len(kept) == 1
        again = admin_pages.get(url)
        assert len(kept) == 1 and again.status_code == fresh.status_code
        assert _content(again.text) == _content(fresh.text)
        # one token per page, the session's own (the frame's sign-out form carries the same)
        assert len(set(TOKEN.findall(again.text))) == 1
    # the rows and the pager's links are the request's own: the second page is not the first
    first = admin_pages.get("/o/deal").text
    nxt = re.search(r'href="([^"]*cursor=[^"]*)" rel="next"', first).group(1).replace("&amp;", "&")
    second = admin_pages.get(nxt).text
    assert 'rel="prev"' in second and "Deal &lt;29&gt;" in first and "Deal &lt;29&gt;" not in second


def test_the_kept_content_follows_metadata_language_and_reader(app, admin_pages, rep_pages, crm_pages,
                                                                monkeypatch):
    from engine.ui_renderer import listing

    kept = app.extensions.setdefault("tessera.list_content", {})
    kept.clear()
    admin = admin_pages.get("/o/deal").text
    assert "Share with everyone" in admin            # an admin may share a view
    rep = rep_pages.get("/o/deal").text
    assert "Share with everyone" not in rep and len(kept) == 2
    # a new metadata version: a new key, the new label at once
    assert crm_pages.patch("/api/v1/objects/deal", json={"plural_label": "Opportunities"}).status_code == 200
    assert "<h1>Opportunities" in admin_pages.get("/o/deal").text
    # the language
    assert admin_pages.post("/locale", {"locale": "zh_CN", "next": "/"}).status_code == 303
    zh = admin_pages.get("/o/deal").text
    assert "Save as view" not in zh and "Save as view" in rep_pages.get("/o/deal").text
    # bounded: the oldest goes
    monkeypatch.setattr(listing, "CONTENT_CACHE_SIZE", 3)
    kept.clear()
    for k in range(6):
        assert admin_pages.get(f"/o/deal?q=x{k}").status_code == 200
        assert len(kept) <= 3
    assert ("x5" in str(list(kept))) and ("x0" not in str(list(kept)))

def test_a_private_view_is_kept_for_its_owner_only(app, services, admin_pages, rep_pages, crm_pages):
    services.store.save_own_list_view("deal", {"name": "mine", "label": "Rep's own <view>", "columns": ["name"]},
                                      actor=services.actor("rep"))
    assert "Rep&#39;s own &lt;view&gt;" in rep_pages.get("/o/deal").text
    assert "Rep&#39;s own" not in admin_pages.get("/o/deal").text
    assert "Rep&#39;s own" not in admin_pages.get("/o/deal?view=mine").text


def test_lookup_names_come_with_the_readers_checks(app, services, admin_pages, rep_pages, crm_pages):
    assert crm_pages.patch("/api/v1/objects/account", json={"sharing": "private"}).status_code == 200
    services.store.update_object("deal", {"list_views": [{"name": "by_account", "columns": ["name", "account"]}]},
                                 services.actor("admin"))
    hidden = crm_pages.post("/api/v1/records/account", json={"name": "Hidden <Co>"}).get_json()
    gone = crm_pages.post("/api/v1/records/account", json={"name": "Gone Co"}).get_json()
    for acc in (hidden, gone):
        crm_pages.post("/api/v1/records/deal", json={"name": f"On {acc['name']}", "stage": "New", "account": acc["id"]})
    assert crm_pages.delete(f"/api/v1/records/account/{gone['id']}").status_code in (200, 204)
    mine = admin_pages.get("/o/deal?view=by_account").text
    assert f'<a href="/o/account/{hidden["id"]}">Hidden &lt;Co&gt;</a>' in mine
    assert f'<span class="muted" title="{gone["id"]}">(not visible)</span>' in mine
    theirs = rep_pages.get("/o/deal?view=by_account").text
    assert f'href="/o/account/{hidden["id"]}"' not in theirs and f'title="{hidden["id"]}">(not visible)' in theirs
    # the service: the same names as a list of the ids, for each reader
    svc = services.records()
    ids = [hidden["id"], gone["id"], "no-such-id"]
    for actor in (services.actor("admin"), services.actor("rep"), SYSTEM_ACTOR):
        listed = svc.list("account", actor, filters={"id__in": ",".join(ids)}, fields=["name"], limit=10)
        assert svc.names_of("account", ids, actor) == {r["id"]: r["name"] or "" for r in listed["records"]}
    with pytest.raises(Exception) as exc:
        svc.names_of("account", ids, services.actor("nobody"))
    assert getattr(exc.value, "code", None) == "metadata.E041"


def test_the_json_of_asked_fields_is_the_whole_records_cut(services, crm_pages):
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Acme"}).get_json()
    crm_pages.post("/api/v1/records/deal", json={"name": "A", "stage": "New", "amount": 10, "account": acc["id"]})
    crm_pages.post("/api/v1/records/deal", json={"name": "B", "stage": "Won"})
    svc = services.records()
    rt = svc.snapshot.get("deal")
    whole = svc.list("deal", SYSTEM_ACTOR, limit=10)["records"]
    names = list(whole[0])
    for fields in (["name"], ["amount", "name", "created_at"], names, names[::-1], ["account", "deleted_at"],
                   [n for n in rt.ftypes if rt.ftypes[n].computed] or ["name"]):
        cut = svc.list("deal", SYSTEM_ACTOR, limit=10, fields=fields)["records"]
        keep = set(fields) | {"id"}
        assert [list(r.items()) for r in cut] == [[(k, v) for k, v in r.items() if k in keep] for r in whole]


def test_a_formula_record_is_the_same_from_a_row_and_from_values(services, crm_pages):
    from sqlalchemy import select

    from engine.records.formulas import record_for_formula

    crm_pages.post("/api/v1/records/deal", json={"name": "A", "stage": "New", "amount": 10})
    rt = services.records().snapshot.get("deal")
    with services.engine.connect() as conn:
        row = conn.execute(select(rt.table)).mappings().first()
    slow = {k: row.get(k) for k in ("id", "name", "owner_id", "created_at", "updated_at")}
    fast = record_for_formula(rt, row)
    assert all(fast[k] == v for k, v in slow.items()) and fast["amount"] == row[rt.stored["amount"].column]
    partial = record_for_formula(rt, {"amount": 3})     # a write's values: absent columns read None
    assert partial["amount"] == 3 and partial["name"] is None and set(partial) == set(fast)
