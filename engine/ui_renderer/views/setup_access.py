"""Setup → Users, Roles, Permission sets and Sharing: the pages an administrator manages access
with (the ``setup_access`` blueprint, under ``/setup``, administrators only).

The pages translate, they do not decide: every change goes through ``services().access``
(``AccessAdmin``, which checks the actor's admin rights itself), the metadata store (an object's
org-wide default) or the token functions of ``engine.security.users``, always with ``g.actor``.
A refused change comes back as the service's error; :func:`put_errors` places each of its
problems next to the input it names (inputs are named after the document's keys, so a problem's
path is an input's name) and translates the messages it knows.

This module holds the blueprint, the helpers shared by the pages and the role tree;
``setup_access_users``, ``setup_access_permissions`` and ``setup_access_sharing`` hold the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import ConflictError, EngineError, InvalidRequestError, MetadataError, NotFoundError

from .. import i18n
from ..auth import page_blueprint, services

setup_access = page_blueprint("setup_access", __name__, url_prefix="/setup", admin=True)

TEXT_MAX = 200      # longest label or name kept from a form (the services refuse what is too long)

# Messages of the access services shown next to inputs, in the page's language; keyed by error
# code and path (``None``: any path). Anything else is shown as the service wrote it.
MESSAGES = {
    ("security.E001", None): _l("Use letters, digits and _ . @ + - (at most 150 characters)."),
    ("security.E002", None): _l("Use at least 8 characters."),
    ("security.E003", None): _l("A user with this username already exists."),
    ("security.E005", None): _l("Use at most 200 characters."),
    ("security.E010", None): _l("Use lowercase letters, digits and underscores, starting with a letter."),
    ("security.E013", None): _l("This would make a management cycle: choose someone who does not report "
                                "to this user."),
    ("security.E016", "name"): _l("Use lowercase letters, digits and underscores, starting with a letter."),
    ("security.E016", "access"): _l("Choose read or edit."),
    ("security.E016", "owned_by_role"): _l("Choose an owner role, or write criteria instead."),
    ("security.E041", None): _l("This name is already used; choose another one."),
    ("security.E042", None): _l("This name is already used; choose another one."),
    ("security.E043", None): _l("This name is already used; choose another one."),
}


@dataclass
class FormErrors:
    """Messages of a failed form: ``fields`` (input name -> messages) and ``top`` (messages that
    belong to no input). ``labels`` names the inputs for the summary at the top of the form."""

    fields: dict = field(default_factory=dict)
    top: list = field(default_factory=list)

    def add(self, name, message):
        if name is None:
            self.top.append(str(message))
        else:
            self.fields.setdefault(name, []).append(str(message))

    def get(self, name):
        return self.fields.get(name, ())

    def __bool__(self):
        return bool(self.fields or self.top)

    def summary(self, labels):
        """``[(input id, label, message)]`` for ``forms.summary``; ``labels``: name -> label."""
        items = [(None, None, m) for m in self.top]
        for name, messages in self.fields.items():
            items += [(input_id(name), labels.get(name, name), m) for m in messages]
        return items


def input_id(name):
    """The id of the input named ``name`` (``objects.deal.read`` -> ``f-objects-deal-read``)."""
    return "f-" + name.replace(".", "-")


def put_errors(exc, errors, names, default=None):
    """Place the problems of a service error on ``errors``: next to the input its path names when
    that input is in ``names``, else at the top. An error that names no input (a name already used)
    goes next to ``default``. Known messages are translated."""
    if isinstance(exc, MetadataError):
        items = exc.problems
    else:
        items = [(next(iter(exc.fields or {}), default), exc.message)]
    for path, message in items:
        known = MESSAGES.get((exc.code, path)) or MESSAGES.get((exc.code, None))
        text = str(known) if known is not None else message
        errors.add(path if path in names else None, text)


REFUSALS = (MetadataError, ConflictError, InvalidRequestError, NotFoundError)


def text(name, limit=TEXT_MAX):
    """A text input of the posted form, trimmed and cut to ``limit`` characters."""
    return (request.form.get(name) or "").strip()[:limit]


def checked(name):
    return request.form.get(name) in ("on", "true", "1", "yes")


def object_choices():
    """``[(api_name, label)]`` of every object, by label in the page's language."""
    items = [(name, i18n.object_label(rt.odef)) for name, rt in g.snapshot.objects.items()]
    return sorted(items, key=lambda item: item[1].lower())


def sharing_labels():
    return {"public_read_write": _("Public read/write"), "public_read": _("Public read only"),
            "private": _("Private")}


def access_labels():
    return {"read": _("Read only"), "edit": _("Read/write")}


def locale_choices():
    return [(code, i18n.LOCALE_NAMES[code]) for code in i18n.LOCALES]


# -- the role tree --------------------------------------------------------------------------------------
@dataclass
class RoleNode:
    """A role in the tree: its depth (0 for a top role), its parent's label and its users."""

    api_name: str
    label: str
    parent: str | None
    depth: int = 0
    parent_label: str | None = None
    users: list = field(default_factory=list)
    children: int = 0


def role_tree(roles, users=()):
    """The roles depth-first, children after their parent, each level by label."""
    by_name = {r["api_name"]: RoleNode(r["api_name"], r["label"], r.get("parent")) for r in roles}
    kids = {}
    for node in by_name.values():
        parent = node.parent if node.parent in by_name else None
        kids.setdefault(parent, []).append(node)
        if parent:
            node.parent_label = by_name[parent].label
            by_name[parent].children += 1
    for user in users:
        if user.get("role") in by_name:
            by_name[user["role"]].users.append(user["username"])
    out = []

    def walk(parent, depth):
        for node in sorted(kids.get(parent, []), key=lambda n: n.label.lower()):
            node.depth = depth
            out.append(node)
            walk(node.api_name, depth + 1)

    walk(None, 0)
    return out


def role_choices(tree):
    """``[(api_name, path)]`` for a select, in tree order; the path (``CEO › VP Sales › East``)
    shows where a role sits, also once it is the selected value."""
    paths = {}
    for node in tree:       # parents come before their children
        paths[node.api_name] = (paths[node.parent] + " › " if node.parent in paths else "") + node.label
    return [(n.api_name, paths[n.api_name]) for n in tree]


def _roles_page(values=None, errors=None, status=200):
    access = services().access
    tree = role_tree(access.list_roles(g.actor), access.list_users(g.actor))
    values = values if values is not None else {"parent": request.args.get("parent") or ""}
    errors = errors or FormErrors()
    labels = {"api_name": _("API name"), "label": _("Label"), "parent": _("Reports to (parent role)")}
    return render_template("engine/setup/access/roles.html", tree=tree, choices=role_choices(tree),
                           values=values, errors=errors, summary=errors.summary(labels)), status


@setup_access.get("/roles")
def roles():
    """The role tree and the form that adds a role under a parent."""
    return _roles_page()


@setup_access.post("/roles")
def create_role():
    values = {"api_name": text("api_name", 64), "label": text("label", 120), "parent": text("parent", 64)}
    errors = FormErrors()
    if not values["api_name"]:
        errors.add("api_name", _("Required."))
    if not errors:
        doc = {"api_name": values["api_name"], "label": values["label"] or None, "parent": values["parent"] or None}
        try:
            role = services().access.create_role(doc, g.actor)
        except REFUSALS as exc:
            put_errors(exc, errors, values)
        else:
            flash(_("Role '%(role)s' was created.", role=role["label"]), "success")
            return redirect(url_for("setup_access.roles"), code=303)
    return _roles_page(values, errors, 422)


def engine_message(exc):
    """An engine error's message for a flash (known ones translated)."""
    if isinstance(exc, EngineError):
        known = MESSAGES.get((exc.code, None))
        return str(known) if known is not None else exc.message
    return str(exc)


from . import setup_access_permissions, setup_access_sharing, setup_access_users  # noqa: E402,F401  (routes)
