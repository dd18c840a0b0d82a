"""Walk every page route (every blueprint made with ``page_blueprint``, Setup's included once it
exists) as an anonymous visitor, a user without rights, a sales rep and an admin: anonymous GETs
redirect to the sign-in page, POSTs without a session are refused, nobody ever gets a 500."""
from __future__ import annotations

import re

import pytest

SAMPLE = {"obj": "deal", "object": "deal", "field": "amount", "name": "main", "username": "rep"}


def _page_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/assets/", "/healthz")):
            continue
        yield rule


def _url(rule, rid):
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(rf"<(?:[a-z]+:)?{arg}>", rid if arg == "rid" else SAMPLE.get(arg, "x"), url)
    return url


@pytest.fixture
def walkers(app, admin_pages, rep_pages, nobody_pages, crm_pages):
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Walk", "stage": "New"}).get_json()
    return {"anon": None, "nobody": nobody_pages, "rep": rep_pages, "admin": admin_pages}, rec["id"]


def test_every_page_route(app, walkers, crm_pages):
    clients, rid = walkers
    public = {"pages.home", "pages.login", "pages.switch_locale", "pages.logout"}
    seen = 0
    for who, pages in clients.items():
        for rule in _page_rules(app):
            url = _url(rule, rid)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if who == "anon":
                    client = app.test_client()
                    r = client.get(url) if method == "GET" else client.post(url, data={})
                else:
                    # POST with a valid token (the CSRF test forges); never delete the walk's record
                    if method == "POST" and ("delete" in rule.endpoint or rule.endpoint == "pages.logout"):
                        continue
                    r = pages.get(url) if method == "GET" else pages.post(url, {})
                seen += 1
                assert r.status_code < 500, (who, method, url, r.text[:500])
                if who == "anon" and rule.endpoint not in public:
                    expected = 302 if method == "GET" else 400     # a POST without a session has no token
                    if rule.endpoint == "pages.lookup":
                        expected = 401
                    assert r.status_code == expected, (method, url, r.status_code)
                    if expected == 302:
                        assert r.headers["Location"].startswith("/login")
                if who == "nobody" and rule.rule.startswith("/o/"):
                    assert r.status_code in (403, 404), (method, url, r.status_code)
                if rule.rule.startswith("/setup") and who in ("nobody", "rep"):
                    assert r.status_code == 403, (who, method, url, r.status_code)
                if who in ("rep", "admin") and method == "GET":
                    assert r.status_code in (200, 302, 400, 403, 404), (who, url, r.status_code)
    assert seen > 40


@pytest.mark.parametrize("url", ["/o/deal/not-an-id", "/o/deal/not-an-id/edit", "/o/nope", "/o/nope/new",
                                 "/o/deal/%00", "/o/deal?view=%00", "/o/deal/lookup?q=%00%27",
                                 "/search?q=%27%29%20%7C%7C%20TRUE%20%7C%7C%20%28%27", "/login?next=%00"])
def test_odd_urls_answer_cleanly(admin_pages, url):
    r = admin_pages.get(url)
    assert r.status_code in (200, 302, 400, 404), (url, r.status_code)
    assert "Traceback" not in r.text


def test_forged_posts_from_another_site(app, admin_pages, crm_pages):
    """A cross-site form post carries the cookie (a top-level POST under SameSite=Lax does not,
    but older browsers do) but no token: refused, nothing written."""
    for url, data in (("/o/deal/new", {"name": "Forged", "stage": "New"}), ("/o/deal/delete", {"ids": "x"})):
        r = admin_pages.client.post(url, data=data, headers={"Origin": "https://evil.example",
                                                             "Referer": "https://evil.example/"})
        assert r.status_code == 400
    assert crm_pages.get("/api/v1/records/deal").get_json()["records"] == []
