"""Compile a typed formula tree into nested Python closures, once per formula.

Each node becomes ``fn(env) -> value``; evaluation is a chain of direct calls, not a
tree walk. Blank rules, laziness (IF, CASE, AND, OR) and Decimal arithmetic follow
the spec; every run-time failure is a ``FormulaRuntimeError``.
"""
from __future__ import annotations

from decimal import Decimal

from . import runtime as R
from . import types as T

_ZERO = Decimal(0)


class Env:
    """What a compiled formula reads besides the record: prior values, ``$user``, ``NOW()`` and
    ``TODAY()`` (computed once here, not per evaluation)."""

    __slots__ = ("rec", "prior", "is_new", "user", "now", "today")

    def __init__(self, rec, prior, is_new, user, now):
        self.rec, self.prior, self.is_new, self.user, self.now = rec, prior, is_new, user, now
        self.today = now.astimezone(R.UTC).date()

    def with_record(self, rec):
        """The same context for ``rec`` (the closure compiler reads the record from the env)."""
        env = Env.__new__(Env)
        env.rec, env.prior, env.is_new, env.user, env.now, env.today = (
            rec, self.prior, self.is_new, self.user, self.now, self.today)
        return env


def compile_node(node, bz):
    return _Compiler(bz).c(node)


class _Compiler:
    def __init__(self, bz):
        self.bz = bz

    def c(self, node):
        return getattr(self, "k_" + node.kind)(node)

    # -- leaves ------------------------------------------------------------------
    def k_number(self, node):
        v = node.value
        return lambda env: v

    def k_string(self, node):
        v = node.value
        return lambda env: v

    def k_bool(self, node):
        v = node.value
        return lambda env: v

    def k_null(self, node):
        return lambda env: None

    def k_path(self, node, source="rec"):
        keys = node.extra["keys"]
        norm = R.NORMALISE[node.type] if node.type in R.NORMALISE else R.to_text
        rel_id = node.extra.get("relationship_id")
        zero = self.bz and node.type == T.NUMBER and not rel_id
        is_user = keys[0].lower() == "$user"
        if is_user:
            keys = keys[1:]
            source = "user"

        def read(env):
            cur = getattr(env, source)
            for k in keys:
                if not isinstance(cur, dict):
                    cur = None
                    break
                cur = cur.get(k)
            if rel_id:
                if isinstance(cur, dict):
                    cur = cur.get("id")
                return R.to_text(cur)
            v = norm(cur)
            if zero and v is None:
                return _ZERO
            return v
        return read

    # -- operators ------------------------------------------------------------------
    def k_unary(self, node):
        f = self.c(node.args[0])
        if node.value == "!":
            return lambda env: f(env) is not True
        if node.value == "+":
            return f

        def neg(env):
            v = f(env)
            return None if v is None else -v
        return neg

    def k_binop(self, node):
        op = node.value
        a, b = node.args
        fa, fb = self.c(a), self.c(b)
        if op == "||":
            return lambda env: fa(env) is True or fb(env) is True
        if op == "&&":
            return lambda env: fa(env) is True and fb(env) is True
        if op == "=":
            return lambda env: R.equal(fa(env), fb(env))
        if op == "!=":
            return lambda env: not R.equal(fa(env), fb(env))
        if op in ("<", "<=", ">", ">="):
            cmp = {"<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y,
                   ">=": lambda x, y: x >= y}[op]
            text = node.extra.get("operand_type") == T.TEXT

            def compare(env):
                x, y = fa(env), fb(env)
                if x is None or y is None or (text and (x == "" or y == "")):
                    return False
                return cmp(x, y)
            return compare
        if op == "&":
            return lambda env: R.concat(fa(env), fb(env))
        if op in ("+", "-"):
            return self.additive(node, op, fa, fb, a.type, b.type)
        run = R.number_op(op)
        return lambda env: run(fa(env), fb(env))

    def additive(self, node, op, fa, fb, ta, tb):
        sign = 1 if op == "+" else -1
        if node.type == T.DATE:
            if ta == T.NUMBER:
                return lambda env: R.date_plus(fb(env), fa(env))
            return lambda env: R.date_plus(fa(env), fb(env), sign)
        if node.type == T.DATETIME:
            if ta == T.NUMBER:
                return lambda env: R.datetime_plus(fb(env), fa(env))
            return lambda env: R.datetime_plus(fa(env), fb(env), sign)
        if op == "-" and ta == T.DATE and tb == T.DATE:
            return lambda env: R.date_diff(fa(env), fb(env))
        if op == "-" and ta == T.DATETIME and tb == T.DATETIME:
            return lambda env: R.datetime_diff(fa(env), fb(env))
        run = R.number_op(op)
        return lambda env: run(fa(env), fb(env))

    # -- calls ----------------------------------------------------------------------
    def k_call(self, node):
        fdef = node.extra["fdef"]
        if fdef.special:
            return getattr(self, "sp_" + fdef.special.lower())(node)
        run = self.call(node, fdef)
        if fdef.builtin or node.type != T.TEXT:
            return run
        return lambda env: R.bounded_text(fdef.name, run(env))

    def call(self, node, fdef):
        args = [self.c(a) for a in node.args]
        impl = fdef.impl
        if fdef.handles_blank:
            return lambda env: impl(*[f(env) for f in args])
        policies = []
        for i, a in enumerate(node.args):
            spec = fdef.params[min(i, len(fdef.params) - 1)]
            text_param = spec == T.TEXT and not fdef.blank_text_as_blank
            policies.append(text_param)

        def call(env):
            values = []
            for f, text_param in zip(args, policies):
                v = f(env)
                if v is None or (v == "" and not text_param and isinstance(v, str)):
                    if text_param:
                        v = ""
                    else:
                        return None
                values.append(v)
            return impl(*values)
        return call

    def sp_if(self, node):
        c, a, b = (self.c(x) for x in node.args)
        return lambda env: a(env) if c(env) is True else b(env)

    def sp_case(self, node):
        fx = self.c(node.args[0])
        pairs = [(self.c(node.args[i]), self.c(node.args[i + 1])) for i in range(1, len(node.args) - 1, 2)]
        other = self.c(node.args[-1])

        def run(env):
            x = fx(env)
            for fv, fr in pairs:
                if R.equal(x, fv(env)) and not R.is_blank(x):
                    return fr(env)
            return other(env)
        return run

    def sp_and(self, node):
        fs = [self.c(a) for a in node.args]
        return lambda env: all(f(env) is True for f in fs)

    def sp_or(self, node):
        fs = [self.c(a) for a in node.args]
        return lambda env: any(f(env) is True for f in fs)

    def sp_not(self, node):
        f = self.c(node.args[0])
        return lambda env: f(env) is not True

    def sp_isblank(self, node):
        f = self.c(node.args[0])
        return lambda env: R.is_blank(f(env))

    sp_isnull = sp_isblank

    def sp_blankvalue(self, node):
        f, d = self.c(node.args[0]), self.c(node.args[1])

        def run(env):
            v = f(env)
            return d(env) if R.is_blank(v) else v
        return run

    sp_nullvalue = sp_blankvalue

    def sp_isnew(self, node):
        return lambda env: env.is_new

    def sp_ischanged(self, node):
        cur = self.c(node.args[0])
        prior = self.k_path(node.args[0], source="prior")
        return lambda env: (not env.is_new) and not R.equal(cur(env), prior(env))

    def sp_priorvalue(self, node):
        prior = self.k_path(node.args[0], source="prior")
        zero = self.bz and node.type == T.NUMBER

        def run(env):
            if env.is_new:
                return _ZERO if zero else None
            return prior(env)
        return run

    def sp_text(self, node):
        f = self.c(node.args[0])
        t = node.args[0].type
        return lambda env: R.text_of(f(env), t)

    def sp_today(self, node):
        return lambda env: env.today

    def sp_now(self, node):
        return lambda env: env.now
