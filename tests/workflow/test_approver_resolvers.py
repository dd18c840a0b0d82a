"""The approver-resolver registry (issue 10): the built-in approver types are registered through
it, a plugin adds one through the ``tessera.approver_resolvers`` entry point group, and the
process documents, their checks, the OpenAPI document and the state machine all follow the
registry. On SQLite and PostgreSQL."""
from __future__ import annotations

import sys
import textwrap

import pytest

from engine.registry import RegistryError
from engine.workflow.approvals.resolvers import (
    ApproverResolver,
    approver_schema,
    register_resolver,
    resolvers,
)

from .conftest import make_app
from .test_approvals import setup_story
from .test_approvals_features import err, one_step

PLUGIN = '''
    from engine.workflow.approvals.resolvers import ApproverResolver


    class AnyOf(ApproverResolver):
        """Every active user of a list of usernames (a stand-in for a directory lookup)."""
        key = "any_of"
        label = "Any of these users"
        options_schema = {"type": "object", "required": ["users"], "properties": {
            "users": {"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "string"}}}}

        def check(self, options, env):
            return [(f"users[{i}]", f"unknown user '{u}'") for i, u in enumerate(options["users"])
                    if not env.user_exists(u)]

        def resolve(self, options, rctx):
            found = []
            for name in options["users"]:
                row = rctx.users.by_name(name)
                if row is not None and row.active:
                    found.append((row.id, f"one of {len(options['users'])} named users"))
            return found, None if found else "none of the named users is active"
'''


@pytest.fixture
def plugin_app(db_url, tmp_path, monkeypatch):
    """An app whose build_services loaded the test plugin from its entry point."""
    (tmp_path / "tessera_resolver_plugin.py").write_text(textwrap.dedent(PLUGIN))
    dist = tmp_path / "tessera_resolver_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tessera-resolver-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tessera.approver_resolvers]\nany_of = tessera_resolver_plugin:AnyOf\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tessera_resolver_plugin", None)
    # other tests built services (and froze the registry) in this process already: reopen it for this one
    monkeypatch.setattr(resolvers, "_items", dict(resolvers._items))
    monkeypatch.setattr(resolvers, "_owners", dict(resolvers._owners))
    monkeypatch.setattr(resolvers, "_frozen", False)
    monkeypatch.setattr(resolvers, "_plugins_loaded", False)
    app = make_app(db_url)
    yield app
    app.extensions["tessera"].dispose()


def test_a_plugin_resolver_through_an_entry_point(plugin_app):
    assert "any_of" in resolvers.keys() and resolvers._frozen
    assert {"user", "role", "manager", "owner_manager", "field"} <= set(resolvers.keys())
    process = one_step([{"type": "any_of", "users": ["fiona", "frank", "olga"]}], decision={"quorum": 2})
    s = setup_story(plugin_app, process=process)
    url = "/api/v1/objects/quote/approval_processes"
    prefix = "objects.quote.approval_processes[1].steps[0].approvers[0]"

    # the plugin's checks and options schema apply when a process is saved, with their paths
    bad = one_step([{"type": "any_of", "users": ["fiona", "nobody"]}])
    assert err(s.admin.post(url, json=dict(bad, name="other"))) == (
        422, "metadata.E001", f"{prefix}.users[1]: unknown user 'nobody'")
    bad = one_step([{"type": "any_of", "users": ["fiona"], "role": "sales_director"}])
    assert err(s.admin.post(url, json=dict(bad, name="other"))) == (
        422, "metadata.E001", f"{prefix}: unknown key 'role' for a 'any_of' approver (known: 'users')")
    bad = one_step([{"type": "any_of"}])
    assert err(s.admin.post(url, json=dict(bad, name="other"))) == (
        422, "metadata.E001", f"{prefix}.users: is required")
    bad = one_step([{"type": "any_of", "users": []}])
    assert err(s.admin.post(url, json=dict(bad, name="other")))[1] == "metadata.E001"

    # the state machine asks the plugin for the step's approvers
    q = s.quote("Plugin", 30)
    body = s.act("rep", q["id"], "submit")
    assert [(a["user"], a["origin"]) for a in body["request"]["step"]["approvers"]] == [
        ("fiona", "one of 3 named users"), ("frank", "one of 3 named users"), ("olga", "one of 3 named users")]
    s.act("fiona", q["id"], "approve")
    body = s.act("frank", q["id"], "approve")
    assert body["request"]["status"] == "approved" and s.record(q["id"])["status"] == "Approved"

    # the OpenAPI document shows the plugin's type and options
    doc = s.admin.get("/api/v1/openapi.json").get_json()
    approver = doc["components"]["schemas"]["ApprovalProcess"]["properties"]["steps"]["items"]["properties"][
        "approvers"]["items"]
    assert "any_of" in approver["properties"]["type"]["enum"] and approver["properties"]["users"]["type"] == "array"


def test_without_the_plugin_its_type_is_unknown(db_url):
    app = make_app(db_url)
    try:
        s = setup_story(app, process=one_step([{"type": "role", "role": "sales_director"}]))
        bad = one_step([{"type": "any_of", "users": ["fiona"]}])
        code, ecode, message = err(s.admin.post("/api/v1/objects/quote/approval_processes",
                                                json=dict(bad, name="other")))
        assert (code, ecode) == (422, "metadata.E001")
        assert message.startswith("objects.quote.approval_processes[1].steps[0].approvers[0]")
        assert "(got \"any_of\")" in message
    finally:
        app.extensions["tessera"].dispose()


def test_the_registry_refuses_twice_the_same_key_and_late_plugins():
    class Again(ApproverResolver):
        key = "role"

    with resolvers.thawed():
        with pytest.raises(RegistryError, match="approver type 'role' is registered twice: by "
                                                "engine.workflow.approvals.resolvers and by "):
            register_resolver(Again)
    resolvers.freeze()
    with pytest.raises(RegistryError, match="The approver type registry is frozen"):
        register_resolver(Again, replace=True)
    with pytest.raises(RegistryError, match=r"Unknown approver type 'boss'\. Known: field, manager, "):
        resolvers.get("boss")


def test_the_schema_is_built_from_the_registry():
    schema = approver_schema()
    assert schema["properties"]["type"]["enum"] == resolvers.keys()
    assert set(schema["properties"]) == {"type", "user", "role", "levels", "field"}
    assert schema["additionalProperties"] is False
