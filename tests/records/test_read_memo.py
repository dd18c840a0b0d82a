"""RecordReader.remember_reads(): a page's record service reads a record once per request (the
detail page, its approval panel and its run log all ask for it), without skipping a check, without
handing one actor's read to another, and never after a write."""
from __future__ import annotations

import pytest

from engine.errors import EngineError


@pytest.fixture
def deal(crm, services):
    return services.records().create("deal", {"name": "Acme", "stage": "New", "amount": 10, "tags": ["a"]},
                                     services.actor("admin"))


def test_a_remembered_read_runs_its_query_once(services, deal, deal_selects):
    admin = services.actor("admin")
    svc = services.records().remember_reads()
    first = svc.get("deal", deal["id"], admin, include_deleted=True)
    first["name"] = "changed by the caller"
    first["tags"].append("z")
    second = svc.get("deal", deal["id"], admin, include_deleted=True)
    assert len(deal_selects) == 1
    assert second["name"] == "Acme" and second["tags"] == ["a"]     # a copy each time
    # another field list or include_deleted is another read
    svc.get("deal", deal["id"], admin)
    svc.get("deal", deal["id"], admin, fields=["name"])
    assert len(deal_selects) == 3


def test_without_remember_reads_every_get_queries(services, deal, deal_selects):
    admin = services.actor("admin")
    svc = services.records()
    svc.get("deal", deal["id"], admin)
    svc.get("deal", deal["id"], admin)
    assert len(deal_selects) == 2
    # and a new service (the next request) remembers nothing of the last one
    services.records().remember_reads().get("deal", deal["id"], admin)
    assert len(deal_selects) == 3


def test_another_actor_never_gets_a_remembered_read(services, deal, deal_selects):
    from engine.security.users import create_user

    create_user(services.engine, "outsider", "outsider-password")
    admin, outsider = services.actor("admin"), services.actor("outsider")
    svc = services.records().remember_reads()
    svc.get("deal", deal["id"], admin)
    with pytest.raises(EngineError) as exc:          # no right on deal: the check still runs
        svc.get("deal", deal["id"], outsider)
    assert exc.value.code == "metadata.E041"      # as if the object did not exist
    # the same user through another actor object reads for itself
    svc.get("deal", deal["id"], services.actor("admin"))
    assert len(deal_selects) == 2


def test_checks_run_on_every_remembered_read(services, deal):
    admin = services.actor("admin")
    svc = services.records().remember_reads()
    svc.get("deal", deal["id"], admin, fields=["name"])
    for _ in range(2):
        with pytest.raises(EngineError) as exc:
            svc.get("deal", deal["id"], admin, fields=["name", "no_such_field"])
        assert exc.value.code == "records.E019"


def test_a_write_through_the_service_forgets_what_it_read(services, deal, deal_selects):
    admin = services.actor("admin")
    svc = services.records().remember_reads()
    assert svc.get("deal", deal["id"], admin)["amount"] == 10
    svc.update("deal", deal["id"], {"amount": 25}, admin)
    assert svc.get("deal", deal["id"], admin)["amount"] == 25
    svc.delete("deal", deal["id"], admin)
    with pytest.raises(EngineError):
        svc.get("deal", deal["id"], admin)
    assert svc.get("deal", deal["id"], admin, include_deleted=True)["deleted_at"]
