"""Setup → Users: the list, a new user, and one user's page (details, password reset, permission
sets, API tokens, deactivation). Changes go through ``services().access`` and the token
functions of ``engine.security.users`` with ``g.actor``; they check the rights themselves."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.security.sessions import revoke_user_sessions
from engine.security.users import issue_token, list_tokens, revoke_token_id

from .. import i18n
from ..auth import services
from .setup_access import (REFUSALS, FormErrors, checked, engine_message, locale_choices, put_errors,
                           role_choices, role_tree, setup_access, text)

# What the locale select sends -> what the user service stores ("zh" is read as zh_CN everywhere).
SERVICE_LOCALE = {"en": "en", "zh_CN": "zh_CN"}


def _labels():
    return {"username": _("Username"), "password": _("Password"), "is_admin": _("Administrator"),
            "role": _("Role"), "manager": _("Manager"), "locale": _("Language"), "label": _("Label"),
            "scope": _("Access"), "permission_set": _("Permission set")}


def _scope_labels():
    return {"all": _("Read and write"), "read": _("Read only")}


def _choices(users, exclude=None, keep=None):
    """Role and manager options for the selects, and the roles' and users' names (to check the
    posted values are options). Managers are active users, and ``keep`` (the current manager, so
    that saving the form never drops a manager who was deactivated)."""
    access = services().access
    tree = role_tree(access.list_roles(g.actor))
    managers = [(u["username"], u["username"]) for u in users
                if u["username"] != exclude and (u["active"] or u["username"] == keep)]
    return {"roles": role_choices(tree), "managers": managers, "locales": locale_choices(),
            "role_names": {n.api_name for n in tree}, "user_names": {u["username"] for u in users}}


def _posted_details(choices, errors):
    """The details form as typed, and the patch for the user service (a select's value must be one
    of its options: a role or a manager deleted meanwhile is named next to its input)."""
    values = {"is_admin": checked("is_admin"), "role": text("role", 64), "manager": text("manager", 150),
              "locale": text("locale", 16)}
    if values["role"] and values["role"] not in choices["role_names"]:
        errors.add("role", _("Choose one of the roles in the list."))
    if values["manager"] and values["manager"] not in choices["user_names"]:
        errors.add("manager", _("Choose one of the users in the list."))
    if values["locale"] not in SERVICE_LOCALE:
        errors.add("locale", _("Choose a language."))
    patch = {"is_admin": values["is_admin"], "role": values["role"] or None, "manager": values["manager"] or None,
             "locale": SERVICE_LOCALE.get(values["locale"], values["locale"])}
    return values, patch


# -- the list and a new user -------------------------------------------------------------------
@setup_access.get("/users")
def users():
    """Every user with their role, manager, permission sets, language and status."""
    people = services().access.list_users(g.actor)
    roles = {n.api_name: n.label for n in role_tree(services().access.list_roles(g.actor))}
    return render_template("engine/setup/access/users.html", users=people, roles=roles,
                           locale_names=i18n.LOCALE_NAMES, normalise=i18n.normalise_locale)


def _new_page(values, errors, status=200):
    choices = _choices(services().access.list_users(g.actor))
    return render_template("engine/setup/access/user_new.html", values=values, errors=errors, choices=choices,
                           summary=errors.summary(_labels())), status


@setup_access.get("/users/new")
def new_user():
    return _new_page({"locale": i18n.current_locale(), "role": request.args.get("role", "")[:64]}, FormErrors())


@setup_access.post("/users/new")
def create_user():
    access = services().access
    errors = FormErrors()
    choices = _choices(access.list_users(g.actor))
    values, patch = _posted_details(choices, errors)
    values["username"] = text("username", 150)
    password = request.form.get("password") or ""
    for name, value in (("username", values["username"]), ("password", password)):
        if not value:
            errors.add(name, _("Required."))
    if not errors:
        try:
            access.create_user(values["username"], password[:1024], g.actor, is_admin=patch.pop("is_admin"))
        except REFUSALS as exc:
            put_errors(exc, errors, values | {"password": ""})
        else:
            try:
                access.update_user(values["username"], patch, g.actor)
            except REFUSALS as exc:      # a role or manager removed meanwhile: the user exists, say so
                flash(_("User '%(user)s' was created, but not all details were saved: %(reason)s",
                        user=values["username"], reason=engine_message(exc)), "error")
            else:
                flash(_("User '%(user)s' was created.", user=values["username"]), "success")
            return redirect(url_for("setup_access.user", username=values["username"]), code=303)
    return _new_page(values, errors, 422)


# -- one user ---------------------------------------------------------------------------------------
def _user_page(username, *, status=200, forms=None, new_token=None):
    """The user's page. ``forms``: ``{form key: (values, errors)}`` of a form shown again;
    ``new_token``: a secret just issued (shown once, on this response only)."""
    access = services().access
    people = access.list_users(g.actor)
    person = access.get_user(username, g.actor)
    forms = forms or {}
    details = forms.get("details") or ({"is_admin": person["is_admin"], "role": person["role"] or "",
                                        "manager": person["manager"] or "",
                                        "locale": i18n.normalise_locale(person["locale"]) or "en"}, FormErrors())
    empty = ({}, FormErrors())
    sets = access.list_permission_sets(g.actor)
    assigned = set(person["permission_sets"])
    labels = _labels()
    summary = [item for _vals, errs in forms.values() for item in errs.summary(labels)]
    return render_template(
        "engine/setup/access/user.html", person=person,
        choices=_choices(people, exclude=username, keep=person["manager"]),
        details=details, password=forms.get("password", empty), token_form=forms.get("token", ({"scope": "all"},
                                                                                               FormErrors())),
        assign=forms.get("assign", empty), summary=summary, tokens=list_tokens(services().engine, username,
                                                                                  g.actor),
        sets=[s for s in sets if s["api_name"] in assigned],
        unassigned=[(s["api_name"], s.get("label") or s["api_name"]) for s in sets if s["api_name"] not in assigned],
        new_token=new_token, scope_labels=_scope_labels(), myself=username == g.actor.username), status


@setup_access.get("/users/<username>")
def user(username):
    return _user_page(username)


@setup_access.post("/users/<username>")
def update_user(username):
    """Save the details form: administrator, role, manager, language."""
    access = services().access
    access.get_user(username, g.actor)      # 404 for an unknown user before anything else
    errors = FormErrors()
    values, patch = _posted_details(_choices(access.list_users(g.actor), exclude=username), errors)
    if not errors:
        try:
            access.update_user(username, patch, g.actor)
        except REFUSALS as exc:
            put_errors(exc, errors, values)
        else:
            flash(_("User '%(user)s' was saved.", user=username), "success")
            return redirect(url_for("setup_access.user", username=username), code=303)
    return _user_page(username, status=422, forms={"details": (values, errors)})


@setup_access.post("/users/<username>/password")
def reset_password(username):
    """Set a new password; the user's browser sessions end (unless they are the one resetting it)."""
    access = services().access
    person = access.get_user(username, g.actor)
    password = request.form.get("password") or ""
    errors = FormErrors()
    if not password:
        errors.add("password", _("Required."))
    else:
        try:
            access.update_user(username, {"password": password[:1024]}, g.actor)
        except REFUSALS as exc:
            put_errors(exc, errors, {"password"})
    if errors:
        return _user_page(username, status=422, forms={"password": ({}, errors)})
    if username != g.actor.username:
        revoke_user_sessions(services().engine, person["id"])
        flash(_("The password of '%(user)s' was reset; they are signed out everywhere.", user=username), "success")
    else:
        flash(_("Your password was changed."), "success")
    return redirect(url_for("setup_access.user", username=username), code=303)


def _set_active(username, active):
    services().access.update_user(username, {"active": active}, g.actor)
    if active:
        flash(_("User '%(user)s' was reactivated: they can sign in again.", user=username), "success")
    else:
        flash(_("User '%(user)s' was deactivated: their sessions and API tokens stop working.", user=username),
              "success")
    return redirect(url_for("setup_access.user", username=username), code=303)


@setup_access.post("/users/<username>/deactivate")
def deactivate_user(username):
    return _set_active(username, False)


@setup_access.post("/users/<username>/reactivate")
def reactivate_user(username):
    return _set_active(username, True)


@setup_access.post("/users/<username>/permission_sets")
def assign_permission_set(username):
    access = services().access
    access.get_user(username, g.actor)
    name = text("permission_set", 64)
    errors = FormErrors()
    if not name:
        errors.add("permission_set", _("Choose a permission set."))
    else:
        try:
            access.assign(username, name, g.actor)
        except REFUSALS as exc:
            errors.add("permission_set", engine_message(exc))
    if errors:
        return _user_page(username, status=422, forms={"assign": ({"permission_set": name}, errors)})
    flash(_("Permission set '%(set)s' was assigned to '%(user)s'.", set=name, user=username), "success")
    return redirect(url_for("setup_access.user", username=username) + "#permission-sets", code=303)


@setup_access.post("/users/<username>/permission_sets/<name>/remove")
def remove_permission_set(username, name):
    services().access.assign(username, name, g.actor, remove=True)
    flash(_("Permission set '%(set)s' was removed from '%(user)s'.", set=name, user=username), "success")
    target = request.form.get("next") == "permission_set"
    return redirect(url_for("setup_access.permission_set", name=name) if target else
                    url_for("setup_access.user", username=username) + "#permission-sets", code=303)


# -- API tokens ---------------------------------------------------------------------------------------
@setup_access.post("/users/<username>/tokens")
def issue_user_token(username):
    """Issue an API token. The answer is the user's page with the secret, shown this once: it is
    never put in a cookie, a URL or a redirect, so this form answers 200 instead of 303."""
    services().access.get_user(username, g.actor)
    values = {"label": text("label", 1000), "scope": text("scope", 16)}
    errors = FormErrors()
    if values["scope"] not in ("all", "read"):
        errors.add("scope", _("Choose read and write, or read only."))
    else:
        try:
            secret = issue_token(services().engine, username, g.actor, label=values["label"], scope=values["scope"])
        except REFUSALS as exc:
            put_errors(exc, errors, values)
    if errors:
        return _user_page(username, status=422, forms={"token": (values, errors)})
    flash(_("An API token was issued for '%(user)s'. Copy it now: it is shown only once.", user=username),
          "success")
    return _user_page(username, new_token=secret)


@setup_access.post("/users/<username>/tokens/<token_id>/revoke")
def revoke_user_token(username, token_id):
    prefix = revoke_token_id(services().engine, username, token_id, g.actor)
    flash(_("The API token %(prefix)s… of '%(user)s' was revoked.", prefix=prefix, user=username), "success")
    return redirect(url_for("setup_access.user", username=username) + "#tokens", code=303)
