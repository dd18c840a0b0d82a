"""The metadata store: a change and its DDL commit together or not at all."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from engine.db import init_db, make_engine, meta_history, meta_objects
from engine.errors import Forbidden
from engine.metadata.store import MetadataStore, current_version
from engine.security import SYSTEM_ACTOR, Actor
from engine.security.access import ADMIN_PLAN, Plan
from engine.services import build_metadata_hooks


class Boom(Exception):
    pass


ARMED = {"on": False}


def _boom(conn, old, new, docs, actor):
    if ARMED["on"]:
        raise Boom("failure after DDL")


@pytest.fixture
def store(db_url):
    """A store built like the composition root builds it, plus a hook that can fail a change
    after its DDL ran."""
    engine = make_engine(db_url)
    init_db(engine)
    hooks = build_metadata_hooks()
    hooks.after_change.add("boom", _boom)
    hooks.freeze()
    yield MetadataStore(engine, hooks)
    ARMED["on"] = False
    engine.dispose()


@pytest.fixture
def failing_hook():
    """Make the next metadata change fail after its DDL ran."""
    return ARMED


def admin(user_id):
    return Actor(user_id=user_id, username=user_id, is_admin=True, plan=ADMIN_PLAN)


def _state(store):
    with store.engine.connect() as conn:
        insp = inspect(conn)
        tables = sorted(insp.get_table_names())
        cols = {t: sorted(c["name"] for c in insp.get_columns(t)) for t in tables if t.startswith(("obj_", "zz_"))}
        idx = {t: sorted(i["name"] for i in insp.get_indexes(t)) for t in tables if t.startswith("obj_")}
        metas = conn.execute(select(meta_objects.c.api_name, meta_objects.c.version)).all()
        hist = conn.execute(select(meta_history.c.api_name, meta_history.c.version)).all()
        return tables, cols, idx, sorted(metas), sorted(hist), current_version(conn)


def test_failed_changes_leave_nothing_behind(store, failing_hook):
    A = SYSTEM_ACTOR
    store.create_object({"api_name": "account", "fields": [{"api_name": "code", "type": "text"}]}, A)
    before = _state(store)
    failing_hook["on"] = True
    changes = [
        lambda: store.create_object({"api_name": "deal", "fields": [
            {"api_name": "amount", "type": "currency", "filterable": True},
            {"api_name": "account", "type": "lookup", "target": "account"},
            {"api_name": "n", "type": "auto_number", "format": "N-{00}"}]}, A),
        lambda: store.add_field("account", {"api_name": "score", "type": "integer", "unique": True}, A),
        lambda: store.update_field("account", "code", {"type": "integer"}, A),
        lambda: store.update_field("account", "code", {"unique": True}, A),
        lambda: store.delete_field("account", "code", A),
        lambda: store.delete_object("account", A),
    ]
    for change in changes:
        with pytest.raises(Boom):
            change()
        assert _state(store) == before
    failing_hook["on"] = False
    store.add_field("account", {"api_name": "score", "type": "integer", "unique": True}, A)
    assert _state(store) != before


def test_versions_and_history(store):
    store.create_object({"api_name": "account"}, SYSTEM_ACTOR)
    store.add_field("account", {"api_name": "code", "type": "text"}, admin("u1"))
    store.update_object("account", {"label": "Customer"}, admin("u2"))
    hist = store.history("account")
    assert [(h["version"], h["action"], h["author_id"]) for h in hist] == [
        (1, "create_object", None), (2, "add_field", "u1"), (3, "update_object", "u2")]
    assert hist[1]["doc"]["fields"][0]["api_name"] == "code"
    store.rollback("account", 1, admin("u3"))
    assert store.history("account")[-1]["doc"] == {"api_name": "account"}


def test_only_administrators_change_metadata_whatever_the_door(store):
    """The store checks the actor itself: a script, the CLI or a pack cannot skip the check."""
    rep = Actor(user_id="u9", username="rep", plan=Plan(user_id="u9", is_admin=False, role=None))
    with pytest.raises(Forbidden) as exc:
        store.create_object({"api_name": "account"}, rep)
    assert (exc.value.code, exc.value.message) == ("metadata.E040", "Only administrators may change metadata.")
    with pytest.raises(Forbidden):
        store.create_object({"api_name": "account"}, None)
    store.create_object({"api_name": "account"}, SYSTEM_ACTOR)
    for change in (lambda: store.add_field("account", {"api_name": "x", "type": "text"}, rep),
                   lambda: store.delete_object("account", rep), lambda: store.purge_object("account", rep),
                   lambda: store.rollback("account", 1, rep)):
        with pytest.raises(Forbidden):
            change()
    assert [h["version"] for h in store.history("account")] == [1]


def test_the_current_version_is_read_on_every_call(db_url):
    """``services.records()`` builds on ``current_version``: its statement is built once, its answer
    never kept — a change committed through another engine (another process) is seen by the next call."""
    from engine.services import build_services

    one, two = build_services({"database_url": db_url}), build_services({"database_url": db_url})
    try:
        with one.engine.connect() as conn:
            before = current_version(conn)
        assert one.records().snapshot.version == before
        two.store.create_object({"api_name": "gadget", "fields": [{"api_name": "code", "type": "text"}]},
                                SYSTEM_ACTOR)
        with one.engine.connect() as conn:
            assert current_version(conn) == before + 1
        assert one.records().snapshot.version == before + 1 and one.records().snapshot.get("gadget") is not None
    finally:
        one.dispose()
        two.dispose()
