"""The workflow action registry (``tessera.workflow_actions`` entry points).

An action type is an :class:`Action`: a ``key`` (lowercase, the ``type`` of an action document), an
``options_schema`` (JSON Schema of the document's other keys), the option keys that hold formulas,
semantic ``check`` s, and ``run(ctx, options)``. When a rule fires, the formulas of its actions are
evaluated in the triggering transaction (the record as written) and the resolved options are
stored in the outbox row; ``run`` receives those resolved options after the commit, with an
:class:`ActionContext` carrying the idempotency key. The same checks, outbox, retries and run log
apply to built-in and plugin actions.

A plugin names an :class:`Action` subclass or instance in the ``tessera.workflow_actions`` entry
point group; :func:`load_action_plugins` (called once by the composition root) registers it.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal

from engine.registry import Registry

actions = Registry("workflow action", entry_point_group="tessera.workflow_actions")


class ActionError(Exception):
    """An action failed in a way a retry may fix (a timeout, a 5xx, a refused connection)."""

    def __init__(self, message, *, code="workflow.E300"):
        super().__init__(message)
        self.code = code
        self.message = message


class PermanentActionError(ActionError):
    """An action failed in a way retrying cannot fix: the entry goes dead at once (an admin may
    retry it after fixing the cause)."""


class Action:
    """Base class of an action type (see the module docstring)."""

    key: str = ""
    label: str = ""
    options_schema: dict = {"type": "object", "properties": {}}
    formula_keys: tuple = ()        # option keys holding one formula: (key, formula type or None)
    formula_maps: tuple = ()        # option keys holding {field: formula} for fields of a target object
    same_record = False             # runs inside the triggering write (field_update)
    allowed_on_delete = True        # may run when a record is deleted

    def check(self, options, env):
        """Semantic checks of one action document: ``[(sub path, message)]``. The default compiles
        the ``formula_keys``; override to check fields, objects and users too."""
        problems = []
        for key, rtype in self.formula_keys:
            if isinstance(options.get(key), str):
                problems += env.formula(key, options[key], rtype)
        return problems

    def compile(self, options, compile_fn):
        """The compiled formulas of one action document: ``{option path: CompiledFormula}``."""
        out = {}
        for key, rtype in self.formula_keys:
            if isinstance(options.get(key), str):
                out[key] = compile_fn(options[key], rtype)
        return out

    def prepare(self, options, formulas, fire):
        """The resolved options stored in the outbox (in the triggering transaction): by default the
        options with every compiled formula replaced by its value (as JSON)."""
        resolved = {k: v for k, v in options.items()}
        for path, compiled in formulas.items():
            head, _, sub = path.partition(".")
            value = fire.evaluate(compiled)
            if sub:
                resolved[head] = dict(resolved.get(head) or {}, **{sub: value})
            else:
                resolved[head] = value
        return resolved

    def run(self, ctx, options):
        """Carry the action out (after the commit). Return a JSON-able result; ``"message"`` in it
        becomes the run log's line. Raise :class:`ActionError` to retry, :class:`PermanentActionError`
        to stop."""
        raise NotImplementedError

    def __repr__(self):
        return f"<Action {self.key}>"


@dataclass
class ActionContext:
    """What an action's ``run`` sees: the services, the idempotency key and the record as written."""

    services: object
    workflow: object
    key: str                        # "<outbox id>:<action index>"
    outbox_id: str
    index: int
    object: str
    record_id: str | None
    record: dict | None             # the triggering record as JSON, as written (None for approvals without it)
    actor: object                   # whose rights record writes use (the rule's run_as; the system by default)
    rule: str | None = None
    event: str = ""
    depth: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def config(self):
        return self.services.config

    def records(self):
        """A record service over the current metadata (writes through it are the action's effect)."""
        return self.services.records()

    def write_with_key(self, fn):
        """Have ``fn(conn)`` run in the transaction that records this action's key as applied, so
        that what it writes is written exactly once (the kept copy of a mail, a plugin's own rows)."""
        self.extra.setdefault("key_writes", []).append(fn)


def register_action(cls_or_obj, *, replace=False, owner=None):
    """Register an :class:`Action` (class or instance) under its ``key``; usable as a decorator."""
    obj = cls_or_obj() if isinstance(cls_or_obj, type) else cls_or_obj
    if not obj.key:
        raise ValueError(f"{type(obj).__name__} has no key")
    actions.register(obj.key, obj, replace=replace, owner=owner or type(obj).__module__)
    return cls_or_obj


def load_action_plugins(registry=None):
    """Load plugin actions once from the ``tessera.workflow_actions`` entry points."""
    from importlib.metadata import entry_points

    registry = registry or actions
    if registry._plugins_loaded:
        return
    registry._plugins_loaded = True
    for ep in entry_points(group="tessera.workflow_actions"):
        obj = ep.load()
        obj = obj() if isinstance(obj, type) else obj
        registry.register(obj.key, obj, owner=ep.value)


def to_json_value(value):
    """A formula result as the JSON a record write accepts (exact numbers: integral as int, else text)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2 ** 63 else str(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def _load_builtins():
    from . import create_record, create_task, field_update, send_email, update_related, webhook  # noqa: F401


_load_builtins()

__all__ = ["actions", "Action", "ActionContext", "ActionError", "PermanentActionError", "register_action",
           "load_action_plugins", "to_json_value"]
