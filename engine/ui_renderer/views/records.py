"""The pages of every object: list view, generated form, detail page, recycle bin, and the lookup
search (JSON) the form's script asks. One set of templates serves every object."""
from __future__ import annotations

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from engine.errors import ConflictError, EngineError, NotFound, RecordValidationError, StaleVersionError, WorkflowError
from engine.records.history import field_history_of
from engine.security import access as acl

from ..auth import records, services, user_names
from ..forms import build_form, parse_form, writable_names
from ..listing import build_list_page, default_columns, list_content, name_search
from ..viewmodels import (DisplayContext, SectionView, field_view, key_fields, lookup_names, object_view,
                          reading_plan)
from . import fresh_metadata, pages
from .path import path_view
from .workflow import lock_notice, record_workflow

RELATED_ROWS = 5
MASS_LIMIT = 200


def _runtime(obj):
    rt = g.snapshot.get(obj)
    if rt is None:
        raise NotFound("metadata.E041", f"Unknown object '{obj[:40]}'.")
    acl.require(g.actor.plan, rt, "read")
    return rt


def _name(rec, rt):
    return (rec or {}).get("name") or _("this %(object)s", object=object_view(rt, g.actor).label)


# -- list view, mass delete, recycle bin ------------------------------------------------------------
@pages.get("/o/<obj>")
@fresh_metadata
def list_view(obj):
    rt = _runtime(obj)
    svc = records()
    objview = object_view(rt, g.actor)
    page = build_list_page(svc, g.actor, rt, request.args, hidden=svc.hidden_fields(rt, g.actor),
                           selectable=objview.can_delete)
    status = 400 if (page.error or page.where_error) else 200
    description = rt.odef.doc.get("description") or ""
    return render_template("engine/list.html", obj=objview, page=page, description=description,
                           content=list_content(page, objview, g.actor, g.snapshot, description)), status


@pages.get("/o/<obj>/bin")
@fresh_metadata
def bin(obj):
    rt = _runtime(obj)
    svc = records()
    page = build_list_page(svc, g.actor, rt, request.args, hidden=svc.hidden_fields(rt, g.actor),
                           endpoint="pages.bin", deleted=True)
    return render_template("engine/bin.html", obj=object_view(rt, g.actor), page=page), \
        400 if page.error or page.where_error else 200


@pages.post("/o/<obj>/delete")
@fresh_metadata
def mass_delete(obj):
    rt = _runtime(obj)
    ids = [i for i in request.form.getlist("ids") if i][:MASS_LIMIT]
    done, failed = 0, []
    svc = records()
    for rid in ids:
        try:
            svc.delete(obj, rid, g.actor)
            done += 1
        except EngineError as exc:
            failed.append(exc.message)
    view = object_view(rt, g.actor)
    if done:
        flash(_("%(count)d %(objects)s moved to the recycle bin.", count=done, objects=view.plural), "success")
    if failed:
        flash(_("%(count)d could not be deleted: %(reason)s", count=len(failed), reason=failed[0]), "error")
    if not ids:
        flash(_("Select at least one record first."), "error")
    return redirect(url_for("pages.list_view", obj=obj), code=303)


@pages.post("/o/<obj>/<rid>/restore")
@fresh_metadata
def restore_record(obj, rid):
    rt = _runtime(obj)
    rec = records().restore(obj, rid, g.actor)
    flash(_("%(object)s '%(name)s' was restored.", object=object_view(rt, g.actor).label, name=_name(rec, rt)),
          "success")
    return redirect(url_for("pages.record", obj=obj, rid=rid), code=303)


@pages.post("/o/<obj>/<rid>/delete")
@fresh_metadata
def delete_record(obj, rid):
    rt = _runtime(obj)
    svc = records()
    rec = svc.get(obj, rid, g.actor, fields=["name"])
    svc.delete(obj, rid, g.actor)
    flash(_("%(object)s '%(name)s' was moved to the recycle bin.", object=object_view(rt, g.actor).label,
            name=_name(rec, rt)), "success")
    return redirect(url_for("pages.list_view", obj=obj), code=303)


# -- lookup search (JSON for the form's script) ------------------------------------------------------
@pages.get("/o/<obj>/lookup")
@fresh_metadata
def lookup(obj):
    rt = _runtime(obj)
    svc = records()
    q = (request.args.get("q") or "").strip()[:100]
    hidden = svc.hidden_fields(rt, g.actor)
    second = next(iter(key_fields(rt, hidden, count=1)), None)
    out = svc.list(obj, g.actor, where=name_search(q) if q else None, order_by="name", limit=10)
    recs = out["records"]
    ctx = DisplayContext(g.snapshot, lookup_names(svc, g.actor, rt, recs, names={second}))
    return jsonify({"records": [
        {"id": r["id"], "name": r.get("name") or "",
         "detail": Markup(ctx.display(rt, second, r.get(second))).striptags() if second and
         r.get(second) not in (None, "", []) else ""} for r in recs],
        "new_url": url_for("pages.new_record", obj=obj) if g.actor.plan.can(obj, "create") else None})


# -- form -------------------------------------------------------------------------------------------------
def _render_form(rt, *, record=None, raw=None, errors=None, status=200, action, cancel_url, notice=None):
    svc = records()
    hidden = svc.hidden_fields(rt, g.actor)
    recs = [record] if record else []
    names = lookup_names(svc, g.actor, rt, recs)
    form = build_form(rt, g.actor, hidden, DisplayContext(g.snapshot, names), record=record, raw=raw,
                      errors=errors, objview=object_view(rt, g.actor), action=action, cancel_url=cancel_url)
    return render_template("engine/form.html", form=form, notice=notice), status


def _prefill(rt, svc):
    """Values for a new record from the query string (``?account=<id>`` from a related list)."""
    names = writable_names(rt, g.actor, svc.hidden_fields(rt, g.actor))
    raw = {}
    ids = {}
    for name in names:
        value = request.args.get(name)
        if value is None:
            continue
        fdef = rt.odef.field(name)
        if fdef is not None and fdef.target:
            ids[name] = value[:40]
        elif fdef is None or rt.ftypes[name].family not in ("multi", "boolean"):
            raw[name] = value[:1000]
    if ids:
        known = lookup_names(svc, g.actor, rt, [ids])
        for name, rid in ids.items():
            raw[name] = (rid, known.get(rid, ""))
    return raw


@pages.get("/o/<obj>/new")
@fresh_metadata
def new_record(obj):
    rt = _runtime(obj)
    acl.require(g.actor.plan, rt, "create")
    svc = records()
    return _render_form(rt, raw=_prefill(rt, svc), action=url_for("pages.new_record", obj=obj),
                        cancel_url=url_for("pages.list_view", obj=obj))


@pages.post("/o/<obj>/new")
@fresh_metadata
def create_record(obj):
    rt = _runtime(obj)
    acl.require(g.actor.plan, rt, "create")
    svc = records()
    names = writable_names(rt, g.actor, svc.hidden_fields(rt, g.actor))
    data, raw, errors = parse_form(rt, request.form, names, svc, g.actor)
    if not errors:
        try:
            rec = svc.create(obj, data, g.actor)
        except (RecordValidationError, ConflictError) as exc:
            errors = exc.fields or {"_record": [exc.message]}
        else:
            flash(_("%(object)s '%(name)s' was created.", object=object_view(rt, g.actor).label,
                    name=_name(rec, rt)), "success")
            if request.form.get("_save_new"):
                return redirect(url_for("pages.new_record", obj=obj), code=303)
            return redirect(url_for("pages.record", obj=obj, rid=rec["id"]), code=303)
    return _render_form(rt, raw=raw, errors=errors, status=422, action=url_for("pages.new_record", obj=obj),
                        cancel_url=url_for("pages.list_view", obj=obj))


@pages.get("/o/<obj>/<rid>/edit")
@fresh_metadata
def edit_record(obj, rid):
    rt = _runtime(obj)
    svc = records()
    acl.require(g.actor.plan, rt, "edit")
    rec = svc.get(obj, rid, g.actor)
    svc.lock_for_edit(obj, rid, g.actor)
    return _render_form(rt, record=rec, action=url_for("pages.edit_record", obj=obj, rid=rid),
                        cancel_url=url_for("pages.record", obj=obj, rid=rid), notice=lock_notice(rt, rec))


@pages.post("/o/<obj>/<rid>/edit")
@fresh_metadata
def update_record(obj, rid):
    rt = _runtime(obj)
    svc = records()
    acl.require(g.actor.plan, rt, "edit")
    rec = svc.get(obj, rid, g.actor)
    names = writable_names(rt, g.actor, svc.hidden_fields(rt, g.actor))
    data, raw, errors = parse_form(rt, request.form, names, svc, g.actor)
    version = request.form.get("_row_version", "")
    notice, status = None, 422
    if not errors:
        try:
            svc.update(obj, rid, data, g.actor, if_match=int(version) if version.isdigit() else None)
        except (RecordValidationError, ConflictError, WorkflowError) as exc:   # WorkflowError: an approval lock
            errors = exc.fields or {"_record": [exc.message]}
        except StaleVersionError:
            notice, status = _("Someone else changed this record while you edited it. Your values are "
                               "still in the form: check them against the current ones and save again."), 409
            rec = svc.get(obj, rid, g.actor)
        else:
            flash(_("%(object)s '%(name)s' was saved.", object=object_view(rt, g.actor).label,
                    name=data.get("name") or _name(rec, rt)), "success")
            return redirect(url_for("pages.record", obj=obj, rid=rid), code=303)
    return _render_form(rt, record=rec, raw=raw, errors=errors, status=status, notice=notice,
                        action=url_for("pages.edit_record", obj=obj, rid=rid),
                        cancel_url=url_for("pages.record", obj=obj, rid=rid))


# -- detail page ----------------------------------------------------------------------------------------------
@pages.get("/o/<obj>/<rid>")
@fresh_metadata
def record(obj, rid):
    rt = _runtime(obj)
    svc = records().remember_reads()   # the approval panel and the run log read the record again
    rec = svc.get(obj, rid, g.actor, include_deleted=True)
    if not rec.get("deleted_at"):
        svc.note_viewed(obj, rec["id"], g.actor)
    hidden = svc.hidden_fields(rt, g.actor)
    history = field_history_of(services().engine, obj, rec["id"], hidden=hidden, snapshot=g.snapshot)
    users = user_names([rec.get(k) for k in ("owner_id", "created_by", "updated_by")] +
                       [h["user_id"] for h in history])
    ctx = DisplayContext(g.snapshot, lookup_names(svc, g.actor, rt, [rec]), users)
    layout, highlighted, system = reading_plan(rt, hidden)   # kept per (snapshot, object, hidden, language)
    views = {n: field_view(rt, n, rec, ctx, reading=True, label=label, fdef=fdef)
             for _label, _columns, names in layout for n, label, fdef in names}
    sections = [SectionView(label or "", columns, [views[n] for n, _l, _f in names])
                for label, columns, names in layout]
    # the highlights are the layout's first fields: the same views, not built twice
    highlights = [views[n] for n in highlighted]
    history_rows = [(h, rt.odef.field(h["field"]), ctx.display(rt, h["field"], h["old"]),
                     ctx.display(rt, h["field"], h["new"]), users.get(h["user_id"], "")) for h in reversed(history)
                    if rt.odef.field(h["field"]) is not None]
    objview = object_view(rt, g.actor)
    return render_template("engine/detail.html", obj=objview, rec=rec, sections=sections,
                           path=path_view(rt, rec, g.actor, hidden, can_edit=objview.can_edit),
                           highlights=highlights, owner=users.get(rec.get("owner_id"), ""),
                           related=_related(rt, rec, svc) if not rec.get("deleted_at") else [],
                           history=history_rows, deleted=bool(rec.get("deleted_at")),
                           system=[field_view(rt, n, rec, ctx, label=label) for n, label in system],
                           workflow=record_workflow(rt, rec, svc))


def _related_specs(rt):
    """``[(child rt, lookup FieldDef)]``: the layout's ``related_lists`` (object names or
    ``{"object", "field"}``) when it has them, else every lookup pointing here."""
    from ..viewmodels import pick_layout

    children = [(g.snapshot.get(c), f) for c, f in rt.children if g.snapshot.get(c) is not None]
    wanted = (pick_layout(rt.odef) or {}).get("related_lists")
    if not wanted:
        return children
    out = []
    for item in wanted:
        name = item if isinstance(item, str) else (item or {}).get("object")
        fname = None if isinstance(item, str) else (item or {}).get("field")
        out += [(c, f) for c, f in children if c.name == name and (fname is None or f.api_name == fname)]
    return out


def _related(rt, rec, svc):
    out = []
    for child, fdef in _related_specs(rt):
        if not g.actor.plan.can(child.name, "read") or fdef.api_name in svc.hidden_fields(child, g.actor):
            continue
        hidden = svc.hidden_fields(child, g.actor)
        columns = [c for c in default_columns(child, hidden) if c != fdef.api_name][:4]
        try:
            page = svc.list(child.name, g.actor, filters={fdef.api_name: rec["id"]}, order_by="-created_at",
                            limit=RELATED_ROWS, with_total=True)
        except EngineError:
            continue
        ctx = DisplayContext(g.snapshot, lookup_names(svc, g.actor, child, page["records"], names=set(columns)))
        rows = [(r, [ctx.display(child, c, r.get(c)) for c in columns]) for r in page["records"]]
        heads = [field_view(child, c, None, ctx) for c in columns]
        view = object_view(child, g.actor)
        out.append({"obj": view, "field": fdef, "rows": rows, "heads": heads, "total": page.get("total", 0),
                    "new_url": url_for("pages.new_record", obj=child.name, **{fdef.api_name: rec["id"]})
                    if view.can_create else None,
                    "all_url": url_for("pages.list_view", obj=child.name,
                                       where=f"{fdef.api_name} = '{rec['id']}'")})
    return out

