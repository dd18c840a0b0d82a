"""Server-rendered pages: sessions, languages, view models and Jinja2 templates for every object.

Owns the browser door: ``register_pages(app)`` installs sessions with CSRF protection
(Flask-WTF), Flask-Babel with the ``en`` and ``zh_CN`` catalogues, the static theme, and the page
blueprints. May import ``engine.services`` and everything below it (records, security, metadata),
never ``engine.api`` (a sibling door). Like the API it reads and writes records only through the
record service of the session's snapshot, with the session's actor: the pages decide nothing about
rights, visibility or validation. Templates only loop over view models (``viewmodels.py``).
See docs/browser.md for the building blocks a new page uses.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Blueprint, request, url_for
from flask_wtf.csrf import CSRFProtect

from . import frame, i18n

STATIC = Path(__file__).parent / "static"
ONE_YEAR = 365 * 24 * 3600
csrf = CSRFProtect()


class _Assets(Blueprint):
    """Static files at ``/assets/``; a URL with ``?v=<content hash>`` may be cached for a year."""

    def get_send_file_max_age(self, filename):
        return ONE_YEAR if request.args.get("v") else 300


_hashes = {}
_urls = {}


def asset(filename):
    """The URL of a static file with its content hash (so browsers cache it until it changes);
    built once per file and script root (every page links three)."""
    key = (filename, request.script_root if request else None)
    url = _urls.get(key)
    if url is None:
        digest = _hashes.get(filename)
        if digest is None:
            path = STATIC / filename
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10] if path.is_file() else "0"
            _hashes[filename] = digest
        url = _urls[key] = url_for("assets.static", filename=filename, v=digest)
    return url


def register_pages(app):
    """Install the browser door on ``app`` (after ``register_api``): CSRF, languages, the theme's
    static files, the page blueprints and their template helpers."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)   # valid for the session's life
    app.config["PERMANENT_SESSION_LIFETIME"] = 30 * 24 * 3600   # the server ends it sooner when idle
    app.config["SESSION_COOKIE_NAME"] = "tessera_session"
    csrf.init_app(app)
    if "api" in app.blueprints:       # bearer tokens, no cookies: nothing to forge
        csrf.exempt(app.blueprints["api"])
    i18n.init_babel(app)
    assets = _Assets("assets", __name__, static_folder="static", static_url_path="/assets")
    app.register_blueprint(assets)
    for bp in page_blueprints():
        app.register_blueprint(bp)
    names = {bp.name for bp in page_blueprints()}
    app.before_request(lambda: _share_reads(names))
    app.teardown_request(_end_shared_reads)
    app.jinja_env.globals.update(asset=asset, translated=i18n.translated, format_moment=i18n.format_moment,
                                 topbar=frame.topbar, zip=zip)
    app.jinja_env.add_extension("jinja2.ext.do")


def _share_reads(names):
    """A page shown (GET) reads the session, the record's history, the approval panel, the top
    bar's count... through one connection (``engine.db.shared_reads``), ended with the request."""
    if request.method in ("GET", "HEAD") and request.blueprint in names:
        from flask import current_app, g

        from engine.db import shared_reads

        scope = shared_reads(current_app.extensions["tessera"].engine)
        scope.__enter__()
        g._tessera_shared_reads = scope


def _end_shared_reads(_exc=None):
    from flask import g

    scope = g.pop("_tessera_shared_reads", None)
    if scope is not None:
        scope.__exit__(None, None, None)


def page_blueprints():
    """The page blueprints, in order (each made with ``auth.page_blueprint``). Setup adds its own
    here: ``return [pages, setup]``."""
    from .views import pages
    from .views.setup_access import setup_access   # Setup → Users, Roles, Permission sets, Sharing
    from .views.setup_objects import setup_objects   # Setup → Object Manager
    from .views.setup_packs import setup_packs   # Setup → Packs
    from .views.setup_workflow import setup_workflow   # Setup → Approvals, Automations, Outbox
    from .views.workflow import workflow_pages   # the approval inbox, record approvals, /me
    from .views.reports_pages import reports_pages   # reports, the builder, segments, forecast, trends
    from .views.reports_dashboards import dashboards   # dashboards

    return [pages, setup_access, setup_objects, workflow_pages, setup_workflow, reports_pages, dashboards,
            setup_packs]
