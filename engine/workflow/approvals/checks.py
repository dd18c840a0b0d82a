"""Save-time checks of approval processes (a ``MetadataHooks.checks`` hook and a dependency check):
the JSON Schema of a process (``schemas/approval_process.json``), then every formula — entry
criteria, step criteria, action values — compiled against the object with line and column, every
user, role and field an approver names existing, every decision rule and action valid. Collects
every problem, with its JSON path.
"""
from __future__ import annotations

import jsonschema
from sqlalchemy import select

from engine.security.model import roles

from ..checks import CheckEnv, check_actions, load_schema, schema_problems
from .model import ACTION_KEYS, parse_decision
from .resolvers import USER_SYSTEM_FIELDS, approver_schema, check_approver, resolvers

KIND = "approval_processes"
_validator = None


def process_schema():
    """The approval process JSON Schema with the approver types of the resolver registry."""
    schema = load_schema("approval_process")
    return dict(schema, **{"$defs": dict(schema["$defs"], approver=approver_schema())})


def validator():
    global _validator
    keys = tuple(resolvers.keys())
    if _validator is None or _validator[0] != keys:   # a test may add a plugin resolver later
        schema = process_schema()
        _validator = (keys, jsonschema.validators.validator_for(schema)(schema))
    return _validator[1]


class ProcessEnv(CheckEnv):
    """The check environment of approval processes: actions may mail the ``submitter``, and roles
    are looked up once per check."""

    def __init__(self, engine, config, obj, docs):
        super().__init__(engine, config, obj, docs, context_keys={"submitter"})
        self._roles = None

    def role_names(self):
        if self._roles is None:
            with self.engine.connect().execution_options(tessera_readonly=True) as conn:
                self._roles = sorted(conn.execute(select(roles.c.api_name)).scalars())
        return self._roles

    def user_field(self, name):
        """The problem of a field that cannot name an approver, or None."""
        if name in USER_SYSTEM_FIELDS:
            return None
        fdoc = next((f for f in (self.doc(self.obj) or {}).get("fields") or []
                     if isinstance(f, dict) and f.get("api_name") == name), None)
        if fdoc is None:
            return self.unknown_field(self.obj, name)
        if fdoc.get("type") != "text":
            return (f"'{name}' is a {fdoc.get('type')} field; an approver field must hold a user: owner_id, "
                    "created_by, updated_by or a text field with a user id or username")
        return None


def check_step(env, step, path, first):
    problems = []
    if step.get("criteria") is not None:
        problems += env.formula(f"{path}.criteria", step["criteria"], "boolean")
    _decision, problem = parse_decision(step.get("decision"))
    if problem:
        problems.append((f"{path}.decision", problem))
    if first and step.get("on_reject") == "back":
        problems.append((f"{path}.on_reject", "the first step cannot send a request back (no step comes before "
                                              "it); use \"reject\""))
    if "on_deadline" in step and "deadline_hours" not in step:
        problems.append((f"{path}.on_deadline", "needs deadline_hours (the hours after which it happens)"))
    for j, approver in enumerate(step["approvers"]):
        problems += check_approver(env, approver, f"{path}.approvers[{j}]")
    return problems


def check_process(env, process, prefix):
    """Problems of one approval process document."""
    problems = schema_problems(validator(), process, prefix)
    if problems:
        return problems
    if process.get("entry_criteria") is not None:
        problems += env.formula(f"{prefix}.entry_criteria", process["entry_criteria"], "boolean")
    seen = {}
    for i, step in enumerate(process["steps"]):
        path = f"{prefix}.steps[{i}]"
        if step["name"] in seen:
            problems.append((f"{path}.name", f"duplicate step name '{step['name']}' (also steps[{seen[step['name']]}])"))
        seen.setdefault(step["name"], i)
        problems += check_step(env, step, path, first=i == 0)
    for key in ACTION_KEYS:
        if key in process:
            problems += check_actions(env, process[key], f"{prefix}.{key}")
    return problems


def build_checks(services):
    """``(check_approval_processes, check_approval_dependants)`` for the metadata hooks."""

    def check_approval_processes(doc, ctx):
        processes = doc.get(KIND)
        if not processes:
            return []
        obj = doc["api_name"]
        docs = dict(ctx.get("objects", {}))
        docs[obj] = doc
        prefix = f"objects.{obj}.{KIND}"
        env = ProcessEnv(services.engine, services.config, obj, docs)
        problems, seen = [], {}
        for i, process in enumerate(processes):
            problems += check_process(env, process, f"{prefix}[{i}]")
            name = process.get("name") if isinstance(process, dict) else None
            if isinstance(name, str):
                if name in seen:
                    problems.append((f"{prefix}[{i}].name", f"duplicate name '{name}' (also {KIND}[{seen[name]}])"))
                seen.setdefault(name, i)
        return problems

    def check_approval_dependants(conn, old_doc, new_doc, docs_after):
        """Refuse a change of one object that breaks another object's approval processes (a field
        a criteria formula reads through a lookup, deleted). Only problems the change brings count."""
        if old_doc is None:
            return []
        changed = old_doc["api_name"]
        docs_before = dict(docs_after)
        docs_before[changed] = old_doc
        problems = []
        for name, doc in sorted(docs_after.items()):
            if name == changed or not doc.get(KIND):
                continue
            after = check_approval_processes(doc, {"objects": {k: v for k, v in docs_after.items() if k != name}})
            if not after:
                continue
            before = set(check_approval_processes(doc, {"objects": {k: v for k, v in docs_before.items()
                                                                    if k != name}}))
            new = [p for p in after if p not in before]
            if new:
                what = f"deleting '{changed}'" if new_doc is None else f"this change of '{changed}'"
                problems.append((new[0][0], f"{what} would break an approval process of '{name}': {new[0][1]}; "
                                            "change that process first"))
        return problems

    return check_approval_processes, check_approval_dependants

