"""WSGI entry points of the CRUD benchmark, for gunicorn (like the project's ``wsgi.py``).

    BENCH_DATABASE_URL=... gunicorn -w 2 --worker-class sync --chdir bench 'crud_wsgi:engine_app()'
    BENCH_DATABASE_URL=... gunicorn -w 2 --worker-class sync --chdir bench 'crud_wsgi:hand_app()'

``engine_app`` is the generated API exactly as production serves it (``engine.create_app``);
``hand_app`` the hand-written baseline of ``handwritten.py``. Both read the database from
``BENCH_DATABASE_URL`` and SQLite's durability from ``TESSERA_SQLITE_SYNCHRONOUS``.
``BENCH_ENGINE_ROOT`` serves the engine of another checkout (to measure a change A/B).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("BENCH_ENGINE_ROOT") or str(Path(__file__).resolve().parents[1]))


def engine_app():
    from engine import create_app
    return create_app({"database_url": os.environ["BENCH_DATABASE_URL"]})


def hand_app():
    from handwritten import create_hand_app
    return create_hand_app(os.environ["BENCH_DATABASE_URL"])
