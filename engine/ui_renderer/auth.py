"""Sessions for the pages: who is signed in, page blueprints that require it, safe redirects.

The cookie is Flask's signed session (HttpOnly, SameSite=Lax, Secure with
``TESSERA_SECURE_COOKIES``); it holds the secret of a server-side session row
(:mod:`engine.security.sessions`), so signing out or deactivating a user ends the session in
every process. ``services.authenticate_session`` turns it into ``(actor, snapshot)`` exactly as a
bearer token is turned into one for the API.

For every page blueprint (the pages here, Setup next)::

    bp = page_blueprint("setup", __name__, url_prefix="/setup", admin=True)

gives a blueprint whose views all need a signed-in session (anonymous: 302 to
``/login?next=<this page>``; a JSON endpoint: 401) and, with ``admin=True``, an administrator
(403 otherwise); ``@public`` exempts a view. Inside a view, ``g.actor`` and ``g.snapshot`` are set
and ``records()`` is the record service for them. HTML error pages come with it.
"""
from __future__ import annotations

import functools
import logging
import weakref
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, redirect, request, session, url_for

from engine.errors import Unauthorized
from engine.security.sessions import close_session, open_session
from engine.security.users import sign_in

log = logging.getLogger("tessera.ui")

SESSION_KEY = "sid"
# Content Security Policy of every page: our own scripts and styles only, nothing inline.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_PUBLIC = "_tessera_public"


def services():
    """The process's services (``engine.services.Services``)."""
    return current_app.extensions["tessera"]


def records():
    """The record service over this request's snapshot (the same one the API uses)."""
    return services().records(g.snapshot)


def current_actor():
    """The signed-in actor of this request, or None (resolved once per request)."""
    if "actor" not in g:
        g.actor, g.snapshot = None, None
        secret = session.get(SESSION_KEY)
        if secret:
            try:
                g.actor, g.snapshot = services().authenticate_session(secret)
            except Unauthorized:
                session.pop(SESSION_KEY, None)
    return g.actor


_USER_NAMES = []
# {engine: {user id: username}}: a user is never deleted and a username never changes (no write
# path changes it: ``AccessAdmin.update_user`` refuses the key), so an id names the same user for
# the life of the database; ids not found are not kept. Bounded: emptied when full.
_NAMES_KEPT = weakref.WeakKeyDictionary()
NAMES_KEPT = 4096


def user_names(ids):
    """``{user id: username}`` for the given ids (owners and authors shown on pages). Usernames
    of the people behind records a reader may see are not secret; nothing else is read. Names
    read once are kept per database (see ``_NAMES_KEPT``)."""
    from sqlalchemy import bindparam, select

    from engine.db import read_connection, users

    wanted = sorted({i for i in ids if i})[:500]
    if not wanted:
        return {}
    engine = services().engine
    kept = _NAMES_KEPT.get(engine)
    if kept is None:
        kept = _NAMES_KEPT.setdefault(engine, {})
    out = {i: kept[i] for i in wanted if i in kept}
    if len(out) == len(wanted):
        return out
    if not _USER_NAMES:     # built once: every record page runs it
        _USER_NAMES.append(select(users.c.id, users.c.username)
                           .where(users.c.id.in_(bindparam("ids", expanding=True))))
    with read_connection(engine) as conn:
        rows = conn.execute(_USER_NAMES[0], {"ids": [i for i in wanted if i not in out]}).all()
    if len(kept) + len(rows) > NAMES_KEPT:
        kept.clear()
    for r in rows:
        out[r.id] = kept[r.id] = r.username
    return out


def public(view):
    """Mark a view of a page blueprint as open to anonymous visitors."""
    setattr(view, _PUBLIC, True)
    return view


def safe_next(target, default="/"):
    """``target`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not isinstance(target, str) or not target or len(target) > 2000:
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def login_url():
    """``/login?next=<the current page>`` (GET requests only keep their page)."""
    here = request.full_path.rstrip("?") if request.method == "GET" else None
    return url_for("pages.login", next=here) if here and here != "/" else url_for("pages.login")


def require_page_access(admin=False):
    """Check the request's session (and admin rights); return a response to send instead, or None."""
    actor = current_actor()
    if actor is None:
        if request.accept_mimetypes.best == "application/json" or request.path.endswith("/lookup"):
            abort(401)
        return redirect(login_url())
    if admin and not actor.is_admin:
        abort(403)
    return None


def page_blueprint(name, import_name, *, url_prefix=None, admin=False, **kwargs):
    """A blueprint whose views need a session (and an admin with ``admin=True``), with HTML errors."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix, **kwargs)

    @bp.before_request
    def _guard():
        # no database stores a NUL: refuse it in the path, the query or a form up front (400)
        values = list((request.view_args or {}).values()) + [v for _k, v in request.args.items(multi=True)]
        if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            values += [v for _k, v in request.form.items(multi=True)]
        if any("\x00" in str(v) for v in values):
            abort(400)
        view = current_app.view_functions.get(request.endpoint)
        if view is not None and getattr(view, _PUBLIC, False):
            current_actor()
            return None
        return require_page_access(admin=admin)

    from .errors import install_error_pages
    install_error_pages(bp)
    bp.context_processor(_page_context)
    bp.after_request(_headers)
    return bp


def _page_context():
    """Variables every template gets: the actor, the navigation, the language."""
    from . import i18n
    from .viewmodels import navigation

    actor = getattr(g, "actor", None)
    snapshot = getattr(g, "snapshot", None)
    locale = i18n.current_locale()
    return {"actor": actor, "nav": navigation(snapshot, actor) if actor is not None and snapshot else [],
            "locale": locale, "html_lang": "zh-CN" if locale == "zh_CN" else "en",
            "locales": [(code, i18n.LOCALE_NAMES[code]) for code in i18n.LOCALES],
            "current_path": request.full_path.rstrip("?") if request else "/"}


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html" or response.is_json:
        response.headers.setdefault("Cache-Control", "no-store")
        response.vary.add("Cookie")
    return response


def admin_required(view):
    """Decorator for a single view (in any page blueprint) that needs an administrator."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        response = require_page_access(admin=True)
        return response if response is not None else view(*args, **kwargs)
    return wrapper


def start_session(username, password):
    """Check credentials (throttled and audited by ``sign_in``) and start a browser session.
    Raises ``Unauthorized`` or ``TooManyRequests``."""
    engine = services().engine
    actor = sign_in(engine, username, password, ip=request.remote_addr)
    old = session.get(SESSION_KEY)
    if old:
        close_session(engine, old)
    keep = {k: session[k] for k in ("locale",) if k in session}
    session.clear()   # a new session id and a new CSRF token: no session fixation
    session.update(keep)
    session[SESSION_KEY] = open_session(engine, actor, ip=request.remote_addr)
    session.permanent = True
    return actor


def end_session():
    """Sign out: the session row is revoked and the cookie emptied."""
    secret = session.get(SESSION_KEY)
    if secret:
        close_session(services().engine, secret)
    session.clear()
