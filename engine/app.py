"""Flask application factory."""
from __future__ import annotations

import json
import logging
from decimal import Decimal

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from engine.config import Config
from engine.db import init_db, make_engine

log = logging.getLogger("tessera")


class TesseraJSON(DefaultJSONProvider):
    """JSON with Decimals as numbers and non-ASCII text kept readable."""

    ensure_ascii = False
    sort_keys = False

    @staticmethod
    def default(o):
        if isinstance(o, Decimal):
            return int(o) if o == o.to_integral_value() and abs(o) < 2 ** 53 else float(o)
        return DefaultJSONProvider.default(o)


class Services:
    """Per-process services shared by every request (no per-request state)."""

    def __init__(self, config):
        from engine.metadata.store import MetadataStore
        from engine.records.snapshot import SnapshotCache

        self.config = config
        self.engine = make_engine(config.database_url)
        init_db(self.engine)
        self.store = MetadataStore(self.engine)
        self.snapshots = SnapshotCache(self.engine)
        from engine.security.access import PlanCache
        from engine.security.admin import AccessAdmin
        self.plans = PlanCache()
        self.access = AccessAdmin(self.engine)


def create_app(config=None):
    """Create the Tessera app. ``config``: a ``Config`` or a dict of overrides of the environment."""
    if not isinstance(config, Config):
        config = Config.from_env(config)
    _load_extensions()
    app = Flask(__name__, template_folder="ui_renderer/templates", static_folder="ui_renderer/static")
    app.json = TesseraJSON(app)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_body_bytes,
                      TESTING=config.testing, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.secure_cookies)
    app.extensions["tessera"] = Services(config)
    from engine.api import register_api
    register_api(app)
    _register_home(app)
    return app


def _register_home(app):
    from flask import jsonify, render_template

    from engine.metadata.store import current_version

    @app.get("/")
    def home():
        # anonymous: says nothing about the org's model
        return render_template("engine/home.html")

    @app.get("/healthz")
    def healthz():
        with app.extensions["tessera"].engine.connect() as conn:
            version = current_version(conn)
        return jsonify({"ok": True, "metadata_version": version})


def _load_extensions():
    """Fill and freeze the registries (plugins through entry points), then wire the layers."""
    from engine.metadata.field_types import field_types, load_field_type_plugins

    load_field_type_plugins()
    field_types.freeze()
    import engine.security.wiring  # noqa: F401  (history, audit hooks)
    try:
        from engine.formula import compile_formula  # noqa: F401
    except ImportError:  # the formula engine is optional until it lands
        log.debug("formula integration not available")
    else:
        import engine.records.formulas  # noqa: F401  (formula fields, defaults, rules, where=)


def services(app):
    return app.extensions["tessera"]


__all__ = ["create_app", "json"]
