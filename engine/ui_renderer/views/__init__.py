"""The end-user pages' blueprint (``pages``): home, sign-in, the language switcher, search, and the
list, form, detail and recycle-bin pages of every object. Every view reads and writes through
``records()`` — the record service of the session's snapshot — with ``g.actor``."""
from __future__ import annotations

import functools

from flask import g
from sqlalchemy.exc import DBAPIError

from ..auth import page_blueprint, services

pages = page_blueprint("pages", __name__)


def fresh_metadata(view):
    """Run a view again, once, when it failed because the metadata changed under it (another
    process archived a column between the snapshot check and the query)."""
    from engine.metadata.store import current_version

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DBAPIError:
            with services().engine.connect() as conn:
                version = current_version(conn)
            if g.snapshot is None or version == g.snapshot.version:
                raise
            g.snapshot = services().snapshots.get(version)
            return view(*args, **kwargs)
    return wrapper


from . import home, list_views, path, records  # noqa: E402,F401  (routes)
