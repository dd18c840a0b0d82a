"""Customer value (RFM): recency, frequency and monetary value of each record of an object (an
account) over a related object (orders, payments, won opportunities) and a date window, scored
1–5 by quintile with ``NTILE(5)`` window functions, labelled, and stored in ``tessera_rpt_rfm``.

A refresh is one ``INSERT … SELECT`` in one transaction (the model's old scores deleted first):
the related records are read as the system (scores are stored once for everyone, like roll-ups),
grouped by the lookup, and ranked — recency by the last date (later is better), frequency by the
count, monetary by the sum; ties are broken by record id so that a run is reproducible. Reading
scores goes through the query seam: a viewer sees the scores of the records they may read; the
raw recency/frequency/monetary figures only when they may read the related object (monetary only
when its amount field is not hidden from them).
"""
from __future__ import annotations

import datetime as _dt
import json

from sqlalchemy import (Date, Integer, String, and_, case, cast, delete, func, insert, literal, over, select)

from engine.db import utcnow
from engine.errors import InvalidRequestError
from engine.formula import FormulaError
from engine.metadata.checks import suggest
from engine.security import SYSTEM_ACTOR

from ..errors import ReportDefinitionError
from ..fields import PathError, json_value, resolve_path
from ..tables import rfm_scores, state

DEFAULT_WINDOW_DAYS = 365
DEFAULT_REFRESH_HOURS = 24
# (label, condition on r, f, m) — the first that holds wins.
LABELS = (
    ("Champions", lambda r, f, m: and_(r >= 4, f >= 4, m >= 4), lambda r, f, m: r >= 4 and f >= 4 and m >= 4),
    ("Can't lose them", lambda r, f, m: and_(r <= 2, f >= 4, m >= 4), lambda r, f, m: r <= 2 and f >= 4 and m >= 4),
    ("Loyal", lambda r, f, m: and_(r >= 3, f >= 4), lambda r, f, m: r >= 3 and f >= 4),
    ("At risk", lambda r, f, m: and_(r <= 2, f >= 3), lambda r, f, m: r <= 2 and f >= 3),
    ("New customers", lambda r, f, m: and_(r >= 4, f <= 1), lambda r, f, m: r >= 4 and f <= 1),
    ("Potential loyalists", lambda r, f, m: and_(r >= 4, f <= 3), lambda r, f, m: r >= 4 and f <= 3),
    ("Hibernating", lambda r, f, m: and_(r <= 2, f <= 2), lambda r, f, m: r <= 2 and f <= 2),
)
OTHERWISE = "Need attention"
LABEL_NAMES = tuple(name for name, _s, _p in LABELS) + (OTHERWISE,)


def label_of(r, f, m):
    """The label of a score combination (the same rules as the SQL)."""
    for name, _sql, py in LABELS:
        if py(r, f, m):
            return name
    return OTHERWISE


class Rfm:
    """RFM models (documents of kind ``rfm_model``) and their scores."""

    def __init__(self, reports):
        self.reports = reports
        self.services = reports.services
        self.engine = reports.engine

    # -- the document check ----------------------------------------------------------------------
    def check(self, doc, actor):
        reader = self.services.records()
        snap = reader.snapshot
        problems = []
        if snap.get(doc["object"]) is None:
            problems.append(("object", f"unknown object '{doc['object']}'{suggest(doc['object'], snap.objects)}"))
        src = doc["source"]
        srt = snap.get(src["object"])
        if srt is None:
            problems.append(("source.object", f"unknown object '{src['object']}'{suggest(src['object'], snap.objects)}"))
            raise ReportDefinitionError(problems)
        fmap = srt.formulas.fields_map
        link = srt.odef.field(src["link"])
        if link is None or not link.target:
            problems.append(("source.link", f"'{src['link']}' is not a lookup of '{src['object']}'"))
        elif link.target != doc["object"]:
            problems.append(("source.link", f"'{src['link']}' points to '{link.target}', not '{doc['object']}'"))
        for key, types in (("date", ("date", "datetime")), ("amount", ("number",))):
            if src.get(key) is None:
                continue
            try:
                ref = resolve_path(snap, fmap, src["object"], src[key])
            except PathError as exc:
                problems.append((f"source.{key}", str(exc).rstrip(".")))
                continue
            if ref.type not in types or len(ref.path) > 1:
                problems.append((f"source.{key}", f"'{src[key]}' must be a {' or '.join(types)} field of "
                                 f"'{src['object']}'"))
        if src.get("filter"):
            try:
                reader.where_sql(srt, src["filter"], SYSTEM_ACTOR)
            except FormulaError as exc:
                problems.append(("source.filter", exc.message))
        if problems:
            raise ReportDefinitionError(problems)

    # -- refresh ---------------------------------------------------------------------------------------
    def refresh(self, name=None, *, today=None, now=None):
        """Recompute the scores of model ``name`` (default: every model); returns ``{model: count}``."""
        names = [name] if name else [d["name"] for d in self.reports.rfm_models.export()]
        return {n: self._refresh_one(self.reports.rfm_models.export(n), today=today, now=now) for n in names}

    def _refresh_one(self, doc, *, today=None, now=None):
        now = now or utcnow()
        today = today or now.astimezone(_dt.timezone.utc).date()
        reader = self.services.records()
        src = doc["source"]
        srt, trt = reader.runtime(src["object"]), reader.runtime(doc["object"])
        pg = reader.engine.dialect.name == "postgresql"
        plan = reader.plan_query(src["object"], SYSTEM_ACTOR, where=src.get("filter") or None)
        t = srt.table
        link = t.c[srt.odef.field(src["link"]).column]
        date = t.c[srt.odef.field(src["date"]).column] if src["date"] not in ("created_at", "updated_at") \
            else t.c[src["date"]]
        is_dt = (src["date"] in ("created_at", "updated_at")) or srt.ftypes[src["date"]].formula_type == "datetime"
        day = (cast(func.timezone("UTC", date), Date) if pg else func.date(date)) if is_dt else date
        since = today - _dt.timedelta(days=int(doc.get("window_days") or DEFAULT_WINDOW_DAYS) - 1)
        lo, hi = (literal(since, Date()), literal(today, Date())) if pg else \
            (literal(since.isoformat(), String()), literal(today.isoformat(), String()))
        amount = t.c[srt.odef.field(src["amount"]).column] if src.get("amount") else None
        live = select(trt.table.c.id).where(trt.table.c.deleted_at.is_(None))
        grouped = (select(link.label("rid"), func.max(day).label("last"), func.count().label("freq"),
                          (func.sum(amount) if amount is not None else func.count()).label("mon"))
                   .where(*plan.conditions, link.is_not(None), link.in_(live), day >= lo, day <= hi)
                   .group_by(link).subquery("g"))
        tile = lambda col: over(func.ntile(5), order_by=[col, grouped.c.rid])  # noqa: E731
        scored = select(grouped.c.rid, grouped.c.last, grouped.c.freq, grouped.c.mon,
                        tile(grouped.c.last).label("r"), tile(grouped.c.freq).label("f"),
                        tile(func.coalesce(grouped.c.mon, 0)).label("m")).subquery("s")
        r, f, m = scored.c.r, scored.c.f, scored.c.m
        label = case(*[(sql(r, f, m), literal(name, String())) for name, sql, _py in LABELS],
                     else_=literal(OTHERWISE, String()))
        if pg:
            recency = cast(hi - scored.c.last, Integer)
            last_text = func.to_char(scored.c.last, "YYYY-MM-DD")
        else:
            recency = cast(func.julianday(hi) - func.julianday(scored.c.last), Integer)
            last_text = scored.c.last
        score = cast(r, String()).concat(cast(f, String())).concat(cast(m, String()))
        rows = select(literal(doc["name"], String()), scored.c.rid, last_text, recency, scored.c.freq, scored.c.mon,
                      r, f, m, score, label, literal(now, rfm_scores.c.computed_at.type))
        cols = ["model", "record_id", "last_date", "recency_days", "frequency", "monetary", "r", "f", "m", "score",
                "label", "computed_at"]
        with self.engine.begin() as conn:
            conn.execute(delete(rfm_scores).where(rfm_scores.c.model == doc["name"]))
            conn.execute(insert(rfm_scores).from_select(cols, rows))
            count = conn.execute(select(func.count()).select_from(rfm_scores)
                                 .where(rfm_scores.c.model == doc["name"])).scalar()
            key = f"rfm:{doc['name']}"
            value = json.dumps({"at": now.isoformat(), "count": count, "today": today.isoformat()})
            if conn.execute(select(state.c.key).where(state.c.key == key)).first() is None:
                conn.execute(insert(state).values(key=key, value=value, updated_at=now))
            else:
                conn.execute(state.update().where(state.c.key == key).values(value=value, updated_at=now))
        return count

    def last_refresh(self, name):
        with self.engine.connect() as conn:
            row = conn.execute(select(state.c.value).where(state.c.key == f"rfm:{name}")).first()
        return json.loads(row.value) if row else None

    def due(self, now):
        """The scheduler's hook: refresh each model whose last refresh is older than its refresh_hours."""
        for doc in self.reports.rfm_models.export():
            last = self.last_refresh(doc["name"])
            hours = int(doc.get("refresh_hours") or DEFAULT_REFRESH_HOURS)
            if last is None or _dt.datetime.fromisoformat(last["at"]) + _dt.timedelta(hours=hours) <= now:
                try:
                    self._refresh_one(doc, now=now)
                except Exception:  # noqa: BLE001 - a broken model must not stop the scheduler
                    import logging
                    logging.getLogger("tessera.reports").exception("RFM refresh of %s failed", doc["name"])

    # -- reading -----------------------------------------------------------------------------------------
    def scores(self, name, actor, *, record_id=None, label=None, limit=50, cursor=None, snapshot=None):
        """Scores of model ``name`` for the records of its object that ``actor`` may read."""
        doc = self.reports.rfm_models.get(name, actor)
        doc.pop("_meta", None)
        reader = self.services.records(snapshot)
        plan = reader.plan_query(doc["object"], actor)
        t = plan.rt.table
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            limit = 0
        if not 1 <= limit <= 500:
            raise InvalidRequestError("reports.E050", "limit must be a whole number between 1 and 500.",
                                      fields={"limit": ["invalid"]})
        q = (select(rfm_scores, t.c.name.label("record_name"))
             .select_from(rfm_scores.join(t, t.c.id == rfm_scores.c.record_id))
             .where(rfm_scores.c.model == name, *plan.conditions))
        if record_id:
            q = q.where(rfm_scores.c.record_id == record_id)
        if label:
            q = q.where(rfm_scores.c.label == label)
        if cursor:
            q = q.where(rfm_scores.c.record_id > cursor)
        q = q.order_by(rfm_scores.c.record_id).limit(limit + 1)
        with reader.engine.connect().execution_options(tessera_readonly=True) as conn:
            rows = conn.execute(q).mappings().all()
        raw, money = self._raw_rights(reader, doc, actor)
        out = []
        for row in rows[:limit]:
            item = {"record_id": row["record_id"], "name": row["record_name"], "r": row["r"], "f": row["f"],
                    "m": row["m"], "score": row["score"], "label": row["label"],
                    "computed_at": json_value(row["computed_at"])}
            if raw:
                item.update(last_date=row["last_date"], recency_days=row["recency_days"], frequency=row["frequency"])
                if money:
                    item["monetary"] = json_value(row["monetary"])
            out.append(item)
        return {"model": name, "scores": out,
                "next_cursor": rows[limit - 1]["record_id"] if len(rows) > limit else None}

    def _raw_rights(self, reader, doc, actor):
        src = doc["source"]
        srt = reader.snapshot.get(src["object"])
        if srt is None or not actor.plan.can(src["object"], "read"):
            return False, False
        hidden = reader.hidden_fields(srt, actor)
        return True, bool(src.get("amount")) and src["amount"] not in hidden
