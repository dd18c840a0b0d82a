"""View models: the compiled snapshot, a layout and the reader's rights turned into plain objects
the templates only loop over (Layout → Section → FieldView).

Nothing here knows an object by name: every page of every object is built from its ``ObjectDef``
(fields, ``layouts``, ``list_views``) and the ``FieldType`` of each field (its ``widget`` template,
its family). Values arrive as the record service's JSON (hidden fields already absent) and leave
formatted for the request's locale.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import nh3
from flask import request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from engine.errors import EngineError
from engine.metadata.model import SYSTEM_FIELDS

from . import i18n

EMPTY = (None, "", [])
WIDGET_FALLBACK = "engine/widgets/text.html"


@dataclass
class FieldView:
    """One field on a form, a detail page or in a list column."""

    name: str                      # api_name: the input's name
    label: str
    type: str
    widget: str = WIDGET_FALLBACK  # template that draws the input
    required: bool = False
    help: str = ""
    value: object = None           # the record's JSON value
    display: Markup = Markup("")   # the value formatted for reading
    input: object = ""             # the value an input shows (kept as typed after a failed save)
    options: list = field(default_factory=list)   # [(value, label)] of picklists
    errors: list = field(default_factory=list)
    editable: bool = True
    step: str | None = None
    target: str | None = None      # lookup: the target object's api_name
    target_label: str = ""
    lookup_name: str = ""          # lookup: the name shown in the search box
    numeric: bool = False

    @property
    def html_id(self):
        return f"f-{self.name}"

    @property
    def error_id(self):
        return f"f-{self.name}-error"

    @property
    def help_id(self):
        return f"f-{self.name}-help"

    @property
    def describedby(self):
        ids = ([self.help_id] if self.help else []) + ([self.error_id] if self.errors else [])
        return " ".join(ids) or None


@dataclass
class SectionView:
    label: str
    columns: int
    fields: list


@dataclass
class ObjectView:
    """An object as the navigation and page titles show it."""

    name: str
    label: str
    plural: str
    can_create: bool = False
    can_edit: bool = False
    can_delete: bool = False
    href: str | None = None        # the list's URL when built already (the navigation's cache)

    @property
    def url(self):
        return self.href or url_for("pages.list_view", obj=self.name)


def object_view(rt, actor):
    plan = actor.plan
    return ObjectView(rt.name, i18n.object_label(rt.odef), i18n.object_label(rt.odef, plural=True),
                      can_create=plan.can(rt.name, "create") and not actor.read_only,
                      can_edit=plan.can(rt.name, "edit") and not actor.read_only,
                      can_delete=plan.can(rt.name, "delete") and not actor.read_only)


def navigation(snapshot, actor):
    """The objects ``actor`` may read, sorted by their translated plural label (a new list of
    views shared with the other requests of the same snapshot, permissions and language: read
    them, never change them)."""
    # kept on the snapshot, so a new metadata version starts afresh and the old entries go with
    # the old snapshot; a permission change is a new plan (PlanCache keys plans by the security
    # version), so a new key
    key = (id(actor.plan), actor.read_only, i18n.current_locale(), request.script_root if request else "")
    with _NAV_LOCK:
        cache = snapshot.documents.setdefault(NAV_KEY, OrderedDict())
        found = cache.get(key)
        # the entry holds the plan: its id cannot be reused by another plan while the entry lives
        if found is not None and found[0] is actor.plan:
            cache.move_to_end(key)
            return list(found[1])
    views = [object_view(rt, actor) for name, rt in snapshot.objects.items() if actor.plan.can(name, "read")]
    views = sorted(views, key=lambda v: v.plural.lower())
    for view in views:
        view.href = url_for("pages.list_view", obj=view.name)
    with _NAV_LOCK:
        cache[key] = (actor.plan, tuple(views))
        while len(cache) > NAV_CACHE_SIZE:
            cache.popitem(last=False)
    return views


NAV_KEY = "ui.navigation"     # in Snapshot.documents: (plan, read-only, locale, script root) -> views
NAV_CACHE_SIZE = 512
_NAV_LOCK = threading.Lock()


# -- fields -------------------------------------------------------------------------------------
def name_label(rt):
    return i18n.translated(rt.odef.doc, "name_label", None) or _("Name")


_SYSTEM_LABELS = {"owner_id": _l("Owner"), "created_at": _l("Created"), "updated_at": _l("Last modified"),
                  "created_by": _l("Created by"), "updated_by": _l("Modified by"), "id": _l("Record ID")}


def system_label(rt, name):
    """The label of a system field (translated once, not the whole table per call)."""
    if name == "name":
        return name_label(rt)
    label = _SYSTEM_LABELS.get(name)
    return str(label) if label is not None else name


def step_for(rt, fdef):
    ftype = rt.ftypes[fdef.api_name]
    if ftype.family != "number":
        return None
    scale = int(fdef.get("scale") if fdef.get("scale") is not None else getattr(ftype, "default_scale", 2))
    return "1" if scale == 0 else "0." + "0" * (scale - 1) + "1"


def field_view(rt, name, record, ctx, *, editable=False, reading=False, label=None, fdef=None):
    """The :class:`FieldView` of ``name`` (a user or system field) for ``record`` (JSON or None).
    ``reading``: only what a page that shows values reads (name, label, type, value, display,
    numeric, target) — no input, options, help or step (the detail page: every field of the layout).
    ``label`` and ``fdef``, when the caller has them (:func:`reading_plan`): the field's translated
    label and its ``FieldDef``."""
    value = (record or {}).get(name)
    if reading and name not in SYSTEM_FIELDS:
        fdef, ftype = fdef or rt.odef.field(name), rt.ftypes[name]
        return FieldView(name=name, label=label or i18n.field_label(fdef), type=fdef.type, value=value,
                         editable=False, widget="engine/widgets/readonly.html", numeric=ftype.is_numeric,
                         target=fdef.target, display=ctx.display(rt, name, value))
    if name in SYSTEM_FIELDS:
        view = FieldView(name=name, label=label or system_label(rt, name), type="text", value=value,
                         editable=editable,
                         required=name == "name" and bool(rt.odef.doc.get("name_required")))
        view.display = ctx.display(rt, name, value)
        view.input = "" if value is None else value
        return view
    fdef = rt.odef.field(name)
    ftype = rt.ftypes[name]
    view = FieldView(name=name, label=i18n.field_label(fdef), type=fdef.type,
                     widget="engine/" + ftype.widget if editable else "engine/widgets/readonly.html",
                     required=fdef.required, help=i18n.translated(fdef.doc, "help_text", "") or "",
                     value=value, editable=editable, step=step_for(rt, fdef), numeric=ftype.is_numeric,
                     target=fdef.target)
    if fdef.doc.get("options"):
        view.options = list(i18n.option_labels(fdef).items())
    if fdef.target and fdef.target in ctx.snapshot.objects:
        view.target_label = i18n.object_label(ctx.snapshot.objects[fdef.target].odef)
        view.lookup_name = ctx.lookup_name(name, value) or ""
    view.display = ctx.display(rt, name, value)
    view.input = input_value(ftype, value)
    return view


def input_value(ftype, value):
    """A stored JSON value as an input shows it."""
    if value is None:
        return [] if ftype.family == "multi" else ""
    if ftype.family == "datetime":
        return i18n.local_input_datetime(value)
    if ftype.family == "boolean":
        return bool(value)
    if ftype.family == "multi":
        return list(value)
    return value


# -- layouts --------------------------------------------------------------------------------------
def pick_layout(odef, name=None):
    """The layout named ``name``, else the one named ``default``, else the first; None when none."""
    layouts = odef.doc.get("layouts") or []
    for wanted in (name, "default"):
        for layout in layouts:
            if wanted and layout.get("name") == wanted:
                return layout
    return layouts[0] if layouts else None


def layout_sections(rt, hidden, *, include=None):
    """``[(label, columns, [field names])]`` of the object's layout as the reader sees it: hidden
    fields dropped; without a layout, one section of every field. ``include`` filters names."""
    known = set(rt.ftypes) | {"name", "owner_id", "created_at", "updated_at", "created_by", "updated_by"}
    layout = pick_layout(rt.odef)
    if layout is None:
        names = ["name"] + [f.api_name for f in rt.odef.fields]
        raw = [(None, 2, names)]
    else:
        raw = [(i18n.translated(s, "label", "") or None, s.get("columns") or 1, s.get("fields") or [])
               for s in layout.get("sections") or []]
        placed = {n for _l, _c, names in raw for n in names}
        if "name" not in placed and raw:   # the name is always on the page
            raw[0] = (raw[0][0], raw[0][1], ["name"] + list(raw[0][2]))
    out = []
    for label, columns, names in raw:
        names = [n for n in names if n in known and n not in hidden and (include is None or include(n))]
        if names:
            out.append((label, 2 if columns == 2 else 1, names))
    return out


def reading_plan(rt, hidden):
    """What a record page shows of ``rt``'s layout for a reader who may not see ``hidden``:
    ``(sections, highlights, system)`` — ``sections``: :func:`layout_sections` with each name
    as ``(name, label, FieldDef or None)``; ``highlights``: the first five names after the name;
    ``system``: the labels of the system information panel. Kept on the snapshot (a new
    metadata version starts afresh) per object, hidden fields and language (512 entries)."""
    from flask import g

    locale = i18n.current_locale()     # first: it resolves the request's actor and snapshot
    snapshot = getattr(g, "snapshot", None)
    if snapshot is None or snapshot.get(rt.name) is not rt:    # not this request's snapshot: built
        return _build_reading_plan(rt, hidden)
    key = (rt.name, frozenset(hidden), locale)
    with _PLAN_LOCK:
        cache = snapshot.documents.setdefault(PLAN_KEY, OrderedDict())
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
    found = _build_reading_plan(rt, hidden)
    with _PLAN_LOCK:
        cache[key] = found
        while len(cache) > PLAN_CACHE_SIZE:
            cache.popitem(last=False)
    return found


PLAN_KEY = "ui.reading_plan"   # in Snapshot.documents: (object, hidden, locale) -> plan
PLAN_CACHE_SIZE = 512
_PLAN_LOCK = threading.Lock()
SYSTEM_PANEL = ("created_at", "created_by", "updated_at", "updated_by")


def _build_reading_plan(rt, hidden):
    def label(name):
        if name in SYSTEM_FIELDS:
            return system_label(rt, name), None
        fdef = rt.odef.field(name)
        return i18n.field_label(fdef), fdef
    sections = tuple((title, columns, tuple((n, *label(n)) for n in names))
                     for title, columns, names in layout_sections(rt, hidden))
    highlights = tuple([n for _l, _c, names in sections for n, _fl, _fd in names if n != "name"][:5])
    return sections, highlights, tuple((n, system_label(rt, n)) for n in SYSTEM_PANEL)


def key_fields(rt, hidden, count=5):
    """The first ``count`` fields of the layout after the name: the highlights panel."""
    names = [n for _l, _c, fields in layout_sections(rt, hidden) for n in fields if n != "name"]
    return names[:count]


# -- the display context: formatting, lookup names, user names ---------------------------------
class DisplayContext:
    """Formats values for one request: knows the names of looked-up records and of users."""

    def __init__(self, snapshot, lookup_names=None, user_names=None, *, compact=False):
        self.snapshot = snapshot
        self.compact = compact                   # list cells: multi-select values as plain text
        self.lookups = lookup_names or {}        # record id -> name (ids are unique across objects)
        self.users = user_names or {}            # user id -> username
        self._empty = None
        self._fields = {}                        # (object, field) -> (FieldDef, FieldType, kind)
        self._links = {}                         # target object -> record URL with a placeholder
        self._labels = {}                        # (object, field) -> {option value: label}
        self._days = {}                          # ISO date -> the date as the locale writes it
        self._locale = None
        self._ticks = {}                         # True/False -> the tick's markup
        self._formatters = {}                    # (object, field) -> value -> Markup (list columns)

    def lookup_name(self, fname, value):
        return self.lookups.get(value) if value else None

    def record_url(self, obj, rid):
        """``url_for('pages.record', ...)`` built once per object (a list page links every row)."""
        base = self._links.get(obj)
        if base is None:
            base = self._links[obj] = url_for("pages.record", obj=obj, rid="__rid__")
        return base.replace("__rid__", rid)

    def _field(self, rt, name):
        key = (rt.name, name)
        found = self._fields.get(key)
        if found is None:
            fdef, ftype = rt.odef.field(name), rt.ftypes[name]
            kind = (fdef.get("return_type") or "text") if ftype.computed else fdef.type
            found = self._fields[key] = (fdef, ftype, kind)
        return found

    def option_labels(self, rt, fdef):
        """A picklist's ``{value: label}``, built once per request (a list shows it on every row)."""
        key = (rt.name, fdef.api_name)
        labels = self._labels.get(key)
        if labels is None:
            labels = self._labels[key] = i18n.option_labels(fdef)
        return labels

    def format_day(self, value):
        text = self._days.get(value)
        if text is None:
            if self._locale is None:      # the request's, worked out once (it does not change)
                self._locale = i18n.current_locale()
            text = self._days[value] = i18n.format_day(value, self._locale)
        return text

    def formatter(self, rt, name):
        """``value -> Markup`` for the non-empty values of field ``name``: exactly what
        :meth:`display` writes, with the field's branch chosen once per request instead of per
        value (a list page formats every cell of a column alike). Values whose Python type picks
        another branch of ``display`` (a boolean, a number in a text formula) go through it."""
        key = (rt.name, name)
        fn = self._formatters.get(key)
        if fn is None:
            fn = self._formatters[key] = self._build_formatter(rt, name)
        return fn

    def _build_formatter(self, rt, name):
        def generic(value):
            return self.display(rt, name, value)
        if name in SYSTEM_FIELDS:
            return generic
        fdef, ftype, kind = self._field(rt, name)
        family = ftype.family
        if fdef.target:     # display's lookup branch, without its per-value dispatch
            target = fdef.target
            return lambda value: self._lookup_link(name, target, value)
        if family == "boolean" or kind in ("boolean", "checkbox"):
            return self._tick
        digits = i18n.number_text(fdef, kind)

        def number(value):     # display's number branch (a boolean value: the tick)
            if isinstance(value, bool):
                return generic(value)
            return escape(digits(value))
        if family == "number":
            return number
        # other families take display's number branch for a number value, their own otherwise
        if family == "date" or kind == "date":
            def text(value):
                return escape(self.format_day(value))
        elif family in ("datetime", "multi") or kind == "datetime":
            text = generic
        elif fdef.doc.get("options"):
            labels = self.option_labels(rt, fdef)

            def text(value):
                return escape(labels.get(value, value))
        elif fdef.type in ("url", "email", "phone", "rich_text") or ftype.multiline:
            text = generic
        else:
            text = escape

        def formatted(value):
            return number(value) if isinstance(value, (int, float)) else text(value)
        return formatted

    def _lookup_link(self, name, target, value):
        label = self.lookup_name(name, value)
        if label is None:
            return Markup('<span class="muted" title="%s">%s</span>') % (value, _("(not visible)"))
        # escape() of each part is what Markup's % does to its arguments
        return Markup(f'<a href="{escape(self.record_url(target, value))}">{escape(label or _("(no name)"))}</a>')

    def _tick(self, value):
        key = bool(value)
        tick = self._ticks.get(key)
        if tick is None:
            tick = self._ticks[key] = Markup('<span class="tick %s" role="img" aria-label="%s">%s</span>') % (
                "yes" if value else "no", _("Yes") if value else _("No"), "✓" if value else "✗")
        return tick

    def display(self, rt, name, value):
        """``value`` of field ``name`` as safe HTML for reading."""
        if value in EMPTY:
            if self._empty is None:
                self._empty = Markup('<span class="empty" aria-label="%s">—</span>') % _("empty")
            return self._empty
        if name in ("owner_id", "created_by", "updated_by"):
            return escape(self.users.get(value, value))
        if name in ("created_at", "updated_at", "deleted_at"):
            return escape(i18n.format_moment(value))
        if name in SYSTEM_FIELDS:
            return escape(value)
        fdef, ftype, kind = self._field(rt, name)
        family = ftype.family
        if fdef.target:
            return self._lookup_link(name, fdef.target, value)
        if family == "boolean" or kind in ("boolean", "checkbox") or isinstance(value, bool):
            return self._tick(value)
        if family == "number" or isinstance(value, (int, float)):
            scale = fdef.get("scale")
            if scale is None and kind == "currency":
                scale = 2
            text = i18n.format_number(value, scale)
            if kind == "percent":
                text += "%"
            elif kind == "currency" and fdef.get("currency"):
                text = f"{fdef.get('currency')} {text}"
            return escape(text)
        if family == "date" or kind == "date":
            return escape(self.format_day(value))
        if family == "datetime" or kind == "datetime":
            return escape(i18n.format_moment(value))
        if family == "multi":
            labels = self.option_labels(rt, fdef)
            if self.compact:
                return escape(", ".join(labels.get(v, v) for v in value))
            return Markup("").join(Markup('<span class="chip">%s</span>') % labels.get(v, v) for v in value)
        if fdef.doc.get("options"):
            return escape(self.option_labels(rt, fdef).get(value, value))
        if fdef.type == "url":
            return Markup('<a href="%s" rel="noopener noreferrer nofollow">%s</a>') % (value, value) \
                if str(value).startswith(("http://", "https://")) else escape(value)
        if fdef.type == "email":
            return Markup('<a href="mailto:%s">%s</a>') % (value, value)
        if fdef.type == "phone":
            return Markup('<a href="tel:%s">%s</a>') % ("".join(c for c in str(value) if c in "+0123456789"),
                                                       value)
        if fdef.type == "rich_text":
            return Markup('<div class="rich">%s</div>') % Markup(nh3.clean(str(value)))
        if ftype.multiline:
            return Markup('<span class="multiline">%s</span>') % value
        return escape(value)


def lookup_names(service, actor, rt, recs, names=None):
    """``{id: name}`` for the lookups of ``recs`` that ``actor`` may read (one query per
    target object, through the record service: invisible targets stay unnamed)."""
    wanted = {}
    for fdef in rt.odef.fields:
        if fdef.target and (names is None or fdef.api_name in names):
            for rec in recs:
                if rec.get(fdef.api_name):
                    wanted.setdefault(fdef.target, set()).add(rec[fdef.api_name])
    out = {}
    for target, ids in wanted.items():
        ids = sorted(ids)
        if len(ids) == 1:
            # one target record (a detail page's lookup): the service's get, with the same checks
            # (object right, visibility; an invisible or deleted target stays unnamed)
            try:
                out[ids[0]] = service.get(target, ids[0], actor, fields=["name"]).get("name") or ""
            except EngineError:
                pass
            continue
        for start in range(0, len(ids), 200):
            chunk = ids[start:start + 200]
            try:
                found = service.list(target, actor, filters={"id__in": ",".join(chunk)}, fields=["name"],
                                     limit=len(chunk), max_limit=200)["records"]
            except EngineError:
                break
            out.update({r["id"]: r.get("name") or "" for r in found})
    return out
