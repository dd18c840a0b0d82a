"""The frame every page shares: the top bar (``engine/_topbar.html``), written once per kind of
page and reader and kept as HTML with holes for what changes per request.

The top bar shows the same HTML to every request with the same

- metadata version (the navigation's objects and labels: the cache lives on the snapshot, so a new
  version starts afresh and the old entries go with the old snapshot),
- permission plan and read-only flag (which objects the navigation lists; a permission change is a
  new plan, see ``PlanCache``), administrator flag (the Setup link),
- language and script root (labels, links),
- place (home, reports, dashboards, the approval inbox, the object the page is about: the
  ``aria-current`` marks) and whether the inbox count is shown,

and fills per request what is per request: the CSRF token of its two forms, the page's own path
(the language switch's ``next``), the search box's text, the user's name and initial, and the inbox
count (a live query on every page, as before). A hole is a marker written where the template puts
the value (:data:`HOLES`); the value goes in escaped as Jinja's autoescape would have written it,
so the page is byte for byte what rendering the template each time writes. A page without a
signed-in actor and snapshot (the login page, error pages of other blueprints) renders the
template each time.

The template reads only what :func:`topbar` passes it (never ``request``): a new variable that is
not in the key or the holes would be shown to the next request with the same key.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict

from flask import request
from flask_babel import get_locale
from jinja2 import pass_context
from markupsafe import Markup, escape

TOPBAR = "engine/_topbar.html"
TOPBAR_KEY = "ui.topbar"     # in Snapshot.documents: key -> (plan, parts, hole names)
TOPBAR_CACHE_SIZE = 512
HOLES = ("csrf", "current_path", "search_value", "user_name", "user_initial", "inbox_count")
_MARK = "\x00tessera:{}\x00"
_SPLIT = re.compile("\x00tessera:([a-z_]+)\x00")
_LOCK = threading.Lock()
KEEP = True     # False: every top bar rendered from its template (the tests compare the two)


class _Here:
    """Where the page is, as the top bar's ``aria-current`` marks read it."""

    __slots__ = ("home", "reports", "dashboards", "approvals", "obj")

    def __init__(self, snapshot):
        endpoint, blueprint = request.endpoint, request.blueprint
        self.home = endpoint == "pages.home"
        self.reports = blueprint == "reports"
        self.dashboards = blueprint == "dashboards"
        self.approvals = request.path == "/approvals"
        obj = request.view_args.get("obj") if request.view_args else None
        # only an object of the snapshot can match a navigation entry: anything else is None (the
        # same marks, and a path cannot fill the cache with keys)
        self.obj = obj if isinstance(obj, str) and snapshot is not None and obj in snapshot.objects else None

    def key(self):
        return (self.home, self.reports, self.dashboards, self.approvals, self.obj)


def _values(context, actor):
    """The holes' values of this request (``inbox_count``: the live count, 0 when the workflow
    pages are not installed or nobody is signed in)."""
    count = context.get("approval_inbox_count")
    name = actor.username if actor else ""
    return {"csrf": context["csrf_token"]() if "csrf_token" in context else "",
            "current_path": context.get("current_path", ""),
            "search_value": request.args.get("q", "") if request.endpoint == "pages.search" else "",
            "user_name": name, "user_initial": name[:1].upper(),
            "inbox_count": (count() if callable(count) else 0) if actor else 0}


def _render(context, here, values):
    """The template itself, with ``values`` (real ones or markers)."""
    env = context.environment
    csrf = values["csrf"]
    variables = dict(context.get_all())
    variables.update(here=here, search_value=values["search_value"], user_name=values["user_name"],
                     user_initial=values["user_initial"], inbox_count=values["inbox_count"],
                     current_path=values["current_path"], csrf_token=lambda: csrf)
    return env.get_template(TOPBAR).render(variables)


def _cut(html):
    """``(parts, names)`` of HTML written with markers, or None when a marker is not where one of
    ours would be (a marker-like text from elsewhere: that page is not kept)."""
    pieces = _SPLIT.split(html)
    parts, names = pieces[0::2], tuple(pieces[1::2])
    if any(n not in HOLES for n in names) or any("\x00" in p for p in parts):
        return None
    return tuple(parts), names


@pass_context
def topbar(context):
    """The top bar's HTML for this request (see the module docstring)."""
    from flask import g

    actor = context.get("actor")
    snapshot = getattr(g, "snapshot", None)
    here = _Here(snapshot)
    values = _values(context, actor)
    plan = getattr(actor, "plan", None)
    if not KEEP or not actor or snapshot is None or plan is None:
        return Markup(_render(context, here, values))
    # the language twice: the page's (labels, the switcher's selection) and Flask-Babel's (the
    # catalogue of its _() calls; the same one unless a force_locale block is open)
    key = (id(plan), actor.read_only, actor.is_admin, context.get("locale"), str(get_locale()),
           request.script_root, here.key(), bool(values["inbox_count"]))
    with _LOCK:
        cache = snapshot.documents.setdefault(TOPBAR_KEY, OrderedDict())
        found = cache.get(key)
        # the entry holds the plan: its id cannot be reused by another plan while the entry lives
        if found is not None and found[0] is plan:
            cache.move_to_end(key)
    if found is None or found[0] is not plan:
        markers = dict.fromkeys(values)
        for name in HOLES:
            markers[name] = _MARK.format(name)
        if not values["inbox_count"]:
            markers["inbox_count"] = 0
        cut = _cut(_render(context, here, markers))
        if cut is None:
            return Markup(_render(context, here, values))
        found = (plan, *cut)
        with _LOCK:
            cache[key] = found
            while len(cache) > TOPBAR_CACHE_SIZE:
                cache.popitem(last=False)
    _plan, parts, names = found
    out = [parts[0]]
    for name, part in zip(names, parts[1:]):
        out.append(escape(values[name]))
        out.append(part)
    return Markup("".join(out))
