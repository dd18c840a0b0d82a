"""Approval processes: the documents (``approval_processes`` in an object document: JSON Schema and
semantic checks), the state machine on its own tables (requests, step instances, work items,
history), the record lock, delegation and deadlines.

Part of ``engine.workflow``: may import what the workflow may (records, security, formula,
metadata, db) and the workflow's own seams (actions, outbox, checks); never Flask. Plugs into
the write pipeline, the metadata store and the scheduler only through :func:`install`, which
``engine.workflow.install`` calls.
"""
from __future__ import annotations


def install(services, workflow):
    """Add the approval checks, record hooks and the deadline tick; expose the
    :class:`~.service.ApprovalService` as ``services.extensions["approvals"]``."""
    from ..tables import create_tables
    from . import tables  # noqa: F401  (declares the tables on the workflow's MetaData)
    from .checks import build_checks
    from .service import ApprovalService

    create_tables(services.engine)
    approvals = ApprovalService(services, workflow)
    services.extensions["approvals"] = approvals
    check_processes, check_dependants = build_checks(services)
    services.metadata_hooks.checks.add("approval_processes", check_processes)
    services.metadata_hooks.dependency_checks.add("approval_references", check_dependants)
    hooks = services.record_hooks
    hooks.authorise.add("approval_lock", approvals.authorise)
    first = hooks.before_save.names()[0] if len(hooks.before_save) else None
    hooks.before_save.add("approvals", approvals.before_save, before=first)
    hooks.after_write.add("approval_delete", approvals.after_write)
    workflow.due_hooks.append(approvals.run_deadlines)
    return approvals
