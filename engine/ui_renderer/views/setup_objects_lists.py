"""Setup → Object Manager → Layouts, List views and Validation rules: the named lists of an object
document, each saved whole through ``store.set_list`` (and removed with ``store.remove_from_list``).

The layout editor posts plain inputs (``sections.<n>.label``, ``.label_i18n.zh_CN``, ``.columns`` and
``.fields``, one api_name a line), so it saves without JavaScript; the page script turns it into the
drag-and-drop editor (a palette of unused fields, sections of one or two columns, arrow keys) and
keeps those inputs up to date.
"""
from __future__ import annotations

import re

from flask import flash, g, redirect, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from engine.errors import EngineError, NotFound
from engine.metadata.checks import load_schema
from engine.metadata.field_types import field_types

from ..viewmodels import system_label
from .setup_objects import (
    ZH,
    FormState,
    apply_error,
    doc_label,
    field_label,
    object_row,
    refused,
    render_object_page,
    set_zh,
    setup_objects,
    store,
    zh_input,
    zh_value,
)
from .setup_objects_fields import type_label

MAX_SECTIONS = 50
LAYOUT_SYSTEM_FIELDS = ("name", "owner_id", "created_at", "created_by", "updated_at", "updated_by")


def _item(doc, kind, name):
    for i, item in enumerate(doc.get(kind) or []):
        if item.get("name") == name:
            return i, item
    raise NotFound("metadata.E046", f"Unknown {kind[:-1].replace('_', ' ')} '{name[:40]}'.")


def _prefixes(object, kind, index):
    return (rf"objects\.{re.escape(object)}\.{kind}\[{index}\]\.?", r"object\.")


def _field_choices(object, doc):
    """``[(api_name, label, type label)]`` of every field a layout or list view may show."""
    rt = g.snapshot.get(object)
    out = [(n, system_label(rt, n) if rt else n, _("System")) for n in LAYOUT_SYSTEM_FIELDS]
    for fdoc in doc.get("fields") or []:
        out.append((fdoc["api_name"], field_label(fdoc), type_label(fdoc.get("type"))))
    return out


def _save(object, kind, item, form, index, *, replace, label):
    """Save ``item`` into ``kind``; flash and return True, or put the problems into ``form``."""
    try:
        store().set_list(object, kind, item, actor=g.actor, replace=replace)
    except EngineError as exc:
        if not refused(exc):
            raise
        apply_error(form, exc, _prefixes(object, kind, index))
        return False
    flash(label, "success")
    return True


def _remove(object, kind, name, message):
    store().remove_from_list(object, kind, name, actor=g.actor)
    flash(message, "success")


def _name_problem(form, creating):
    if creating and not form.values.get("name"):
        form.add("name", _("Enter a name: lowercase letters, digits and _, such as open_items."))


# -- layouts ------------------------------------------------------------------------------------------------
def _default_layout(doc):
    """One two-column section of every field, labelled "Details" in both languages."""
    with force_locale("en"):
        label = _("Details")
    with force_locale(ZH):
        label_zh = _("Details")
    section = {"label": label, "columns": 2, "fields": ["name"] + [f["api_name"] for f in doc.get("fields") or []]}
    return {"name": "default", "sections": [set_zh(section, "label", label_zh)]}


def _layout_form(layout):
    form = FormState(labels={"name": _("Layout name"), "label": _("Label"), "sections": _("Sections")})
    form.values = {"name": layout.get("name", ""), "label": layout.get("label", "")}
    sections = []
    for s in layout.get("sections") or []:
        sections.append({"label": s.get("label", ""), "zh": zh_value(s, "label"),
                         "columns": s.get("columns") or 1, "fields": list(s.get("fields") or [])})
    form.values["sections"] = sections
    return form


def _read_layout(base):
    """The layout document from ``sections.<n>.*`` inputs (empty sections dropped)."""
    form = _layout_form({})
    name = (request.form.get("name") or base.get("name") or "").strip()
    label = (request.form.get("label") or "").strip()
    form.values.update(name=name, label=label)
    numbers = sorted({int(m.group(1)) for k in request.form for m in [re.fullmatch(r"sections\.(\d+)\.fields", k)]
                      if m})[:MAX_SECTIONS]
    layout = {k: v for k, v in base.items() if k == "related_lists"}
    layout["name"] = name
    if label:
        layout["label"] = label
    sections, seen = [], set()
    for n in numbers:
        names = [f.strip() for f in re.split(r"[\s,]+", request.form.get(f"sections.{n}.fields") or "") if f.strip()]
        names = [f for f in names if not (f in seen or seen.add(f))]       # a field is placed once
        section = {"label": (request.form.get(f"sections.{n}.label") or "").strip(),
                   "zh": (request.form.get(f"sections.{n}.{zh_input('label')}") or "").strip(),
                   "columns": 2 if request.form.get(f"sections.{n}.columns") == "2" else 1, "fields": names}
        form.values["sections"].append(section)
        if not names and not section["label"]:
            continue
        saved = {k: v for k, v in section.items() if k != "zh" and (v or k == "fields")}
        sections.append(set_zh(saved, "label", section["zh"]))
    layout["sections"] = sections
    if request.form.get("_add_section"):
        form.values["sections"].append({"label": "", "zh": "", "columns": 2, "fields": []})
    return layout, form


def _layouts_page(object, row, layout, form, *, creating, status=200):
    doc = row["doc"]
    choices = _field_choices(object, doc)
    placed = {f for s in form.values["sections"] for f in s["fields"]}
    labels = {n: (label, kind) for n, label, kind in choices}
    return render_object_page("engine/setup/objects/layouts.html", object, "layouts", row=row, status=status,
                              layouts=[(lay["name"], doc_label(lay, default=lay["name"])) for lay in doc.get("layouts") or []],
                              current=layout.get("name"), creating=creating, form=form, labels=labels,
                              palette=[c for c in choices if c[0] not in placed])


@setup_objects.get("/objects/<object>/layouts")
def layouts(object):
    row = object_row(object)
    doc = row["doc"]
    wanted = request.args.get("layout")
    existing = doc.get("layouts") or []
    if wanted:
        _i, layout = _item(doc, "layouts", wanted)
    else:
        layout = next((lay for lay in existing if lay.get("name") == "default"), existing[0] if existing else None)
    creating = layout is None
    layout = layout or _default_layout(doc)
    new_name = (request.args.get("new") or "").strip()[:40]
    if new_name:      # a new layout starts as a copy of the one shown
        layout, creating = dict(layout, name=new_name), True
        layout.pop("label", None)
    return _layouts_page(object, row, layout, _layout_form(layout), creating=creating)


@setup_objects.post("/objects/<object>/layouts")
def save_layout(object):
    row = object_row(object)
    doc = row["doc"]
    name = (request.form.get("name") or "").strip()
    index = next((i for i, lay in enumerate(doc.get("layouts") or []) if lay.get("name") == name), None)
    base = (doc.get("layouts") or [])[index] if index is not None else {}
    layout, form = _read_layout(base)
    if not name:
        form.add("name", _("Enter a name: lowercase letters, digits and _, such as default."))
    if request.form.get("_add_section") or form.errors:
        return _layouts_page(object, row, layout, form, creating=index is None,
                             status=200 if not form.errors else 422)
    at = index if index is not None else len(doc.get("layouts") or [])
    if _save(object, "layouts", layout, form, at, replace=index is not None,
             label=_("Layout '%(name)s' was saved.", name=doc_label(layout, default=name))):
        return redirect(url_for("setup_objects.layouts", object=object, layout=name), code=303)
    return _layouts_page(object, row, layout, form, creating=index is None, status=422)


@setup_objects.post("/objects/<object>/layouts/<name>/delete")
def delete_layout(object, name):
    _i, _layout = _item(object_row(object)["doc"], "layouts", name)
    _remove(object, "layouts", name, _("Layout '%(name)s' was deleted.", name=name))
    return redirect(url_for("setup_objects.layouts", object=object), code=303)


# -- list views ----------------------------------------------------------------------------------------------
def _visibility_key():
    """The list view schema's key for "shared or private" when the metadata has one (it has none
    yet: every list view is shared with everyone who may read the object)."""
    props = load_schema("list_view").get("properties", {})
    return "visibility" if "visibility" in props else None


def _sort_choices(choices, doc):
    fields = {f["api_name"]: f for f in doc.get("fields") or []}
    out = []
    for name, label, _kind in choices:
        fdoc = fields.get(name)
        if fdoc is not None and (fdoc.get("type") not in field_types or not field_types.get(fdoc["type"]).sortable):
            continue
        out += [(name, _("%(field)s, ascending", field=label)), (f"-{name}", _("%(field)s, descending", field=label))]
    return out


def _view_form(view):
    form = FormState(labels={"name": _("API name"), "label": _("Label"), zh_input("label"): _("Chinese label"),
                             "columns": _("Columns"), "where": _("Filter (formula)"), "order_by": _("Sort"),
                             "visibility": _("Who sees it")})
    form.values = {k: view.get(k, "") for k in ("name", "label", "where", "order_by", "visibility")}
    form.values[zh_input("label")] = zh_value(view, "label")
    form.values["columns"] = list(view.get("columns") or ["name"])
    form.values["visibility"] = form.values["visibility"] or "shared"
    return form


def _read_view(base, creating):
    form = _view_form({})
    view = {k: v for k, v in base.items() if k not in ("label", "where", "order_by", "columns")}
    keys = (("name",) if creating else ()) + ("label", "where", "order_by")
    for key in keys:
        value = (request.form.get(key) or "").strip()
        form.values[key] = value
        if value:
            view[key] = value
        else:
            view.pop(key, None)
    form.values["name"] = view.get("name", "")
    form.values[zh_input("label")] = (request.form.get(zh_input("label")) or "").strip()
    set_zh(view, "label", form.values[zh_input("label")])
    columns = [c for c in request.form.getlist("columns") if c][:50]
    form.values["columns"] = columns
    view["columns"] = columns
    key = _visibility_key()
    if key:
        form.values[key] = request.form.get(key) or "shared"
        view[key] = form.values[key]
    _name_problem(form, creating)
    if not columns:
        form.add("columns", _("Choose at least one column."))
    return view, form


def _view_page(object, row, view, form, *, creating, status=200):
    doc = row["doc"]
    choices = _field_choices(object, doc)
    chosen = list(form.values["columns"])
    ordered = [c for n in chosen for c in choices if c[0] == n] + [c for c in choices if c[0] not in chosen]
    return render_object_page("engine/setup/objects/list_view_form.html", object, "list_views", row=row,
                              status=status, view=view, form=form, creating=creating, columns=ordered,
                              sort_choices=_sort_choices(choices, doc), visibility=_visibility_key())


@setup_objects.get("/objects/<object>/list_views")
def list_views(object):
    row = object_row(object)
    labels = {n: label for n, label, _k in _field_choices(object, row["doc"])}
    views = [{"name": v["name"], "label": doc_label(v, default=v["name"]), "where": v.get("where", ""),
              "order_by": v.get("order_by", ""), "columns": [labels.get(c, c) for c in v.get("columns") or []]}
             for v in row["doc"].get("list_views") or []]
    return render_object_page("engine/setup/objects/list_views.html", object, "list_views", row=row, views=views)


@setup_objects.get("/objects/<object>/list_views/new")
def new_list_view(object):
    row = object_row(object)
    view = {"columns": ["name"] + [f["api_name"] for f in (row["doc"].get("fields") or [])[:4]]}
    return _view_page(object, row, view, _view_form(view), creating=True)


@setup_objects.post("/objects/<object>/list_views/new")
def create_list_view(object):
    row = object_row(object)
    view, form = _read_view({}, creating=True)
    if not form.errors and _save(object, "list_views", view, form, len(row["doc"].get("list_views") or []),
                                 replace=False, label=_("List view '%(name)s' was saved.",
                                                        name=doc_label(view, default=view["name"]))):
        return redirect(url_for("setup_objects.list_views", object=object), code=303)
    return _view_page(object, row, view, form, creating=True, status=422)


@setup_objects.get("/objects/<object>/list_views/<name>")
def edit_list_view(object, name):
    row = object_row(object)
    _i, view = _item(row["doc"], "list_views", name)
    return _view_page(object, row, view, _view_form(view), creating=False)


@setup_objects.post("/objects/<object>/list_views/<name>")
def save_list_view(object, name):
    row = object_row(object)
    index, base = _item(row["doc"], "list_views", name)
    view, form = _read_view(base, creating=False)
    if not form.errors and _save(object, "list_views", view, form, index, replace=True,
                                 label=_("List view '%(name)s' was saved.", name=doc_label(view, default=name))):
        return redirect(url_for("setup_objects.list_views", object=object), code=303)
    return _view_page(object, row, view, form, creating=False, status=422)


@setup_objects.post("/objects/<object>/list_views/<name>/delete")
def delete_list_view(object, name):
    _item(object_row(object)["doc"], "list_views", name)
    _remove(object, "list_views", name, _("List view '%(name)s' was deleted.", name=name))
    return redirect(url_for("setup_objects.list_views", object=object), code=303)


# -- validation rules ------------------------------------------------------------------------------------------
def _rule_form(rule):
    form = FormState(labels={"name": _("API name"), "condition": _("Error condition (formula)"),
                             "message": _("Error message"), "field": _("Show the message at"),
                             "active": _("Active"), "description": _("Description")})
    form.values = {k: rule.get(k) or "" for k in ("name", "condition", "message", "field", "description")}
    form.values["active"] = rule.get("active", True)
    return form


def _read_rule(base, creating):
    form = _rule_form({})
    rule = {k: v for k, v in base.items() if k not in ("condition", "message", "field", "description", "active")}
    keys = (("name",) if creating else ()) + ("condition", "message", "field", "description")
    for key in keys:
        value = (request.form.get(key) or "").strip()
        form.values[key] = value
        if value:
            rule[key] = value
        else:
            rule.pop(key, None)
    form.values["name"] = rule.get("name", "")
    form.values["active"] = bool(request.form.get("active"))
    if not form.values["active"]:
        rule["active"] = False
    _name_problem(form, creating)
    if not form.values["condition"]:
        form.add("condition", _("Enter the condition: a formula that is true when the record is wrong."))
    if not form.values["message"]:
        form.add("message", _("Enter the message users see."))
    return rule, form


def _rule_page(object, row, rule, form, *, creating, status=200):
    choices = [(n, label) for n, label, _k in _field_choices(object, row["doc"])
               if n not in ("created_at", "created_by", "updated_at", "updated_by")]
    return render_object_page("engine/setup/objects/rule_form.html", object, "validation_rules", row=row,
                              status=status, rule=rule, form=form, creating=creating, field_choices=choices)


@setup_objects.get("/objects/<object>/validation_rules")
def validation_rules(object):
    row = object_row(object)
    labels = {n: label for n, label, _k in _field_choices(object, row["doc"])}
    rules = [{"name": r["name"], "condition": r.get("condition", ""), "message": r.get("message", ""),
              "field": labels.get(r.get("field"), r.get("field")) if r.get("field") else "",
              "active": r.get("active", True)} for r in row["doc"].get("validation_rules") or []]
    return render_object_page("engine/setup/objects/rules.html", object, "validation_rules", row=row, rules=rules)


@setup_objects.get("/objects/<object>/validation_rules/new")
def new_rule(object):
    row = object_row(object)
    return _rule_page(object, row, {}, _rule_form({}), creating=True)


@setup_objects.post("/objects/<object>/validation_rules/new")
def create_rule(object):
    row = object_row(object)
    rule, form = _read_rule({}, creating=True)
    if not form.errors and _save(object, "validation_rules", rule, form,
                                 len(row["doc"].get("validation_rules") or []), replace=False,
                                 label=_("Validation rule '%(name)s' was saved.", name=rule["name"])):
        return redirect(url_for("setup_objects.validation_rules", object=object), code=303)
    return _rule_page(object, row, rule, form, creating=True, status=422)


@setup_objects.get("/objects/<object>/validation_rules/<name>")
def edit_rule(object, name):
    row = object_row(object)
    _i, rule = _item(row["doc"], "validation_rules", name)
    return _rule_page(object, row, rule, _rule_form(rule), creating=False)


@setup_objects.post("/objects/<object>/validation_rules/<name>")
def save_rule(object, name):
    row = object_row(object)
    index, base = _item(row["doc"], "validation_rules", name)
    rule, form = _read_rule(base, creating=False)
    if not form.errors and _save(object, "validation_rules", rule, form, index, replace=True,
                                 label=_("Validation rule '%(name)s' was saved.", name=name)):
        return redirect(url_for("setup_objects.validation_rules", object=object), code=303)
    return _rule_page(object, row, rule, form, creating=False, status=422)


@setup_objects.post("/objects/<object>/validation_rules/<name>/delete")
def delete_rule(object, name):
    _item(object_row(object)["doc"], "validation_rules", name)
    _remove(object, "validation_rules", name, _("Validation rule '%(name)s' was deleted.", name=name))
    return redirect(url_for("setup_objects.validation_rules", object=object), code=303)
