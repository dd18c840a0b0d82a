"""The reports service (``services.extensions["reports"]``): documents, runs, exports, charts,
dashboards and segments for the doors. Every method takes the acting user and runs as them.
"""
from __future__ import annotations

import re

from engine.errors import InvalidRequestError, NotFoundError, PermissionDeniedError

from .charts import render_chart
from .compiler import compile_report
from .dashboards import check_dashboard, component_filters, run_dashboard
from .documents import DocumentStore, schema_problems
from .errors import ReportDefinitionError
from .export import FORMATS, check_format, summary_table, tabular_rows, to_csv, to_xlsx
from .runner import DEFAULT_GROUP_LIMIT, parse_group_limit, run_summary, run_tabular
from .segments import check_segment, members_where

PREVIEW_NAME = "preview"


class ReportsService:
    """See the module docstring; ``snapshot`` arguments default to the current metadata version."""

    def __init__(self, services):
        self.services = services
        self.engine = services.engine
        self.reports = DocumentStore(self.engine, "report", self._check_report)
        self.dashboards = DocumentStore(self.engine, "dashboard", lambda d, a: check_dashboard(self, d, a),
                                        object_key=None)
        self.segments = DocumentStore(self.engine, "segment", lambda d, a: check_segment(services, d, a))
        from .analytics import Analytics
        self.analytics = Analytics(self)
        self.rfm_models = DocumentStore(self.engine, "rfm_model", self.analytics.rfm.check, admin_only=True)

    def stores(self):
        """The document stores by kind (what a pack carries)."""
        return {"report": self.reports, "dashboard": self.dashboards, "segment": self.segments,
                "rfm_model": self.rfm_models}

    def reader(self, snapshot=None):
        return self.services.records(snapshot)

    # -- checks ------------------------------------------------------------------------------------
    def _check_report(self, doc, actor, snapshot=None):
        try:
            compile_report(self.reader(snapshot), actor, doc, for_check=True)
        except (NotFoundError, PermissionDeniedError) as exc:
            if exc.code in ("metadata.E041", "security.E034"):   # an unknown object, or one the author may not read
                raise ReportDefinitionError([("object", f"unknown object '{doc['object']}'")]) from None
            raise

    # -- running ------------------------------------------------------------------------------------
    def run(self, name, actor, *, snapshot=None, **kw):
        """Run the saved report ``name`` as ``actor`` (see :meth:`run_doc` for the options)."""
        return self.run_doc(self.reports.get(name, actor), actor, snapshot=snapshot, **kw)

    def preview(self, doc, actor, *, snapshot=None, **kw):
        """Run an unsaved report document (the report builder's preview); ``name`` may be left out."""
        if isinstance(doc, dict):
            from .documents import _clean
            doc = _clean(doc)
            doc.setdefault("name", PREVIEW_NAME)
        problems = schema_problems("report", doc)
        if problems:
            raise ReportDefinitionError(problems)
        return self.run_doc(doc, actor, snapshot=snapshot, **kw)

    def compile(self, doc, actor, *, snapshot=None, reader=None, filter=None, extra_filters=()):
        reader = reader if reader is not None else self.reader(snapshot)
        extra = list(extra_filters)
        if filter:
            extra.append(("filter=", filter))
        doc = {k: v for k, v in doc.items() if k != "_meta"}
        return reader, compile_report(reader, actor, doc, extra_filters=extra)

    def run_doc(self, doc, actor, *, snapshot=None, filter=None, extra_filters=(), group_limit=None, matrix=None,
                limit=None, cursor=None):
        """Run a report document as ``actor``: a summary (groups, subtotals, totals) or, without
        ``group_by``, a page of rows with the list cursor. ``filter``: a formula ANDed to the
        report's; ``group_limit``: the most groups per level (default the document's, else 100)."""
        if doc.get("group_by"):
            limit_groups = parse_group_limit(group_limit, doc.get("group_limit") or DEFAULT_GROUP_LIMIT)
            want_matrix = doc.get("matrix", False) if matrix is None else matrix
            reader = self.reader(snapshot)
            with reader.reading() as conn:   # the plan's probes and the report on one connection
                _reader, cr = self.compile(doc, actor, reader=reader, filter=filter, extra_filters=extra_filters)
                return run_summary(reader, cr, group_limit=limit_groups, matrix=want_matrix, conn=conn)
        reader, cr = self.compile(doc, actor, snapshot=snapshot, filter=filter, extra_filters=extra_filters)
        cfg = self.services.config
        return run_tabular(reader, actor, cr, limit=limit if limit is not None else cfg.default_page_size,
                           cursor=cursor, max_limit=cfg.max_page_size)

    def export(self, name, actor, fmt="csv", *, snapshot=None, filter=None):
        """``(filename, mimetype, bytes)`` of the saved report ``name`` as CSV or XLSX."""
        fmt = check_format(fmt)
        doc = self.reports.get(name, actor)
        if doc.get("group_by"):
            result = self.run_doc(doc, actor, snapshot=snapshot, filter=filter, group_limit=10_000)
            header, rows = summary_table(result)
        else:
            header, rows = tabular_rows(lambda cursor: self.run_doc(doc, actor, snapshot=snapshot, filter=filter,
                                                                    limit=200, cursor=cursor))
        data = to_csv(header, rows) if fmt == "csv" else to_xlsx(header, rows, doc.get("label") or name)
        return f"{_filename(name)}.{fmt}", FORMATS[fmt], data

    def chart(self, name, actor, *, snapshot=None, filter=None, chart=None, width=800, height=450, labeller=None,
              titler=None):
        """The SVG of the saved report's chart (or of ``chart``), run as ``actor``. ``labeller(doc,
        result)``, when given, returns the ``key_label`` of :func:`~engine.reports.charts.render_chart`
        (how a page names group keys in its language); ``titler(doc)`` the report's title in it."""
        doc = self.reports.get(name, actor)
        return self.chart_of(doc, actor, snapshot=snapshot, filter=filter, chart=chart, width=width, height=height,
                             labeller=labeller, titler=titler)

    def chart_of(self, doc, actor, *, snapshot=None, filter=None, chart=None, extra_filters=(), width=800,
                 height=450, labeller=None, titler=None):
        from .documents import _clean
        doc = _clean(doc)
        chart = chart or doc.get("chart")
        if not chart:
            raise InvalidRequestError("reports.E023", f"Report '{doc['name']}' has no chart; add one under "
                                      "'chart' or pass type=.")
        if chart["type"] != "number" and not doc.get("group_by"):
            raise InvalidRequestError("reports.E024", f"A {chart['type']} chart needs a summary report "
                                      f"(with group_by); report '{doc['name']}' has none.")
        probe = dict(doc, chart=chart)
        problems = schema_problems("report", probe)
        if problems:
            raise ReportDefinitionError([(f"chart{p[len('chart'):]}" if p else "chart", m) for p, m in problems])
        result = self.run_doc(probe, actor, snapshot=snapshot, filter=filter, extra_filters=extra_filters,
                              group_limit=200)
        title = chart.get("title") or (titler(probe) if titler else doc.get("label"))
        return render_chart(result, chart, title=title, width=width, height=height,
                            key_label=labeller(probe, result) if labeller else None)

    # -- dashboards --------------------------------------------------------------------------------
    def run_dashboard(self, name, actor, params, *, today=None):
        return run_dashboard(self, name, actor, params, today=today)

    def dashboard_chart(self, name, index, actor, params, *, today=None, labeller=None, titler=None):
        report, extra, chart = component_filters(self, name, index, actor, params, today=today)
        return self.chart_of(report, actor, chart=chart, extra_filters=extra, labeller=labeller, titler=titler)

    # -- segments --------------------------------------------------------------------------------------
    def members(self, name, actor, *, snapshot=None, where=None, **list_args):
        """Members of segment ``name`` that ``actor`` may see: the list API's result."""
        doc = self.segments.get(name, actor)
        reader = self.reader(snapshot)
        rt = reader.runtime(doc["object"])
        if where:
            reader.where_sql(rt, where, actor)   # the caller's where= alone first: its own line and column
        return reader.list(doc["object"], actor, where=members_where(doc, where), **list_args)

    def member_count(self, name, actor, *, snapshot=None):
        out = self.members(name, actor, snapshot=snapshot, limit=1, with_total=True)
        return out["total"]

    def members_csv(self, name, actor, *, snapshot=None, where=None, filters=None, order_by=None, fields=None):
        from engine.records.export import export_csv

        doc = self.segments.get(name, actor)
        reader = self.reader(snapshot)
        if where:
            reader.where_sql(reader.runtime(doc["object"]), where, actor)
        _file, chunks = export_csv(reader, doc["object"], actor, filters=filters, where=members_where(doc, where),
                                   order_by=order_by, fields=fields)
        return f"{_filename(name)}.csv", chunks

    # -- packs -----------------------------------------------------------------------------------------
    def export_all(self):
        """Every document of every kind as plain JSON: ``{"reports": [...], "dashboards": [...], ...}``."""
        return {store.plural.replace("RFM ", "rfm_").replace(" ", "_"): store.export()
                for store in self.stores().values()}

    def import_all(self, bundle, actor):
        """Store a bundle made by :meth:`export_all` (segments first: reports may use IN_SEGMENT;
        reports before the dashboards that show them)."""
        out = {}
        for kind in ("segment", "rfm_model", "report", "dashboard"):
            store = self.stores()[kind]
            key = store.plural.replace("RFM ", "rfm_").replace(" ", "_")
            docs = bundle.get(key) or []
            if docs:
                out[key] = [d["name"] for d in store.import_docs(docs, actor)]
        return out


def _filename(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "report"
