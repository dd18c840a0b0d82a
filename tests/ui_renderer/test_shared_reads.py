"""One connection for the reads of a page (``engine.db.shared_reads`` / ``read_connection``): lent
only inside its block and its own context, never holding a transaction (a read after a write in
the same block sees the write; a failed statement spoils nothing), a snapshot where a block asks
for one, closed with the page request; and the pages read through it."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, select, text, update

from engine.db import read_connection, shared_reads, users


def _name(conn, username):
    return conn.execute(select(users.c.locale).where(users.c.username == username)).scalar()


def _set_locale(engine, username, locale):
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == username).values(locale=locale))


@pytest.fixture
def engine(services, crm_pages):
    return services.engine


def test_one_connection_inside_the_block_and_only_there(engine):
    with read_connection(engine) as outside:
        pass
    with shared_reads(engine):
        with read_connection(engine) as first, read_connection(engine) as second:
            assert first is second and first is not outside
            seen = []
            thread = threading.Thread(target=lambda: seen.append(read_connection(engine).__enter__()))
            thread.start()
            thread.join()
            assert seen[0] is not first          # another thread (request) never gets it
            seen[0].close()
    with read_connection(engine) as after:
        assert after is not first
    assert first.closed


def test_a_read_after_a_write_sees_it_and_a_failure_spoils_nothing(engine):
    with shared_reads(engine):
        with read_connection(engine) as conn:
            assert _name(conn, "rep") == "en"
        _set_locale(engine, "rep", "zh_CN")      # another connection commits
        with read_connection(engine) as conn:
            assert _name(conn, "rep") == "zh_CN"
        with pytest.raises(Exception):
            with read_connection(engine) as conn:
                conn.execute(text("SELECT no_such_column FROM tessera_users"))
        with read_connection(engine) as conn:   # PostgreSQL: no aborted transaction left behind
            assert _name(conn, "rep") == "zh_CN"


def test_a_snapshot_block_sees_one_snapshot_on_sqlite(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL at READ COMMITTED gives each statement its own snapshot in any transaction")
    with shared_reads(engine):
        with read_connection(engine, snapshot=True) as conn:
            assert _name(conn, "rep") == "en"
            _set_locale(engine, "rep", "zh_CN")
            assert _name(conn, "rep") == "en"    # as in a read transaction of its own
        with read_connection(engine) as conn:
            assert _name(conn, "rep") == "zh_CN"


def test_a_page_reads_through_one_connection_and_gives_it_back(engine, admin_pages, crm_pages):
    rec = crm_pages.post("/api/v1/records/deal", json={"name": "Acme", "stage": "New"}).get_json()
    admin_pages.get(f"/o/deal/{rec['id']}")
    checkouts = []
    listener = lambda *_a: checkouts.append(1)   # noqa: E731
    event.listen(engine.pool, "checkout", listener)
    try:
        page = admin_pages.get(f"/o/deal/{rec['id']}")
    finally:
        event.remove(engine.pool, "checkout", listener)
    assert page.status_code == 200 and "Acme" in page.text
    # the session, the record and its lookup's name (the record service's get), field history,
    # user names, approval panel, run log, top bar count and the customer-value panel share one
    assert len(checkouts) <= 2, len(checkouts)
    assert engine.pool.checkedout() == 0


def test_posts_and_the_api_keep_their_own_connections(engine, admin_pages, crm_pages, monkeypatch):
    import engine.db as db
    from flask import request

    opened = []
    real = db.shared_reads
    monkeypatch.setattr(db, "shared_reads", lambda e: opened.append(f"{request.method} {request.path}") or real(e))
    admin_pages.get("/o/deal")
    crm_pages.get("/api/v1/records/deal")
    token = admin_pages.token("/o/deal/new")
    created = admin_pages.client.post("/o/deal/new", data={"name": "Acme", "stage": "New", "csrf_token": token})
    assert created.status_code in (303, 422)
    assert opened == ["GET /o/deal", "GET /o/deal/new"]      # not the API's GET, not the POST
