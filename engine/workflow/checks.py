"""Save-time checks of automation rules (a ``MetadataHooks.checks`` hook): the JSON Schema of a
rule, its trigger, its condition compiled against the object (line and column), and every
action — its type registered, its options valid against the action's JSON Schema, every field,
object and user it names existing, every formula compiled. Collects every problem.

:class:`CheckEnv` is what an action's ``check`` sees; approval processes use it for their actions
too (``context_keys={"submitter"}``).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

import jsonschema
from sqlalchemy import select

from engine.db import users
from engine.formula import FormulaError, compile_formula
from engine.metadata.checks import _schema_problems, suggest
from engine.metadata.field_types import field_types
from engine.metadata.system_fields import SYSTEM_FIELDS, SYSTEM_FORMULA_TYPES
from engine.records.formula_checks import FieldMaps

from .actions import actions
from .model import EVENT_TRIGGERS, parse_trigger

WRITABLE_SYSTEM = {"name": {"api_name": "name", "type": "text"}, "owner_id": {"api_name": "owner_id", "type": "lookup"}}


@lru_cache(maxsize=None)
def load_schema(name):
    text = resources.files("engine.workflow").joinpath("schemas").joinpath(f"{name}.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=None)
def _validator(name):
    schema = load_schema(name)
    return jsonschema.validators.validator_for(schema)(schema)


@lru_cache(maxsize=None)
def action_validator(key):
    """A validator of a whole action document of type ``key`` (``type`` plus the action's options)."""
    options = actions.get(key).options_schema
    schema = {"type": "object", "required": ["type", *options.get("required", [])],
              "properties": dict(options.get("properties", {}), type={"const": key},
                                 label={"type": "string", "maxLength": 120}),
              "additionalProperties": False}
    return jsonschema.validators.validator_for(schema)(schema)


class CheckEnv:
    """The metadata an action's ``check`` may consult, and helpers that word problems alike."""

    def __init__(self, engine, config, obj, docs, *, trigger_kind="create_or_update", context_keys=()):
        self.engine, self.config, self.obj, self.docs = engine, config, obj, docs
        self.trigger_kind = trigger_kind
        self.context_keys = frozenset(context_keys)
        self.maps = FieldMaps(docs)
        self._users = {}

    # -- metadata -------------------------------------------------------------------
    def doc(self, name):
        return self.docs.get(name)

    def field_names(self, obj):
        doc = self.docs.get(obj) or {}
        return set(SYSTEM_FIELDS) | {f.get("api_name") for f in doc.get("fields") or [] if isinstance(f, dict)}

    def writable_fields(self, obj):
        """``{api_name: field document}`` of the fields a write may set (``name`` and ``owner_id`` too)."""
        doc = self.docs.get(obj) or {}
        out = dict(WRITABLE_SYSTEM)
        for f in doc.get("fields") or []:
            if isinstance(f, dict) and f.get("type") in field_types and field_types.get(f["type"]).writable:
                out[f["api_name"]] = f
        return out

    @staticmethod
    def formula_type(fdoc):
        """The formula type a value for this field must have (None: not checked, e.g. multi-picklists)."""
        if fdoc.get("api_name") in WRITABLE_SYSTEM:
            return SYSTEM_FORMULA_TYPES[fdoc["api_name"]]
        kind = field_types.get(fdoc["type"]).formula_type
        return None if kind in (None, "multi") else kind

    def not_writable(self, obj, name):
        """The problem of a field a write cannot set: read-only, or unknown."""
        if name in self.field_names(obj):
            return f"field '{name}' of '{obj}' cannot be written (it is computed or kept by the system)"
        return self.unknown_field(obj, name)

    def unknown_field(self, obj, name):
        names = sorted(n for n in self.field_names(obj) if n)
        return f"unknown field '{name}' on '{obj}'{suggest(name, names)}"

    def unknown_object(self, name):
        return f"unknown object '{name}'{suggest(name, self.docs)}"

    suggest = staticmethod(suggest)

    # -- formulas -------------------------------------------------------------------
    def compile(self, source, return_type=None):
        """Compile a formula over the rule's object (raises FormulaError)."""
        return compile_formula(source, self.maps.fields(self.obj), return_type=return_type)

    def formula(self, path, source, return_type=None):
        """``[(path, message)]`` when ``source`` does not compile (to ``return_type``), else ``[]``."""
        try:
            self.compile(source, return_type)
        except FormulaError as exc:
            return [(path, exc.message)]
        return []

    def check_values(self, path, target, values):
        """Every key of ``values`` a field ``target`` records accept, every value a formula of its type."""
        problems = []
        writable = self.writable_fields(target)
        for name, source in values.items():
            fdoc = writable.get(name)
            if fdoc is None:
                problems.append((f"{path}.{name}", self.not_writable(target, name)))
                continue
            problems += self.formula(f"{path}.{name}", source, self.formula_type(fdoc))
        return problems

    def follow_lookups(self, obj, relation):
        """``(target object, None)`` for a path of lookups from ``obj``, else ``(None, problem)``."""
        current = obj
        for part in relation.split("."):
            fdoc = next((f for f in (self.docs.get(current) or {}).get("fields") or []
                         if isinstance(f, dict) and f.get("api_name") == part), None)
            if fdoc is None:
                return None, self.unknown_field(current, part)
            if not fdoc.get("target") or fdoc["target"] not in self.docs:
                return None, f"'{part}' of '{current}' is not a lookup to another object"
            current = fdoc["target"]
        return current, None

    # -- users ----------------------------------------------------------------------
    def user_exists(self, username):
        if username not in self._users:
            with self.engine.connect().execution_options(tessera_readonly=True) as conn:
                self._users[username] = conn.execute(select(users.c.id).where(
                    users.c.username == username, users.c.active.is_(True))).first() is not None
        return self._users[username]

    def check_user(self, path, value):
        """``value`` must be ``user:<username>`` naming an active user."""
        if not value.startswith("user:") or not value[5:]:
            return [(path, f"must be 'owner' or 'user:<username>' (got '{value[:60]}')")]
        if not self.user_exists(value[5:]):
            return [(path, f"unknown user '{value[5:]}' (no active user has this username)")]
        return []


def schema_problems(validator, doc, prefix):
    """JSON Schema problems in the metadata's words ("x: is required" rather than jsonschema's)."""
    out = []
    for path, message in _schema_problems(validator, doc, prefix):
        m = re.fullmatch(r"'([^']+)' is a required property", message)
        out.append((f"{path}.{m.group(1)}", "is required") if m else (path, message))
    return out


def check_actions(env, items, prefix):
    """Problems of a list of action documents (for rules and, later, approval processes)."""
    problems = []
    if not isinstance(items, list):
        return [(prefix, "must be a list of actions")]
    for j, item in enumerate(items):
        path = f"{prefix}[{j}]"
        if not isinstance(item, dict):
            problems.append((path, "must be an object with a 'type'"))
            continue
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in actions:
            shown = kind if isinstance(kind, str) else json.dumps(kind)[:40]
            problems.append((f"{path}.type", f"unknown action type '{shown}'{suggest(str(shown), actions.keys())}. "
                                             f"Known: {', '.join(actions.keys())}"))
            continue
        found = schema_problems(action_validator(kind), item, path)
        if found:
            problems += found
            continue
        action = actions.get(kind)
        if env.trigger_kind == "delete" and not action.allowed_on_delete:
            problems.append((f"{path}.type", f"{kind} cannot run when a record is deleted"))
            continue
        options = {k: v for k, v in item.items() if k not in ("type", "label")}
        problems += [(f"{path}.{sub}" if sub else path, msg) for sub, msg in action.check(options, env)]
    return problems


def check_rule(env, rule, prefix):
    """Problems of one automation rule document."""
    problems = schema_problems(_validator("automation_rule"), rule, prefix)
    if problems:
        return problems
    trigger, problem = parse_trigger(rule["trigger"])
    if problem:
        return [(f"{prefix}.trigger", problem)]
    env.trigger_kind = trigger.kind
    if trigger.kind == "time":
        fdoc = next((f for f in (env.doc(env.obj).get("fields") or []) if f.get("api_name") == trigger.field), None)
        if trigger.field in ("created_at", "updated_at"):
            pass
        elif fdoc is None:
            problems.append((f"{prefix}.trigger.time.field", env.unknown_field(env.obj, trigger.field)))
        elif fdoc.get("type") not in field_types or not field_types.get(fdoc["type"]).stored \
                or field_types.get(fdoc["type"]).formula_type not in ("date", "datetime"):
            problems.append((f"{prefix}.trigger.time.field",
                             f"'{trigger.field}' is a {fdoc.get('type')} field; a time trigger needs a date or "
                             "datetime field"))
    if rule.get("condition") is not None:
        try:
            compiled = env.compile(rule["condition"], "boolean")
        except FormulaError as exc:
            problems.append((f"{prefix}.condition", exc.message))
        else:
            if trigger.kind not in EVENT_TRIGGERS and compiled.uses_prior:
                problems.append((f"{prefix}.condition", "ISNEW, ISCHANGED and PRIORVALUE need a record being "
                                                        "saved; a time-based or scheduled rule cannot use them"))
            elif trigger.kind == "schedule" and not compiled.sql_supported(_dialect(env)):
                problems.append((f"{prefix}.condition", "a scheduled rule's condition selects records in the "
                                                        "database; this formula has no SQL form"))
    if rule.get("run_as") and not env.user_exists(rule["run_as"]):
        problems.append((f"{prefix}.run_as", f"unknown user '{rule['run_as']}' (no active user has this "
                                             "username)"))
    problems += check_actions(env, rule["actions"], f"{prefix}.actions")
    return problems


def _dialect(env):
    return env.engine.dialect.name if env.engine is not None else "postgresql"


def build_checks(services):
    """The ``MetadataHooks.checks`` hook: every automation rule of an object document."""

    def check_automation_rules(doc, ctx):
        rules = doc.get("automation_rules")
        if not rules:
            return []
        obj = doc["api_name"]
        docs = dict(ctx.get("objects", {}))
        docs[obj] = doc
        prefix = f"objects.{obj}.automation_rules"
        problems, seen = [], {}
        for i, rule in enumerate(rules):
            env = CheckEnv(services.engine, services.config, obj, docs)
            problems += check_rule(env, rule, f"{prefix}[{i}]")
            name = rule.get("name") if isinstance(rule, dict) else None
            if isinstance(name, str):
                if name in seen:
                    problems.append((f"{prefix}[{i}].name", f"duplicate name '{name}' (also automation_rules[{seen[name]}])"))
                seen.setdefault(name, i)
        return problems

    def check_automation_dependants(conn, old_doc, new_doc, docs_after):
        """Refuse a change of one object that breaks another object's automation rules (a deleted
        field a rule writes, the task object create_task needs). Only problems the change brings
        are reported."""
        if old_doc is None:
            return []
        changed = old_doc["api_name"]
        docs_before = dict(docs_after)
        docs_before[changed] = old_doc
        problems = []
        for name, doc in sorted(docs_after.items()):
            if name == changed or not doc.get("automation_rules"):
                continue
            after = check_automation_rules(doc, {"objects": {k: v for k, v in docs_after.items() if k != name}})
            if not after:
                continue
            before = set(check_automation_rules(doc, {"objects": {k: v for k, v in docs_before.items()
                                                                  if k != name}}))
            new = [p for p in after if p not in before]
            if new:
                what = f"deleting '{changed}'" if new_doc is None else f"this change of '{changed}'"
                problems.append((new[0][0], f"{what} would break an automation rule of '{name}': {new[0][1]}; "
                                            "change that rule first"))
        return problems

    return check_automation_rules, check_automation_dependants
