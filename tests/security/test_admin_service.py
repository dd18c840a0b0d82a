"""Access administration checks the actor itself: the API, a script, the CLI or a pack installer
all get the same refusal (two doors per rule)."""
from __future__ import annotations

import pytest

from engine.errors import Forbidden
from engine.security import SYSTEM_ACTOR

MESSAGE = "Only administrators may manage users, roles, permission sets and sharing rules."


def test_access_admin_refuses_non_admins_in_the_service(services, admin_token):
    from engine.security.users import create_user

    create_user(services.engine, "rep", "rep-password")
    rep = services.actor("rep")
    access = services.access
    refused = [
        lambda: access.list_users(rep),
        lambda: access.create_user("mallory", "long-password", rep, is_admin=True),
        lambda: access.update_user("rep", {"is_admin": True}, rep),
        lambda: access.create_role({"api_name": "boss"}, rep),
        lambda: access.list_roles(rep),
        lambda: access.save_permission_set({"api_name": "all", "objects": {}}, rep, {}),
        lambda: access.list_permission_sets(rep),
        lambda: access.assign("rep", "all", rep),
        lambda: access.list_sharing_rules(rep),
        lambda: access.get_user("admin", rep),
    ]
    for call in refused:
        with pytest.raises(Forbidden) as exc:
            call()
        assert (exc.value.code, exc.value.message) == ("security.E033", MESSAGE)
    assert access.get_user("rep", rep)["username"] == "rep"          # oneself is fine
    assert [u["username"] for u in access.list_users(SYSTEM_ACTOR)] == ["admin", "rep"]
    assert access.get_user("rep", SYSTEM_ACTOR)["is_admin"] is False   # nothing was changed


def test_access_admin_refuses_non_admins_through_the_api(user_api):
    for method, url, body in [("post", "/api/v1/users", {"username": "m", "password": "long-password"}),
                              ("get", "/api/v1/users", None), ("post", "/api/v1/roles", {"api_name": "x"}),
                              ("get", "/api/v1/users/admin", None)]:
        r = getattr(user_api, method)(url, json=body) if body else getattr(user_api, method)(url)
        assert r.status_code == 403, (url, r.get_json())
    assert user_api.get("/api/v1/users/rep").status_code == 200


def test_an_admin_cannot_lock_themself_out_whatever_the_door(services, api):
    from engine.errors import MetadataError

    admin = services.actor("admin")
    for patch, key in (({"active": False}, "active"), ({"is_admin": False}, "is_admin")):
        with pytest.raises(MetadataError) as exc:
            services.access.update_user("admin", patch, admin)
        assert exc.value.code == "security.E019"
        assert exc.value.message == (f"{key}: you cannot deactivate yourself or remove your own administrator "
                                     "rights; ask another administrator")
        r = api.patch("/api/v1/users/admin", json=patch)
        assert (r.status_code, r.get_json()["error"]["code"]) == (422, "security.E019")
    assert services.access.get_user("admin", admin)["is_admin"] is True


def test_locales_and_sign_out_on_reset_or_deactivation(services, admin_token):
    from engine.errors import Unauthorized
    from engine.security.sessions import open_session, resolve_session
    from engine.security.users import create_user

    create_user(services.engine, "rep", "rep-password")
    admin = services.actor("admin")
    for sent, stored in (("zh", "zh_CN"), ("zh_CN", "zh_CN"), ("en", "en")):
        assert services.access.update_user("rep", {"locale": sent}, admin)["locale"] == stored
    for patch in ({"password": "a-new-password"}, {"active": False}):
        secret = open_session(services.engine, services.actor("rep"))
        resolve_session(services.engine, services.plans, secret)         # signed in
        services.access.update_user("rep", patch, admin)
        with pytest.raises(Unauthorized):
            resolve_session(services.engine, services.plans, secret)     # signed out everywhere
        services.access.update_user("rep", {"active": True}, admin)
