"""Saving list views from the list page: a user saves what they look at (the view's columns, the
filter and the search, the sort) as a private view of their own — changed and deleted by them only —
and an administrator may save it shared with everyone who may read the object.

Private views are list view documents with ``shared: false`` and ``owner_id`` in the object's
metadata, saved through ``services().store.save_own_list_view`` (the one metadata change a user who
is not an administrator may make, on an object they may read); shared ones through
``store.set_list``, which needs an administrator. The store decides; this module translates.
"""
from __future__ import annotations

import re
import secrets

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import EngineError, MetadataError, NotFound
from engine.security import access as acl

from ..auth import records, services
from ..listing import build_list_page, name_search, page_columns, view_doc
from ..messages import translate_message
from ..viewmodels import object_view
from . import fresh_metadata, pages

LABEL_MAX = 80


def _runtime(obj):
    rt = g.snapshot.get(obj)
    if rt is None:
        raise NotFound("metadata.E041", f"Unknown object '{obj[:40]}'.")
    acl.require(g.actor.plan, rt, "read")
    return rt


def _view_name(label):
    """An API name for a view saved from the page: the label's ASCII words plus a random suffix, so
    two users' "My deals" never collide (``my_deals_3f9a1c``)."""
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:24]
    if not slug or not slug[0].isalpha():
        slug = "view" + (f"_{slug}" if slug else "")
    return f"{slug[:30]}_{secrets.token_hex(3)}"


def _current(rt, hidden, view_name):
    """The document of what the page shows now: the view's columns, its filter joined with the
    page's ``where`` and name search, the sort."""
    base = view_doc(rt, view_name[:40], g.actor) or {}
    where = (request.form.get("where") or "").strip()[:5000]
    q = (request.form.get("q") or "").strip()[:100]
    parts = [p for p in (base.get("where"), where, name_search(q) if q else None) if p]
    doc = {"columns": page_columns(rt, base, hidden)}
    if parts:
        doc["where"] = parts[0] if len(parts) == 1 else " && ".join(f"({p})" for p in parts)
    sort = (request.form.get("sort") or base.get("order_by") or "").strip()[:200]
    if sort:
        doc["order_by"] = sort
    if base.get("page_size"):
        doc["page_size"] = base["page_size"]
    return doc


def _message(exc):
    if isinstance(exc, MetadataError) and exc.fields:
        return "; ".join(m for ms in exc.fields.values() for m in ms) or exc.message
    return exc.message


def _refused(rt, message, label, shared):
    """The list page again (422) with the reason next to the save form."""
    svc = records()
    objview = object_view(rt, g.actor)
    page = build_list_page(svc, g.actor, rt, request.form, hidden=svc.hidden_fields(rt, g.actor),
                           selectable=objview.can_delete)
    return render_template("engine/list.html", obj=objview, page=page,
                           description=rt.odef.doc.get("description") or "",
                           save_error=message, save_label=label, save_shared=shared), 422


@pages.post("/o/<obj>/views")
@fresh_metadata
def save_view(obj):
    """Save the page as a new view: private (anyone who may read the object), or shared (admins)."""
    rt = _runtime(obj)
    label = (request.form.get("label") or "").strip()[:LABEL_MAX]
    shared = bool(request.form.get("shared")) and g.actor.is_admin
    if not label:
        return _refused(rt, _("Give the view a name."), label, shared)
    svc = records()
    doc = dict(_current(rt, svc.hidden_fields(rt, g.actor), request.form.get("view") or ""),
               name=_view_name(label), label=label)
    try:
        svc.check_list_view(obj, doc, g.actor)
    except EngineError as exc:
        return _refused(rt, translate_message(_message(exc)), label, shared)
    try:
        if shared:
            services().store.set_list(obj, "list_views", dict(doc, shared=True), actor=g.actor)
        else:
            services().store.save_own_list_view(obj, doc, actor=g.actor)
    except EngineError as exc:
        return _refused(rt, _message(exc), label, shared)
    flash(_("List view '%(name)s' was saved.", name=label), "success")
    return redirect(url_for("pages.list_view", obj=obj, view=doc["name"]), code=303)


@pages.post("/o/<obj>/views/<name>")
@fresh_metadata
def update_view(obj, name):
    """Save what the page shows into the reader's own private view ``name``."""
    rt = _runtime(obj)
    current = view_doc(rt, name[:40], g.actor)
    if current is None or current.get("shared", True) is not False or current.get("owner_id") != g.actor.user_id:
        raise NotFound("metadata.E046", f"Unknown list view '{name[:40]}'.")
    svc = records()
    doc = dict(_current(rt, svc.hidden_fields(rt, g.actor), name), name=name)
    for key in ("label", "label_i18n"):
        if current.get(key):
            doc[key] = current[key]
    try:
        svc.check_list_view(obj, doc, g.actor)
    except EngineError as exc:
        return _refused(rt, translate_message(_message(exc)), "", False)
    try:
        services().store.save_own_list_view(obj, doc, actor=g.actor, replace=True)
    except EngineError as exc:
        return _refused(rt, _message(exc), "", False)
    flash(_("List view '%(name)s' was saved.", name=current.get("label") or name), "success")
    return redirect(url_for("pages.list_view", obj=obj, view=name), code=303)


@pages.post("/o/<obj>/views/<name>/delete")
@fresh_metadata
def delete_view(obj, name):
    """Delete the reader's own private view ``name``."""
    rt = _runtime(obj)
    current = view_doc(rt, name[:40], g.actor) or {}
    services().store.remove_own_list_view(obj, name[:40], actor=g.actor)
    flash(_("List view '%(name)s' was deleted.", name=current.get("label") or name[:40]), "success")
    return redirect(url_for("pages.list_view", obj=obj), code=303)
