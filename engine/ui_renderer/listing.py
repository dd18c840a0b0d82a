"""The list view's model: saved list views, search by name, the ``where=`` formula, sorting by a
column and cursor paging, read through the record service's list (the query seam) as the reader.

Query string (the contract in api.md): ``view`` (a list view's name), ``where`` (a boolean
formula), ``q`` (name contains, case-insensitive), ``sort`` (``amount`` or ``-amount``),
``cursor`` (the service's opaque cursor) and ``back`` (the cursors of the pages before, so that
"Previous" needs no reverse query).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

from flask import current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from engine.errors import EngineError
from engine.metadata.model import SYSTEM_FIELDS
from engine.metadata.private_views import list_view_visible
from engine.records.query import MAX_IN_VALUES

from . import i18n
from .messages import translate_message
from .viewmodels import EMPTY, DisplayContext, ObjectView, system_label

DEFAULT_COLUMNS = 6
PAGE_SIZE = 25
FIRST_PAGE = "."      # stands for "no cursor" in the back stack
CONTENT_CACHE_SIZE = 512   # list page contents kept rendered per app (list_content)
# stand-ins for the per-request parts of a kept content: no escaped text spells them
_CSRF_SLOT, _ROWS_SLOT = Markup("<tessera-csrf-slot>"), Markup("<tessera-rows-slot>")
_PREV_SLOT, _NEXT_SLOT = Markup("<tessera-prev-slot>"), Markup("<tessera-next-slot>")


@dataclass
class ColumnView:
    name: str
    label: str
    numeric: bool = False
    sortable: bool = True
    sort_url: str = ""
    sorted: str | None = None       # "ascending" | "descending" | None (aria-sort)


@dataclass
class RowView:
    id: str
    url: str
    name: str
    cells: list                     # [(Markup, numeric: bool)]: the recycle bin's (the list page's: [])
    html: Markup = Markup("")       # the row as the list writes it: <tr>, the checkbox, <td> (class="num") and value


@dataclass
class ListPage:
    columns: list
    rows: list
    total: int | None = None
    views: list = field(default_factory=list)     # [(name, label, private)]
    view: str = ""
    view_doc: dict | None = None      # the chosen list view's document
    own_view: bool = False            # the chosen view is the reader's private one (they may change it)
    q: str = ""
    where: str = ""
    sort: str = ""
    next_url: str | None = None
    prev_url: str | None = None
    error: str | None = None          # the query could not run (bad sort, bad cursor)
    where_error: str | None = None    # the where= formula does not compile (with line and column)
    page_size: int = PAGE_SIZE

    @property
    def filtered(self):
        return bool(self.q or self.where)

    @property
    def name_index(self):
        """The position of the name column (shown as the link to the record)."""
        return next((i for i, c in enumerate(self.columns) if c.name == "name"), -1)


def formula_text(text):
    """``text`` as a formula text literal."""
    out = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
    return "'" + "".join(c for c in out if ord(c) >= 32) + "'"


def name_search(q):
    return f"CONTAINS(LOWER(name), {formula_text(q.lower())})"


def list_views(rt, actor):
    """``[(name, label, private)]``: the shared list views and the reader's own private ones."""
    return [(v["name"], i18n.translated(v, "label", v["name"].replace("_", " ").capitalize()),
             v.get("shared", True) is False)
            for v in rt.odef.doc.get("list_views") or [] if list_view_visible(v, actor)]


def view_doc(rt, name, actor):
    """The list view ``name`` when ``actor`` may use it (another user's private view: None)."""
    for doc in rt.odef.doc.get("list_views") or []:
        if doc.get("name") == name:
            return doc if list_view_visible(doc, actor) else None
    return None


def page_columns(rt, view, hidden):
    """The columns a list shows: the view's (without hidden or unknown fields), else the default;
    the name always among them."""
    columns = [c for c in ((view or {}).get("columns") or default_columns(rt, hidden))
               if (c in SYSTEM_FIELDS or c in rt.ftypes) and c not in hidden]
    if "name" not in columns:
        columns.insert(0, "name")
    return columns


def default_columns(rt, hidden):
    names = [f.api_name for f in rt.odef.fields
             if not rt.ftypes[f.api_name].multiline and rt.ftypes[f.api_name].family != "multi"
             and f.api_name not in hidden]
    return ["name"] + names[:DEFAULT_COLUMNS]


def _sort_url(endpoint, params, new, base):
    """``url_for(endpoint, **params, sort=new)``; for a plain field name (nothing to quote) the
    URL built once with a placeholder (``base``: a one-item list) has it put in (a list links each
    of its columns)."""
    if not _PLAIN.fullmatch(new):
        return url_for(endpoint, **dict(params, sort=new))
    if not base:
        base.append(url_for(endpoint, **dict(params, sort=_SORT_SLOT)).rpartition(_SORT_SLOT))
    head, _slot, tail = base[0]
    return f"{head}{new}{tail}"


_SORT_SLOT = "SORTSLOT0"
_PLAIN = re.compile(r"-?[A-Za-z0-9_]+")


def _column(rt, name, sort, params, endpoint, base=None):
    if name in SYSTEM_FIELDS:
        col = ColumnView(name, system_label(rt, name), sortable=True)
    else:
        fdef = rt.odef.field(name)
        ftype = rt.ftypes[name]
        numeric = ftype.formula_type == "number" or (
            ftype.computed and fdef.get("return_type") in ("number", "currency", "percent", "integer"))
        col = ColumnView(name, i18n.field_label(fdef), numeric=numeric, sortable=ftype.sortable)
    current = sort.lstrip("-") == name
    if current:
        col.sorted = "descending" if sort.startswith("-") else "ascending"
    if col.sortable:
        new = f"-{name}" if current and not sort.startswith("-") else name
        col.sort_url = _sort_url(endpoint, params, new, [] if base is None else base)
    return col


def html_text(value):
    """``str(markupsafe.escape(value))`` for a plain value (text, number), without the Markup
    object: a list escapes hundreds of values per page."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "'", "&#39;").replace('"', "&#34;")


def _cell_writer(ctx, rt, name, no_name, not_visible):
    """``value -> HTML text`` of a non-empty list cell of field ``name``: exactly what
    ``ctx.formatter`` writes (the branch of :meth:`DisplayContext.display` the field takes), as text.
    Lookups, ticks, numbers, dates, options and plain text — the commonest cells — are written
    here without a Markup object; the other values go through the formatter (built on first use).
    ``no_name``, ``not_visible``: the page's ``_("(no name)")`` and ``_("(not visible)")``."""
    def fmt(value):
        return str(ctx.formatter(rt, name)(value))
    if name in SYSTEM_FIELDS:
        return fmt
    fdef, ftype = rt.odef.field(name), rt.ftypes[name]
    kind = (fdef.get("return_type") or "text") if ftype.computed else fdef.type
    if fdef.target:
        lookups, target, hidden = ctx.lookups, fdef.target, html_text(not_visible)

        def lookup(value):     # DisplayContext._lookup_link
            label = lookups.get(value)
            if label is None:
                return f'<span class="muted" title="{html_text(value)}">{hidden}</span>'
            return f'<a href="{html_text(ctx.record_url(target, value))}">{html_text(label or no_name)}</a>'
        return lookup
    if ftype.family == "boolean" or kind in ("boolean", "checkbox"):
        ticks = {True: str(ctx.display(rt, name, True)), False: str(ctx.display(rt, name, False))}
        return lambda value: ticks[bool(value)]
    digits = i18n.number_text(fdef, kind)

    def number(value):     # the formatter's number branch (a boolean: display's tick)
        if isinstance(value, bool):
            return fmt(value)
        return html_text(digits(value))
    family = ftype.family
    if family == "number":
        return number
    # the formatter of other families: the number branch for a number, their own otherwise (a
    # date's text and an option's label escaped once per page, plain text escaped here)
    if family == "date" or kind == "date":
        days = {}

        def text(value):
            found = days.get(value)
            if found is None:
                found = days[value] = html_text(ctx.format_day(value))
            return found
    elif family in ("datetime", "multi") or kind == "datetime" or (
            not fdef.doc.get("options") and (fdef.type in ("url", "email", "phone", "rich_text") or ftype.multiline)):
        text = fmt
    elif fdef.doc.get("options"):
        labels = {key: html_text(label) for key, label in ctx.option_labels(rt, fdef).items()}

        def text(value):
            found = labels.get(value)
            return html_text(value) if found is None else found
    else:
        text = html_text
    return lambda value: number(value) if isinstance(value, (int, float)) else text(value)


def _lookup_names(service, actor, rt, recs, columns):
    """``{id: name}`` for the lookup columns' values of ``recs`` that ``actor`` may read: one
    statement per target object through the record service's ``names_of`` (object right, field
    security, visibility; an invisible or deleted target stays unnamed)."""
    wanted = {}
    for fdef in rt.odef.fields:
        if fdef.target and fdef.api_name in columns:
            ids = wanted.setdefault(fdef.target, set())
            ids.update(v for rec in recs if (v := rec.get(fdef.api_name)))
    out = {}
    for target, ids in wanted.items():
        ids = sorted(ids)
        try:
            for start in range(0, len(ids), MAX_IN_VALUES):
                out.update(service.names_of(target, ids[start:start + MAX_IN_VALUES], actor))
        except EngineError:
            pass
    return out


def build_list_page(service, actor, rt, args, *, hidden, endpoint="pages.list_view", deleted=False,
                    selectable=False):
    """The :class:`ListPage` for the request's ``args`` (a MultiDict); ``selectable``: each row's
    HTML starts with the mass delete's checkbox."""
    view_name = (args.get("view") or "")[:40]
    view_doc_ = view_doc(rt, view_name, actor)
    q = (args.get("q") or "").strip()[:100]
    where = (args.get("where") or "").strip()[:5000]
    sort = (args.get("sort") or (view_doc_ or {}).get("order_by") or ("-updated_at" if deleted else "-created_at"))
    sort = sort.strip()[:200]
    page_size = (view_doc_ or {}).get("page_size") or PAGE_SIZE
    columns = page_columns(rt, view_doc_, hidden)
    params = {"obj": rt.name}
    for key, value in (("view", view_doc_ and view_name), ("q", q), ("where", where)):
        if value:
            params[key] = value
    sort_links = []       # the sort links' URL with a placeholder, built once
    page = ListPage(columns=[_column(rt, c, sort, params, endpoint, sort_links) for c in columns], rows=[],
                    views=list_views(rt, actor), view=view_doc_["name"] if view_doc_ else "", q=q, where=where,
                    sort=sort, page_size=page_size, view_doc=view_doc_,
                    own_view=bool(view_doc_ and view_doc_.get("shared", True) is False
                                  and view_doc_.get("owner_id") == actor.user_id))
    parts = [p for p in ((view_doc_ or {}).get("where"), where) if p]
    if where:
        try:
            service.where_sql(rt, where, actor)
        except EngineError as exc:
            page.where_error = translate_message(exc.message)
            return page
    if q:
        parts.append(name_search(q))
    combined = " && ".join(f"({p})" for p in parts) or None
    cursor = args.get("cursor") or None
    back = [b for b in (args.get("back") or "").split(",") if b][:200]
    try:
        out = service.list(rt.name, actor, where=combined, order_by=sort, limit=page_size, cursor=cursor,
                           with_total=True, deleted=deleted, fields=columns)
    except EngineError as exc:
        page.error = translate_message(exc.message)
        return page
    page.total = out.get("total")
    recs = out["records"]
    ctx = DisplayContext(service.snapshot, _lookup_names(service, actor, rt, recs, set(columns)), compact=True)
    no_name = _("(no name)")
    # each column's writer is chosen once for the page, not per cell; the rows are written here as
    # the template wrote them (<td> without its optional end tag, no whitespace), every value
    # escaped by its writer, as plain text joined once per row (no Markup per cell)
    not_visible = _("(not visible)")
    writers = [(None if c == "name" else _cell_writer(ctx, rt, c, no_name, not_visible),
                '<td class="num">' if col.numeric else "<td>")
               for c, col in zip(columns, page.columns)]
    for rec in recs:
        rid = rec["id"]
        url = ctx.record_url(rt.name, rid)
        name = rec.get("name") or no_name
        n = len(page.rows) + 1
        link = f'<a class="record-link" id="rn{n}" href="{html_text(url)}">{html_text(name)}</a>'
        cells = [link if write is None else "" if (value := rec.get(c)) in EMPTY else write(value)
                 for c, (write, _td) in zip(columns, writers)]
        head = f'<tr><td><input type="checkbox" name="ids" value="{html_text(rid)}" aria-labelledby="rn{n}">' \
            if selectable else "<tr>"
        html = Markup(head + "".join([td + cell for cell, (_w, td) in zip(cells, writers)]))
        # the recycle bin's template writes the cells itself
        page.rows.append(RowView(rid, url, name, [(Markup(cell), col.numeric) for cell, col in zip(cells, page.columns)]
                                 if deleted else [], html))
    base = dict(params, sort=sort)
    if out.get("next_cursor"):
        page.next_url = url_for(endpoint, **base, cursor=out["next_cursor"],
                                back=",".join(back + [cursor or FIRST_PAGE]))
    if cursor:
        prev = back[-1] if back else FIRST_PAGE
        extra = {"back": ",".join(back[:-1])} if back[:-1] else {}
        page.prev_url = url_for(endpoint, **base, **extra, **({} if prev == FIRST_PAGE else {"cursor": prev}))
    return page


def list_content(page, obj, actor, snapshot, description):
    """The list page's content (``engine/list_content.html``) as HTML. Apart from the rows, the
    pager's two links and the CSRF token, it is a function of the key below — the metadata
    version, the language, the object and its rights, the reader's admin flag, the page's fields
    (list views, query, columns with their sort links, count, messages) — so it is rendered once
    per key with stand-ins for those three and kept (per app, at most :data:`CONTENT_CACHE_SIZE`,
    the oldest dropped first); each request puts its own in. Nothing of a reader but what the key
    holds is kept, and the stand-ins are Markup no escaped value can spell (every "<" of a value
    is escaped)."""
    key = (snapshot.version, i18n.current_locale(), request.script_root, bool(actor.is_admin),
           bool(request.args.get("sort")), description, tuple(getattr(obj, f) for f in _OBJECT_KEY),
           tuple(tuple(getattr(c, f) for f in _COLUMN_KEY) for c in page.columns), tuple(page.views),
           tuple(getattr(page, f) for f in _PAGE_KEY), bool(page.rows), page.prev_url is None, page.next_url is None)
    kept = current_app.extensions.setdefault("tessera.list_content", {})
    html = kept.get(key)
    if html is None:
        stand_in = replace(page, rows=[RowView("", "", "", [], _ROWS_SLOT)] if page.rows else [],
                           prev_url=page.prev_url and _PREV_SLOT, next_url=page.next_url and _NEXT_SLOT)
        html = render_template("engine/list_content.html", obj=obj, page=stand_in, description=description,
                               csrf_slot=_CSRF_SLOT)
        if len(kept) >= CONTENT_CACHE_SIZE:
            try:   # the oldest goes (another thread may be changing the dict: then none does)
                kept.pop(next(iter(kept)), None)
            except (RuntimeError, StopIteration):
                pass
        kept[key] = html
    html = html.replace(_CSRF_SLOT, escape(generate_csrf()))
    if page.rows:
        html = html.replace(_ROWS_SLOT, "".join([row.html for row in page.rows]))
    for slot, url in ((_PREV_SLOT, page.prev_url), (_NEXT_SLOT, page.next_url)):
        if url:
            html = html.replace(slot, escape(url))
    return Markup(html)


# what of the view models the content shows (ListPage: all but the rows, the pager's links, which
# are stand-ins, and the view's document and page size, which it never shows)
_OBJECT_KEY = tuple(f.name for f in fields(ObjectView))
_COLUMN_KEY = tuple(f.name for f in fields(ColumnView))
_PAGE_KEY = tuple(f.name for f in fields(ListPage)
                  if f.name not in ("rows", "prev_url", "next_url", "view_doc", "page_size", "columns", "views"))
