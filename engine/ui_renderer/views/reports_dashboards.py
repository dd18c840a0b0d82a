"""Dashboard pages (``dashboards`` blueprint, every signed-in user): the list, a dashboard with its
filters and components (each a saved report run as the viewer, its chart as SVG and its groups as a
small table), the editor of its label, filters and components, and delete.

A dashboard is made by pinning a report to it (``POST /reports/<name>/pin``). Every run is the
reports service's ``run_dashboard`` / ``dashboard_chart`` as the viewer: a component they may not
run shows its error, the others still run.
"""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import EngineError, InvalidRequestError, PermissionDeniedError

from ..auth import page_blueprint
from .reports_pages import CHART_TYPES, may_change, problems_of, reports, svg_response
from .reports_builder import chart_choices
from .reports_result import build_result, chart_labeller, chart_titler

dashboards = page_blueprint("dashboards", __name__, url_prefix="/dashboards")

PERIODS = ("this_week", "last_week", "this_month", "last_month", "this_quarter", "last_quarter", "next_quarter",
           "this_year", "last_year", "last_30_days", "today", "all")
FILTER_ROWS = 3
TABLE_ROWS = 8          # groups a component's table shows (the report has them all)


def period_choices():
    names = {"this_week": _("This week"), "last_week": _("Last week"), "this_month": _("This month"),
             "last_month": _("Last month"), "this_quarter": _("This quarter"), "last_quarter": _("Last quarter"),
             "next_quarter": _("Next quarter"), "this_year": _("This year"), "last_year": _("Last year"),
             "last_30_days": _("Last 30 days"), "today": _("Today"), "all": _("All")}
    return [(p, names[p]) for p in PERIODS]


@dashboards.get("")
def index():
    items = reports().dashboards.list(g.actor)
    return render_template("engine/reports/dashboards.html", dashboards=items)


def _params(doc):
    """The filter values of the request: a filter's field name as the query parameter."""
    return {f["field"]: request.args[f["field"]] for f in doc.get("filters") or [] if f["field"] in request.args}


@dashboards.get("/<name>")
def view(name):
    svc = reports()
    doc = svc.dashboards.get(name, g.actor)
    params = _params(doc)
    error = None
    try:
        run = svc.run_dashboard(name, g.actor, params)
    except InvalidRequestError as exc:     # a period or a number the filter cannot read: said at the top
        error = exc.message
        run = svc.run_dashboard(name, g.actor, {})
    components = []
    for comp in run["components"]:
        item = {"index": comp["index"], "report": comp["report"], "title": comp.get("title") or comp["report"],
                "title_i18n": comp.get("title_i18n"), "width": comp.get("width") or 1, "error": (comp.get("error") or {}).get("message"),
                "chart_url": None, "table": None}
        if "result" in comp:
            try:
                report = svc.reports.get(comp["report"], g.actor)
            except EngineError as exc:
                item["error"] = exc.message
                components.append(item)
                continue
            chart = comp.get("chart")
            if chart and (report.get("group_by") or chart["type"] == "number"):
                item["chart_url"] = url_for("dashboards.chart", name=name, index=comp["index"], **params)
            shown = build_result(report, comp["result"])
            shown.rows = [r for r in shown.rows if r.kind != "child"][:TABLE_ROWS]   # the first level only
            if shown.groups:
                shown.groups = shown.groups[:1]
                for row in shown.rows + ([shown.total] if shown.total else []):
                    row.keys = row.keys[:1]
            item["table"] = shown
        components.append(item)
    return render_template("engine/reports/dashboard.html", doc=doc, run=run, components=components,
                           periods=period_choices(), error=error, can_change=may_change(doc)), 400 if error else 200


@dashboards.get("/<name>/components/<index>/chart.svg")
def chart(name, index):
    """One component's chart with the dashboard's filters (the index counts from 0)."""
    doc = reports().dashboards.get(name, g.actor)
    if not index.isdigit() or len(index) > 3:
        raise InvalidRequestError("reports.E042", f"Dashboard '{name}' has no component '{index[:10]}'; "
                                  "components are numbered from 0.")
    return svg_response(reports().dashboard_chart(name, int(index), g.actor, _params(doc), labeller=chart_labeller,
                                                      titler=chart_titler))


# -- editing ---------------------------------------------------------------------------------------------
def _form_doc(form, stored):
    doc = {"label": (form.get("label") or "").strip() or stored.get("label") or stored["name"]}
    filters = []
    for i in range(10):
        field = (form.get(f"filters.{i}.field") or "").strip()
        if not field:
            continue
        item = {"field": field}
        label = (form.get(f"filters.{i}.label") or "").strip()
        if label:
            item["label"] = label
        default = (form.get(f"filters.{i}.default") or "").strip()
        if default and default.lower() != "all":      # "all" is no default: the filter starts empty
            item["period" if form.get(f"filters.{i}.kind") == "period" else "value"] = default
        filters.append(item)
    doc["filters"] = filters or None
    components = []
    for i, comp in enumerate(stored.get("components") or []):
        if form.get(f"components.{i}.remove"):
            continue
        item = {"report": comp["report"]}
        title = (form.get(f"components.{i}.title") or "").strip()
        if title:
            item["title"] = title
        try:
            item["width"] = min(max(int(form.get(f"components.{i}.width") or 1), 1), 4)
        except ValueError:
            item["width"] = 1
        kind = form.get(f"components.{i}.chart.type") or ""
        if kind in CHART_TYPES:
            item["chart"] = dict(comp.get("chart") or {}, type=kind)
        components.append(item)
    doc["components"] = components
    return doc


def _filter_rows(doc):
    rows = [{"field": f["field"], "label": f.get("label", ""), "kind": "period" if "period" in f else "value",
             "default": f.get("period") or f.get("value") or ""} for f in doc.get("filters") or []]
    return rows + [{"field": "", "label": "", "kind": "value", "default": ""}] * max(FILTER_ROWS - len(rows), 1)


@dashboards.route("/<name>/edit", methods=["GET", "POST"])
def edit(name):
    svc = reports()
    stored = svc.dashboards.get(name, g.actor)
    problems, doc, status = {}, stored, 200
    if request.method == "POST":
        doc = dict(stored, **_form_doc(request.form, stored))
        if not doc["components"]:
            problems = {"components": [_("Keep at least one component, or delete the dashboard.")]}
        else:
            try:
                svc.dashboards.update(name, {k: doc[k] for k in ("label", "filters", "components")}, g.actor)
            except EngineError as exc:
                if exc.code in ("reports.E080", "reports.E081", "reports.E082", "security.E030"):
                    raise
                problems = problems_of(exc)
            else:
                flash(_("Dashboard '%(name)s' was saved.", name=doc["label"]), "success")
                return redirect(url_for("dashboards.view", name=name), code=303)
        status = 422
    elif not may_change(stored):
        raise PermissionDeniedError("reports.E081", f"Only administrators and its owner may change dashboard "
                                    f"'{name}'.")
    return render_template("engine/reports/dashboard_edit.html", doc=doc, filters=_filter_rows(doc),
                           problems=problems, periods=period_choices(), charts=chart_choices()), status


@dashboards.post("/<name>/delete")
def delete(name):
    doc = reports().dashboards.get(name, g.actor)
    reports().dashboards.delete(name, g.actor)
    flash(_("Dashboard '%(name)s' was deleted.", name=doc.get("label") or name), "success")
    return redirect(url_for("dashboards.index"), code=303)
