"""Every pack found (packs/, the tessera.packs entry points) passes the same compliance checks on
SQLite and PostgreSQL: it is valid, installs with its sample data through one transaction per
pack, every object it installs opens as a list (each of its list views too) and as a record,
every formula field computes, it uninstalls cleanly (objects archived, nothing left owned), and
the export of its objects installs on another instance."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.packs.catalog import discover
from engine.packs.tables import installed_packs, pack_elements
from engine.security import SYSTEM_ACTOR

from packhelpers import packs_of


def _discover():
    """Every pack, read with the element kinds of this engine (reports, dashboards, segments)."""
    import tempfile

    from engine.packs.kinds import kinds_for
    from engine.services import build_services

    with tempfile.TemporaryDirectory() as tmp:
        svc = build_services({"database_url": f"sqlite:///{tmp}/kinds.db"})
        try:
            return discover(kinds_for(svc))
        finally:
            svc.dispose()


FOUND, NOTES = _discover()
NAMES = sorted(FOUND)
DATE_TYPES = {"date", "datetime"}


def test_packs_are_found():
    assert {"crm_core", "manufacturing", "education", "saas"} <= set(NAMES), NOTES
    assert NOTES == []


@pytest.mark.parametrize("name", NAMES)
def test_pack_is_valid(name):
    pack = FOUND[name][0]
    assert pack.problems == [], "\n".join(map(str, pack.problems))
    assert pack.meta.get("title", {}).get("zh_CN"), "every pack has a Chinese title"
    for ofile in pack.own_objects().values():
        doc = ofile.doc
        assert doc.get("label_i18n", {}).get("zh_CN"), f"{ofile.file}: no zh_CN label"
        for fdoc in doc.get("fields") or []:
            assert fdoc.get("label_i18n", {}).get("zh_CN"), f"{ofile.file}: field {fdoc['api_name']} has no zh_CN label"
            for opt in fdoc.get("options") or []:
                assert opt.get("label_i18n", {}).get("zh_CN"), f"{ofile.file}: option {opt['value']} has no zh_CN label"
    assert pack.data, f"{name} ships sample data"
    assert pack.extra.get("reports"), f"{name} ships reports"


def _field_types():
    """object -> field -> type, over every pack's object documents (extensions included)."""
    out = {}
    for packs in FOUND.values():
        for obj, ofile in packs[0].objects.items():
            for fdoc in ofile.doc.get("fields") or []:
                out.setdefault(obj, {})[fdoc["api_name"]] = fdoc.get("type") if fdoc.get("type") != "formula" \
                    else fdoc.get("return_type")
    return out


@pytest.mark.parametrize("name", NAMES)
def test_sample_dates_are_relative_to_today(name):
    """Every date in the sample data is a formula of TODAY() or NOW(), so the data stays fresh."""
    types = _field_types()
    absolute = []
    for obj, table in FOUND[name][0].data.items():
        for line, row in table.rows:
            for col, cell in row.items():
                if types.get(obj, {}).get(col) in DATE_TYPES and cell and not (
                        cell.startswith("=") and ("TODAY()" in cell or "NOW()" in cell)):
                    absolute.append(f"{table.file}:{line}: {col} = {cell}")
    assert absolute == []


def test_crm_core_has_the_objects_reports_and_dashboard_of_a_crm():
    pack = FOUND["crm_core"][0]
    assert {"lead", "account", "contact", "opportunity", "product", "price_book_entry", "quote", "quote_line",
            "order", "contract", "campaign", "campaign_member", "case", "knowledge_article", "task", "event",
            "note", "partner", "deal_registration"} <= set(pack.own_objects())
    for ofile in pack.own_objects().values():
        assert ofile.doc.get("layouts") and ofile.doc.get("list_views"), f"{ofile.file}: a layout and a list view"
    reports = {doc["name"]: doc for _f, doc, _l in pack.extra["reports"]}
    assert {"pipeline_by_stage", "win_rate", "sales_performance", "service_kpis", "customer_value"} <= set(reports)
    assert reports["pipeline_by_stage"]["object"] == "opportunity"
    dashboards = {doc["name"]: doc for _f, doc, _l in pack.extra["dashboards"]}
    assert {c["report"] for c in dashboards["sales_overview"]["components"]} <= set(reports)


def _owned(services, name):
    with services.engine.connect() as conn:
        return conn.execute(select(pack_elements).where(pack_elements.c.pack == name)).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_pack_installs_opens_uninstalls_and_exports(name, services, second_services, tmp_path):
    service = packs_of(services)
    plans = service.install(name, SYSTEM_ACTOR, with_data=True)
    assert [p.pack for p in plans][-1] == name and all(p.applied for p in plans)
    pack = FOUND[name][0]
    from engine.workflow.tables import outbox
    with services.engine.connect() as conn:       # what the sample data set off has run after the commit
        assert conn.execute(select(outbox.c.id).where(outbox.c.status == "pending")).first() is None
    records = services.records()
    own = sorted(pack.own_objects())
    for obj in own + sorted(pack.extensions()):
        rt = records.runtime(obj)
        page = records.list(obj, SYSTEM_ACTOR, limit=5, with_total=True)
        if obj in pack.data:
            assert page["total"] >= len(pack.data[obj].rows), obj
        for view in rt.odef.doc.get("list_views") or []:
            records.list(obj, SYSTEM_ACTOR, where=view.get("where"), order_by=view.get("order_by"), limit=5,
                         fields=view["columns"])
        if page["records"]:
            rec = records.get(obj, page["records"][0]["id"], SYSTEM_ACTOR)
            for fdef in rt.odef.fields:
                assert fdef.api_name in rec, f"{obj}.{fdef.api_name} missing from a record"
    # every report and dashboard the pack installed runs over its sample data
    reports = services.extensions["reports"]
    for kind in ("reports", "dashboards"):
        for _file, doc, _lines in pack.extra.get(kind) or []:
            if kind == "reports":
                result = reports.run(doc["name"], SYSTEM_ACTOR)
                assert result["totals"] or result.get("rows"), doc["name"]
            else:
                run = reports.run_dashboard(doc["name"], SYSTEM_ACTOR, {})
                assert [c.get("error") for c in run["components"]] == [None] * len(doc["components"])
    # the export of the pack's objects installs on another instance (where the pack is installed)
    result = __import__("engine.packs.export", fromlist=["export_pack"]).export_pack(
        services, f"{name}_copy", own, tmp_path / "export", SYSTEM_ACTOR, with_data=True)
    assert result["depends"] == {name: f">={pack.version},<{int(pack.version.split('.')[0]) + 1}"}
    other = packs_of(second_services)
    other.install(name, SYSTEM_ACTOR)
    plans = other.install(f"{name}_copy", SYSTEM_ACTOR, path=tmp_path / "export", with_data=True)
    assert plans[-1].applied
    if name == "crm_core":                 # converting a lead creates its contact and a first opportunity
        lead = records.list("lead", SYSTEM_ACTOR, where="status = 'Working' && NOT(ISBLANK(email))",
                            limit=1)["records"][0]
        account = records.list("account", SYSTEM_ACTOR, limit=1)["records"][0]
        records.update("lead", lead["id"], {"status": "Converted", "converted_account": account["id"]}, SYSTEM_ACTOR)
        contact = records.list("contact", SYSTEM_ACTOR, where=f"email = '{lead['email']}'")["records"]
        assert [(c["name"], c["account"]) for c in contact] == [(lead["name"], account["id"])]
        opp = records.list("opportunity", SYSTEM_ACTOR, where=f"name = '{lead['company']} - first order'")["records"]
        assert [(o["account"], o["stage"]) for o in opp] == [(account["id"], "Qualification")]
    # uninstall: nothing of the pack stays live or owned; its objects are archived
    if name == "crm_core":
        for dependant in [n for n in NAMES if "crm_core" in FOUND[n][0].depends]:
            assert dependant not in service.installed()
    plans = service.uninstall(name, SYSTEM_ACTOR)
    assert {i.key for i in plans[0].items if i.kind == "object" and i.action == "archive"} == set(own)
    assert _owned(services, name) == []
    with services.engine.connect() as conn:
        assert conn.execute(select(installed_packs.c.name).where(installed_packs.c.name == name)).first() is None
    live = set(services.snapshots.refresh().objects)
    assert not live & set(own)
    for obj in pack.extensions():
        ext_fields = {f["api_name"] for f in pack.objects[obj].doc.get("fields") or []}
        fields = {f.api_name for f in services.records().runtime(obj).odef.fields}
        assert not (ext_fields - {"industry"}) & fields, f"{name}'s fields on {obj} are archived"
