"""Forecast: the weighted pipeline (amount × probability) and the forecast categories — pipeline,
best case, commit, closed — per owner, per team (a role and every role below it) and per period,
with quota attainment when a quota object exists.

One ``GROUP BY`` (owner, period of the close date, category) over the opportunities the viewer
may see, built by the report compiler on the query seam; teams are summed from the owners with
the role hierarchy (``tessera_role_closure``). The category is a formula over the object: its
``forecast_category`` picklist when it has one (Pipeline, Best Case, Commit, Closed, Omitted),
else from the probability (100 closed, from 70 commit, from 40 best case, above 0 pipeline,
0 omitted); ``category=`` gives another. Omitted deals count nowhere. The quota object (default
``quota`` when it exists) has one record per owner and period: its owner, a date in the period
and an amount; attainment is closed ÷ quota.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from sqlalchemy import select

from engine.db import users
from engine.errors import InvalidRequestError
from engine.security.model import role_closure

from ..compiler import compile_report, period_label, summary_statement
from ..fields import json_value
from ..runner import execute, literal_formula, quote
from .trend import _date_param, period_floor, shift

CATEGORIES = ("pipeline", "best_case", "commit", "closed")
DEFAULT_CATEGORY = ("IF(probability >= 100, 'closed', IF(probability >= 70, 'commit', IF(probability >= 40, "
                    "'best_case', IF(probability > 0, 'pipeline', 'omitted'))))")
PICKLIST_CATEGORY = ("CASE(forecast_category, 'Pipeline', 'pipeline', 'Best Case', 'best_case', 'Commit', 'commit', "
                     "'Closed', 'closed', 'omitted')")
PERIODS = ("month", "quarter", "year")


def _blank():
    return {**{c: Decimal(0) for c in CATEGORIES}, "weighted": Decimal(0), "count": 0}


def _add(into, other):
    for k in CATEGORIES + ("weighted",):
        into[k] += other[k]
    into["count"] += other["count"]


def _finish(row, quota):
    row["commit_total"] = row["closed"] + row["commit"]
    row["best_case_total"] = row["commit_total"] + row["best_case"]
    row["pipeline_total"] = row["best_case_total"] + row["pipeline"]
    if quota is not None:
        row["quota"] = quota
        row["attainment"] = (row["closed"] / quota * 100).quantize(Decimal("0.1")) if quota else None
    for k in CATEGORIES + ("weighted", "commit_total", "best_case_total", "pipeline_total", "quota"):
        if k in row and isinstance(row[k], Decimal):
            row[k] = json_value(row[k])
    return row


class Forecast:
    """``run(actor, params)``: see the module docstring and docs/reports.md."""

    def __init__(self, reports):
        self.reports = reports

    def run(self, actor, params, *, snapshot=None, today=None):
        reader = self.reports.reader(snapshot)
        obj = params.get("object") or "opportunity"
        rt = reader.runtime(obj)
        period = params.get("period") or "quarter"
        if period not in PERIODS:
            raise InvalidRequestError("reports.E070", f"period must be one of {', '.join(PERIODS)}.",
                                      fields={"period": ["invalid"]})
        today = today or _dt.datetime.now(_dt.timezone.utc).date()
        start = period_floor(_date_param(params, "from", _dt.date(today.year, 1, 1)), period)
        end = period_floor(_date_param(params, "to", _dt.date(today.year, 12, 31)), period)
        if start > end:
            raise InvalidRequestError("reports.E064", "from must not be after to.", fields={"from": ["invalid"]})
        periods = [start]
        while periods[-1] < end and len(periods) < 120:
            periods.append(shift(periods[-1], period, 1))
        amount, prob = params.get("amount") or "amount", params.get("probability") or "probability"
        close = params.get("close_date") or "close_date"
        category = params.get("category") or (PICKLIST_CATEGORY if rt.odef.field("forecast_category")
                                              else DEFAULT_CATEGORY)
        window = (f"{close} >= {literal_formula(start, 'date')} && "
                  f"{close} < {literal_formula(shift(end, period, 1), 'date')}")
        extra = [("window", window)]
        owners = self._owners(params.get("role"))
        if params.get("owner_id"):
            extra.append(("owner_id", f"owner_id = {quote(params['owner_id'])}"))
        doc = {"name": "forecast", "object": obj, "filter": params.get("filter") or None,
               "group_by": [{"field": "owner_id"}, {"field": close, "granularity": period, "name": "period"},
                            {"formula": category, "name": "category"}],
               "aggregates": [{"fn": "sum", "field": amount, "name": "amount"},
                              {"fn": "sum", "formula": f"{amount} * {prob} / 100", "name": "weighted"},
                              {"fn": "count"}]}
        if not doc["filter"]:
            doc.pop("filter")
        cr = compile_report(reader, actor, doc, extra_filters=extra)
        per = {}
        for row in execute(reader, summary_statement(cr, full_only=True)):
            owner, label, cat = row["g0"], period_label(row["g1"], period), row["g2"]
            if cat not in CATEGORIES or (owners is not None and owner not in owners):
                continue
            cell = per.setdefault((owner, label), _blank())
            value = Decimal(str(row["a0"] or 0))
            cell[cat] += value
            cell["weighted"] += Decimal(str(row["a1"] or 0)) if cat != "closed" else value
            cell["count"] += row["a2"]
        quotas = self._quotas(reader, actor, params, period, start, end)
        people = self._people()
        labels = [period_label(p, period) for p in periods]
        owner_rows = []
        for (owner, label), cell in sorted(per.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
            who = people.get(owner, {})
            owner_rows.append(_finish({"owner_id": owner, "username": who.get("username"), "role": who.get("role"),
                                       "period": label, **cell}, quotas.get((owner, label)) if quotas is not None
                                      else None))
        for (owner, label), q in sorted((quotas or {}).items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
            if (owner, label) not in per and label in labels and (owners is None or owner in owners):
                who = people.get(owner, {})
                owner_rows.append(_finish({"owner_id": owner, "username": who.get("username"), "role": who.get("role"),
                                           "period": label, **_blank()}, q))
        teams = self._teams(per, quotas, people, labels)
        totals = []
        for label in labels:
            cell = _blank()
            for (_owner, lab), c in per.items():
                if lab == label:
                    _add(cell, c)
            q = sum((v for (o, lab), v in (quotas or {}).items() if lab == label and (owners is None or o in owners)),
                    Decimal(0)) if quotas is not None else None
            totals.append(_finish({"period": label, **cell}, q))
        return {"object": obj, "period": period, "periods": labels, "category": category,
                "quota": quotas is not None, "owners": owner_rows, "teams": teams, "totals": totals}

    # -- people, teams, quotas ---------------------------------------------------------------------
    def _people(self):
        with self.reports.engine.connect() as conn:
            return {r.id: {"username": r.username, "role": r.role}
                    for r in conn.execute(select(users.c.id, users.c.username, users.c.role))}

    def _owners(self, role):
        """The users whose role is ``role`` or below it (None: everyone)."""
        if not role:
            return None
        with self.reports.engine.connect() as conn:
            roles = set(conn.execute(select(role_closure.c.descendant).where(role_closure.c.ancestor == role))
                        .scalars()) | {role}
            return set(conn.execute(select(users.c.id).where(users.c.role.in_(roles))).scalars())

    def _teams(self, per, quotas, people, labels):
        with self.reports.engine.connect() as conn:
            closure = conn.execute(select(role_closure.c.ancestor, role_closure.c.descendant)).all()
        below = {}
        for anc, desc in closure:
            below.setdefault(anc, set()).add(desc)
        roles = {p["role"] for p in people.values() if p["role"]}
        for r in list(roles):
            roles |= {anc for anc, desc in closure if desc == r}
        out = []
        for role in sorted(roles):
            subtree = below.get(role, set()) | {role}
            members = {uid for uid, p in people.items() if p["role"] in subtree}
            for label in labels:
                cell = _blank()
                for (owner, lab), c in per.items():
                    if lab == label and owner in members:
                        _add(cell, c)
                q = None
                if quotas is not None:
                    q = sum((v for (o, lab), v in quotas.items() if lab == label and o in members), Decimal(0))
                if cell["count"] or q:
                    out.append(_finish({"role": role, "period": label, "members": len(members), **cell}, q))
        return out

    def _quotas(self, reader, actor, params, period, start, end):
        obj = params.get("quota_object") or "quota"
        rt = reader.snapshot.get(obj)
        if rt is None or not actor.plan.can(obj, "read"):
            return None
        amount = params.get("quota_amount") or "amount"
        date = params.get("quota_date") or "period_start"
        owner = params.get("quota_owner") or "owner_id"
        window = (f"{date} >= {literal_formula(start, 'date')} && "
                  f"{date} < {literal_formula(shift(end, period, 1), 'date')}")
        doc = {"name": "quota", "object": obj,
               "group_by": [{"field": owner}, {"field": date, "granularity": period, "name": "period"}],
               "aggregates": [{"fn": "sum", "field": amount, "name": "amount"}]}
        cr = compile_report(reader, actor, doc, extra_filters=[("quota_window", window)])
        return {(row["g0"], period_label(row["g1"], period)): Decimal(str(row["a0"] or 0))
                for row in execute(reader, summary_statement(cr, full_only=True))}
