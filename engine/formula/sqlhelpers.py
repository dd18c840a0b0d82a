"""Total SQL building blocks for compiled formulas: nothing here raises at run time, on SQLite or
PostgreSQL, whatever the data (issue 8).

A database error is an oracle (a filter that fails for some rows and not others tells an
attacker about rows they cannot see), so every operation that could fail is guarded:
- counts, positions, digits and days are clamped before they become integers;
- what Python reports as an error (division by zero, LN(0), a bad date text, an overflow, a
  text longer than ``MAX_TEXT``) is NULL in SQL, so the row does not match a filter;
- PostgreSQL numerics are kept below 10^65000, so that no product or quotient can overflow
  (|x| < 10^131072); a static bound on each sub-expression's size adds the guard only where
  such a size is possible, so common formulas compile to plain SQL;
- dates and date/times outside the years 1-9999 (where Python fails) become NULL.
Guards are written without repeating their operand where possible (``NULLIF(LEAST(...))``
rather than ``CASE WHEN x ... THEN x``), so that nesting does not multiply the SQL's size.
"""
from __future__ import annotations

import decimal
from decimal import Decimal

from sqlalchemy import (BigInteger, Date, DateTime, Float, Integer, Numeric, String, and_, case, cast, false,
                        func, literal, literal_column, null, or_)
from sqlalchemy import types as satypes
from sqlalchemy.sql.elements import BindParameter, ColumnClause

from . import types as T
from .errors import FormulaSQLUnsupported
from .limits import MAX_TEXT

INT_MAX = 2_147_483_647           # PostgreSQL integer
SQLITE_COUNT_MAX = 1_000_000_000  # SQLite's longest text: a larger count means "all of it"
DAY_SPAN = 3_652_059              # days from 0001-01-01 to 10000-01-01
EXP_MAX = 6_000                   # PostgreSQL's exp() refuses larger arguments
POWER_MAX = 2_600                 # |b * log10|a|| for POWER: results up to 10^2600 (e^6000)
NUM_HI = 65_000                   # PostgreSQL numerics are kept below 10^NUM_HI ...
NUM_CAP = 131_000                 # ... so that a product stays below 10^131072
SCALE_MAX = 16_383                # PostgreSQL's most digits after the point
UNKNOWN = (NUM_HI, SCALE_MAX)     # size bound of a number from an unknown source (10^hi, 10^-lo)
_BIG = Decimal(10) ** NUM_HI
_WIDE = decimal.Context(prec=NUM_HI + SCALE_MAX + 10)
_PG_DAY_ONE = literal_column("DATE '0001-01-01'", Date)
_PG_EPOCH = (literal(Decimal(-62_135_596_800), Numeric()),       # 0001-01-01T00:00Z and
             literal(Decimal("253402300799.999999"), Numeric()))  # 9999-12-31T23:59:59.999999Z in epoch seconds
_PG_SECS = literal(Decimal(10 ** 12), Numeric())                   # more than 10,000 years of seconds
_JD = (1_721_425.4, 5_373_484.5)   # just outside SQLite's Julian days of the same instants
_DATE_TEXT = ("^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-"
              "(0[1-9]|[12][0-9]|3[01])$")


def _sentinel_between(x, lo, hi):
    """x when lo < x < hi, else NULL: clamp to the sentinels, then turn them into NULL (PostgreSQL)."""
    return func.nullif(func.nullif(func.least(func.greatest(x, lo), hi), lo), hi)


class SqlHelpers:
    """Mixed into the formula SQL compiler; also the ``S`` object that functions' SQL receives."""

    def _init_bounds(self):
        self._num_bound = {}    # id(expr) -> (expr, (hi, lo)): |x| < 10^hi, and x = 0 or |x| >= 10^-lo
        self._text_bound = {}   # id(expr) -> (expr, most characters)

    # -- static bounds -----------------------------------------------------------------
    def note(self, expr, hi, lo):
        self._num_bound[id(expr)] = (expr, (min(hi, 10 ** 6), min(lo, SCALE_MAX)))
        return expr

    def num_bound(self, expr):
        hit = self._num_bound.get(id(expr))
        if hit is not None and hit[0] is expr:
            return hit[1]
        if isinstance(expr, BindParameter):
            v = expr.value
            if v is None:
                return 0, 0
            if isinstance(v, Decimal) and v.is_finite():
                return (0 if v == 0 else v.adjusted() + 1), max(0, -v.as_tuple().exponent)
        if isinstance(expr, ColumnClause):
            t = expr.type
            if isinstance(t, satypes.Integer):
                return 19, 0
            if isinstance(t, satypes.Numeric) and not isinstance(t, satypes.Float) and t.precision:
                return t.precision - (t.scale or 0), t.scale or 0
        return UNKNOWN

    def note_text(self, expr, most):
        self._text_bound[id(expr)] = (expr, most)
        return expr

    def text_bound(self, expr):
        """The most characters ``expr`` can hold, or None when unknown (a long text field)."""
        hit = self._text_bound.get(id(expr))
        if hit is not None and hit[0] is expr:
            return hit[1]
        if isinstance(expr, BindParameter):
            return len(expr.value) if isinstance(expr.value, str) else (0 if expr.value is None else None)
        if isinstance(expr, ColumnClause) and isinstance(expr.type, satypes.String):
            return expr.type.length
        return None

    def bind_number(self, value):
        """A number parameter; on PostgreSQL brought into the range it can hold."""
        if not self.pg:
            return literal(value, Float())
        if value.is_finite():
            if value.adjusted() >= NUM_HI:
                value = _BIG.copy_sign(value)
            elif value.as_tuple().exponent < -SCALE_MAX:
                value = _WIDE.quantize(value, Decimal(1).scaleb(-SCALE_MAX))
        return literal(value, Numeric())   # no precision: a cast to NUMERIC(38, 10) would overflow

    # -- numbers -------------------------------------------------------------------------
    def bounded(self, x):
        """x, or NULL when |x| >= 10^NUM_HI (PostgreSQL; SQLite's floats do not fail)."""
        if not self.pg:
            return x
        big = literal_column(f"1e{NUM_HI}", Numeric)
        return self.note(_sentinel_between(x, -big, big), NUM_HI, self.num_bound(x)[1])

    def _capped(self, x, hi):
        return self.bounded(x) if hi > NUM_HI else x

    def add(self, a, b, op):
        (ha, la), (hb, lb) = self.num_bound(a), self.num_bound(b)
        if self.pg and max(ha, hb) >= NUM_CAP:
            a, b = self._capped(a, ha), self._capped(b, hb)
            ha, hb = min(ha, NUM_HI), min(hb, NUM_HI)
        return self.note(a + b if op == "+" else a - b, max(ha, hb) + 1, max(la, lb))

    def mul(self, a, b):
        (ha, la), (hb, lb) = self.num_bound(a), self.num_bound(b)
        if self.pg and ha + hb > NUM_CAP:
            a, b = self._capped(a, ha), self._capped(b, hb)
            ha, hb = min(ha, NUM_HI), min(hb, NUM_HI)
        return self.note(a * b, ha + hb, la + lb)

    def div(self, a, b):
        """a / b; NULL when b is 0 (Python raises)."""
        ha, lb = self.num_bound(a)[0], self.num_bound(b)[1]   # |b| >= 10^-lb unless 0
        b = func.nullif(b, 0)
        if not self.pg:
            return cast(a, Float) / b
        if ha + lb > NUM_CAP:
            a, ha = self.bounded(a), NUM_HI
        # PostgreSQL keeps at most 1000 digits after the point in a quotient
        return self.note(a / b, ha + lb, 1000)

    def power(self, a, b):
        """a ^ b; NULL where Python fails (0 to a negative power, a negative number to a fraction)
        and for results beyond 10^2600 (PostgreSQL computes them through exp())."""
        if not self.pg:
            return func.power(a, b)
        (ha, _la), (hb, _lb) = self.num_bound(a), self.num_bound(b)
        a, b = self._capped(a, ha), self._capped(b, hb)
        p = func.power(a, b)
        return self.note(case((a == 0, case((b >= 0, p))),
                              (and_(a < 0, b != func.trunc(b)), null()),
                              (func.abs(b * func.log(func.abs(a))) <= POWER_MAX, p)), POWER_MAX + 1, SCALE_MAX)

    def abs(self, x):
        if self.pg:
            return func.abs(x)
        return case((x < 0, -x), else_=x)   # SQLite's abs() fails on -2^63; its negation does not

    def sqrt(self, x):
        return func.sqrt(case((x >= 0, x))) if self.pg else func.sqrt(x)

    def exp(self, x):
        if not self.pg:
            return func.exp(x)   # SQLite: infinity, not an error
        x = func.greatest(x, -EXP_MAX)   # below, PostgreSQL's result rounds to 0 anyway
        return self.note(func.exp(func.nullif(func.least(x, EXP_MAX), EXP_MAX)), 2606, 1000)

    def ln(self, x, base10=False):
        if not self.pg:
            return func.log10(x) if base10 else func.ln(x)   # SQLite: NULL for x <= 0
        positive = func.nullif(func.greatest(x, 0), 0)
        return self.note(func.log(positive) if base10 else func.ln(positive), 6, 1000)

    def num(self, expr):
        """A number as PostgreSQL NUMERIC: integer arithmetic (bigint, a length) would overflow."""
        if self.pg and isinstance(expr.type, satypes.Integer):
            return self.note(cast(expr, Numeric), *self.num_bound(expr))
        return expr

    def floor(self, x):
        if self.pg:
            return func.floor(x)
        # SQLAlchemy's pysqlite dialect overrides floor() with a Python function that fails on NULL;
        # floats from 2^52 up are whole already (and CAST would saturate at 2^63)
        i = cast(x, Integer)
        return case((or_(x >= 2 ** 52, x <= -2 ** 52), x), else_=i - case((x < i, 1), else_=0))

    def ceil(self, x):
        if self.pg:
            return func.ceil(x)
        i = cast(x, Integer)
        return case((or_(x >= 2 ** 52, x <= -2 ** 52), x), else_=i + case((x > i, 1), else_=0))

    def mod(self, a, b):
        """MOD with the sign of the divisor; NULL for a divisor of 0."""
        bb = func.nullif(b, 0)
        if self.pg:   # exact, and no quotient that could grow
            (_ha, la), (hb, lb) = self.num_bound(a), self.num_bound(b)
            return self.note(func.mod(func.mod(a, bb) + bb, bb), hb + 1, max(la, lb))
        return a - bb * self.floor(self.div(a, bb))

    def safe_int(self, n):
        """A count or a position as an integer, truncated toward zero and clamped (never fails)."""
        if self.pg:
            return cast(func.least(func.greatest(func.trunc(n), -INT_MAX), INT_MAX), Integer)
        return func.max(func.min(cast(n, Integer), SQLITE_COUNT_MAX), -SQLITE_COUNT_MAX)

    def round_half_away(self, x, d):
        di = self.safe_int(d)
        if self.pg:
            return self.note(func.round(cast(x, Numeric), di), self.num_bound(x)[0] + 1, SCALE_MAX)
        if isinstance(d, BindParameter) and isinstance(d.value, Decimal) and abs(d.value) <= 300:
            digits = int(d.value)   # the usual ROUND(x, 2): x written once
            if digits >= 0:
                return func.round(x, digits)
            return func.round(x / 10 ** -digits) * 10 ** -digits
        scale = func.power(10, -di)
        return case((di >= 0, func.round(x, di)), else_=func.round(x / scale) * scale)

    def extreme(self, fn, xs):
        if len(xs) == 1:
            return xs[0]
        if self.pg:
            bounds = [self.num_bound(x) for x in xs]
            return self.note((func.greatest if fn is max else func.least)(*xs),
                             max(b[0] for b in bounds), max(b[1] for b in bounds))
        # SQLite's max()/min() give NULL when any argument is NULL: blanks become -inf/+inf and
        # back; at most 100 arguments per call (SQLite allows 127)
        inf = literal_column("-9e999" if fn is max else "9e999", Float)
        pick = func.max if fn is max else func.min
        parts = [func.coalesce(x, inf) for x in xs]
        while len(parts) > 1:
            parts = [pick(*chunk) if len(chunk) > 1 else chunk[0] for chunk in
                     (parts[i:i + 100] for i in range(0, len(parts), 100))]
        return func.nullif(parts[0], inf)

    # -- text ------------------------------------------------------------------------------
    def blank_text(self, expr):
        return func.nullif(expr, "")

    def text_arg(self, expr):
        out = func.coalesce(expr, "")
        most = self.text_bound(expr)
        return out if most is None else self.note_text(out, most)

    def eq(self, a, b, t):
        if t == T.TEXT:
            a, b = self.blank_text(a), self.blank_text(b)
        return a.is_not_distinct_from(b)

    def _length(self, t):
        n = func.length(t)
        return cast(n, BigInteger) if self.pg else n   # a sum of lengths may pass 2^31

    def concat(self, parts):
        """Joined texts (blank reads as ''); NULL when longer than ``MAX_TEXT`` (Python refuses)."""
        parts = [self.text_arg(p) for p in parts]
        joined = parts[0]
        for p in parts[1:]:
            joined = joined.concat(p)
        bounds = [self.text_bound(p) for p in parts]
        if None not in bounds and sum(bounds) <= MAX_TEXT:
            return self.note_text(joined, sum(bounds))
        total = self._length(parts[0])
        for p in parts[1:]:
            total = total + self._length(p)
        return self.note_text(case((total <= MAX_TEXT, joined)), MAX_TEXT)

    def _count(self, n):
        n = self.safe_int(n)
        return func.greatest(n, 0) if self.pg else func.max(n, 0)

    def left(self, t, n):
        t = self.text_arg(t)
        return self.note_text(func.substr(t, 1, self._count(n)), self.text_bound(t))

    def right(self, t, n):
        cnt = self._count(n)
        t = self.text_arg(t)
        if self.pg:
            return self.note_text(func.right(t, cnt), self.text_bound(t))
        return self.note_text(case((cnt == 0, ""), else_=func.substr(t, -cnt)), self.text_bound(t))

    def mid(self, t, s, n):
        start = self.safe_int(s)
        start = func.greatest(start, 1) if self.pg else func.max(start, 1)
        t = self.text_arg(t)
        return self.note_text(func.substr(t, start, self._count(n)), self.text_bound(t))

    def recase(self, fn, t):
        """UPPER/LOWER/TRIM: at most as long as their text (three times for a few letters like 'ß')."""
        most = self.text_bound(t)
        return self.note_text(fn(t), None if most is None else 3 * most)

    def _instr(self, hay, needle):
        return func.strpos(hay, needle) if self.pg else func.instr(hay, needle)

    def contains(self, t, p):
        return self._instr(self.text_arg(t), self.text_arg(p)) > 0

    def begins(self, t, p):
        p = self.text_arg(p)
        return func.substr(self.text_arg(t), 1, func.length(p)) == p

    def substitute(self, t, old, new):
        """Every occurrence replaced; NULL when the result would pass ``MAX_TEXT`` (Python refuses),
        worked out from lengths before anything is built."""
        t, old, new = self.text_arg(t), self.text_arg(old), self.text_arg(new)
        lt, ln = self.text_bound(t), self.text_bound(new)
        replaced = func.replace(t, old, new)
        if lt is not None and ln is not None and lt * max(ln, 1) <= MAX_TEXT:
            return self.note_text(replaced, lt * max(ln, 1))
        lo = self._length(old)
        count = (self._length(t) - self._length(func.replace(t, old, ""))) / lo
        size = self._length(t) + count * (self._length(new) - lo)
        return self.note_text(case((lo == 0, t), (size <= MAX_TEXT, replaced)), MAX_TEXT)

    def includes(self, m, v):
        wrapped = literal(";").concat(m).concat(";")
        return and_(func.coalesce(v, "") != "", self._instr(wrapped, literal(";").concat(v).concat(";")) > 0)

    # -- dates ------------------------------------------------------------------------------
    def part(self, kind, x):
        if self.pg:
            if kind == "weekday":
                return func.extract("dow", self._utc(x)) + 1
            return func.extract(kind, self._utc(x))
        fmt = {"year": "%Y", "month": "%m", "day": "%d", "weekday": "%w", "hour": "%H", "minute": "%M"}[kind]
        value = cast(func.strftime(fmt, x), Integer)
        return value + 1 if kind == "weekday" else value

    def _utc(self, x):
        return x if getattr(x.type, "timezone", False) is False and not isinstance(x.type, DateTime) \
            else func.timezone("UTC", x)

    def datevalue(self, x, arg_type=T.TEXT):
        """DATEVALUE: the UTC date of a date/time, or a strict 'YYYY-MM-DD' text (else NULL)."""
        if arg_type == T.DATETIME:
            return cast(func.timezone("UTC", x), Date) if self.pg else func.date(x)
        if not self.pg:   # date(x, '+0 days') moves '2023-02-29' to March: keep only texts it returns as given
            return case((and_(x.op("GLOB")("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"), x >= "0001",
                              func.date(x, "+0 days") == x), x))
        # PostgreSQL fails on a bad date text: check the shape, then the day of the month, and only
        # then cast (nested CASEs: the conditions of one AND may run in any order)
        md, year = func.substr(x, 6, 5), cast(func.substr(x, 1, 4), Integer)
        leap = and_(year % 4 == 0, or_(year % 100 != 0, year % 400 == 0))
        valid = case((md.in_(["02-30", "02-31", "04-31", "06-31", "09-31", "11-31"]), false()),
                     (md == "02-29", leap), else_=True)
        return case((x.regexp_match(_DATE_TEXT), case((valid, cast(x, Date)))))

    def date_add(self, d, n, sign):
        """A date plus n whole days (truncated); NULL outside the years 1-9999."""
        if self.pg:   # on day numbers from 0001-01-01: no date out of PostgreSQL's range is ever formed
            days = cast(func.least(func.greatest(func.trunc(n), -DAY_SPAN), DAY_SPAN), BigInteger)
            number = cast(d - _PG_DAY_ONE, BigInteger)
            number = number + days if sign > 0 else number - days
            return _PG_DAY_ONE + cast(_sentinel_between(number, -1, DAY_SPAN), Integer)
        days = cast(n, Integer)
        if sign < 0:
            days = -days
        # SQLite gives NULL after 9999 but '0000-12-31' or '-2190-09-05' before year 1
        moved = func.date(d, cast(days, String).concat(" days"))
        return func.nullif(func.max(moved, "0000-12-31"), "0000-12-31")

    def datetime_add(self, d, n, sign):
        """A date/time plus n days (fractions allowed); NULL outside the years 1-9999."""
        if self.pg:   # checked on exact epoch seconds before any timestamp out of range is formed
            secs = n * (86400 * sign)
            inside = (func.extract("epoch", d) + secs).between(*_PG_EPOCH)
            # clamped before the float cast, which PostgreSQL may compute ahead for a constant n
            shift = cast(func.least(func.greatest(secs, -_PG_SECS), _PG_SECS), Float)
            return case((inside, d + func.make_interval(0, 0, 0, 0, 0, 0, shift)))
        moved = d + n if sign > 0 else d - n   # Julian day numbers
        return func.nullif(func.nullif(func.min(func.max(moved, _JD[0]), _JD[1]), _JD[0]), _JD[1])

    def date_diff(self, a, b):
        if self.pg:
            return self.note(cast(a - b, Numeric), 8, 0)
        return func.julianday(a) - func.julianday(b)

    def datetime_diff(self, a, b):
        if self.pg:
            return self.note(func.extract("epoch", a - b) / 86400, 13, 1000)
        return a - b

    def make_date(self, y, m, d):
        raise FormulaSQLUnsupported("DATE() with fields has no SQL form; use it with numbers only.",
                                    code="formula.E200")
