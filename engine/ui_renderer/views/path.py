"""The path bar of a record page: a status-like picklist marked ``"path": true`` (an opportunity's
stage, a case's status) shown as its stages in order, the current one highlighted, the ones
before it done; a click on a stage moves the record there through the record service — so field
rights, validation rules, approval locks, automations and history apply as for any save.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _

from engine.errors import ConflictError, NotFound, RecordValidationError, StaleVersionError, WorkflowError
from engine.security import access as acl

from .. import i18n
from ..auth import records
from ..forms import translate_message, writable_names
from . import fresh_metadata, pages


@dataclass
class StageView:
    value: str
    label: str
    state: str                      # "done" | "current" | "todo"
    next: bool = False              # the stage after the current one: the button people expect


@dataclass
class PathView:
    field: str
    label: str
    stages: list = field(default_factory=list)
    can_move: bool = False
    row_version: int | None = None

    @property
    def current(self):
        return next((s for s in self.stages if s.state == "current"), None)


def path_field(rt, hidden):
    """The object's path picklist (the first marked one the reader may see), or None."""
    for fdef in rt.odef.fields:
        if fdef.type == "picklist" and fdef.get("path") and fdef.api_name not in hidden:
            return fdef
    return None


def path_view(rt, rec, actor, hidden, *, can_edit):
    """The :class:`PathView` of record ``rec`` (JSON), or None when the object has no path."""
    fdef = path_field(rt, hidden)
    if fdef is None:
        return None
    value = rec.get(fdef.api_name)
    labels = i18n.option_labels(fdef)
    options = [o["value"] for o in fdef.doc.get("options") or [] if o.get("active", True) is not False
               or o["value"] == value]
    at = options.index(value) if value in options else -1
    stages = [StageView(v, labels.get(v, v), "done" if i < at else "current" if i == at else "todo",
                        next=i == at + 1) for i, v in enumerate(options)]
    movable = (can_edit and not rec.get("deleted_at")
               and fdef.api_name in writable_names(rt, actor, hidden))
    return PathView(fdef.api_name, i18n.field_label(fdef), stages, can_move=movable,
                    row_version=rec.get("row_version"))


@pages.post("/o/<obj>/<rid>/path")
@fresh_metadata
def move_path(obj, rid):
    """Move the record to the stage posted as ``value`` (with ``_row_version`` for a stale check)."""
    rt = g.snapshot.get(obj)
    if rt is None:
        raise NotFound("metadata.E041", f"Unknown object '{obj[:40]}'.")
    acl.require(g.actor.plan, rt, "edit")
    svc = records()
    fdef = path_field(rt, svc.hidden_fields(rt, g.actor))
    if fdef is None:
        raise NotFound("pages.E007", f"'{obj[:40]}' has no path.")
    value = (request.form.get("value") or "")[:255]
    version = request.form.get("_row_version", "")
    back = url_for("pages.record", obj=obj, rid=rid)
    try:
        svc.update(obj, rid, {fdef.api_name: value}, g.actor, if_match=int(version) if version.isdigit() else None)
    except StaleVersionError:
        flash(_("Someone else changed this record meanwhile: check its stage and try again."), "error")
    except (RecordValidationError, ConflictError, WorkflowError) as exc:
        messages = [translate_message(m) for ms in (exc.fields or {}).values() for m in ms] or \
            [translate_message(exc.message)]
        flash(_("The record was not moved to '%(stage)s': %(reason)s",
                stage=i18n.option_labels(fdef).get(value, value), reason=" ".join(messages)), "error")
    else:
        flash(_("%(field)s is now '%(stage)s'.", field=i18n.field_label(fdef),
                stage=i18n.option_labels(fdef).get(value, value)), "success")
    return redirect(back, code=303)
