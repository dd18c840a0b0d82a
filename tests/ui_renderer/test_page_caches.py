"""The pages' fast paths keep every answer the same: the detail page reads its record once, the
navigation cached per (snapshot, permission plan, language) follows metadata, permission and
language changes and is never shared between users, a list column's formatter writes what
``display`` writes, and the templates' gettext honours ``force_locale``."""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

import pytest
from flask import g, render_template_string
from flask_babel import force_locale
from flask_babel import gettext as babel_gettext

SECRET = {"api_name": "secret", "label": "Secret", "plural_label": "Secrets",
          "label_i18n": {"zh_CN": "机密"}, "plural_label_i18n": {"zh_CN": "机密档案"}}


def test_the_detail_page_reads_its_record_once(admin_pages, crm_pages, deal_selects):
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New"}).get_json()
    deal_selects.clear()
    page = admin_pages.get(f"/o/deal/{rec['id']}")
    assert page.status_code == 200 and "Acme" in page.text
    # the page, the approval panel and the run log each ask the record service for it
    assert len(deal_selects) == 1, deal_selects


def test_the_detail_page_still_checks_the_reader(rep_pages, nobody_pages, crm_pages):
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New"}).get_json()
    assert rep_pages.get(f"/o/deal/{rec['id']}").status_code == 200
    assert nobody_pages.get(f"/o/deal/{rec['id']}").status_code == 404


def _nav(html):
    head = html.split('<nav class="site-nav"', 1)[1].split("</nav>", 1)[0]
    return head


def test_navigation_follows_metadata_permissions_and_language(admin_pages, rep_pages, crm_pages):
    assert "/o/secret" not in _nav(admin_pages.get("/").text)
    assert crm_pages.post("/api/v1/objects", json=SECRET).status_code == 201
    admin_nav = _nav(admin_pages.get("/").text)           # a new metadata version: at once
    assert 'href="/o/secret">Secrets</a>' in admin_nav
    # cached for the admin's plan, never handed to the rep (who may not read it)
    assert "/o/secret" not in _nav(rep_pages.get("/").text)
    assert "/o/secret" not in _nav(rep_pages.get("/o/deal").text)
    # a permission change is a new plan: the rep's next page shows it
    ps = {"api_name": "secrets", "label": "Secrets", "objects": {"secret": {"read": True}}}
    assert crm_pages.post("/api/v1/permission_sets", json=ps).status_code == 201
    assert crm_pages.post("/api/v1/users/rep/permission_sets", json={"permission_set": "secrets"}).status_code == 201
    assert 'href="/o/secret">Secrets</a>' in _nav(rep_pages.get("/").text)
    # and the language: the labels of the user's new locale
    assert admin_pages.post("/locale", {"locale": "zh_CN", "next": "/"}).status_code == 303
    zh_nav = _nav(admin_pages.get("/").text)
    assert 'href="/o/secret">机密档案</a>' in zh_nav and "Secrets" not in zh_nav
    assert 'href="/o/secret">Secrets</a>' in _nav(rep_pages.get("/").text)


def test_navigation_lists_are_the_callers_own(app, services, crm_pages):
    from engine.ui_renderer.viewmodels import navigation

    with app.test_request_context("/"):
        actor = services.actor("admin")
        snapshot = services.snapshots.refresh()
        first = navigation(snapshot, actor)
        first.clear()
        again = navigation(snapshot, actor)
        assert [o.name for o in again] == ["account", "deal"]
        assert again[0].url == "/o/account"


VALUES = [True, False, 0, 1, -7, 2.5, -1234.567, 1e21, Decimal("1.50"), "", "text", "<b>x</b>", "New",
          "a", "2025-03-01", "2025-03-01T09:30:00Z", "https://example.com/?a=1&b=<2>", "+1 (555) 010",
          "x@example.com", ["a", "c"], ["<i>"], "Line one\nLine two"]


def _outcome(fn, value):
    try:
        return ("ok", str(fn(value)))
    except Exception as exc:     # noqa: BLE001  the same failure counts as the same answer
        return ("error", type(exc))


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_a_column_formatter_writes_what_display_writes(app, services, crm_pages, locale):
    from engine.ui_renderer.viewmodels import DisplayContext

    snapshot = services.snapshots.refresh()
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        g._tessera_locale = locale
        for obj in ("deal", "account"):
            rt = snapshot.get(obj)
            ctx = DisplayContext(snapshot, {"acc-1": "Acme <Ltd>"}, {"u-1": "admin"}, compact=True)
            names = list(rt.ftypes) + ["name", "owner_id", "created_at", "created_by", "id"]
            for name in names:
                fmt = ctx.formatter(rt, name)
                for value in VALUES + ["acc-1", "u-1", _dt.date(2025, 3, 1)]:
                    if value in ("", None, []):
                        continue        # the list leaves an empty cell empty and never formats it
                    assert _outcome(fmt, value) == _outcome(lambda v: ctx.display(rt, name, v), value), \
                        (obj, name, value)


def test_list_cells_are_escaped(admin_pages, crm_pages):
    crm_pages.post("/api/v1/records/deal", json={"name": "<script>x</script>", "stage": "New",
                                                 "contact_email": "a&b@example.com"})
    html = admin_pages.get("/o/deal").text
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_template_gettext_follows_force_locale(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert render_template_string("{{ _('Home') }}") == "Home"
        with force_locale("zh_CN"):
            zh = babel_gettext("Home")
            assert zh != "Home" and render_template_string("{{ _('Home') }}") == zh
        assert render_template_string("{{ _('Home') }}") == "Home"


def test_navigation_cache_lives_on_its_snapshot(app, services, crm_pages):
    from engine.ui_renderer import viewmodels

    with app.test_request_context("/"):
        actor = services.actor("admin")
        old = services.snapshots.refresh()
        viewmodels.navigation(old, actor)
        assert len(old.documents[viewmodels.NAV_KEY]) == 1
        assert crm_pages.post("/api/v1/objects", json=SECRET).status_code == 201
        new = services.snapshots.refresh()
        assert new is not old and viewmodels.NAV_KEY not in new.documents
        assert "secret" in [o.name for o in viewmodels.navigation(new, actor)]
        assert "secret" not in [o.name for o in viewmodels.navigation(old, actor)]


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_kept_template_gettext_writes_what_jinja_writes(app, locale):
    from jinja2 import Environment
    from jinja2.ext import _make_new_gettext

    from engine.ui_renderer import i18n

    # Jinja's own newstyle gettext over the same catalogue: what the templates wrote before
    plain = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    plain.install_gettext_callables(gettext=lambda s: i18n._request_translations().ugettext(s),
                                    ngettext=lambda s, p, n: s, newstyle=True)
    assert plain.globals["gettext"].__code__ is _make_new_gettext(None).__code__
    texts = ["Home", "Sign out", "Save view", "100%% sure", "<b>not markup</b>", "a & b", "no such string",
             "Unticked: only you see this view."]
    sources = [f"{{{{ _({t!r}) }}}}" for t in texts] + [
        "{{ _('No %(objects)s yet', objects='<Deals>') }}", "{{ _('Home') }}{{ _('Home') }}",
        "{% autoescape false %}{{ _('a & b') }}{% endautoescape %}"]
    with app.test_request_context("/", headers={"Accept-Language": locale}):
        for _round in range(2):        # the second round reads what the first kept
            for source in sources:
                assert render_template_string(source) == plain.from_string(source).render(), source
        with force_locale("en" if locale == "zh_CN" else "zh_CN"):
            for source in sources:
                assert render_template_string(source) == plain.from_string(source).render(), source
        # a string no template has, over and over: kept up to a bound, never more
        dynamic = app.jinja_env.from_string("{{ _(t) }}")
        for k in range(i18n.GETTEXT_KEPT + 10):
            assert dynamic.render(t=f"dynamic {k}") == f"dynamic {k}"
        assert len(i18n._request_translations().__dict__["_tessera_kept"]) <= i18n.GETTEXT_KEPT


@pytest.mark.parametrize("args", [{}, {"q": "SORTSLOT0 & co", "sort": "-amount"}, {"where": "amount > 5 && name = 'a b'"},
                                  {"sort": "name"}, {"view": "no_such_view", "q": "x/y?z#"}])
def test_sort_links_are_what_url_for_writes(app, services, crm_pages, args):
    from flask import url_for
    from werkzeug.datastructures import MultiDict

    from engine.ui_renderer.listing import build_list_page

    with app.test_request_context("/o/deal"):
        actor = services.actor("admin")
        svc = services.records()
        rt = svc.snapshot.get("deal")
        g.actor = actor
        page = build_list_page(svc, actor, rt, MultiDict(args), hidden=set())
        assert page.columns and not page.error
        params = {"obj": "deal", **({"view": page.view} if page.view else {}),
                  **{k: args[k] for k in ("q", "where") if k in args}}
        for col in page.columns:
            if col.sortable:
                current = page.sort.lstrip("-") == col.name
                new = f"-{col.name}" if current and not page.sort.startswith("-") else col.name
                assert col.sort_url == url_for("pages.list_view", **dict(params, sort=new))


def test_a_detail_pages_lookup_is_named_only_for_a_reader_who_may_see_it(admin_pages, rep_pages, crm_pages):
    # one target record: read through the service's get (object right and visibility) by the page's reader
    assert crm_pages.patch("/api/v1/objects/account", json={"sharing": "private"}).status_code == 200
    acc = crm_pages.post("/api/v1/records/account", json={"name": "Hidden <Co>"}).get_json()
    deal = crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New",
                                                        "account": acc["id"]}).get_json()
    mine = admin_pages.get(f"/o/deal/{deal['id']}").text
    assert f'<a href="/o/account/{acc["id"]}">Hidden &lt;Co&gt;</a>' in mine
    theirs = rep_pages.get(f"/o/deal/{deal['id']}")
    assert theirs.status_code == 200 and "Hidden" not in theirs.text
    assert f'<span class="muted" title="{acc["id"]}">(not visible)</span>' in theirs.text


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_a_kept_reading_plan_is_the_one_built(app, services, crm_pages, locale):
    """The record page's layout plan, kept per (snapshot, object, hidden fields, language), is the
    one built afresh; another hidden set or language is another entry; a metadata change drops it."""
    from engine.ui_renderer import viewmodels

    snap = services.snapshots.refresh()
    with app.test_request_context("/", headers={"Accept-Language": locale.replace("_", "-")}):
        # no actor: the language is the browser's (Accept-Language)
        g.actor, g.snapshot, rt = None, snap, snap.get("deal")
        for hidden in (set(), {"amount"}, {"amount", "stage"}):
            kept = viewmodels.reading_plan(rt, hidden)
            assert kept == viewmodels._build_reading_plan(rt, hidden)
            assert viewmodels.reading_plan(rt, set(hidden)) is kept
            assert all(n not in hidden for _l, _c, names in kept[0] for n, _lb, _fd in names)
        assert len(snap.documents[viewmodels.PLAN_KEY]) == 3
        labels = [lb for _l, _c, names in viewmodels.reading_plan(rt, set())[0] for _n, lb, _fd in names]
        assert ("名称" in labels) == (locale == "zh_CN")
        assert {k[2] for k in snap.documents[viewmodels.PLAN_KEY]} == {locale}
    assert crm_pages.patch("/api/v1/objects/deal", json={"label": "Opportunity"}).status_code == 200
    new = services.snapshots.refresh()
    assert new is not snap and viewmodels.PLAN_KEY not in new.documents


def test_a_kept_reading_plan_follows_the_readers_hidden_fields(admin_pages, nobody_pages, crm_pages):
    ps = {"api_name": "no_amount", "label": "No amount", "objects": {"deal": {"read": True}},
          "fields": {"deal": {"amount": "hidden"}}}
    assert crm_pages.post("/api/v1/permission_sets", json=ps).status_code == 201
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New", "amount": 1234}).get_json()
    assert 'data-field="amount"' in admin_pages.get(f"/o/deal/{rec['id']}").text
    assert crm_pages.post("/api/v1/users/nobody/permission_sets", json={"permission_set": "no_amount"}).status_code \
        == 201
    assert 'data-field="amount"' not in nobody_pages.get(f"/o/deal/{rec['id']}").text
    assert "1,234" not in nobody_pages.get(f"/o/deal/{rec['id']}").text
    assert 'data-field="amount"' in admin_pages.get(f"/o/deal/{rec['id']}").text


def _user_reads(services):
    seen = []

    def note(conn, cursor, statement, params, context, executemany):
        if statement.startswith("SELECT tessera_users.id, tessera_users.username \nFROM tessera_users"):
            seen.append(params)
    from sqlalchemy import event
    event.listen(services.engine, "before_cursor_execute", note)
    return seen, lambda: event.remove(services.engine, "before_cursor_execute", note)


def test_kept_user_names_equal_the_read_ones_per_database_and_bounded(app, services, crm_pages, monkeypatch):
    from engine.security.users import create_user
    from engine.ui_renderer import auth

    people = {create_user(services.engine, f"person{i}")["id"]: f"person{i}" for i in range(5)}
    ids = list(people) + ["no-such-user", None]
    seen, stop = _user_reads(services)
    try:
        with app.test_request_context("/"):
            auth._NAMES_KEPT.pop(services.engine, None)
            assert auth.user_names(ids) == people and len(seen) == 1        # read once
            assert auth.user_names(ids) == people and len(seen) == 2        # the unknown id is read again
            assert auth.user_names(list(people)[:3]) == {i: people[i] for i in list(people)[:3]}
            assert len(seen) == 2                                           # kept: no statement
            assert auth._NAMES_KEPT[services.engine] == people
            monkeypatch.setattr(auth, "NAMES_KEPT", 6)                     # full: emptied, then refilled
            other = create_user(services.engine, "person9")["id"]
            assert auth.user_names([other, *people]) == dict(people, **{other: "person9"})
            assert len(auth._NAMES_KEPT[services.engine]) <= 6
    finally:
        stop()


def test_a_record_page_names_its_people_from_the_kept_names(admin_pages, crm_pages, services):
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New"}).get_json()
    first = admin_pages.get(f"/o/deal/{rec['id']}").text
    seen, stop = _user_reads(services)
    try:
        again = admin_pages.get(f"/o/deal/{rec['id']}").text
    finally:
        stop()
    assert seen == [] and "admin" in again
    assert first.split('id="system-title"')[1][:2000] == again.split('id="system-title"')[1][:2000]
