"""Applying merged documents through the normal services, in stages, inside the pack's transaction.

Objects of a pack point at each other (lookups, roll-ups, cross-object formulas, automations that
create records elsewhere), and the metadata store checks every change against what exists. So the
installer goes in stages, each one a round of ordinary ``store.change`` calls::

    remove    elements this version drops (rules and fields first go with the document)
    archive   objects this version drops or that are uninstalled
    plain     new objects with their plain fields (no lookups, no formulas, no rules)
    lookups   every lookup and master-detail field
    fields    every field, formulas and roll-ups included
    full      the whole document: validation rules, layouts, list views, automations, approvals

Within a stage, :func:`converge` applies each object's document and retries the ones the store
refused until a round makes no progress (then the first refusal is the answer): a formula that
reads another object's formula field simply goes in the next round. Each call is a SAVEPOINT
(``bound.ConnectionEngine``), so a refused call leaves nothing behind.
"""
from __future__ import annotations

import copy
import json
import re

from engine.errors import EngineError, MetadataError
from engine.metadata.field_types import field_types

from .format import ITEM_KINDS
from .merge import object_props

STAGES = ("plain", "lookups", "fields", "full")


def _computed(fdoc):
    """A field evaluated from a formula on read (it holds no data)."""
    return fdoc.get("type") in field_types and field_types.get(fdoc["type"]).computed


def _allowed(fdoc, stage):
    ftype = field_types.get(fdoc["type"]) if fdoc.get("type") in field_types else None
    if ftype is None or stage in ("fields", "full"):
        return True
    if ftype.family == "computed":
        return False
    return stage == "lookups" or ftype.family != "lookup"


def stage_doc(current, target, stage):
    """The document to apply at ``stage``, from the ``current`` one (None: new) toward ``target``."""
    if stage == "full":
        return copy.deepcopy(target)
    doc = object_props(target)
    have = {f["api_name"]: f for f in (current or {}).get("fields") or []}
    fields = []
    for fdoc in target.get("fields") or []:
        if _allowed(fdoc, stage):
            fields.append(copy.deepcopy(fdoc))
        elif fdoc["api_name"] in have:
            fields.append(copy.deepcopy(have[fdoc["api_name"]]))
    if fields:
        doc["fields"] = fields
    keep = {kind: {i.get("name") for i in target.get(kind) or []} for kind in ITEM_KINDS}
    for kind in ITEM_KINDS:
        items = [copy.deepcopy(i) for i in (current or {}).get(kind) or [] if i.get("name") in keep[kind]]
        if items:
            doc[kind] = items
    return doc


def removal_doc(current, target):
    """``current`` without the fields and named elements that ``target`` no longer has. An element
    that names a field going away (a layout listing it) is left out too until the last stage puts
    the target's version back — all inside the pack's one transaction."""
    doc = copy.deepcopy(current)
    names = {f["api_name"] for f in target.get("fields") or []}
    gone = [f["api_name"] for f in doc.get("fields") or [] if f["api_name"] not in names]
    doc["fields"] = [f for f in doc.get("fields") or [] if f["api_name"] in names]
    mentions = re.compile(r"\b(" + "|".join(map(re.escape, gone)) + r")\b") if gone else None
    for kind in ITEM_KINDS:
        keep = {i.get("name") for i in target.get(kind) or []}
        items = [i for i in doc.get(kind) or [] if i.get("name") in keep
                 and not (mentions and mentions.search(json.dumps(i)))]
        if items:
            doc[kind] = items
        else:
            doc.pop(kind, None)
    return doc


class Step:
    """One metadata change to make: ``create`` an object, ``change`` it to ``doc``, or ``archive`` it."""

    def __init__(self, name, action, doc=None):
        self.name, self.action, self.doc = name, action, doc

    def run(self, store, actor):
        if self.action == "create":
            store.create_object(self.doc, actor)
        elif self.action == "archive":
            store.delete_object(self.name, actor)
        else:
            doc = self.doc
            # a field added again that the object's archive holds comes back with its values
            restore = tuple(f["api_name"] for f in doc.get("fields") or [])
            store.change(self.name, lambda _old: copy.deepcopy(doc), actor=actor, action="pack_update",
                         summary=f"pack: {self.summary}" if getattr(self, "summary", "") else "pack update",
                         restore_fields=restore)


def converge(store, steps, actor):
    """Run ``steps`` until all are done; a refused step is tried again after the others. Raises the
    first refusal of a round that made no progress."""
    pending = list(steps)
    while pending:
        refused = []
        for step in pending:
            try:
                step.run(store, actor)
            except MetadataError as exc:
                refused.append((step, exc))
        if len(refused) == len(pending):
            raise refused[0][1]
        pending = [s for s, _ in refused]


def apply_objects(bound, actor, merges, live, summary=""):
    """Apply ``merges`` (``ObjectMerge`` by name) in the stages of the module docstring."""
    store = bound.store
    current = {n: copy.deepcopy(d) for n, d in live.items()}
    steps = []
    for name, m in merges.items():
        if m.target is not None and current.get(name) is not None:
            doc = removal_doc(current[name], m.target)
            if doc != current[name]:
                steps.append(_change(name, doc, summary))
                current[name] = doc
    converge(store, steps, actor)
    archive_objects(store, actor, [n for n, m in merges.items() if m.archive], current)
    for stage in STAGES:
        steps = []
        for name, m in merges.items():
            if m.target is None:
                continue
            doc = stage_doc(current.get(name), m.target, stage)
            if current.get(name) is None:
                steps.append(Step(name, "create", doc))
            elif doc != current[name]:
                steps.append(_change(name, doc, summary))
            current[name] = doc
        converge(store, steps, actor)


def archive_objects(store, actor, names, current):
    """Archive ``names``; objects that point at each other (a lookup cycle, a roll-up over a child
    archived too) first lose those fields — archived with their values, restorable — then go."""
    try:
        converge(store, [Step(n, "archive") for n in names], actor)
        return
    except MetadataError:
        pass
    gone = set(names)
    steps = []
    for name in names:
        if store_doc(store, name) is None:
            gone.discard(name)
            continue
        doc = copy.deepcopy(store_doc(store, name))
        # formulas go too: one may read a roll-up or a lookup that goes (they hold no data)
        keep = [f for f in doc.get("fields") or [] if f.get("target") not in gone
                and (f.get("summary") or {}).get("object") not in gone and not _computed(f)]
        if len(keep) != len(doc.get("fields") or []):
            doc["fields"] = keep
            for kind in ITEM_KINDS:
                doc.pop(kind, None)
            steps.append(_change(name, doc, "archive"))
    converge(store, steps, actor)
    converge(store, [Step(n, "archive") for n in sorted(gone)], actor)


def store_doc(store, name):
    from engine.metadata.store import load_docs

    with store.engine.connect() as conn:
        row = load_docs(conn).get(name)
    return row["doc"] if row else None


def _change(name, doc, summary):
    step = Step(name, "change", doc)
    step.summary = summary
    return step


# -- security ------------------------------------------------------------------------------------

def apply_roles(bound, actor, base, new, plan):
    """Create new roles (parents first) and change labels; roles to delete are returned for later."""
    from engine.security.model import roles as roles_table
    from sqlalchemy import select

    with bound.engine.connect() as conn:
        existing = {r.api_name: r for r in conn.execute(select(roles_table))}
    owned, drop = {}, []
    for name, role in new.items():
        key = ("role", name)
        if name not in existing:
            bound.access.create_role(role, actor)
            plan.append(("role", name, "create", ""))
            owned[key] = role
        elif name in base:
            b = base[name]
            live = {"api_name": name, "label": existing[name].label, **({"parent": existing[name].parent}
                                                                          if existing[name].parent else {})}
            want = role.get("label") or name.replace("_", " ").title()
            if live.get("label") == (b.get("label") or name.replace("_", " ").title()) and live["label"] != want:
                bound.access.update_role(name, {"label": want}, actor)
                plan.append(("role", name, "change", ""))
            else:
                plan.append(("role", name, "keep", "label changed by an administrator" if
                             live.get("label") != want else ""))
            owned[key] = role
        else:
            plan.append(("role", name, "keep", "an administrator's role of the same name exists; it stays theirs"))
    for name in base:
        if name not in new and name in existing:
            drop.append(name)
    return owned, drop


def drop_roles(bound, actor, names, plan):
    """Delete roles the pack no longer has; a role still in use is kept (and said so)."""
    from engine.errors import ConflictError

    kept = {}
    for name in names:
        try:
            bound.access.delete_role(name, actor)
            plan.append(("role", name, "archive", ""))
        except ConflictError as exc:
            plan.append(("role", name, "keep", exc.message))
            kept[("role", name)] = None
    return kept


def apply_permission_sets(bound, actor, base, new, plan):
    owned = {}
    live = {p["api_name"]: p for p in bound.access.list_permission_sets(actor)}
    objects = _object_fields(bound)
    for name, ps in new.items():
        owned[("permission_set", name)] = ps
        if name not in live:
            bound.access.save_permission_set(copy.deepcopy(ps), actor, objects, create=True)
            plan.append(("permission_set", name, "create", ""))
        elif name in base and live[name] == base[name] and ps != base[name]:
            bound.access.save_permission_set(copy.deepcopy(ps), actor, objects, create=False)
            plan.append(("permission_set", name, "change", ""))
        elif name in base:
            plan.append(("permission_set", name, "keep", "changed by an administrator" if live[name] != base[name]
                         else ""))
        else:
            owned.pop(("permission_set", name))
            plan.append(("permission_set", name, "keep", "an administrator's permission set of the same name exists"))
    for name in base:
        if name not in new and name in live:
            bound.access.delete_permission_set(name, actor)
            plan.append(("permission_set", name, "archive", ""))
    return owned


def apply_sharing_rules(bound, actor, base, new, plan):
    owned = {}
    live = {(r["object"], r["name"]): r for r in bound.access.list_sharing_rules(actor)}
    objects = _object_fields(bound)
    for key, rule in base.items():
        if key not in new or rule != new[key]:
            if key in live:
                bound.access.delete_sharing_rule(live[key]["id"], actor)
                if key not in new:
                    plan.append(("sharing_rule", ".".join(key), "archive", ""))
    for key, rule in new.items():
        owned[("sharing_rule", ".".join(key))] = rule
        if key in live and key in base and rule == base[key]:
            plan.append(("sharing_rule", ".".join(key), "keep", ""))
            continue
        if key in live and key not in base:
            owned.pop(("sharing_rule", ".".join(key)))
            plan.append(("sharing_rule", ".".join(key), "keep", "an administrator's rule of the same name exists"))
            continue
        bound.access.create_sharing_rule(copy.deepcopy(rule), actor, objects, _criteria_checker(bound))
        plan.append(("sharing_rule", ".".join(key), "change" if key in base else "create", ""))
    return owned


def _object_fields(bound):
    snap = bound.snapshots.refresh()
    return {name: {f.api_name for f in rt.odef.fields} for name, rt in snap.objects.items()}


def _criteria_checker(bound):
    """Sharing-rule criteria compiled as the API's door does (``where_sql`` for the system)."""
    def check(obj, source):
        records = bound.records()
        try:
            records.where_sql(records.runtime(obj), source, actor_for_checks())
        except EngineError as exc:
            return [("criteria", exc.message)]
        return []
    return check


def actor_for_checks():
    from engine.security import SYSTEM_ACTOR
    return SYSTEM_ACTOR
