"""Home, sign-in and sign-out, the language switcher and the global search."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine.errors import AuthenticationError, EngineError, ThrottledError
from engine.security.sessions import set_user_locale

from .. import i18n
from ..auth import current_actor, end_session, public, records, safe_next, services, start_session
from ..listing import name_search
from ..viewmodels import navigation
from . import pages

SEARCH_PER_OBJECT = 5
RECENT = 10


@pages.get("/")
@public
def home():
    """Signed in: the objects the user may read. Anonymous: a sign-in prompt and no org data."""
    actor = current_actor()
    if actor is None:
        return render_template("engine/welcome.html")
    objects = navigation(g.snapshot, actor)
    labels = {o.name: o.label for o in objects}
    recent = [(labels[obj], obj, rec) for obj, rec in records().recent(actor, RECENT) if obj in labels]
    return render_template("engine/home.html", objects=objects, recent=recent)


@pages.route("/login", methods=["GET", "POST"])
@public
def login():
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_actor() is not None:
            return redirect(next_url)
        return render_template("engine/login.html", next=next_url, username="", error=None)
    username = request.form.get("username", "")[:150]
    password = request.form.get("password", "")[:1024]
    status, error = 200, None
    if not username or not password:
        status, error = 422, _("Enter your username and password.")
    else:
        try:
            start_session(username, password)
        except ThrottledError:
            status, error = 429, _("Too many failed sign-ins for this username; wait 15 minutes and try again.")
        except (AuthenticationError, EngineError):
            status, error = 401, _("Wrong username or password.")
    if error:
        return render_template("engine/login.html", next=next_url, username=username, error=error), status
    return redirect(next_url, code=303)


@pages.post("/logout")
@public
def logout():
    end_session()
    flash(_("You have signed out."), "success")
    return redirect(url_for("pages.login"), code=303)


@pages.post("/locale")
@public
def switch_locale():
    """The language switcher: remembered for the user (and for this browser when anonymous)."""
    locale = i18n.normalise_locale(request.form.get("locale"))
    if locale:
        session["locale"] = locale
        actor = current_actor()
        if actor is not None:
            set_user_locale(services().engine, actor.user_id, locale)
    return redirect(safe_next(request.form.get("next")), code=303)


@pages.get("/search")
def search():
    """Name search across the objects the user may read (a few matches per object)."""
    q = (request.args.get("q") or "").strip()[:100]
    groups = []
    if q:
        svc = records()
        for obj in navigation(g.snapshot, g.actor):
            try:
                found = svc.list(obj.name, g.actor, where=name_search(q), fields=["name"],
                                 limit=SEARCH_PER_OBJECT, order_by="name")["records"]
            except EngineError:
                continue
            if found:
                groups.append((obj, found))
    return render_template("engine/search.html", q=q, groups=groups)
