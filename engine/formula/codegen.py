"""Compile a typed formula tree into Python source, once per formula, and ``exec`` it.

One generated function per formula: reads, blank checks and operators are inline
expressions (assignment expressions hold intermediate values), so evaluation pays no
call per node. Semantics are those of ``pycompile`` (the closure compiler), which stays
as the reference and the fallback for trees too deep for Python's parser.
"""
from __future__ import annotations

import itertools
from decimal import Decimal
from functools import lru_cache

from . import runtime as R
from . import types as T
from .errors import FormulaRuntimeError


def _num(v):
    return R.to_number(v)


def _numz(v):
    v = R.to_number(v)
    return Decimal(0) if v is None else v


def _div(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        raise FormulaRuntimeError("Division by zero.", code="formula.E300")
    return a / b


def _pow(a, b):
    if a is None or b is None:
        return None
    return R.power(a, b)


def _path(src, keys, norm, zero):
    cur = src
    for k in keys:
        if not isinstance(cur, dict):
            cur = None
            break
        cur = cur.get(k)
    v = norm(cur)
    return Decimal(0) if zero and v is None else v


def _rel_id(src, keys):
    cur = src
    for k in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
    if isinstance(cur, dict):
        cur = cur.get("id")
    return R.to_text(cur)


HELPERS = {
    "_D": Decimal, "_num": _num, "_numz": _numz, "_txt": R.to_text, "_bool": R.to_bool, "_date": R.to_date,
    "_dtm": R.to_datetime, "_multi": R.to_multi, "_eq": R.equal, "_blank": R.is_blank, "_div": _div,
    "_pow": _pow, "_path": _path, "_rel": _rel_id, "_dplus": R.date_plus, "_dtplus": R.datetime_plus,
    "_ddiff": R.date_diff, "_dtdiff": R.datetime_diff, "_text": R.text_of, "_UTC": R.UTC,
    "_N": R.NORMALISE, "_Z": Decimal(0), "_date_cls": __import__("datetime").date,
    "_MAXT": R.MAX_TEXT, "_toolong": R.text_too_long, "_numtext": R.number_text, "_bounded": R.bounded_text,
}
_INLINE_READ = {T.TEXT: ("str", "_txt"), T.BOOLEAN: ("bool", "_bool"), T.DATE: ("_date_cls", "_date")}


class Codegen:
    def __init__(self, bz):
        self.bz = bz
        self.ns = dict(HELPERS)
        self.counter = itertools.count()
        self.uses_env = False

    def tmp(self):
        return f"_t{next(self.counter)}"

    def const(self, value):
        name = f"_k{next(self.counter)}"
        self.ns[name] = value
        return name

    def build(self, tree):
        """The Python function of ``tree``; its constants live in this generator's namespace, so
        the same source (kept compiled per text) makes a function of its own each time."""
        body = self.e(tree)
        src = f"def _formula(rec, env):\n    return {body}\n"
        code = _compiled(src)
        exec(code, self.ns)  # noqa: S102 - source generated from a type-checked tree, no user text inlined
        return self.ns["_formula"], self.uses_env

    def e(self, node):
        return getattr(self, "k_" + node.kind)(node)

    @staticmethod
    def solid(node):
        """Whether ``node`` is a constant that is not blank (a number, a non-empty text): an
        operand that needs no blank check."""
        return node.kind == "number" or (node.kind == "string" and node.value != "")

    @staticmethod
    def never_blank_type(node):
        """Whether a blank value of ``node`` can only be None: a field read normalised to a
        number, date, date/time or boolean (never '' or an empty list)."""
        return node.kind == "path" and not node.extra.get("relationship_id") and \
            node.type in (T.NUMBER, T.DATE, T.DATETIME, T.BOOLEAN)

    def k_number(self, node):
        return self.const(node.value)

    def k_string(self, node):
        return self.const(node.value)

    def k_bool(self, node):
        return "True" if node.value else "False"

    def k_null(self, node):
        return "None"

    def k_path(self, node, source="rec"):
        keys = list(node.extra["keys"])
        if keys[0].lower() == "$user":
            keys, source = keys[1:], "env.user"
        if source != "rec":
            self.uses_env = True
        if node.extra.get("relationship_id"):
            return f"_rel({source}, {self.const(tuple(keys))})"
        t = node.type
        zero = self.bz and t == T.NUMBER
        if len(keys) == 1 and source == "rec":
            k = self.const(keys[0])
            v = self.tmp()
            if t == T.NUMBER:
                conv = "_numz" if zero else "_num"
                return f"({v} if ({v} := rec.get({k})).__class__ is _D else {conv}({v}))"
            if t in _INLINE_READ:
                cls, conv = _INLINE_READ[t]
                return f"({v} if ({v} := rec.get({k})) is None or {v}.__class__ is {cls} else {conv}({v}))"
        norm = self.const(R.NORMALISE.get(t, R.to_text))
        return f"_path({source}, {self.const(tuple(keys))}, {norm}, {zero})"

    def k_unary(self, node):
        a = self.e(node.args[0])
        if node.value == "!":
            return f"(({a}) is not True)"
        if node.value == "+":
            return a
        v = self.tmp()
        return f"(None if ({v} := {a}) is None else -{v})"

    def k_binop(self, node):
        op = node.value
        na, nb = node.args
        a, b = self.e(na), self.e(nb)
        if op == "||":
            return f"(({a}) is True or ({b}) is True)"
        if op == "&&":
            return f"(({a}) is True and ({b}) is True)"
        if op in ("=", "!="):
            if self.solid(nb) or self.solid(na):   # blank never equals a non-blank constant
                return f"(({a}) {'==' if op == '=' else '!='} ({b}))"
            return f"_eq({a}, {b})" if op == "=" else f"(not _eq({a}, {b}))"
        x, y = self.tmp(), self.tmp()
        text = node.extra.get("operand_type") == T.TEXT
        if op in ("<", "<=", ">", ">=") and nb.kind == "number":
            return f"(False if ({x} := {a}) is None else {x} {op} {b})"
        if op in ("<", "<=", ">", ">="):
            extra = f" or {x} == '' or {y} == ''" if text else ""
            return f"(False if ({x} := {a}) is None or ({y} := {b}) is None{extra} else {x} {op} {y})"
        if op == "&":  # lengths checked before joining: no text over MAX_TEXT is ever built
            if nb.kind == "string":
                return (f"({x} + {b} if len({x} := ({a}) or '') <= {R.MAX_TEXT - len(nb.value)} "
                        f"else _toolong(\"'&'\", len({x}) + {len(nb.value)}))")
            return (f"({x} + {y} if len({x} := ({a}) or '') + len({y} := ({b}) or '') <= _MAXT "
                    f"else _toolong(\"'&'\", len({x}) + len({y})))")
        if op == "/":
            if nb.kind == "number" and nb.value != 0:
                return f"(None if ({x} := {a}) is None else {x} / {b})"
            return f"_div({a}, {b})"
        if op == "^":
            return f"_pow({a}, {b})"
        if node.type == T.DATE:
            if na.type == T.NUMBER:
                return f"_dplus({b}, {a})"
            return f"_dplus({a}, {b}, {1 if op == '+' else -1})"
        if node.type == T.DATETIME:
            if na.type == T.NUMBER:
                return f"_dtplus({b}, {a})"
            return f"_dtplus({a}, {b}, {1 if op == '+' else -1})"
        if op == "-" and na.type == nb.type == T.DATE:
            return f"(None if ({x} := {a}) is None or ({y} := {b}) is None else _D(({x} - {y}).days))"
        if op == "-" and na.type == nb.type == T.DATETIME:
            return f"_dtdiff({a}, {b})"
        if self.solid(nb) and nb.kind == "number":
            return f"(None if ({x} := {a}) is None else {x} {op} {b})"
        if self.solid(na) and na.kind == "number":
            return f"(None if ({y} := {b}) is None else {a} {op} {y})"
        return f"(None if ({x} := {a}) is None or ({y} := {b}) is None else {x} {op} {y})"

    def k_call(self, node):
        fdef = node.extra["fdef"]
        if fdef.special:
            return getattr(self, "sp_" + fdef.special.lower())(node)
        inline = self.inline(node)
        if inline is not None:
            return inline
        code = self.call(node, fdef)
        if fdef.builtin or node.type != T.TEXT:
            return code
        return f"_bounded({self.const(fdef.name)}, {code})"

    def call(self, node, fdef):
        impl = self.const(fdef.impl)
        if fdef.handles_blank:
            return f"{impl}({', '.join(self.e(a) for a in node.args)})"
        checks, args = [], []
        for i, arg in enumerate(node.args):
            spec = fdef.params[min(i, len(fdef.params) - 1)]
            code = self.e(arg)
            if spec == T.TEXT and not fdef.blank_text_as_blank:
                args.append(f"(({code}) or '')")
            else:
                v = self.tmp()
                checks.append(f"({v} := {code}) is None" + (f" or {v} == ''" if arg.type == T.TEXT else ""))
                args.append(v)
        call = f"{impl}({', '.join(args)})"
        if not checks:
            return call
        return f"(None if {' or '.join(checks)} else {call})"

    def inline(self, node):
        """Inline code for the most used built-ins (same results as their implementations)."""
        name, args = node.value, node.args
        if node.extra["fdef"].impl is not _BUILTIN_IMPLS.get(name):
            return None  # a plugin replaced it
        if name in ("UPPER", "LOWER", "TRIM") and len(args) == 1:
            method = {"UPPER": "upper", "LOWER": "lower", "TRIM": "strip"}[name]
            return f"(({self.e(args[0])}) or '').{method}()"
        if name == "LEN":
            return f"_D(len(({self.e(args[0])}) or ''))"
        if name in ("LEFT", "RIGHT") and args[1].kind == "number":
            n = max(R.to_int(args[1].value), 0)
            text = f"(({self.e(args[0])}) or '')"
            if name == "LEFT":
                return f"{text}[:{n}]"
            return f"{text}[-{n}:]" if n else "''"
        if name in ("ROUND", "TRUNC") and len(args) == 2 and args[1].kind == "number" \
                and abs(args[1].value) <= 1000:   # beyond, the implementation reports the error
            from decimal import ROUND_DOWN, ROUND_HALF_UP
            q = self.const(Decimal(1).scaleb(-R.to_int(args[1].value)))
            mode = self.const(ROUND_HALF_UP if name == "ROUND" else ROUND_DOWN)
            v = self.tmp()
            return f"(None if ({v} := {self.e(args[0])}) is None else {v}.quantize({q}, rounding={mode}))"
        if name == "ABS":
            v = self.tmp()
            return f"(None if ({v} := {self.e(args[0])}) is None else abs({v}))"
        return None

    def sp_if(self, node):
        c, a, b = (self.e(x) for x in node.args)
        if node.args[0].kind == "call" and node.args[0].value in ("ISBLANK", "ISNULL"):
            return f"(({a}) if {c} else ({b}))"   # ISBLANK gives True or False, never blank
        return f"(({a}) if ({c}) is True else ({b}))"

    def sp_case(self, node):
        x = self.tmp()
        first = True
        parts = []
        for i in range(1, len(node.args) - 1, 2):
            v = self.e(node.args[i])
            r = self.e(node.args[i + 1])
            subject = f"({x} := {self.e(node.args[0])})" if first else x
            first = False
            if self.solid(node.args[i]):   # a non-blank constant: equal means not blank
                parts.append((f"({subject} == {v})", r))
            else:
                parts.append((f"(not _blank({subject}) and _eq({x}, {v}))", r))
        out = self.e(node.args[-1])
        for cond, r in reversed(parts):
            out = f"(({r}) if {cond} else {out})"
        return out

    def sp_and(self, node):
        return "(" + " and ".join(f"({self.e(a)}) is True" for a in node.args) + ")"

    def sp_or(self, node):
        return "(" + " or ".join(f"({self.e(a)}) is True" for a in node.args) + ")"

    def sp_not(self, node):
        return f"(({self.e(node.args[0])}) is not True)"

    def sp_isblank(self, node):
        if self.never_blank_type(node.args[0]):
            return f"(({self.e(node.args[0])}) is None)"
        return f"_blank({self.e(node.args[0])})"

    sp_isnull = sp_isblank

    def sp_blankvalue(self, node):
        v = self.tmp()
        return f"(({self.e(node.args[1])}) if _blank({v} := {self.e(node.args[0])}) else {v})"

    sp_nullvalue = sp_blankvalue

    def sp_isnew(self, node):
        self.uses_env = True
        return "env.is_new"

    def sp_ischanged(self, node):
        self.uses_env = True
        cur = self.e(node.args[0])
        prior = self.k_path(node.args[0], source="env.prior")
        return f"((not env.is_new) and not _eq({cur}, {prior}))"

    def sp_priorvalue(self, node):
        self.uses_env = True
        prior = self.k_path(node.args[0], source="env.prior")
        blank = "_Z" if self.bz and node.type == T.NUMBER else "None"
        return f"({blank} if env.is_new else {prior})"

    def sp_text(self, node):
        t = node.args[0].type
        if t == T.NUMBER:
            v = self.tmp()
            generic = f"(None if ({v} := {self.e(node.args[0])}) is None else _numtext({v}))"
            arg = node.args[0]
            if arg.kind == "path" and len(arg.extra["keys"]) == 1 and not arg.extra.get("relationship_id") \
                    and not arg.extra["keys"][0].startswith("$"):
                # an integer field's value: str() is its exact text (no Decimal on the way)
                raw = self.tmp()
                key = self.const(arg.extra["keys"][0])
                return f"(str({raw}) if ({raw} := rec.get({key})).__class__ is int else {generic})"
            return generic
        if t == T.TEXT:
            return self.e(node.args[0])
        return f"_text({self.e(node.args[0])}, {self.const(t)})"

    def sp_today(self, node):
        self.uses_env = True
        return "env.today"

    def sp_now(self, node):
        self.uses_env = True
        return "env.now"


def _builtin_impls():
    from .functions import functions
    return {name: functions.get(name).impl for name in ("UPPER", "LOWER", "TRIM", "LEN", "LEFT", "RIGHT",
                                                          "ROUND", "TRUNC", "ABS")}


_BUILTIN_IMPLS = {}


def generate(tree, bz):
    """Return ``(fn(rec, env), needs_env)`` or None when the tree is too deep to generate."""
    if not _BUILTIN_IMPLS:
        _BUILTIN_IMPLS.update(_builtin_impls())
    try:
        return Codegen(bz).build(tree)
    except (RecursionError, SyntaxError, MemoryError):
        return None


@lru_cache(maxsize=4096)
def _compiled(src):
    return compile(src, "<formula>", "exec")
