"""The report builder (``/reports/new``, ``/reports/<name>/edit``): pick the object, the groupings
(with a date's granularity, or a bucket), the aggregates, the filter formula, a bucket, the chart,
the columns of a tabular report — and a preview that updates.

It is a plain form: "Preview" posts it and the page comes back with the result, "Save" stores it
through the report store (every problem next to its input, 422). With JavaScript
(``static/reports.js``) the preview updates as the user builds: the script posts the same form to
``POST /reports/preview`` (an HTML fragment) and checks the filter with
``POST /reports/formula/check``. Every run is the reports service's ``preview`` as the viewer.
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import EngineError, InvalidRequestError, MetadataError, NotFoundError, PermissionDeniedError
from engine.formula import FormulaError, compile_formula
from engine.records.field_security import reader_view

from ..viewmodels import system_label
from .reports_pages import (CHART_TYPES, may_change, object_choices, problems_of, reports, reports_pages, slug,
                            svg_response)
from .reports_result import build_result, chart_labeller, path_label

GROUP_LEVELS = 2
AGG_ROWS = 4            # aggregate rows a form shows at least (blank ones are skipped)
NOT_GROUPABLE = ("long_text", "rich_text", "multi_picklist")
FORM_KEYS = ("label", "folder", "private", "filter", "group_by", "aggregates", "buckets", "chart", "matrix",
             "columns")


def fn_choices():
    return [("count", _("Count")), ("count_distinct", _("Count distinct")), ("sum", _("Sum")),
            ("avg", _("Average")), ("median", _("Median")), ("min", _("Smallest")), ("max", _("Largest"))]


def granularity_choices():
    return [("day", _("Day")), ("week", _("Week")), ("month", _("Month")), ("quarter", _("Quarter")),
            ("year", _("Year"))]


def chart_choices():
    names = {"bar": _("Bar"), "column": _("Column"), "line": _("Line"), "area": _("Area"), "pie": _("Pie"),
             "donut": _("Donut"), "funnel": _("Funnel"), "number": _("Number (KPI)")}
    return [(k, names[k]) for k in CHART_TYPES]


def field_choices(obj):
    """``[(path, label, type)]`` the viewer may use on ``obj``: its fields and its lookups' fields
    (hidden fields are not there: ``reader_view`` is the caller's view, as the service's)."""
    rt = g.snapshot.get(obj)
    if rt is None:
        return []
    fields_map = reader_view(g.snapshot, g.actor).fields_map(obj)
    out = []
    for name, kind in fields_map.items():
        if name.startswith("$") or name in ("id", "row_version", "deleted_at"):
            continue
        fdef = rt.odef.field(name)
        ftype = fdef.type if fdef is not None else (kind if isinstance(kind, str) else "text")
        if isinstance(kind, dict):
            out.append((name, path_label(g.snapshot, obj, name), "lookup"))
            for sub, subkind in kind.items():
                if isinstance(subkind, dict) or sub in ("id", "row_version", "deleted_at") or sub.startswith("$"):
                    continue
                out.append((f"{name}.{sub}", path_label(g.snapshot, obj, f"{name}.{sub}"), str(subkind)))
        else:
            out.append((name, str(system_label(rt, name)) if fdef is None else path_label(g.snapshot, obj, name),
                        ftype))
    return out


# -- form <-> document ---------------------------------------------------------------------------------
def _ranges_text(bucket):
    lines = []
    for r in bucket.get("ranges") or []:
        if "values" in r:
            lines.append(f"{r.get('label', '')} = {', '.join(str(v) for v in r['values'])}")
        elif r.get("below") is not None:
            lines.append(f"{r.get('label', '')} < {r['below']}")
        else:
            lines.append(str(r.get("label", "")))
    return "\n".join(lines)


def _below(text):
    try:
        num = Decimal(text)
    except InvalidOperation:
        return text        # a date ('2026-01-01'): the store checks it against the field
    return int(num) if num == num.to_integral_value() else float(num)


def _ranges(text):
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        if "<" in line:
            label, below = line.split("<", 1)
            out.append({"label": label.strip(), "below": _below(below.strip())})
        elif "=" in line:
            label, values = line.split("=", 1)
            out.append({"label": label.strip(), "values": [v.strip() for v in values.split(",") if v.strip()]})
        else:
            out.append({"label": line})
    return out


def parse_form(form, obj):
    """The report document of the builder's form (blank rows left out)."""
    doc = {"object": obj}
    for key in ("label", "folder"):
        value = (form.get(key) or "").strip()
        if value:
            doc[key] = value
    name = (form.get("name") or "").strip()
    if name:
        doc["name"] = name
    elif doc.get("label"):
        doc["name"] = slug(doc["label"], "report")
    if form.get("private"):
        doc["private"] = True
    flt = (form.get("filter") or "").strip()
    if flt:
        doc["filter"] = flt
    bucket = {"name": (form.get("buckets.0.name") or "").strip(), "field": (form.get("buckets.0.field") or "").strip(),
              "ranges": _ranges(form.get("buckets.0.ranges"))}
    if bucket["name"] or bucket["field"] or bucket["ranges"]:
        doc["buckets"] = [bucket]
    groups = []
    for i in range(GROUP_LEVELS):
        value = (form.get(f"group_by.{i}.field") or "").strip()
        if not value:
            continue
        if value.startswith("bucket:"):
            groups.append({"bucket": value[len("bucket:"):]})
            continue
        spec = {"field": value}
        if form.get(f"group_by.{i}.granularity"):
            spec["granularity"] = form[f"group_by.{i}.granularity"]
        groups.append(spec)
    if groups:
        doc["group_by"] = groups
        if form.get("matrix") and len(groups) == 2:
            doc["matrix"] = True
    aggs = []
    for i in range(20):
        fn = (form.get(f"aggregates.{i}.fn") or "").strip()
        field = (form.get(f"aggregates.{i}.field") or "").strip()
        if not fn and not field:
            continue
        spec = {"fn": fn or "count"}
        if field:
            spec["field"] = field
        aggs.append(spec)
    if aggs:
        doc["aggregates"] = aggs
    columns = [c for c in form.getlist("columns") if c]
    if columns and not groups:
        doc["columns"] = columns
    kind = form.get("chart.type") or ""
    if kind:
        doc["chart"] = {"type": kind}
        if form.get("chart.stacked"):
            doc["chart"]["stacked"] = True
    return doc


def form_rows(doc):
    """What the form shows for ``doc``: group rows, aggregate rows (plus blank ones), the bucket."""
    groups = []
    for spec in (doc.get("group_by") or [])[:GROUP_LEVELS]:
        groups.append({"field": f"bucket:{spec['bucket']}" if spec.get("bucket") else spec.get("field", ""),
                       "granularity": spec.get("granularity", "")})
    groups += [{"field": "", "granularity": ""}] * (GROUP_LEVELS - len(groups))
    aggs = [{"fn": a.get("fn", ""), "field": a.get("field", "")} for a in doc.get("aggregates") or []]
    aggs += [{"fn": "", "field": ""}] * max(AGG_ROWS - len(aggs), 1)
    bucket = (doc.get("buckets") or [{}])[0]
    return {"groups": groups, "aggregates": aggs,
            "bucket": {"name": bucket.get("name", ""), "field": bucket.get("field", ""),
                       "ranges": _ranges_text(bucket)}}


def run_preview(doc):
    """``(ResultView or None, problems)``: the unsaved document run as the viewer."""
    try:
        result = reports().preview(dict(doc), g.actor, snapshot=g.snapshot, limit=20)
    except (MetadataError, InvalidRequestError, NotFoundError) as exc:
        return None, problems_of(exc)
    return build_result(dict(doc, name=doc.get("name") or "preview"), result), {}


def preview_chart_url(doc, shown):
    chart = doc.get("chart")
    if not chart or shown is None or (chart["type"] != "number" and not doc.get("group_by")):
        return None
    return url_for("reports.preview_chart", doc=json.dumps(dict(doc, name=doc.get("name") or "preview"),
                                                           separators=(",", ":")))


def _render(doc, *, editing=None, problems=None, status=200, preview=True):
    obj = doc.get("object")
    shown, run_problems = run_preview(doc) if preview and obj else (None, {})
    problems = problems or {}
    fields = field_choices(obj) if obj else []
    return render_template(
        "engine/reports/builder.html", doc=doc, editing=editing, rows=form_rows(doc), objects=object_choices(),
        fields=fields, field_options=[(p, label) for p, label, _t in fields], not_groupable=NOT_GROUPABLE,
        fns=fn_choices(), granularities=granularity_choices(), charts=chart_choices(), problems=problems,
        preview=shown, preview_problems=run_problems, chart_url=preview_chart_url(doc, shown)), status


@reports_pages.route("/reports/new", methods=["GET", "POST"])
def new():
    if request.method == "GET":
        obj = request.args.get("object") or ""
        if obj and obj not in dict(object_choices()):
            raise NotFoundError("metadata.E041", f"Unknown object '{obj[:40]}'.")
        return _render({"object": obj} if obj else {}, preview=bool(obj))
    obj = request.form.get("object") or ""
    if obj not in dict(object_choices()):
        return _render({}, problems={"object": [_("Choose the records to report on.")]}, status=422, preview=False)
    doc = parse_form(request.form, obj)
    if request.form.get("_action") != "save":
        return _render(doc)
    if not doc.get("name"):
        return _render(doc, problems={"label": [_("Give the report a name.")]}, status=422)
    try:
        saved = reports().reports.create(doc, g.actor)
    except (MetadataError, InvalidRequestError, EngineError) as exc:
        if exc.code in ("reports.E080", "reports.E081", "security.E030"):
            raise
        return _render(doc, problems=problems_of(exc), status=422)
    flash(_("Report '%(name)s' was saved.", name=saved.get("label") or saved["name"]), "success")
    return redirect(url_for("reports.view", name=saved["name"]), code=303)


@reports_pages.route("/reports/<name>/edit", methods=["GET", "POST"])
def edit(name):
    stored = reports().reports.get(name, g.actor)
    if not may_change(stored):     # the store refuses the save too; no form that cannot be saved
        raise PermissionDeniedError("reports.E081", f"Only administrators and its owner may change report "
                                    f"'{name}'.")
    if request.method == "GET":
        return _render(stored, editing=name)
    doc = parse_form(request.form, stored["object"])
    doc["name"] = name
    if request.form.get("_action") != "save":
        return _render(doc, editing=name)
    patch = {key: doc.get(key) for key in FORM_KEYS}
    try:
        saved = reports().reports.update(name, patch, g.actor)
    except EngineError as exc:
        if exc.code in ("reports.E080", "reports.E081", "reports.E082", "security.E030"):
            raise
        return _render(doc, editing=name, problems=problems_of(exc), status=422)
    flash(_("Report '%(name)s' was saved.", name=saved.get("label") or name), "success")
    return redirect(url_for("reports.view", name=name), code=303)


# -- the script's endpoints ------------------------------------------------------------------------------
@reports_pages.post("/reports/preview")
def preview():
    """The preview of the builder's form as an HTML fragment (the page script swaps it in)."""
    obj = request.form.get("object") or ""
    if obj not in dict(object_choices()):
        return render_template("engine/reports/_preview.html", preview=None,
                               preview_problems={"object": [_("Choose the records to report on.")]},
                               chart_url=None), 422
    doc = parse_form(request.form, obj)
    shown, problems = run_preview(doc)
    return render_template("engine/reports/_preview.html", preview=shown, preview_problems=problems,
                           chart_url=preview_chart_url(doc, shown)), 200 if shown is not None else 422


@reports_pages.get("/reports/preview.svg")
def preview_chart():
    """The chart of an unsaved document (``?doc=<JSON>``), run as the viewer."""
    try:
        doc = json.loads(request.args.get("doc") or "")
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("object"), str) or \
            not isinstance(doc.get("chart"), dict) or not isinstance(doc["chart"].get("type"), str):
        raise InvalidRequestError("reports.E001", "Send the report document, with its chart, as doc=<JSON>.")
    doc.setdefault("name", "preview")
    return svg_response(reports().chart_of(doc, g.actor, snapshot=g.snapshot, width=640, height=360,
                                           labeller=chart_labeller))


@reports_pages.post("/reports/formula/check")
def check_formula():
    """The filter's live check: ``{"ok": true, "return_type"}`` or the error at its line and column.
    The fields are the viewer's (a hidden field is unknown, as in the service)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("formula"), str):
        return jsonify({"error": {"code": "pages.E006", "message": 'Send {"object": "deal", "formula": "..."}.'}}), 400
    obj = body.get("object")
    if not isinstance(obj, str) or obj not in dict(object_choices()):
        return jsonify({"error": {"code": "metadata.E041", "message": "Unknown object."}}), 404
    if not body["formula"].strip():
        return jsonify({"ok": False, "empty": True})
    fields_map = reader_view(g.snapshot, g.actor).fields_map(obj)
    try:
        compiled = compile_formula(body["formula"], fields_map, return_type=body.get("return_type") or "boolean")
    except FormulaError as exc:
        return jsonify({"ok": False, "error": {"message": exc.message, "line": exc.line, "column": exc.column,
                                               "code": exc.code}})
    return jsonify({"ok": True, "return_type": compiled.return_type or "boolean"})
