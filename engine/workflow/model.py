"""Automation rules as the engine runs them: triggers, and the rules of one object compiled once
per metadata version (conditions and action formulas compiled against the object's fields).

A rule that no longer compiles (a document older than a stricter check) does not make its object
skip it silently: the object's writes refuse with ``workflow.E050`` until an admin fixes it.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field

from engine.errors import WorkflowError
from engine.formula import FormulaError, compile_formula
from engine.records.formula_checks import FieldMaps
from engine.registry import RegistryError

log = logging.getLogger("tessera.workflow")

EVENT_TRIGGERS = ("create", "update", "create_or_update", "delete")
_ON = {"create": ("create", "create_or_update"), "update": ("update", "create_or_update"), "delete": ("delete",)}


@dataclass(frozen=True)
class Trigger:
    """When a rule runs: on a record event, at a date field plus an offset, or on a cron schedule."""

    kind: str                      # create | update | create_or_update | delete | time | schedule
    field: str | None = None       # time: the date or datetime field
    offset_hours: float = 0.0      # time: hours after (negative: before) the field's value
    schedule: str | None = None    # schedule: a cron expression
    timezone: str = "UTC"          # schedule: the zone the cron expression is read in

    def fires_on(self, event):
        return self.kind in _ON.get(str(event), ())

    @property
    def is_event(self):
        return self.kind in EVENT_TRIGGERS


def parse_trigger(value):
    """``(Trigger, None)`` or ``(None, problem)`` for a rule's ``trigger``."""
    if isinstance(value, str):
        if value in EVENT_TRIGGERS:
            return Trigger(value), None
        return None, (f"must be one of {', '.join(repr(t) for t in EVENT_TRIGGERS)}, "
                      "{\"time\": {\"field\": ..., \"offset_hours\": ...}} or {\"schedule\": \"<cron>\"} "
                      f"(got '{value[:40]}')")
    if not isinstance(value, dict) or len([k for k in value if k in ("time", "schedule")]) != 1:
        return None, "must be an event name, {\"time\": {...}} or {\"schedule\": \"<cron>\"}"
    if "time" in value:
        extra = sorted(set(value) - {"time"})
        spec = value["time"]
        if extra:
            return None, f"unknown key {', '.join(repr(e) for e in extra)} next to 'time'"
        if not isinstance(spec, dict) or not isinstance(spec.get("field"), str):
            return None, "time needs {\"field\": \"<date field>\", \"offset_hours\": <hours>}"
        bad = sorted(set(spec) - {"field", "offset_hours"})
        if bad:
            return None, f"unknown key {', '.join(repr(b) for b in bad)} in time (known: 'field', 'offset_hours')"
        offset = spec.get("offset_hours", 0)
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) or abs(offset) > 87600:
            return None, f"time.offset_hours must be a number of hours between -87600 and 87600 (got {json.dumps(offset)[:40]})"
        return Trigger("time", field=spec["field"], offset_hours=float(offset)), None
    extra = sorted(set(value) - {"schedule", "timezone"})
    if extra:
        return None, f"unknown key {', '.join(repr(e) for e in extra)} next to 'schedule' (known: 'timezone')"
    expr, zone = value["schedule"], value.get("timezone", "UTC")
    from croniter import croniter

    if not isinstance(expr, str) or len(expr.split()) != 5 or not croniter.is_valid(expr):
        return None, (f"schedule must be a cron expression of five fields, minute hour day month weekday, "
                      f"such as '0 8 * * 1' (got {json.dumps(expr)[:60]})")
    if not isinstance(zone, str) or _zone(zone) is None:
        return None, f"unknown time zone {json.dumps(zone)[:60]} (use an IANA name such as 'Europe/Paris')"
    return Trigger("schedule", schedule=expr, timezone=zone), None


def _zone(name):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def next_cron(trigger, after):
    """The first time the cron schedule fires strictly after ``after`` (aware UTC in and out)."""
    import datetime as _dt

    from croniter import croniter

    local = after.astimezone(_zone(trigger.timezone))
    nxt = croniter(trigger.schedule, local).get_next(_dt.datetime)
    return nxt.astimezone(_dt.timezone.utc)


def rule_spec(rule):
    """What the scheduler must re-plan on when it changes: trigger, condition, activity."""
    return json.dumps({"trigger": rule.get("trigger"), "condition": rule.get("condition"),
                       "active": rule.get("active", True)}, sort_keys=True)


@dataclass
class CompiledAction:
    index: int                      # position in the rule's actions: the idempotency key's second part
    key: str
    action: object                  # the registered Action
    options: dict                   # the document without type/label
    formulas: dict                  # option path -> CompiledFormula


@dataclass
class CompiledRule:
    object: str
    name: str
    label: str
    trigger: Trigger
    condition: object               # CompiledFormula or None
    run_as: str | None
    inline: list                    # same-record actions run in before_save (record triggers)
    deferred: list                  # actions written to the outbox
    references: frozenset
    doc: dict = field(default_factory=dict)

    @property
    def all_actions(self):
        return sorted(self.inline + self.deferred, key=lambda a: a.index)


class ObjectRules:
    """The active automation rules of one object, compiled for one metadata version."""

    def __init__(self, obj, rules=(), error=None):
        self.object = obj
        self.rules = list(rules)
        self.error = error
        self.time_rules = [r for r in self.rules if r.trigger.kind == "time"]
        self.schedule_rules = [r for r in self.rules if r.trigger.kind == "schedule"]
        self.has_event_rules = any(r.trigger.is_event for r in self.rules) or error is not None
        self._by_event = {e: [r for r in self.rules if r.trigger.fires_on(e)] for e in ("create", "update", "delete")}
        refs = set()
        for r in self.rules:
            refs |= r.references
        self.references = frozenset(refs)
        self._plan = None

    def read_plan(self, service, rt):
        """:func:`~engine.workflow.fire.read_plan` of these rules' references, computed once (the
        rules are compiled for one metadata version: a new version compiles new ``ObjectRules``)."""
        if self._plan is None:
            from .fire import read_plan

            self._plan = read_plan(service, rt, self.references)
        return self._plan

    def for_event(self, event):
        self.raise_if_broken()
        return self._by_event.get(str(event), [])

    def get(self, name):
        return next((r for r in self.rules if r.name == name), None)

    def raise_if_broken(self):
        if self.error is not None:
            raise self.error


EMPTY = ObjectRules("")


def compile_rule(obj, doc, fields_map):
    """Compile one rule document (checked at save time) against ``fields_map``."""
    from .actions import actions

    trigger, problem = parse_trigger(doc["trigger"])
    if problem:
        raise FormulaError(f"trigger {problem}", code="workflow.E051")
    refs = set()

    def comp(source, rtype=None):
        compiled = compile_formula(source, fields_map, return_type=rtype)
        refs.update(compiled.references)
        return compiled

    condition = comp(doc["condition"], "boolean") if doc.get("condition") else None
    inline, deferred = [], []
    for index, adoc in enumerate(doc["actions"]):
        action = actions.get(adoc["type"])
        options = {k: v for k, v in adoc.items() if k not in ("type", "label")}
        compiled = CompiledAction(index, adoc["type"], action, options, action.compile(options, comp))
        (inline if action.same_record and trigger.is_event else deferred).append(compiled)
    return CompiledRule(object=obj, name=doc["name"], label=doc.get("label") or doc["name"], trigger=trigger,
                        condition=condition, run_as=doc.get("run_as"), inline=inline, deferred=deferred,
                        references=frozenset(refs), doc=doc)


class RuleCache:
    """Compiled rules per (metadata version, object); only the newest versions are kept."""

    def __init__(self):
        self._versions = {}
        self._lock = threading.Lock()

    def get(self, snapshot, obj):
        per = self._versions.get(snapshot.version)
        if per is None:
            with self._lock:
                per = self._versions.get(snapshot.version)
                if per is None:
                    per = {}
                    self._versions[snapshot.version] = per
                    for old in sorted(self._versions)[:-3]:
                        del self._versions[old]
        rules = per.get(obj)
        if rules is None:
            rules = per[obj] = self._compile(snapshot, obj, per)
        return rules

    @staticmethod
    def _compile(snapshot, obj, per):
        rt = snapshot.get(obj)
        docs = (rt.odef.doc.get("automation_rules") or []) if rt is not None else []
        active = [d for d in docs if isinstance(d, dict) and d.get("active", True)]
        if not active:
            return EMPTY
        maps = per.get("_maps")
        if maps is None:
            maps = per["_maps"] = FieldMaps({n: dict(r.odef.doc) for n, r in snapshot.objects.items()})
        try:
            fields_map = maps.fields(obj)
            return ObjectRules(obj, [compile_rule(obj, d, fields_map) for d in active])
        except (FormulaError, KeyError, RegistryError) as exc:
            message = getattr(exc, "message", str(exc))
            log.error("an automation rule of '%s' (version %s) does not compile: %s", obj, snapshot.version, message)
            label = rt.odef.label
            return ObjectRules(obj, error=WorkflowError(
                "workflow.E050", f"An automation rule of {label} has a formula that does not compile: {message} "
                                 "An administrator must correct it."))
