"""Private list views: a user's own views, kept in their object's definition.

A private view (``shared: false`` with an ``owner_id``) is seen, changed and deleted by its owner
only (:func:`list_view_visible`); it is the one metadata change a user who is not an administrator
may make. It belongs to its owner, not to the definition an administrator edits: a change of the
definition that does not name the view — a PATCH of ``list_views`` built from what the
administrator sees (other users' private views are not shown to them), a rollback to a version
older than the view, a pack upgrade — keeps it (:func:`carry_private_views`). Only its owner, or an
administrator deleting it by name, removes it.
"""
from __future__ import annotations

import secrets

from engine.errors import Forbidden

# the fields every object has, which a view's columns and sort may name
from .system_fields import SYSTEM_FIELDS


def list_view_visible(view, actor):
    """Whether ``actor`` sees list view ``view``: a shared view (the default) is seen by everyone who
    may read its object; a private one (``shared: false``) by its owner only."""
    return view.get("shared", True) is not False or (
        view.get("owner_id") is not None and view.get("owner_id") == getattr(actor, "user_id", None))


def is_private(view):
    return isinstance(view, dict) and view.get("shared", True) is False and view.get("owner_id") is not None


def owns(view, actor):
    return is_private(view) and view.get("owner_id") == actor.user_id


def require_own_view_rights(actor, api_name):
    """A private list view is the one metadata change a user who is not an administrator may
    make: on an object they may read, with a session that may write."""
    plan = getattr(actor, "plan", None)
    if actor is None or getattr(actor, "user_id", None) is None or plan is None or not plan.can(api_name, "read") \
            or getattr(actor, "read_only", False):
        raise Forbidden("metadata.E050", "You may save list views only on objects you may read.")


def carry_private_views(old_doc, new_doc, *, dropped=()):
    """``new_doc`` with the private views of ``old_doc`` that it lost put back (an administrator's
    change of the definition never removes a user's view), except the names in ``dropped`` (an
    explicit delete). A view kept this way whose name a shared view now has gets a new suffix; its
    columns and sort lose fields the new definition no longer has (a rollback to a version before
    the field), so the view still opens. Returns ``new_doc`` (changed in place)."""
    if not isinstance(old_doc, dict) or not isinstance(new_doc, dict):
        return new_doc
    lost = [v for v in old_doc.get("list_views") or [] if is_private(v) and v.get("name") not in dropped]
    if not lost:
        return new_doc
    views = new_doc.get("list_views")
    if not isinstance(views, list):
        views = []
    present = {(v.get("name"), v.get("owner_id")) for v in views if is_private(v)}
    lost = [v for v in lost if (v.get("name"), v.get("owner_id")) not in present]
    if not lost:
        return new_doc
    taken = {v.get("name") for v in views if isinstance(v, dict)}
    fields = {f.get("api_name") for f in new_doc.get("fields") or [] if isinstance(f, dict)} | set(SYSTEM_FIELDS)
    for view in lost:
        view = dict(view)
        if view.get("name") in taken:
            view["name"] = f"{str(view['name'])[:32]}_{secrets.token_hex(3)}"
        if isinstance(view.get("columns"), list):
            view["columns"] = [c for c in view["columns"] if not isinstance(c, str) or c in fields]
        if isinstance(view.get("order_by"), str):
            keys = [k for k in view["order_by"].split(",") if k.strip().lstrip("+-") in fields]
            if keys:
                view["order_by"] = ",".join(keys)
            else:
                view.pop("order_by")
        taken.add(view["name"])
        views.append(view)
    new_doc["list_views"] = views
    return new_doc
