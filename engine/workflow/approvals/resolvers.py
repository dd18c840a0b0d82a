"""The approver-resolver registry (``tessera.approver_resolvers`` entry points).

An approver document in a step (``{"type": "role", "role": "sales_director"}``) names a resolver by
its ``type``. A resolver is an :class:`ApproverResolver`: a ``key`` (lowercase, the ``type``), a
``label``, an ``options_schema`` (JSON Schema of the document's other keys), semantic ``check`` s
run when a process is saved, and ``resolve(options, rctx)`` run when a step starts (and when a
deadline escalates nothing else: escalation always goes to each approver's manager). The built-in
resolvers — user, role, manager, owner_manager, field — are registered here exactly as a plugin's
would be; the process JSON Schema (saving and the OpenAPI document) is built from the registry.

A plugin names an :class:`ApproverResolver` subclass or instance in the
``tessera.approver_resolvers`` entry point group; :func:`load_resolver_plugins` (called once by
the composition root) registers it, then the composition root freezes the registry.
"""
from __future__ import annotations

from dataclasses import dataclass

import jsonschema
from sqlalchemy import select

from engine.db import users
from engine.registry import Registry

resolvers = Registry("approver type", entry_point_group="tessera.approver_resolvers")

USER_SYSTEM_FIELDS = ("owner_id", "created_by", "updated_by")


@dataclass
class ResolveContext:
    """What ``resolve`` sees: the write's connection, a user cache, the record and the request.

    ``users`` reads users on ``conn`` (``get(id)``, ``by_name(username)``, ``name(id)``,
    ``active(id)``); ``values`` is the record as it is being written, keyed by api_name;
    ``request`` the approval request row (``submitter_id``, ``process``, ...).
    """

    conn: object
    users: object
    rt: object
    values: dict
    request: dict
    actor: object
    now: object

    @property
    def submitter_id(self):
        return self.request["submitter_id"]


class ApproverResolver:
    """Base class of an approver type (see the module docstring)."""

    key: str = ""
    label: str = ""
    options_schema: dict = {"type": "object", "properties": {}}

    @property
    def option_keys(self):
        return tuple((self.options_schema.get("properties") or {}).keys())

    def check(self, options, env):
        """Semantic checks of one approver document when a process is saved (the JSON Schema
        has passed): ``[(sub path, message)]``. ``env`` is the process's check environment
        (``user_exists``, ``role_names``, ``user_field``, ``suggest``, ``doc``)."""
        return []

    def resolve(self, options, rctx):
        """``([(user id, origin)], reason)``: the approvers this document names right now, each
        with a short origin shown in the history ("role 'sales_director'"); when the list is
        empty, ``reason`` says why ("nobody active has the role 'x'") and the step refuses to
        start (workflow.E605)."""
        raise NotImplementedError

    def __repr__(self):
        return f"<ApproverResolver {self.key}>"


def register_resolver(cls_or_obj, *, replace=False, owner=None, registry=None):
    """Register an :class:`ApproverResolver` (class or instance) under its ``key``; usable as a
    decorator."""
    obj = cls_or_obj() if isinstance(cls_or_obj, type) else cls_or_obj
    if not obj.key:
        raise ValueError(f"{type(obj).__name__} has no key")
    (registry or resolvers).register(obj.key, obj, replace=replace, owner=owner or type(obj).__module__)
    return cls_or_obj


def load_resolver_plugins(registry=None):
    """Load plugin resolvers once from the ``tessera.approver_resolvers`` entry points."""
    from importlib.metadata import entry_points

    registry = registry or resolvers
    if registry._plugins_loaded:
        return
    registry._plugins_loaded = True
    for ep in entry_points(group="tessera.approver_resolvers"):
        obj = ep.load()
        register_resolver(obj, owner=ep.value, registry=registry)


def approver_schema(registry=None):
    """The JSON Schema of one approver document: ``type`` among the registered keys, and the
    options of every type (a key of another type is refused by :func:`check_approver`)."""
    registry = registry or resolvers
    props = {"type": {"enum": registry.keys(), "description": "the approver type (a registered resolver)"}}
    for key, res in registry.items():
        for name, sub in (res.options_schema.get("properties") or {}).items():
            if name == "type":
                continue
            props[name] = sub if props.get(name, sub) == sub else {}   # two types disagree: each checks its own
    return {"type": "object", "required": ["type"], "additionalProperties": False, "properties": props}


def check_approver(env, approver, path, registry=None):
    """Problems of one approver document (already valid against :func:`approver_schema`)."""
    kind = approver["type"]
    res = (registry or resolvers).get(kind)
    keys = res.option_keys
    problems = []
    extra = sorted(set(approver) - {"type", *keys})
    if extra:
        known = ", ".join(repr(k) for k in keys) or "none"
        problems.append((path, f"unknown key {', '.join(repr(e) for e in extra)} for a '{kind}' approver "
                               f"(known: {known})"))
    options = {k: v for k, v in approver.items() if k != "type" and k in keys}
    for need in res.options_schema.get("required") or ():
        if need not in options:
            return problems + [(f"{path}.{need}", "is required")]
    for err in jsonschema.validators.validator_for(res.options_schema)(res.options_schema).iter_errors(options):
        where = ".".join(str(p) for p in err.absolute_path)
        problems.append((f"{path}.{where}" if where else path, err.message))
    if len(problems) > bool(extra):
        return problems
    return problems + [(f"{path}.{sub}" if sub else path, msg) for sub, msg in res.check(options, env)]


def resolve_approver(spec, rctx, registry=None):
    """``([(user id, origin)], reason)`` of one approver document (see ``ApproverResolver.resolve``)."""
    res = (registry or resolvers).get(spec["type"])
    return res.resolve({k: v for k, v in spec.items() if k != "type"}, rctx)


# -- the built-in resolvers ---------------------------------------------------------------------

@register_resolver
class UserResolver(ApproverResolver):
    """One named user."""

    key = "user"
    label = "A user"
    options_schema = {"type": "object", "required": ["user"], "properties": {
        "user": {"type": "string", "minLength": 1, "maxLength": 150, "description": "a username"}}}

    def check(self, options, env):
        if not env.user_exists(options["user"]):
            return [("user", f"unknown user '{options['user']}' (no active user has this username)")]
        return []

    def resolve(self, options, rctx):
        row = rctx.users.by_name(options["user"])
        if row is None or not row.active:
            return [], f"user '{options['user']}' is not an active user"
        return [(row.id, f"user '{row.username}'")], None


@register_resolver
class RoleResolver(ApproverResolver):
    """Every active user with a role, by username."""

    key = "role"
    label = "Everyone in a role"
    options_schema = {"type": "object", "required": ["role"], "properties": {
        "role": {"type": "string", "minLength": 1, "maxLength": 64, "description": "a role's api_name"}}}

    def check(self, options, env):
        known = env.role_names()
        if options["role"] not in known:
            return [("role", f"unknown role '{options['role']}'{env.suggest(options['role'], known)}"
                             f" (known: {', '.join(known) or 'none'})")]
        return []

    def resolve(self, options, rctx):
        role = options["role"]
        rows = rctx.conn.execute(select(users.c.id, users.c.username).where(
            users.c.role == role, users.c.active.is_(True)).order_by(users.c.username)).all()
        if not rows:
            return [], f"nobody active has the role '{role}'"
        return [(r.id, f"role '{role}'") for r in rows], None


class _ManagerResolver(ApproverResolver):
    """The manager ``levels`` up (default 1) from the submitter or the owner."""

    options_schema = {"type": "object", "properties": {
        "levels": {"type": "integer", "minimum": 1, "maximum": 10, "description": "1 is the manager; default 1"}}}
    who = ""

    def start(self, rctx):
        raise NotImplementedError

    def resolve(self, options, rctx):
        levels = options.get("levels", 1)
        start = self.start(rctx)
        current = start
        for _ in range(levels):
            row = rctx.users.get(current)
            current = row.manager_id if row is not None else None
            if current is None:
                break
        if current is None or not rctx.users.active(current):
            up = "" if levels == 1 else f" {levels} levels up"
            return [], f"{self.who} '{rctx.users.name(start)}' has no active manager{up}"
        up = "" if levels == 1 else f" ({levels} levels up)"
        return [(current, f"manager of {self.who[4:]}{up}")], None


@register_resolver
class ManagerResolver(_ManagerResolver):
    key = "manager"
    label = "The submitter's manager"
    who = "the submitter"

    def start(self, rctx):
        return rctx.submitter_id


@register_resolver
class OwnerManagerResolver(_ManagerResolver):
    key = "owner_manager"
    label = "The owner's manager"
    who = "the owner"

    def start(self, rctx):
        return rctx.values.get("owner_id")


@register_resolver
class FieldResolver(ApproverResolver):
    """The user a field of the record names (a user id or a username)."""

    key = "field"
    label = "A user named by a field"
    options_schema = {"type": "object", "required": ["field"], "properties": {
        "field": {"type": "string", "minLength": 1, "maxLength": 40,
                  "description": "owner_id, created_by, updated_by or a text field holding a user id or username"}}}

    def check(self, options, env):
        problem = env.user_field(options["field"])
        return [("field", problem)] if problem else []

    def resolve(self, options, rctx):
        name = options["field"]
        value = rctx.values.get(name)
        fdef = rctx.rt.odef.field(name)
        flabel = fdef.label if fdef is not None else name
        if not value:
            return [], f"the field '{flabel}' is blank"
        row = rctx.users.get(str(value)) or rctx.users.by_name(str(value))
        if row is None or not row.active:
            return [], f"the field '{flabel}' does not name an active user ('{str(value)[:40]}')"
        return [(row.id, f"field '{name}'")], None


__all__ = ["resolvers", "ApproverResolver", "ResolveContext", "register_resolver", "load_resolver_plugins",
           "approver_schema", "check_approver", "resolve_approver", "USER_SYSTEM_FIELDS"]
