"""Setup → Object Manager (administrators only): the objects, their details, deletion and restore,
and the history of their definitions with rollback.

Every change goes through the metadata store (``services().store``) with ``g.actor``, exactly like
the metadata API: the store checks the admin right, validates the whole document (collecting every
problem with its path), applies the DDL and versions it. A refused change answers 422 with the form
again, every value kept, and each problem shown next to the input named after the document key it
points at (``objects.deal.fields.amount.scale`` → the ``scale`` input; see :func:`apply_error`).

The other tabs live next to this module: fields and the formula editor's endpoints in
``setup_objects_fields.py``, layouts, list views and validation rules in ``setup_objects_lists.py``.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import ConflictError, EngineError, MetadataError, NotFound
from engine.metadata.checks import suggest
from engine.metadata.store import load_docs

from .. import i18n
from ..auth import page_blueprint, records, services, user_names

setup_objects = page_blueprint("setup_objects", __name__, url_prefix="/setup", admin=True)

OBJECT_TEXT_KEYS = ("label", "plural_label", "description", "name_label")
ZH = "zh_CN"                   # the pages' second language: labels go into <key>_i18n["zh_CN"]
SHARING = (("private", _l("Private")), ("public_read", _l("Public read only")),
           ("public_read_write", _l("Public read/write")))
DEFAULT_SHARING = "public_read_write"    # engine.metadata.model's default when the key is absent


# -- shared helpers of the setup_objects_* modules -----------------------------------------------------
def store():
    """The metadata store (every change takes ``actor=g.actor``)."""
    return services().store


def object_rows(include_archived=False):
    """``{api_name: row}`` of the stored objects (the current documents, not the session's snapshot)."""
    with services().engine.connect() as conn:
        return load_docs(conn, include_archived=include_archived)


def object_row(name):
    """The stored row of active object ``name``; 404 when there is none."""
    rows = object_rows()
    row = rows.get(name)
    if row is None:
        raise NotFound("metadata.E041", f"Unknown object '{name[:40]}'{suggest(name, rows)}.")
    return row


def doc_label(doc, key="label", default=None):
    """A document's label in the page's language."""
    return i18n.translated(doc, key, default or doc.get("api_name") or doc.get("name") or "")


def zh_input(key):
    """The name of the input holding ``key``'s Chinese translation: ``label_i18n.zh_CN``."""
    return f"{key}_i18n.{ZH}"


def zh_value(doc, key):
    """``doc``'s Chinese ``key``: ``<key>_i18n["zh_CN"]``, else the older ``<key>_zh``."""
    table = doc.get(f"{key}_i18n")
    return (table.get(ZH) if isinstance(table, dict) else None) or doc.get(f"{key}_zh") or ""


def set_zh(doc, key, value):
    """Store ``value`` as ``doc``'s Chinese ``key`` in ``<key>_i18n`` (the older ``<key>_zh`` goes)."""
    table = dict(doc.get(f"{key}_i18n") or {})
    doc.pop(f"{key}_zh", None)
    if value:
        table[ZH] = value
    else:
        table.pop(ZH, None)
    if table:
        doc[f"{key}_i18n"] = table
    else:
        doc.pop(f"{key}_i18n", None)
    return doc


def plural_label(doc):
    """An object's plural label in the page's language (Chinese has no plural: the singular
    translation serves when there is no plural one, as on the record pages)."""
    plural = doc.get("plural_label") or doc_label(doc)
    if i18n.current_locale() == "en":
        return plural
    return zh_value(doc, "plural_label") or zh_value(doc, "label") or plural


def field_label(fdoc):
    """A field document's label in the page's language (without one: the api_name in words, as the
    record pages show it)."""
    name = str(fdoc.get("api_name") or "")
    return i18n.translated(fdoc, "label", name.replace("_", " ").title())


def input_id(name):
    """The HTML id of the input named ``name`` (``summary.field`` → ``f-summary-field``)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(name))


setup_objects.add_app_template_filter(input_id, "input_id")


@setup_objects.app_template_global("setup_page_exists")
def setup_page_exists(path):
    """Whether a Setup page is served at ``path`` (the sidebar hides links to pages not built yet)."""
    paths = current_app.extensions.get("tessera_setup_paths")
    if paths is None:
        paths = {rule.rule for rule in current_app.url_map.iter_rules()}
        current_app.extensions["tessera_setup_paths"] = paths
    return path in paths


@dataclass
class FormState:
    """A setup form's values (as typed) and its problems, keyed by input name (``_``: the form's)."""

    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)      # input name -> label, for the error summary

    def value(self, name, default=""):
        value = self.values.get(name)
        return default if value is None else value

    def error(self, name):
        return self.errors.get(name, [])

    def add(self, name, message):
        self.errors.setdefault(name, []).append(str(message))

    @property
    def summary(self):
        """``[(input id or None, label or None, message)]`` for ``forms.summary``."""
        out = []
        for name, messages in self.errors.items():
            for message in messages:
                if name == "_":
                    out.append((None, None, message))
                else:
                    out.append((input_id(name), self.labels.get(name, name), message))
        return out


_INDEX = re.compile(r"\[(\d+)\]")


def _problems(exc):
    problems = getattr(exc, "problems", None)
    if problems:
        return problems
    if exc.fields:
        return [(None if k == "_" else k, m) for k, ms in exc.fields.items() for m in ms]
    return [(None, exc.message)]


def apply_error(form, exc, prefixes, *, index_maps=None):
    """Put the problems of a refused change next to the inputs they point at.

    ``prefixes``: regular expressions of the document path of this form's document
    (``objects\\.deal\\.fields\\.amount\\.``); what follows is the key, ``[n]`` read as ``.n``
    (``options[1].value`` → input ``options.1.value``). ``index_maps`` turns a list index of the
    document back into the row number of the form (``{"options": [0, 2, 3]}``: blank rows were
    skipped). A problem of no known input goes to the summary at the top, with its path when it
    is about another part of the document.
    """
    known = set(form.labels) | set(form.values)
    for path, message in _problems(exc):
        target, shown = "_", message
        if path:
            rest = None
            for prefix in prefixes:
                m = re.match(prefix, path)
                if m:
                    rest = path[m.end():]
                    break
            if rest is None and path in known:
                rest = path
            if rest is not None:
                rest = _INDEX.sub(r".\1", rest).lstrip(".")
                for key, rows in (index_maps or {}).items():
                    m = re.match(rf"{re.escape(key)}\.(\d+)", rest)
                    if m and int(m.group(1)) < len(rows):
                        rest = f"{key}.{rows[int(m.group(1))]}{rest[m.end():]}"
                target = _input_for(rest, known) or "_"
            else:
                shown = f"{path}: {message}"
        form.add(target, shown)
    return form


def _input_for(key, known):
    if key in known:
        return key
    below = sorted(n for n in known if n.startswith(key + "."))
    if below:
        return below[0]
    above = [n for n in known if key.startswith(n + ".")]
    return max(above, key=len) if above else None


def refused(exc):
    """Whether ``exc`` is a change the admin can correct in the form (else it propagates to the
    error page: a missing object or version is a 404)."""
    return isinstance(exc, (MetadataError, ConflictError))


def object_view(name, row):
    """What the object pages show of an object: names, labels, counts."""
    doc = row["doc"]
    return {"name": name, "label": doc_label(doc), "plural": plural_label(doc),
            "doc": doc, "version": row["version"], "status": row["status"], "updated_at": row["updated_at"],
            "fields": len(doc.get("fields") or []), "archived_fields": row["archive"],
            "sharing": dict(SHARING).get(doc.get("sharing", DEFAULT_SHARING), doc.get("sharing"))}


TABS = (("details", "setup_objects.object_details", _l("Details")),
        ("fields", "setup_objects.fields", _l("Fields")),
        ("layouts", "setup_objects.layouts", _l("Layouts")),
        ("list_views", "setup_objects.list_views", _l("List views")),
        ("validation_rules", "setup_objects.validation_rules", _l("Validation rules")),
        ("history", "setup_objects.history", _l("History")))


def render_object_page(template, name, tab, *, status=200, row=None, **context):
    """Render one tab of the object manager (the header and the tab bar come with it)."""
    row = row or object_row(name)
    tabs = [(key, url_for(endpoint, object=name), label) for key, endpoint, label in TABS]
    return render_template(template, obj=object_view(name, row), tab=tab, tabs=tabs, **context), status


# -- the list of objects -----------------------------------------------------------------------------
@setup_objects.get("")
def setup_home():
    """``/setup`` opens the first page of Setup's navigation."""
    return redirect(url_for("setup_objects.objects"))


@setup_objects.get("/objects")
def objects():
    rows = object_rows(include_archived=True)
    active = [object_view(n, r) for n, r in rows.items() if r["status"] == "active"]
    active.sort(key=lambda o: o["label"].lower())
    archived = []
    for name, row in rows.items():
        if row["status"] != "active":
            archived.append({"name": name, "label": doc_label(row["doc"]), "archived_at": row["updated_at"]})
    return render_template("engine/setup/objects/index.html", objects=active, archived=archived)


def _object_form(doc):
    form = FormState(labels=object_labels())
    for key in ("api_name",) + OBJECT_TEXT_KEYS:
        form.values[key] = doc.get(key, "")
    for key in ("label", "plural_label"):
        form.values[zh_input(key)] = zh_value(doc, key)
    form.values["sharing"] = doc.get("sharing", DEFAULT_SHARING)
    form.values["track_history"] = bool(doc.get("track_history"))
    return form


def object_labels():
    return {"api_name": _("API name"), "label": _("Label"), zh_input("label"): _("Chinese label"),
            "plural_label": _("Plural label"), zh_input("plural_label"): _("Chinese plural label"),
            "description": _("Description"), "name_label": _("Label of the name field"),
            "sharing": _("Org-wide sharing"), "track_history": _("Track field history")}


def _read_object_form(doc, creating):
    """The object document after the form, and the form's state (problems found before saving)."""
    form = FormState(labels=object_labels())
    doc = dict(doc)
    keys = (("api_name",) if creating else ()) + OBJECT_TEXT_KEYS
    for key in keys:
        value = (request.form.get(key) or "").strip()
        form.values[key] = value
        if value:
            doc[key] = value
        else:
            doc.pop(key, None)
    for key in ("label", "plural_label"):
        value = (request.form.get(zh_input(key)) or "").strip()
        form.values[zh_input(key)] = value
        set_zh(doc, key, value)
    sharing = request.form.get("sharing") or DEFAULT_SHARING
    form.values["sharing"] = sharing
    doc["sharing"] = sharing
    form.values["track_history"] = bool(request.form.get("track_history"))
    if form.values["track_history"]:
        doc["track_history"] = True
    else:
        doc.pop("track_history", None)
    if creating and not form.values["api_name"]:
        form.add("api_name", _("Enter an API name: lowercase letters, digits and _, such as equipment."))
    if not form.values["label"]:
        form.add("label", _("Enter a label."))
    return doc, form


OBJECT_PREFIXES = (r"objects\.[a-z0-9_]+\.", r"object\.")


@setup_objects.get("/objects/new")
def new_object():
    return render_template("engine/setup/objects/new.html", form=_object_form({"sharing": DEFAULT_SHARING}))


@setup_objects.post("/objects/new")
def create_object():
    doc, form = _read_object_form({}, creating=True)
    if not form.errors:
        try:
            store().create_object(doc, actor=g.actor)
        except EngineError as exc:
            if not refused(exc):
                raise
            apply_error(form, exc, OBJECT_PREFIXES)
        else:
            flash(_("Object '%(label)s' was created. Add its fields next.", label=doc_label(doc)), "success")
            return redirect(url_for("setup_objects.fields", object=doc["api_name"]), code=303)
    return render_template("engine/setup/objects/new.html", form=form), 422


@setup_objects.get("/objects/<object>")
def object_details(object):
    row = object_row(object)
    return render_object_page("engine/setup/objects/details.html", object, "details", row=row,
                              form=_object_form(row["doc"]), records=_record_count(object))


def _record_count(name):
    """How many live records the object holds (None when it cannot be counted now)."""
    try:
        return records().list(name, g.actor, limit=1, with_total=True).get("total")
    except EngineError:
        return None


@setup_objects.post("/objects/<object>")
def save_object(object):
    row = object_row(object)
    doc, form = _read_object_form(row["doc"], creating=False)
    if not form.errors:
        try:
            changed = sorted(k for k in set(doc) | set(row["doc"]) if doc.get(k) != row["doc"].get(k))
            store().change(object, lambda _old: doc, actor=g.actor, action="update_object",
                           summary="changed " + ", ".join(changed))
        except EngineError as exc:
            if not refused(exc):
                raise
            apply_error(form, exc, OBJECT_PREFIXES)
        else:
            flash(_("Object '%(label)s' was saved.", label=doc_label(doc)), "success")
            return redirect(url_for("setup_objects.object_details", object=object), code=303)
    return render_object_page("engine/setup/objects/details.html", object, "details", row=row, form=form,
                              records=_record_count(object), status=422)


# -- delete, restore, purge ------------------------------------------------------------------------------
def object_dependants(name, rows):
    """What stops deleting object ``name``: other objects' lookups to it, formulas reading it."""
    from engine.records.formula_checks import check_formula_dependants

    others = {n: r["doc"] for n, r in rows.items() if n != name}
    lookups = [(n, f["api_name"], field_label(f)) for n, d in sorted(others.items())
               for f in d.get("fields") or [] if f.get("target") == name]
    blocked = [m for _p, m in check_formula_dependants(None, rows[name]["doc"], None, others)]
    return lookups, blocked


def _delete_page(object, row, status=200, problems=()):
    rows = object_rows()
    lookups, blocked = object_dependants(object, rows)
    return render_object_page("engine/setup/objects/delete.html", object, "details", row=row, status=status,
                              lookups=lookups, blocked=list(blocked) + list(problems),
                              records=_record_count(object))


@setup_objects.get("/objects/<object>/delete")
def confirm_delete_object(object):
    return _delete_page(object, object_row(object))


@setup_objects.post("/objects/<object>/delete")
def delete_object(object):
    row = object_row(object)
    try:
        store().delete_object(object, actor=g.actor)
    except EngineError as exc:
        if not refused(exc):
            raise
        return _delete_page(object, row, status=422, problems=[m for _p, m in _problems(exc)])
    flash(_("Object '%(label)s' was archived with its records. You can restore it below.",
            label=doc_label(row["doc"])), "success")
    return redirect(url_for("setup_objects.objects"), code=303)


@setup_objects.post("/objects/<object>/restore")
def restore_object(object):
    store().restore_object(object, actor=g.actor)
    flash(_("Object '%(name)s' was restored with its records.", name=object), "success")
    return redirect(url_for("setup_objects.object_details", object=object), code=303)


@setup_objects.post("/objects/<object>/purge")
def purge_object(object):
    store().purge_object(object, actor=g.actor)
    flash(_("Object '%(name)s' and its records were deleted permanently.", name=object), "success")
    return redirect(url_for("setup_objects.objects"), code=303)


# -- history and rollback --------------------------------------------------------------------------------
ACTIONS = {
    "create_object": _l("Object created"), "update_object": _l("Details changed"),
    "delete_object": _l("Object archived"), "restore_object": _l("Object restored"),
    "add_field": _l("Field '%(name)s' added"), "update_field": _l("Field '%(name)s' changed"),
    "delete_field": _l("Field '%(name)s' archived"), "restore_field": _l("Field '%(name)s' restored"),
    "set_layouts": _l("Layout '%(name)s' saved"), "remove_layouts": _l("Layout '%(name)s' deleted"),
    "set_list_views": _l("List view '%(name)s' saved"), "remove_list_views": _l("List view '%(name)s' deleted"),
    "set_validation_rules": _l("Validation rule '%(name)s' saved"),
    "remove_validation_rules": _l("Validation rule '%(name)s' deleted"),
    "rollback": _l("Rolled back to version %(name)s"),
}
_QUOTED = re.compile(r"'([^']*)'|version (\d+)")


def action_label(action, summary):
    """A version's change in the page's language (the store's summary names what changed)."""
    label = ACTIONS.get(action)
    if label is None:
        return summary or action
    m = _QUOTED.search(summary or "")
    name = (m.group(1) or m.group(2)) if m else ""
    return str(label) % {"name": name} if "%(name)s" in str(label) else str(label)


def _doc_lines(doc):
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).splitlines() if doc is not None else []


def document_diff(old, new):
    """``[(kind, line)]`` of a unified diff of two documents; kind is add, del, ctx or hunk."""
    out = []
    for line in list(difflib.unified_diff(_doc_lines(old), _doc_lines(new), n=2, lineterm=""))[2:]:
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        out.append((kind, line))
    return out


def rollback_effects(target_doc, current_doc):
    """``(fields that come back, fields archived)`` by rolling ``current_doc`` back to ``target_doc``."""
    old = [f["api_name"] for f in (target_doc or {}).get("fields") or []]
    now = [f["api_name"] for f in (current_doc or {}).get("fields") or []]
    return [n for n in old if n not in now], [n for n in now if n not in old]


def _history_page(object, status=200, problem=None):
    row = object_row(object)
    versions = store().history(object)
    authors = user_names([v["author_id"] for v in versions])
    out, previous = [], None
    for v in versions:
        doc = v["doc"]
        back, gone = rollback_effects(doc, row["doc"])
        diff = document_diff(previous, doc) if doc is not None else []
        out.append({"version": v["version"], "action": action_label(v["action"], v["summary"]),
                    "summary": v["summary"], "author": authors.get(v["author_id"]) or _("System"),
                    "when": i18n.format_moment(v["created_at"]), "diff": diff,
                    "changes": sum(1 for kind, _line in diff if kind in ("add", "del")),
                    "current": v["version"] == row["version"], "restorable": doc is not None,
                    "back": back, "gone": gone})
        if doc is not None:
            previous = doc
    out.reverse()
    return render_object_page("engine/setup/objects/history.html", object, "history", row=row, versions=out,
                              problem=problem, status=status)


@setup_objects.get("/objects/<object>/history")
def history(object):
    return _history_page(object)


@setup_objects.post("/objects/<object>/rollback")
def rollback(object):
    object_row(object)
    raw = (request.form.get("version") or "").strip()
    if not raw.isdigit():
        return _history_page(object, status=400, problem=_("Choose the version to roll back to."))
    try:
        store().rollback(object, int(raw), actor=g.actor)
    except EngineError as exc:
        if not refused(exc):
            raise
        return _history_page(object, status=422, problem=exc.message)
    flash(_("Rolled back to version %(version)s. The change is a new version: you can undo it the same way.",
            version=raw), "success")
    return redirect(url_for("setup_objects.history", object=object), code=303)


from . import setup_objects_fields, setup_objects_formula, setup_objects_lists  # noqa: F401  (the other tabs' routes)
