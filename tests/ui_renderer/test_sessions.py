"""Sessions of the pages: sign-in through the form (throttled), the cookie, sign-out that revokes
the session everywhere, safe ``next=``, and CSRF on every form (a forged POST changes nothing)."""
from __future__ import annotations

import pytest

from tests.ui_renderer.live import csrf_of, sign_in


def test_sign_in_sets_a_safe_cookie_and_redirects(app, crm_pages):
    client = app.test_client()
    r = client.get("/o/deal")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/o/deal"
    page = client.get(r.headers["Location"])
    assert 'name="username"' in page.text and 'name="password"' in page.text
    r = client.post("/login", data={"username": "admin", "password": "admin-password", "next": "/o/deal",
                                    "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["Location"] == "/o/deal"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/o/deal").status_code == 200


def test_secure_cookie_when_configured(db_url, crm):
    from engine import create_app
    from engine.security.users import create_user

    app = create_app({"database_url": db_url, "testing": True, "secure_cookies": True})
    try:
        create_user(app.extensions["tessera"].engine, "alice", "alice-password")
        r = sign_in(app.test_client(), "alice", "alice-password")
        assert r.status_code == 303 and "Secure" in r.headers["Set-Cookie"]
    finally:
        app.extensions["tessera"].engine.dispose()


@pytest.mark.parametrize("target, expected", [
    ("/o/deal?view=x", "/o/deal?view=x"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("o/deal", "/"),
    ("/ok\r\nSet-Cookie: x=1", "/"),
])
def test_next_only_goes_to_local_paths(app, crm_pages, target, expected):
    client = app.test_client()
    page = client.get("/login")
    r = client.post("/login", data={"username": "admin", "password": "admin-password", "next": target,
                                    "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["Location"] == expected


def test_wrong_password_keeps_the_username_and_locks_after_five(app, crm_pages):
    client = app.test_client()
    for attempt in range(5):
        token = csrf_of(client.get("/login").text)
        r = client.post("/login", data={"username": "rep", "password": "nope-nope", "csrf_token": token})
        assert r.status_code == 401, attempt
        assert 'value="rep"' in r.text and "Wrong username or password." in r.text
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "rep", "password": "rep-password", "csrf_token": token})
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text


def test_sign_out_revokes_the_session_for_every_copy_of_the_cookie(app, admin_pages):
    stolen = app.test_client()
    cookie = admin_pages.client.get_cookie("tessera_session")
    stolen.set_cookie(cookie.key, cookie.value)
    assert stolen.get("/o/deal").status_code == 200
    r = admin_pages.post("/logout")
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert stolen.get("/o/deal").status_code == 302          # the copied cookie is dead too
    assert admin_pages.get("/o/deal").status_code == 302


def test_deactivated_user_is_signed_out(app, rep_pages, crm_pages):
    assert rep_pages.get("/o/deal").status_code == 200
    assert crm_pages.patch("/api/v1/users/rep", json={"active": False}).status_code == 200
    assert rep_pages.get("/o/deal").status_code == 302


def test_anonymous_home_shows_no_org_data(app, crm_pages):
    r = app.test_client().get("/")
    assert r.status_code == 200 and "Sign in" in r.text
    assert "Deal" not in r.text and "Account" not in r.text


def test_csrf_refused_and_nothing_changed(app, admin_pages, crm_pages):
    deal = crm_pages.post("/api/v1/records/deal", json={"name": "Keep me", "stage": "New"}).get_json()
    forged = [("/o/deal/new", {"name": "Forged", "stage": "New"}),
              (f"/o/deal/{deal['id']}/edit", {"name": "Changed", "stage": "Won"}),
              (f"/o/deal/{deal['id']}/delete", {}),
              ("/o/deal/delete", {"ids": deal["id"]}),
              ("/locale", {"locale": "zh_CN"}),
              ("/logout", {})]
    for url, data in forged:
        for token in (None, "not-a-token"):
            body = dict(data, **({"csrf_token": token} if token else {}))
            r = admin_pages.client.post(url, data=body)
            assert r.status_code == 400, (url, token, r.status_code)
            assert "nothing was changed" in r.text
    records = crm_pages.get("/api/v1/records/deal").get_json()["records"]
    assert [(d["name"], d["stage"]) for d in records] == [("Keep me", "New")]
    assert admin_pages.get("/o/deal").status_code == 200       # still signed in, still English
    assert "<html lang=\"en\">" in admin_pages.get("/").text


def test_csrf_token_of_another_session_is_refused(app, admin_pages, rep_pages, crm_pages):
    token = rep_pages.token()
    r = admin_pages.client.post("/o/deal/new", data={"name": "X", "stage": "New", "csrf_token": token})
    assert r.status_code == 400
    assert crm_pages.get("/api/v1/records/deal").get_json()["records"] == []


def test_api_needs_no_csrf_and_ignores_the_session_cookie(app, admin_pages, crm_pages):
    r = crm_pages.post("/api/v1/records/deal", json={"name": "Via API", "stage": "New"})
    assert r.status_code == 201
    r = admin_pages.client.get("/api/v1/records/deal")        # a session cookie is not a bearer token
    assert r.status_code == 401


def test_pages_send_security_headers(admin_pages):
    r = admin_pages.get("/o/deal")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"
    asset = admin_pages.get("/assets/tessera.css?v=1")
    assert asset.status_code == 200 and "max-age=31536000" in asset.headers["Cache-Control"]


def test_pages_helper_posts_with_token(admin_pages):
    assert admin_pages.post("/o/deal/new", {"name": "With token", "stage": "New"}).status_code == 303
