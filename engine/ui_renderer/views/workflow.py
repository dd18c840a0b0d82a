"""The workflow pages every signed-in user sees (blueprint ``workflow_pages``): the approval inbox
(``/approvals``), the approval operations of a record (submit, approve, reject, recall, reassign:
``POST /o/<object>/<id>/approval/<operation>``), the user's own delegate (``/me``), and what the
record page shows of workflow — the approval panel with its history, the lock notice and the run
log (:func:`record_workflow`, called by ``views/records.py``).

Every operation calls the approval service (``services().extensions["approvals"]``) with
``g.actor``, as the REST door does: the service decides who may do what. A refusal the user can act
on (``WorkflowError``, ``ConflictError``, ``InvalidRequestError``: no process applies, already
decided, an unknown user to reassign to) answers 422 with the page again, the comment kept and the
message next to the input; a caller who may not act gets the 403 (or 404) error page.
"""
from __future__ import annotations

import re

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from engine.db import APPROVALS, RUN_LOG, read_connection
from engine.errors import ConflictError, EngineError, InvalidRequestError, MetadataError, WorkflowError

from .. import i18n
from ..auth import page_blueprint, records, services
from ..messages import translate_message
from ..viewmodels import object_view, system_label

workflow_pages = page_blueprint("workflow_pages", __name__)

OPERATIONS = ("submit", "approve", "reject", "recall", "reassign")
RUNS_SHOWN = 50
REFUSALS = (WorkflowError, ConflictError, InvalidRequestError)

REQUEST_STATUS = {"pending": _l("Pending"), "approved": _l("Approved"), "rejected": _l("Rejected"),
                  "recalled": _l("Recalled"), "cancelled": _l("Cancelled")}
STEP_STATUS = {"pending": _l("In progress"), "approved": _l("Approved"), "rejected": _l("Rejected"),
               "skipped": _l("Skipped"), "back": _l("Sent back"), "closed": _l("Closed")}
ITEM_STATUS = {"pending": _l("Waiting"), "approved": _l("Approved"), "rejected": _l("Rejected"),
               "reassigned": _l("Reassigned"), "closed": _l("Closed")}
RUN_STATUS = {"fired": _l("Fired"), "done": _l("Done"), "skipped": _l("Skipped"), "retry": _l("Will retry"),
              "error": _l("Error"), "dead": _l("Dead")}
LOCKS = {"none": _l("Not locked"), "approvers_and_admins": _l("Approvers and administrators may edit"),
         "locked": _l("Only administrators may edit")}
EVENTS = {"create": _l("created"), "update": _l("updated"), "delete": _l("deleted"), "time": _l("time reached"),
          "schedule": _l("on schedule")}


def approvals():
    return services().extensions["approvals"]


def workflow():
    return services().extensions["workflow"]


# -- words -------------------------------------------------------------------------------------------
def decision_text(rule, required):
    """A step's decision rule in words ("2 approvals")."""
    if rule == "first":
        return _("first answer decides")
    if rule == "unanimous":
        return _("all must approve")
    return _("%(n)s approvals needed", n=required)


_DECISION = ((re.compile(r"first answer decides$"), lambda m: _("first answer decides")),
             (re.compile(r"all must approve$"), lambda m: _("all must approve")),
             (re.compile(r"(\d+) approvals$"), lambda m: _("%(n)s approvals", n=m.group(1))),
             (re.compile(r"(\d+)% of the approvers$"), lambda m: _("%(n)s%% of the approvers", n=m.group(1))))


def _decision_words(text):
    for pattern, words in _DECISION:
        m = pattern.match(text or "")
        if m:
            return words(m)
    return text or ""


def _quoted(names):
    if i18n.current_locale() == "zh_CN":
        return "、".join(f"“{n}”" for n in names)
    return ", ".join(f"'{n}'" for n in names)


def history_line(h):
    """One approval history entry in the page's language ("Approved by 'bob' on behalf of 'mike'.")."""
    d = h.get("details") or {}
    user, other = h.get("user") or _("the system"), h.get("on_behalf_of")
    step = d.get("step_label") or h.get("step") or ""
    action = h["action"]
    if action == "submitted":
        if other:
            return _("Submitted by '%(user)s' on behalf of '%(other)s' to '%(process)s'.", user=user, other=other,
                     process=d.get("label", ""))
        return _("Submitted by '%(user)s' to '%(process)s'.", user=user, process=d.get("label", ""))
    if action in ("approved", "rejected", "recalled"):
        words = {"approved": (_("Approved by '%(user)s'."), _("Approved by '%(user)s' on behalf of '%(other)s'.")),
                 "rejected": (_("Rejected by '%(user)s'."), _("Rejected by '%(user)s' on behalf of '%(other)s'.")),
                 "recalled": (_("Recalled by '%(user)s'."), _("Recalled by '%(user)s' on behalf of '%(other)s'."))}
        plain, behalf = words[action]
        return (behalf if other else plain) % {"user": user, "other": other}
    if action == "step_started":
        return _("Step '%(step)s' started: approvers %(approvers)s (%(decision)s).", step=step,
                 approvers=_quoted(d.get("approvers", [])), decision=_decision_words(d.get("decision")))
    if action == "skipped":
        return _("Step '%(step)s' skipped: its criteria (%(criteria)s) do not hold.", step=step,
                 criteria=d.get("criteria", ""))
    if action == "reassigned":
        return _("Reassigned from '%(from)s' to '%(to)s' by '%(user)s'.", user=user,
                 **{"from": d.get("from", ""), "to": d.get("to", "")})
    if action == "step_approved":
        return _("Step '%(step)s' approved.", step=step)
    if action == "step_rejected":
        return _("Step '%(step)s' rejected.", step=step)
    if action == "sent_back":
        return _("Step '%(step)s' sent back to '%(previous)s'.", step=step, previous=d.get("label", ""))
    if action == "request_approved":
        return _("Request approved.")
    if action == "request_rejected":
        return _("Request rejected.")
    hours = d.get("hours")
    hours = f"{hours:g}" if isinstance(hours, (int, float)) else str(hours or "")
    if action == "escalated":
        pairs = ", ".join(_("'%(from)s' to '%(to)s'", **{"from": a, "to": b})
                          for a, b in zip(d.get("from", []), d.get("to", [])))
        if not pairs:
            return _("Deadline of %(hours)s hours passed: nobody to escalate to (no active manager).", hours=hours)
        return _("Deadline of %(hours)s hours passed: escalated from %(pairs)s.", hours=hours, pairs=pairs)
    if action == "deadline_approve":
        return _("Deadline of %(hours)s hours passed: step '%(step)s' approved automatically.", hours=hours, step=step)
    if action == "deadline_reject":
        return _("Deadline of %(hours)s hours passed: step '%(step)s' rejected automatically.", hours=hours, step=step)
    if action == "cancelled":
        return _("Cancelled: the record was deleted.")
    return h.get("message") or action


def _field(rt, name):
    """A field's label in the page's language (its api_name when the object does not have it)."""
    if rt is None:
        return name
    fdef = rt.odef.field(name)
    return i18n.field_label(fdef) if fdef is not None else system_label(rt, name)


_RUNS = (
    (re.compile(r"Rule '(?P<rule>.+)' fired \((?P<event>\w+)\)\.$"),
     lambda m, rt: _("Rule '%(rule)s' fired (%(event)s).", rule=m["rule"], event=EVENTS.get(m["event"], m["event"]))),
    (re.compile(r"Set (?P<field>\w+) \(field update, in the same write\)\.$"),
     lambda m, rt: _("Set %(field)s (field update, in the same write).", field=_field(rt, m["field"]))),
    (re.compile(r"Set (?P<field>\w+)\.$"), lambda m, rt: _("Set %(field)s.", field=_field(rt, m["field"]))),
    (re.compile(r"Created (?P<what>.+)\.$"), lambda m, rt: _("Created %(what)s.", what=m["what"])),
    (re.compile(r"Updated (?P<what>.+)\.$"), lambda m, rt: _("Updated %(what)s.", what=m["what"])),
    (re.compile(r"Delivered to (?P<host>\S+) \(HTTP (?P<status>\d+)\)\.$"),
     lambda m, rt: _("Delivered to %(host)s (HTTP %(status)s).", host=m["host"], status=m["status"])),
    (re.compile(r"Sent: e-mail '(?P<subject>.*)' to (?P<to>.+)\.$", re.S),
     lambda m, rt: _("E-mail '%(subject)s' sent to %(to)s.", subject=m["subject"], to=m["to"])),
    (re.compile(r"Kept \(no SMTP configured\): e-mail '(?P<subject>.*)' to (?P<to>.+)\.$", re.S),
     lambda m, rt: _("E-mail '%(subject)s' to %(to)s kept in the outbox (no SMTP server configured).",
                     subject=m["subject"], to=m["to"])),
    (re.compile(r"Retry asked by (?P<user>.+)\.$"), lambda m, rt: _("Retry asked by %(user)s.", user=m["user"])),
)


_ORIGINS = (
    (re.compile(r"user '(?P<x>.*)'$"), lambda m: _("named in the process")),
    (re.compile(r"role '(?P<x>.*)'$"), lambda m: _("role '%(role)s'", role=m["x"])),
    (re.compile(r"manager of submitter(?: \((?P<n>\d+) levels up\))?$"),
     lambda m: _("manager of the submitter") if not m["n"] else _("manager of the submitter, %(n)s levels up", n=m["n"])),
    (re.compile(r"manager of owner(?: \((?P<n>\d+) levels up\))?$"),
     lambda m: _("manager of the owner") if not m["n"] else _("manager of the owner, %(n)s levels up", n=m["n"])),
    (re.compile(r"field '(?P<x>.*)'$"), lambda m: _("named by the field '%(field)s'", field=m["x"])),
    (re.compile(r"reassigned from '(?P<x>.*)'$"), lambda m: _("reassigned from '%(user)s'", user=m["x"])),
    (re.compile(r"escalated: manager of '(?P<x>.*)'$"),
     lambda m: _("escalated: manager of '%(user)s'", user=m["x"])),
)


def origin_line(origin):
    """Why a user is an approver, in the page's language ("role 'sales_director'")."""
    for pattern, words in _ORIGINS:
        m = pattern.match(origin or "")
        if m:
            return words(m)
    return origin or ""


def run_line(message, rt=None):
    """A run log line in the page's language where its wording is known (else as the engine wrote it);
    ``rt``: the record's object, whose field labels name the fields set."""
    for pattern, words in _RUNS:
        m = pattern.match(message or "")
        if m:
            return words(m, rt)
    return message


# -- the top bar's count ------------------------------------------------------------------------------
@workflow_pages.app_template_global("approval_inbox_count")
def approval_inbox_count():
    """How many work items wait for the signed-in user (as approver or delegate); once a request.
    A count of one's own work items, read here so that every page costs one small query."""
    actor = getattr(g, "actor", None)
    if actor is None or actor.user_id is None or "approvals" not in services().extensions:
        return 0
    if "inbox_count" not in g:
        snapshot = getattr(g, "snapshot", None)
        if snapshot is not None and not snapshot.has_any(APPROVALS):
            g.inbox_count = 0       # no approval request was ever written: no work item either
            return 0
        with read_connection(services().engine) as conn:
            g.inbox_count = conn.execute(_inbox_count_query(), {"user_id": actor.user_id}).scalar() or 0
    return g.inbox_count


_INBOX_COUNT = []


def _inbox_count_query():
    """The top bar's count as one statement, built once (every page runs it)."""
    if not _INBOX_COUNT:
        from sqlalchemy import bindparam

        from engine.db import users
        from engine.workflow.approvals.tables import items, requests

        me = bindparam("user_id")
        delegators = select(users.c.id).where(users.c.delegate_id == me)
        _INBOX_COUNT.append(
            select(func.count()).select_from(items.join(requests, requests.c.id == items.c.request_id))
            .where(items.c.status == "pending", requests.c.status == "pending",
                   or_(items.c.approver_id == me, items.c.approver_id.in_(delegators))))
    return _INBOX_COUNT[0]


# -- the inbox ------------------------------------------------------------------------------------
def inbox_items(state=None):
    """The caller's work items for the inbox, oldest first, with their form state."""
    out = []
    for item in approvals().pending_for(g.actor):
        rt = g.snapshot.get(item["object"])
        mine = state if state and state.get("key") == (item["object"], item["record_id"]) else {}
        out.append(dict(item, object_label=i18n.object_label(rt.odef) if rt else item["object_label"],
                        why=origin_line(item["origin"]),
                        url=url_for("pages.record", obj=item["object"], rid=item["record_id"]),
                        action=url_for("workflow_pages.operate", obj=item["object"], rid=item["record_id"],
                                       op="approve"),
                        form=mine))
    return out


@workflow_pages.get("/approvals")
def inbox(state=None, status=200):
    items = inbox_items(state)
    return render_template("engine/workflow/inbox.html", items=items), status


# -- operations --------------------------------------------------------------------------------------
def _field_of(exc, op):
    """The input a refusal belongs next to: the user to reassign to, else the comment."""
    if op == "reassign" and exc.code in ("workflow.E611", "workflow.E612", "workflow.E625"):
        return "to"
    if op == "reassign" and exc.code == "workflow.E614":
        return "from"
    return "comment"


@workflow_pages.post("/o/<obj>/<rid>/approval/<op>")
def operate(obj, rid, op):
    """Submit, approve, reject, recall or reassign the record's approval, then back to where the
    user came from (``back``: ``inbox`` or the record page)."""
    if op not in OPERATIONS:
        from werkzeug.exceptions import NotFound
        raise NotFound()
    rt = g.snapshot.get(obj)
    comment = (request.form.get("comment") or "").strip()[:4000] or None
    to = (request.form.get("to") or "").strip()[:150]
    from_user = (request.form.get("from") or "").strip()[:150] or None
    back = "inbox" if request.form.get("back") == "inbox" else "record"
    svc = approvals()
    try:
        if op == "submit":
            svc.submit(obj, rid, g.actor, comment=comment, process=request.form.get("process") or None)
        elif op == "reassign":
            svc.reassign(obj, rid, g.actor, to=to or None, from_user=from_user, comment=comment)
        else:
            getattr(svc, op)(obj, rid, g.actor, comment=comment)
    except REFUSALS as exc:
        said = translate_message(exc.message)
        state = {"key": (obj, rid), "op": op, "errors": {_field_of(exc, op): [said]}, "message": said,
                 "typed": {"comment": comment or "", "to": to, "from": from_user or ""}}
        if back == "inbox":
            return inbox(state=state, status=422)
        from .records import record
        g.workflow_state = state
        return record(obj, rid), 422
    name = _record_name(obj, rid)
    label = i18n.object_label(rt.odef) if rt else obj
    flash({"submit": _("%(object)s '%(name)s' was submitted for approval.", object=label, name=name),
           "approve": _("You approved %(object)s '%(name)s'.", object=label, name=name),
           "reject": _("You rejected %(object)s '%(name)s'.", object=label, name=name),
           "recall": _("The approval request of %(object)s '%(name)s' was recalled.", object=label, name=name),
           "reassign": _("%(object)s '%(name)s' was reassigned to '%(user)s'.", object=label, name=name, user=to),
           }[op], "success")
    if back == "inbox":
        return redirect(url_for("workflow_pages.inbox"), code=303)
    return redirect(url_for("pages.record", obj=obj, rid=rid), code=303)


def _record_name(obj, rid):
    try:
        return records().get(obj, rid, g.actor, fields=["name"]).get("name") or rid
    except EngineError:        # an approver who may not read the record still sees its id
        return rid


# -- the record page ------------------------------------------------------------------------------
def _applies(rt, rec, processes):
    """Whether some active process's entry criteria hold for ``rec`` (read as the user, in SQL). When
    that cannot be told here (a formula without an SQL form), the button shows and the service decides."""
    for process in processes:
        criteria = process.get("entry_criteria")
        if not criteria:
            return True
        try:
            found = records().list(rt.name, g.actor, where=f"id = '{rec['id']}' && ({criteria})", limit=1)
        except EngineError:
            return True
        if found["records"]:
            return True
    return False


def _lock_notice(rt, rec, request_view, may_edit):
    if request_view is None or request_view["status"] != "pending" or request_view["lock"] == "none":
        return None
    label = i18n.object_label(rt.odef)
    if request_view["lock"] == "locked":
        text = _("This %(object)s is locked while its approval request ('%(process)s') is pending: only "
                 "administrators may change it.", object=label, process=request_view["process_label"])
    else:
        text = _("This %(object)s is locked while its approval request ('%(process)s') is pending: only its "
                 "current approvers and administrators may change it.", object=label,
                 process=request_view["process_label"])
    return {"text": text, "may_edit": may_edit}


def record_workflow(rt, rec, svc=None):
    """What the record page shows of workflow: the approval (current request, what the user may do,
    the history), the lock notice and the run log; None when the workflow is not installed.
    ``svc``: the page's record service (both services read the record through it)."""
    extensions = services().extensions
    if "approvals" not in extensions:
        return None
    actor = g.actor
    svc = svc or records()
    deleted = bool(rec.get("deleted_at"))
    # ``rec`` was read by ``svc`` for ``actor`` with the checks the two services' reads repeat (the
    # object right, the record's visibility, include_deleted): when the snapshot says the object
    # has no approval request or run log, their answer is known without asking them
    snap = svc.snapshot
    data = approvals().approval(rt.name, rec["id"], actor, svc) if snap.has_rows(rt.name, APPROVALS) \
        else {"request": None, "history": []}
    req = data["request"]
    pending = req is not None and req["status"] == "pending"
    processes = [p for p in rt.odef.doc.get("approval_processes") or [] if isinstance(p, dict)]
    active = sorted([p for p in processes if p.get("active", True)], key=lambda p: p.get("order", 0))
    view = object_view(rt, actor)
    mine = [i for i in approvals().pending_for(actor) if i["object"] == rt.name and i["record_id"] == rec["id"]] \
        if pending else []
    state = getattr(g, "workflow_state", None) or {}
    step = None
    if req is not None and req["step"] is not None:
        s = req["step"]
        step = dict(s, status_label=STEP_STATUS.get(s["status"], s["status"]),
                    decision_label=decision_text(s["decision"], s["required"]),
                    approvers=[dict(a, status_label=ITEM_STATUS.get(a["status"], a["status"]), why=origin_line(a["origin"]))
                               for a in s["approvers"]])
    may_edit = actor.is_admin or (req is not None and req["lock"] == "approvers_and_admins" and bool(mine))
    out = {
        "processes": bool(processes),
        "request": req and dict(req, status_label=REQUEST_STATUS.get(req["status"], req["status"]),
                                lock_label=LOCKS.get(req["lock"], req["lock"])),
        "step": step,
        "history": [dict(h, line=history_line(h)) for h in data["history"]],
        "can_submit": (not deleted and view.can_edit and bool(active) and not pending
                       and _applies(rt, rec, active)),
        "mine": mine,
        "can_decide": bool(mine) and not deleted,
        "can_recall": pending and req["allow_recall"] and (actor.is_admin or req["submitted_by"] == actor.username),
        "can_reassign": pending and (bool(mine) or actor.is_admin),
        "reassign_from": [(u, u) for u in sorted({a["user"] for a in (step or {}).get("approvers", [])
                                                  if a["status"] == "pending"})] if pending and actor.is_admin else [],
        "lock": _lock_notice(rt, rec, req, may_edit),
        "state": state,
        "url": lambda op: url_for("workflow_pages.operate", obj=rt.name, rid=rec["id"], op=op),
    }
    runs = workflow().runs_of(rt.name, rec["id"], actor, svc, limit=RUNS_SHOWN) \
        if snap.has_rows(rt.name, RUN_LOG) else []
    out["runs"] = [dict(r, line=run_line(r["message"], rt), status_label=RUN_STATUS.get(r["status"], r["status"]))
                   for r in runs]
    out["show_approval"] = bool(processes) or req is not None or bool(state)
    op = state.get("op")
    # a refusal whose form is not on the page (any more): its message goes to the top of the card
    state["at_top"] = op in ("submit", "recall") or (op in ("approve", "reject") and not out["can_decide"]) or (
        op == "reassign" and not out["can_reassign"])
    return out


def lock_notice(rt, rec):
    """The lock notice of the edit form, when a pending approval request keeps the user from saving."""
    if "approvals" not in services().extensions or g.actor.is_admin:
        return None
    data = approvals().approval(rt.name, rec["id"], g.actor)
    req = data["request"]
    if req is None or req["status"] != "pending" or req["lock"] == "none":
        return None
    mine = req["lock"] == "approvers_and_admins" and any(
        i["object"] == rt.name and i["record_id"] == rec["id"] for i in approvals().pending_for(g.actor))
    if mine:
        return None
    return _lock_notice(rt, rec, req, False)["text"]


# -- the user's own settings: their delegate ------------------------------------------------------
def _delegators():
    from engine.db import users

    with services().engine.connect() as conn:
        me = select(users.c.id).where(users.c.username == g.actor.username).scalar_subquery()
        return sorted(conn.execute(select(users.c.username).where(users.c.delegate_id == me,
                                                                  users.c.active.is_(True))).scalars())


def _me_page(delegate, errors=None, status=200):
    me = services().access.get_user(g.actor.username, g.actor)
    return render_template("engine/workflow/me.html", me=me, delegate=delegate, errors=errors or {},
                           delegators=_delegators()), status


@workflow_pages.get("/me")
def me():
    """The user's own settings: who decides their approval work items while they are away."""
    return _me_page(services().access.get_user(g.actor.username, g.actor)["delegate"] or "")


@workflow_pages.post("/me")
def save_me():
    delegate = "" if request.form.get("_clear") else (request.form.get("delegate") or "").strip()[:150]
    try:
        services().access.update_user(g.actor.username, {"delegate": delegate or None}, g.actor)
    except MetadataError as exc:
        problems = getattr(exc, "problems", None) or [("delegate", exc.message)]
        return _me_page(delegate, {"delegate": [_delegate_problem(m) for _p, m in problems]}, 422)
    if delegate:
        flash(_("'%(user)s' now sees and decides your approval work items until you end it.", user=delegate),
              "success")
    else:
        flash(_("You have no delegate: your approval work items wait for you."), "success")
    return redirect(url_for("workflow_pages.me"), code=303)


def _delegate_problem(message):
    m = re.match(r"unknown user '(.*)' \(no active user has this username\)$", message)
    if m:
        return _("No active user is called '%(user)s'.", user=m.group(1))
    if message.startswith("a user cannot be their own delegate"):
        return _("You cannot be your own delegate.")
    return message
