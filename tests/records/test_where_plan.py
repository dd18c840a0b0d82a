"""``where=field = 'X'`` compiles to a plain comparison that an index on the field can serve.

The general form of a text equality, ``COALESCE(NULLIF(stage, '') IS NOT DISTINCT FROM 'X', FALSE)``,
hides the column from the planner; with a constant that is not blank the compiler writes
``stage = 'X' AND stage IS NOT NULL`` (same rows: tests/formula/test_sql_agreement.py). On
PostgreSQL, with enough rows, EXPLAIN then shows the field's index.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from engine.security import SYSTEM_ACTOR

DOC = {"api_name": "lead", "label": "Lead", "fields": [
    {"api_name": "stage", "type": "picklist", "filterable": True,
     "options": [{"value": "Common"}, {"value": "Rare"}, {"value": "Won"}]},
    {"api_name": "score", "type": "integer", "filterable": True},
    {"api_name": "notes", "type": "text"},
]}


@pytest.fixture(scope="module")
def lead_reader(tmp_path_factory):
    """A record service over the lead object (SQLite; the SQL below is compiled for each dialect)."""
    from engine import create_app
    from engine.security.users import create_token, create_user
    from tests.conftest import Api

    app = create_app({"database_url": f"sqlite:///{tmp_path_factory.mktemp('plan') / 'p.db'}", "testing": True})
    services = app.extensions["tessera"]
    create_user(services.engine, "admin", "admin-password", is_admin=True)
    assert Api(app.test_client(), create_token(services.engine, "admin")).post(
        "/api/v1/objects", json=DOC).status_code == 201
    yield services.records()
    services.engine.dispose()


@pytest.mark.parametrize("where, plain", [
    ("stage = 'Rare'", "stage = 'Rare' AND obj_lead.stage IS NOT NULL"),
    ("'Rare' = stage", "stage = 'Rare' AND obj_lead.stage IS NOT NULL"),
    ("score > 5", "score > 5 AND obj_lead.score IS NOT NULL"),
    ("score = 7 && stage = 'Won'", "score = 7 AND obj_lead.score IS NOT NULL AND obj_lead.stage = 'Won'"),
    ("NOT(score <= 5)", "NOT (obj_lead.score <= 5 AND obj_lead.score IS NOT NULL)"),
])
@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
def test_plain_comparison_sql(lead_reader, where, plain, dialect):
    sql = str(lead_reader.select("lead", SYSTEM_ACTOR, where=where).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}))
    assert plain in sql, sql
    assert "coalesce" not in sql.lower() and "nullif" not in sql.lower(), sql


def test_blank_constant_keeps_the_general_form(lead_reader):
    sql = str(lead_reader.select("lead", SYSTEM_ACTOR, where="stage = ''").compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    assert "nullif" in sql.lower(), sql     # blank: NULL and '' both match


def test_postgresql_uses_the_index(api, services, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("EXPLAIN of PostgreSQL")
    assert api.post("/api/v1/objects", json=DOC).status_code == 201
    reader = services.records()
    rows = [{"name": f"l{i}", "stage": "Rare" if i % 2000 == 0 else "Common", "score": i % 100} for i in range(20000)]
    for i in range(0, len(rows), 10000):
        reader.bulk_create("lead", rows[i:i + 10000], SYSTEM_ACTOR)
    with services.engine.begin() as conn:
        conn.execute(text("ANALYZE obj_lead"))
    stmt = reader.select("lead", SYSTEM_ACTOR, where="stage = 'Rare'").limit(50)
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with services.engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
    assert "Index" in plan and "stage" in plan, plan
    assert "Seq Scan on obj_lead" not in plan, plan
    page = api.get("/api/v1/records/lead", query_string={"where": "stage = 'Rare'", "with_total": "true"}).get_json()
    assert page["total"] == 10
