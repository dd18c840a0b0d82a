"""View models of a report's result for the report pages: labels in the page's language, group keys
shown as people see them (a picklist's translated label, a lookup's name, a user's name, a blank as
"(blank)"), the summary table with subtotals and the grand total, the matrix, and tabular rows.

Everything here formats what the reports service answered for the viewer; nothing reads records
except the names of lookup keys, through the record service as the viewer (a target they may not
read stays unnamed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flask import g, url_for
from flask_babel import gettext as _

from .. import i18n
from ..auth import records, user_names
from ..viewmodels import lookup_names, system_label

USER_FIELDS = ("owner_id", "created_by", "updated_by")
NUMERIC = ("number", "currency", "percent", "integer")


def fn_labels():
    """The aggregate functions in the page's language."""
    return {"count": _("Record count"), "count_distinct": _("Distinct values of %(field)s"),
            "sum": _("Sum of %(field)s"), "avg": _("Average %(field)s"), "median": _("Median %(field)s"),
            "min": _("Smallest %(field)s"), "max": _("Largest %(field)s")}


def field_def(snapshot, obj, path):
    """``(ObjectRuntime, FieldDef or None, last name)`` of a field path (``account.industry``)."""
    rt = snapshot.get(obj)
    parts = (path or "").split(".")
    for part in parts[:-1]:
        fdef = rt.odef.field(part) if rt is not None else None
        rt = snapshot.get(fdef.target) if fdef is not None and fdef.target else None
    if rt is None:
        return None, None, parts[-1]
    return rt, rt.odef.field(parts[-1]), parts[-1]


def path_label(snapshot, obj, path):
    """``Account › Industry`` for a path, in the page's language."""
    rt = snapshot.get(obj)
    labels = []
    for part in (path or "").split("."):
        if rt is None:
            labels.append(part)
            continue
        fdef = rt.odef.field(part)
        labels.append(i18n.field_label(fdef) if fdef is not None else str(system_label(rt, part)))
        rt = snapshot.get(fdef.target) if fdef is not None and fdef.target else None
    return " › ".join(labels)


@dataclass
class Column:
    name: str
    label: str
    numeric: bool = False
    scale: int | None = None


@dataclass
class Row:
    kind: str                   # group, child, total
    keys: list                  # the shown key of each grouping ("" under its parent)
    values: list
    url: str | None = None      # drill-down: the group's records in the list view
    label: str = ""


@dataclass
class ResultView:
    """A run shown on a page: the groupings, the aggregate columns, the rows (summary or tabular)."""

    object: str
    groups: list
    aggregates: list
    rows: list = field(default_factory=list)
    total: Row | None = None
    columns: list = field(default_factory=list)   # tabular: the report's columns
    matrix: dict | None = None
    truncated: bool = False
    next_cursor: str | None = None


class KeyDisplay:
    """Turns group keys into what a person reads, for the groupings of one report."""

    def __init__(self, doc, result):
        self.snapshot = g.snapshot
        self.obj = doc["object"]
        self.specs = []
        meta = result["meta"]["group_by"]
        buckets = {b.get("name"): b for b in doc.get("buckets") or []}
        for spec, m in zip(doc.get("group_by") or [], meta):
            path = spec.get("field")
            _rt, fdef, last = field_def(self.snapshot, self.obj, path) if path else (None, None, None)
            if path:
                label = path_label(self.snapshot, self.obj, path)
            elif spec.get("bucket"):
                label = buckets.get(spec["bucket"], {}).get("label") or spec["bucket"]
            else:
                label = spec.get("label") or m.get("label") or m["name"]
            self.specs.append({"name": m["name"], "label": label, "fdef": fdef, "last": last,
                               "granularity": m.get("granularity"), "type": m.get("type"), "path": path})
        self.names = self._names(result)

    def _names(self, result):
        """``{grouping name: {id: name}}`` for lookup and user groupings."""
        out = {}
        keys = [g_["key"] for g_ in _walk(result.get("groups") or [])] + \
            [c["key"] for c in result.get("column_totals") or []]
        for spec in self.specs:
            ids = {k.get(spec["name"]) for k in keys if k.get(spec["name"])}
            if not ids or spec["granularity"]:
                continue
            if spec["last"] in USER_FIELDS and spec["path"] == spec["last"]:
                out[spec["name"]] = user_names(ids)
            elif spec["fdef"] is not None and spec["fdef"].target and spec["path"] == spec["last"]:
                rt = self.snapshot.get(self.obj)
                out[spec["name"]] = lookup_names(records(), g.actor, rt, [{spec["last"]: i} for i in ids],
                                                 names={spec["last"]})
        return out

    def show(self, index, value):
        spec = self.specs[index]
        if value is None or value == "":
            return _("(blank)")
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        if spec["granularity"]:
            return str(value)
        if spec["name"] in self.names:
            return self.names[spec["name"]].get(value) or str(value)
        fdef = spec["fdef"]
        if fdef is not None and fdef.type in ("picklist", "multi_picklist"):
            return i18n.option_labels(fdef).get(value, str(value))
        if isinstance(value, (int, float)) or (fdef is not None and fdef.type in NUMERIC):
            return i18n.format_number(value)
        return str(value)


def chart_titler(doc):
    """A report's title on its chart, in the page's language (``label_i18n``)."""
    return i18n.translated(doc, "label", doc.get("name"))


def chart_labeller(doc, result):
    """How a chart names group keys on a page: as the tables do (the service's ``labeller``)."""
    keys = KeyDisplay(doc, result)
    index = {spec["name"]: i for i, spec in enumerate(keys.specs)}

    def label(grouping, value):
        if grouping in index:
            return keys.show(index[grouping], value)
        return _("(blank)") if value is None else str(value)
    return label


def _walk(groups):
    for g_ in groups:
        yield g_
        yield from _walk(g_.get("groups") or [])


def aggregate_columns(doc, result, snapshot):
    """The aggregate columns with labels in the page's language and a scale for their numbers."""
    labels = fn_labels()
    specs = doc.get("aggregates") or [{"fn": "count"}]
    out = []
    for spec, m in zip(specs, result["meta"]["aggregates"]):
        fn = m["fn"]
        scale = None
        if spec.get("field"):
            _rt, fdef, _last = field_def(snapshot, doc["object"], spec["field"])
            what = path_label(snapshot, doc["object"], spec["field"])
            scale = fdef.doc.get("scale") if fdef is not None else None
        else:
            what = spec.get("label") or spec.get("formula") or ""
        if fn == "count" and not spec.get("field"):
            label = labels["count"]
        elif spec.get("label"):
            label = spec["label"]
        else:
            label = labels.get(fn, fn).replace("%(field)s", what)
        if fn in ("count", "count_distinct"):
            scale = 0
        elif fn in ("avg", "median"):
            scale = 2 if scale is None or scale < 2 else scale
        numeric = m.get("type") in NUMERIC or fn in ("count", "count_distinct", "sum", "avg", "median")
        out.append(Column(m["name"], label, numeric, scale))
    return out


def show_value(col, value):
    if value is None:
        return ""
    if col.numeric and isinstance(value, (int, float, str, Decimal)) and not isinstance(value, bool):
        try:
            return i18n.format_number(value, col.scale)
        except (ValueError, ArithmeticError):
            return str(value)
    return str(value)


def drill_url(obj, where):
    return url_for("pages.list_view", obj=obj, where=where) if where else None


def build_result(doc, result, *, drill=True):
    """The :class:`ResultView` of a run of ``doc`` (summary, matrix or tabular)."""
    snapshot = g.snapshot
    obj = doc["object"]
    aggs = aggregate_columns(doc, result, snapshot)
    if not doc.get("group_by"):
        return _tabular(doc, result, aggs)
    keys = KeyDisplay(doc, result)
    view = ResultView(obj, [s["label"] for s in keys.specs], aggs, truncated=bool(result.get("truncated")))
    levels = len(keys.specs)

    def values(v):
        return [show_value(c, v.get(c.name)) for c in aggs]

    for top in result["groups"]:
        first = keys.show(0, top["key"].get(keys.specs[0]["name"]))
        view.rows.append(Row("group", [first] + [""] * (levels - 1), values(top["values"]),
                             drill_url(obj, top.get("where")) if drill else None, first))
        for child in top.get("groups") or []:
            second = keys.show(1, child["key"].get(keys.specs[1]["name"]))
            view.rows.append(Row("child", ["", second], values(child["values"]),
                                 drill_url(obj, child.get("where")) if drill else None, f"{first} › {second}"))
    view.total = Row("total", [_("Grand total")] + [""] * (levels - 1), values(result["totals"]))
    if result.get("column_totals") is not None and levels == 2:
        view.matrix = _matrix(obj, result, keys, aggs, drill)
    return view


def _matrix(obj, result, keys, aggs, drill):
    """Rows: the first grouping; columns: the second; one table per aggregate."""
    second = keys.specs[1]["name"]
    cols = result["column_totals"]
    col_keys = [c["key"].get(second) for c in cols]
    tables = []
    for agg in aggs:
        rows = []
        for top in result["groups"]:
            by = {c["key"].get(second): c for c in top.get("groups") or []}
            cells = []
            for k in col_keys:
                hit = by.get(k)
                cells.append((show_value(agg, hit["values"].get(agg.name)) if hit else "",
                              drill_url(obj, hit.get("where")) if hit and drill else None))
            rows.append({"label": keys.show(0, top["key"].get(keys.specs[0]["name"])),
                         "url": drill_url(obj, top.get("where")) if drill else None, "cells": cells,
                         "total": show_value(agg, top["values"].get(agg.name))})
        tables.append({"column": agg, "rows": rows,
                       "totals": [show_value(agg, c["values"].get(agg.name)) for c in cols],
                       "total": show_value(agg, result["totals"].get(agg.name))})
    return {"columns": [keys.show(1, k) for k in col_keys], "first": keys.specs[0]["label"],
            "second": keys.specs[1]["label"], "tables": tables}


def _tabular(doc, result, aggs):
    snapshot = g.snapshot
    obj = doc["object"]
    cols = []
    for m in result["meta"]["columns"]:
        _rt, fdef, _last = field_def(snapshot, obj, m["name"])
        cols.append(Column(m["name"], path_label(snapshot, obj, m["name"]), m.get("type") in NUMERIC,
                           fdef.doc.get("scale") if fdef is not None else None))
    view = ResultView(obj, [], aggs, columns=cols, next_cursor=result.get("next_cursor"))
    rows = result.get("rows") or []
    users = user_names({r.get(c.name) for r in rows for c in cols if c.name in USER_FIELDS})
    for r in rows:
        shown = []
        for c in cols:
            v = r.get(c.name)
            if c.name in USER_FIELDS:
                shown.append(users.get(v, v or ""))
            elif isinstance(v, bool):
                shown.append(_("Yes") if v else _("No"))
            elif isinstance(v, list):
                shown.append(", ".join(str(x) for x in v))
            else:
                shown.append(show_value(c, v))
        view.rows.append(Row("record", [], shown, url_for("pages.record", obj=obj, rid=r["id"]) if r.get("id")
                             else None, r.get("name") or ""))
    if result.get("totals"):
        view.total = Row("total", [_("Grand total")], [show_value(c, result["totals"].get(c.name)) for c in aggs])
    return view
