"""``create_task``: a task linked to the record — a record of the object named ``task``, created
through the record service like ``create_record``.

The task object is configuration, not code: it needs a lookup to the rule's object (or a text
field ``what_id``) to link the task to the record, and a date field ``due_date`` when
``due_in_days`` is used. A rule with ``create_task`` is refused when there is no such object.
"""
from __future__ import annotations

import datetime as _dt

from engine.metadata.field_types import field_types

from . import Action, register_action
from .create_record import create

TASK = "task"


@register_action
class CreateTask(Action):
    key = "create_task"
    label = "Create a task"
    options_schema = {"type": "object", "required": ["subject"], "properties": {
        "subject": {"type": "string", "minLength": 1, "maxLength": 5000, "description": "a formula: the task's name"},
        "due_in_days": {"type": "integer", "minimum": 0, "maximum": 3650},
        "assign_to": {"type": "string", "minLength": 1, "maxLength": 160,
                      "description": "'owner' (the record's owner, the default) or 'user:<username>'"}}}
    formula_keys = (("subject", "text"),)

    def check(self, options, env):
        task = env.doc(TASK)
        if task is None:
            return [("type", "create_task needs an object named 'task' (with a lookup to "
                             f"'{env.obj}' or a text field 'what_id', and a date field 'due_date'); create "
                             "that object first, or use create_record")]
        problems = super().check(options, env)
        if link_field(task, env.obj) is None:
            problems.append(("type", f"object 'task' has no lookup to '{env.obj}' and no text field 'what_id' "
                                     "to link the task to the record; add one"))
        if "due_in_days" in options and _field(task, "due_date", "date") is None:
            problems.append(("due_in_days", "object 'task' has no date field 'due_date'; add it or leave "
                                            "out due_in_days"))
        assign = options.get("assign_to", "owner")
        if assign != "owner":
            problems += env.check_user("assign_to", assign)
        return problems

    def prepare(self, options, formulas, fire):
        task = fire.doc(TASK)
        values = {"name": fire.evaluate(formulas["subject"]), link_field(task, fire.object): fire.record_id}
        if "due_in_days" in options:
            values["due_date"] = (fire.now.date() + _dt.timedelta(days=options["due_in_days"])).isoformat()
        assign = options.get("assign_to", "owner")
        owner = fire.record.get("owner_id") if assign == "owner" else fire.user_id(assign)
        if owner:
            values["owner_id"] = owner
        return {"object": TASK, "values": values}

    def run(self, ctx, options):
        return create(ctx, options["object"], options["values"])


def _field(doc, name, kind=None):
    for f in doc.get("fields") or []:
        if isinstance(f, dict) and f.get("api_name") == name and (kind is None or f.get("type") == kind):
            return f
    return None


def link_field(task_doc, obj):
    """The task field that links a task to a record of ``obj``: a lookup to it, else ``what_id``."""
    for f in task_doc.get("fields") or []:
        if isinstance(f, dict) and f.get("target") == obj and f.get("type") in field_types \
                and field_types.get(f["type"]).relates:
            return f["api_name"]
    return "what_id" if _field(task_doc, "what_id", "text") else None
