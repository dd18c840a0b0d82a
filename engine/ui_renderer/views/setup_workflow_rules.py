"""Setup → Automations (administrators): the automation rules of each object — trigger (a record
event, a time computed from a date field, or a cron schedule), condition (the live formula editor)
and actions (the shared action editor of ``setup_workflow.py``). Saved through the workflow service
with ``g.actor`` (``add_rule``, ``update_rule``, ``delete_rule``), as the REST door does; a refused
save answers 422 with every value kept and each problem under its input
(``objects.support_case.automation_rules[0].actions[2].values.due_dat`` → ``actions.2.values``).
"""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import EngineError
from engine.metadata.field_types import field_types

from .setup_objects import FormState, doc_label, field_label, object_row
from .setup_workflow import (
    _objects_with,
    action_from_form,
    action_label,
    action_labels,
    action_options,
    action_to_form,
    action_types,
    flatten,
    focus_of,
    item_of,
    object_choices,
    read_actions,
    refused,
    row_operation,
    save_refused,
    setup_workflow,
    user_choices,
    workflow,
)

KIND = "automation_rules"
TRIGGERS = (("create_or_update", _l("When a record is created or changed")), ("create", _l("When a record is created")),
            ("update", _l("When a record is changed")), ("delete", _l("When a record is deleted")),
            ("time", _l("At a time computed from a date field")), ("schedule", _l("On a schedule (cron)")))


def trigger_text(trigger):
    """A rule's trigger in words for the list."""
    if isinstance(trigger, str):
        return str(dict(TRIGGERS).get(trigger, trigger))
    if isinstance(trigger, dict) and isinstance(trigger.get("time"), dict):
        spec = trigger["time"]
        hours = spec.get("offset_hours", 0)
        if not hours:
            return _("At %(field)s", field=spec.get("field"))
        shown = f"{abs(hours):g}"
        return (_("%(hours)s hours before %(field)s", hours=shown, field=spec.get("field")) if hours < 0 else
                _("%(hours)s hours after %(field)s", hours=shown, field=spec.get("field")))
    if isinstance(trigger, dict) and "schedule" in trigger:
        return _("Cron %(schedule)s (%(zone)s)", schedule=trigger.get("schedule"), zone=trigger.get("timezone", "UTC"))
    return str(trigger)


def date_fields(doc):
    out = [("created_at", _("Created")), ("updated_at", _("Last modified"))]
    out += [(f["api_name"], f"{field_label(f)} ({f['api_name']})") for f in doc.get("fields") or []
            if f.get("type") in field_types and field_types.get(f["type"]).stored
            and field_types.get(f["type"]).formula_type in ("date", "datetime")]
    return out


def rule_to_draft(rule):
    draft = {k: ("" if rule.get(k) is None else str(rule.get(k))) for k in ("name", "label", "description", "condition",
                                                                           "run_as")}
    draft["active"] = rule.get("active", True)
    trigger = rule.get("trigger", "create_or_update")
    draft["trigger"] = {"kind": "create_or_update", "field": "", "offset_hours": "", "schedule": "", "timezone": ""}
    if isinstance(trigger, str):
        draft["trigger"]["kind"] = trigger
    elif isinstance(trigger, dict) and isinstance(trigger.get("time"), dict):
        offset = trigger["time"].get("offset_hours", 0)
        draft["trigger"].update(kind="time", field=str(trigger["time"].get("field", "")),
                                offset_hours=f"{offset:g}" if isinstance(offset, (int, float)) else str(offset))
    elif isinstance(trigger, dict) and "schedule" in trigger:
        draft["trigger"].update(kind="schedule", schedule=str(trigger.get("schedule", "")),
                                timezone=str(trigger.get("timezone", "")))
    draft["actions"] = [action_to_form(a) for a in rule.get("actions") or [] if isinstance(a, dict)]
    return draft


def rule_from_request(creating, base_name=""):
    f = request.form
    draft = {k: (f.get(k) or "").replace("\r\n", "\n").strip() for k in ("label", "description", "condition", "run_as")}
    draft["name"] = (f.get("name") or "").strip() if creating else base_name
    draft["active"] = bool(f.get("active"))
    draft["trigger"] = {"kind": (f.get("trigger") or "").strip(), "field": (f.get("trigger.time.field") or "").strip(),
                        "offset_hours": (f.get("trigger.time.offset_hours") or "").strip(),
                        "schedule": (f.get("trigger.schedule") or "").strip(),
                        "timezone": (f.get("trigger.timezone") or "").strip()}
    draft["actions"] = read_actions(f, "actions")
    return draft


def rule_from_draft(draft, form, obj, doc):
    rule = {"name": draft["name"]}
    for key in ("label", "description", "condition", "run_as"):
        if draft.get(key):
            rule[key] = draft[key]
    rule["active"] = bool(draft["active"])
    t = draft["trigger"]
    if t["kind"] == "time":
        spec = {"field": t["field"]}
        if t["offset_hours"]:
            try:
                hours = float(t["offset_hours"])
                spec["offset_hours"] = int(hours) if hours == int(hours) else hours
            except ValueError:
                form.add("trigger.time.offset_hours", _("Enter a number of hours (negative: before the date)."))
        if not t["field"]:
            form.add("trigger.time.field", _("Choose the date field the time is computed from."))
        rule["trigger"] = {"time": spec}
    elif t["kind"] == "schedule":
        if not t["schedule"]:
            form.add("trigger.schedule", _("Enter a cron schedule, such as 0 8 * * 1 (Mondays at 08:00)."))
        rule["trigger"] = {"schedule": t["schedule"]}
        if t["timezone"]:
            rule["trigger"]["timezone"] = t["timezone"]
    else:
        rule["trigger"] = t["kind"] or "create_or_update"
    rule["actions"] = [action_from_form(row, f"actions.{i}", form, obj, doc) for i, row in enumerate(draft["actions"])]
    return rule


def _rule_form(draft):
    labels = {"name": _("API name"), "label": _("Label"), "description": _("Description"), "active": _("Active"),
              "trigger": _("Trigger"), "trigger.time.field": _("Date field"),
              "trigger.time.offset_hours": _("Offset (hours)"), "trigger.schedule": _("Schedule (cron)"),
              "trigger.timezone": _("Time zone"), "condition": _("Condition (formula)"), "run_as": _("Run as"),
              "actions": _("What it does")}
    action_labels(labels, "actions", _("What it does"), draft["actions"])
    form = FormState(labels=labels)
    values = flatten({k: v for k, v in draft.items() if k != "trigger"})
    t = draft["trigger"]
    values.update({"trigger": t["kind"], "trigger.time.field": t["field"], "trigger.time.offset_hours": t["offset_hours"],
                   "trigger.schedule": t["schedule"], "trigger.timezone": t["timezone"]})
    form.values = values
    return form


def _rule_page(obj, row, draft, form, *, creating, status=200, focus=None):
    doc = row["doc"]
    return render_template(
        "engine/setup/workflow/rule_form.html", obj={"name": obj, "label": doc_label(doc)}, draft=draft, form=form,
        creating=creating, focus=focus, triggers=TRIGGERS, date_fields=date_fields(doc), users=user_choices(),
        action_types=action_types(), options=lambda kind: action_options(kind, obj, doc),
        action_label=action_label), status


@setup_workflow.get("/automations")
def automation_rules():
    only = request.args.get("object") or None
    objects = [o for o in _objects_with(KIND) if only in (None, o["name"])]
    if only and not objects:
        object_row(only)
    for o in objects:
        o["entries"] = [dict(r, trigger_text=trigger_text(r.get("trigger")), active_shown=r.get("active", True),
                           action_names=[action_label(a.get("type")) for a in r.get("actions") or []
                                         if isinstance(a, dict)]) for r in o["entries"]]
    return render_template("engine/setup/workflow/automations.html", objects=objects, only=only,
                           choices=object_choices())


@setup_workflow.get("/automations/new")
def pick_object_for_rule():
    obj = request.args.get("object") or ""
    object_row(obj)
    return redirect(url_for("setup_workflow.new_rule", object=obj))


@setup_workflow.get("/automations/<object>")
def object_automations(object):
    object_row(object)
    return redirect(url_for("setup_workflow.automation_rules", object=object))


@setup_workflow.get("/automations/<object>/new")
def new_rule(object):
    row = object_row(object)
    draft = rule_to_draft({"trigger": "create_or_update", "actions": [{"type": "field_update"}]})
    return _rule_page(object, row, draft, _rule_form(draft), creating=True)


@setup_workflow.post("/automations/<object>/new")
def create_rule(object):
    return _save_rule(object, object_row(object), None)


@setup_workflow.get("/automations/<object>/<name>")
def edit_rule(object, name):
    row = object_row(object)
    _i, rule = item_of(row["doc"], KIND, name)
    draft = rule_to_draft(rule)
    return _rule_page(object, row, draft, _rule_form(draft), creating=False)


@setup_workflow.post("/automations/<object>/<name>")
def save_rule(object, name):
    return _save_rule(object, object_row(object), name)


def _save_rule(obj, row, name):
    creating = name is None
    if creating:
        index, base = len(row["doc"].get(KIND) or []), {}
    else:
        index, base = item_of(row["doc"], KIND, name)
    draft = rule_from_request(creating, name or "")
    added = row_operation(draft)
    if added is not None:
        return _rule_page(obj, row, draft, _rule_form(draft), creating=creating, focus=focus_of(added))
    form = _rule_form(draft)
    rule = rule_from_draft(draft, form, obj, row["doc"])
    if creating and not draft["name"]:
        form.add("name", _("Enter an API name: lowercase letters, digits and _, such as escalate_high_priority."))
    if not form.errors:
        try:
            if creating:
                workflow().add_rule(obj, rule, g.actor)
            else:
                patch = {k: rule.get(k) for k in set(base) | set(rule) if k != "name"}
                workflow().update_rule(obj, name, patch, g.actor)
        except EngineError as exc:
            save_refused(form, exc, obj, KIND, index)
        else:
            flash(_("Automation rule '%(label)s' was saved.", label=rule.get("label") or rule["name"]), "success")
            return redirect(url_for("setup_workflow.automation_rules", object=obj), code=303)
    return _rule_page(obj, row, draft, form, creating=creating, status=422)


@setup_workflow.post("/automations/<object>/<name>/delete")
def delete_rule(object, name):
    object_row(object)
    try:
        workflow().delete_rule(object, name, g.actor)
    except EngineError as exc:
        if not refused(exc):
            raise
        flash(exc.message, "error")
    else:
        flash(_("Automation rule '%(name)s' was deleted.", name=name), "success")
    return redirect(url_for("setup_workflow.automation_rules", object=object), code=303)
