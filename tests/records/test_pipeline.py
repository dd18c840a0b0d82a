"""The write pipeline without HTTP: phase order, what hooks may change, rollback, after_commit,
events of the recycle bin (with master-detail cascades), row versions, the actor."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import Forbidden, RecordValidationError
from engine.records.pipeline import RecordContext, WriteContext
from engine.records.service import RecordService
from engine.security import SYSTEM_ACTOR
from engine.security.users import create_token, create_user
from engine.services import build_record_hooks, build_services

POINTS = ["authorise", "defaults", "validate", "before_save", "after_write", "after_commit"]
DEAL = {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "fields": [
    {"api_name": "amount", "label": "Amount", "type": "currency", "scale": 2},
    {"api_name": "stage", "label": "Stage", "type": "text", "required": True}]}
LINE = {"api_name": "line", "label": "Line", "plural_label": "Lines", "fields": [
    {"api_name": "deal", "label": "Deal", "type": "master_detail", "target": "deal"},
    {"api_name": "qty", "label": "Quantity", "type": "integer"}]}


@pytest.fixture
def svc(db_url):
    services = build_services({"database_url": db_url})
    services.store.create_object(DEAL, SYSTEM_ACTOR)
    services.store.create_object(LINE, SYSTEM_ACTOR)
    yield services
    services.dispose()


def with_hooks(svc, **extra):
    """A record service whose pipeline is the engine's plus ``extra`` (point -> [(name, fn)])."""
    hooks = build_record_hooks()
    for point, items in extra.items():
        for name, fn in items:
            getattr(hooks, point).add(name, fn)
    hooks.freeze()
    return RecordService(svc.engine, svc.snapshots.refresh(), hooks)


def probes(log):
    """One hook on every point that notes (point, event, object, ids written)."""
    def probe(point):
        def fn(ctx):
            if isinstance(ctx, WriteContext):
                log.append((point, str(ctx.event), ctx.rt.name, sorted(c.values["id"] for c in ctx.changes)))
            else:
                assert isinstance(ctx, RecordContext)
                log.append((point, str(ctx.event), ctx.rt.name))
        return fn
    return {p: [("probe", probe(p))] for p in POINTS}


def test_phases_run_in_order_on_create_and_update(svc):
    log = []
    records = with_hooks(svc, **probes(log))
    rec = records.create("deal", {"name": "Acme", "stage": "New"}, SYSTEM_ACTOR)
    assert log == [("authorise", "create", "deal"), ("defaults", "create", "deal"),
                   ("validate", "create", "deal"), ("before_save", "create", "deal"),
                   ("after_write", "create", "deal", [rec["id"]]), ("after_commit", "create", "deal", [rec["id"]])]
    log.clear()
    records.update("deal", rec["id"], {"amount": 5}, SYSTEM_ACTOR)
    # defaults fill only records being created
    assert log == [("authorise", "update", "deal"), ("validate", "update", "deal"),
                   ("before_save", "update", "deal"), ("after_write", "update", "deal", [rec["id"]]),
                   ("after_commit", "update", "deal", [rec["id"]])]


def test_a_before_save_change_is_persisted(svc):
    def stamp(ctx):
        ctx.values["stage"] = ctx.values["stage"].upper()

    records = with_hooks(svc, before_save=[("upper_stage", stamp)])
    rec = records.create("deal", {"name": "Acme", "stage": "new"}, SYSTEM_ACTOR)
    assert rec["stage"] == "NEW"
    assert svc.records().get("deal", rec["id"], SYSTEM_ACTOR)["stage"] == "NEW"
    records.update("deal", rec["id"], {"stage": "won"}, SYSTEM_ACTOR)
    assert svc.records().get("deal", rec["id"], SYSTEM_ACTOR)["stage"] == "WON"


def test_a_failing_after_write_rolls_the_whole_write_back(svc):
    committed = []

    def boom(ctx):
        raise RuntimeError("outbox is full")

    records = with_hooks(svc, after_write=[("boom", boom)], after_commit=[("note", committed.append)])
    with pytest.raises(RuntimeError, match="outbox is full"):
        records.bulk_create("deal", [{"name": "A", "stage": "New"}, {"name": "B", "stage": "New"}], SYSTEM_ACTOR)
    assert svc.records().list("deal", SYSTEM_ACTOR)["records"] == []
    rec = svc.records().create("deal", {"name": "C", "stage": "New", "amount": 1}, SYSTEM_ACTOR)
    with pytest.raises(RuntimeError, match="outbox is full"):
        records.update("deal", rec["id"], {"amount": 2}, SYSTEM_ACTOR)
    with pytest.raises(RuntimeError, match="outbox is full"):
        records.delete("deal", rec["id"], SYSTEM_ACTOR)
    after = svc.records().get("deal", rec["id"], SYSTEM_ACTOR)
    assert (after["amount"], after["row_version"], after["deleted_at"]) == (1, 1, None)
    assert committed == []


def test_after_commit_runs_after_the_commit_and_never_for_a_failed_write(svc):
    seen = []

    def check_committed(ctx):
        assert ctx.conn is None
        deal = svc.snapshots.refresh().get("deal").table
        with svc.engine.connect() as other:   # another connection sees the row: it is committed
            ids = [c.values["id"] for c in ctx.changes]
            seen.append(sorted(other.execute(select(deal.c.id).where(deal.c.id.in_(ids))).scalars()))

    records = with_hooks(svc, after_commit=[("check", check_committed)])
    rec = records.create("deal", {"name": "Acme", "stage": "New"}, SYSTEM_ACTOR)
    assert seen == [[rec["id"]]]
    with pytest.raises(RecordValidationError):
        records.create("deal", {"name": "No stage"}, SYSTEM_ACTOR)
    with pytest.raises(RecordValidationError):
        records.update("deal", rec["id"], {"stage": ""}, SYSTEM_ACTOR)
    assert seen == [[rec["id"]]]


def test_recycle_bin_events_cascade_to_master_detail_children(svc):
    """Children written by a cascade go through after_write and after_commit like their parent."""
    log = []
    records = with_hooks(svc, **probes(log))
    deal = svc.records().create("deal", {"name": "Acme", "stage": "New"}, SYSTEM_ACTOR)
    lines = svc.records().bulk_create("line", [{"deal": deal["id"], "qty": 1}, {"deal": deal["id"], "qty": 2}],
                                      SYSTEM_ACTOR)
    line_ids = sorted(x["id"] for x in lines)
    for action, event in (("delete", "delete"), ("restore", "restore")):
        log.clear()
        getattr(records, action)("deal", deal["id"], SYSTEM_ACTOR)
        assert log == [("after_write", event, "line", line_ids), ("after_write", event, "deal", [deal["id"]]),
                       ("after_commit", event, "line", line_ids), ("after_commit", event, "deal", [deal["id"]])], \
            action
        assert len(svc.records().list("line", SYSTEM_ACTOR, deleted=event == "delete")["records"]) == 2
    records.delete("deal", deal["id"], SYSTEM_ACTOR)
    log.clear()
    records.purge("deal", deal["id"], SYSTEM_ACTOR)
    assert log == [("after_write", "purge", "line", line_ids), ("after_write", "purge", "deal", [deal["id"]]),
                   ("after_commit", "purge", "line", line_ids), ("after_commit", "purge", "deal", [deal["id"]])]
    for obj in ("deal", "line"):
        assert svc.records().list(obj, SYSTEM_ACTOR, deleted=True)["records"] == []


def test_row_version_moves_on_real_changes_and_recycle_bin_not_on_a_no_op(svc):
    log = []
    records = with_hooks(svc, **probes(log))
    rec = records.create("deal", {"name": "Acme", "stage": "New", "amount": 5}, SYSTEM_ACTOR)
    assert rec["row_version"] == 1
    log.clear()
    same = records.update("deal", rec["id"], {"stage": "New", "amount": 5}, SYSTEM_ACTOR)
    assert same["row_version"] == 1 and same["updated_at"] == rec["updated_at"]
    assert [p for p, *_ in log] == ["authorise", "validate", "before_save"]   # nothing written
    assert records.update("deal", rec["id"], {"amount": 6}, SYSTEM_ACTOR)["row_version"] == 2
    records.delete("deal", rec["id"], SYSTEM_ACTOR)
    assert records.get("deal", rec["id"], SYSTEM_ACTOR, include_deleted=True)["row_version"] == 3
    assert records.restore("deal", rec["id"], SYSTEM_ACTOR)["row_version"] == 4
    assert records.get("deal", rec["id"], SYSTEM_ACTOR)["row_version"] == 4


@pytest.mark.parametrize("call", [
    lambda r, rid: r.create("deal", {"name": "X", "stage": "New"}, None),
    lambda r, rid: r.bulk_create("deal", [{"name": "X", "stage": "New"}], None),
    lambda r, rid: r.update("deal", rid, {"amount": 1}, None),
    lambda r, rid: r.delete("deal", rid, None),
    lambda r, rid: r.get("deal", rid, None),
    lambda r, rid: r.list("deal", None),
    lambda r, rid: r.select("deal", None),
], ids=["create", "bulk_create", "update", "delete", "get", "list", "select"])
def test_the_actor_is_required(svc, call):
    records = svc.records()
    rid = records.create("deal", {"name": "Acme", "stage": "New"}, SYSTEM_ACTOR)["id"]
    with pytest.raises(TypeError, match=r"^the record service needs an actor with a plan "
                                        r"\(engine.security.SYSTEM_ACTOR for internal work\)$"):
        call(records, rid)
    assert records.get("deal", rid, SYSTEM_ACTOR)["row_version"] == 1


def test_a_read_only_token_cannot_write(svc):
    create_user(svc.engine, "boss", "boss-password", is_admin=True)
    actor, snapshot = svc.authenticate(create_token(svc.engine, "boss", scope="read"))
    assert actor.read_only
    records = svc.records(snapshot)
    rid = svc.records().create("deal", {"name": "Acme", "stage": "New"}, SYSTEM_ACTOR)["id"]
    assert records.get("deal", rid, actor)["name"] == "Acme"
    for call in (lambda: records.create("deal", {"name": "X", "stage": "New"}, actor),
                 lambda: records.bulk_create("deal", [{"name": "X", "stage": "New"}], actor),
                 lambda: records.update("deal", rid, {"amount": 1}, actor),
                 lambda: records.delete("deal", rid, actor)):
        with pytest.raises(Forbidden) as exc:
            call()
        assert (exc.value.code, exc.value.message) == ("security.E030", "This token is read-only.")
    assert [r["id"] for r in svc.records().list("deal", SYSTEM_ACTOR)["records"]] == [rid]


def test_bulk_errors_count_rows_from_one(svc):
    records = svc.records()
    rows = [{"name": "A", "stage": "New"}, {"name": "B", "stage": "New"}, {"name": "C"},
            {"name": "D", "stage": "New", "amount": "lots"}]
    with pytest.raises(RecordValidationError) as exc:
        records.bulk_create("deal", rows, SYSTEM_ACTOR)
    assert exc.value.code == "records.E001"
    assert exc.value.message == "2 of 4 Deals are invalid; nothing was saved. Row 3: Stage: Required."
    assert exc.value.fields == {"records[2].stage": ["Required."], "records[3].amount": ["Not a valid number."]}
    assert records.list("deal", SYSTEM_ACTOR)["records"] == []
