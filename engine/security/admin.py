"""Managing access control: roles, users' role/manager, permission sets, sharing
rules and manual shares. Every change bumps the security version (so every
process rebuilds its plans) and is audited, in one transaction."""
from __future__ import annotations

import json
import re

from sqlalchemy import delete, insert, select, update
from uuid6 import uuid7

from engine.db import SECURITY_STATE, iso_utc, meta_state, users, utcnow
from engine.errors import BadRequest, Conflict, Forbidden, MetadataError, NotFound
from engine.metadata.checks import suggest

from .access import FIELD_LEVELS, RIGHTS
from .audit import audit
from .model import (permission_sets, record_shares, role_closure, roles, sharing_rules,
                    user_permission_sets)
from .sessions import browser_sessions
from .users import create_user, hash_password

LOCALES = {"en": "en", "zh": "zh_CN", "zh_CN": "zh_CN"}   # accepted -> stored
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def require_admin(actor):
    """Managing users, roles, permission sets and sharing rules is for administrators."""
    if actor is None or not actor.is_admin:
        raise Forbidden("security.E033", "Only administrators may manage users, roles, permission sets "
                        "and sharing rules.")


def bump_security(conn):
    conn.execute(update(meta_state).where(meta_state.c.id == SECURITY_STATE)
                 .values(version=meta_state.c.version + 1))


def _name(value, what="api_name"):
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise MetadataError([(what, f"must be lowercase snake_case (got {json.dumps(value)[:40]})")],
                            code="security.E010")
    return value


class AccessAdmin:
    """Admin operations on the access-control model."""

    def __init__(self, engine):
        self.engine = engine

    # -- roles ---------------------------------------------------------------
    def list_roles(self, actor):
        require_admin(actor)
        with self.engine.connect() as conn:
            return [dict(r._mapping) | {"created_at": iso_utc(r.created_at)}
                    for r in conn.execute(select(roles).order_by(roles.c.api_name))]

    def create_role(self, doc, actor):
        require_admin(actor)
        name = _name(doc.get("api_name"))
        label = doc.get("label") or name.replace("_", " ").title()
        parent = doc.get("parent")
        with self.engine.begin() as conn:
            existing = set(conn.execute(select(roles.c.api_name)).scalars())
            if name in existing:
                raise Conflict("security.E041", f"Role '{name}' already exists.", fields={"api_name": ["exists"]})
            if parent is not None and parent not in existing:
                raise MetadataError([("parent", f"unknown role '{parent}'{suggest(str(parent), existing)}")],
                                    code="security.E011")
            conn.execute(insert(roles).values(api_name=name, label=str(label)[:120], parent=parent,
                                              created_at=utcnow()))
            conn.execute(insert(role_closure).values(ancestor=name, descendant=name, depth=0))
            if parent:
                ups = conn.execute(select(role_closure.c.ancestor, role_closure.c.depth)
                                   .where(role_closure.c.descendant == parent)).all()
                conn.execute(insert(role_closure), [{"ancestor": a, "descendant": name, "depth": d + 1}
                                                    for a, d in ups])
            bump_security(conn)
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="create_role", role=name, parent=parent)
        return {"api_name": name, "label": label, "parent": parent}

    def update_role(self, name, patch, actor):
        """Change a role's label (the hierarchy is changed by creating roles; packs use this on upgrade)."""
        require_admin(actor)
        unknown = set(patch) - {"label"}
        if unknown:
            raise BadRequest("security.E012", f"Unknown key(s): {', '.join(sorted(unknown))}. Known: label.")
        with self.engine.begin() as conn:
            res = conn.execute(update(roles).where(roles.c.api_name == name)
                               .values(label=str(patch.get("label") or name)[:120]))
            if not res.rowcount:
                raise NotFound("security.E037", f"Unknown role '{name}'.")
            bump_security(conn)
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="update_role", role=name)

    def delete_role(self, name, actor):
        """Delete a role that no user holds, that has no child role and that no sharing rule names."""
        require_admin(actor)
        with self.engine.begin() as conn:
            if conn.execute(select(roles.c.api_name).where(roles.c.api_name == name)).first() is None:
                raise NotFound("security.E037", f"Unknown role '{name}'.")
            holders = sorted(conn.execute(select(users.c.username).where(users.c.role == name)).scalars())
            children = sorted(conn.execute(select(roles.c.api_name).where(roles.c.parent == name)).scalars())
            rules = sorted(f"{r.object}.{r.name}" for r in conn.execute(select(sharing_rules).where(
                (sharing_rules.c.owned_by_role == name) | (sharing_rules.c.share_with_role == name))))
            if holders or children or rules:
                what = "; ".join(x for x in (
                    f"users {', '.join(holders)} hold it" if holders else "",
                    f"roles {', '.join(children)} report to it" if children else "",
                    f"sharing rules {', '.join(rules)} name it" if rules else "") if x)
                raise Conflict("security.E022", f"Role '{name}' is in use ({what}); change those first.")
            conn.execute(delete(role_closure).where((role_closure.c.ancestor == name)
                                                    | (role_closure.c.descendant == name)))
            conn.execute(delete(roles).where(roles.c.api_name == name))
            bump_security(conn)
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="delete_role", role=name)

    # -- users -----------------------------------------------------------------
    def list_users(self, actor):
        require_admin(actor)
        return self._all_users()

    def _all_users(self):
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
            by_id = {r.id: r.username for r in rows}
            sets = {}
            for uid, ps in conn.execute(select(user_permission_sets)):
                sets.setdefault(uid, []).append(ps)
        return [self._user_json(r, by_id, sets) for r in rows]

    def get_user(self, username, actor):
        """A user's record: for administrators, and for the user themself."""
        if not (actor.is_admin or actor.username == username):
            require_admin(actor)
        for u in self._all_users():
            if u["username"] == username:
                return u
        raise NotFound("security.E036", f"Unknown user '{username}'.")

    @staticmethod
    def _user_json(r, by_id, sets):
        return {"id": r.id, "username": r.username, "is_admin": r.is_admin, "active": r.active,
                "locale": r.locale, "role": r.role, "manager": by_id.get(r.manager_id),
                "delegate": by_id.get(r.delegate_id), "permission_sets": sorted(sets.get(r.id, []))}

    def create_user(self, username, password, actor, *, is_admin=False):
        """Create a user (administrators only); returns the user's record."""
        require_admin(actor)
        create_user(self.engine, username, password, is_admin=is_admin)
        return self.get_user(username, actor)

    def update_user(self, username, patch, actor):
        """Change a user (administrators). A user may name their own ``delegate`` (who decides their
        approval work items while it is set; ``None`` ends it)."""
        if not (set(patch) <= {"delegate", "username"} and "delegate" in patch and actor is not None
                and actor.username == username):
            require_admin(actor)
        allowed = {"password", "is_admin", "role", "manager", "locale", "active", "delegate"}
        unknown = set(patch) - allowed - {"username"}
        if unknown:
            raise BadRequest("security.E012", f"Unknown key(s): {', '.join(sorted(unknown))}. "
                             f"Known: {', '.join(sorted(allowed))}.")
        values = {}
        with self.engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
            if row is None:
                raise NotFound("security.E036", f"Unknown user '{username}'.")
            if "role" in patch:
                if patch["role"] is not None and conn.execute(
                        select(roles.c.api_name).where(roles.c.api_name == patch["role"])).first() is None:
                    raise MetadataError([("role", f"unknown role '{patch['role']}'")], code="security.E011")
                values["role"] = patch["role"]
            if "manager" in patch:
                mid = None
                if patch["manager"] is not None:
                    m = conn.execute(select(users.c.id).where(users.c.username == patch["manager"])).first()
                    if m is None:
                        raise MetadataError([("manager", f"unknown user '{patch['manager']}'")],
                                            code="security.E011")
                    mid = m.id
                    if mid == row.id or self._manages(conn, row.id, mid):
                        raise MetadataError([("manager", "would make a management cycle")], code="security.E013")
                values["manager_id"] = mid
            if "delegate" in patch:
                values["delegate_id"] = self._delegate(conn, row, patch["delegate"])
            for key in ("is_admin", "active"):
                if key in patch:
                    if not isinstance(patch[key], bool):
                        raise MetadataError([(key, "must be true or false")], code="security.E014")
                    values[key] = patch[key]
            if "locale" in patch:
                if patch["locale"] not in LOCALES:
                    raise MetadataError([("locale", "must be 'en' or 'zh_CN'")], code="security.E014")
                values["locale"] = LOCALES[patch["locale"]]
            if row.id == actor.user_id and (values.get("active") is False or values.get("is_admin") is False):
                raise MetadataError([("active" if values.get("active") is False else "is_admin",
                                      "you cannot deactivate yourself or remove your own administrator rights; "
                                      "ask another administrator")], code="security.E019")
            if "password" in patch:
                if not isinstance(patch["password"], str) or len(patch["password"]) < 8:
                    raise MetadataError([("password", "must be at least 8 characters long")], code="security.E002")
                values["password_hash"] = hash_password(patch["password"])
            if values.get("active") is False or ("password_hash" in values and row.id != actor.user_id):
                # a deactivated user, or one whose password an admin reset, is signed out everywhere
                conn.execute(update(browser_sessions).where(browser_sessions.c.user_id == row.id,
                                                            browser_sessions.c.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))
            if values:
                conn.execute(update(users).where(users.c.id == row.id).values(values))
                bump_security(conn)
                audit(conn, "user_change", user_id=actor.user_id, username=actor.username, target=username,
                      changed=sorted(k for k in patch if k != "password") + (["password"] if "password" in patch
                                                                             else []))
        return self.get_user(username, actor)

    @staticmethod
    def _delegate(conn, row, name):
        """The id of the active user ``name`` that ``row`` delegates to (None: no delegate)."""
        if name is None:
            return None
        if not isinstance(name, str):
            raise MetadataError([("delegate", "must be a username or null")], code="security.E014")
        d = conn.execute(select(users.c.id, users.c.active).where(users.c.username == name)).first()
        if d is None or not d.active:
            raise MetadataError([("delegate", f"unknown user '{name[:150]}' (no active user has this username)")],
                                code="security.E011")
        if d.id == row.id:
            raise MetadataError([("delegate", "a user cannot be their own delegate")], code="security.E018")
        return d.id

    @staticmethod
    def _manages(conn, user_id, candidate_manager):
        """True when ``user_id`` is (indirectly) the manager of ``candidate_manager``."""
        seen, current = set(), candidate_manager
        while current and current not in seen:
            seen.add(current)
            row = conn.execute(select(users.c.manager_id).where(users.c.id == current)).first()
            current = row.manager_id if row else None
            if current == user_id:
                return True
        return False

    # -- permission sets ---------------------------------------------------------
    def _check_ps(self, doc, objects):
        problems = []
        for obj, rights in (doc.get("objects") or {}).items():
            if obj not in objects:
                problems.append((f"objects.{obj}", f"unknown object '{obj}'{suggest(obj, objects)}"))
                continue
            if not isinstance(rights, dict):
                problems.append((f"objects.{obj}", "must map rights to true/false"))
                continue
            for r, v in rights.items():
                if r not in RIGHTS:
                    problems.append((f"objects.{obj}.{r}", f"unknown right '{r}'{suggest(r, RIGHTS)}"))
                elif not isinstance(v, bool):
                    problems.append((f"objects.{obj}.{r}", "must be true or false"))
        for obj, levels in (doc.get("fields") or {}).items():
            if obj not in objects:
                problems.append((f"fields.{obj}", f"unknown object '{obj}'"))
                continue
            if not isinstance(levels, dict):
                problems.append((f"fields.{obj}", "must map fields to 'hidden', 'read' or 'edit'"))
                continue
            for f, level in levels.items():
                if f not in objects[obj]:
                    problems.append((f"fields.{obj}.{f}", f"unknown field '{f}'{suggest(f, objects[obj])}"))
                elif level not in FIELD_LEVELS:
                    problems.append((f"fields.{obj}.{f}", "must be 'hidden', 'read' or 'edit'"))
        if problems:
            raise MetadataError(problems, code="security.E015")

    def save_permission_set(self, doc, actor, objects, *, create=True):
        require_admin(actor)
        """``objects``: object api_name -> set of field names (from the snapshot)."""
        name = _name(doc.get("api_name"))
        unknown = set(doc) - {"api_name", "label", "objects", "fields", "description"}
        if unknown:
            raise BadRequest("security.E012", f"Unknown key(s): {', '.join(sorted(unknown))}.")
        self._check_ps(doc, objects)
        with self.engine.begin() as conn:
            exists = conn.execute(select(permission_sets.c.api_name)
                                  .where(permission_sets.c.api_name == name)).first()
            values = dict(label=str(doc.get("label") or name)[:120], doc=json.dumps(doc), updated_at=utcnow())
            if create:
                if exists:
                    raise Conflict("security.E042", f"Permission set '{name}' already exists.")
                conn.execute(insert(permission_sets).values(api_name=name, **values))
            else:
                if not exists:
                    raise NotFound("security.E038", f"Unknown permission set '{name}'.")
                conn.execute(update(permission_sets).where(permission_sets.c.api_name == name).values(values))
            bump_security(conn)
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="save_permission_set", permission_set=name)
        return doc

    def list_permission_sets(self, actor):
        require_admin(actor)
        with self.engine.connect() as conn:
            return [json.loads(r.doc) for r in conn.execute(select(permission_sets).order_by(permission_sets.c.api_name))]

    def delete_permission_set(self, name, actor):
        """Delete a permission set and its assignments to users."""
        require_admin(actor)
        with self.engine.begin() as conn:
            res = conn.execute(delete(permission_sets).where(permission_sets.c.api_name == name))
            if not res.rowcount:
                raise NotFound("security.E038", f"Unknown permission set '{name}'.")
            conn.execute(delete(user_permission_sets).where(user_permission_sets.c.permission_set == name))
            bump_security(conn)
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="delete_permission_set", permission_set=name)

    def assign(self, username, ps_name, actor, *, remove=False):
        require_admin(actor)
        with self.engine.begin() as conn:
            u = conn.execute(select(users.c.id).where(users.c.username == username)).first()
            if u is None:
                raise NotFound("security.E036", f"Unknown user '{username}'.")
            if conn.execute(select(permission_sets.c.api_name).where(permission_sets.c.api_name == ps_name)).first() is None:
                raise NotFound("security.E038", f"Unknown permission set '{ps_name}'.")
            where = (user_permission_sets.c.user_id == u.id) & (user_permission_sets.c.permission_set == ps_name)
            has = conn.execute(select(user_permission_sets).where(where)).first()
            if remove:
                conn.execute(delete(user_permission_sets).where(where))
            elif not has:
                conn.execute(insert(user_permission_sets).values(user_id=u.id, permission_set=ps_name))
            bump_security(conn)
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="unassign" if remove else "assign", target=username, permission_set=ps_name)

    # -- sharing rules -----------------------------------------------------------
    def create_sharing_rule(self, doc, actor, objects, check_criteria=None):
        require_admin(actor)
        allowed = {"object", "name", "owned_by_role", "criteria", "include_subordinates", "share_with_role",
                   "share_with_subordinates", "access"}
        unknown = set(doc) - allowed
        problems = [(k, "unknown key") for k in sorted(unknown)]
        obj = doc.get("object")
        if obj not in objects:
            problems.append(("object", f"unknown object '{obj}'{suggest(str(obj), objects)}"))
        name = doc.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            problems.append(("name", "must be lowercase snake_case"))
        if doc.get("access") not in ("read", "edit"):
            problems.append(("access", "must be 'read' or 'edit'"))
        if bool(doc.get("owned_by_role")) == bool(doc.get("criteria")):
            problems.append(("owned_by_role", "give exactly one of owned_by_role and criteria"))
        with self.engine.begin() as conn:
            known = set(conn.execute(select(roles.c.api_name)).scalars())
            for key in ("owned_by_role", "share_with_role"):
                v = doc.get(key)
                if (v is not None or key == "share_with_role") and v not in known:
                    problems.append((key, f"unknown role '{v}'{suggest(str(v), known)}"))
            if doc.get("criteria") and check_criteria and obj in objects:
                problems += check_criteria(obj, doc["criteria"])
            if problems:
                raise MetadataError(problems, code="security.E016")
            if conn.execute(select(sharing_rules.c.id).where(sharing_rules.c.object == obj,
                                                             sharing_rules.c.name == name)).first():
                raise Conflict("security.E043", f"Sharing rule '{name}' already exists on '{obj}'.")
            rid = str(uuid7())
            conn.execute(insert(sharing_rules).values(
                id=rid, object=obj, name=name, owned_by_role=doc.get("owned_by_role"), criteria=doc.get("criteria"),
                include_subordinates=bool(doc.get("include_subordinates")),
                share_with_role=doc["share_with_role"], share_with_subordinates=bool(doc.get("share_with_subordinates")),
                access=doc["access"], created_at=utcnow()))
            bump_security(conn)
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="create_sharing_rule", object=obj, rule=name)
        return dict(doc, id=rid)

    def list_sharing_rules(self, actor):
        require_admin(actor)
        with self.engine.connect() as conn:
            return [{k: v for k, v in r._mapping.items() if k != "created_at"}
                    for r in conn.execute(select(sharing_rules).order_by(sharing_rules.c.object, sharing_rules.c.name))]

    def delete_sharing_rule(self, rule_id, actor):
        require_admin(actor)
        with self.engine.begin() as conn:
            res = conn.execute(delete(sharing_rules).where(sharing_rules.c.id == rule_id))
            if not res.rowcount:
                raise NotFound("security.E039", f"Unknown sharing rule '{rule_id}'.")
            bump_security(conn)
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="delete_sharing_rule", rule=rule_id)

    # -- manual shares -------------------------------------------------------------
    def list_shares(self, obj, record_id):
        with self.engine.connect() as conn:
            q = (select(record_shares.c.access, record_shares.c.created_at, users.c.username)
                 .join(users, users.c.id == record_shares.c.user_id)
                 .where(record_shares.c.object == obj, record_shares.c.record_id == record_id)
                 .order_by(users.c.username))
            return [{"user": r.username, "access": r.access} for r in conn.execute(q)]

    def share(self, obj, record_id, username, access, actor, *, remove=False):
        if not remove and access not in ("read", "edit"):
            raise MetadataError([("access", "must be 'read' or 'edit'")], code="security.E017")
        with self.engine.begin() as conn:
            u = conn.execute(select(users.c.id).where(users.c.username == username)).first()
            if u is None:
                raise MetadataError([("user", f"unknown user '{username}'")], code="security.E017")
            where = ((record_shares.c.object == obj) & (record_shares.c.record_id == record_id)
                     & (record_shares.c.user_id == u.id))
            conn.execute(delete(record_shares).where(where))
            if not remove:
                conn.execute(insert(record_shares).values(
                    id=str(uuid7()), object=obj, record_id=record_id, user_id=u.id, access=access,
                    created_by=actor.user_id, created_at=utcnow()))
            audit(conn, "permission_change", user_id=actor.user_id, username=actor.username,
                  change="unshare" if remove else "share", object=obj, record=record_id, target=username,
                  access=access)
