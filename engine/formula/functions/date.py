"""Date and time functions. v1 computes in UTC."""
from __future__ import annotations

import calendar
import datetime as _dt
import re
from decimal import Decimal

from ..errors import FormulaRuntimeError
from ..runtime import to_int
from . import builtin

D, DT, N, T = "date", "datetime", "number", "text"
UTC = _dt.timezone.utc
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")


def _date_of(x):
    if isinstance(x, _dt.datetime):
        return x.astimezone(UTC).date()
    return x


@builtin("DATE", (N, N, N), D, family="date", doc="A date from year, month, day: DATE(2024, 5, 17).",
         sql=lambda S, y, m, d: S.make_date(y, m, d))
def date(y, m, d):
    try:
        return _dt.date(to_int(y), to_int(m), to_int(d))
    except (ValueError, OverflowError):
        raise FormulaRuntimeError(f"DATE({y}, {m}, {d}) is not a valid date.", code="formula.E320") from None


@builtin("DATEVALUE", ((T, DT),), D, blank_text_as_blank=True, family="date",
         doc="The date of a 'YYYY-MM-DD' text or of a date/time (UTC): DATEVALUE('2024-03-15').",
         sql=lambda S, x: S.datevalue(x, S.arg_types[0]))
def datevalue(x):
    if isinstance(x, _dt.datetime):
        return x.astimezone(UTC).date()
    if not DATE_RE.match(x):
        raise FormulaRuntimeError(f"DATEVALUE cannot read '{x[:40]}': write YYYY-MM-DD.", code="formula.E321")
    try:
        return _dt.date.fromisoformat(x)
    except ValueError:
        raise FormulaRuntimeError(f"'{x[:40]}' is not a valid date.", code="formula.E321") from None


@builtin("DATETIMEVALUE", (T,), DT, blank_text_as_blank=True, family="date",
         doc="A date/time from ISO 8601 text (UTC when no zone): DATETIMEVALUE('2024-03-15T08:30:00Z').")
def datetimevalue(x):
    s = x.strip()
    if not DATETIME_RE.match(s):
        raise FormulaRuntimeError(f"DATETIMEVALUE cannot read '{x[:40]}': write YYYY-MM-DDTHH:MM:SSZ.",
                                  code="formula.E322")
    try:
        v = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise FormulaRuntimeError(f"'{x[:40]}' is not a valid date/time.", code="formula.E322") from None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


@builtin("YEAR", ((D, DT),), N, family="date", doc="The year: YEAR(DATE(2024, 5, 17)) is 2024.",
         sql=lambda S, x: S.part("year", x))
def year(x):
    return Decimal(_date_of(x).year)


@builtin("MONTH", ((D, DT),), N, family="date", doc="The month, 1-12.", sql=lambda S, x: S.part("month", x))
def month(x):
    return Decimal(_date_of(x).month)


@builtin("DAY", ((D, DT),), N, family="date", doc="The day of the month, 1-31.", sql=lambda S, x: S.part("day", x))
def day(x):
    return Decimal(_date_of(x).day)


@builtin("WEEKDAY", ((D, DT),), N, family="date", doc="Day of the week, 1 = Sunday ... 7 = Saturday.",
         sql=lambda S, x: S.part("weekday", x))
def weekday(x):
    return Decimal(_date_of(x).isoweekday() % 7 + 1)


@builtin("ADDMONTHS", ((D, DT), N), ("arg", 0), family="date",
         doc="Add n months, clamped to the month's end; a month's last day stays the last day.")
def addmonths(x, n):
    d = _date_of(x) if not isinstance(x, _dt.datetime) else x
    months = d.year * 12 + (d.month - 1) + to_int(n)
    y, m = divmod(months, 12)
    m += 1
    if not 1 <= y <= 9999:
        raise FormulaRuntimeError("ADDMONTHS goes beyond the year 9999.", code="formula.E323")
    last_src = calendar.monthrange(d.year, d.month)[1]
    last_dst = calendar.monthrange(y, m)[1]
    dd = last_dst if d.day == last_src else min(d.day, last_dst)
    return d.replace(year=y, month=m, day=dd)


@builtin("HOUR", (DT,), N, family="date", doc="The hour (UTC), 0-23.", sql=lambda S, x: S.part("hour", x))
def hour(x):
    return Decimal(x.astimezone(UTC).hour)


@builtin("MINUTE", (DT,), N, family="date", doc="The minute, 0-59.", sql=lambda S, x: S.part("minute", x))
def minute(x):
    return Decimal(x.astimezone(UTC).minute)

