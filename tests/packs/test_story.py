"""The implementer's story (issue 12): install manufacturing with sample data; the client's admin
adds their own field, picklist option and label, and an object of their own; the pack's next
version (a fixture: the shipped pack, changed) is planned, refused while it has destructive steps,
then applied — the admin's work survives, no record is lost; the admin's customisations are
exported with their data and installed on a second database; uninstall removes exactly what the
pack added and archives its data."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import PackError
from engine.metadata.store import current_version, load_docs
from engine.packs.export import export_pack
from engine.security import SYSTEM_ACTOR

from packhelpers import copy_pack, edit_yaml, packs_of

ADMIN = SYSTEM_ACTOR


def _v2(tmp_path):
    """manufacturing 1.1.0: a new field, a new option, changed labels, a list view dropped and one
    added, and a stored field dropped (a destructive step)."""
    root = copy_pack("manufacturing", tmp_path / "manufacturing_v2")
    edit_yaml(root / "pack.yaml", lambda d: d.update(version="1.1.0"))

    def equipment(doc):
        fields = {f["api_name"]: f for f in doc["fields"]}
        fields["model"]["label"] = "Model number"                    # the admin changed this label too
        fields["status"]["label"] = "Operating status"
        fields["product_line"]["options"].append({"value": "Laser cutting", "label_i18n": {"zh_CN": "激光切割"}})
        doc["fields"].append({"api_name": "firmware_version", "type": "text", "max_length": 40,
                              "label": "Firmware version", "label_i18n": {"zh_CN": "固件版本"}})
        doc["list_views"] = [v for v in doc["list_views"] if v["name"] != "down_now"] + [
            {"name": "by_product_line", "label": "By product line", "columns": ["name", "product_line", "status"],
             "order_by": "product_line"}]
    edit_yaml(root / "objects" / "equipment.yaml", equipment)

    def dealer(doc):
        doc["fields"] = [f for f in doc["fields"] if f["api_name"] != "phone"]
        doc["layouts"][0]["sections"][1]["fields"].remove("phone")
    edit_yaml(root / "objects" / "dealer.yaml", dealer)
    csv = root / "data" / "dealer.csv"
    rows = [line.split(",") for line in csv.read_text("utf-8").splitlines()]
    col = rows[0].index("phone")
    csv.write_text("\n".join(",".join(r[:col] + r[col + 1:]) for r in rows) + "\n", "utf-8")
    return root


def _doc(services, obj):
    with services.engine.connect() as conn:
        return load_docs(conn)[obj]["doc"]


def _field(doc, name):
    return next((f for f in doc["fields"] if f["api_name"] == name), None)


def _counts(services, objects):
    records = services.records()
    return {o: records.list(o, ADMIN, limit=1, with_total=True)["total"] for o in objects}


MFG = ["dealer", "equipment", "service_contract", "work_order", "spare_part"]


@pytest.mark.slow
def test_install_customise_upgrade_export_uninstall(services, second_services, tmp_path):
    service = packs_of(services)
    service.install("manufacturing", ADMIN, with_data=True)

    # -- the client's admin customises ----------------------------------------------------------
    store = services.store
    store.add_field("equipment", {"api_name": "site_contact", "type": "text", "label": "Site contact"}, ADMIN)
    product_line = _field(_doc(services, "equipment"), "product_line")
    store.update_field("equipment", "product_line",
                       {"options": product_line["options"] + [{"value": "Robotics cells"}]}, ADMIN)
    store.update_field("equipment", "model", {"label": "Machine model"}, ADMIN)
    store.create_object({"api_name": "site_visit", "label": "Site visit", "fields": [
        {"api_name": "equipment", "type": "lookup", "target": "equipment", "label": "Equipment"},
        {"api_name": "visit_date", "type": "date", "label": "Visit date"}]}, ADMIN)
    records = services.records()
    account = records.list("account", ADMIN, limit=1)["records"][0]
    mine = records.create("equipment", {"name": "Robot cell R1", "serial_number": "RC-0001",
                                        "product_line": "Robotics cells", "account": account["id"],
                                        "site_contact": "Mr. Zhou"}, ADMIN)
    some = records.list("equipment", ADMIN, limit=2)["records"]
    for rec in (mine, some[0]):
        records.create("site_visit", {"name": f"Visit {rec['name']}", "equipment": rec["id"],
                                      "visit_date": "2026-01-15"}, ADMIN)
    before = _counts(services, MFG)

    # -- the next version: planned, refused while destructive, then applied ----------------------------
    v2 = _v2(tmp_path)
    with services.engine.connect() as conn:
        version = current_version(conn)
    with pytest.raises(PackError) as info:
        service.upgrade("manufacturing", ADMIN, path=v2, dry_run=True)
    assert info.value.code == "packs.E012"
    assert info.value.fields == {"destructive": ["field dealer.phone"]}
    plan = service.upgrade("manufacturing", ADMIN, path=v2, allow_destructive=True, dry_run=True)[-1]
    with services.engine.connect() as conn:
        assert current_version(conn) == version          # a dry run changes nothing
    assert not plan.applied and (plan.from_version, plan.to_version) == ("1.0.0", "1.1.0")
    actions = {(i.kind, i.key): i.action for i in plan.items}
    assert actions[("field", "equipment.firmware_version")] == "create"
    assert actions[("option", "equipment.product_line:Laser cutting")] == "create"
    assert actions[("field", "equipment.status")] == "change"
    assert actions[("field", "equipment.model")] == "keep"
    assert actions[("list_view", "equipment.down_now")] == "archive"
    assert actions[("list_view", "equipment.by_product_line")] == "create"
    assert actions[("field", "dealer.phone")] == "archive"
    assert actions[("field", "equipment.serial_number")] == "keep"
    assert "field 'equipment.model': label changed by an administrator; kept although this version changes " \
           "label too" in plan.overrides
    assert "field 'equipment.site_contact' (added by an administrator): kept" in plan.overrides
    assert "option 'equipment.product_line:Robotics cells' (added by an administrator): kept" in plan.overrides
    assert "object 'site_visit'" not in " ".join(plan.overrides)

    applied = service.upgrade("manufacturing", ADMIN, path=v2, allow_destructive=True)[-1]
    assert applied.applied
    doc = _doc(services, "equipment")
    assert _field(doc, "site_contact")["label"] == "Site contact"
    assert _field(doc, "model")["label"] == "Machine model"
    assert _field(doc, "status")["label"] == "Operating status"
    assert _field(doc, "firmware_version") is not None
    assert [o["value"] for o in _field(doc, "product_line")["options"]][-2:] == ["Robotics cells", "Laser cutting"]
    assert [v["name"] for v in doc["list_views"]] == ["installed_base", "warranty_ending", "by_product_line"]
    assert _field(_doc(services, "dealer"), "phone") is None
    with services.engine.connect() as conn:
        archive = load_docs(conn)["dealer"]["archive"]
    assert [a["field"]["api_name"] for a in archive] == ["phone"]          # archived, not dropped
    assert _counts(services, MFG) == before                                  # no record lost
    again = services.records().get("equipment", mine["id"], ADMIN)
    assert (again["product_line"], again["site_contact"]) == ("Robotics cells", "Mr. Zhou")
    assert service.installed()["manufacturing"]["version"] == "1.1.0"
    assert service.upgrade("manufacturing", ADMIN, path=v2)[-1].notes     # the same version again: nothing

    # -- the admin's customisations, exported with their data, install on a second database ----------
    reports = services.extensions["reports"]
    reports.reports.create({"name": "visits_by_equipment", "object": "site_visit", "group_by": [{"field": "equipment"}]}, ADMIN)
    reports.reports.create({"name": "accounts_plain", "object": "account"}, ADMIN)
    reports.dashboards.create({"name": "field_service", "components": [{"report": "visits_by_equipment"}]}, ADMIN)
    reports.dashboards.create({"name": "mixed", "components": [{"report": "visits_by_equipment"},
                                                               {"report": "accounts_plain"}]}, ADMIN)
    result = export_pack(services, "client_custom", ["equipment", "site_visit"], tmp_path / "client", ADMIN,
                         with_data=True)
    assert result["depends"] == {"manufacturing": ">=1.1.0,<2"}
    # a dashboard goes with the pack when every report it shows does ('mixed' shows an account report)
    assert "reports/visits_by_equipment.yaml" in result["files"] and "reports/accounts_plain.yaml" not in result["files"]
    assert "dashboards/field_service.yaml" in result["files"] and "dashboards/mixed.yaml" not in result["files"]
    assert result["records"] == {"equipment": 1, "site_visit": 2}
    other = packs_of(second_services)
    other.install("manufacturing", ADMIN, path=v2, with_data=True)
    plans = other.install("client_custom", ADMIN, path=tmp_path / "client", with_data=True)
    assert plans[-1].data == {"equipment": 1, "site_visit": 2}
    shown = second_services.extensions["reports"].run_dashboard("field_service", ADMIN, {})
    assert [c.get("error") for c in shown["components"]] == [None]
    doc2 = _doc(second_services, "equipment")
    assert _field(doc2, "site_contact") == _field(doc, "site_contact")
    assert "Robotics cells" in [o["value"] for o in _field(doc2, "product_line")["options"]]
    assert _doc(second_services, "site_visit")["fields"] == _doc(services, "site_visit")["fields"]
    r2 = second_services.records()
    copy = r2.list("equipment", ADMIN, where="serial_number = 'RC-0001'")["records"][0]
    assert (copy["name"], copy["product_line"], copy["site_contact"]) == ("Robot cell R1", "Robotics cells", "Mr. Zhou")
    visits = sorted((v["name"], r2.get("equipment", v["equipment"], ADMIN)["serial_number"])
                    for v in r2.list("site_visit", ADMIN)["records"])
    assert visits == sorted((f"Visit {rec['name']}", rec["serial_number"]) for rec in (mine, some[0]))
    # uninstalling the client's pack on the second database removes exactly what it added
    other.uninstall("client_custom", ADMIN)
    assert _field(_doc(second_services, "equipment"), "site_contact") is None
    assert "Robotics cells" not in [o["value"] for o in _field(_doc(second_services, "equipment"),
                                                                 "product_line")["options"]]
    assert "site_visit" not in second_services.snapshots.refresh().objects

    # -- uninstall: refused while the admin's lookup points at the pack, then exact -----------------------
    with pytest.raises(PackError) as info:
        service.uninstall("manufacturing", ADMIN)
    assert info.value.code == "packs.E015"
    assert info.value.message == ("Pack 'manufacturing' cannot be uninstalled: fields that are not the pack's point "
                                  "to its objects (site_visit.equipment -> equipment); delete those fields first.")
    store.delete_field("site_visit", "equipment", ADMIN)
    sample_accounts = _counts(services, ["account"])["account"]
    plan = service.uninstall("manufacturing", ADMIN)[-1]
    assert {i.key for i in plan.items if i.kind == "object"} == set(MFG)
    assert plan.data == {"account": 10}                                      # its sample accounts: recycle bin
    with services.engine.connect() as conn:
        rows = load_docs(conn, include_archived=True)
    assert {n for n, r in rows.items() if r["status"] == "archived"} == set(MFG)
    assert {"account", "contact", "site_visit"} <= {n for n, r in rows.items() if r["status"] == "active"}
    account_doc = rows["account"]["doc"]
    assert _field(account_doc, "service_region") is None and _field(account_doc, "preferred_dealer") is None
    assert {a["field"]["api_name"] for a in rows["account"]["archive"]} == {"service_region", "preferred_dealer"}
    assert [o["value"] for o in _field(account_doc, "industry")["options"]] == [
        "Manufacturing", "Technology", "Education", "Healthcare", "Retail", "Energy", "Finance"]
    assert _counts(services, ["account"])["account"] == sample_accounts - 10
    assert "manufacturing" not in service.installed() and "crm_core" in service.installed()
    # archived, restorable: installing again brings the objects back with their records
    service.install("manufacturing", ADMIN, path=v2)
    assert _counts(services, MFG) == before
