"""Sign-in throttling under concurrency (issue 8): a real threaded server, parallel requests.

Twenty wrong passwords sent at once must cost at most five password checks, lock the
username, answer no 5xx, and the right password must then be refused while the lock holds.
API tokens keep working during a lockout (a lockout is a denial of service against a
username, so it must not also cut off the user's integrations).
"""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

BURST = 20


def _call(base, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except ValueError:
            return exc.code, raw.decode(errors="replace")


@pytest.fixture
def server(db_url):
    """A real multi-threaded HTTP server on the test database; yields (base_url, services)."""
    from werkzeug.serving import make_server

    from engine import create_app

    app = create_app({"database_url": db_url, "testing": True})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", app.extensions["tessera"]
    finally:
        srv.shutdown()
        thread.join(timeout=30)
        app.extensions["tessera"].engine.dispose()


def _burst(base, username, passwords):
    barrier = threading.Barrier(len(passwords))

    def attempt(password):
        barrier.wait(timeout=60)
        return _call(base, "POST", "/api/v1/auth/login", {"username": username, "password": password})

    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        return list(pool.map(attempt, passwords))


@pytest.mark.parametrize("username", ["victim", "nobody_here"])
def test_parallel_wrong_passwords_lock_after_five_checks(server, username):
    from engine.security.audit import search
    from engine.security.users import create_token, create_user

    base, services = server
    create_user(services.engine, "victim", "right-password")
    token = create_token(services.engine, "victim")

    results = _burst(base, username, [f"wrong-{i}" for i in range(BURST)])
    statuses = Counter(status for status, _body in results)
    assert all(status < 500 for status in statuses), results
    # Exactly five attempts were checked against the password; the others were refused unchecked.
    assert statuses == {401: 5, 429: BURST - 5}, results
    for status, body in results:
        code = {401: "security.E031", 429: "security.E032"}[status]
        assert body["error"]["code"] == code
    checked = [e for e in search(services.engine, event="login_failed", user=username, limit=1000)]
    assert len(checked) == 5

    # While locked, the right password is refused too.
    status, body = _call(base, "POST", "/api/v1/auth/login", {"username": username, "password": "right-password"})
    assert status == 429, body
    assert body["error"]["code"] == "security.E032"
    assert body["error"]["message"].startswith(f"Too many failed sign-ins for '{username}'; try again after ")

    # Tokens issued before the lockout keep working.
    status, body = _call(base, "GET", "/api/v1/me", token=token)
    assert status == 200 and body["username"] == "victim"


def test_parallel_bursts_after_lock_check_no_password(server):
    """Once locked, further parallel bursts (right password included) are all refused with 429."""
    from engine.security.users import create_user

    base, services = server
    create_user(services.engine, "victim", "right-password")
    first = _burst(base, "victim", ["wrong"] * BURST)
    assert all(status in (401, 429) for status, _ in first), first
    second = _burst(base, "victim", ["wrong"] * (BURST - 1) + ["right-password"])
    assert [status for status, _ in second] == [429] * BURST, second


def test_right_password_resets_the_count(server):
    from engine.security.users import create_user

    base, services = server
    create_user(services.engine, "victim", "right-password")
    for _ in range(4):
        assert _call(base, "POST", "/api/v1/auth/login", {"username": "victim", "password": "wrong"})[0] == 401
    status, body = _call(base, "POST", "/api/v1/auth/login", {"username": "victim", "password": "right-password"})
    assert status == 200 and body["token"].startswith("tsr_")
    results = _burst(base, "victim", ["wrong"] * BURST)
    assert Counter(status for status, _ in results) == {401: 5, 429: BURST - 5}


def _expire_lock(services, username):
    import datetime as dt

    from sqlalchemy import update

    from engine.security.model import login_failures

    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    with services.engine.begin() as conn:
        conn.execute(update(login_failures).where(login_failures.c.username == username).values(locked_until=past))


def test_one_check_after_the_lock_expires(server):
    """After the lock expires, parallel attempts get one password check between them; a wrong
    one locks again, the right one signs in."""
    from engine.security.users import create_user

    base, services = server
    create_user(services.engine, "victim", "right-password")
    _burst(base, "victim", ["wrong"] * BURST)
    _expire_lock(services, "victim")
    results = _burst(base, "victim", ["wrong"] * BURST)
    assert Counter(status for status, _ in results) == {401: 1, 429: BURST - 1}, results
    _expire_lock(services, "victim")
    status, body = _call(base, "POST", "/api/v1/auth/login", {"username": "victim", "password": "right-password"})
    assert status == 200, body
    assert Counter(s for s, _ in _burst(base, "victim", ["wrong"] * BURST)) == {401: 5, 429: BURST - 5}


def test_usernames_with_a_trailing_newline_are_refused(app, api):
    r = api.post("/api/v1/users", json={"username": "bob\n", "password": "long-enough"})
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "security.E001"
    assert r.get_json()["error"]["message"] == ("Invalid username 'bob\n': use letters, digits and _ . @ + - "
                                                "(at most 150 characters).")
