"""Trends: any aggregate per period, with the change against the previous period and the same
period a year before. One summary report (grouped by the date at the granularity) run as the
viewer over the window plus the year before it; the comparisons are worked out per calendar
period, so a period without records counts as 0 (count, sum) or blank (the others).
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from engine.errors import InvalidRequestError

from ..compiler import GRANULARITIES, period_label
from ..runner import literal_formula

ZERO_WHEN_EMPTY = ("count", "count_distinct", "sum")
MAX_PERIODS = 400


def period_floor(day, granularity):
    if granularity == "day":
        return day
    if granularity == "week":
        return day - _dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    if granularity == "quarter":
        return _dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return _dt.date(day.year, 1, 1)


def shift(start, granularity, n):
    """The start of the period ``n`` periods after the one starting at ``start``."""
    if granularity == "day":
        return start + _dt.timedelta(days=n)
    if granularity == "week":
        return start + _dt.timedelta(weeks=n)
    months = {"month": 1, "quarter": 3, "year": 12}[granularity] * n
    total = start.year * 12 + start.month - 1 + months
    return _dt.date(total // 12, total % 12 + 1, 1)


def year_before(start, granularity):
    if granularity == "day":
        try:
            return start.replace(year=start.year - 1)
        except ValueError:            # 29 February
            return start.replace(year=start.year - 1, day=28)
    if granularity == "week":
        return start - _dt.timedelta(weeks=52)
    return shift(start, granularity, -{"month": 12, "quarter": 4, "year": 1}[granularity])


def _date_param(params, key, default):
    raw = params.get(key)
    if not raw:
        return default
    try:
        return _dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError("reports.E060", f"{key} must be a date YYYY-MM-DD (got '{str(raw)[:20]}').",
                                  fields={key: ["invalid"]}) from None


def _change(value, other):
    if value is None or other is None:
        return None, None
    diff = Decimal(str(value)) - Decimal(str(other))
    pct = (diff / Decimal(str(other)) * 100).quantize(Decimal("0.01")) if other else None
    return diff, pct


class Trend:
    """``run(actor, params)``: see the module docstring and docs/reports.md."""

    def __init__(self, reports):
        self.reports = reports

    def run(self, actor, params, *, snapshot=None, today=None):
        gran = params.get("granularity") or "month"
        if gran not in GRANULARITIES:
            raise InvalidRequestError("reports.E061", f"granularity must be one of {', '.join(GRANULARITIES)}.",
                                      fields={"granularity": ["invalid"]})
        if params.get("report"):
            base = self.reports.reports.get(params["report"], actor)
            obj, flt = base["object"], base.get("filter")
            agg = (base.get("aggregates") or [{"fn": "count"}])[0]
        else:
            obj, flt = params.get("object"), params.get("filter") or None
            if not obj:
                raise InvalidRequestError("reports.E062", "Name the object (object=) or a saved report (report=).",
                                          fields={"object": ["required"]})
            agg = {"fn": params.get("fn") or "count"}
            if params.get("field"):
                agg["field"] = params["field"]
        date = params.get("date")
        if not date:
            raise InvalidRequestError("reports.E063", "Name the date field to group by (date=close_date).",
                                      fields={"date": ["required"]})
        today = today or _dt.datetime.now(_dt.timezone.utc).date()
        end = period_floor(_date_param(params, "to", today), gran)
        start = period_floor(_date_param(params, "from", shift(end, gran, -11)), gran)
        if start > end:
            raise InvalidRequestError("reports.E064", "from must not be after to.", fields={"from": ["invalid"]})
        periods = [start]
        while periods[-1] < end:
            periods.append(shift(periods[-1], gran, 1))
            if len(periods) > MAX_PERIODS:
                raise InvalidRequestError("reports.E065", f"At most {MAX_PERIODS} periods; choose a coarser "
                                          "granularity or a shorter range.", fields={"from": ["too early"]})
        first = min(year_before(start, gran), shift(start, gran, -1))
        doc = {"name": "trend", "object": obj, "group_by": [{"field": date, "granularity": gran, "name": "period"}],
               "aggregates": [dict(agg, name="value")]}
        if flt:
            doc["filter"] = flt
        ref_type = self._date_type(actor, obj, date, snapshot)
        lo = literal_formula(first, "date") if ref_type == "date" else \
            literal_formula(_dt.datetime(first.year, first.month, first.day, tzinfo=_dt.timezone.utc), "datetime")
        after = shift(end, gran, 1)
        hi = literal_formula(after, "date") if ref_type == "date" else \
            literal_formula(_dt.datetime(after.year, after.month, after.day, tzinfo=_dt.timezone.utc), "datetime")
        window = f"{date} >= {lo} && {date} < {hi}"
        result = self.reports.run_doc(doc, actor, snapshot=snapshot, extra_filters=[("window", window)],
                                      group_limit=10_000)
        values = {g["key"]["period"]: g["values"]["value"] for g in result["groups"]}
        fn = result["meta"]["aggregates"][0]["fn"]
        empty = 0 if fn in ZERO_WHEN_EMPTY else None

        def value_at(day):
            value = values.get(period_label(day, gran))
            return empty if value is None else value   # a sum over blanks only is 0, like no records

        out = []
        for day in periods:
            value, prev, last = value_at(day), value_at(shift(day, gran, -1)), value_at(year_before(day, gran))
            change, pct = _change(value, prev)
            change_ly, pct_ly = _change(value, last)
            out.append({"period": period_label(day, gran), "start": day.isoformat(), "value": value,
                        "previous": prev, "change": change, "change_pct": pct, "last_year": last,
                        "change_last_year": change_ly, "change_last_year_pct": pct_ly})
        agg_meta = result["meta"]["aggregates"][0]
        return {"object": obj, "date": date, "granularity": gran, "aggregate": {"fn": fn, "label": agg_meta["label"],
                                                                                 "field": agg.get("field")},
                "filter": flt, "periods": out}

    def _date_type(self, actor, obj, date, snapshot):
        from engine.records.field_security import reader_view

        from ..errors import ReportDefinitionError
        from ..fields import PathError, resolve_path

        reader = self.reports.reader(snapshot)
        reader.runtime(obj)
        try:
            ref = resolve_path(reader.snapshot, reader_view(reader.snapshot, actor).fields_map(obj), obj, date)
        except PathError as exc:
            raise ReportDefinitionError([("date", str(exc))]) from None
        if ref.type not in ("date", "datetime"):
            raise ReportDefinitionError([("date", f"'{date}' is not a date or a date/time")])
        return ref.type
