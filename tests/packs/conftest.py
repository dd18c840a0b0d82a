"""Fixtures of the pack tests: services on a database, a second database of the same kind, and
small packs written into a folder."""
from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("TESSERA_TEST_POSTGRES_URL")


@pytest.fixture
def services(db_url):
    from engine.services import build_services

    svc = build_services({"database_url": db_url})
    yield svc
    svc.dispose()


@pytest.fixture
def second_services(db_url, tmp_path):
    """Services on a second, fresh database of the same kind as ``db_url``."""
    from engine.services import build_services

    if db_url.startswith("sqlite"):
        url, cleanup = f"sqlite:///{tmp_path / 'second.db'}", None
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"

        def cleanup():
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    svc = build_services({"database_url": url})
    yield svc
    svc.dispose()
    if cleanup:
        cleanup()
