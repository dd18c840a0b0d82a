"""Metadata freshness across processes: two servers on one database."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(port, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _wait(port, proc):
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


@pytest.fixture
def two_servers(db_url, tmp_path):
    env = dict(os.environ, TESSERA_DATABASE_URL=db_url, TESSERA_SECRET_KEY="test")
    cli = [sys.executable, "-m", "engine.cli"]
    subprocess.run(cli + ["init"], env=env, check=True, capture_output=True)
    subprocess.run(cli + ["user", "create", "admin", "--admin", "--password", "admin-password"], env=env,
                   check=True, capture_output=True)
    out = subprocess.run(cli + ["token", "create", "admin"], env=env, check=True, capture_output=True, text=True)
    token = out.stdout.strip().splitlines()[-1]
    procs, ports = [], []
    try:
        for _ in range(2):
            port = _free_port()
            p = subprocess.Popen(cli + ["serve", "--port", str(port)], env=env, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            procs.append(p)
            ports.append(port)
        for p, port in zip(procs, ports):
            _wait(port, p)
        yield ports, token
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def test_field_added_in_one_process_is_usable_in_the_other(two_servers):
    (a, b), token = two_servers
    st, _ = _call(a, "POST", "/api/v1/objects", token, {"api_name": "deal", "fields": [
        {"api_name": "amount", "type": "currency"}]})
    assert st == 201
    st, rec = _call(b, "POST", "/api/v1/records/deal", token, {"name": "D", "amount": 5})
    assert st == 201, rec
    st, _ = _call(a, "POST", "/api/v1/objects/deal/fields", token, {"api_name": "region", "type": "text"})
    assert st == 201
    st, upd = _call(b, "PATCH", f"/api/v1/records/deal/{rec['id']}", token, {"region": "East"})
    assert st == 200 and upd["region"] == "East", upd
    st, got = _call(a, "GET", f"/api/v1/records/deal/{rec['id']}", token)
    assert got["region"] == "East"
    st, _ = _call(b, "DELETE", "/api/v1/objects/deal/fields/region", token)
    assert st == 204
    st, err = _call(a, "PATCH", f"/api/v1/records/deal/{rec['id']}", token, {"region": "West"})
    assert st == 422 and "region" in err["error"]["fields"]
    st, doc = _call(a, "GET", "/api/v1/openapi.json", token)
    assert st == 200, doc
    assert "region" not in doc["components"]["schemas"]["Deal"]["properties"]


def test_request_on_a_stale_snapshot_is_retried(crm, services, monkeypatch):
    crm.post("/api/v1/objects/deal/fields", json={"api_name": "region", "type": "text"})
    rec = crm.post("/api/v1/records/deal", json={"stage": "New", "region": "East"}).get_json()
    stale = services.snapshots.refresh()
    assert crm.delete("/api/v1/objects/deal/fields/region").status_code == 204
    real_get = services.snapshots.get
    calls = []

    def get(version=None):
        calls.append(version)
        return stale if len(calls) == 1 else real_get(version)

    monkeypatch.setattr(services.snapshots, "get", get)
    r = crm.get(f"/api/v1/records/deal/{rec['id']}")
    assert r.status_code == 200 and "region" not in r.get_json()
    assert len(calls) == 2
