"""Setup → Sharing: each object's org-wide default (public read/write, public read only,
private), saved through the metadata store, and sharing rules (records owned by a role, or
matching a criteria formula, shared with a role and optionally its subordinates, read only or
read/write), created and deleted through ``services().access`` — always with ``g.actor``."""
from __future__ import annotations

from dataclasses import dataclass

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import EngineError, NotFound

from ..auth import records, services
from .setup_access import (REFUSALS, FormErrors, access_labels, checked, object_choices, put_errors, role_choices,
                           role_tree, setup_access, sharing_labels, text)

DEFAULTS = ("public_read_write", "public_read", "private")


@dataclass
class RuleView:
    """A sharing rule as the list and the confirmation page describe it."""

    id: str
    name: str
    object: str
    object_label: str
    owned_by: str | None        # the owner role's label (a rule by role)
    criteria: str | None        # the formula (a rule by criteria)
    include_subordinates: bool
    share_with: str
    share_with_subordinates: bool
    access: str


def _rules():
    access = services().access
    roles = {n.api_name: n.label for n in role_tree(access.list_roles(g.actor))}
    objects = dict(object_choices())
    return [RuleView(r["id"], r["name"], r["object"], objects.get(r["object"], r["object"]),
                     roles.get(r["owned_by_role"], r["owned_by_role"]) if r.get("owned_by_role") else None,
                     r.get("criteria"), bool(r.get("include_subordinates")),
                     roles.get(r["share_with_role"], r["share_with_role"]), bool(r.get("share_with_subordinates")),
                     r["access"]) for r in access.list_sharing_rules(g.actor)]


def _defaults_labels():
    return {f"objects.{name}.sharing": label for name, label in object_choices()}


def _sharing_page(values=None, errors=None, status=200):
    errors = errors or FormErrors()
    objects = []
    for name, label in object_choices():
        rt = g.snapshot.get(name)
        key = f"objects.{name}.sharing"
        objects.append({"name": name, "label": label, "input": key,
                        "value": (values or {}).get(key) or rt.odef.sharing,
                        "errors": errors.get(key)})
    return render_template("engine/setup/access/sharing.html", objects=objects, rules=_rules(),
                           sharing_labels=sharing_labels(), access_labels=access_labels(), defaults=DEFAULTS,
                           summary=errors.summary(_defaults_labels())), status


@setup_access.get("/sharing")
def sharing():
    """Org-wide defaults and sharing rules."""
    return _sharing_page()


@setup_access.post("/sharing")
def save_defaults():
    """Save the org-wide defaults that changed (one metadata change per object)."""
    errors, values, changed = FormErrors(), {}, []
    for name, label in object_choices():
        key = f"objects.{name}.sharing"
        value = request.form.get(key)
        if value is None:
            continue
        values[key] = value[:40]
        if value not in DEFAULTS:
            errors.add(key, _("Choose one of the options."))
        elif value != g.snapshot.get(name).odef.sharing:
            changed.append((name, label, value))
    if not errors:
        for name, label, value in changed:
            try:
                services().store.update_object(name, {"sharing": value}, g.actor)
            except REFUSALS as exc:
                put_errors(exc, errors, values)
                break
    if errors:
        return _sharing_page(values, errors, 422)
    if changed:
        flash(_("Org-wide defaults were saved: %(objects)s.", objects=", ".join(
            f"{label} – {sharing_labels()[value]}" for _name, label, value in changed)), "success")
    else:
        flash(_("Nothing changed."), "info")
    return redirect(url_for("setup_access.sharing"), code=303)


# -- sharing rules ------------------------------------------------------------------------------------------
def _rule_labels():
    return {"object": _("Object"), "name": _("Rule name"), "owned_by_role": _("Owner's role"),
            "criteria": _("Criteria (formula)"), "share_with_role": _("Share with role"), "access": _("Access"),
            "include_subordinates": _("Include the owner role's subordinates"),
            "share_with_subordinates": _("Also share with the role's subordinates")}


def _rule_page(values, errors=None, status=200):
    errors = errors or FormErrors()
    tree = role_tree(services().access.list_roles(g.actor))
    return render_template("engine/setup/access/sharing_rule.html", values=values, errors=errors,
                           objects=object_choices(), roles=role_choices(tree), access_labels=access_labels(),
                           summary=errors.summary(_rule_labels())), status


@setup_access.get("/sharing/rules/new")
def new_sharing_rule():
    obj = request.args.get("object", "")[:64]
    return _rule_page({"object": obj, "basis": "owned_by_role", "access": "read"})


def _criteria_check(obj, source):
    """The problems of a criteria formula (it must compile as a ``where=`` filter of ``obj``)."""
    service = records()
    try:
        service.where_sql(service.runtime(obj), source, g.actor)
    except EngineError as exc:
        return [("criteria", exc.message)]
    return []


@setup_access.post("/sharing/rules/new")
def create_sharing_rule():
    values = {"object": text("object", 64), "name": text("name", 64), "basis": text("basis", 20),
              "owned_by_role": text("owned_by_role", 64), "include_subordinates": checked("include_subordinates"),
              "criteria": (request.form.get("criteria") or "").strip()[:4000],
              "share_with_role": text("share_with_role", 64),
              "share_with_subordinates": checked("share_with_subordinates"), "access": text("access", 8)}
    errors = FormErrors()
    for key in ("object", "name", "share_with_role"):
        if not values[key]:
            errors.add(key, _("Required."))
    by_criteria = values["basis"] == "criteria"
    basis_key = "criteria" if by_criteria else "owned_by_role"
    if not values[basis_key]:
        errors.add(basis_key, _("Write a formula that is true for the records to share.") if by_criteria
                   else _("Choose the role whose members' records are shared."))
    if not errors:
        doc = {"object": values["object"], "name": values["name"], "share_with_role": values["share_with_role"],
               "share_with_subordinates": values["share_with_subordinates"], "access": values["access"]}
        if by_criteria:
            doc["criteria"] = values["criteria"]
        else:
            doc.update(owned_by_role=values["owned_by_role"], include_subordinates=values["include_subordinates"])
        try:
            services().access.create_sharing_rule(doc, g.actor, {name: set(rt.ftypes) for name, rt in
                                                                  g.snapshot.objects.items()},
                                                  check_criteria=_criteria_check)
        except REFUSALS as exc:
            put_errors(exc, errors, _rule_labels(), default="name")
        else:
            flash(_("Sharing rule '%(rule)s' was created.", rule=values["name"]), "success")
            return redirect(url_for("setup_access.sharing") + "#rules", code=303)
    return _rule_page(values, errors, 422)


def _rule(rule_id):
    for rule in _rules():
        if rule.id == rule_id:
            return rule
    raise NotFound("security.E039", f"Unknown sharing rule '{rule_id[:40]}'.")


@setup_access.get("/sharing/rules/<rule_id>/delete")
def confirm_delete_sharing_rule(rule_id):
    """What deleting the rule takes away, and the button that does it."""
    return render_template("engine/setup/access/sharing_rule_delete.html", rule=_rule(rule_id),
                           access_labels=access_labels())


@setup_access.post("/sharing/rules/<rule_id>/delete")
def delete_sharing_rule(rule_id):
    rule = _rule(rule_id)
    services().access.delete_sharing_rule(rule.id, g.actor)
    flash(_("Sharing rule '%(rule)s' was deleted.", rule=rule.name), "success")
    return redirect(url_for("setup_access.sharing") + "#rules", code=303)
