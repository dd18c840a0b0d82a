"""The type checker: resolves names, checks operand and argument types, and annotates
every node with its formula type (``None`` for the NULL literal)."""
from __future__ import annotations

import difflib

from . import types as T
from .errors import FormulaTypeError, located
from .functions import ANY, functions

MAX_HOPS = 5
ORDERED = (T.NUMBER, T.TEXT, T.DATE, T.DATETIME)


def _lower_map(fields):
    return {str(k).lower(): (k, v) for k, v in (fields or {}).items()}


class Checker:
    def __init__(self, source, fields, blank_as_zero=False):
        self.source = source
        self.root = _lower_map(fields)
        self.blank_as_zero = blank_as_zero
        self.references = set()
        self.uses_prior = False

    # -- errors ----------------------------------------------------------------
    def fail(self, node_or_pos, message, code="formula.E100", hint=None):
        pos = node_or_pos if isinstance(node_or_pos, int) else node_or_pos.pos
        raise located(FormulaTypeError, message, self.source, pos, code=code, hint=hint)

    # -- dispatch ----------------------------------------------------------------
    def check(self, node):
        kind = node.kind
        if kind == "number":
            node.type = T.NUMBER
        elif kind == "string":
            node.type = T.TEXT
        elif kind == "bool":
            node.type = T.BOOLEAN
        elif kind == "null":
            node.type = None
        elif kind == "path":
            self.path(node)
        elif kind == "unary":
            self.unary(node)
        elif kind == "binop":
            self.binop(node)
        elif kind == "call":
            self.call(node)
        return node.type

    # -- names ---------------------------------------------------------------------
    def path(self, node):
        names = node.value
        positions = node.extra["positions"]
        if len(names) - 1 > MAX_HOPS:
            self.fail(node, f"'{node.extra['spelled']}' crosses more than {MAX_HOPS} relationships",
                      code="formula.E101")
        current, keys = self.root, []
        for i, name in enumerate(names):
            entry = current.get(name)
            if entry is None:
                candidates = [k for k in current if not k.startswith("$")] + \
                    [k for k in current if k.startswith("$") and name.startswith("$")]
                close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
                where = "" if i == 0 else f" on '{'.'.join(names[:i])}'"
                hint = f"Did you mean '{'.'.join(list(names[:i]) + [close[0]])}'?" if close else None
                self.fail(positions[i], f"Unknown field '{name}'{where}", code="formula.E102", hint=hint)
            actual, ftype = entry
            keys.append(actual)
            last = i == len(names) - 1
            if isinstance(ftype, dict):
                if last:
                    node.type = T.TEXT
                    node.extra["relationship_id"] = True
                else:
                    current = _lower_map(ftype)
            else:
                if not last:
                    self.fail(positions[i + 1], f"'{'.'.join(names[:i + 1])}' is not a relationship, so it has "
                              f"no field '{names[i + 1]}'", code="formula.E103")
                t = T.to_formula_type(ftype)
                if t is None:
                    self.fail(positions[i], f"Field '{name}' has an unknown type '{ftype}'", code="formula.E104")
                node.type = t
        node.extra["keys"] = keys
        self.references.add(".".join(names))

    # -- operators -------------------------------------------------------------------
    def unary(self, node):
        t = self.check(node.args[0])
        if node.value == "!":
            self.need(node.args[0], t, (T.BOOLEAN,), "'!'")
            node.type = T.BOOLEAN
        else:
            self.need(node.args[0], t, (T.NUMBER,), f"unary '{node.value}'")
            node.type = T.NUMBER

    def need(self, node, t, allowed, what):
        if t is not None and t not in allowed:
            wanted = " or ".join(T.describe(a) for a in allowed)
            self.fail(node, f"{what} needs {wanted}, not {T.describe(t)}", code="formula.E110")

    def binop(self, node):
        op = node.value
        a, b = node.args
        ta, tb = self.check(a), self.check(b)
        if op in ("||", "&&"):
            self.need(a, ta, (T.BOOLEAN,), f"'{op}'")
            self.need(b, tb, (T.BOOLEAN,), f"'{op}'")
            node.type = T.BOOLEAN
        elif op in ("=", "!="):
            if T.MULTI in (ta, tb):
                self.fail(node, "A multi-select picklist cannot be compared; use INCLUDES()", code="formula.E111")
            if ta is not None and tb is not None and ta != tb:
                self.fail(node, f"Cannot compare {T.describe(ta)} with {T.describe(tb)} using '{op}'",
                          code="formula.E112", hint="Convert one side, e.g. with TEXT() or VALUE()")
            node.type = T.BOOLEAN
            node.extra["operand_type"] = ta or tb
        elif op in ("<", "<=", ">", ">="):
            for side, t in ((a, ta), (b, tb)):
                if t is not None and t not in ORDERED:
                    self.fail(side, f"'{op}' cannot order {T.describe(t)}", code="formula.E113")
            if ta is not None and tb is not None and ta != tb:
                self.fail(node, f"Cannot compare {T.describe(ta)} with {T.describe(tb)} using '{op}'",
                          code="formula.E112")
            node.type = T.BOOLEAN
            node.extra["operand_type"] = ta or tb
        elif op == "&":
            for side, t in ((a, ta), (b, tb)):
                if t is not None and t != T.TEXT:
                    self.fail(side, f"'&' joins text, not {T.describe(t)}", code="formula.E114",
                              hint="Use TEXT() to turn it into text")
            node.type = T.TEXT
        elif op in ("+", "-"):
            node.type = self.additive(node, op, ta, tb)
        else:
            self.need(a, ta, (T.NUMBER,), f"'{op}'")
            self.need(b, tb, (T.NUMBER,), f"'{op}'")
            node.type = T.NUMBER

    def additive(self, node, op, ta, tb):
        table = {
            ("+", T.NUMBER, T.NUMBER): T.NUMBER, ("+", T.DATE, T.NUMBER): T.DATE,
            ("+", T.NUMBER, T.DATE): T.DATE, ("+", T.DATETIME, T.NUMBER): T.DATETIME,
            ("+", T.NUMBER, T.DATETIME): T.DATETIME, ("-", T.NUMBER, T.NUMBER): T.NUMBER,
            ("-", T.DATE, T.NUMBER): T.DATE, ("-", T.DATE, T.DATE): T.NUMBER,
            ("-", T.DATETIME, T.NUMBER): T.DATETIME, ("-", T.DATETIME, T.DATETIME): T.NUMBER,
        }
        if ta is None and tb is None:
            return T.NUMBER
        if ta is None or tb is None:
            known = ta or tb
            if known not in (T.NUMBER, T.DATE, T.DATETIME):
                self.fail(node, f"'{op}' needs numbers or dates, not {T.describe(known)}", code="formula.E115")
            if op == "-" and ta is None:
                return T.NUMBER
            return known
        result = table.get((op, ta, tb))
        if result is None:
            self.fail(node, f"Cannot compute {T.describe(ta)} {op} {T.describe(tb)}", code="formula.E115",
                      hint="Use TEXT() and '&' to join text" if T.TEXT in (ta, tb) else None)
        return result

    # -- calls --------------------------------------------------------------------------
    def call(self, node):
        name = node.value
        if name not in functions:
            close = difflib.get_close_matches(name, functions.keys(), n=1, cutoff=0.6)
            self.fail(node, f"Unknown function '{node.extra['spelled']}'", code="formula.E120",
                      hint=f"Did you mean '{close[0]}'?" if close else None)
        fdef = functions.get(name)
        node.extra["fdef"] = fdef
        if fdef.special:
            getattr(self, f"sp_{fdef.special.lower()}")(node)
            return
        lo, hi = fdef.arity
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            self.arity_error(node, lo, hi)
        arg_types = []
        for i, arg in enumerate(node.args):
            t = self.check(arg)
            spec = fdef.params[min(i, len(fdef.params) - 1)]
            allowed = (spec,) if isinstance(spec, str) else tuple(spec)
            if t is not None and ANY not in allowed and t not in allowed:
                wanted = " or ".join(T.describe(a) for a in allowed)
                self.fail(arg, f"Argument {i + 1} of {name} must be {wanted}, not {T.describe(t)}",
                          code="formula.E122")
            if t == T.MULTI and T.MULTI not in allowed:
                self.fail(arg, f"{name} cannot take a multi-select picklist", code="formula.E122")
            arg_types.append(t)
        if fdef.check is not None:
            problem = fdef.check(node.args)
            if problem is not None:
                index, message, hint = problem
                self.fail(node.args[index], message, code="formula.E127", hint=hint)
        ret = fdef.returns
        if callable(ret):
            ret = ret(arg_types)
        elif isinstance(ret, tuple) and ret[0] == "arg":
            ret = arg_types[ret[1]] or T.DATE
        node.type = ret

    def arity_error(self, node, lo, hi):
        name, n = node.value, len(node.args)
        if hi is None:
            want = f"at least {lo} argument{'s' if lo != 1 else ''}"
        elif lo == hi:
            want = f"{lo} argument{'s' if lo != 1 else ''}"
        else:
            want = f"{lo} to {hi} arguments"
        self.fail(node, f"{name} takes {want} (got {n})", code="formula.E121")

    def common(self, node, nodes, what):
        types = [n.type for n in nodes]
        known = {t for t in types if t is not None}
        if len(known) > 1:
            names = " and ".join(sorted(T.describe(t) for t in known))
            self.fail(node, f"{what} must all have the same type (got {names})", code="formula.E123")
        return known.pop() if known else None

    def args_checked(self, node, lo, hi):
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            self.arity_error(node, lo, hi)
        return [self.check(a) for a in node.args]

    # -- special forms ------------------------------------------------------------------
    def sp_if(self, node):
        tc, _a, _b = self.args_checked(node, 3, 3)
        self.need(node.args[0], tc, (T.BOOLEAN,), "IF's condition")
        node.type = self.common(node, node.args[1:], "IF's results")

    def sp_case(self, node):
        n = len(node.args)
        if n < 4 or n % 2 == 1:
            self.fail(node, "CASE needs an expression, value/result pairs and an else result: "
                      "CASE(expr, value1, result1, ..., else)", code="formula.E124")
        types = [self.check(a) for a in node.args]
        if types[0] == T.MULTI:
            self.fail(node.args[0], "CASE cannot match a multi-select picklist", code="formula.E124")
        values = node.args[1:-1:2]
        for v in values:
            if v.type is not None and types[0] is not None and v.type != types[0]:
                self.fail(v, f"CASE compares {T.describe(types[0])} with {T.describe(v.type)}", code="formula.E125")
        results = list(node.args[2:-1:2]) + [node.args[-1]]
        node.type = self.common(node, results, "CASE's results")

    def sp_and(self, node):
        if not node.args:
            self.fail(node, f"{node.value} needs at least one argument", code="formula.E121")
        for a in node.args:
            self.need(a, self.check(a), (T.BOOLEAN,), node.value)
        node.type = T.BOOLEAN

    sp_or = sp_and

    def sp_not(self, node):
        t, = self.args_checked(node, 1, 1)
        self.need(node.args[0], t, (T.BOOLEAN,), "NOT")
        node.type = T.BOOLEAN

    def sp_isblank(self, node):
        self.args_checked(node, 1, 1)
        node.type = T.BOOLEAN

    sp_isnull = sp_isblank

    def sp_blankvalue(self, node):
        self.args_checked(node, 2, 2)
        node.type = self.common(node, node.args, f"{node.value}'s arguments")

    sp_nullvalue = sp_blankvalue

    def sp_isnew(self, node):
        self.args_checked(node, 0, 0)
        self.uses_prior = True
        node.type = T.BOOLEAN

    def _own_field(self, node):
        self.args_checked(node, 1, 1)
        arg = node.args[0]
        if arg.kind != "path" or len(arg.value) != 1 or arg.extra.get("relationship_id") \
                or arg.value[0].startswith("$"):
            self.fail(arg, f"{node.value} takes a field of this record, not an expression or a path",
                      code="formula.E126")
        self.uses_prior = True
        return arg.type

    def sp_ischanged(self, node):
        self._own_field(node)
        node.type = T.BOOLEAN

    def sp_priorvalue(self, node):
        node.type = self._own_field(node)

    def sp_text(self, node):
        self.args_checked(node, 1, 1)
        node.type = T.TEXT

    def sp_today(self, node):
        self.args_checked(node, 0, 0)
        node.type = T.DATE

    def sp_now(self, node):
        self.args_checked(node, 0, 0)
        node.type = T.DATETIME
