"""Setup → Permission sets: the list, a permission set's object rights (read, create, edit,
delete, view all, modify all per object) and field rights (hidden, read or edit per field), and
the users it is assigned to. Saved through ``services().access.save_permission_set`` with
``g.actor``; inputs are named after the document's keys (``objects.deal.read``,
``fields.deal.amount``), so the service's problems land next to their inputs."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.security.access import FIELD_LEVELS, RIGHTS

from .. import i18n
from ..auth import services
from .setup_access import REFUSALS, FormErrors, engine_message, input_id, put_errors, setup_access, text


def right_labels():
    return {"read": _("Read"), "create": _("Create"), "edit": _("Edit"), "delete": _("Delete"),
            "view_all": _("View all"), "modify_all": _("Modify all")}


def level_labels():
    return {"hidden": _("Hidden"), "read": _("Read only"), "edit": _("Editable")}


@dataclass
class FieldRightView:
    name: str
    label: str
    level: str              # "" (as the object allows), hidden, read or edit
    input: str              # the input's name: fields.<object>.<field>
    errors: list = field(default_factory=list)

    @property
    def id(self):
        return input_id(self.input)


@dataclass
class ObjectRightsView:
    """One object's row of the rights matrix and its field rights."""

    name: str
    label: str
    rights: dict            # right -> bool
    fields: list            # [FieldRightView]
    errors: list = field(default_factory=list)

    @property
    def granted(self):
        return any(self.rights.values())

    @property
    def customised(self):
        return sum(1 for f in self.fields if f.level)

    def right_id(self, right):
        return input_id(f"objects.{self.name}.{right}")


def _objects_fields():
    """What ``save_permission_set`` checks a document against: object -> its field names."""
    return {name: set(rt.ftypes) | {"name", "owner_id"} for name, rt in g.snapshot.objects.items()}


def build_matrix(doc, errors=None):
    """The rights matrix of a permission set document, one row per object of the snapshot (by
    label); ``errors`` puts the service's problems on their rows and fields."""
    errors = errors or FormErrors()
    objects, fields = doc.get("objects") or {}, doc.get("fields") or {}
    rows = []
    for name, rt in g.snapshot.objects.items():
        rights = objects.get(name) or {}
        levels = fields.get(name) or {}
        views = [FieldRightView(f.api_name, i18n.field_label(f), levels.get(f.api_name, ""),
                                f"fields.{name}.{f.api_name}", list(errors.get(f"fields.{name}.{f.api_name}")))
                 for f in rt.odef.fields]
        row_errors = list(errors.get(f"objects.{name}")) + list(errors.get(f"fields.{name}"))
        for r in RIGHTS:
            row_errors += list(errors.get(f"objects.{name}.{r}"))
        rows.append(ObjectRightsView(name, i18n.object_label(rt.odef), {r: bool(rights.get(r)) for r in RIGHTS},
                                     views, row_errors))
    return sorted(rows, key=lambda row: row.label.lower())


def posted_document(name):
    """The permission set document as the form describes it (objects with at least one right,
    fields with a level other than the default)."""
    doc = {"api_name": name, "label": text("label", 120), "description": text("description", 1000)}
    objects, fields = {}, {}
    for obj, rt in g.snapshot.objects.items():
        rights = {r: request.form.get(f"objects.{obj}.{r}") in ("on", "true", "1") for r in RIGHTS}
        if any(rights.values()):
            objects[obj] = rights
        levels = {}
        for f in rt.odef.fields:
            level = request.form.get(f"fields.{obj}.{f.api_name}") or ""
            if level:
                levels[f.api_name] = level if level in FIELD_LEVELS else level[:20]
        if levels:
            fields[obj] = levels
    doc.update(objects=objects, fields=fields)
    if not doc["description"]:
        del doc["description"]
    return doc


def _labels():
    labels = {"api_name": _("API name"), "label": _("Label"), "description": _("Description"),
              "username": _("User")}
    names = right_labels()
    for obj, rt in g.snapshot.objects.items():
        olabel = i18n.object_label(rt.odef)
        labels.update({f"objects.{obj}.{r}": f"{olabel} · {names[r]}" for r in RIGHTS})
        labels[f"objects.{obj}"] = labels[f"fields.{obj}"] = olabel
        labels.update({f"fields.{obj}.{f.api_name}": f"{olabel} · {i18n.field_label(f)}" for f in rt.odef.fields})
    return labels


def _set_page(doc, *, creating, errors=None, status=200, assign_errors=None, assign_value=""):
    access = services().access
    errors = errors or FormErrors()
    users = access.list_users(g.actor)
    name = doc.get("api_name")
    holders = [u for u in users if name in u["permission_sets"]] if not creating else []
    others = [(u["username"], u["username"]) for u in users if not creating and name not in u["permission_sets"]]
    assign_errors = assign_errors or FormErrors()
    return render_template("engine/setup/access/permission_set.html", doc=doc, creating=creating,
                           matrix=build_matrix(doc, errors), errors=errors, rights=RIGHTS, right_labels=right_labels(),
                           level_labels=level_labels(), summary=errors.summary(_labels()), holders=holders, others=others,
                           assign_errors=assign_errors, assign_value=assign_value), status


# -- the list ---------------------------------------------------------------------------------------------
@setup_access.get("/permission_sets")
def permission_sets():
    access = services().access
    sets = access.list_permission_sets(g.actor)
    counts = {}
    for u in access.list_users(g.actor):
        for ps in u["permission_sets"]:
            counts[ps] = counts.get(ps, 0) + 1
    labels = {name: i18n.object_label(rt.odef) for name, rt in g.snapshot.objects.items()}
    rows = []
    for doc in sets:
        names = right_labels()
        grants = [(labels.get(obj, obj), ", ".join(names[r] for r in RIGHTS if (rights or {}).get(r)))
                  for obj, rights in (doc.get("objects") or {}).items() if any((rights or {}).values())]
        hidden = sum(1 for levels in (doc.get("fields") or {}).values() for lv in levels.values() if lv == "hidden")
        rows.append({"doc": doc, "grants": sorted(grants), "hidden": hidden, "users": counts.get(doc["api_name"], 0)})
    return render_template("engine/setup/access/permission_sets.html", rows=rows)


# -- a new permission set ------------------------------------------------------------------------------------
@setup_access.get("/permission_sets/new")
def new_permission_set():
    return _set_page({"api_name": "", "objects": {}, "fields": {}}, creating=True)


@setup_access.post("/permission_sets/new")
def create_permission_set():
    doc = posted_document(text("api_name", 64))
    errors = FormErrors()
    if not doc["api_name"]:
        errors.add("api_name", _("Required."))
    else:
        try:
            services().access.save_permission_set(doc, g.actor, _objects_fields())
        except REFUSALS as exc:
            put_errors(exc, errors, _labels(), default="api_name")
        else:
            flash(_("Permission set '%(set)s' was created.", set=doc["label"] or doc["api_name"]), "success")
            return redirect(url_for("setup_access.permission_set", name=doc["api_name"]), code=303)
    return _set_page(doc, creating=True, errors=errors, status=422)


# -- one permission set -----------------------------------------------------------------------------------
def _find(name):
    for doc in services().access.list_permission_sets(g.actor):
        if doc["api_name"] == name:
            return doc
    from engine.errors import NotFound
    raise NotFound("security.E038", f"Unknown permission set '{name[:64]}'.")


@setup_access.get("/permission_sets/<name>")
def permission_set(name):
    return _set_page(_find(name), creating=False)


@setup_access.post("/permission_sets/<name>")
def update_permission_set(name):
    _find(name)
    doc = posted_document(name)
    errors = FormErrors()
    try:
        services().access.save_permission_set(doc, g.actor, _objects_fields(), create=False)
    except REFUSALS as exc:
        put_errors(exc, errors, _labels())
        return _set_page(doc, creating=False, errors=errors, status=422)
    flash(_("Permission set '%(set)s' was saved.", set=doc["label"] or name), "success")
    return redirect(url_for("setup_access.permission_set", name=name), code=303)


@setup_access.post("/permission_sets/<name>/users")
def assign_to_user(name):
    """Assign the permission set to a user (chosen from those who do not have it yet)."""
    doc = _find(name)
    username = text("username", 150)
    errors = FormErrors()
    if not username:
        errors.add("username", _("Choose a user."))
    else:
        try:
            services().access.assign(username, name, g.actor)
        except REFUSALS as exc:
            errors.add("username", engine_message(exc))
    if errors:
        return _set_page(doc, creating=False, status=422, assign_errors=errors, assign_value=username)
    flash(_("Permission set '%(set)s' was assigned to '%(user)s'.", set=doc.get("label") or name, user=username),
          "success")
    return redirect(url_for("setup_access.permission_set", name=name) + "#assigned", code=303)
