"""Text functions. Comparisons and searches are case-sensitive."""
from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import lru_cache

import re2
from sqlalchemy import func

from ..errors import FormulaRuntimeError
from ..limits import MAX_TEXT
from ..runtime import CTX, text_too_long, to_int
from . import builtin

T, N, B = "text", "number", "boolean"
# unambiguous (no two ways to split a run of digits), so a long non-number fails in linear time
NUMBER_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _n(x):
    return max(to_int(x), 0)


@builtin("LEN", (T,), N, family="text", doc="Number of characters: LEN('abc') is 3 (0 for blank).",
         sql=lambda S, t: func.coalesce(func.length(t), 0))
def len_(t):
    return Decimal(len(t))


@builtin("LEFT", (T, N), T, family="text", doc="The first n characters: LEFT('Salesforce', 5) is 'Sales'.",
         sql=lambda S, t, n: S.left(t, n))
def left(t, n):
    return t[:_n(n)]


@builtin("RIGHT", (T, N), T, family="text", doc="The last n characters: RIGHT('Salesforce', 5) is 'force'.",
         sql=lambda S, t, n: S.right(t, n))
def right(t, n):
    n = _n(n)
    return t[-n:] if n else ""


@builtin("MID", (T, N, N), T, family="text", doc="n characters from a 1-based start: MID('abcdef', 2, 3) is 'bcd'.",
         sql=lambda S, t, s, n: S.mid(t, s, n))
def mid(t, start, n):
    s = max(to_int(start), 1) - 1
    return t[s:s + _n(n)]


@builtin("UPPER", (T,), T, family="text", doc="Upper case: UPPER('abc') is 'ABC'.",
         sql=lambda S, t: S.recase(func.upper, t))
def upper(t):
    return t.upper()


@builtin("LOWER", (T,), T, family="text", doc="Lower case: LOWER('ABC') is 'abc'.",
         sql=lambda S, t: S.recase(func.lower, t))
def lower(t):
    return t.lower()


@builtin("TRIM", (T,), T, family="text", doc="Remove spaces at both ends: TRIM('  a b  ') is 'a b'.",
         sql=lambda S, t: S.recase(func.trim, t))
def trim(t):
    return t.strip()


@builtin("CONTAINS", (T, T), B, family="text", doc="TRUE when the text contains the part: CONTAINS('Hello', 'ell').",
         sql=lambda S, t, p: S.contains(t, p))
def contains(t, part):
    return part in t


@builtin("BEGINS", (T, T), B, family="text", doc="TRUE when the text starts with the prefix: BEGINS('Sales', 'Sa').",
         sql=lambda S, t, p: S.begins(t, p))
def begins(t, prefix):
    return t.startswith(prefix)


@builtin("FIND", (T, T, N), N, min_args=2, family="text",
         doc="1-based position of a part, from an optional start; 0 when absent: FIND('e', 'Salesforce', 5) is 10.")
def find(part, t, start=Decimal(1)):
    s = max(to_int(start), 1)
    if part == "":
        return start.to_integral_value(rounding=ROUND_DOWN)
    i = t.find(part, s - 1)
    return Decimal(i + 1 if i >= 0 else 0)


@builtin("SUBSTITUTE", (T, T, T), T, family="text",
         doc="Replace every occurrence: SUBSTITUTE('a-b-c', '-', '+') is 'a+b+c'.",
         sql=lambda S, t, old, new: S.substitute(t, old, new))
def substitute(t, old, new):
    if old == "":
        return t
    size = len(t) + t.count(old) * (len(new) - len(old))
    if size > MAX_TEXT:
        text_too_long("SUBSTITUTE", size)
    return t.replace(old, new)


@builtin("VALUE", (T,), N, family="text", doc="Read a number from text: VALUE('42') is 42.")
def value(t):
    if t == "":
        return None
    if not NUMBER_RE.match(t):
        raise FormulaRuntimeError(f"VALUE cannot read '{t[:40]}' as a number.", code="formula.E310")
    try:
        d = Decimal(t.strip())
    except InvalidOperation:
        raise FormulaRuntimeError(f"VALUE cannot read '{t[:40]}' as a number.", code="formula.E310") from None
    if not CTX.Emin <= d.adjusted() <= CTX.Emax:  # e.g. '1e999999999': beyond what arithmetic can hold
        raise FormulaRuntimeError(f"VALUE cannot read '{t[:40]}': the number is out of range.", code="formula.E310")
    return d


@builtin("ISNUMBER", (T,), B, family="logical", doc="TRUE when the text is a number: ISNUMBER('12.5').")
def isnumber(t):
    return bool(NUMBER_RE.match(t))


def _pad(t, n, pad, left):
    n = to_int(n)
    if n <= 0:
        return ""
    if n > MAX_TEXT:
        text_too_long("LPAD" if left else "RPAD", n)
    if len(t) >= n:
        return t[:n]
    if pad == "":
        return t
    fill = (pad * (n // len(pad) + 1))[:n - len(t)]
    return fill + t if left else t + fill


@builtin("LPAD", (T, N, T), T, min_args=2, family="text",
         doc="Pad on the left to n characters (cut when longer): LPAD('42', 5, '0') is '00042'.")
def lpad(t, n, pad=" "):
    return _pad(t, n, pad, True)


@builtin("RPAD", (T, N, T), T, min_args=2, family="text",
         doc="Pad on the right to n characters (cut when longer): RPAD('ab', 5, '*') is 'ab***'.")
def rpad(t, n, pad=" "):
    return _pad(t, n, pad, False)


RE2_HINT = ("REGEX uses RE2 syntax: no backreferences (\\1) or look-around ((?=...), (?!...)), "
            "and repetition counts up to 1000")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 2 << 20   # a pattern whose automaton needs more is refused


@lru_cache(maxsize=128)
def _compiled(pattern):
    return re2.compile(pattern, _RE2_OPTIONS)


def regex_problem(pattern):
    """Why RE2 refuses ``pattern`` (None when it compiles)."""
    try:
        _compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return None


def _check_regex(args):
    """Compile-time check of a literal pattern: (argument index, message, hint) or None."""
    if len(args) == 2 and args[1].kind == "string":
        problem = regex_problem(args[1].value)
        if problem is not None:
            return 1, f"REGEX pattern is not supported: {problem}", RE2_HINT
    return None


@builtin("REGEX", (T, T), B, family="text", check=_check_regex,
         doc="TRUE when the whole text matches the regular expression (RE2 syntax): REGEX('AB-12', '[A-Z]+-[0-9]+').")
def regex(t, pattern):
    # RE2 matches in time linear in the text: no pattern can make the server backtrack for seconds
    problem = regex_problem(pattern)
    if problem is not None:
        raise FormulaRuntimeError(f"REGEX pattern is not supported: {problem}.", code="formula.E311")
    return _compiled(pattern).fullmatch(t) is not None


@builtin("ISPICKVAL", (T, T), B, handles_blank=True, family="logical",
         doc="TRUE when the picklist holds the value (case-sensitive): ISPICKVAL(stage, 'Closed Won').",
         sql=lambda S, a, b: S.eq(a, b, "text"))
def ispickval(v, target):
    return (v or "") == (target or "")


@builtin("INCLUDES", ("multi", T), B, handles_blank=True, family="logical",
         doc="TRUE when the multi-select picklist includes the value: INCLUDES(interests, 'Golf').",
         sql=lambda S, m, v: S.includes(m, v))
def includes(values, v):
    if not values or not v:
        return False
    if isinstance(values, str):
        values = values.split(";")
    return v in values

