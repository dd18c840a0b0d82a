"""Setup → Approvals (administrators): the approval processes of each object, and the pieces every
workflow form shares — the action editor (actions of the registry, their inputs derived from each
action's ``options_schema``), row operations (add, remove, move up) and how a refused save finds
its inputs. Automation rules are in ``setup_workflow_rules.py``, the outbox in
``setup_workflow_outbox.py``.

A process is edited as one form whose inputs are named after the document's paths
(``entry_criteria``, ``steps.1.criteria``, ``steps.1.approvers.0.role``, ``on_approve.1.subject``),
so that a problem the engine reports at ``objects.quote.approval_processes[0].steps[1].criteria``
lands under the ``steps.1.criteria`` input (:func:`~.setup_objects.apply_error`). Rows are added,
removed and moved by buttons that post the form and show it again with the change (200, nothing
saved): every page works without JavaScript, and each formula gets the live editor. Saving calls
the approval service with ``g.actor`` — ``add_process``, ``update_process``, ``delete_process`` —
exactly as the REST door does.
"""
from __future__ import annotations

import json
import re

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import EngineError, NotFound

from ..auth import page_blueprint, services
from .setup_objects import FormState, apply_error, doc_label, field_label, object_row, object_rows, refused

setup_workflow = page_blueprint("setup_workflow", __name__, url_prefix="/setup", admin=True)

MAX_ROWS = 20
ACTION_LISTS = (("on_submit", _l("When submitted")), ("on_approve", _l("When approved")),
                ("on_reject", _l("When rejected")), ("on_recall", _l("When recalled")))
APPROVER_TYPES = (("user", _l("A user")), ("role", _l("Everyone in a role")),
                  ("manager", _l("The submitter's manager")), ("owner_manager", _l("The owner's manager")),
                  ("field", _l("A user named by a field")))
APPROVER_KEY = {"user": "user", "role": "role", "manager": "levels", "owner_manager": "levels", "field": "field"}
DECISIONS = (("first", _l("The first answer decides")), ("unanimous", _l("Everyone must approve")),
             ("quorum", _l("A number of approvals")), ("percent", _l("A percentage of the approvers")))
LOCK_MODES = (("approvers_and_admins", _l("Approvers and administrators may edit")),
              ("locked", _l("Only administrators may edit")), ("none", _l("Not locked")))
ON_REJECT = (("reject", _l("Reject the request")), ("back", _l("Send back to the previous step")))
ON_DEADLINE = (("escalate", _l("Escalate to the approver's manager")), ("approve", _l("Approve the step")),
               ("reject", _l("Reject the step")))
ACTION_LABELS = {"field_update": _l("Field update"), "send_email": _l("Send an e-mail"),
                 "create_record": _l("Create a record"), "update_related": _l("Update a related record"),
                 "create_task": _l("Create a task"), "webhook": _l("Webhook")}
OPTION_LABELS = {"field": _l("Field"), "value": _l("New value (formula)"), "object": _l("Object"),
                 "values": _l("Values"), "relation": _l("Related record (lookup path)"), "to": _l("To"),
                 "subject": _l("Subject (formula)"), "body": _l("Body (formula)"), "due_in_days": _l("Due in (days)"),
                 "assign_to": _l("Assign to"), "url": _l("URL"), "secret_ref": _l("Signing secret"),
                 "payload": _l("Fields to send"), "label": _l("Label (optional)")}
OPTION_HELP = {
    "values": _l("One a line: field = formula, for example due_date = TODAY() + 1."),
    "to": _l("One a line: owner, submitter (approvals), user:<username>, or a formula giving an address."),
    "assign_to": _l("owner (the record's owner) or user:<username>."),
    "payload": _l("API names separated by commas; empty sends every field."),
    "relation": _l("A lookup field, or a path of lookups such as account.parent."),
    "value": _l("A formula, for example 'Approved' (text in quotes), TRUE or TODAY() + 7."),
}


# -- the shared pieces --------------------------------------------------------------------------------
def workflow():
    return services().extensions["workflow"]


def approvals():
    return services().extensions["approvals"]


def action_registry():
    from engine.workflow.actions import actions

    return actions


def action_label(key):
    label = ACTION_LABELS.get(key)
    if label is not None:
        return str(label)
    try:
        return action_registry().get(key).label or key
    except Exception:  # noqa: BLE001 - an unknown type is shown by its key
        return key


ACTION_ORDER = ("field_update", "send_email", "create_record", "create_task", "update_related", "webhook")


def action_types():
    """``[(key, label)]`` of the registered actions: the built-in ones first, then plugins by label."""
    keys = list(action_registry().keys())
    first = [k for k in ACTION_ORDER if k in keys]
    return [(k, action_label(k)) for k in first + sorted((k for k in keys if k not in first),
                                                         key=lambda k: str(action_label(k)))]


class Option:
    """One input of an action row: the option ``key`` and how it is entered."""

    def __init__(self, key, kind, *, label=None, help=None, required=False, choices=(), return_type=None,
                 integer=False):
        self.key, self.kind, self.required = key, kind, required
        self.label = str(label or OPTION_LABELS.get(key) or key.replace("_", " ").capitalize())
        self.help = help if help is not None else (str(OPTION_HELP[key]) if key in OPTION_HELP else None)
        self.choices, self.return_type, self.integer = list(choices), return_type, integer


def action_options(key, obj, doc):
    """The inputs of an action of type ``key`` on object ``obj`` (document ``doc``): tailored inputs
    for the keys of the built-in actions, generic ones (by JSON Schema type) for a plugin's."""
    try:
        action = action_registry().get(key)
    except Exception:  # noqa: BLE001
        return [Option("label", "text")]
    schema = action.options_schema or {}
    required = set(schema.get("required", []))
    formulas = dict(getattr(action, "formula_keys", ()) or ())
    out = [Option("label", "text")]
    for name, prop in (schema.get("properties") or {}).items():
        req = name in required
        if key == "field_update" and name == "field":
            out.append(Option(name, "select", required=req, choices=writable_fields(doc)))
        elif key == "field_update" and name == "value":
            out.append(Option(name, "formula", required=req))
        elif name == "object" and key == "create_record":
            out.append(Option(name, "select", required=req, choices=object_choices()))
        elif name in formulas or "a formula" in str(prop.get("description", "")) and prop.get("type") == "string":
            out.append(Option(name, "formula", required=req, return_type=formulas.get(name)))
        elif name == "to" and key == "send_email":
            out.append(Option(name, "lines", required=req))
        elif name == "secret_ref" and (services().config.webhook_secrets or {}):
            out.append(Option(name, "select", required=req,
                              choices=[(s, s) for s in sorted(services().config.webhook_secrets)]))
        elif prop.get("type") in ("integer", "number"):
            out.append(Option(name, "number", required=req, integer=prop.get("type") == "integer",
                              help=prop.get("description")))
        elif prop.get("type") == "string":
            out.append(Option(name, "text", required=req, help=None if name in OPTION_HELP else prop.get("description")))
        elif prop.get("type") == "object" and (prop.get("additionalProperties") or {}).get("type") == "string":
            out.append(Option(name, "map", required=req))
        elif prop.get("type") == "array" and (prop.get("items") or {}).get("type") == "string":
            out.append(Option(name, "list", required=req))
        else:
            out.append(Option(name, "json", required=req, help=_("JSON.")))
    return out


def object_choices():
    return sorted(((n, doc_label(r["doc"])) for n, r in object_rows().items()), key=lambda c: str(c[1]).lower())


def writable_fields(doc):
    """``[(api_name, label)]`` of the fields a field update may set."""
    from engine.metadata.field_types import field_types

    out = [("name", _("Name")), ("owner_id", _("Owner"))]
    for f in doc.get("fields") or []:
        ftype = field_types.get(f["type"]) if f.get("type") in field_types else None
        if ftype is not None and ftype.writable:
            out.append((f["api_name"], f"{field_label(f)} ({f['api_name']})"))
    return out


def user_choices():
    return [(u["username"], u["username"]) for u in services().access.list_users(g.actor) if u["active"]]


def role_choices():
    return [(r["api_name"], r.get("label") or r["api_name"]) for r in services().access.list_roles(g.actor)]


def user_fields(doc):
    out = [("owner_id", _("Owner")), ("created_by", _("Created by")), ("updated_by", _("Modified by"))]
    out += [(f["api_name"], f"{field_label(f)} ({f['api_name']})") for f in doc.get("fields") or []
            if f.get("type") == "text"]
    return out


# -- actions: document <-> form -----------------------------------------------------------------------
def action_to_form(adoc):
    """A stored action document as the form's row (every value as text)."""
    row = {"type": adoc.get("type", "")}
    for key, value in adoc.items():
        if key == "type":
            continue
        if key == "to" and isinstance(value, list):
            row[key] = "\n".join(str(v) for v in value)
        elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            row[key] = "\n".join(f"{k} = {v}" for k, v in value.items())
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            row[key] = ", ".join(value)
        elif isinstance(value, (dict, list)):
            row[key] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, bool):
            row[key] = "true" if value else "false"
        else:
            row[key] = "" if value is None else str(value)
    return row


_LINE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.*\S)\s*$")


def action_from_form(row, path, form, obj, doc):
    """The action document of one form row; problems the form can tell go into ``form``."""
    kind = row.get("type", "")
    adoc = {"type": kind}
    for opt in action_options(kind, obj, doc):
        raw = (row.get(opt.key) or "").strip() if opt.kind != "formula" else (row.get(opt.key) or "").strip()
        name = f"{path}.{opt.key}"
        if not raw:
            continue
        if opt.kind == "number":
            try:
                value = int(raw) if opt.integer else float(raw)
                adoc[opt.key] = int(value) if not opt.integer and value == int(value) else value
            except ValueError:
                form.add(name, _("Enter a whole number.") if opt.integer else _("Enter a number."))
        elif opt.kind == "lines":
            lines = [line.strip() for line in raw.splitlines() if line.strip()]
            adoc[opt.key] = lines[0] if len(lines) == 1 else lines
        elif opt.kind == "list":
            adoc[opt.key] = [p for p in re.split(r"[\s,]+", raw) if p]
        elif opt.kind == "map":
            values = {}
            for n, line in enumerate(raw.splitlines(), start=1):
                if not line.strip():
                    continue
                m = _LINE.match(line)
                if m is None:
                    form.add(name, _("Line %(n)s: write field = formula.", n=n))
                    continue
                values[m.group(1)] = m.group(2)
            adoc[opt.key] = values
        elif opt.kind == "json":
            try:
                adoc[opt.key] = json.loads(raw)
            except ValueError:
                form.add(name, _("Enter valid JSON."))
        else:
            adoc[opt.key] = raw
    return adoc


def flatten(value, prefix="", out=None):
    """``{"steps.0.name": "manager", ...}``: a form draft as the form's input values."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    else:
        out[prefix] = value
    return out


def read_rows(form, prefix, marker):
    """The rows posted under ``prefix`` (``steps``, ``on_approve``, ``steps.0.approvers``), in order,
    each as ``{key: value}`` of its direct inputs; a row exists when its ``marker`` input was posted."""
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)\.{re.escape(marker)}$")
    indices = sorted({int(m.group(1)) for k in form for m in [pattern.match(k)] if m})[:MAX_ROWS]
    rows = []
    for i in indices:
        head = f"{prefix}.{i}."
        rows.append({k[len(head):]: form.get(k) for k in form if k.startswith(head) and "." not in k[len(head):]})
    return rows, indices


def read_actions(form, key):
    rows, _indices = read_rows(form, key, "type")
    return [{k: (v if k == "type" else v.replace("\r\n", "\n")) for k, v in r.items()} for r in rows]


def row_operation(draft):
    """Carry out the row button pressed (``_do`` = ``add:steps``, ``remove:on_approve.1``,
    ``up:steps.2``); returns the path of a row added (to focus it) or True, or None when the form
    was posted to be saved."""
    do = request.form.get("_do") or ""
    verb, _sep, path = do.partition(":")
    if verb not in ("add", "remove", "up") or not path:
        return None
    parts = path.split(".")
    try:
        if verb == "add":
            rows = _walk(draft, parts)
            if len(rows) >= MAX_ROWS:
                return True
            kind = (request.form.get(f"_type.{path}") or "").strip()
            rows.append(new_row(parts[-1], kind))
            return f"{path}.{len(rows) - 1}"
        rows, index = _walk(draft, parts[:-1]), int(parts[-1])
        if verb == "remove" and 0 <= index < len(rows):
            rows.pop(index)
        elif verb == "up" and 0 < index < len(rows):
            rows[index - 1], rows[index] = rows[index], rows[index - 1]
    except (KeyError, ValueError, IndexError, TypeError):
        pass
    return True


def _walk(draft, parts):
    node = draft
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, [])
    if not isinstance(node, list):
        raise TypeError(parts)
    return node


def new_row(list_key, kind):
    if list_key == "steps":
        return {"name": "", "label": "", "criteria": "", "decision": "first", "decision_number": "", "on_reject": "",
                "deadline_hours": "", "on_deadline": "", "approvers": []}
    if list_key == "approvers":
        kind = kind if kind in APPROVER_KEY else "user"
        return {"type": kind, APPROVER_KEY[kind]: "1" if APPROVER_KEY[kind] == "levels" else ""}
    kind = kind if kind in action_registry() else "field_update"
    return {"type": kind}


def focus_of(added):
    """The input to focus after a row was added at ``added`` (``steps.1``, ``on_approve.0``)."""
    if not isinstance(added, str):
        return None
    parts = added.split(".")
    if parts[0] == "steps" and len(parts) == 2:
        return f"{added}.name"
    if len(parts) >= 3 and parts[-2] == "approvers":
        return None
    return f"{added}.label"


def prefixes(obj, kind, index):
    return (rf"objects\.{re.escape(obj)}\.{kind}\[{index}\]\.?",)


def save_refused(form, exc, obj, kind, index):
    """Put a refusal of the services into ``form`` (re-raised when the admin cannot correct it)."""
    if not refused(exc):
        raise exc
    apply_error(form, exc, prefixes(obj, kind, index))


def item_of(doc, kind, name):
    for i, item in enumerate(doc.get(kind) or []):
        if isinstance(item, dict) and item.get("name") == name:
            return i, item
    what = _("approval process") if kind == "approval_processes" else _("automation rule")
    raise NotFound("workflow.E601" if kind == "approval_processes" else "workflow.E703",
                   f"Unknown {what} '{name[:40]}'.")


# -- approval processes: document <-> form ----------------------------------------------------------------
def process_to_draft(doc):
    """A stored process (or a new one) as the form's draft: text values, nested rows."""
    draft = {k: ("" if doc.get(k) is None else str(doc.get(k))) for k in ("name", "label", "description",
                                                                          "entry_criteria")}
    draft.update(active=doc.get("active", True), allow_recall=bool(doc.get("allow_recall")),
                 order="" if doc.get("order") is None else str(doc["order"]), lock=doc.get("lock", "approvers_and_admins"))
    draft["steps"] = []
    for step in doc.get("steps") or []:
        decision, number = step.get("decision", "first"), ""
        if isinstance(decision, dict) and len(decision) == 1:
            (decision, number), = decision.items()
        row = {k: ("" if step.get(k) is None else str(step.get(k))) for k in (
            "name", "label", "criteria", "on_reject", "on_deadline")}
        hours = step.get("deadline_hours")
        row.update(decision=str(decision), decision_number=str(number),
                   deadline_hours="" if hours is None else f"{hours:g}" if isinstance(hours, (int, float)) else str(hours),
                   approvers=[{k: str(v) for k, v in a.items()} for a in step.get("approvers") or []
                              if isinstance(a, dict)])
        draft["steps"].append(row)
    for key, _label in ACTION_LISTS:
        draft[key] = [action_to_form(a) for a in doc.get(key) or [] if isinstance(a, dict)]
    return draft


def process_from_request(creating, base_name=""):
    """The draft posted by the process form."""
    f = request.form
    draft = {k: (f.get(k) or "").replace("\r\n", "\n").strip() for k in ("label", "description", "entry_criteria",
                                                                         "order", "lock")}
    draft["name"] = (f.get("name") or "").strip() if creating else base_name
    draft["active"] = bool(f.get("active"))
    draft["allow_recall"] = bool(f.get("allow_recall"))
    steps, indices = read_rows(f, "steps", "name")
    draft["steps"] = []
    for row, i in zip(steps, indices):
        step = {k: (row.get(k) or "").replace("\r\n", "\n").strip() for k in (
            "name", "label", "criteria", "decision", "decision_number", "on_reject", "deadline_hours", "on_deadline")}
        step["approvers"] = [{k: (v or "").strip() for k, v in a.items()}
                             for a in read_rows(f, f"steps.{i}.approvers", "type")[0]]
        draft["steps"].append(step)
    for key, _label in ACTION_LISTS:
        draft[key] = read_actions(f, key)
    return draft


def process_from_draft(draft, form, obj, doc):
    """The process document of a draft; problems the form can tell go into ``form``."""
    process = {"name": draft["name"]}
    for key in ("label", "description", "entry_criteria"):
        if draft.get(key):
            process[key] = draft[key]
    process["active"] = bool(draft["active"])
    if draft.get("order"):
        if re.fullmatch(r"\d{1,4}", draft["order"]):
            process["order"] = int(draft["order"])
        else:
            form.add("order", _("Enter a whole number (0 first)."))
    process["allow_recall"] = bool(draft["allow_recall"])
    process["lock"] = draft.get("lock") or "approvers_and_admins"
    process["steps"] = []
    for i, row in enumerate(draft["steps"]):
        path = f"steps.{i}"
        step = {"name": row["name"]} if row["name"] else {}
        for key in ("label", "criteria", "on_reject", "on_deadline"):
            if row.get(key):
                step[key] = row[key]
        decision, number = row.get("decision") or "first", row.get("decision_number") or ""
        if decision in ("quorum", "percent"):
            if re.fullmatch(r"\d{1,3}", number):
                step["decision"] = {decision: int(number)}
            else:
                form.add(f"{path}.decision_number", _("Enter how many approvals are needed.") if decision == "quorum"
                         else _("Enter the percentage of approvers (1 to 100)."))
        else:
            step["decision"] = decision
        if row.get("deadline_hours"):
            try:
                hours = float(row["deadline_hours"])
                step["deadline_hours"] = int(hours) if hours == int(hours) else hours
            except ValueError:
                form.add(f"{path}.deadline_hours", _("Enter a number of hours."))
        step["approvers"] = []
        for j, a in enumerate(row["approvers"]):
            kind = a.get("type", "")
            key = APPROVER_KEY.get(kind)
            approver = {"type": kind}
            value = a.get(key, "") if key else ""
            if key == "levels":
                if value and not value.isdigit():
                    form.add(f"{path}.approvers.{j}.levels", _("Enter a whole number of levels (1 is the manager)."))
                elif value:
                    approver["levels"] = int(value)
            elif key and value:
                approver[key] = value
            step["approvers"].append(approver)
        process["steps"].append(step)
    for key, _label in ACTION_LISTS:
        if draft[key]:
            process[key] = [action_from_form(row, f"{key}.{i}", form, obj, doc) for i, row in enumerate(draft[key])]
    return process


def process_labels(draft):
    labels = {"name": _("API name"), "label": _("Label"), "description": _("Description"), "active": _("Active"),
              "order": _("Order"), "entry_criteria": _("Entry criteria (formula)"),
              "allow_recall": _("The submitter may recall a pending request"), "lock": _("While pending"),
              "steps": _("Steps")}
    for i, step in enumerate(draft["steps"]):
        n = i + 1
        for key, label in (("name", _("API name")), ("label", _("Label")), ("criteria", _("Criteria (formula)")),
                           ("decision", _("Decision")), ("decision_number", _("Approvals needed")),
                           ("on_reject", _("When rejected")), ("deadline_hours", _("Deadline (hours)")),
                           ("on_deadline", _("At the deadline")), ("approvers", _("Approvers"))):
            labels[f"steps.{i}.{key}"] = _("Step %(n)s: %(what)s", n=n, what=label)
        for j, a in enumerate(step["approvers"]):
            key = APPROVER_KEY.get(a.get("type"), "type")
            labels[f"steps.{i}.approvers.{j}.{key}"] = _("Step %(n)s: approver %(m)s", n=n, m=j + 1)
            labels[f"steps.{i}.approvers.{j}.type"] = _("Step %(n)s: approver %(m)s", n=n, m=j + 1)
    for key, title in ACTION_LISTS:
        labels[key] = str(title)
        action_labels(labels, key, str(title), draft[key])
    return labels


def action_labels(labels, key, title, rows):
    for i, row in enumerate(rows):
        labels[f"{key}.{i}.type"] = _("%(list)s, action %(n)s", list=title, n=i + 1)
        for opt in ("field", "value", "object", "values", "relation", "to", "subject", "body", "due_in_days",
                    "assign_to", "url", "secret_ref", "payload", "label"):
            if opt in row or opt == "label":
                labels[f"{key}.{i}.{opt}"] = _("%(list)s, action %(n)s: %(what)s", list=title, n=i + 1,
                                               what=OPTION_LABELS.get(opt, opt))
        for opt in row:
            labels.setdefault(f"{key}.{i}.{opt}", _("%(list)s, action %(n)s: %(what)s", list=title, n=i + 1,
                                                    what=opt.replace("_", " ")))


# -- approval pages -------------------------------------------------------------------------------------------
def _objects_with(kind):
    rows = object_rows()
    out = []
    for name, row in sorted(rows.items(), key=lambda r: doc_label(r[1]["doc"]).lower()):
        items = [i for i in row["doc"].get(kind) or [] if isinstance(i, dict)]
        out.append({"name": name, "label": doc_label(row["doc"]), "entries": items})
    return out


@setup_workflow.get("/approvals")
def approval_processes():
    only = request.args.get("object") or None
    objects = [o for o in _objects_with("approval_processes") if only in (None, o["name"])]
    if only and not objects:
        object_row(only)     # 404 with the known names
    for o in objects:
        o["entries"] = sorted((dict(p, steps_count=len(p.get("steps") or []), order_shown=p.get("order", 0),
                                  active_shown=p.get("active", True),
                                  actions_count=sum(len(p.get(k) or []) for k, _l in ACTION_LISTS))
                             for p in o["entries"]), key=lambda p: p["order_shown"])
    return render_template("engine/setup/workflow/approvals.html", objects=objects, only=only,
                           choices=object_choices())


@setup_workflow.get("/approvals/<object>")
def object_approvals(object):
    object_row(object)
    return redirect(url_for("setup_workflow.approval_processes", object=object))


@setup_workflow.get("/approvals/new")
def pick_object_for_process():
    obj = request.args.get("object") or ""
    object_row(obj)
    return redirect(url_for("setup_workflow.new_process", object=obj))


def _process_page(obj, row, draft, form, *, creating, status=200, focus=None):
    doc = row["doc"]
    types = action_types()
    return render_template(
        "engine/setup/workflow/process_form.html", obj={"name": obj, "label": doc_label(doc)}, draft=draft, form=form,
        creating=creating, focus=focus, action_lists=ACTION_LISTS, action_types=types,
        approver_types=APPROVER_TYPES, decisions=DECISIONS, locks=LOCK_MODES, on_reject=ON_REJECT,
        on_deadline=ON_DEADLINE, users=user_choices(), roles=role_choices(), user_fields=user_fields(doc),
        options=lambda kind: action_options(kind, obj, doc), action_label=action_label), status


def _process_form(draft):
    form = FormState(labels=process_labels(draft))
    form.values = flatten(draft)
    return form


@setup_workflow.get("/approvals/<object>/new")
def new_process(object):
    row = object_row(object)
    draft = process_to_draft({"steps": [{"name": "", "approvers": []}]})
    draft["steps"][0]["approvers"] = [new_row("approvers", "manager")]
    return _process_page(object, row, draft, _process_form(draft), creating=True)


@setup_workflow.post("/approvals/<object>/new")
def create_process(object):
    row = object_row(object)
    return _save_process(object, row, None)


@setup_workflow.get("/approvals/<object>/<name>")
def edit_process(object, name):
    row = object_row(object)
    _i, process = item_of(row["doc"], "approval_processes", name)
    draft = process_to_draft(process)
    return _process_page(object, row, draft, _process_form(draft), creating=False)


@setup_workflow.post("/approvals/<object>/<name>")
def save_process(object, name):
    row = object_row(object)
    return _save_process(object, row, name)


def _save_process(obj, row, name):
    creating = name is None
    if not creating:
        index, base = item_of(row["doc"], "approval_processes", name)
    else:
        index, base = len(row["doc"].get("approval_processes") or []), {}
    draft = process_from_request(creating, name or "")
    added = row_operation(draft)
    if added is not None:      # a row button: show the form again with the change, nothing saved
        return _process_page(obj, row, draft, _process_form(draft), creating=creating, focus=focus_of(added))
    form = _process_form(draft)
    process = process_from_draft(draft, form, obj, row["doc"])
    if creating and not draft["name"]:
        form.add("name", _("Enter an API name: lowercase letters, digits and _, such as discount_approval."))
    if not form.errors:
        try:
            if creating:
                approvals().add_process(obj, process, g.actor)
            else:
                patch = {k: process.get(k) for k in set(base) | set(process) if k != "name"}
                approvals().update_process(obj, name, patch, g.actor)
        except EngineError as exc:
            save_refused(form, exc, obj, "approval_processes", index)
        else:
            flash(_("Approval process '%(label)s' was saved.", label=process.get("label") or process["name"]),
                  "success")
            return redirect(url_for("setup_workflow.approval_processes", object=obj), code=303)
    return _process_page(obj, row, draft, form, creating=creating, status=422)


@setup_workflow.post("/approvals/<object>/<name>/delete")
def delete_process(object, name):
    object_row(object)
    try:
        approvals().delete_process(object, name, g.actor)
    except EngineError as exc:
        if not refused(exc):
            raise
        flash(exc.message, "error")
    else:
        flash(_("Approval process '%(name)s' was deleted.", name=name), "success")
    return redirect(url_for("setup_workflow.approval_processes", object=object), code=303)


from . import setup_workflow_outbox, setup_workflow_rules  # noqa: E402,F401  (their routes)
