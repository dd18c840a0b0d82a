"""Permission plans and row visibility.

A plan is everything one user's access needs, computed once per (user, security
version) and cached: object rights, field rights, role, applicable sharing rules.
Visibility is compiled into SQL for every query — no post-filtering — so counts
and cursors stay right. Rules (api.md, docs/security.md):

- object rights come from the union of the user's permission sets; admins have all;
- org-wide default per object (``sharing``): ``public_read_write`` (default), ``public_read``, ``private``;
- with ``private`` (and for edits under ``public_read``) a user reaches a record when they own it,
  when its owner's role is below theirs in the hierarchy, when it is shared with them by hand, or
  when a sharing rule for their role covers it (by owner role, or by a criteria formula);
- ``view_all`` / ``modify_all`` skip row checks for reading / for everything.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import literal, or_, select, union, union_all

from engine.db import users
from engine.errors import Forbidden, NotFound

from .model import (permission_sets, record_shares, role_closure, sharing_rules,
                    user_permission_sets)

RIGHTS = ("read", "create", "edit", "delete", "view_all", "modify_all")
FIELD_LEVELS = {"hidden": 0, "read": 1, "edit": 2}


@dataclass(frozen=True)
class Plan:
    """What one user may do, for one security version."""

    user_id: str
    is_admin: bool
    role: str | None
    objects: dict = field(default_factory=dict)     # object -> {right: bool}
    fields: dict = field(default_factory=dict)      # object -> {field: 'hidden'|'read'|'edit'}
    rules: tuple = ()                               # (object, owned_by_roles tuple|None, criteria|None, access)

    def can(self, obj, right):
        if self.is_admin:
            return True
        rights = self.objects.get(obj) or {}
        if right == "read":
            return bool(rights.get("read") or rights.get("view_all") or rights.get("modify_all"))
        if right in ("create", "edit", "delete"):
            return bool(rights.get(right) or rights.get("modify_all"))
        return bool(rights.get(right))

    def field_level(self, obj, field_name):
        if self.is_admin:
            return "edit"
        return (self.fields.get(obj) or {}).get(field_name, "edit")


ADMIN_PLAN = Plan(user_id="", is_admin=True, role=None)


def build_plan(conn, user_id, is_admin):
    """Compute a user's plan from permission sets, role and sharing rules."""
    row = conn.execute(select(users.c.role).where(users.c.id == user_id)).first()
    role = row.role if row else None
    if is_admin:
        return Plan(user_id=user_id, is_admin=True, role=role)
    objects, fields = {}, {}
    q = (select(permission_sets.c.doc)
         .join(user_permission_sets, user_permission_sets.c.permission_set == permission_sets.c.api_name)
         .where(user_permission_sets.c.user_id == user_id))
    docs = [json.loads(d) for d in conn.execute(q).scalars()]
    for doc in docs:
        for obj, rights in (doc.get("objects") or {}).items():
            merged = objects.setdefault(obj, {r: False for r in RIGHTS})
            for r in RIGHTS:
                merged[r] = merged[r] or bool(rights.get(r))
    # field rights: the most generous level any set that grants the object gives; unlisted = edit
    for obj in objects:
        levels = {}
        granting = [d for d in docs if (d.get("objects") or {}).get(obj)]
        for doc in granting:
            listed = (doc.get("fields") or {}).get(obj) or {}
            for fname, level in listed.items():
                levels.setdefault(fname, []).append(level)
        for fname, lv in levels.items():
            if len(lv) < len(granting):
                continue  # another set leaves it editable
            fields.setdefault(obj, {})[fname] = max(lv, key=lambda x: FIELD_LEVELS.get(x, 2))
    rules = ()
    if role:
        my_roles = [role] + list(conn.execute(select(role_closure.c.ancestor).where(
            role_closure.c.descendant == role, role_closure.c.depth > 0)).scalars())
        out = []
        for r in conn.execute(select(sharing_rules).where(sharing_rules.c.share_with_role.in_(my_roles))):
            if r.share_with_role != role and not r.share_with_subordinates:
                continue
            owned = None
            if r.owned_by_role:
                owned = [r.owned_by_role]
                if r.include_subordinates:
                    owned += list(conn.execute(select(role_closure.c.descendant).where(
                        role_closure.c.ancestor == r.owned_by_role, role_closure.c.depth > 0)).scalars())
                owned = tuple(owned)
            out.append((r.object, owned, r.criteria, r.access))
        rules = tuple(out)
    return Plan(user_id=user_id, is_admin=False, role=role, objects=objects, fields=fields, rules=rules)


class PlanCache:
    """LRU of plans keyed by (user, security version): changes anywhere invalidate by version."""

    def __init__(self, size=2048):
        self._data = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, engine, user_id, is_admin, version):
        key = (user_id, is_admin, version)
        with self._lock:
            plan = self._data.get(key)
            if plan is not None:
                self._data.move_to_end(key)
                return plan
        with engine.connect() as conn:
            plan = build_plan(conn, user_id, is_admin)
        with self._lock:
            self._data[key] = plan
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return plan


def require(plan, rt, right):
    """Raise 403 unless the plan grants ``right`` on the object; 404 (the answer for an object
    that does not exist) when the plan may not even read it."""
    if plan is None or plan.can(rt.name, right):
        return
    if not plan.can(rt.name, "read"):
        raise NotFound("metadata.E041", f"Unknown object '{rt.name}'.")
    verb = {"read": "see", "create": "create", "edit": "edit", "delete": "delete"}.get(right, right)
    raise Forbidden("security.E034", f"You may not {verb} {rt.odef.plural_label}.")


def has_shares(conn, plan, obj):
    """Whether any record of ``obj`` is shared with the user by hand (one index-only probe)."""
    return conn.execute(select(record_shares.c.record_id).where(
        record_shares.c.user_id == plan.user_id, record_shares.c.object == obj).limit(1)).first() is not None


def visibility(plan, rt, access, criteria_sql=None, shares_exist=True, table=None):
    """SQL condition: rows of ``rt`` the plan reaches with ``access`` ('read' or 'edit').

    ``shares_exist=False`` (the caller probed ``has_shares``) drops the share arm, leaving the
    plain ``owner_id IN (...)`` a hand-written query would use. ``table`` is an alias of the
    object's table to write the condition for (default: the table itself).
    """
    if plan is None or plan.is_admin:
        return None
    rights = plan.objects.get(rt.name) or {}
    if rights.get("modify_all") or (access == "read" and rights.get("view_all")):
        return None
    owd = rt.odef.sharing
    if owd == "public_read_write" or (owd == "public_read" and access == "read"):
        return None
    # One semi-join on the primary key over a UNION of indexed look-ups (owner_id index, share
    # index), so the database can start from the few reachable rows instead of testing an OR of
    # sub-queries against every row.
    t = table if table is not None else rt.table
    inner = rt.table.alias("vis")
    owners = [select(literal(plan.user_id).label("uid"))]
    if plan.role:
        owners.append(select(users.c.id).join(role_closure, role_closure.c.descendant == users.c.role)
                      .where(role_closure.c.ancestor == plan.role, role_closure.c.depth > 0))
    criteria_conds = []
    for obj, owned, criteria, rule_access in plan.rules:
        if obj != rt.name or (access == "edit" and rule_access != "edit"):
            continue
        if owned:
            owners.append(select(users.c.id).where(users.c.role.in_(owned)))
        elif criteria and criteria_sql is not None:
            expr = criteria_sql(criteria)
            if expr is not None:
                criteria_conds.append(expr)
    shares = select(record_shares.c.record_id).where(
        record_shares.c.user_id == plan.user_id, record_shares.c.object == rt.name)
    if access == "edit":
        shares = shares.where(record_shares.c.access == "edit")
    owner_set = union(*owners) if len(owners) > 1 else owners[0]
    if not shares_exist:
        cond = t.c.owner_id.in_(owner_set)
    else:
        by_owner = select(inner.c.id).where(inner.c.owner_id.in_(owner_set))
        cond = t.c.id.in_(union_all(by_owner, shares))
    return or_(cond, *criteria_conds) if criteria_conds else cond


def writable_check(plan, rt, data):
    """Field errors for writing fields the plan makes read-only or hidden."""
    if plan is None or plan.is_admin or not isinstance(data, dict):
        return {}
    levels = plan.fields.get(rt.name) or {}
    return {k: ["You may not change this field."] for k in data if levels.get(k, "edit") != "edit"}


def hidden_fields(plan, rt):
    if plan is None or plan.is_admin:
        return ()
    return tuple(k for k, v in (plan.fields.get(rt.name) or {}).items() if v == "hidden")


__all__ = ["Plan", "PlanCache", "build_plan", "require", "visibility", "writable_check", "hidden_fields",
           "has_shares", "ADMIN_PLAN"]
