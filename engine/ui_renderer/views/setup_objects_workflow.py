"""The Object Manager's "Approvals" and "Automations" tabs: the object's approval processes and
automation rules, each with a link to its editor in Setup → Approvals / Automations (the editors
live in ``setup_workflow.py`` and ``setup_workflow_rules.py``; these tabs only list)."""
from __future__ import annotations

from .setup_objects import object_row, render_object_page, setup_objects


def _items(row, key):
    return [i for i in row["doc"].get(key) or [] if isinstance(i, dict) and i.get("name")]


@setup_objects.get("/objects/<object>/approvals")
def object_approvals_tab(object):
    row = object_row(object)
    processes = sorted(_items(row, "approval_processes"), key=lambda p: p.get("order", 0))
    return render_object_page("engine/setup/objects/approvals.html", object, "approvals", row=row,
                              processes=processes)


@setup_objects.get("/objects/<object>/automations")
def object_automations_tab(object):
    from .setup_workflow_rules import trigger_text

    row = object_row(object)
    rules = [dict(r, trigger_shown=trigger_text(r.get("trigger"))) for r in _items(row, "automation_rules")]
    return render_object_page("engine/setup/objects/automations.html", object, "automations", row=row, rules=rules)
