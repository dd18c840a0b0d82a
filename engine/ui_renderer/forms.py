"""The generated record form: which fields a reader may write, the form's sections, and a
submitted form turned into the JSON the record service takes (the same service the API uses, so
validation, field rights and history are identical).

Inputs are named after the field's api_name. A lookup posts the chosen record's id under its
api_name and the text of its search box under ``<api_name>__search``: without JavaScript a user
types the target's name and the id is found here (one exact match), with it the page script fills
the id as the user picks a suggestion.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import EngineError
from engine.metadata.model import SYSTEM_FIELDS

from . import i18n
from .viewmodels import SectionView, field_view, layout_sections

SEARCH_SUFFIX = "__search"

# Messages of the record service shown under fields, translated when the page is not English.
ENGINE_MESSAGES = {
    "Required.": _l("Required."),
    "Not a valid number.": _l("Not a valid number."),
    "Not a valid integer.": _l("Not a valid integer."),
    "Not a valid date (YYYY-MM-DD).": _l("Not a valid date."),
    "Not a valid datetime.": _l("Not a valid date and time."),
    "Not a valid email address.": _l("Not a valid email address."),
    "Not a valid URL (http or https).": _l("Not a valid URL (http or https)."),
    "You may not change this field.": _l("You may not change this field."),
    "Must be unique; this value is already used.": _l("Must be unique; this value is already used."),
    "Read-only field.": _l("Read-only field."),
}


def translate_message(message):
    known = ENGINE_MESSAGES.get(message)
    return str(known) if known is not None else message


@dataclass
class FormView:
    """A record form: its sections of :class:`FieldView`, errors, and where it posts."""

    obj: object                    # viewmodels.ObjectView
    record: dict | None
    sections: list
    action: str
    cancel_url: str
    summary: list = field(default_factory=list)    # [(field id or None, label, message)]
    creating: bool = True
    row_version: int | None = None


def writable_names(rt, actor, hidden):
    """The fields ``actor`` may write on ``rt`` ('name' included)."""
    plan = actor.plan
    names = ["name"]
    for fname, fdef in rt.writable.items():
        if fname not in hidden and plan.field_level(rt.name, fname) == "edit":
            names.append(fname)
    return names


def build_form(rt, actor, hidden, ctx, *, record=None, raw=None, errors=None, objview, action, cancel_url):
    """The :class:`FormView` for a new (``record`` None) or existing record. ``raw``: the values as
    typed in a failed save, kept; ``errors``: ``{field: [messages]}`` from the record service."""
    creating = record is None
    editable = set(writable_names(rt, actor, hidden))
    errors = errors or {}
    sections, placed = [], set()
    for label, columns, names in layout_sections(rt, hidden):
        views = []
        for name in names:
            if name not in editable and (creating or name in ("created_by", "updated_by")):
                continue
            views.append(_field(rt, name, record, raw, errors, ctx, editable=name in editable))
            placed.add(name)
        if views:
            sections.append(SectionView(label or "", columns, views))
    missing = [n for n in writable_names(rt, actor, hidden) if n not in placed and
               (n == "name" or rt.writable[n].required or n in errors)]
    if missing:   # never a form that cannot be saved because the layout left out a required field
        sections.append(SectionView(_("More"), 2, [_field(rt, n, record, raw, errors, ctx, editable=True)
                                                    for n in missing]))
    labels = {f.name: f for s in sections for f in s.fields}
    summary = []
    for key, messages in errors.items():
        for message in messages:
            view = labels.get(key)
            summary.append((view.html_id if view else None, view.label if view else None,
                            translate_message(message)))
    return FormView(obj=objview, record=record, sections=sections, action=action, cancel_url=cancel_url,
                    summary=summary, creating=creating,
                    row_version=record.get("row_version") if record else None)


def _field(rt, name, record, raw, errors, ctx, *, editable):
    view = field_view(rt, name, record, ctx, editable=editable)
    view.errors = [translate_message(m) for m in errors.get(name, [])]
    if raw is not None and name in raw:
        view.input = raw[name]
        if view.target:
            view.input, view.lookup_name = raw[name]
    elif view.target:
        view.input = (view.value or "", view.lookup_name)
    return view


def parse_form(rt, form, names, service, actor):
    """``(data, raw, errors)``: the JSON for the record service, the values as typed (to show again)
    and the errors found here (a lookup name that matches no record)."""
    data, raw, errors = {}, {}, {}
    for name in names:
        if name in SYSTEM_FIELDS:
            text = form.get(name, "").strip()
            raw[name], data[name] = text, text or None
            continue
        ftype = rt.ftypes[name]
        family = ftype.family
        if family == "boolean":
            raw[name] = data[name] = form.get(name) in ("on", "true", "1", "yes")
        elif family == "multi":
            values = [v for v in form.getlist(name) if v]
            raw[name], data[name] = values, values or None
        elif ftype.relates:
            rid, text = form.get(name, "").strip(), form.get(name + SEARCH_SUFFIX, "").strip()
            raw[name] = (rid, text)
            data[name] = rid or None
            if not rid and text:
                found, message = _find_by_name(service, actor, rt.odef.field(name).target, text)
                data[name] = found
                if message:
                    errors[name] = [message]
                else:
                    raw[name] = (found, text)
        else:
            text = form.get(name, "")
            raw[name] = text
            text = text if ftype.multiline else text.strip()
            if family == "number":
                text = text.replace(",", "").replace(" ", "").rstrip("%")
            elif family == "datetime" and text:
                text = i18n.utc_from_local_input(text)
            data[name] = text if text != "" else None
    return data, raw, errors


def _find_by_name(service, actor, target, text):
    """The id of the one ``target`` record named ``text`` that ``actor`` may see, or an error."""
    rt = service.snapshot.get(target)
    label = i18n.object_label(rt.odef) if rt else target
    try:
        found = service.list(target, actor, filters={"name": text}, fields=["name"], limit=2)["records"]
    except EngineError:
        found = []
    if len(found) == 1:
        return found[0]["id"], None
    if not found:
        return None, _("No %(object)s named '%(name)s'. Type part of the name and pick one from the list.",
                       object=label, name=text[:80])
    return None, _("Several %(object)s records are named '%(name)s'; pick one from the list.",
                   object=label, name=text[:80])
