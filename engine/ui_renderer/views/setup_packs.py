"""Setup → Packs (administrators): the packs available and installed (name, version, description,
dependencies, status), the plan of an install, upgrade or uninstall before it is applied — what it
creates, changes, keeps and archives, the administrators' changes it keeps, the sample records it
loads — with a confirmation form, and the export of named objects as a pack (a zip download).

Every page goes through the pack service with ``g.actor`` (``list``, ``install``, ``upgrade``,
``uninstall`` with ``dry_run`` for the plan, ``export_archive``), as ``/api/v1/packs`` and
``tessera pack`` do; the service checks that the actor is an administrator (``packs.E020``). The
plan shown is the service's dry run — the same code, rolled back — so a plan confirmed is the plan
applied. Packs come from ``packs/`` and the ``tessera.packs`` entry points; a folder path is a
command-line matter and is not accepted here.
"""
from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import ConflictError, EngineError, InvalidRequestError, PackError

from .. import i18n
from ..auth import page_blueprint, services

setup_packs = page_blueprint("setup_packs", __name__, url_prefix="/setup", admin=True)

# the option each operation offers, as the API names it: (key, label, help)
OPTIONS = {
    "install": ("with_sample_data", _l("With sample data"),
                _l("Load the pack's sample records too (their dates are relative to today).")),
    "upgrade": ("allow_destructive", _l("Allow destructive steps"),
                _l("Apply steps that archive fields or objects the new version drops (their data is kept in "
                   "the archive).")),
    "uninstall": ("purge", _l("Delete the data for good"),
                  _l("Without this, the pack's objects are archived with their records and installing the pack "
                     "again restores them.")),
}
OPERATIONS = {"install": _l("Install"), "upgrade": _l("Upgrade"), "uninstall": _l("Uninstall")}
ACTIONS = (("create", _l("Create")), ("change", _l("Change")), ("archive", _l("Archive")), ("keep", _l("Keep")))
KINDS = {"object": _l("Object"), "field": _l("Field"), "option": _l("Picklist value"),
         "validation_rule": _l("Validation rule"), "layout": _l("Layout"), "list_view": _l("List view"),
         "automation_rule": _l("Automation rule"), "approval_process": _l("Approval process"),
         "role": _l("Role"), "permission_set": _l("Permission set"), "sharing_rule": _l("Sharing rule"),
         "report": _l("Report"), "dashboard": _l("Dashboard"), "segment": _l("Segment"), "record": _l("Record")}
STATUSES = {"available": _l("Available"), "installed": _l("Installed"), "upgrade available": _l("Upgrade available")}
# a refusal the admin can act on (show it on the plan page); other errors go to the error page
REFUSALS = (PackError, ConflictError, InvalidRequestError)


def pack_service():
    from engine.packs import packs

    return packs(services())


def text_of(value, default=""):
    """A pack's title or description in the page's language (a string, or ``{en, zh_CN}``)."""
    if isinstance(value, dict):
        locale = i18n.current_locale()
        return value.get(locale) or value.get(locale.split("_")[0]) or value.get("en") or default
    return value or default


def pack_rows():
    """The rows of the packs table, with the operations each offers."""
    rows = []
    for p in pack_service().list(g.actor)["packs"]:
        ops = []
        if p["status"] == "available" and not p["problems"]:
            ops.append("install")
        if p["status"] == "upgrade available":
            ops.append("upgrade")
        if p["installed_version"]:
            ops.append("uninstall")
        rows.append(dict(p, title_text=text_of(p["title"], p["name"]), description_text=text_of(p["description"]),
                         status_label=STATUSES.get(p["status"], p["status"]), operations=ops,
                         version=p["installed_version"] or p["available_version"]))
    return rows


def plan_view(plan):
    """What the plan page shows of one plan: its elements grouped by action, largest groups closed."""
    groups = []
    for action, label in ACTIONS:
        items = [dict(i.as_dict(), kind_label=KINDS.get(i.kind, i.kind)) for i in plan.items if i.action == action]
        if items:
            groups.append({"action": action, "label": label, "elements": items,
                           "open": action in ("change", "archive") or len(items) <= 12})
    title = text_of(plan.title, plan.pack)
    heads = {"install": _("Install %(pack)s %(version)s", pack=title, version=plan.to_version),
             "upgrade": _("Upgrade %(pack)s from %(old)s to %(new)s", pack=title, old=plan.from_version,
                          new=plan.to_version),
             "uninstall": _("Uninstall %(pack)s %(version)s", pack=title, version=plan.from_version)}
    return {"pack": plan.pack, "title": title, "operation": plan.operation, "head": heads[plan.operation],
            "groups": groups,
            "counts": plan.counts(), "overrides": plan.overrides, "notes": plan.notes,
            "data": sorted(plan.data.items()), "records": sum(plan.data.values()),
            "destructive": sum(1 for i in plan.items if i.destructive)}


def _run(name, operation, option, dry_run):
    service = pack_service()
    call = {"install": lambda: service.install(name, g.actor, with_data=option, dry_run=dry_run),
            "upgrade": lambda: service.upgrade(name, g.actor, allow_destructive=option, dry_run=dry_run),
            "uninstall": lambda: service.uninstall(name, g.actor, purge=option, dry_run=dry_run)}
    return call[operation]()


def _option(source, operation, *, default=False):
    """The operation's option from a query or a form. The plan page's own form says it was sent
    (``shown=1``), so an unticked box means no; a bare link takes the default (install: with the
    pack's sample data, as the packs page's button offers; upgrade and uninstall: nothing destroyed)."""
    key = OPTIONS[operation][0]
    if key not in source and "shown" not in source:
        return default
    return source.get(key) in ("1", "on", "true", "y")


def _problems(exc):
    """The lines of a refusal: a pack's problems one by one (``file:line: message``)."""
    fields = getattr(exc, "fields", None)
    problems = fields.get("problems") if isinstance(fields, dict) else None
    if problems:
        return exc.message.split("\n", 1)[0], list(problems)
    return exc.message, []


def _pack_title(name):
    """The title of pack ``name`` as the packs page shows it (its name when it is not found)."""
    row = next((p for p in pack_service().list(g.actor)["packs"] if p["name"] == name), None)
    return text_of(row["title"], name) if row else name


def _plan_page(name, operation, option, *, error=None, status=200):
    plans = []
    if error is None:
        try:
            plans = [plan_view(p) for p in _run(name, operation, option, dry_run=True)]
        except REFUSALS as exc:
            error, status = exc, 422
    message, problems = _problems(error) if error is not None else (None, [])
    key, label, help_text = OPTIONS[operation]
    title = next((p["title"] for p in plans if p["pack"] == name), None) or _pack_title(name)
    return render_template("engine/setup/packs/plan.html", name=name, title=title, operation=operation,
                           operation_label=OPERATIONS[operation], plans=plans, option_key=key,
                           option_label=label, option_help=help_text, option=option, error=message,
                           problems=problems,
                           noop=bool(plans) and all(not p["groups"] and not p["records"] for p in plans)), status


@setup_packs.get("/packs")
def packs_page():
    objects = sorted(((n, i18n.object_label(rt.odef)) for n, rt in g.snapshot.objects.items()),
                     key=lambda item: str(item[1]).lower())
    return render_template("engine/setup/packs/list.html", packs=pack_rows(), objects=objects,
                           export=_export_values(request.args), export_error=None)


@setup_packs.get("/packs/<name>/<operation>")
def plan(name, operation):
    if operation not in OPERATIONS:
        abort(404)
    return _plan_page(name, operation, _option(request.args, operation, default=operation == "install"))


@setup_packs.post("/packs/<name>/<operation>")
def apply(name, operation):
    if operation not in OPERATIONS:
        abort(404)
    option = _option(request.form, operation)
    try:
        plans = _run(name, operation, option, dry_run=False)
    except REFUSALS as exc:
        return _plan_page(name, operation, option, error=exc, status=422)
    done = [p for p in plans if p.applied]
    if not done:
        flash(_("Nothing to do: %(pack)s is installed already.", pack=_pack_title(name)), "info")
    for p in done:
        c = p.counts()
        flash(_("%(operation)s %(pack)s: %(create)s created, %(change)s changed, %(keep)s kept, %(archive)s archived, "
                "%(overrides)s administrator change(s) kept, %(records)s record(s).",
                operation=OPERATIONS[p.operation], pack=text_of(p.title, p.pack), create=c["create"], change=c["change"],
                keep=c["keep"], archive=c["archive"], overrides=len(p.overrides), records=sum(p.data.values())),
              "success")
    return redirect(url_for("setup_packs.packs_page"), code=303)


def _export_values(source):
    objects = source.getlist("objects") if hasattr(source, "getlist") else []
    return {"name": (source.get("name") or "").strip(), "objects": objects,
            "with_data": source.get("with_data") in ("1", "on"), "version": (source.get("version") or "1.0.0").strip()}


@setup_packs.post("/packs/export")
def export():
    from engine.packs.export import export_archive

    values = _export_values(request.form)
    try:
        filename, body, _summary = export_archive(services(), values["name"], values["objects"], g.actor,
                                                  with_data=values["with_data"], version=values["version"])
    except EngineError as exc:
        if not isinstance(exc, REFUSALS):
            raise
        objects = sorted(((n, i18n.object_label(rt.odef)) for n, rt in g.snapshot.objects.items()),
                         key=lambda item: str(item[1]).lower())
        return render_template("engine/setup/packs/list.html", packs=pack_rows(), objects=objects, export=values,
                               export_error=exc.message), 422
    return Response(body, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
