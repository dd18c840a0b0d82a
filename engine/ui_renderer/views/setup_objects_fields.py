"""Setup → Object Manager → Fields: the fields tab, the field editor (the type chosen first, then
only that type's options), deleting with what it affects, and archived fields. The formula
editor's endpoints are in ``setup_objects_formula.py``.

The field editor's inputs are named after the field document's keys (``label``, ``scale``,
``target``, ``formula``, ``summary.function``, ``options.0.value``); which option inputs a type gets
comes from its ``options_schema`` (known keys get a tailored input, a plugin type's other keys a
generic one), so a new field type needs no change here.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import EngineError, NotFound
from engine.metadata.checks import suggest
from engine.metadata.field_types import field_types

from ..auth import records
from ..viewmodels import system_label
from .setup_objects import (
    FormState,
    apply_error,
    doc_label,
    field_label,
    object_row,
    object_rows,
    refused,
    render_object_page,
    set_zh,
    setup_objects,
    store,
    zh_input,
    zh_value,
)

TYPE_INFO = {
    "text": (_l("Text"), _l("One line of text, up to 255 characters or the length you set.")),
    "long_text": (_l("Long text"), _l("Several paragraphs of plain text.")),
    "rich_text": (_l("Rich text"), _l("Formatted text: bold, lists and links.")),
    "email": (_l("Email"), _l("An email address, checked on save.")),
    "phone": (_l("Phone"), _l("A phone number.")),
    "url": (_l("URL"), _l("A web address (http or https).")),
    "number": (_l("Number"), _l("A decimal number with the scale you choose.")),
    "integer": (_l("Integer"), _l("A whole number.")),
    "currency": (_l("Currency"), _l("An amount of money with its scale.")),
    "percent": (_l("Percent"), _l("A percentage.")),
    "date": (_l("Date"), _l("A calendar date, with a date picker.")),
    "datetime": (_l("Date/time"), _l("A date and time, shown in each user's time zone.")),
    "checkbox": (_l("Checkbox"), _l("Yes or no.")),
    "picklist": (_l("Picklist"), _l("One value from a list you define.")),
    "multi_picklist": (_l("Multi-select picklist"), _l("Several values from a list you define.")),
    "lookup": (_l("Lookup"), _l("A link to a record of another object.")),
    "master_detail": (_l("Master-detail"),
                      _l("A required link to a parent record; children follow their parent to the recycle bin.")),
    "auto_number": (_l("Auto number"), _l("A counter assigned on save, such as EQ-0001.")),
    "formula": (_l("Formula"), _l("Computed from other fields each time it is read.")),
    "roll_up_summary": (_l("Roll-up summary"), _l("Count, sum, minimum or maximum of master-detail children.")),
}
TYPE_GROUPS = ((_l("Text"), ("text", "long_text", "rich_text", "email", "phone", "url")),
               (_l("Numbers"), ("number", "integer", "currency", "percent")),
               (_l("Dates"), ("date", "datetime")),
               (_l("Choices"), ("checkbox", "picklist", "multi_picklist")),
               (_l("Relationships"), ("lookup", "master_detail")),
               (_l("Computed"), ("auto_number", "formula", "roll_up_summary")))
RESULT_TYPES = {"number": _l("Number"), "text": _l("Text"), "boolean": _l("True/false"), "date": _l("Date"),
                "datetime": _l("Date/time"), "multi": _l("Multi-select picklist"), "currency": _l("Currency"),
                "percent": _l("Percent"), "checkbox": _l("Checkbox")}
COMMON_KEYS = ("label", "help_text", "required", "unique", "default", "track_history")
TRANSLATED = ("label", "help_text")     # each with a Chinese input (label_i18n.zh_CN, help_text_i18n.zh_CN)
EXTRA_ROWS = 3         # blank option rows a form shows (the page script adds more)


def type_label(name):
    info = TYPE_INFO.get(name)
    return str(info[0]) if info else (field_types.get(name).label if name in field_types else name)


def type_groups():
    """``[(group label, [(type, label, description)])]`` for the type picker, plugins last."""
    known = {t for _g, types in TYPE_GROUPS for t in types}
    groups = [(label, [(t, type_label(t), str(TYPE_INFO[t][1])) for t in types if t in field_types])
              for label, types in TYPE_GROUPS]
    plugins = [(t, type_label(t), "") for t in field_types.keys() if t not in known]  # noqa: SIM118 (a Registry)
    if plugins:
        groups.append((_("More"), plugins))
    return [(label, items) for label, items in groups if items]


# -- the field form's inputs ---------------------------------------------------------------------------
@dataclass
class OptionInput:
    """One input of the field editor, named after the document key it fills."""

    name: str
    kind: str                 # number | text | select | grouped | checkbox | options | formula | json
    label: str
    help: str = ""
    choices: tuple = ()       # select: [(value, label)]; grouped: [(group label, group value, [(value, label)])]
    required: bool = False
    formula_object: str = ""  # formula: the object it reads …
    object_from: str = ""     # … or the id of the select that names it
    return_from: str = ""     # formula: the id of the select holding the declared return type
    return_type: str = ""     # formula: the type it must return


def _objects_choices(rows):
    return [(n, f"{doc_label(r['doc'])} ({n})") for n, r in sorted(rows.items(), key=lambda i: doc_label(i[1]['doc']))]


def _children(object, rows):
    """``[(child object, master-detail field)]`` of objects whose master-detail fields point here."""
    return [(n, f) for n, r in sorted(rows.items()) for f in r["doc"].get("fields") or []
            if f.get("target") == object and f.get("type") in field_types
            and field_types.get(f["type"]).cascade]


def _summary_inputs(object, rows):
    children = _children(object, rows)
    child_names = sorted({n for n, _f in children})
    numeric = [(doc_label(rows[n]["doc"]), n,
                [(f["api_name"], field_label(f)) for f in rows[n]["doc"].get("fields") or []
                 if f.get("type") in field_types and field_types.get(f["type"]).is_numeric
                 and not field_types.get(f["type"]).summarises])
               for n in child_names]
    return [
        OptionInput("summary.function", "select", _("Function"), required=True,
                    choices=(("count", _("Count")), ("sum", _("Sum")), ("min", _("Minimum")), ("max", _("Maximum")))),
        OptionInput("summary.object", "select", _("Child object"), required=True,
                    choices=tuple((n, f"{doc_label(rows[n]['doc'])} ({n})") for n in child_names),
                    help=_("Objects with a master-detail field pointing to this one.")),
        OptionInput("summary.relationship_field", "select", _("Through the field"),
                    choices=tuple((f["api_name"], f"{doc_label(rows[n]['doc'])}: {field_label(f)}")
                                  for n, f in children),
                    help=_("Only needed when the child has two master-detail fields pointing here.")),
        OptionInput("summary.field", "grouped", _("Field to aggregate"), choices=tuple(numeric),
                    help=_("Not needed for Count.")),
        OptionInput("summary.filter", "formula", _("Only children where (formula)"),
                    object_from="f-summary-object", return_type="boolean",
                    help=_("Optional: a formula over the child's fields that is true for the children to include.")),
    ]


def type_inputs(ftype, object, rows):
    """The option inputs of ``ftype``, in the order of its ``options_schema``."""
    out = []
    for key, spec in ftype.options_schema.items():
        if key == "max_length":
            out.append(OptionInput(key, "number", _("Maximum length"), help=_(
                "At most %(max)s characters; blank: %(default)s.", max=getattr(ftype, "max_allowed", 4000),
                default=getattr(ftype, "default_length", 255))))
        elif key == "precision":
            out.append(OptionInput(key, "number", _("Precision (digits in all)"), help=_("1 to 18; blank: 18.")))
        elif key == "scale":
            out.append(OptionInput(key, "number", _("Scale (decimal places)"),
                                   help=_("0 to 6; blank: %(default)s.", default=getattr(ftype, "default_scale", 2))
                                   if not ftype.computed else _("Decimal places shown for a number result.")))
        elif key == "currency":
            out.append(OptionInput(key, "text", _("Currency code"), help=_("Three capital letters, such as EUR or CNY.")))
        elif key == "options":
            out.append(OptionInput(key, "options", _("Values"), required=True, help=_(
                "One value a row (no ';'). The English and Chinese labels are optional: without them the value "
                "is shown.")))
        elif key == "target":
            out.append(OptionInput(key, "select", _("Related object"), required=True,
                                   choices=tuple(_objects_choices({**rows}))))
        elif key == "relationship_name":
            out.append(OptionInput(key, "text", _("Relationship name"), help=_(
                "Optional: how the related object names this relationship, in snake_case.")))
        elif key == "on_delete":
            out.append(OptionInput(key, "select", _("When the related record is deleted"), choices=(
                ("set_null", _("Clear this field")), ("restrict", _("Refuse to delete it")))))
        elif key == "format":
            out.append(OptionInput(key, "text", _("Display format"), required=True, help=_(
                "One counter in braces, such as EQ-{0000}: the zeros set the number of digits.")))
        elif key == "start":
            out.append(OptionInput(key, "number", _("First number"), help=_("Blank: 1.")))
        elif key == "formula":
            out.append(OptionInput(key, "formula", _("Formula"), required=True, formula_object=object,
                                   return_from="f-return_type"))
        elif key == "return_type":
            out.append(OptionInput(key, "select", _("Result type"), choices=tuple(
                (v, str(RESULT_TYPES.get(v, v))) for v in spec.get("enum", ())),
                help=_("Blank: worked out from the formula.")))
        elif key == "blank_as_zero":
            out.append(OptionInput(key, "checkbox", _("Treat blank number fields as zero")))
        elif key == "summary":
            out += _summary_inputs(object, rows)
        else:
            out.append(_generic_input(key, spec))
    return out


def _generic_input(key, spec):
    """An input for a plugin type's option, from its JSON Schema."""
    label = spec.get("title") or key.replace("_", " ").capitalize()
    help_text = spec.get("description", "")
    if "enum" in spec:
        return OptionInput(key, "select", label, help_text, choices=tuple((str(v), str(v)) for v in spec["enum"]))
    kind = {"integer": "number", "number": "number", "boolean": "checkbox", "string": "text"}.get(spec.get("type"), "json")
    return OptionInput(key, kind, label, help_text)


def common_flags(ftype):
    """Which of the common inputs a type has (mirrors engine.metadata.checks.check_field)."""
    unique = ftype.stored and ftype.can_be_unique
    return {"required": ftype.writable, "unique": unique, "track_history": ftype.stored and ftype.writable,
            "default": ftype.writable and ftype.formula_type not in (None, "multi")}


def field_labels(inputs):
    labels = {"api_name": _("API name"), "label": _("Label"), zh_input("label"): _("Chinese label"),
              zh_input("help_text"): _("Chinese help text"), "type": _("Type"),
              "help_text": _("Help text"), "required": _("Required"), "unique": _("Unique"),
              "default": _("Default value (formula)"), "track_history": _("Track changes in the field history")}
    for item in inputs:
        labels[item.name] = item.label
    return labels


def _form_values(fdoc, inputs):
    values = {k: fdoc.get(k, "") for k in ("api_name",) + COMMON_KEYS}
    for key in TRANSLATED:
        values[zh_input(key)] = zh_value(fdoc, key)
    for key in ("required", "unique", "track_history"):
        values[key] = bool(fdoc.get(key))
    rows = 0
    for item in inputs:
        if item.kind == "options":
            opts = fdoc.get("options") or []
            for i, opt in enumerate(opts):
                opt = opt if isinstance(opt, dict) else {}
                values[f"options.{i}.value"] = opt.get("value", "")
                values[f"options.{i}.label"] = opt.get("label", "")
                values[f"options.{i}.{zh_input('label')}"] = zh_value(opt, "label")
            rows = len(opts)
        elif item.name.startswith("summary."):
            values[item.name] = (fdoc.get("summary") or {}).get(item.name.split(".", 1)[1], "")
        elif item.kind == "json":
            values[item.name] = json.dumps(fdoc[item.name]) if item.name in fdoc else ""
        elif item.kind == "checkbox":
            values[item.name] = bool(fdoc.get(item.name))
        else:
            values[item.name] = fdoc.get(item.name, "")
    values["_option_rows"] = rows + EXTRA_ROWS
    return values


def _number(raw):
    return int(raw) if re.fullmatch(r"-?\d{1,15}", raw) else raw   # other text: the store names the problem


def _read_options(base, form_values):
    """The ``options`` list from rows ``options.<n>.*`` (blank rows skipped), extra keys of an
    existing option (colour, active) kept, and the row number of each option."""
    old = {o.get("value"): o for o in base.get("options") or [] if isinstance(o, dict)}
    numbers = sorted({int(m.group(1)) for k in request.form for m in [re.fullmatch(r"options\.(\d+)\.value", k)] if m})
    options, rows = [], []
    for n in numbers:
        subs = ("value", "label", zh_input("label"))
        row = {sub: (request.form.get(f"options.{n}.{sub}") or "").strip() for sub in subs}
        for sub, value in row.items():
            form_values[f"options.{n}.{sub}"] = value
        if not any(row.values()):
            continue
        opt = dict(old.get(row["value"]) or {}, value=row["value"])
        if row["label"]:
            opt["label"] = row["label"]
        else:
            opt.pop("label", None)
        set_zh(opt, "label", row[zh_input("label")])
        options.append(opt)
        rows.append(n)
    form_values["_option_rows"] = max([n + 1 for n in numbers] + [len(options) + 1])
    return options, rows


def read_field_form(ftype, base, inputs, creating):
    """``(field document, FormState, index maps)`` from the posted form over ``base``."""
    flags = common_flags(ftype)
    form = FormState(labels=field_labels(inputs))
    doc = {k: v for k, v in base.items() if k in ("api_name", "column", "description", "filterable")
           or k in ftype.options_schema or k in COMMON_KEYS or k.endswith(("_i18n", "_zh"))}
    doc["type"] = ftype.name
    for key in TRANSLATED:
        value = (request.form.get(zh_input(key)) or "").strip()
        form.values[zh_input(key)] = value
        set_zh(doc, key, value)
    keys = (("api_name",) if creating else ()) + ("label", "help_text") + (
        ("default",) if flags["default"] else ())
    for key in keys:
        value = (request.form.get(key) or "").strip()
        form.values[key] = value
        if value:
            doc[key] = value
        else:
            doc.pop(key, None)
    for key in ("required", "unique", "track_history"):
        on = flags[key] and bool(request.form.get(key))
        form.values[key] = on
        if on:
            doc[key] = True
        else:
            doc.pop(key, None)
    maps = {}
    summary = {}
    for item in inputs:
        if item.kind == "options":
            doc["options"], maps["options"] = _read_options(base, form.values)
            if not doc["options"]:
                doc.pop("options")
            continue
        raw = request.form.get(item.name)
        if item.kind == "checkbox":
            form.values[item.name] = bool(raw)
            value = True if raw else None
        else:
            raw = (raw or "").strip() if item.kind != "formula" else (raw or "").strip("\n ")
            form.values[item.name] = raw
            value = raw or None
            if value is not None and item.kind == "number":
                value = _number(raw)
            elif value is not None and item.kind == "json":
                try:
                    value = json.loads(raw)
                except ValueError:
                    form.add(item.name, _("Enter valid JSON."))
                    continue
        if item.name.startswith("summary."):
            if value is not None:
                summary[item.name.split(".", 1)[1]] = value
        elif value is None:
            doc.pop(item.name, None)
        else:
            doc[item.name] = value
    if "summary" in ftype.options_schema:
        if summary.get("function") == "count":
            summary.pop("field", None)
        doc["summary"] = summary
    if creating and not form.values["api_name"]:
        form.add("api_name", _("Enter an API name: lowercase letters, digits and _, such as serial_number."))
    if not form.values["label"]:
        form.add("label", _("Enter a label."))
    return doc, form, maps


def field_prefixes(object, name, index):
    return (rf"objects\.{re.escape(object)}\.fields\.{re.escape(str(name))}\.",
            rf"objects\.{re.escape(object)}\.fields\[{index}\]\.", r"object\.fields\.")


# -- where a field is used ----------------------------------------------------------------------------
def field_usage(doc, name):
    """``{"layouts": [...], "list_views": [...], "rules": [...]}``: where ``name`` is placed."""
    layouts = [doc_label(lay, default=lay.get("name")) for lay in doc.get("layouts") or []
               if any(name in (s.get("fields") or []) for s in lay.get("sections") or [])]
    views = [doc_label(v, default=v.get("name")) for v in doc.get("list_views") or []
             if name in (v.get("columns") or []) or
             name in [k.strip().lstrip("+-") for k in str(v.get("order_by") or "").split(",")]]
    rules = [r.get("name") for r in doc.get("validation_rules") or [] if r.get("field") == name]
    return {"layouts": layouts, "list_views": views, "rules": rules}


def field_summary(fdoc, rows):
    """A short description of a field's type and its main option, for the fields table."""
    kind = fdoc.get("type")
    label = type_label(kind)
    if fdoc.get("target"):
        target = rows.get(fdoc["target"])
        return f"{label} → {doc_label(target['doc']) if target else fdoc['target']}"
    if kind == "formula" and fdoc.get("return_type"):
        return f"{label} ({RESULT_TYPES.get(fdoc['return_type'], fdoc['return_type'])})"
    if fdoc.get("scale") is not None and kind in field_types and field_types.get(kind).is_numeric:
        return _("%(type)s (%(n)s decimals)", type=label, n=fdoc["scale"])
    return label


def _detail(fdoc, rows):
    """Options, or a roll-up's function and child object, in words."""
    options = [o.get("value", "") for o in fdoc.get("options") or [] if isinstance(o, dict)]
    if options:
        return _("%(count)s values: %(values)s", count=len(options), values=", ".join(options[:5])) + (
            "…" if len(options) > 5 else "")
    summary = fdoc.get("summary")
    if isinstance(summary, dict) and summary.get("object"):
        child = rows.get(summary["object"])
        what = f"{summary.get('function', '').upper()}({summary.get('field') or ''})"
        return f"{what} · {doc_label(child['doc']) if child else summary['object']}"
    return ""


# -- the fields tab ----------------------------------------------------------------------------------------
@setup_objects.get("/objects/<object>/fields")
def fields(object):
    row = object_row(object)
    rows = object_rows()
    doc = row["doc"]
    items = []
    for fdoc in doc.get("fields") or []:
        name = fdoc.get("api_name")
        items.append({"name": name, "label": field_label(fdoc), "type": field_summary(fdoc, rows),
                      "required": bool(fdoc.get("required")), "unique": bool(fdoc.get("unique")),
                      "formula": fdoc.get("formula") or fdoc.get("format") or "", "detail": _detail(fdoc, rows),
                      "usage": field_usage(doc, name),
                      "url": url_for("setup_objects.edit_field", object=object, field=name)})
    archived = [{"name": a["field"]["api_name"], "type": type_label(a["field"]["type"]),
                 "label": field_label(a["field"]), "archived_at": a["archived_at"]}
                for a in row["archive"]]
    rt = g.snapshot.get(object)
    system = [(n, system_label(rt, n) if rt else n) for n in ("name", "owner_id", "created_at", "created_by",
                                                                "updated_at", "updated_by")]
    return render_object_page("engine/setup/objects/fields.html", object, "fields", row=row, items=items,
                              archived=archived, system=system)


def _render_field_form(object, row, ftype, fdoc, form, inputs, *, creating, status=200):
    types = type_groups()
    return render_object_page("engine/setup/objects/field_form.html", object, "fields", row=row, status=status,
                              ftype=ftype, type_label=type_label(ftype.name), type_help=str(
                                  TYPE_INFO.get(ftype.name, ("", ""))[1]),
                              fdoc=fdoc, form=form, inputs=inputs, flags=common_flags(ftype), creating=creating,
                              types=types, children=_children(object, object_rows()))


def _chosen_type(default=None):
    name = request.values.get("type") or default
    if not name:
        return None
    if name not in field_types:
        raise NotFound("metadata.E043", f"Unknown field type '{name[:40]}'{suggest(name, field_types.keys())}.")
    return field_types.get(name)


@setup_objects.get("/objects/<object>/fields/new")
def new_field(object):
    row = object_row(object)
    ftype = _chosen_type()
    if ftype is None:      # the type comes first
        return render_object_page("engine/setup/objects/field_type.html", object, "fields", row=row,
                                  types=type_groups())
    inputs = type_inputs(ftype, object, object_rows())
    fdoc = {"type": ftype.name}
    form = FormState(values=_form_values(fdoc, inputs), labels=field_labels(inputs))
    return _render_field_form(object, row, ftype, fdoc, form, inputs, creating=True)


@setup_objects.post("/objects/<object>/fields/new")
def create_field(object):
    row = object_row(object)
    ftype = _chosen_type()
    if ftype is None:
        abort(400)
    inputs = type_inputs(ftype, object, object_rows())
    fdoc, form, maps = read_field_form(ftype, {}, inputs, creating=True)
    if not form.errors:
        try:
            store().add_field(object, fdoc, actor=g.actor)
        except EngineError as exc:
            if not refused(exc):
                raise
            apply_error(form, exc, field_prefixes(object, fdoc.get("api_name"),
                                                  len(row["doc"].get("fields") or [])), index_maps=maps)
        else:
            flash(_("Field '%(label)s' was added.", label=fdoc["label"]), "success")
            if request.form.get("_save_new"):
                return redirect(url_for("setup_objects.new_field", object=object), code=303)
            return redirect(url_for("setup_objects.fields", object=object), code=303)
    return _render_field_form(object, row, ftype, fdoc, form, inputs, creating=True, status=422)


def _field_doc(row, object, name):
    for i, fdoc in enumerate(row["doc"].get("fields") or []):
        if fdoc.get("api_name") == name:
            return i, fdoc
    names = [f.get("api_name") for f in row["doc"].get("fields") or []]
    raise NotFound("metadata.E042", f"Unknown field '{name[:40]}' on '{object}'{suggest(name, names)}.")


@setup_objects.get("/objects/<object>/fields/<field>")
def edit_field(object, field):
    row = object_row(object)
    _i, fdoc = _field_doc(row, object, field)
    ftype = _chosen_type(fdoc["type"])
    inputs = type_inputs(ftype, object, object_rows())
    form = FormState(values=_form_values(fdoc, inputs), labels=field_labels(inputs))
    return _render_field_form(object, row, ftype, fdoc, form, inputs, creating=False)


@setup_objects.post("/objects/<object>/fields/<field>")
def save_field(object, field):
    row = object_row(object)
    index, old = _field_doc(row, object, field)
    ftype = _chosen_type(old["type"])
    inputs = type_inputs(ftype, object, object_rows())
    fdoc, form, maps = read_field_form(ftype, old, inputs, creating=False)
    fdoc["api_name"] = field
    if not form.errors:
        def mutate(doc):
            doc["fields"] = [fdoc if f.get("api_name") == field else f for f in doc.get("fields") or []]
            return doc
        try:
            store().change(object, mutate, actor=g.actor, action="update_field", summary=f"changed field '{field}'")
        except EngineError as exc:
            if not refused(exc):
                raise
            apply_error(form, exc, field_prefixes(object, field, index), index_maps=maps)
        else:
            flash(_("Field '%(label)s' was saved.", label=fdoc.get("label") or field), "success")
            return redirect(url_for("setup_objects.fields", object=object), code=303)
    return _render_field_form(object, row, ftype, dict(old, type=ftype.name), form, inputs, creating=False,
                              status=422)


# -- delete, restore, purge ----------------------------------------------------------------------------------
def without_field(doc, name):
    """``doc`` without field ``name``, taken out of layouts, list views and rules' targets too."""
    doc = copy.deepcopy(doc)
    doc["fields"] = [f for f in doc.get("fields") or [] if f.get("api_name") != name]
    for layout in doc.get("layouts") or []:
        for section in layout.get("sections") or []:
            section["fields"] = [n for n in section.get("fields") or [] if n != name]
    for view in doc.get("list_views") or []:
        view["columns"] = [c for c in view.get("columns") or [] if c != name] or ["name"]
        keys = [k.strip() for k in str(view.get("order_by") or "").split(",") if k.strip()]
        if any(k.lstrip("+-") == name for k in keys):
            kept = [k for k in keys if k.lstrip("+-") != name]
            if kept:
                view["order_by"] = ",".join(kept)
            else:
                view.pop("order_by", None)
    for rule in doc.get("validation_rules") or []:
        if rule.get("field") == name:
            rule.pop("field")
    return doc


def _delete_field_page(object, field, row, status=200, problems=()):
    from engine.records.formula_checks import check_formula_dependants

    _i, fdoc = _field_doc(row, object, field)
    others = {n: r["doc"] for n, r in object_rows().items() if n != object}
    after = without_field(row["doc"], field)
    blocked = [m for _p, m in check_formula_dependants(None, row["doc"], after, dict(others, **{object: after}))]
    values = None
    if field_types.get(fdoc["type"]).stored:
        try:
            values = records().list(object, g.actor, where=f"NOT(ISBLANK({field}))", limit=1,
                                    with_total=True).get("total")
        except EngineError:
            values = None
    return render_object_page("engine/setup/objects/field_delete.html", object, "fields", row=row, status=status,
                              fdoc=fdoc, label=field_label(fdoc), usage=field_usage(row["doc"], field),
                              blocked=blocked + list(problems), values=values)


@setup_objects.get("/objects/<object>/fields/<field>/delete")
def confirm_delete_field(object, field):
    return _delete_field_page(object, field, object_row(object))


@setup_objects.post("/objects/<object>/fields/<field>/delete")
def delete_field(object, field):
    row = object_row(object)
    _i, fdoc = _field_doc(row, object, field)
    try:
        store().change(object, lambda doc: without_field(doc, field), actor=g.actor, action="delete_field",
                       summary=f"archived field '{field}'")
    except EngineError as exc:
        if not refused(exc):
            raise
        return _delete_field_page(object, field, row, status=422, problems=[exc.message])
    flash(_("Field '%(label)s' was archived with its values. You can restore it below.",
            label=field_label(fdoc)), "success")
    return redirect(url_for("setup_objects.fields", object=object), code=303)


@setup_objects.post("/objects/<object>/fields/<field>/restore")
def restore_field(object, field):
    store().restore_field(object, field, actor=g.actor)
    flash(_("Field '%(name)s' was restored with its values.", name=field), "success")
    return redirect(url_for("setup_objects.fields", object=object), code=303)


@setup_objects.post("/objects/<object>/fields/<field>/purge")
def purge_field(object, field):
    store().purge_field(object, field, actor=g.actor)
    flash(_("The archived values of field '%(name)s' were deleted permanently.", name=field), "success")
    return redirect(url_for("setup_objects.fields", object=object), code=303)
