"""Run-time helpers shared by compiled formulas: value normalisation, blank rules,
Decimal arithmetic with clear errors, date arithmetic."""
from __future__ import annotations

import datetime as _dt
import decimal
from decimal import Decimal

from .errors import FormulaRuntimeError
from .limits import MAX_TEXT

UTC = _dt.timezone.utc
CTX = decimal.Context()  # Python's default context: 28 significant digits
CTX.traps[decimal.InvalidOperation] = True
CTX.traps[decimal.DivisionByZero] = True
CTX.traps[decimal.Overflow] = True
_DAY_US = Decimal(86_400_000_000)


def to_int(d, bound=10 ** 18):
    """``int(d)`` truncated toward zero, clamped to +-bound: a count, a position or a number of days.

    ``int()`` of a number such as 10^999999 takes most of a minute; any count that large means
    "more than any text or date has", so the clamp never changes a result."""
    if d.adjusted() >= 18:
        return bound if d > 0 else -bound
    return int(d)


def text_too_long(what, size):
    raise FormulaRuntimeError(f"{what} would build a text of {size:,} characters; a formula may build at most "
                              f"{MAX_TEXT:,}.", code="formula.E312")


def concat(a, b):
    """The formula '&' (blank reads as ''), refusing a result longer than ``MAX_TEXT``."""
    a, b = a or "", b or ""
    if len(a) + len(b) > MAX_TEXT:
        text_too_long("'&'", len(a) + len(b))
    return a + b


def bounded_text(what, v):
    """A text returned by a plugin function, refused when longer than ``MAX_TEXT``."""
    if isinstance(v, str) and len(v) > MAX_TEXT:
        text_too_long(what, len(v))
    return v


def fixed_length(v):
    """The length of ``format(v, 'f')`` for a finite Decimal, computed without formatting it."""
    sign, digits, exp = v.as_tuple()
    if not isinstance(exp, int):
        return 9
    if exp >= 0:
        body = 1 if digits == (0,) else len(digits) + exp
    else:
        body = max(len(digits) + exp, 1) + 1 - exp
    return body + sign


def number_text(v):
    """TEXT(number): fixed-point, never an exponent; refused when longer than ``MAX_TEXT``."""
    if -1000 < v.adjusted() < 1000:   # the text is no longer than the number's own digits (+1000)
        text = format(v, "f")
        if len(text) > MAX_TEXT:
            text_too_long("TEXT", len(text))
        return text
    size = fixed_length(v)   # 1E+999999 would be a million characters: measured before writing
    if size > MAX_TEXT:
        text_too_long("TEXT", size)
    return format(v, "f")


def to_number(v):
    if v is None or isinstance(v, Decimal):
        return v
    if isinstance(v, bool):
        return Decimal(int(v))
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, str):
        try:
            return Decimal(v.strip()) if v.strip() else None
        except decimal.InvalidOperation:
            return None
    return None


def to_text(v):
    if v is None or isinstance(v, str):
        return v
    return str(v)


def to_date(v):
    if isinstance(v, _dt.datetime):
        return v.astimezone(UTC).date() if v.tzinfo else v.date()
    if isinstance(v, str) and v:
        try:
            return _dt.date.fromisoformat(v[:10])
        except ValueError:
            return None
    return v if isinstance(v, _dt.date) else None


def to_datetime(v):
    if isinstance(v, _dt.datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v
    if isinstance(v, str) and v:
        try:
            d = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
        return d.replace(tzinfo=UTC) if d.tzinfo is None else d
    return None


def to_bool(v):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, Decimal)):
        return bool(v)
    return None


def to_multi(v):
    if v is None:
        return None
    if isinstance(v, str):
        return [x for x in v.split(";") if x] or None
    return list(v)


NORMALISE = {"number": to_number, "text": to_text, "date": to_date, "datetime": to_datetime,
             "boolean": to_bool, "multi": to_multi}


def is_blank(v):
    return v is None or v == "" or (isinstance(v, list) and not v)


def truthy(v):
    return v is True


def _arith(op, a, b):
    try:
        if op == "+":
            return CTX.add(a, b)
        if op == "-":
            return CTX.subtract(a, b)
        if op == "*":
            return CTX.multiply(a, b)
        if op == "/":
            if b == 0:
                raise FormulaRuntimeError("Division by zero.", code="formula.E300")
            return CTX.divide(a, b)
        return power(a, b)
    except decimal.Overflow:
        raise FormulaRuntimeError("The number is too large.", code="formula.E305") from None
    except (decimal.InvalidOperation, decimal.DivisionByZero):
        raise FormulaRuntimeError(f"Cannot compute {a} {op} {b}.", code="formula.E306") from None


def power(a, b):
    try:
        if a == 0 and b < 0:
            raise FormulaRuntimeError("0 cannot be raised to a negative power.", code="formula.E307")
        if b == b.to_integral_value():
            return CTX.power(a, int(b)) if abs(b) < 10 ** 6 else CTX.power(a, b)
        return CTX.power(a, b)
    except decimal.Overflow:
        raise FormulaRuntimeError("The number is too large.", code="formula.E305") from None
    except (decimal.InvalidOperation, decimal.DivisionByZero):
        raise FormulaRuntimeError(f"Cannot raise {a} to the power {b}.", code="formula.E306") from None


def number_op(op):
    def run(a, b):
        if a is None or b is None:
            return None
        return _arith(op, a, b)
    return run


def date_plus(d, n, sign=1):
    if d is None or n is None:
        return None
    days = to_int(n) * sign
    try:
        return d + _dt.timedelta(days=days)
    except OverflowError:
        raise FormulaRuntimeError("The date is out of range.", code="formula.E308") from None


def datetime_plus(d, n, sign=1):
    if d is None or n is None:
        return None
    us = to_int(CTX.multiply(n, _DAY_US)) * sign
    try:
        return d + _dt.timedelta(microseconds=us)
    except OverflowError:
        raise FormulaRuntimeError("The date/time is out of range.", code="formula.E308") from None


def date_diff(a, b):
    if a is None or b is None:
        return None
    return Decimal((a - b).days)


def datetime_diff(a, b):
    if a is None or b is None:
        return None
    delta = a - b
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return CTX.divide(Decimal(us), _DAY_US)


def text_of(v, t):
    """TEXT(x) for a value of formula type ``t``."""
    if v is None or (t == "multi" and not v):
        return None
    if t == "number":
        return number_text(v)
    if t == "boolean":
        return "true" if v else "false"
    if t == "date":
        return v.isoformat()
    if t == "datetime":
        return v.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if t == "multi":
        return ";".join(v)
    return v


def equal(a, b):
    """The formula '=': blank equals blank ('' is blank), never a non-blank value."""
    ab, bb = is_blank(a), is_blank(b)
    if ab or bb:
        return ab and bb
    return a == b
