"""The metadata store: a change and its DDL commit together or not at all."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from engine.db import init_db, make_engine, meta_history, meta_objects
from engine.metadata import store as store_mod
from engine.metadata.store import MetadataStore, current_version


class Boom(Exception):
    pass


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    init_db(engine)
    yield MetadataStore(engine)
    engine.dispose()


@pytest.fixture
def failing_hook():
    """Make the next metadata change fail after its DDL ran."""
    armed = {"on": False}

    def hook(conn, old, new, docs, author=None):
        if armed["on"]:
            raise Boom("failure after DDL")

    store_mod.after_change_hooks.append(hook)
    yield armed
    store_mod.after_change_hooks.remove(hook)


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
    store.create_object({"api_name": "account", "fields": [{"api_name": "code", "type": "text"}]})
    before = _state(store)
    failing_hook["on"] = True
    changes = [
        lambda: store.create_object({"api_name": "deal", "fields": [
            {"api_name": "amount", "type": "currency", "filterable": True},
            {"api_name": "account", "type": "lookup", "target": "account"},
            {"api_name": "n", "type": "auto_number", "format": "N-{00}"}]}),
        lambda: store.add_field("account", {"api_name": "score", "type": "integer", "unique": True}),
        lambda: store.update_field("account", "code", {"type": "integer"}),
        lambda: store.update_field("account", "code", {"unique": True}),
        lambda: store.delete_field("account", "code"),
        lambda: store.delete_object("account"),
    ]
    for change in changes:
        with pytest.raises(Boom):
            change()
        assert _state(store) == before
    failing_hook["on"] = False
    store.add_field("account", {"api_name": "score", "type": "integer", "unique": True})
    assert _state(store) != before


def test_versions_and_history(store):
    store.create_object({"api_name": "account"})
    store.add_field("account", {"api_name": "code", "type": "text"}, author="u1")
    store.update_object("account", {"label": "Customer"}, author="u2")
    hist = store.history("account")
    assert [(h["version"], h["action"], h["author_id"]) for h in hist] == [
        (1, "create_object", None), (2, "add_field", "u1"), (3, "update_object", "u2")]
    assert hist[1]["doc"]["fields"][0]["api_name"] == "code"
    store.rollback("account", 1, author="u3")
    assert store.history("account")[-1]["doc"] == {"api_name": "account"}
