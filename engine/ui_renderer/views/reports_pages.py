"""Report pages (``reports`` blueprint, every signed-in user): Reports home (reports by folder,
dashboards, segments), the report view (summary with subtotals and the grand total, matrix,
tabular rows, the chart as SVG, drill-down to the list view, CSV/XLSX export, pin to a dashboard,
delete), and the customer-value panel of a record page.

Every view calls the reports service (``services().extensions["reports"]``) with ``g.actor``: the
service decides who may see, run, change or delete what, and runs every report as the viewer. The
builder is in ``reports_builder.py``, dashboards in ``reports_dashboards.py``, segments and the
forecast and trend pages in ``reports_analytics.py``; the result's view models in
``reports_result.py``.
"""
from __future__ import annotations

import re
import zlib

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from engine.db import RFM_MODELS
from engine.errors import EngineError, InvalidRequestError, MetadataError

from ..auth import page_blueprint, services, user_names
from .reports_result import build_result, chart_labeller, chart_titler

reports_pages = page_blueprint("reports", __name__)

# An SVG chart is an image: pygal styles it with inline <style>, which the pages' policy forbids.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CHART_TYPES = ("bar", "column", "line", "area", "pie", "donut", "funnel", "number")


def reports():
    """The reports service of the process."""
    return services().extensions["reports"]


def may_change(doc):
    """Whether the viewer may change or delete ``doc`` (the service refuses otherwise; this only
    decides which buttons to show)."""
    actor = g.actor
    return not actor.read_only and (actor.is_admin or (doc.get("_meta") or {}).get("owner_id") == actor.user_id)


def object_choices():
    """``[(name, label)]`` of the objects the viewer may read (the sources a report may use)."""
    from ..viewmodels import navigation

    return [(o.name, o.plural) for o in navigation(g.snapshot, g.actor)]


def svg_response(data):
    response = Response(data, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def problems_of(exc):
    """``{input path: [messages]}`` of a refused document: ``group_by[1].granularity`` becomes
    ``group_by.1.granularity`` (the inputs are named after the document's paths); ``_`` the rest."""
    out = {}
    problems = getattr(exc, "problems", None)
    if not problems:
        fields = list(getattr(exc, "fields", None) or {})
        problems = [(fields[0] if len(fields) == 1 else None, exc.message)]
    for path, message in problems:
        key = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".") if path else "_"
        out.setdefault(key, []).append(str(message))
    return out


# -- Reports home ----------------------------------------------------------------------------------
@reports_pages.get("/reports")
def home():
    svc = reports()
    labels = dict(object_choices())
    folders = {}
    for item in svc.reports.list(g.actor):
        item["object_label"] = labels.get(item.get("object"), item.get("object"))
        folders.setdefault(item.get("folder") or "", []).append(item)
    owners = user_names([i["owner_id"] for items in folders.values() for i in items])
    ordered = sorted(folders.items(), key=lambda kv: (kv[0] == "", kv[0].lower()))
    return render_template("engine/reports/home.html", folders=ordered, owners=owners,
                           dashboards=svc.dashboards.list(g.actor), segments=svc.segments.list(g.actor),
                           can_create=not g.actor.read_only)


# -- one report --------------------------------------------------------------------------------------
def _run_params():
    return {"filter": (request.args.get("filter") or "").strip() or None}


@reports_pages.get("/reports/<name>")
def view(name):
    svc = reports()
    doc = svc.reports.get(name, g.actor)
    mode = request.args.get("view") or ("matrix" if doc.get("matrix") else "summary")
    two = len(doc.get("group_by") or []) == 2
    params = _run_params()
    error, result, status = None, None, 200
    try:
        result = svc.run_doc(doc, g.actor, snapshot=g.snapshot, filter=params["filter"],
                             matrix=two and mode == "matrix", cursor=request.args.get("cursor") or None)
    except (MetadataError, InvalidRequestError) as exc:   # a bad filter=, too many groups: said on the page
        error, status = exc.message, 400 if params["filter"] else 422
    shown = build_result(doc, result) if result is not None else None
    dashboards = [d for d in svc.dashboards.list(g.actor) if g.actor.is_admin or d["owner_id"] == g.actor.user_id]
    chart_url = None
    if doc.get("chart") and result is not None and (doc.get("group_by") or doc["chart"]["type"] == "number"):
        chart_url = url_for("reports.chart", name=name, filter=params["filter"])
    return render_template("engine/reports/view.html", doc=doc, result=shown, error=error, mode=mode, two=two,
                           filter=params["filter"] or "", chart_url=chart_url, can_change=may_change(doc),
                           dashboards=dashboards, object_label=dict(object_choices()).get(doc["object"],
                                                                                           doc["object"])), status


@reports_pages.get("/reports/<name>/chart.svg")
def chart(name):
    """The report's chart as SVG, run as the viewer (``?type=`` draws another type)."""
    kind = request.args.get("type")
    chart_doc = None
    if kind:
        if kind not in CHART_TYPES:
            raise InvalidRequestError("reports.E023", f"Unknown chart type '{kind[:20]}'.")
        chart_doc = {"type": kind}
    return svg_response(reports().chart(name, g.actor, snapshot=g.snapshot, chart=chart_doc,
                                        filter=(request.args.get("filter") or "").strip() or None,
                                        labeller=chart_labeller, titler=chart_titler))


@reports_pages.get("/reports/<name>/export")
def export(name):
    """The report as CSV or XLSX (every row the viewer may see)."""
    filename, mimetype, data = reports().export(name, g.actor, request.args.get("format") or "csv",
                                                snapshot=g.snapshot,
                                                filter=(request.args.get("filter") or "").strip() or None)
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@reports_pages.post("/reports/<name>/delete")
def delete(name):
    doc = reports().reports.get(name, g.actor)
    reports().reports.delete(name, g.actor)
    flash(_("Report '%(name)s' was deleted.", name=doc.get("label") or name), "success")
    return redirect(url_for("reports.home"), code=303)


@reports_pages.post("/reports/<name>/pin")
def pin(name):
    """Pin the report's chart (or table) to a dashboard: an existing one the viewer may change, or a
    new one named here. The dashboard store checks the change as the viewer."""
    svc = reports()
    doc = svc.reports.get(name, g.actor)
    form = request.form
    title = (form.get("title") or "").strip()[:200] or doc.get("label") or name
    component = {"report": name, "title": title}
    try:
        width = int(form.get("width") or 1)
    except ValueError:
        width = 1
    component["width"] = min(max(width, 1), 3)
    target = (form.get("dashboard") or "").strip()
    try:
        if target:
            board = svc.dashboards.get(target, g.actor)
            svc.dashboards.update(target, {"components": list(board.get("components") or []) + [component]},
                                  g.actor)
        else:
            label = (form.get("new_label") or "").strip()
            if not label:
                flash(_("Choose a dashboard or name a new one."), "error")
                return redirect(url_for("reports.view", name=name), code=303)
            target = slug(label, "dashboard")
            board = svc.dashboards.create({"name": target, "label": label, "components": [component]}, g.actor)
    except EngineError as exc:
        flash(_("The chart was not pinned: %(reason)s", reason=exc.message), "error")
        return redirect(url_for("reports.view", name=name), code=303)
    flash(_("'%(report)s' was pinned to the dashboard '%(dashboard)s'.", report=title,
            dashboard=board.get("label") or target), "success")
    return redirect(url_for("dashboards.view", name=target), code=303)


def slug(label, fallback="item"):
    """An API name proposed from a label (``Sales overview`` → ``sales_overview``)."""
    out = re.sub(r"[^a-z0-9]+", "_", (label or "").lower()).strip("_")[:50]
    if not re.search(r"[a-z]", out):    # a Chinese label: a stable name from it
        out = f"{out}_{zlib.crc32((label or '').encode('utf-8')) % 1000000}".strip("_")
    if not out[0].isalpha():
        out = f"{fallback}_{out}"
    return out


# -- the customer value (RFM) panel of a record page ----------------------------------------------------
@reports_pages.app_template_global("record_value")
def record_value(obj, rid):
    """The RFM scores and label of a record for every customer-value model on its object that the
    viewer may read (the scores service filters by what they may see), as HTML; empty otherwise."""
    svc = services().extensions.get("reports")
    actor = getattr(g, "actor", None)
    if svc is None or actor is None:
        return ""
    snapshot = getattr(g, "snapshot", None)
    if snapshot is not None and not snapshot.has_rows(obj, RFM_MODELS):   # no model on the object, ever
        return ""
    rows = []
    try:
        models = svc.rfm_models.list(actor, object_name=obj)
    except EngineError:
        return ""
    for model in models:
        try:
            found = svc.analytics.rfm.scores(model["name"], actor, record_id=rid, limit=1,
                                             snapshot=g.snapshot)["scores"]
        except EngineError:
            continue
        if found:
            rows.append((model, found[0]))
    if not rows:
        return ""
    return Markup(render_template("engine/reports/_rfm.html", rows=rows, labels=rfm_labels()))


def rfm_labels():
    """The customer-value labels of docs/reports.md in the page's language."""
    return {"Champions": _("Champions"), "Can't lose them": _("Can't lose them"), "Loyal": _("Loyal"),
            "At risk": _("At risk"), "New customers": _("New customers"),
            "Potential loyalists": _("Potential loyalists"), "Hibernating": _("Hibernating"),
            "Need attention": _("Need attention")}


from . import reports_analytics, reports_builder  # noqa: E402,F401  (routes of this blueprint)
