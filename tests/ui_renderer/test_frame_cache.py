"""The top bar kept as HTML with holes (``ui_renderer/frame.py``) writes what rendering its template
each time writes, for every reader, language and place; its holes (CSRF token, path, search text,
user name, inbox count) are the request's own; it is dropped with its snapshot. A moment's text kept
per (moment, locale, zone) is Flask-Babel's."""
from __future__ import annotations

import datetime as _dt
import re

import pytest
from flask_babel import format_datetime

from engine.ui_renderer import frame, i18n

SECRET = {"api_name": "secret", "label": "Secret", "plural_label": "Secrets"}
_CSRF = re.compile(r'name="csrf_token" value="[^"]+"')


def _bar(html):
    bar = html.split('<header class="topbar">', 1)[1].split("</header>", 1)[0]
    return _CSRF.sub('name="csrf_token" value="X"', bar)


def _page(pages, url):
    return pages.get(url).text


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_the_kept_top_bar_is_the_templates(admin_pages, rep_pages, crm_pages, monkeypatch, locale):
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New"}).get_json()
    urls = ["/", "/o/deal", f"/o/deal/{rec['id']}", "/o/account", "/search?q=%3Cb%3E%22x%26", "/approvals",
            "/reports", "/o/nothing-here", "/me"]
    for pages in (admin_pages, rep_pages):
        assert pages.post("/locale", {"locale": locale, "next": "/"}).status_code == 303
        monkeypatch.setattr(frame, "KEEP", False)
        [_page(pages, u) for u in urls]      # the home page's recently viewed records settle
        plain = [_page(pages, u) for u in urls]
        monkeypatch.setattr(frame, "KEEP", True)
        for _ in range(2):      # the first fills the cache, the second reads it
            kept = [_page(pages, u) for u in urls]
            assert [_bar(h) for h in kept] == [_bar(h) for h in plain]
            assert [_CSRF.sub("", h) for h in kept] == [_CSRF.sub("", h) for h in plain]


def test_the_holes_are_the_requests_own(app, admin_pages, crm_pages):
    from engine.security.users import create_user
    from tests.ui_renderer.conftest import _signed_in

    create_user(app.extensions["tessera"].engine, "zoe+admin", "zoe-password-1", is_admin=True)
    zoe = _signed_in(app, "zoe+admin", "zoe-password-1")
    mine, hers = admin_pages.get("/o/deal").text, zoe.get("/o/deal").text
    assert "<span>admin</span>" in _bar(mine) and "zoe" not in mine
    assert "<span>zoe+admin</span>" in _bar(hers) and '<span class="avatar" aria-hidden="true">Z</span>' in hers
    # each session's own CSRF token, in both forms of the bar
    tokens = [re.findall(r'name="csrf_token" value="([^"]+)"', h.split("</header>")[0]) for h in (mine, hers)]
    assert len(tokens[0]) == 2 and len(set(tokens[0])) == 1 and tokens[0] != tokens[1]
    # the search text and the page's path: escaped, and only on their page
    found = admin_pages.get("/search?q=%3Cb%3E%22x%26").text
    assert 'value="&lt;b&gt;&#34;x&amp;"' in _bar(found)
    assert 'name="next" value="/search?q=%3Cb%3E%22x%26"' in _bar(found)
    again = admin_pages.get("/o/deal?view=all").text
    assert 'name="q" placeholder="Search…" value=""' in _bar(again) and 'name="next" value="/o/deal?view=all"' in again
    # where the page is: aria-current follows the object
    assert 'href="/o/deal" aria-current="page"' in _bar(again)
    assert 'href="/o/account" aria-current="page"' in _bar(admin_pages.get("/o/account").text)
    assert 'aria-current="page"' not in _bar(admin_pages.get("/o/deal/new").text).split('href="/o/account"')[1][:20]


def test_the_kept_top_bar_lives_on_its_snapshot(app, services, admin_pages, crm_pages):
    admin_pages.get("/")
    old = services.snapshots.refresh()
    assert old.documents.get(frame.TOPBAR_KEY)
    assert "/o/secret" not in _bar(admin_pages.get("/").text)
    assert crm_pages.post("/api/v1/objects", json=SECRET).status_code == 201
    assert 'href="/o/secret">Secrets</a>' in _bar(admin_pages.get("/").text)   # a new version: at once
    new = services.snapshots.refresh()
    assert new is not old and "/o/secret" not in str(old.documents[frame.TOPBAR_KEY])


def test_the_kept_top_bar_is_bounded(admin_pages, crm_pages, services, monkeypatch):
    monkeypatch.setattr(frame, "TOPBAR_CACHE_SIZE", 2)
    for url in ("/", "/o/deal", "/o/account", "/approvals", "/reports"):
        admin_pages.get(url)
    assert len(services.snapshots.refresh().documents[frame.TOPBAR_KEY]) <= 2


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York"])
def test_a_kept_moment_is_flask_babels(app, locale, zone):
    moments = ["2025-03-01T12:30:00Z", "2025-03-01T23:59:59+00:00", _dt.datetime(2024, 12, 31, 20, 0),
               "2025-07-04T08:00:00.123456+02:00"]
    for _ in range(2):        # computed, then kept
        headers = {"Cookie": f"tz={zone}", "Accept-Language": locale.replace("_", "-")}
        with app.test_request_context("/", headers=headers):
            for value in moments:
                assert i18n.format_moment(value) == format_datetime(i18n.parse_iso_datetime(value), format="medium")
    # the zone and the locale are in the key: another zone, another text
    with app.test_request_context("/", headers={"Cookie": "tz=Asia/Shanghai"}):
        east = i18n.format_moment(moments[1])
    with app.test_request_context("/", headers={"Cookie": "tz=UTC"}):
        assert i18n.format_moment(moments[1]) != east
    assert i18n.format_moment("not a date") == "not a date"
