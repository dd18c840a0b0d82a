"""The list view's model: saved list views, search by name, the ``where=`` formula, sorting by a
column and cursor paging, read through the record service's list (the query seam) as the reader.

Query string (the contract in api.md): ``view`` (a list view's name), ``where`` (a boolean
formula), ``q`` (name contains, case-insensitive), ``sort`` (``amount`` or ``-amount``),
``cursor`` (the service's opaque cursor) and ``back`` (the cursors of the pages before, so that
"Previous" needs no reverse query).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import url_for
from flask_babel import gettext as _

from engine.errors import EngineError
from engine.metadata.model import SYSTEM_FIELDS

from . import i18n
from .viewmodels import DisplayContext, lookup_names, system_label

DEFAULT_COLUMNS = 6
PAGE_SIZE = 25
FIRST_PAGE = "."      # stands for "no cursor" in the back stack


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
    cells: list                     # [(Markup, numeric: bool)]


@dataclass
class ListPage:
    columns: list
    rows: list
    total: int | None = None
    views: list = field(default_factory=list)     # [(name, label)]
    view: str = ""
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


def formula_text(text):
    """``text`` as a formula text literal."""
    out = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
    return "'" + "".join(c for c in out if ord(c) >= 32) + "'"


def name_search(q):
    return f"CONTAINS(LOWER(name), {formula_text(q.lower())})"


def list_views(rt):
    return [(v["name"], i18n.translated(v, "label", v["name"].replace("_", " ").capitalize()))
            for v in rt.odef.doc.get("list_views") or []]


def _view_doc(rt, name):
    for doc in rt.odef.doc.get("list_views") or []:
        if doc.get("name") == name:
            return doc
    return None


def default_columns(rt, hidden):
    names = [f.api_name for f in rt.odef.fields
             if not rt.ftypes[f.api_name].multiline and rt.ftypes[f.api_name].family != "multi"
             and f.api_name not in hidden]
    return ["name"] + names[:DEFAULT_COLUMNS]


def _column(rt, name, sort, params, endpoint):
    if name in SYSTEM_FIELDS:
        col = ColumnView(name, system_label(rt, name), sortable=True)
    else:
        fdef = rt.odef.field(name)
        ftype = rt.ftypes[name]
        col = ColumnView(name, i18n.field_label(fdef), numeric=ftype.formula_type == "number",
                         sortable=ftype.sortable)
    current = sort.lstrip("-") == name
    if current:
        col.sorted = "descending" if sort.startswith("-") else "ascending"
    if col.sortable:
        new = f"-{name}" if current and not sort.startswith("-") else name
        col.sort_url = url_for(endpoint, **dict(params, sort=new))
    return col


def build_list_page(service, actor, rt, args, *, hidden, endpoint="pages.list_view", deleted=False):
    """The :class:`ListPage` for the request's ``args`` (a MultiDict)."""
    view_name = (args.get("view") or "")[:40]
    view_doc = _view_doc(rt, view_name)
    q = (args.get("q") or "").strip()[:100]
    where = (args.get("where") or "").strip()[:5000]
    sort = (args.get("sort") or (view_doc or {}).get("order_by") or ("-updated_at" if deleted else "-created_at"))
    sort = sort.strip()[:200]
    page_size = PAGE_SIZE
    columns = [c for c in ((view_doc or {}).get("columns") or default_columns(rt, hidden))
               if (c in SYSTEM_FIELDS or c in rt.ftypes) and c not in hidden]
    if "name" not in columns:
        columns.insert(0, "name")
    params = {"obj": rt.name}
    for key, value in (("view", view_doc and view_name), ("q", q), ("where", where)):
        if value:
            params[key] = value
    page = ListPage(columns=[_column(rt, c, sort, params, endpoint) for c in columns], rows=[],
                    views=list_views(rt), view=view_doc["name"] if view_doc else "", q=q, where=where,
                    sort=sort, page_size=page_size)
    parts = [p for p in ((view_doc or {}).get("where"), where) if p]
    if where:
        try:
            service.where_sql(rt, where, actor)
        except EngineError as exc:
            page.where_error = exc.message
            return page
    if q:
        parts.append(name_search(q))
    combined = " && ".join(f"({p})" for p in parts) or None
    cursor = args.get("cursor") or None
    back = [b for b in (args.get("back") or "").split(",") if b][:200]
    try:
        out = service.list(rt.name, actor, where=combined, order_by=sort, limit=page_size, cursor=cursor,
                           with_total=True, deleted=deleted, fields=None)
    except EngineError as exc:
        page.error = exc.message
        return page
    page.total = out.get("total")
    recs = out["records"]
    ctx = DisplayContext(service.snapshot, lookup_names(service, actor, rt, recs, names=set(columns)))
    for rec in recs:
        url = ctx.record_url(rt.name, rec["id"])
        cells = [(ctx.display(rt, c, rec.get(c)), col.numeric) for c, col in zip(columns, page.columns)]
        page.rows.append(RowView(rec["id"], url, rec.get("name") or _("(no name)"), cells))
    base = dict(params, sort=sort)
    if out.get("next_cursor"):
        page.next_url = url_for(endpoint, **base, cursor=out["next_cursor"],
                                back=",".join(back + [cursor or FIRST_PAGE]))
    if cursor:
        prev = back[-1] if back else FIRST_PAGE
        extra = {"back": ",".join(back[:-1])} if back[:-1] else {}
        page.prev_url = url_for(endpoint, **base, **extra, **({} if prev == FIRST_PAGE else {"cursor": prev}))
    return page
