"""Flask application factory: the web door over the services of ``engine.services``."""
from __future__ import annotations

import json
import logging
from decimal import Decimal

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface

from engine.services import build_services

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


class TesseraSessions(SecureCookieSessionInterface):
    """The pages' signed cookie session. The REST API authenticates by bearer token only and never
    reads the session, so a request to ``/api/`` that sends a bearer token gets none (Flask's null
    session): no cookie to verify on the way in, none to sign on the way out."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            scheme, _, _token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                return None
        return super().open_session(app, request)


def create_app(config=None, services=None):
    """Create the Tessera web app. ``config``: a ``Config`` or a dict of overrides of the
    environment; ``services``: already built ones (tests, a process that serves and works)."""
    if services is None:
        services = build_services(config)
    config = services.config
    app = Flask(__name__, template_folder="ui_renderer/templates", static_folder=None)  # static: /assets
    app.json = TesseraJSON(app)
    app.session_interface = TesseraSessions()
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_body_bytes,
                      TESTING=config.testing, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.secure_cookies)
    app.extensions["tessera"] = services
    from engine.api import register_api
    from engine.ui_renderer import register_pages
    register_api(app)
    register_pages(app)       # the pages, with "/" (home, or a sign-in prompt for anonymous visitors)
    _register_health(app)
    return app


def _register_health(app):
    from flask import jsonify

    from engine.metadata.store import current_version

    @app.get("/healthz")
    def healthz():
        with app.extensions["tessera"].engine.connect() as conn:
            version = current_version(conn)
        return jsonify({"ok": True, "metadata_version": version})


def services(app):
    return app.extensions["tessera"]


__all__ = ["create_app", "services", "json"]
