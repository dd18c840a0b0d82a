"""Setup → Outbox (administrators): the actions automation rules and approvals handed to the
outbox — queued, failed (to be retried), done and dead — with their attempts, last error and each
action's result (a kept e-mail shows its text), and "Retry" for failed and dead entries. Reads and
retries through the workflow service with ``g.actor`` (``list_outbox``, ``retry``), as
``GET /api/v1/outbox`` and ``POST /api/v1/outbox/<id>/retry`` do."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import ConflictError

from .. import i18n
from .setup_workflow import action_label, setup_workflow, workflow
from .workflow import run_line

STATUSES = (("pending", _l("Queued")), ("failed", _l("Failed, will retry")), ("dead", _l("Dead")),
            ("done", _l("Done")))
SHOWN = 200


def _entries(status):
    out = []
    for e in workflow().list_outbox(g.actor, status=status, limit=SHOWN):
        rt = g.snapshot.get(e["object"])
        actions = []
        for a in e["actions"]:
            result = a.get("result") or {}
            mail = result.get("mail")
            to = ", ".join(str(r.get("address") or r.get("user") or "?") if isinstance(r, dict) else str(r)
                           for r in (mail or {}).get("to") or [])
            actions.append(dict(a, label=action_label(a["type"]), line=run_line(result.get("message") or "", rt),
                                mail=mail, mail_to=to))
        out.append(dict(e, object_label=i18n.object_label(rt.odef) if rt else e["object"], actions=actions,
                        status_label=dict(STATUSES).get(e["status"], e["status"]),
                        url=url_for("pages.record", obj=e["object"], rid=e["record_id"])
                        if rt is not None and e["record_id"] else None))
    return out


@setup_workflow.get("/outbox")
def outbox():
    status = request.args.get("status") or None
    if status not in (None, *dict(STATUSES)):
        status = None
    counts = workflow().outbox_counts()
    tabs = [(None, _("All"), sum(counts.values()))] + [(k, label, counts.get(k, 0)) for k, label in STATUSES]
    return render_template("engine/setup/workflow/outbox.html", entries=_entries(status), status=status, tabs=tabs,
                           limit=SHOWN)


@setup_workflow.post("/outbox/<outbox_id>/retry")
def retry_outbox(outbox_id):
    back = request.form.get("status") or None
    try:
        workflow().retry(outbox_id, g.actor)
    except ConflictError as exc:
        flash(exc.message, "error")
    else:
        flash(_("The entry was put back in the queue with a fresh set of attempts."), "success")
    return redirect(url_for("setup_workflow.outbox", status=back if back in dict(STATUSES) else None), code=303)
