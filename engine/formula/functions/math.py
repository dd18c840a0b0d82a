"""Math functions. All arithmetic is Decimal with Python's default context (28 digits)."""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from ..errors import FormulaRuntimeError
from ..runtime import to_int
from . import builtin

N = "number"


def _digits(d):
    return to_int(d)  # truncated toward zero (corner case 19)


def _quant(x, digits, rounding):
    try:
        return x.quantize(Decimal(1).scaleb(-digits), rounding=rounding)
    except ArithmeticError:
        raise FormulaRuntimeError("The number is too large to round.", code="formula.E301") from None


@builtin("ABS", (N,), N, family="math", doc="Absolute value: ABS(-7.5) is 7.5.",
         sql=lambda S, x: S.abs(x))
def abs_(x):
    return abs(x)


@builtin("CEILING", (N,), N, family="math", doc="Round up to a whole number (towards +infinity): CEILING(-2.7) is -2.",
         sql=lambda S, x: S.ceil(x))
def ceiling(x):
    return x.to_integral_value(rounding=ROUND_CEILING)


@builtin("FLOOR", (N,), N, family="math", doc="Round down to a whole number (towards -infinity): FLOOR(-2.3) is -3.",
         sql=lambda S, x: S.floor(x))
def floor(x):
    return x.to_integral_value(rounding=ROUND_FLOOR)


def _round_sql(S, x, d):
    return S.round_half_away(x, d)


@builtin("ROUND", (N, N), N, family="math", doc="Round half away from zero to n digits: ROUND(2.5, 0) is 3.",
         sql=_round_sql)
def round_(x, d):
    return _quant(x, _digits(d), ROUND_HALF_UP)


@builtin("TRUNC", (N, N), N, min_args=1, family="math", doc="Cut off digits: TRUNC(2.789, 2) is 2.78.")
def trunc(x, d=Decimal(0)):
    return _quant(x, _digits(d), ROUND_DOWN)


def _mod_sql(S, a, b):
    return S.mod(a, b)


@builtin("MOD", (N, N), N, family="math", doc="Remainder with the sign of the divisor: MOD(-7, 3) is 2.",
         sql=_mod_sql)
def mod(a, b):
    if b == 0:
        raise FormulaRuntimeError("MOD by zero: the divisor must not be 0.", code="formula.E302")
    r = a % b
    if r != 0 and (r < 0) != (b < 0):
        r += b
    return r


@builtin("SQRT", (N,), N, family="math", doc="Square root: SQRT(16) is 4.",
         sql=lambda S, x: S.sqrt(x))
def sqrt(x):
    if x < 0:
        raise FormulaRuntimeError("SQRT of a negative number.", code="formula.E303")
    return x.sqrt()


@builtin("POWER", (N, N), N, family="math", doc="a to the power b: POWER(2, 3) is 8.",
         sql=lambda S, a, b: S.power(a, b))
def power(a, b):
    from ..runtime import power as p
    return p(a, b)


@builtin("EXP", (N,), N, family="math", doc="e to the power x: EXP(0) is 1.",
         sql=lambda S, x: S.exp(x))
def exp(x):
    return x.exp()


@builtin("LN", (N,), N, family="math", doc="Natural logarithm: LN(1) is 0.",
         sql=lambda S, x: S.ln(x))
def ln(x):
    if x <= 0:
        raise FormulaRuntimeError("LN needs a number greater than 0.", code="formula.E304")
    return x.ln()


@builtin("LOG", (N,), N, family="math", doc="Base-10 logarithm: LOG(1000) is 3.",
         sql=lambda S, x: S.ln(x, base10=True))
def log(x):
    if x <= 0:
        raise FormulaRuntimeError("LOG needs a number greater than 0.", code="formula.E304")
    return x.log10()


@builtin("MAX", (N,), N, varargs=True, handles_blank=True, family="math",
         doc="The largest of the numbers, skipping blanks: MAX(3, 9, -1) is 9.",
         sql=lambda S, *xs: S.extreme(max, xs))
def max_(*xs):
    vals = [x for x in xs if x is not None]
    return max(vals) if vals else None


@builtin("MIN", (N,), N, varargs=True, handles_blank=True, family="math",
         doc="The smallest of the numbers, skipping blanks: MIN(3, 9, -1) is -1.",
         sql=lambda S, *xs: S.extreme(min, xs))
def min_(*xs):
    vals = [x for x in xs if x is not None]
    return min(vals) if vals else None

