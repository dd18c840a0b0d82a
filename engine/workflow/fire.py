"""A rule firing on one record: the record as a formula sees it, and what an action's ``prepare``
may ask while the triggering transaction is open (formula values, the record as JSON, users)."""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from sqlalchemy import select

from engine.db import users
from engine.formula import FormulaError
from engine.records.formulas import BrokenFormulas, load_related, record_for_formula, relationship_paths
from engine.records.reader import system_json
from engine.records.resolver import formula_context
from engine.security import SYSTEM_ACTOR

from .actions import to_json_value


def read_plan(service, rt, references):
    """``(lookup paths to load, formula fields to compute)`` for formulas with ``references`` on
    ``rt``: what :func:`formula_record` needs, fixed for one metadata version (``ObjectRules``
    keeps it with the rules it compiled)."""
    of = rt.formulas
    heads = {r.split(".")[0] for r in references}
    computed = [(n, c) for n, c, _f in (of.formula_fields if not isinstance(of, BrokenFormulas) else ())]
    need_formulas = any(n in heads for n, _c in computed)
    paths = set(relationship_paths(references, rt, service.snapshot))
    if need_formulas:
        paths |= set(of.read_paths)
    return tuple(sorted(paths, key=len)), (tuple(computed) if need_formulas else ())


def formula_record(service, rt, values, conn, references, plan=None):
    """``values`` (a row: column -> value) as the record formulas read: related records along the
    referenced lookups (as the system sees them), formula fields computed when referenced.
    ``plan``: :func:`read_plan` of ``references``, when the caller keeps it."""
    rec = record_for_formula(rt, values)
    paths, computed = plan if plan is not None else read_plan(service, rt, references)
    if paths:
        load_related(service, rt, [rec], paths, SYSTEM_ACTOR, conn=conn)
    if computed:
        plain = formula_context(SYSTEM_ACTOR)
        for name, compiled in computed:
            try:
                rec[name] = compiled.evaluate(rec, context=plain)
            except FormulaError:
                rec[name] = None
    return rec


class Fire:
    """One rule (or approval outcome) firing on one record, inside the triggering transaction."""

    def __init__(self, service, conn, rt, values, rec, *, event, rule, outbox_id, now, actor, prior_rec=None,
                 creating=False, context=None, fctx=None):
        self.service, self.conn, self.rt, self.values, self.record = service, conn, rt, values, rec
        self.event, self.rule, self.outbox_id, self.now, self.actor = str(event), rule, outbox_id, now, actor
        self.context = context or {}
        self.object = rt.name
        self.record_id = values.get("id")
        self.index = 0
        self.warnings = []
        # (the formula context of the write, shared by the rules that fired on this record)
        self._fctx = fctx if fctx is not None else formula_context(actor, prior=prior_rec, creating=creating,
                                                                   now=now)
        self._json = None
        self._users = {}

    @property
    def key(self):
        return f"{self.outbox_id}:{self.index}"

    @property
    def now_iso(self):
        """The firing's clock as ``%Y-%m-%dT%H:%M:%S.%fZ`` (UTC; ``isoformat`` writes it faster than
        ``strftime``)."""
        now = self.now if self.now.tzinfo is _dt.timezone.utc else self.now.astimezone(_dt.timezone.utc)
        if now.year < 1000:
            return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return now.isoformat(timespec="microseconds")[:26] + "Z"

    def evaluate(self, compiled):
        """A formula's value on the record, as JSON (a run-time error gives blank and a warning)."""
        try:
            return to_json_value(compiled.evaluate(self.record, context=self._fctx))
        except FormulaError as exc:
            self.warnings.append(f"action {self.index}: '{compiled.source[:60]}' could not be evaluated "
                                 f"({exc.message}); used blank")
            return None

    def record_json(self):
        """The record as the API shows it to an administrator (formula fields included), JSON-safe."""
        if self._json is None:
            rt = self.rt
            if rt.formulas.formula_fields or isinstance(rt.formulas, BrokenFormulas):
                out = self.service.page_json(rt, [self.values], SYSTEM_ACTOR, conn=self.conn)[0]
            else:     # plain values only: the same JSON without page_json's machinery
                out = system_json(rt, self.values)
            self._json = {k: v if type(v) in _JSON_PLAIN else _plain(v) for k, v in out.items()}
        return self._json

    @property
    def built_json(self):
        """The record as JSON if an action asked for it (stored with the outbox row), else None."""
        return self._json

    def doc(self, name):
        rt = self.service.snapshot.get(name)
        return dict(rt.odef.doc) if rt is not None else {}

    def target_of(self, relation):
        current = self.rt
        for part in relation.split("."):
            current = self.service.snapshot.get(current.odef.field(part).target)
        return current.name

    def user_id(self, value):
        """The id of the active user ``user:<username>`` names (None when there is none now)."""
        username = value[5:] if value.startswith("user:") else value
        row = self.conn.execute(select(users.c.id).where(users.c.username == username,
                                                         users.c.active.is_(True))).first()
        return row.id if row else None

    def user_address(self, user_id):
        """``{"user": username, "address": e-mail or None}`` of a user id."""
        if not user_id:
            return {"user": None, "address": None}
        if user_id not in self._users:
            row = self.conn.execute(select(users.c.username).where(users.c.id == user_id)).first()
            self._users[user_id] = row.username if row else None
        name = self._users[user_id]
        return {"user": name, "address": name if name and "@" in name else None}


_JSON_PLAIN = frozenset((str, int, float, bool, type(None)))


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return to_json_value(value)
    return value
