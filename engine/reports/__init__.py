"""Reports: report, dashboard and segment documents (versioned, packable), the compiler from a
report to one SQL ``GROUP BY`` on the query seam, exports and SVG charts, dashboards, segments and
``IN_SEGMENT``, and the analytics (customer value, forecast, trends).

Owns ``engine/reports/**`` and its tables (``tessera_rpt_*``). May import what is below it
(``engine.records``, ``engine.security``, ``engine.formula``, ``engine.metadata``, ``engine.db``);
never Flask, never ``engine.services`` or ``engine.workflow`` (the composition root calls
:func:`install`; the workflow scheduler is reached through ``services.extensions``). Reads data
only through :class:`~engine.records.reader.RecordReader` (``plan_query``, ``list``, ``where_sql``)
and :class:`~engine.records.resolver.SqlResolver`, as the viewer.
"""
from __future__ import annotations


def install(services):
    """Create the reports' tables, register ``IN_SEGMENT`` (once per process), expose the
    :class:`~engine.reports.service.ReportsService` as ``services.extensions["reports"]`` and, when
    the workflow scheduler is installed, refresh RFM scores from its tick."""
    from .segments import check_in_segment_use, register_in_segment
    from .service import ReportsService
    from .tables import create_tables

    create_tables(services.engine)
    register_in_segment()
    reports = ReportsService(services)
    services.extensions["reports"] = reports
    services.metadata_hooks.checks.add("in_segment_use", check_in_segment_use)
    workflow = services.extensions.get("workflow")
    if workflow is not None:
        workflow.due_hooks.append(reports.analytics.rfm.due)
    return reports
