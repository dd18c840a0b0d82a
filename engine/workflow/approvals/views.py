"""What the doors show of approvals: a request with its steps and approvers, history entries in
plain words ("Approved by 'bob' on behalf of 'mike'."), and inbox entries. JSON-ready dicts."""
from __future__ import annotations

import json

from ..tables import iso


def _name(names, user_id):
    if user_id is None:
        return None
    return names.get(user_id, user_id)


def item_json(item, names):
    decided_by = item["decided_by"]
    return {"id": item["id"], "user": _name(names, item["approver_id"]), "slot": item["slot"],
            "status": item["status"], "origin": item["origin"], "comment": item["comment"],
            "decided_by": _name(names, decided_by), "decided_at": iso(item["decided_at"]),
            "on_behalf_of": _name(names, item["approver_id"]) if decided_by and decided_by != item["approver_id"]
            and item["status"] in ("approved", "rejected") else None}


def step_json(step, step_items, names):
    mine = [i for i in step_items if i["step_id"] == step["id"]]
    slots = {}
    for i in mine:
        if i["status"] in ("approved", "rejected"):
            slots[i["slot"]] = i["status"]
    return {"id": step["id"], "name": step["name"], "label": step["label"], "status": step["status"],
            "decision": step["rule"], "required": step["required"],
            "approvals": sum(1 for v in slots.values() if v == "approved"),
            "rejections": sum(1 for v in slots.values() if v == "rejected"),
            "started_at": iso(step["started_at"]), "decided_at": iso(step["decided_at"]),
            "deadline_at": iso(step["deadline_at"]), "approvers": [item_json(i, names) for i in mine]}


def request_view(req, step_rows, item_rows, names):
    process = json.loads(req["process_doc"])
    current = next((s for s in step_rows if s["id"] == req["current_step_id"]), None)
    return {"id": req["id"], "object": req["object"], "record_id": req["record_id"], "process": req["process"],
            "process_label": req["process_label"], "status": req["status"], "lock": req["lock_mode"],
            "allow_recall": bool(process.get("allow_recall", False)),
            "submitted_by": _name(names, req["submitter_id"]), "submitted_at": iso(req["submitted_at"]),
            "decided_at": iso(req["decided_at"]), "comment": req["comment"],
            "step": step_json(current, item_rows, names) if current is not None and req["status"] == "pending" else None,
            "steps": [step_json(s, item_rows, names) for s in step_rows]}


def _quoted(values):
    return ", ".join(f"'{v}'" for v in values)


def describe(entry, names):
    """One history entry in plain words."""
    who = _name(names, entry["actor_id"]) or "the system"
    behalf = _name(names, entry["on_behalf_of"])
    by = f"by '{who}'" + (f" on behalf of '{behalf}'" if behalf else "")
    details = json.loads(entry["details"]) if entry["details"] else {}
    step = details.get("step_label") or entry["step_name"]
    action = entry["action"]
    if action == "submitted":
        return f"Submitted {by} to '{details.get('label')}'."
    if action == "step_started":
        return (f"Step '{step}' started: approvers {_quoted(details.get('approvers', []))} "
                f"({details.get('decision')}).")
    if action == "skipped":
        return f"Step '{step}' skipped: its criteria ({details.get('criteria')}) do not hold."
    if action in ("approved", "rejected", "recalled"):
        return f"{action.capitalize()} {by}."
    if action == "reassigned":
        return f"Reassigned from '{details.get('from')}' to '{details.get('to')}' {by}."
    if action in ("step_approved", "step_rejected"):
        return f"Step '{step}' {action[5:]}."
    if action == "sent_back":
        return f"Step '{step}' sent back to '{details.get('label')}'."
    if action in ("request_approved", "request_rejected"):
        return f"Request {action[8:]}."
    if action == "escalated":
        pairs = [f"'{a}' to '{b}'" for a, b in zip(details.get("from", []), details.get("to", []))]
        if not pairs:
            return f"Deadline of {details.get('hours'):g} hours passed: nobody to escalate to (no active manager)."
        return f"Deadline of {details.get('hours'):g} hours passed: escalated from {', '.join(pairs)}."
    if action in ("deadline_approve", "deadline_reject"):
        verb = "approved" if action == "deadline_approve" else "rejected"
        return f"Deadline of {details.get('hours'):g} hours passed: step '{step}' {verb} automatically."
    if action == "cancelled":
        return f"Cancelled: {details.get('reason', 'the record is gone')}."
    return action


def history_view(entry, names):
    return {"id": entry["id"], "request_id": entry["request_id"], "at": iso(entry["created_at"]),
            "action": entry["action"], "step": entry["step_name"], "user": _name(names, entry["actor_id"]),
            "on_behalf_of": _name(names, entry["on_behalf_of"]), "comment": entry["comment"],
            "details": json.loads(entry["details"]) if entry["details"] else None,
            "message": describe(entry, names)}


def item_view(row, names, record_names, actor):
    label, record_name = record_names.get((row["object"], row["record_id"]), (row["object"], None))
    return {"id": row["id"], "request_id": row["request_id"], "object": row["object"], "object_label": label,
            "record_id": row["record_id"], "record_name": record_name, "process": row["process"],
            "process_label": row["process_label"], "step": row["step_name"], "step_label": row["step_label"],
            "origin": row["origin"], "submitted_by": _name(names, row["submitter_id"]),
            "submitted_at": iso(row["submitted_at"]), "assigned_at": iso(row["created_at"]),
            "deadline_at": iso(row["deadline_at"]),
            "on_behalf_of": _name(names, row["approver_id"]) if row["approver_id"] != actor.user_id else None}
