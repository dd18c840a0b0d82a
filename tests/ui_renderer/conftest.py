"""Fixtures of the page tests: signed-in Flask test clients (``admin_pages``, ``rep_pages``, a user
with no rights ``nobody_pages``) over the sample CRM, and for the browser tests one Chromium per
session and one live server per module and database (``live``), with console errors failing the
test and a screenshot of every failed test in ``$TESSERA_SCREENSHOT_DIR`` (default: a tmp dir).
"""
from __future__ import annotations

import os
import tempfile

import pytest

from tests.ui_renderer.live import build_model, live_server, csrf_of, launch_chromium, sign_in

SALES = {"api_name": "sales", "label": "Sales",
         "objects": {"deal": {"read": True, "create": True, "edit": True, "delete": True},
                     "account": {"read": True}}}


class Pages:
    """A Flask test client signed in through the login form; ``post`` adds the CSRF token."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def token(self, url="/"):
        return csrf_of(self.client.get(url).text)

    def post(self, url, data=None, csrf=True, token_from="/", **kw):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token(token_from))
        return self.client.post(url, data=data, **kw)


def _signed_in(app, username, password):
    client = app.test_client()
    r = sign_in(client, username, password)
    assert r.status_code == 303, r.text[:500]
    return Pages(client)


@pytest.fixture
def crm_pages(crm, services, app):
    """The sample CRM (account, deal) plus a ``rep`` user with the ``sales`` permission set."""
    from engine.security.users import create_user

    r = crm.post("/api/v1/permission_sets", json=SALES)
    assert r.status_code == 201, r.get_json()
    create_user(services.engine, "rep", "rep-password")
    create_user(services.engine, "nobody", "nobody-password")
    assert crm.post("/api/v1/users/rep/permission_sets", json={"permission_set": "sales"}).status_code == 201
    return crm


@pytest.fixture
def admin_pages(app, crm_pages):
    return _signed_in(app, "admin", "admin-password")


@pytest.fixture
def rep_pages(app, crm_pages):
    return _signed_in(app, "rep", "rep-password")


@pytest.fixture
def nobody_pages(app, crm_pages):
    return _signed_in(app, "nobody", "nobody-password")


# -- the browser ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium")):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    """A live server over the sample model (accounts, 40 deals) on SQLite or PostgreSQL."""
    with live_server(request.param, tmp_path_factory, build_model) as server:
        yield server


SHOTS = os.environ.get("TESSERA_SCREENSHOT_DIR") or os.path.join(tempfile.gettempdir(), "tessera-screenshots")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def browser_page(request, chromium):
    """A fresh browser context; fails the test on any console error or page error, and saves a
    screenshot when the test failed. Dialogs (confirmations) are accepted."""
    created = []
    errors = []

    def open_page(locale="en-US", viewport=None, allow_status=()):
        """``allow_status``: HTTP statuses the contract answers on purpose (a failed save is 422);
        Chromium logs "Failed to load resource" for the page itself then, which is not a bug."""
        context = chromium.new_context(locale=locale, viewport=viewport or {"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10000)
        expected = tuple(f"the server responded with a status of {s} " for s in allow_status)

        def on_console(message):
            if message.type == "error" and not any(e in message.text for e in expected):
                errors.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("dialog", lambda d: d.accept())
        created.append((context, page))
        return page

    yield open_page
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for i, (context, page) in enumerate(created):
        if failed:
            os.makedirs(SHOTS, exist_ok=True)
            path = os.path.join(SHOTS, f"{request.node.name}-{i}.png".replace("/", "_"))
            try:
                page.screenshot(path=path, full_page=True)
                print(f"screenshot of the failure: {path}")
            except Exception:   # noqa: BLE001  (a crashed page has no screenshot; the failure stands)
                pass
        context.close()
    assert not errors, errors
