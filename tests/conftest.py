"""Shared fixtures: ``db_url`` runs a test on SQLite and on PostgreSQL.

PostgreSQL is reached through ``TESSERA_TEST_POSTGRES_URL`` (``.ci/run`` sets it);
when it is unset the PostgreSQL variants are skipped with a visible reason. Each
PostgreSQL test gets a schema of its own, dropped afterwards.
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, event, text

PG_URL = os.environ.get("TESSERA_TEST_POSTGRES_URL")

# Under pytest-xdist each worker gets a Redis database of its own for the workflow tests
# (gw0 -> 14, gw1 -> 13, ...), so one worker's flush never removes another's jobs.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and "TESSERA_TEST_WORKFLOW_REDIS_URL" not in os.environ:
    os.environ["TESSERA_TEST_WORKFLOW_REDIS_URL"] = f"redis://127.0.0.1:6379/{14 - int(_WORKER[2:]) % 10}"
DB_KINDS = ["sqlite", "postgresql"]


def _pg_schema_url(schema):
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def field_doc(name, ftype):
    """A field of type ``name`` (``f_<name>``) with the options its type requires (two options, a
    target object ``tgt``, a length, a scale): for tests over every field type."""
    doc = {"api_name": f"f_{name}", "type": name}
    if "options" in ftype.required_keys:
        doc["options"] = [{"value": "a"}, {"value": "b"}]
    if "target" in ftype.required_keys:
        doc["target"] = "tgt"
    if "max_length" in ftype.options_schema:
        doc["max_length"] = 30
    if "scale" in ftype.options_schema:
        doc["scale"] = 2
    return doc


@pytest.fixture(params=DB_KINDS)
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tessera.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL variant: set TESSERA_TEST_POSTGRES_URL to run it")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module", params=DB_KINDS)
def module_db_url(request, tmp_path_factory):
    """Like ``db_url``, shared by the tests of one module (for tests that change nothing)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'tessera.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL variant: set TESSERA_TEST_POSTGRES_URL to run it")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def module_app(module_db_url):
    from engine import create_app

    application = create_app({"database_url": module_db_url, "testing": True})
    yield application
    application.extensions["tessera"].engine.dispose()


@pytest.fixture(scope="module")
def module_crm(module_app):
    """The sample model on a module-scoped app, signed in as an admin (tests must leave it as found)."""
    from engine.security.users import create_token, create_user

    services = module_app.extensions["tessera"]
    create_user(services.engine, "admin", "admin-password", is_admin=True)
    api = Api(module_app.test_client(), create_token(services.engine, "admin"))
    for doc in (ACCOUNT, DEAL):
        r = api.post("/api/v1/objects", json=doc)
        assert r.status_code == 201, r.get_json()
    api.services = services
    return api


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'tessera.db'}"


class Api:
    """A Flask test client that signs requests with a bearer token."""

    def __init__(self, client, token):
        self.client = client
        self.token = token

    def _headers(self, headers):
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        out.update(headers or {})
        return out

    def get(self, url, headers=None, **kw):
        return self.client.get(url, headers=self._headers(headers), **kw)

    def post(self, url, json=None, headers=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(headers), **kw)

    def patch(self, url, json=None, headers=None, **kw):
        return self.client.patch(url, json=json, headers=self._headers(headers), **kw)

    def put(self, url, json=None, headers=None, **kw):
        return self.client.put(url, json=json, headers=self._headers(headers), **kw)

    def delete(self, url, headers=None, **kw):
        return self.client.delete(url, headers=self._headers(headers), **kw)


@pytest.fixture
def app(db_url):
    from engine import create_app

    application = create_app({"database_url": db_url, "testing": True})
    yield application
    application.extensions["tessera"].engine.dispose()


@pytest.fixture
def services(app):
    return app.extensions["tessera"]


@pytest.fixture
def admin_token(services):
    from engine.security.users import create_token, create_user

    create_user(services.engine, "admin", "admin-password", is_admin=True)
    return create_token(services.engine, "admin")


@pytest.fixture
def api(app, admin_token):
    return Api(app.test_client(), admin_token)


@pytest.fixture
def user_api(app, services, admin_token):
    """A signed-in user who is not an administrator."""
    from engine.security.users import create_token, create_user

    create_user(services.engine, "rep", "rep-password")
    return Api(app.test_client(), create_token(services.engine, "rep"))


@pytest.fixture
def anon_api(app):
    return Api(app.test_client(), None)


ACCOUNT = {"api_name": "account", "label": "Account", "plural_label": "Accounts", "fields": [
    {"api_name": "industry", "label": "Industry", "type": "picklist",
     "options": [{"value": "Energy"}, {"value": "Tech"}, {"value": "Retail"}]},
    {"api_name": "website", "type": "url"},
]}

DEAL = {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "fields": [
    {"api_name": "amount", "label": "Amount", "type": "currency", "scale": 2, "filterable": True},
    {"api_name": "probability", "type": "percent", "scale": 0},
    {"api_name": "quantity", "type": "integer"},
    {"api_name": "stage", "type": "picklist", "required": True,
     "options": [{"value": "New"}, {"value": "Won"}, {"value": "Lost"}]},
    {"api_name": "close_date", "type": "date"},
    {"api_name": "signed_at", "type": "datetime"},
    {"api_name": "is_priority", "type": "checkbox"},
    {"api_name": "contact_email", "type": "email", "unique": True},
    {"api_name": "notes", "type": "long_text"},
    {"api_name": "tags", "type": "multi_picklist", "options": [{"value": "a"}, {"value": "b"}, {"value": "c"}]},
    {"api_name": "account", "type": "lookup", "target": "account"},
    {"api_name": "number", "type": "auto_number", "format": "D-{0000}"},
]}


@pytest.fixture
def deal_selects(services):
    """The SELECTs on the deal table run while the test runs (a list that fills up): counts a page's reads."""
    seen = []

    def note(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM obj_deal" in statement:
            seen.append(statement)
    event.listen(services.engine, "before_cursor_execute", note)
    yield seen
    event.remove(services.engine, "before_cursor_execute", note)


@pytest.fixture
def crm(api):
    """The sample model: account and deal (12 fields including a lookup)."""
    for doc in (ACCOUNT, DEAL):
        r = api.post("/api/v1/objects", json=doc)
        assert r.status_code == 201, r.get_json()
    return api


# The longest files first: pytest-xdist's `--dist loadfile` hands files to the workers in
# collection order, so a long file collected last keeps one worker busy after the other is done.
# These run Chromium, worker processes, whole pack installs or schemathesis (slowest first).
_LONG_FILES = ("test_gate.py", "_browser.py", "test_faults.py", "test_all_packs.py", "packs/test_story.py",
               "test_mail_and_worker.py", "test_two_processes.py", "test_case_story.py", "test_cli.py",
               "test_lifecycle.py", "test_sql_words.py", "reports/test_stories.py", "test_setup_packs.py",
               "test_metadata_api.py", "test_gate_leak_equivalence.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, part in enumerate(_LONG_FILES) if path.endswith(part)), len(_LONG_FILES))

    items.sort(key=rank)        # stable: tests keep their order inside a file and among the rest
