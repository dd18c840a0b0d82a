"""Setup → Packs through the test client, on SQLite and PostgreSQL: the list (version, description,
dependencies, status), the plan before install / upgrade / uninstall (nothing changed until the
confirmation; an administrator's changes shown as kept), the confirmation form (CSRF), a refused
pack with its problems by file and line, the export as a zip, administrators only — the page and
the pack service both refuse anyone else — and the page in Chinese.

The packs come from a folder of the test (``engine.packs.catalog.builtin_root`` points at it), so
the sample CRM of the fixtures (account, deal) does not meet the shipped crm_core."""
from __future__ import annotations

import io
import zipfile

import pytest
import yaml

from engine.errors import PermissionDeniedError

SHOP = {
    "pack.yaml": 'name: shop\nversion: "1.0.0"\ntitle: {en: Shop, zh_CN: 商店}\n'
                 'description: {en: Items and their prices., zh_CN: 商品及其价格。}\n',
    "objects/item.yaml": """api_name: item
label: Item
label_i18n: {zh_CN: 商品}
fields:
  - {api_name: price, type: currency, label: Price, label_i18n: {zh_CN: 价格}}
  - {api_name: colour, type: picklist, label: Colour, options: [{value: Red}, {value: Blue}]}
list_views:
  - {name: cheap, label: Cheap items, columns: [name, price], where: "price < 5"}
""",
    "data/item.csv": "_key,name,price,colour\ni1,Mug,3.5,Red\ni2,Plate,=2 * 4,Blue\n",
}
ADDON = {
    "pack.yaml": 'name: shop_addon\nversion: "1.0.0"\ntitle: {en: Shop add-on, zh_CN: 商店扩展}\n'
                 'depends: {shop: ">=1.0,<2"}\n',
    "objects/item.yaml": "api_name: item\nextends: true\nfields:\n  - {api_name: weight, type: number, label: Weight}\n",
}


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return root


@pytest.fixture
def pack_root(tmp_path, monkeypatch):
    root = tmp_path / "packs"
    _write(root / "shop", SHOP)
    _write(root / "shop_addon", ADDON)
    monkeypatch.setattr("engine.packs.catalog.builtin_root", lambda: root)
    monkeypatch.setattr("engine.packs.catalog._entry_point_roots", lambda: [])
    return root


def _objects(services):
    return set(services.snapshots.refresh().objects)


def test_list_plan_install_upgrade_uninstall(admin_pages, services, pack_root):
    page = admin_pages.get("/setup/packs")
    assert page.status_code == 200
    assert '<a href="/setup/packs" aria-current="page">Packs</a>' in page.text
    assert "Shop" in page.text and "Items and their prices." in page.text and "1.0.0" in page.text
    assert "<code>shop &gt;=1.0,&lt;2</code>" in page.text and "Available" in page.text
    assert 'href="/setup/packs/shop/install?with_sample_data=1"' in page.text
    # the plan: nothing is changed until the confirmation
    plan = admin_pages.get("/setup/packs/shop/install?with_sample_data=1")
    assert plan.status_code == 200, plan.text
    assert "Install Shop 1.0.0" in plan.text and "<code>item.price</code>" in plan.text
    assert "<code>item.colour:Blue</code>" in plan.text and "<code>item.cheap</code>" in plan.text
    assert "<code>item</code>: 2 records" in plan.text and 'name="with_sample_data" value="1"' in plan.text
    assert "item" not in _objects(services)
    # a bare link offers the sample data as the packs page does; the plan's own form can untick it
    bare = admin_pages.get("/setup/packs/shop/install")
    assert "<code>item</code>: 2 records" in bare.text and 'name="shown" value="1"' in bare.text
    without = admin_pages.get("/setup/packs/shop/install?shown=1")
    assert "<code>item</code>: 2 records" not in without.text
    assert 'id="f-with_sample_data" name="with_sample_data" value="1" checked' in bare.text
    assert 'id="f-with_sample_data" name="with_sample_data" value="1" checked' not in without.text
    # the confirmation needs the form's CSRF token
    assert admin_pages.post("/setup/packs/shop/install", {"with_sample_data": "1"}, csrf=False).status_code == 400
    assert "item" not in _objects(services)
    r = admin_pages.post("/setup/packs/shop/install", {"with_sample_data": "1"})
    assert r.status_code == 303 and r.headers["Location"] == "/setup/packs"
    page = admin_pages.get("/setup/packs")
    assert "Install Shop: " in page.text and "2 record(s)." in page.text
    assert "Installed" in page.text and 'href="/setup/packs/shop/uninstall"' in page.text
    # uninstall never defaults to deleting the data
    assert 'id="f-purge" name="purge" value="1"' in admin_pages.get("/setup/packs/shop/uninstall").text
    assert 'id="f-purge" name="purge" value="1" checked' not in admin_pages.get("/setup/packs/shop/uninstall").text
    assert "item" in _objects(services)
    assert services.records().list("item", services.actor("admin"), with_total=True)["total"] == 2
    assert admin_pages.get("/setup/packs/shop/install").text.count("There is nothing to do.") == 1
    # an administrator's field; then version 1.1.0 of the pack: the plan keeps the field
    services.store.add_field("item", {"api_name": "site", "type": "text"}, services.actor("admin"))
    doc = yaml.safe_load((pack_root / "shop" / "objects" / "item.yaml").read_text("utf-8"))
    doc["fields"].append({"api_name": "stock", "type": "integer", "label": "Stock"})
    (pack_root / "shop" / "objects" / "item.yaml").write_text(yaml.safe_dump(doc), "utf-8")
    (pack_root / "shop" / "pack.yaml").write_text(SHOP["pack.yaml"].replace("1.0.0", "1.1.0"), "utf-8")
    page = admin_pages.get("/setup/packs")
    assert "Upgrade available" in page.text and 'href="/setup/packs/shop/upgrade"' in page.text
    plan = admin_pages.get("/setup/packs/shop/upgrade")
    assert "Upgrade Shop from 1.0.0 to 1.1.0" in plan.text and "<code>item.stock</code>" in plan.text
    assert "Your changes that are kept" in plan.text and "item.site" in plan.text
    assert "stock" not in {f.api_name for f in services.records().runtime("item").odef.fields}
    assert admin_pages.post("/setup/packs/shop/upgrade").status_code == 303
    fields = {f.api_name for f in services.records().runtime("item").odef.fields}
    assert {"stock", "site"} <= fields
    # uninstall: the plan archives the object; confirming does it
    plan = admin_pages.get("/setup/packs/shop/uninstall")
    assert "Uninstall Shop 1.1.0" in plan.text and "Delete the data for good" in plan.text
    assert 'data-confirm="Uninstall Shop now?"' in plan.text
    assert admin_pages.post("/setup/packs/shop/uninstall").status_code == 303
    assert "item" not in _objects(services)
    assert "Available" in admin_pages.get("/setup/packs").text


def test_refusals_show_on_the_plan_page(admin_pages, services, pack_root):
    # a dependency installed first, in the same confirmation
    plan = admin_pages.get("/setup/packs/shop_addon/install")
    assert "Install Shop 1.0.0" in plan.text and "Install Shop add-on 1.0.0" in plan.text
    # a pack with problems: every one by file and line, nothing applied
    _write(pack_root / "shop", {"data/item.csv": "_key,name,price\ni1,Mug,cheap\ni2,Cup,-\n"})
    plan = admin_pages.get("/setup/packs/shop/install?with_sample_data=1")
    assert plan.status_code == 422
    assert "Pack &#39;shop&#39; has problems; nothing was applied:" in plan.text
    assert "<li><code>data/item.csv:2: price: &#39;cheap&#39; is not a number</code></li>" in plan.text
    assert "Confirm:" not in plan.text
    r = admin_pages.post("/setup/packs/shop/install", {"with_sample_data": "1"})
    assert r.status_code == 422 and "data/item.csv:3:" in r.text
    assert "item" not in _objects(services)
    # unknown packs and operations
    r = admin_pages.get("/setup/packs/shopp/install")
    assert r.status_code == 404 and "Unknown pack &#39;shopp&#39; (did you mean &#39;shop&#39;?)" in r.text
    assert admin_pages.get("/setup/packs/shop/reinstall").status_code == 404
    r = admin_pages.get("/setup/packs/shop/uninstall")
    assert r.status_code == 404 and "Pack &#39;shop&#39; is not installed" in r.text


def test_export_downloads_a_pack_that_installs(admin_pages, services, pack_root):
    assert admin_pages.post("/setup/packs/shop/install", {"with_sample_data": "1"}).status_code == 303
    services.store.add_field("item", {"api_name": "site", "type": "text"}, services.actor("admin"))
    page = admin_pages.get("/setup/packs")
    assert 'name="objects" value="deal"' in page.text and 'name="objects" value="item"' in page.text
    r = admin_pages.post("/setup/packs/export", {"name": "client_custom", "objects": ["deal"]})
    assert r.status_code == 422 and "&#39;deal.account&#39; points to &#39;account&#39;, which is not exported" in r.text
    assert 'value="deal" checked' in r.text and 'value="item">' in r.text
    r = admin_pages.post("/setup/packs/export", {"name": "client_custom", "objects": ["account", "deal", "item"],
                                                  "with_data": "on", "version": "1.2.0"})
    assert r.status_code == 200 and r.mimetype == "application/zip", r.text[r.text.find("export-title"):][:1500]
    assert r.headers["Content-Disposition"] == 'attachment; filename="client_custom-1.2.0.zip"'
    names = zipfile.ZipFile(io.BytesIO(r.data)).namelist()
    assert {"client_custom/pack.yaml", "client_custom/objects/deal.yaml", "client_custom/objects/item.yaml",
            "client_custom/data/deal.csv"} <= set(names)
    meta = yaml.safe_load(zipfile.ZipFile(io.BytesIO(r.data)).read("client_custom/pack.yaml"))
    assert meta["depends"] == {"shop": ">=1.0.0,<2"} and meta["version"] == "1.2.0"
    item = yaml.safe_load(zipfile.ZipFile(io.BytesIO(r.data)).read("client_custom/objects/item.yaml"))
    assert item["extends"] is True and [f["api_name"] for f in item["fields"]] == ["site"]
    # bad input: the form again with the service's message (422), never a 500
    for data, message in [({"name": "Client!", "objects": ["item"]},
                           "A pack name must be lowercase snake_case (got &#39;Client!&#39;)."),
                          ({"name": "mine", "objects": ["itme"]}, "Unknown object &#39;itme&#39; (did you mean &#39;item&#39;?)."),
                          ({"name": "mine"}, "Name at least one object to export."),
                          ({"name": "mine", "objects": ["item"], "version": "one"},
                           "&#39;one&#39; is not a version such as 1.2.0.")]:
        r = admin_pages.post("/setup/packs/export", data)
        assert r.status_code == 422 and message in r.text, (data, r.text[-3000:])
        assert 'value="mine"' in r.text or "Client!" in r.text
    assert admin_pages.post("/setup/packs/export", {"name": "mine", "objects": ["item"]}, csrf=False).status_code == 400


def test_administrators_only_in_the_page_and_the_service(rep_pages, services, pack_root):
    from engine.packs import packs

    assert rep_pages.get("/setup/packs").status_code == 403
    assert rep_pages.get("/setup/packs/shop/install").status_code == 403
    assert rep_pages.post("/setup/packs/shop/install").status_code == 403
    assert rep_pages.post("/setup/packs/export", {"name": "x", "objects": ["deal"]}).status_code == 403
    rep = services.actor("rep")
    for call in (lambda: packs(services).list(rep), lambda: packs(services).install("shop", rep, dry_run=True),
                 lambda: packs(services).uninstall("shop", rep)):
        with pytest.raises(PermissionDeniedError) as info:
            call()
        assert info.value.code == "packs.E020"
    from engine.packs.export import export_archive
    with pytest.raises(PermissionDeniedError):
        export_archive(services, "x", ["deal"], rep)
    assert "item" not in _objects(services)


def test_in_chinese(admin_pages, pack_root):
    assert admin_pages.post("/locale", {"locale": "zh_CN", "next": "/setup/packs"}).status_code == 303
    page = admin_pages.get("/setup/packs")
    assert "商店" in page.text and "商品及其价格。" in page.text and "可安装" in page.text
    assert "将对象导出为扩展包" in page.text
    plan = admin_pages.get("/setup/packs/shop/install?with_sample_data=1")
    assert "安装 商店 1.0.0" in plan.text and "包含示例数据" in plan.text and "确认：安装 商店" in plan.text
    # the pack's api name stays in the links only
    assert 'action="/setup/packs/shop/install"' in plan.text and "安装 shop" not in plan.text
