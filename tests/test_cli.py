"""The command line: --help everywhere, one clear line and a non-zero exit on bad input."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "engine.cli"]


def run(args, tmp_path, **env):
    e = dict(os.environ, TESSERA_DATABASE_URL=f"sqlite:///{tmp_path / 't.db'}")
    e.update(env)
    return subprocess.run(CLI + args, env=e, capture_output=True, text=True, cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("args", [[], ["init"], ["serve"], ["demo"], ["user"], ["user", "create"], ["token"],
                                  ["token", "create"], ["token", "revoke"], ["pack"], ["pack", "list"], ["worker"]])
def test_help(args, tmp_path):
    r = run(args + ["--help"], tmp_path)
    assert r.returncode == 0 and "Usage:" in r.stdout


def test_users_tokens_and_errors(tmp_path):
    assert run(["init"], tmp_path).returncode == 0
    r = run(["user", "create", "alice", "--admin", "--password", "s3cret-pass"], tmp_path)
    assert r.returncode == 0 and "alice" in r.stdout
    r = run(["user", "create", "alice"], tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == "error: User 'alice' already exists."
    r = run(["user", "create", "bob", "--password", "short"], tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    r = run(["token", "create", "alice"], tmp_path)
    token = r.stdout.strip().splitlines()[-1]
    assert r.returncode == 0 and token.startswith("tsr_")
    r = run(["token", "create", "nobody"], tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == "error: Unknown user 'nobody'."
    assert run(["token", "revoke", token], tmp_path).returncode == 0
    assert run(["token", "revoke", token], tmp_path).returncode == 1
    r = run(["init"], tmp_path, TESSERA_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert r.returncode == 1 and r.stderr.startswith("error: cannot open the database")
    assert len(r.stderr.strip().splitlines()) == 1
    r = run(["serve", "--port", "notaport"], tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    r = run(["nosuchcommand"], tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_demo_builds_sample_data(tmp_path):
    r = run(["demo", "--no-serve", "--pack", "none", "--records", "200"], tmp_path)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    from engine import create_app
    app = create_app({"database_url": f"sqlite:///{tmp_path / 't.db'}"})
    c = app.test_client()
    body = c.get("/api/v1/records/deal?with_total=true&limit=1",
                 headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["total"] == 200
    assert c.get("/api/v1/objects/contact", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.slow
def test_demo_installs_crm_core_and_an_industry_pack(tmp_path):
    r = run(["demo", "--no-serve", "--pack", "saas"], tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("installed crm_core ") and lines[1].startswith("installed saas ")
    assert "... " in r.stderr                      # progress per step
    token = lines[-1]
    from engine import create_app
    app = create_app({"database_url": f"sqlite:///{tmp_path / 't.db'}"})
    c = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    packs = {p["name"]: p["status"] for p in c.get("/api/v1/packs", headers=auth).get_json()["packs"]}
    assert packs["crm_core"] == packs["saas"] == "installed" and packs["manufacturing"] == "available"
    body = c.get("/api/v1/records/subscription?with_total=true&limit=1", headers=auth).get_json()
    admin = c.get("/api/v1/users/admin", headers=auth).get_json()
    assert body["total"] > 0 and body["records"][0]["owner_id"] == admin["id"]     # the admin owns the samples
    # again: nothing to do, a fresh token; an unknown pack is one line
    r = run(["demo", "--no-serve", "--pack", "saas"], tmp_path)
    assert r.returncode == 0 and not r.stdout.startswith("installed"), r.stdout
    r = run(["demo", "--no-serve", "--pack", "sass"], tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("error: Unknown pack 'sass' (did you mean 'saas'?)"), r.stderr
