"""Private list views belong to their owners: an administrator's change of the object's definition
that does not name them — a PATCH of ``list_views`` built from what the administrator sees, a
rollback to a version older than the view, a field added — keeps them; only their owner, or an
administrator deleting one by name, removes one. Through the API and the metadata store."""
from __future__ import annotations

import pytest


@pytest.fixture
def user_api(crm, user_api):
    """``rep`` may read and edit deals (a private view needs the object's read right)."""
    r = crm.post("/api/v1/permission_sets", json={"api_name": "deals", "label": "Deals", "objects": {
        "deal": {"read": True, "create": True, "edit": True}}})
    assert r.status_code == 201, r.get_json()
    assert crm.post("/api/v1/users/rep/permission_sets", json={"permission_set": "deals"}).status_code == 201
    return user_api


def _rep_view(user_api, **extra):
    view = dict({"name": "my_big", "label": "My big deals", "columns": ["name", "amount", "stage"],
                 "where": "amount > 100", "order_by": "-amount"}, **extra)
    r = user_api.post("/api/v1/objects/deal/list_views", json=view)
    assert r.status_code == 201, r.get_json()
    return view


def _views(services, obj="deal"):
    return {v["name"]: v for v in services.snapshots.refresh().get(obj).odef.doc.get("list_views") or []}


def test_an_admin_patch_built_from_what_they_see_keeps_a_users_view(crm, user_api, services):
    _rep_view(user_api)
    seen = crm.get("/api/v1/objects/deal").get_json().get("list_views") or []
    shown = [v for v in seen if v.get("shared", True) is not False]
    r = crm.patch("/api/v1/objects/deal", json={"list_views": shown + [{"name": "all_won", "label": "Won",
                                                                          "columns": ["name"], "where": "stage = 'Won'"}]})
    assert r.status_code == 200, r.get_json()
    views = _views(services)
    assert set(views) >= {"my_big", "all_won"}
    assert views["my_big"]["owner_id"] is not None and views["my_big"]["where"] == "amount > 100"
    # the owner still opens, changes and deletes it
    assert any(v["name"] == "my_big" for v in user_api.get("/api/v1/objects/deal/list_views").get_json()["list_views"])
    assert user_api.delete("/api/v1/objects/deal/list_views/my_big").status_code == 204
    assert "my_big" not in _views(services)


def test_a_rollback_keeps_views_saved_since_and_trims_fields_the_old_version_lacks(crm, user_api, services):
    before = crm.get("/api/v1/objects/deal/history").get_json()
    version = max(h["version"] for h in (before.get("history") or before.get("versions") or before))
    r = crm.post("/api/v1/objects/deal/fields", json={"api_name": "region", "type": "text"})
    assert r.status_code == 201, r.get_json()
    _rep_view(user_api, columns=["name", "region", "amount"], order_by="-region,amount")
    r = crm.post("/api/v1/objects/deal/rollback", json={"version": version})
    assert r.status_code == 200, r.get_json()
    views = _views(services)
    assert "region" not in {f.api_name for f in services.snapshots.refresh().get("deal").odef.fields}
    assert views["my_big"]["columns"] == ["name", "amount"] and views["my_big"]["order_by"] == "amount"
    assert views["my_big"]["where"] == "amount > 100"
    mine = {v["name"]: v for v in user_api.get("/api/v1/objects/deal/list_views").get_json()["list_views"]}
    assert mine["my_big"]["columns"] == ["name", "amount"]


def test_an_admin_deletes_a_view_by_name_and_a_name_clash_renames_the_kept_view(crm, user_api, services):
    from engine.metadata.private_views import carry_private_views

    _rep_view(user_api)
    assert crm.delete("/api/v1/objects/deal/list_views/my_big").status_code == 204
    assert "my_big" not in _views(services)
    # a shared view that takes a kept view's name (a rollback can bring one back): the kept one is renamed
    old = {"fields": [{"api_name": "amount"}], "list_views": [
        {"name": "mine", "shared": False, "owner_id": "u1", "columns": ["name", "amount"]}]}
    new = {"fields": [{"api_name": "amount"}], "list_views": [{"name": "mine", "columns": ["name"]}]}
    out = carry_private_views(old, new)
    names = [v["name"] for v in out["list_views"]]
    assert names[0] == "mine" and names[1].startswith("mine_") and len(names) == 2
    assert out["list_views"][1]["owner_id"] == "u1" and out["list_views"][1]["columns"] == ["name", "amount"]
    # nothing to carry: the document is what the change made
    assert carry_private_views({"list_views": []}, {"fields": []}) == {"fields": []}
