"""One transaction per pack (a failure in the middle leaves nothing), dependencies, re-installs,
extensions of another pack's object, the doors (CLI and API) and the access admin's additions."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.db import meta_objects
from engine.errors import ConflictError, PackError
from engine.metadata.store import current_version, load_docs
from engine.packs.tables import installed_packs, pack_elements
from engine.security import SYSTEM_ACTOR
from engine.security.model import roles

from packhelpers import packs_of, write_pack

BASE = {
    "pack.yaml": 'name: base\nversion: "1.0.0"\ntitle: {en: Base, zh_CN: 基础}\n',
    "objects/item.yaml": """api_name: item
label: Item
fields:
  - {api_name: price, type: currency, label: Price}
  - {api_name: colour, type: picklist, options: [{value: Red}, {value: Blue}]}
validation_rules:
  - {name: price_positive, condition: "price < 0", message: The price cannot be negative., field: price}
""",
    "security.yaml": "roles:\n  - {api_name: clerk, label: Clerk}\npermission_sets:\n"
                     "  - {api_name: item_readers, objects: {item: {read: true}}}\n",
    "data/item.csv": "_key,name,price,colour\ni1,Mug,3.5,Red\ni2,Plate,=2 * 4,Blue\n",
}
EXT = {
    "pack.yaml": 'name: ext\nversion: "1.0.0"\ndepends: {base: ">=1.0,<2"}\n',
    "objects/item.yaml": """api_name: item
extends: true
fields:
  - {api_name: weight, type: number, label: Weight}
  - {api_name: colour, type: picklist, options: [{value: Green}]}
list_views:
  - {name: heavy, columns: [name, weight], where: "weight > 10"}
""",
    "data/item.csv": "_key,name,price,colour,weight\ne1,Anvil,40,Green,50\n",
}


def _state(services):
    packs_of(services)
    with services.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(meta_objects)).scalar(),
                conn.execute(select(func.count()).select_from(roles)).scalar(),
                conn.execute(select(func.count()).select_from(installed_packs)).scalar(),
                conn.execute(select(func.count()).select_from(pack_elements)).scalar(),
                current_version(conn))


def _boom(*_args, **_kwargs):
    raise RuntimeError("the power went out")


@pytest.mark.parametrize("where", ["engine.packs.apply.apply_permission_sets", "engine.packs.installer.load_data",
                                   "engine.packs.installer.PackService._record"])
def test_a_failure_in_the_middle_leaves_nothing(services, tmp_path, monkeypatch, where):
    root = write_pack(tmp_path / "base", BASE)
    before = _state(services)
    monkeypatch.setattr(where, _boom)
    with pytest.raises(RuntimeError, match="power"):
        packs_of(services).install("base", SYSTEM_ACTOR, path=root, with_data=True)
    assert _state(services) == before
    monkeypatch.undo()
    plans = packs_of(services).install("base", SYSTEM_ACTOR, path=root, with_data=True)
    assert plans[0].applied and plans[0].data == {"item": 2}


def test_sample_data_refused_by_a_validation_rule_applies_nothing(services, tmp_path):
    root = write_pack(tmp_path / "base", dict(BASE, **{"data/item.csv": "_key,name,price\ni1,Mug,3\ni2,Bad,-1\n"}))
    before = _state(services)
    with pytest.raises(PackError) as info:
        packs_of(services).install("base", SYSTEM_ACTOR, path=root, with_data=True)
    assert info.value.code == "packs.E014"
    assert info.value.fields == {"problems": ["data/item.csv:3: price: The price cannot be negative."]}
    assert _state(services) == before


def test_dry_run_reinstall_and_versions(services, tmp_path):
    root = write_pack(tmp_path / "base", BASE)
    service = packs_of(services)
    before = _state(services)
    plan = service.install("base", SYSTEM_ACTOR, path=root, with_data=True, dry_run=True)[0]
    assert not plan.applied and plan.counts() == {"create": 8, "change": 0, "keep": 0, "archive": 0}
    assert plan.data == {"item": 2}
    assert _state(services) == before
    service.install("base", SYSTEM_ACTOR, path=root)
    again = service.install("base", SYSTEM_ACTOR, path=root)[0]
    assert not again.applied and again.notes == ["'base' 1.0.0 is installed already; nothing to do"]
    newer = write_pack(tmp_path / "base2", dict(BASE, **{"pack.yaml": BASE["pack.yaml"].replace("1.0.0", "1.2.0")}))
    with pytest.raises(PackError) as info:
        service.install("base", SYSTEM_ACTOR, path=newer)
    assert (info.value.code, info.value.message) == (
        "packs.E008", "Pack 'base' 1.0.0 is installed; to go to 1.2.0 run 'tessera pack upgrade base'.")
    older = write_pack(tmp_path / "base0", dict(BASE, **{"pack.yaml": BASE["pack.yaml"].replace("1.0.0", "0.9.0")}))
    with pytest.raises(PackError) as info:
        service.upgrade("base", SYSTEM_ACTOR, path=older)
    assert info.value.code == "packs.E010"


def test_an_extension_adds_to_another_packs_object_and_leaves_exactly(services, tmp_path):
    base = write_pack(tmp_path / "packs" / "base", BASE)
    ext = write_pack(tmp_path / "packs" / "ext", EXT)
    service = packs_of(services)
    service.install("base", SYSTEM_ACTOR, path=base, with_data=True)
    plans = service.install("ext", SYSTEM_ACTOR, path=ext, with_data=True)     # base is installed: in range
    assert [p.pack for p in plans] == ["ext"] and plans[0].data == {"item": 1}
    # the admin adds an option of their own to the field the two packs share
    with services.engine.connect() as conn:
        doc = load_docs(conn)["item"]["doc"]
    colour = next(f for f in doc["fields"] if f["api_name"] == "colour")
    services.store.update_field("item", "colour", {"options": colour["options"] + [{"value": "Gold"}]}, SYSTEM_ACTOR)
    with pytest.raises(PackError) as info:
        service.uninstall("base", SYSTEM_ACTOR)
    assert (info.value.code, info.value.message) == (
        "packs.E011", "Pack 'base' cannot be uninstalled: ext depends on it; uninstall it first.")
    plan = service.uninstall("ext", SYSTEM_ACTOR)[0]
    assert {(i.kind, i.key, i.action) for i in plan.items} == {
        ("field", "item.weight", "archive"), ("option", "item.colour:Green", "archive"),
        ("list_view", "item.heavy", "archive")}
    assert plan.data == {"item": 1}
    with services.engine.connect() as conn:
        doc = load_docs(conn)["item"]["doc"]
    assert [f["api_name"] for f in doc["fields"]] == ["price", "colour"]
    assert [o["value"] for o in doc["fields"][1]["options"]] == ["Red", "Blue", "Gold"]
    assert services.records().list("item", SYSTEM_ACTOR, with_total=True)["total"] == 2


def test_security_admin_additions(services):
    access = services.access
    access.create_role({"api_name": "boss"}, SYSTEM_ACTOR)
    access.create_role({"api_name": "clerk", "parent": "boss"}, SYSTEM_ACTOR)
    access.update_role("clerk", {"label": "Shop clerk"}, SYSTEM_ACTOR)
    assert [r["label"] for r in access.list_roles(SYSTEM_ACTOR)] == ["Boss", "Shop clerk"]
    with pytest.raises(ConflictError) as info:
        access.delete_role("boss", SYSTEM_ACTOR)
    assert (info.value.code, info.value.message) == (
        "security.E022", "Role 'boss' is in use (roles clerk report to it); change those first.")
    access.delete_role("clerk", SYSTEM_ACTOR)
    access.delete_role("boss", SYSTEM_ACTOR)
    assert access.list_roles(SYSTEM_ACTOR) == []
    access.save_permission_set({"api_name": "readers", "objects": {}}, SYSTEM_ACTOR, {})
    access.delete_permission_set("readers", SYSTEM_ACTOR)
    assert access.list_permission_sets(SYSTEM_ACTOR) == []


def test_cli(db_url, tmp_path, monkeypatch):
    from engine.cli import main

    monkeypatch.setenv("TESSERA_DATABASE_URL", db_url)
    root = write_pack(tmp_path / "base", BASE)
    runner = CliRunner()
    r = runner.invoke(main, ["pack", "list", "--path", str(root)])
    assert r.exit_code == 0, r.output
    assert "base             1.0.0      available         Base" in r.output
    assert "crm_core" in r.output and "manufacturing" in r.output
    r = runner.invoke(main, ["pack", "validate", str(root)])
    assert r.exit_code == 0 and r.output.splitlines()[-1] == "base 1.0.0: valid", r.output
    r = runner.invoke(main, ["pack", "install", "base", "--path", str(root), "--with-sample-data", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "  create   field           item.price" in r.output and "dry run: nothing was changed" in r.output
    r = runner.invoke(main, ["pack", "install", "base", "--path", str(root), "--with-sample-data"])
    assert r.exit_code == 0 and "applied: install base 1.0.0" in r.output, r.output
    r = runner.invoke(main, ["pack", "export", "mine", "--objects", "item", "--with-data", "--out",
                             str(tmp_path / "out")])
    assert r.exit_code == 0 and "depends on base >=1.0.0,<2" in r.output, r.output
    r = runner.invoke(main, ["pack", "uninstall", "base"])
    assert r.exit_code == 0 and "  archive  object         item [destructive]" in r.output, r.output
    bad = write_pack(tmp_path / "bad", dict(BASE, **{"data/item.csv": "_key,name,price\ni1,Mug,cheap\n"}))
    r = runner.invoke(main, ["pack", "validate", str(bad)])
    assert r.exit_code == 1
    assert r.output.splitlines()[-1] == "data/item.csv:2: price: 'cheap' is not a number"


def test_api(api, user_api):
    r = api.get("/api/v1/packs")
    assert r.status_code == 200
    names = {p["name"]: p for p in r.get_json()["packs"]}
    assert names["manufacturing"]["depends"] == {"crm_core": ">=1.0,<2"}
    assert names["crm_core"]["status"] == "available"
    r = api.post("/api/v1/packs/crm_core/install", json={"dry_run": True})
    assert r.status_code == 200
    plan = r.get_json()["plans"][0]
    assert plan["pack"] == "crm_core" and plan["applied"] is False and plan["counts"]["create"] > 100
    assert api.get("/api/v1/packs").get_json()["packs"][0]["status"] == "available"
    r = api.post("/api/v1/packs/crm_core/install", json={"with_sample_data": "yes"})
    assert (r.status_code, r.get_json()["error"]["code"]) == (400, "packs.E023")
    r = api.post("/api/v1/packs/crm_kore/install")
    assert r.status_code == 404
    assert r.get_json()["error"]["message"].startswith("Unknown pack 'crm_kore' (did you mean 'crm_core'?)")
    r = user_api.post("/api/v1/packs/crm_core/install")
    assert (r.status_code, r.get_json()["error"]["code"]) == (403, "packs.E020")
    r = api.post("/api/v1/packs/crm_core/uninstall")
    assert (r.status_code, r.get_json()["error"]["code"]) == (404, "packs.E009")


REPORT = "name: items_by_colour\nlabel: Items by colour\nobject: item\ngroup_by: [{field: colour}]\n" \
         "aggregates: [{fn: count}, {fn: sum, field: price}]\n"


def test_reports_travel_in_packs(services, tmp_path):
    from engine.packs.export import export_pack

    root = write_pack(tmp_path / "base", dict(BASE, **{"reports/items_by_colour.yaml": REPORT}))
    service = packs_of(services)
    plan = service.install("base", SYSTEM_ACTOR, path=root, with_data=True)[0]
    assert ("report", "items_by_colour", "create") in {(i.kind, i.key, i.action) for i in plan.items}
    reports = services.extensions["reports"].reports
    assert reports.export("items_by_colour")["object"] == "item"
    result = export_pack(services, "copy", ["item"], tmp_path / "out", SYSTEM_ACTOR)
    assert "reports/items_by_colour.yaml" in result["files"]
    service.uninstall("base", SYSTEM_ACTOR)
    assert [d["name"] for d in reports.export()] == []
    bad = write_pack(tmp_path / "bad", dict(BASE, **{"reports/r.yaml": "label: no name\nobject: item\n"}))
    with pytest.raises(PackError) as info:
        service.install("base", SYSTEM_ACTOR, path=bad)
    assert info.value.fields == {"problems": ["reports/r.yaml:1: a report needs a name"]}
