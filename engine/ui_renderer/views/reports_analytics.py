"""Segments, the forecast and trends (routes of the ``reports`` blueprint).

- ``/segments``: the segments the viewer may see with their live member count; a segment's page
  (criteria, count, its first members, "all in the list", CSV); the form to define one with a
  formula, its live check and a live member count (``POST /segments/count``).
- ``/analytics/forecast``: weighted pipeline and categories per period, owner and team, with quota.
- ``/analytics/trend``: an aggregate per period against the previous period and last year.

Segments are read and written through the reports service's segment store, members through its
``members`` / ``member_count`` (the viewer's rows only); the live count of an unsaved formula is
the record service's list count with the criteria as its ``where`` — what the segment will hold.
"""
from __future__ import annotations

from flask import Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import EngineError, InvalidRequestError, MetadataError, NotFoundError

from ..auth import records
from .reports_pages import may_change, object_choices, problems_of, reports, reports_pages, slug
from .reports_result import Column, field_def, path_label, show_value

MEMBERS_SHOWN = 25


def _count(name):
    try:
        return reports().member_count(name, g.actor, snapshot=g.snapshot)
    except EngineError:
        return None


@reports_pages.get("/segments")
def segments():
    items = reports().segments.list(g.actor)
    labels = dict(object_choices())
    for item in items:
        item["object_label"] = labels.get(item.get("object"), item.get("object"))
        item["count"] = _count(item["name"])
    return render_template("engine/reports/segments.html", segments=items, can_create=not g.actor.read_only)


@reports_pages.get("/segments/<name>")
def segment(name):
    svc = reports()
    doc = svc.segments.get(name, g.actor)
    error, members, count = None, [], None
    try:
        members = svc.members(name, g.actor, snapshot=g.snapshot, limit=MEMBERS_SHOWN, fields=["name"],
                              order_by="name")["records"]
        count = svc.member_count(name, g.actor, snapshot=g.snapshot)
    except (MetadataError, InvalidRequestError) as exc:   # criteria this viewer cannot use (reports.E032)
        error = exc.message
    return render_template("engine/reports/segment.html", doc=doc, members=members, count=count, error=error,
                           can_change=may_change(doc), object_label=dict(object_choices()).get(doc["object"],
                                                                                               doc["object"]),
                           list_url=url_for("pages.list_view", obj=doc["object"],
                                            where=f"IN_SEGMENT('{name}')"))


@reports_pages.get("/segments/<name>/export")
def segment_export(name):
    filename, chunks = reports().members_csv(name, g.actor, snapshot=g.snapshot)
    return Response(chunks, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _segment_form(doc, *, editing=None, problems=None, status=200):
    return render_template("engine/reports/segment_form.html", doc=doc, editing=editing, objects=object_choices(),
                           problems=problems or {}), status


def _segment_doc(form):
    doc = {k: (form.get(k) or "").strip() for k in ("label", "name", "object", "criteria")}
    if not doc["name"] and doc["label"]:
        doc["name"] = slug(doc["label"], "segment")
    if form.get("private"):
        doc["private"] = True
    return {k: v for k, v in doc.items() if v not in ("", None)}


@reports_pages.route("/segments/new", methods=["GET", "POST"])
def new_segment():
    if request.method == "GET":
        return _segment_form({"object": request.args.get("object") or ""})
    doc = _segment_doc(request.form)
    if not doc.get("name"):
        return _segment_form(doc, problems={"label": [_("Give the segment a name.")]}, status=422)
    try:
        saved = reports().segments.create(doc, g.actor)
    except EngineError as exc:
        if exc.code in ("reports.E080", "reports.E081", "security.E030"):
            raise
        return _segment_form(doc, problems=problems_of(exc), status=422)
    flash(_("Segment '%(name)s' was saved.", name=saved.get("label") or saved["name"]), "success")
    return redirect(url_for("reports.segment", name=saved["name"]), code=303)


@reports_pages.route("/segments/<name>/edit", methods=["GET", "POST"])
def edit_segment(name):
    stored = reports().segments.get(name, g.actor)
    if request.method == "GET":
        return _segment_form(stored, editing=name)
    doc = dict(_segment_doc(request.form), name=name, object=stored["object"])
    try:
        reports().segments.update(name, {"label": doc.get("label"), "criteria": doc.get("criteria"),
                                         "private": doc.get("private")}, g.actor)
    except EngineError as exc:
        if exc.code in ("reports.E080", "reports.E081", "reports.E082", "security.E030"):
            raise
        return _segment_form(doc, editing=name, problems=problems_of(exc), status=422)
    flash(_("Segment '%(name)s' was saved.", name=doc.get("label") or name), "success")
    return redirect(url_for("reports.segment", name=name), code=303)


@reports_pages.post("/segments/<name>/delete")
def delete_segment(name):
    doc = reports().segments.get(name, g.actor)
    reports().segments.delete(name, g.actor)
    flash(_("Segment '%(name)s' was deleted.", name=doc.get("label") or name), "success")
    return redirect(url_for("reports.segments"), code=303)


@reports_pages.post("/segments/count")
def segment_count():
    """The live member count of criteria being typed: ``{"count"}`` or ``{"error": {message, line, column}}``."""
    obj = request.form.get("object") or ""
    criteria = (request.form.get("criteria") or "").strip()
    if obj not in dict(object_choices()):
        return jsonify({"error": {"message": _("Choose the records to report on.")}}), 422
    if not criteria:
        return jsonify({"count": None})
    try:
        out = records().list(obj, g.actor, where=criteria, limit=1, with_total=True, fields=["name"])
    except EngineError as exc:
        return jsonify({"error": {"message": exc.message, "line": getattr(exc, "line", None),
                                  "column": getattr(exc, "column", None)}}), 422
    return jsonify({"count": out["total"]})


# -- forecast and trends ----------------------------------------------------------------------------------
def _analytics(kind, params):
    """Run ``forecast`` or ``trend`` as the viewer: ``(result, error message)``."""
    runner = getattr(reports().analytics, kind)
    try:
        return runner.run(g.actor, params, snapshot=g.snapshot), None
    except (InvalidRequestError, MetadataError, NotFoundError) as exc:
        return None, exc.message


def _fmt(value, scale=2):
    """A number of the forecast or a trend for the page's language."""
    return show_value(Column("value", "", True, scale), value)


@reports_pages.get("/analytics/forecast")
def forecast():
    params = {k: v for k, v in request.args.items() if v}
    objects = object_choices()
    params.setdefault("object", "opportunity" if "opportunity" in dict(objects) else
                      ("deal" if "deal" in dict(objects) else (objects[0][0] if objects else "")))
    result, error = _analytics("forecast", params) if params["object"] else (None, None)
    return render_template("engine/reports/forecast.html", params=params, result=result, error=error,
                           objects=objects, money=_fmt), 400 if error else 200


@reports_pages.get("/analytics/trend")
def trend():
    params = {k: v for k, v in request.args.items() if v}
    objects = object_choices()
    params.setdefault("object", "opportunity" if "opportunity" in dict(objects) else
                      ("deal" if "deal" in dict(objects) else (objects[0][0] if objects else "")))
    params.setdefault("date", "close_date")
    params.setdefault("fn", "sum" if params.get("field") else "count")
    result, error = _analytics("trend", params) if params["object"] else (None, None)
    label = None
    if result is not None:
        agg = result["aggregate"]
        label = path_label(g.snapshot, result["object"], agg["field"]) if agg.get("field") else _("Record count")
        _rt, fdef, _last = field_def(g.snapshot, result["object"], agg.get("field") or "")
        result["scale"] = 0 if agg["fn"] in ("count", "count_distinct") else \
            (fdef.doc.get("scale") if fdef is not None and fdef.doc.get("scale") is not None else 2)
    return render_template("engine/reports/trend.html", params=params, result=result, error=error,
                           objects=objects, label=label, fmt=_fmt), 400 if error else 200
