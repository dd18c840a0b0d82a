"""Workflow: automation rules, the action registry, the outbox and its dispatcher, rq jobs and the
scheduler for time-based and scheduled work (approval processes build on the same seams).

Owns ``engine/workflow/**`` and its tables (``tessera_wf_*``). May import everything below it
(``engine.records``, ``engine.security``, ``engine.formula``, ``engine.metadata``, ``engine.db``);
never Flask, never ``engine.services`` (the composition root calls :func:`install`). Plugs into the
write pipeline and the metadata store only through the hooks ``install`` adds.
"""
from __future__ import annotations


def install(services):
    """Add the workflow's tables, metadata checks and record hooks to ``services`` (called by the
    composition root), and expose the :class:`~engine.workflow.service.WorkflowService` as
    ``services.extensions["workflow"]``."""
    from .checks import build_checks
    from .outbox import mark_applied_in_write
    from .service import WorkflowService
    from .tables import create_tables

    create_tables(services.engine)
    workflow = WorkflowService(services)
    services.extensions["workflow"] = workflow
    check_rules, check_dependants = build_checks(services)
    meta = services.metadata_hooks
    meta.checks.add("automation_rules", check_rules)
    meta.dependency_checks.add("automation_references", check_dependants)
    meta.after_change.add("automation_schedules", workflow.planner.after_change)
    hooks = services.record_hooks
    hooks.flags.add("automation_outbox", workflow.automations.flags)
    hooks.before_save.add("automations", workflow.automations.before_save)
    hooks.after_write.add("workflow_applied_key", mark_applied_in_write)
    hooks.after_write.add("automation_outbox", workflow.automations.after_write)
    hooks.after_commit.add("automation_dispatch", workflow.automations.after_commit)
    from .approvals import install as install_approvals
    install_approvals(services, workflow)
    return workflow
