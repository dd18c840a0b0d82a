"""Reports endpoints: reports, dashboards, segments and analytics (docs/reports.md). The reports
service checks rights and runs everything as the caller; these views translate HTTP to it and back.

``openapi_paths()`` / ``openapi_schemas()`` describe these endpoints for the OpenAPI document.
"""
from __future__ import annotations

from flask import Response, g, jsonify, request

from engine.errors import InvalidRequestError

from . import api, body_json, svc
from .records import RESERVED_PARAMS, _fields_param, _flag

RUN_PARAMS = ("filter", "group_limit", "matrix", "limit", "cursor")


def reports():
    return svc().extensions["reports"]


def _run_args():
    a = request.args
    return {"filter": a.get("filter") or None, "group_limit": a.get("group_limit"),
            "matrix": _flag("matrix") if "matrix" in a else None, "limit": _int_arg("limit", 1, svc().config.max_page_size),
            "cursor": a.get("cursor") or None}


def _int_arg(name, lo, hi, default=None):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise InvalidRequestError("api.E012", f"{name} must be a whole number between {lo} and {hi} "
                                  f"(got '{raw[:20]}').", fields={name: ["invalid"]})
    return value


def _store(kind):
    return reports().stores()[kind]


# -- documents (reports, dashboards, segments) ------------------------------------------------------

def _document_routes(kind, plural):
    def list_docs():
        return jsonify({plural: _store(kind).list(g.actor, object_name=request.args.get("object") or None)})

    def create_doc():
        return jsonify(_store(kind).create(body_json(), g.actor)), 201

    def get_doc(name):
        return jsonify(_store(kind).get(name, g.actor))

    def patch_doc(name):
        return jsonify(_store(kind).update(name, body_json(), g.actor))

    def delete_doc(name):
        _store(kind).delete(name, g.actor)
        return "", 204

    def doc_history(name):
        return jsonify({"history": _store(kind).history(name, g.actor)})

    base = f"/{plural}" if kind != "rfm_model" else "/analytics/rfm_models"
    api.add_url_rule(base, f"list_{plural}", list_docs, methods=["GET"])
    api.add_url_rule(base, f"create_{kind}", create_doc, methods=["POST"])
    api.add_url_rule(f"{base}/<name>", f"get_{kind}", get_doc, methods=["GET"])
    api.add_url_rule(f"{base}/<name>", f"patch_{kind}", patch_doc, methods=["PATCH"])
    api.add_url_rule(f"{base}/<name>", f"delete_{kind}", delete_doc, methods=["DELETE"])
    api.add_url_rule(f"{base}/<name>/history", f"{kind}_history", doc_history, methods=["GET"])


for _kind, _plural in (("report", "reports"), ("dashboard", "dashboards"), ("segment", "segments"),
                       ("rfm_model", "rfm_models")):
    _document_routes(_kind, _plural)


# -- running reports ------------------------------------------------------------------------------------

@api.get("/reports/<name>/run")
def run_report(name):
    return jsonify(reports().run(name, g.actor, snapshot=g.snapshot, **_run_args()))


@api.post("/reports/run")
def preview_report():
    return jsonify(reports().preview(body_json(), g.actor, snapshot=g.snapshot, **_run_args()))


@api.get("/reports/<name>/export")
def export_report(name):
    filename, mimetype, data = reports().export(name, g.actor, request.args.get("format") or "csv",
                                                snapshot=g.snapshot, filter=request.args.get("filter") or None)
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _chart_override():
    kind = request.args.get("type")
    if not kind:
        return None
    chart = {"type": kind}
    for key in ("x", "y", "series"):
        if request.args.get(key):
            chart[key] = request.args[key]
    if "stacked" in request.args:
        chart["stacked"] = _flag("stacked")
    return chart


def _svg(data):
    return Response(data, mimetype="image/svg+xml")


@api.get("/reports/<name>/chart.svg")
def report_chart(name):
    return _svg(reports().chart(name, g.actor, snapshot=g.snapshot, filter=request.args.get("filter") or None,
                                chart=_chart_override(), width=_int_arg("width", 200, 2000, 800),
                                height=_int_arg("height", 150, 2000, 450)))


@api.post("/reports/chart.svg")
def preview_chart():
    doc = body_json()
    doc.setdefault("name", "preview")
    return _svg(reports().chart_of(doc, g.actor, snapshot=g.snapshot, filter=request.args.get("filter") or None,
                                   chart=_chart_override(), width=_int_arg("width", 200, 2000, 800),
                                   height=_int_arg("height", 150, 2000, 450)))


# -- dashboards -------------------------------------------------------------------------------------------

@api.get("/dashboards/<name>/run")
def run_dashboard(name):
    return jsonify(reports().run_dashboard(name, g.actor, request.args.to_dict()))


@api.get("/dashboards/<name>/components/<int:index>/chart.svg")
def dashboard_chart(name, index):
    return _svg(reports().dashboard_chart(name, index, g.actor, request.args.to_dict()))


# -- segments ----------------------------------------------------------------------------------------------

def _list_args():
    cfg = svc().config
    return {"filters": {k: v for k, v in request.args.items() if k not in RESERVED_PARAMS},
            "order_by": request.args.get("order_by"), "limit": request.args.get("limit", cfg.default_page_size),
            "cursor": request.args.get("cursor") or None, "fields": _fields_param(),
            "with_total": _flag("with_total"), "max_limit": cfg.max_page_size}


@api.get("/segments/<name>/members")
def segment_members(name):
    return jsonify(reports().members(name, g.actor, snapshot=g.snapshot, where=request.args.get("where") or None,
                                     **_list_args()))


@api.get("/segments/<name>/members/export")
def segment_members_export(name):
    args = _list_args()
    filename, chunks = reports().members_csv(name, g.actor, snapshot=g.snapshot,
                                             where=request.args.get("where") or None, filters=args["filters"],
                                             order_by=args["order_by"], fields=args["fields"])
    return Response(chunks, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@api.get("/segments/<name>/count")
def segment_count(name):
    return jsonify({"segment": name, "count": reports().member_count(name, g.actor, snapshot=g.snapshot)})


# -- analytics ---------------------------------------------------------------------------------------------

@api.post("/analytics/rfm_models/<name>/refresh")
def refresh_rfm(name):
    if not g.actor.is_admin:
        from engine.errors import PermissionDeniedError
        raise PermissionDeniedError("reports.E080", "Only administrators may refresh RFM scores.")
    reports().rfm_models.get(name, g.actor)
    counts = reports().analytics.rfm.refresh(name)
    return jsonify({"model": name, "scored": counts[name], "last_refresh": reports().analytics.rfm.last_refresh(name)})


@api.get("/analytics/rfm_models/<name>/scores")
def rfm_scores(name):
    a = request.args
    return jsonify(reports().analytics.rfm.scores(name, g.actor, record_id=a.get("record_id") or None,
                                                  label=a.get("label") or None, limit=a.get("limit", 50),
                                                  cursor=a.get("cursor") or None, snapshot=g.snapshot))


@api.get("/analytics/forecast")
def forecast():
    return jsonify(reports().analytics.forecast.run(g.actor, request.args.to_dict(), snapshot=g.snapshot))


@api.get("/analytics/trend")
def trend():
    return jsonify(reports().analytics.trend.run(g.actor, request.args.to_dict(), snapshot=g.snapshot))




# -- OpenAPI ---------------------------------------------------------------------------------------------

TAGS = {"report": "Reports", "dashboard": "Dashboards", "segment": "Segments", "rfm_model": "Analytics"}
ERR = {400: "Malformed request", 401: "No or bad token", 403: "Not allowed", 404: "Not found", 409: "Conflict",
       413: "Body too large", 422: "Validation failed"}
TEXT = {"type": "string"}
ANY_OBJECT = {"type": "object"}
META = {"type": "object", "properties": {
    "version": {"type": "integer"}, "owner_id": {"type": ["string", "null"]}, "private": {"type": "boolean"},
    "created_at": {"type": "string"}, "updated_at": {"type": "string"}, "updated_by": {"type": ["string", "null"]}}}


def _op(tag, op_id, summary, responses, errors, **extra):
    out = {"tags": [tag], "operationId": op_id, "summary": summary, "responses": dict(responses)}
    for code in errors:
        out["responses"][str(code)] = {"description": ERR[code], "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
    out.update(extra)
    return out


def _ok(description, schema, media="application/json"):
    return {"description": description, "content": {media: {"schema": schema}}}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _q(name, schema, description=None):
    out = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        out["description"] = description
    return out


def _p(name, schema=None):
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def openapi_schemas():
    """Component schemas of the reports endpoints (documents from their JSON Schemas)."""
    from engine.reports.documents import load_schema

    out = {}
    for kind, cname in (("report", "Report"), ("dashboard", "Dashboard"), ("segment", "Segment"),
                        ("rfm_model", "RfmModel")):
        schema = {k: v for k, v in load_schema(kind).items() if k not in ("$schema", "$id")}
        stored = dict(schema, properties=dict(schema["properties"], _meta=META))
        patch = dict(schema, required=[], title=f"{schema['title']}: the keys to change (null removes one)")
        patch["properties"] = {k: {"anyOf": [v, {"type": "null"}]} for k, v in schema["properties"].items()}
        out[cname] = schema
        out[f"{cname}Stored"] = stored
        out[f"{cname}Patch"] = patch
    group = {"type": "object", "required": ["key", "values", "where"], "properties": {
        "key": ANY_OBJECT, "values": ANY_OBJECT, "where": {"type": "string", "description": "a formula selecting "
                                                           "the group's records (GET /records/<object>?where=)"},
        "groups": {"type": "array", "items": ANY_OBJECT}}}
    out["ReportResult"] = {"type": "object", "required": ["totals", "meta"], "properties": {
        "groups": {"type": "array", "items": group}, "totals": ANY_OBJECT, "truncated": {"type": "boolean"},
        "column_totals": {"type": "array", "items": group}, "rows": {"type": "array", "items": ANY_OBJECT},
        "next_cursor": {"type": ["string", "null"]}, "meta": {"type": "object", "properties": {
            "object": TEXT, "group_by": {"type": "array"}, "aggregates": {"type": "array"},
            "columns": {"type": "array"}}}}}
    out["DocumentSummary"] = {"type": "object", "required": ["name", "label", "version"], "properties": {
        "name": TEXT, "label": TEXT, "object": TEXT, "version": {"type": "integer"},
        "owner_id": {"type": ["string", "null"]}, "private": {"type": "boolean"}, "folder": TEXT,
        "updated_at": TEXT, "summary": {"type": "boolean"}, "chart": TEXT}}
    out["DocumentHistory"] = {"type": "object", "required": ["history"], "properties": {"history": {
        "type": "array", "items": {"type": "object", "properties": {
            "version": {"type": "integer"}, "action": TEXT, "author_id": {"type": ["string", "null"]},
            "created_at": TEXT, "doc": {"type": ["object", "null"]}}}}}}
    return out


def openapi_paths(objects=()):
    """Path items of the reports endpoints."""
    paths = {}
    name = _p("name")
    cfg_max = 200
    for kind, plural, cname in (("report", "reports", "Report"), ("dashboard", "dashboards", "Dashboard"),
                                ("segment", "segments", "Segment"), ("rfm_model", "rfm_models", "RfmModel")):
        tag = TAGS[kind]
        base = f"/api/v1/{plural}" if kind != "rfm_model" else "/api/v1/analytics/rfm_models"
        listing = {"type": "object", "required": [plural], "properties": {
            plural: {"type": "array", "items": _ref("DocumentSummary")}}}
        who = "administrators" if kind == "rfm_model" else "anyone signed in; its creator owns it"
        paths[base] = {
            "get": _op(tag, f"list_{plural}", f"The {plural.replace('_', ' ')} the caller may see",
                       {"200": _ok("By name", listing)}, (400, 401),
                       parameters=[_q("object", {"type": "string", "maxLength": 64}, "only those over this object")]),
            "post": _op(tag, f"create_{kind}", f"Create a {kind.replace('_', ' ')} ({who})",
                        {"201": _ok("Stored (version 1)", _ref(f"{cname}Stored"))}, (400, 401, 403, 409, 413, 422),
                        requestBody=_body(_ref(cname))),
        }
        paths[f"{base}/{{name}}"] = {
            "parameters": [name],
            "get": _op(tag, f"get_{kind}", f"One {kind.replace('_', ' ')}", {"200": _ok("The document", _ref(
                f"{cname}Stored"))}, (400, 401, 404)),
            "patch": _op(tag, f"patch_{kind}", "Change some keys (administrators and the owner)",
                         {"200": _ok("Stored (a new version)", _ref(f"{cname}Stored"))},
                         (400, 401, 403, 404, 409, 413, 422), requestBody=_body(_ref(f"{cname}Patch"))),
            "delete": _op(tag, f"delete_{kind}", "Delete (administrators and the owner; its history stays)",
                          {"204": {"description": "Deleted"}}, (400, 401, 403, 404)),
        }
        paths[f"{base}/{{name}}/history"] = {"parameters": [name], "get": _op(
            tag, f"{kind}_history", "Every version, oldest first", {"200": _ok("Versions", _ref("DocumentHistory"))},
            (400, 401, 404))}
    run_params = [
        _q("filter", TEXT, "A boolean formula ANDed to the report's filter (422 with line and column)."),
        _q("group_limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "The most groups per level (100)."),
        _q("matrix", {"type": "boolean"}, "Two groupings: also column_totals (the second across the first)."),
        _q("limit", {"type": "integer", "minimum": 1, "maximum": cfg_max}, "Tabular reports: rows per page."),
        _q("cursor", {"type": "string", "pattern": "^[A-Za-z0-9_-]*$(?!\\n)", "maxLength": 4000},
           "Tabular reports: next_cursor of the previous page.")]
    result = {"200": _ok("groups with subtotals and totals, or rows with next_cursor", _ref("ReportResult"))}
    paths["/api/v1/reports/{name}/run"] = {"parameters": [name], "get": _op(
        "Reports", "run_report", "Run a report as the caller", result, (400, 401, 403, 404, 422),
        parameters=run_params)}
    paths["/api/v1/reports/run"] = {"post": _op(
        "Reports", "preview_report", "Run an unsaved report document (the builder's preview)", result,
        (400, 401, 403, 404, 413, 422), parameters=run_params, requestBody=_body(_ref("Report")))}
    paths["/api/v1/reports/{name}/export"] = {"parameters": [name], "get": _op(
        "Reports", "export_report", "The report as CSV or XLSX, run as the caller",
        {"200": {"description": "The file", "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {
                "type": "string", "format": "binary"}}}}}, (400, 401, 403, 404, 422),
        parameters=[_q("format", {"enum": ["csv", "xlsx"]}), run_params[0]])}
    chart_params = [run_params[0], _q("type", {"enum": ["bar", "column", "line", "area", "pie", "donut", "funnel",
                                                        "number"]}, "Another chart type than the report's."),
                    _q("x", {"type": "string", "maxLength": 64}), _q("y", {"type": "string", "maxLength": 64}),
                    _q("series", {"type": "string", "maxLength": 64}), _q("stacked", {"type": "boolean"}),
                    _q("width", {"type": "integer", "minimum": 200, "maximum": 2000}),
                    _q("height", {"type": "integer", "minimum": 150, "maximum": 2000})]
    svg = {"200": _ok("SVG, rendered on the server", {"type": "string"}, "image/svg+xml")}
    paths["/api/v1/reports/{name}/chart.svg"] = {"parameters": [name], "get": _op(
        "Reports", "report_chart", "The report's chart as SVG, run as the caller", svg, (400, 401, 403, 404, 422),
        parameters=chart_params)}
    paths["/api/v1/reports/chart.svg"] = {"post": _op(
        "Reports", "preview_chart", "The chart of an unsaved report document as SVG", svg,
        (400, 401, 403, 404, 413, 422), parameters=chart_params, requestBody=_body(_ref("Report")))}
    paths["/api/v1/dashboards/{name}/run"] = {"parameters": [name], "get": _op(
        "Dashboards", "run_dashboard", "Run every component as the caller with the dashboard's filters",
        {"200": _ok("Filters applied and each component's result (or error)", {
            "type": "object", "required": ["name", "filters", "components"], "properties": {
                "name": TEXT, "label": TEXT, "filters": {"type": "array"},
                "components": {"type": "array", "items": ANY_OBJECT}}})}, (400, 401, 403, 404, 422),
        description="Each filter's value comes from the query parameter named like its field "
                    "(?owner_id=me&close_date=last_quarter); an empty value or 'all' removes it.")}
    paths["/api/v1/dashboards/{name}/components/{index}/chart.svg"] = {
        "parameters": [name, _p("index", {"type": "integer", "minimum": 0})], "get": _op(
            "Dashboards", "dashboard_chart", "One component's chart with the dashboard's filters", svg,
            (400, 401, 403, 404, 422))}
    member_params = [_q("where", TEXT, "A formula ANDed to the segment's criteria."),
                     _q("order_by", {"type": "string", "maxLength": 300}),
                     _q("limit", {"type": "integer", "minimum": 1, "maximum": cfg_max}), run_params[4],
                     _q("fields", {"type": "string", "maxLength": 2000}), _q("with_total", {"type": "boolean"})]
    paths["/api/v1/segments/{name}/members"] = {"parameters": [name], "get": _op(
        "Segments", "segment_members", "Live members the caller may see (the list API's parameters)",
        {"200": _ok("A page of records", {"type": "object", "required": ["records", "next_cursor"], "properties": {
            "records": {"type": "array", "items": ANY_OBJECT}, "next_cursor": {"type": ["string", "null"]},
            "total": {"type": "integer"}}})}, (400, 401, 403, 404, 422), parameters=member_params)}
    paths["/api/v1/segments/{name}/members/export"] = {"parameters": [name], "get": _op(
        "Segments", "segment_members_export", "Every member the caller may see, as CSV",
        {"200": _ok("CSV", {"type": "string"}, "text/csv")}, (400, 401, 403, 404, 422),
        parameters=[member_params[0], member_params[1], member_params[4]])}
    paths["/api/v1/segments/{name}/count"] = {"parameters": [name], "get": _op(
        "Segments", "segment_count", "How many members the caller may see",
        {"200": _ok("The count", {"type": "object", "required": ["segment", "count"], "properties": {
            "segment": TEXT, "count": {"type": "integer"}}})}, (400, 401, 403, 404, 422))}
    paths["/api/v1/analytics/rfm_models/{name}/refresh"] = {"parameters": [name], "post": _op(
        "Analytics", "refresh_rfm", "Recompute the model's scores now (administrators)",
        {"200": _ok("How many records were scored", ANY_OBJECT)}, (400, 401, 403, 404, 422))}
    paths["/api/v1/analytics/rfm_models/{name}/scores"] = {"parameters": [name], "get": _op(
        "Analytics", "rfm_scores", "Scores of the records the caller may read",
        {"200": _ok("Scores by record id", {"type": "object", "required": ["model", "scores", "next_cursor"],
                                            "properties": {"model": TEXT, "scores": {"type": "array", "items": ANY_OBJECT},
                                                           "next_cursor": {"type": ["string", "null"]}}})},
        (400, 401, 403, 404, 422),
        parameters=[_q("record_id", {"type": "string", "maxLength": 36}), _q("label", {"type": "string",
                                                                                      "maxLength": 40}),
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                    _q("cursor", {"type": "string", "maxLength": 36})])}
    paths["/api/v1/analytics/forecast"] = {"get": _op(
        "Analytics", "forecast", "Weighted pipeline and forecast categories per owner, team and period, with quota",
        {"200": _ok("The forecast", ANY_OBJECT)}, (400, 401, 403, 404, 422), parameters=FORECAST_PARAMS)}
    paths["/api/v1/analytics/trend"] = {"get": _op(
        "Analytics", "trend", "An aggregate per period with the change against the previous period and last year",
        {"200": _ok("The periods", ANY_OBJECT)}, (400, 401, 403, 404, 422), parameters=TREND_PARAMS)}
    return paths


_NAME = {"type": "string", "maxLength": 300}
FORECAST_PARAMS = [
    _q("object", {"type": "string", "maxLength": 64}, "The opportunities' object (default opportunity)."),
    _q("period", {"enum": ["month", "quarter", "year"]}),
    _q("from", {"type": "string", "format": "date"}), _q("to", {"type": "string", "format": "date"}),
    _q("owner_id", {"type": "string", "maxLength": 36}), _q("role", {"type": "string", "maxLength": 64}),
    _q("amount", _NAME), _q("probability", _NAME), _q("close_date", _NAME), _q("category", TEXT),
    _q("filter", TEXT), _q("quota_object", {"type": "string", "maxLength": 64}), _q("quota_amount", _NAME),
    _q("quota_date", _NAME), _q("quota_owner", _NAME)]
TREND_PARAMS = [
    _q("object", {"type": "string", "maxLength": 64}), _q("date", _NAME),
    _q("fn", {"enum": ["count", "count_distinct", "sum", "avg", "min", "max", "median"]}), _q("field", _NAME),
    _q("granularity", {"enum": ["day", "week", "month", "quarter", "year"]}), _q("filter", TEXT),
    _q("from", {"type": "string", "format": "date"}), _q("to", {"type": "string", "format": "date"}),
    _q("report", {"type": "string", "maxLength": 64}, "Take object, filter and the aggregate from a saved report.")]
