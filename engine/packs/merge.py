"""Elements, baselines and admin overrides: what a pack owns and how a new version merges in.

A pack's object files are cut into *elements* — the object's own properties, each field, each
picklist option, each validation rule, layout, list view, automation rule and approval process —
keyed ``(kind, key)``::

    ("object", "account")                       label, plural_label, label_i18n, sharing, ...
    ("field", "account.industry")               the field document without its options
    ("option", "account.industry:Energy")       one picklist option
    ("layout", "account.main")                  one layout (likewise list_view, validation_rule,
                                                automation_rule, approval_process)

``tessera_pack_elements`` keeps, for every element a pack installed, its definition as the pack
wrote it: the *baseline*. The live metadata minus the baseline is exactly what administrators did
— Frappe's Custom Field (an element no pack owns: kept, never touched) and Property Setter (a key
of a pack element whose live value differs from the baseline: kept, and reported when the pack
changes that key too) — without a second copy that could drift from what is live.

:func:`merge_object` is the one algorithm behind install (no baseline), upgrade (old baseline,
new elements) and uninstall (no new elements): per key, a value the admin did not change takes
the new version's value; a value the admin changed stays.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from engine.metadata.field_types import field_types

from .format import ITEM_KINDS

ITEM_KIND = {k: k[:-1] for k in ITEM_KINDS}            # validation_rules -> validation_rule
KIND_LIST = {v: k for k, v in ITEM_KIND.items()}
_MISSING = object()


@dataclass
class PlanItem:
    """One line of a plan: what happens to one element."""

    kind: str
    key: str
    action: str                  # create | change | keep | archive
    note: str = ""
    destructive: bool = False

    def as_dict(self):
        out = {"kind": self.kind, "key": self.key, "action": self.action}
        if self.note:
            out["note"] = self.note
        if self.destructive:
            out["destructive"] = True
        return out


@dataclass
class ObjectMerge:
    """The result of merging one pack's elements into one object."""

    name: str
    target: dict | None                        # the document to apply (None: archive the object)
    items: list = field(default_factory=list)  # PlanItems
    owned: dict = field(default_factory=dict)  # (kind, key) -> definition the pack owns afterwards
    overrides: list = field(default_factory=list)   # admin changes kept (text)
    create: bool = False
    archive: bool = False


def object_props(doc):
    """The object's own properties: everything but its fields and named lists."""
    return {k: copy.deepcopy(v) for k, v in doc.items() if k not in ("fields", *ITEM_KINDS)}


def field_body(fdoc):
    return {k: copy.deepcopy(v) for k, v in fdoc.items() if k != "options"}


def elements_of(obj, doc, *, owner, host_fields=()):
    """The elements of an object file (``owner``: the pack owns the object itself). In an extension,
    a field that the host object has already contributes only its options (new picklist values)."""
    out = {}
    if owner:
        out[("object", obj)] = object_props(doc)
    for fdoc in doc.get("fields") or []:
        name = fdoc["api_name"]
        if owner or name not in host_fields:
            out[("field", f"{obj}.{name}")] = field_body(fdoc)
        for opt in fdoc.get("options") or []:
            out[("option", f"{obj}.{name}:{opt['value']}")] = copy.deepcopy(opt)
    for kind in ITEM_KINDS:
        for item in doc.get(kind) or []:
            out[(ITEM_KIND[kind], f"{obj}.{item['name']}")] = copy.deepcopy(item)
    return out


def live_elements(obj, doc):
    """Every element of a live object document (to tell whose each one is)."""
    return elements_of(obj, doc, owner=True) if doc is not None else {}


def _merge_props(live, base, new):
    """``(merged, conflicts, overridden)``: per key, the new value unless the admin changed it."""
    merged = dict(live)
    conflicts, overridden = [], []
    for key in sorted(set(base) | set(new)):
        lv, bv, nv = live.get(key, _MISSING), base.get(key, _MISSING), new.get(key, _MISSING)
        if lv == bv:
            if nv is _MISSING:
                merged.pop(key, None)
            else:
                merged[key] = copy.deepcopy(nv)
        else:
            overridden.append(key)
            if nv != bv:
                conflicts.append(key)
    return merged, conflicts, overridden


def _narrowing(old, new):
    """A change of a field that may lose data: another type, a shorter text, fewer digits."""
    if old.get("type") != new.get("type"):
        return True
    for key in ("max_length", "precision", "scale"):
        o, n = old.get(key), new.get(key)
        if isinstance(o, int) and isinstance(n, int) and n < o:
            return True
    return False


def merge_object(obj, live, base, new, owned_by_others=frozenset()):
    """Merge pack elements into object ``obj``.

    ``live``: the live document (None when it does not exist); ``base``: the elements this pack
    installed before (its baseline); ``new``: the elements of the version being applied (empty on
    uninstall); ``owned_by_others``: element keys other packs own (not the admin's).
    """
    m = ObjectMerge(obj, None)
    okey = ("object", obj)
    if okey in base and okey not in new:               # the pack drops (or uninstalls) its object
        m.archive = live is not None
        m.items.append(PlanItem("object", obj, "archive", "its records are kept in the archive",
                                destructive=True))
        return m
    doc = copy.deepcopy(live) if live is not None else {"api_name": obj}
    m.create = live is None
    if okey in new:
        if live is None:
            doc.update(copy.deepcopy(new[okey]))
            m.items.append(PlanItem("object", obj, "create"))
        else:
            props, conflicts, overridden = _merge_props(object_props(live), base.get(okey, {}), new[okey])
            _apply_item(m, "object", obj, object_props(live), props, conflicts, overridden)
            for k in list(doc):
                if k not in ("fields", *ITEM_KINDS):
                    doc.pop(k)
            doc.update(props)
        m.owned[okey] = new[okey]
    _merge_fields(m, obj, doc, live, base, new)
    _merge_options(m, obj, doc, live, base, new)
    for kind in ITEM_KINDS:
        _merge_items(m, obj, doc, live, base, new, kind)
    mine = set(base) | set(new)
    for key in sorted(set(live_elements(obj, live)) - mine - set(owned_by_others)):
        if key[0] != "object":
            m.overrides.append(f"{key[0].replace('_', ' ')} '{key[1]}' (added by an administrator): kept")
    m.target = doc
    return m


def _apply_item(m, kind, key, before, after, conflicts, overridden):
    if overridden:
        m.overrides.append(f"{kind.replace('_', ' ')} '{key}': {', '.join(overridden)} changed by an administrator"
                           + (f"; kept although this version changes {', '.join(conflicts)} too" if conflicts
                              else ": kept"))
    if after != before:
        m.items.append(PlanItem(kind, key, "change",
                                "keeps the administrator's " + ", ".join(overridden) if overridden else ""))
    else:
        m.items.append(PlanItem(kind, key, "keep", "the administrator's version" if conflicts else ""))


def _merge_fields(m, obj, doc, live, base, new):
    fields = doc.setdefault("fields", [])
    by_name = {f["api_name"]: f for f in fields}
    names = [k[1].split(".", 1)[1] for k in list(base) + list(new) if k[0] == "field"]
    for name in dict.fromkeys(names):
        key = ("field", f"{obj}.{name}")
        b, n, lf = base.get(key), new.get(key), by_name.get(name)
        label = f"{obj}.{name}"
        if n is None:                                  # dropped by this version, or uninstalled
            if lf is not None:
                fields.remove(lf)
                stored = field_types.get(lf["type"]).stored if lf.get("type") in field_types else False
                m.items.append(PlanItem("field", label, "archive",
                                        "its values are kept in the archive" if stored else "",
                                        destructive=stored))
            continue
        m.owned[key] = n
        if lf is None:
            if b is not None and live is not None:
                m.items.append(PlanItem("field", label, "keep", "deleted by an administrator; not added again"))
                m.overrides.append(f"field '{label}' deleted by an administrator: stays deleted")
                continue
            created = copy.deepcopy(n)
            fields.append(created)
            by_name[name] = created
            m.items.append(PlanItem("field", label, "create"))
            continue
        if b is None:
            if not m.create:
                m.owned.pop(key)
                m.items.append(PlanItem("field", label, "keep", "an administrator's field of the same name "
                                                                 "exists; it is kept and stays theirs"))
                continue
            b = {}
        body = field_body(lf)
        merged, conflicts, overridden = _merge_props(body, b, n)
        _apply_item(m, "field", label, body, merged, conflicts, overridden)
        item = m.items[-1]
        if item.action == "change" and _narrowing(body, merged):
            item.destructive = True
            item.note = (item.note + "; " if item.note else "") + "narrowing change of the stored values"
        options = lf.get("options")
        lf.clear()
        lf.update(merged)
        if options is not None:
            lf["options"] = options


def _merge_options(m, obj, doc, live, base, new):
    by_name = {f["api_name"]: f for f in doc.get("fields") or []}
    keys = [k for k in list(base) + list(new) if k[0] == "option"]
    for key in dict.fromkeys(keys):
        fname, value = key[1][len(obj) + 1:].split(":", 1)
        host = by_name.get(fname)
        b, n = base.get(key), new.get(key)
        label = f"{obj}.{fname}:{value}"
        if host is None:
            if n is not None and ("field", f"{obj}.{fname}") not in new:
                m.items.append(PlanItem("option", label, "keep", f"the field '{fname}' does not exist"))
            continue
        options = host.setdefault("options", [])
        lo = next((o for o in options if o.get("value") == value), None)
        if n is None:
            if lo is not None:
                options.remove(lo)
                m.items.append(PlanItem("option", label, "archive", "records keep their value"))
            continue
        m.owned[key] = n
        if lo is None:
            if b is not None and live is not None and any(f.get("api_name") == fname for f in live.get("fields") or []):
                m.items.append(PlanItem("option", label, "keep", "removed by an administrator; not added again"))
                m.overrides.append(f"option '{label}' removed by an administrator: stays removed")
                continue
            options.append(copy.deepcopy(n))
            m.items.append(PlanItem("option", label, "create"))
            continue
        if b is None and live is not None and any(f.get("api_name") == fname for f in live.get("fields") or []):
            m.owned.pop(key)
            m.items.append(PlanItem("option", label, "keep", "an administrator added this value already"))
            continue
        merged, conflicts, overridden = _merge_props(lo, b or {}, n)
        _apply_item(m, "option", label, dict(lo), merged, conflicts, overridden)
        lo.clear()
        lo.update(merged)


def _merge_items(m, obj, doc, live, base, new, kind):
    singular = ITEM_KIND[kind]
    items = doc.get(kind) or []
    by_name = {i.get("name"): i for i in items}
    keys = [k for k in list(base) + list(new) if k[0] == singular]
    for key in dict.fromkeys(keys):
        name = key[1][len(obj) + 1:]
        b, n, li = base.get(key), new.get(key), by_name.get(name)
        label = f"{obj}.{name}"
        if n is None:
            if li is not None:
                items.remove(li)
                m.items.append(PlanItem(singular, label, "archive", "kept in the object's history"))
            continue
        m.owned[key] = n
        if li is None:
            if b is not None and live is not None:
                m.items.append(PlanItem(singular, label, "keep", "deleted by an administrator; not added again"))
                m.overrides.append(f"{singular.replace('_', ' ')} '{label}' deleted by an administrator: stays deleted")
                continue
            items.append(copy.deepcopy(n))
            m.items.append(PlanItem(singular, label, "create"))
            continue
        if b is None and not m.create:
            m.owned.pop(key)
            m.items.append(PlanItem(singular, label, "keep", "an administrator's element of the same name exists"))
            continue
        merged, conflicts, overridden = _merge_props(li, b or {}, n)
        _apply_item(m, singular, label, dict(li), merged, conflicts, overridden)
        li.clear()
        li.update(merged)
    if items:
        doc[kind] = items
    else:
        doc.pop(kind, None)
