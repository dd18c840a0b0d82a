"""Dashboards: components (saved reports) run as the viewer with the dashboard's filters.

A filter names a field (``owner_id``, ``close_date``); it applies to every component whose object
has that field *for the viewer* (a hidden field is not there). A date filter takes a period —
``this_quarter``, ``last_month``, ``last_30_days``, ``2026-01-01..2026-03-31`` … — any other a
value (``me`` is the viewer for a user field). The filter becomes a formula ANDed to the
component's report, so it goes through the same seam as everything else.
"""
from __future__ import annotations

import datetime as _dt
import re

from engine.errors import EngineError, InvalidRequestError

from .errors import ReportDefinitionError
from .fields import PathError, resolve_path
from .runner import literal_formula, quote

PERIODS = ("today", "yesterday", "this_week", "last_week", "next_week", "this_month", "last_month", "next_month",
           "this_quarter", "last_quarter", "next_quarter", "this_year", "last_year", "next_year")
_LAST_N = re.compile(r"(last|next)_([1-9][0-9]{0,3})_days")
_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2})?\.\.(\d{4}-\d{2}-\d{2})?")
ALL = ("", "all")


def _month_start(d, shift=0):
    total = d.year * 12 + d.month - 1 + shift
    return _dt.date(total // 12, total % 12 + 1, 1)


def period_range(text, today):
    """``(start, end)`` dates of a period keyword, end exclusive (either may be None for an open
    range); ValueError for an unknown keyword."""
    text = str(text).strip().lower()
    if text == "today":
        return today, today + _dt.timedelta(days=1)
    if text == "yesterday":
        return today - _dt.timedelta(days=1), today
    if text.endswith("_week") and text.split("_")[0] in ("this", "last", "next"):
        monday = today - _dt.timedelta(days=today.weekday())
        shift = {"this": 0, "last": -7, "next": 7}[text.split("_")[0]]
        start = monday + _dt.timedelta(days=shift)
        return start, start + _dt.timedelta(days=7)
    for unit, months in (("month", 1), ("quarter", 3), ("year", 12)):
        if text.endswith("_" + unit) and text.split("_")[0] in ("this", "last", "next"):
            if unit == "month":
                base = _month_start(today)
            elif unit == "quarter":
                base = _dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
            else:
                base = _dt.date(today.year, 1, 1)
            shift = {"this": 0, "last": -months, "next": months}[text.split("_")[0]]
            start = _month_start(base, shift)
            return start, _month_start(start, months)
    m = _LAST_N.fullmatch(text)
    if m:
        n = int(m.group(2))
        if m.group(1) == "last":
            return today - _dt.timedelta(days=n - 1), today + _dt.timedelta(days=1)
        return today, today + _dt.timedelta(days=n)
    m = _RANGE.fullmatch(text)
    if m and (m.group(1) or m.group(2)):
        start = _dt.date.fromisoformat(m.group(1)) if m.group(1) else None
        end = _dt.date.fromisoformat(m.group(2)) + _dt.timedelta(days=1) if m.group(2) else None
        return start, end
    raise ValueError(text)


def period_problem(text):
    try:
        period_range(text, _dt.date(2000, 1, 1))
        return None
    except (ValueError, OverflowError):
        return (f"unknown period '{str(text)[:40]}'; use {', '.join(PERIODS)}, last_N_days, next_N_days or "
                "YYYY-MM-DD..YYYY-MM-DD")


def filter_formula(ref, value, actor, today):
    """The formula text of a dashboard filter on field ``ref`` with ``value``; None: no filter."""
    if value is None or str(value).strip().lower() in ALL:
        return None
    name = ref.name
    if ref.type in ("date", "datetime"):
        start, end = period_range(value, today)
        conds = []
        for op, day in ((">=", start), ("<", end)):
            if day is None:
                continue
            if ref.type == "date":
                conds.append(f"{name} {op} {literal_formula(day, 'date')}")
            else:
                at = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc)
                conds.append(f"{name} {op} {literal_formula(at, 'datetime')}")
        return " && ".join(conds) or None
    if ref.type == "boolean":
        truth = str(value).lower() in ("true", "1", "yes")
        return name if truth else f"NOT({name})"
    if ref.type == "number":
        try:
            from decimal import Decimal
            return f"{name} = {literal_formula(Decimal(str(value)), 'number')}"
        except ArithmeticError:
            raise InvalidRequestError("reports.E041", f"The filter '{name}' needs a number (got "
                                      f"'{str(value)[:40]}').", fields={name: ["invalid"]}) from None
    if str(value) == "me" and ref.kind == "lookup":
        value = actor.user_id or ""
    return f"{name} = {quote(value)}"


def check_dashboard(service, doc, actor):
    """Semantic check of a dashboard as ``actor``: its reports exist for them, its filters' periods
    are known and each filter's field is on at least one component's object."""
    problems = []
    objects = []
    for i, comp in enumerate(doc.get("components") or []):
        try:
            report = service.reports.get(comp["report"], actor)
            objects.append(report["object"])
        except EngineError as exc:
            problems.append((f"components[{i}].report", exc.message.rstrip(".")))
    reader = service.services.records()
    from engine.records.field_security import reader_view
    view = reader_view(reader.snapshot, actor)
    for i, f in enumerate(doc.get("filters") or []):
        refs = []
        for obj in set(objects):
            if reader.snapshot.get(obj) is None:
                continue
            try:
                refs.append(resolve_path(reader.snapshot, view.fields_map(obj), obj, f["field"]))
            except PathError:
                continue
        if objects and not refs:
            problems.append((f"filters[{i}].field", f"no component's object has a field '{f['field']}'"))
        if f.get("period") is not None:
            problem = period_problem(f["period"])
            if problem:
                problems.append((f"filters[{i}].period", problem))
            elif refs and not any(r.type in ("date", "datetime") for r in refs):
                problems.append((f"filters[{i}].period", f"'{f['field']}' is not a date, so it takes no period"))
    if problems:
        raise ReportDefinitionError(problems)


def run_dashboard(service, name, actor, params, *, today=None):
    """Run every component of dashboard ``name`` as ``actor`` with its filters (values from
    ``params`` by field name, else each filter's default)."""
    doc = service.dashboards.get(name, actor)
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    reader = service.services.records()
    from engine.records.field_security import reader_view
    view = reader_view(reader.snapshot, actor)
    filters = []
    for f in doc.get("filters") or []:
        value = params.get(f["field"]) if f["field"] in params else (f.get("period") or f.get("value"))
        if value is not None and str(value).strip() and f.get("period") is not None:
            problem = period_problem(value)
            if problem:
                raise InvalidRequestError("reports.E040", f"The filter '{f['field']}': {problem}.",
                                          fields={f["field"]: ["invalid"]})
        filters.append({"field": f["field"], "label": f.get("label") or f["field"], "label_i18n": f.get("label_i18n"),
                        "value": value, "applied_to": []})
    components = []
    for i, comp in enumerate(doc["components"]):
        out = {"index": i, "report": comp["report"], "title": comp.get("title"), "title_i18n": comp.get("title_i18n"),
               "width": comp.get("width", 1)}
        try:
            report = service.reports.get(comp["report"], actor)
            if not out["title"]:     # the report's own label, and its translations
                out["title"], out["title_i18n"] = report.get("label") or report["name"], report.get("label_i18n")
            extra = _component_filters(reader, view, report, filters, actor, today, i)
            chart = comp.get("chart") or report.get("chart")
            if chart:
                out["chart"] = chart
            out["result"] = service.run_doc(report, actor, extra_filters=extra)
        except EngineError as exc:
            out["error"] = {"code": exc.code, "message": exc.message}
        components.append(out)
    return {"name": doc["name"], "label": doc.get("label") or doc["name"], "label_i18n": doc.get("label_i18n"),
            "filters": filters, "components": components}


def component_filters(service, dashboard, index, actor, params, today=None):
    """``(report doc, extra filters, chart)`` of one component with the dashboard's filters."""
    doc = service.dashboards.get(dashboard, actor)
    comps = doc["components"]
    if not 0 <= index < len(comps):
        raise InvalidRequestError("reports.E042", f"Dashboard '{dashboard}' has {len(comps)} components "
                                  f"(numbered from 0); there is no component {index}.")
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    reader = service.services.records()
    from engine.records.field_security import reader_view
    view = reader_view(reader.snapshot, actor)
    filters = [{"field": f["field"], "value": params.get(f["field"]) if f["field"] in params
                else (f.get("period") or f.get("value")), "applied_to": []} for f in doc.get("filters") or []]
    report = service.reports.get(comps[index]["report"], actor)
    extra = _component_filters(reader, view, report, filters, actor, today, index)
    return report, extra, comps[index].get("chart") or report.get("chart")


def _component_filters(reader, view, report, filters, actor, today, index):
    obj = report["object"]
    if reader.snapshot.get(obj) is None:
        return []
    extra = []
    for f in filters:
        try:
            ref = resolve_path(reader.snapshot, view.fields_map(obj), obj, f["field"])
        except PathError:
            continue
        try:
            formula = filter_formula(ref, f["value"], actor, today)
        except ValueError:
            raise InvalidRequestError("reports.E040", f"The filter '{f['field']}': unknown period "
                                      f"'{str(f['value'])[:40]}'.", fields={f["field"]: ["invalid"]}) from None
        if formula:
            extra.append((f"filters.{f['field']}", formula))
            f["applied_to"].append(index)
    return extra
