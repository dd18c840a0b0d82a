"""Compile a typed formula tree to a SQLAlchemy Core expression (SQLite and PostgreSQL).

The SQL must select exactly the rows for which the Python evaluation is TRUE:
- boolean expressions are made two-valued (``COALESCE(x, FALSE)``) wherever a boolean is
  needed, so that NOT and nesting keep the spec's "blank counts as FALSE";
- text treats '' as blank (``NULLIF(x, '')``) in equality and ordering, and orders by code
  point (PostgreSQL ``COLLATE "C"``);
- sub-trees that read no record field (literals, ``$user``, ``TODAY()``, ``DATE(2024, 1, 1)``)
  are evaluated once in Python and bound as parameters;
- division by zero gives NULL (Python raises; both exclude the row from a filter).
On SQLite dates are 'YYYY-MM-DD' text and date/times are handled as Julian day numbers.
"""
from __future__ import annotations

import datetime as _dt
import operator

from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy import (Boolean, Date, DateTime, Float, Integer, Numeric, String, and_, case, cast, false,
                        func, literal, not_, null, or_, true)

from . import types as T
from .errors import FormulaError, FormulaSQLUnsupported
from .pycompile import Env, compile_node

NO_SQL = {"ISNEW", "ISCHANGED", "PRIORVALUE"}
UTC = _dt.timezone.utc


def compile_sql(compiled, resolve, dialect, context):
    return _SQL(compiled, resolve, dialect, context).top()


def sql_supported(compiled, dialect="postgresql"):
    from sqlalchemy import column
    try:
        compile_sql(compiled, lambda path: column("_".join(path)), dialect, {})
        return True
    except FormulaSQLUnsupported:
        return False


class _SQL:
    """Also the helper object (``S``) handed to functions' SQL implementations."""

    def __init__(self, compiled, resolve, dialect, context):
        self.compiled = compiled
        self.resolve = resolve
        self.dialect = "postgresql" if str(dialect).startswith("postgres") else "sqlite"
        self.pg = self.dialect == "postgresql"
        self.bz = compiled.blank_as_zero
        now = context.get("now") or _dt.datetime.now(UTC)
        self.env = Env({}, None, True, context.get("user") or {}, now if now.tzinfo else now.replace(tzinfo=UTC))

    def top(self):
        expr = self.c(self.compiled.tree)
        if self.compiled.return_type == T.BOOLEAN:
            expr = self.as_bool(expr)
        return expr

    # -- constants -------------------------------------------------------------------
    def _is_constant(self, node):
        if node.kind == "path":
            return node.value[0] == "$user"
        if node.kind == "call" and node.value in NO_SQL:
            return False
        return all(self._is_constant(a) for a in node.args)

    def bind(self, value, t):
        if value is None:   # a typed NULL parameter: every operator accepts it
            sqltype = {T.NUMBER: Numeric(38, 10) if self.pg else Float(), T.TEXT: String(), T.DATE: Date(),
                       T.BOOLEAN: Boolean(), T.MULTI: String()}.get(t, String())
            if t == T.DATETIME:
                sqltype = DateTime(timezone=True) if self.pg else Float()
            return literal(None, sqltype)
        if t == T.BOOLEAN:
            return true() if value else false()
        if t == T.NUMBER:
            return literal(value, Numeric(38, 10) if self.pg else Float())
        if t == T.TEXT:
            return literal(value, String())
        if t == T.DATE:
            return literal(value, Date())
        if t == T.DATETIME:
            if self.pg:
                return literal(value, DateTime(timezone=True))
            return func.julianday(literal(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), String()))
        if t == T.MULTI:
            return literal(";".join(value) if value else None, String())
        return literal(value)

    # -- dispatch ----------------------------------------------------------------------
    def c(self, node):
        if node.kind not in ("number", "string", "bool", "null") and self._is_constant(node):
            try:
                value = compile_node(node, self.bz)(self.env)
            except FormulaError:
                value = _FAILED
            if value is not _FAILED:
                return self.bind(value, node.type)
        return getattr(self, "k_" + node.kind)(node)

    def k_number(self, node):
        return self.bind(node.value, T.NUMBER)

    def k_string(self, node):
        return self.bind(node.value, T.TEXT)

    def k_bool(self, node):
        return true() if node.value else false()

    def k_null(self, node):
        return null()

    def k_path(self, node):
        col = self.resolve(tuple(node.value))
        t = node.type
        if node.extra.get("relationship_id"):
            return col
        if t == T.NUMBER and self.bz:
            return func.coalesce(col, 0)
        if t == T.BOOLEAN:
            return func.coalesce(col, false())
        if t == T.DATETIME and not self.pg:
            return func.julianday(col)
        return col

    # -- helpers used by operators and functions ---------------------------------------
    def sqltype(self, t):
        return {T.NUMBER: Numeric(38, 10) if self.pg else Float(), T.TEXT: String(), T.DATE: Date(),
                T.BOOLEAN: Boolean(), T.MULTI: String(),
                T.DATETIME: DateTime(timezone=True) if self.pg else Float()}.get(t, String())

    def typed(self, expr, t):
        """Give an untyped NULL (e.g. IF(c, NULL, NULL)) the SQL type its context needs."""
        if self.pg and t is not None and isinstance(expr.type, NullType):
            return cast(expr, self.sqltype(t))
        return expr  # SQLite is dynamically typed: a CAST there would change values

    def as_bool(self, expr):
        return func.coalesce(self.typed(expr, T.BOOLEAN), false())

    def num(self, expr):
        return expr

    def floor(self, x):
        if self.pg:
            return func.floor(x)
        # SQLAlchemy's pysqlite dialect overrides floor() with a Python function that fails on NULL
        i = cast(x, Integer)
        return i - case((x < i, 1), else_=0)

    def ceil(self, x):
        if self.pg:
            return func.ceil(x)
        i = cast(x, Integer)
        return i + case((x > i, 1), else_=0)

    def div(self, a, b):
        b = func.nullif(b, 0)
        if not self.pg:
            return cast(a, Float) / b
        return a / b

    def blank_text(self, expr):
        return func.nullif(expr, "")

    def eq(self, a, b, t):
        if t == T.TEXT:
            a, b = self.blank_text(a), self.blank_text(b)
        return a.is_not_distinct_from(b)

    def text_arg(self, expr):
        return func.coalesce(expr, "")

    def round_half_away(self, x, d):
        di = cast(func.trunc(d) if self.pg else d, Integer)
        if self.pg:
            return func.round(cast(x, Numeric), di)
        scale = func.power(10, -di)
        return case((di >= 0, func.round(x, di)), else_=func.round(x / scale) * scale)

    def extreme(self, fn, xs):
        if len(xs) == 1:
            return xs[0]
        if self.pg:
            return (func.greatest if fn is max else func.least)(*xs)
        filled = [func.coalesce(x, *[y for j, y in enumerate(xs) if j != i]) for i, x in enumerate(xs)]
        return (func.max if fn is max else func.min)(*filled)

    def _count(self, n):
        n = cast(func.trunc(n), Integer) if self.pg else cast(n, Integer)
        return func.greatest(n, 0) if self.pg else func.max(n, 0)

    def left(self, t, n):
        return func.substr(self.text_arg(t), 1, self._count(n))

    def right(self, t, n):
        cnt = self._count(n)
        t = self.text_arg(t)
        if self.pg:
            return func.right(t, cnt)
        return case((cnt == 0, ""), else_=func.substr(t, -cnt))

    def mid(self, t, s, n):
        start = cast(func.trunc(s), Integer) if self.pg else cast(s, Integer)
        start = func.greatest(start, 1) if self.pg else func.max(start, 1)
        return func.substr(self.text_arg(t), start, self._count(n))

    def _instr(self, hay, needle):
        return func.strpos(hay, needle) if self.pg else func.instr(hay, needle)

    def contains(self, t, p):
        return self._instr(self.text_arg(t), self.text_arg(p)) > 0

    def begins(self, t, p):
        p = self.text_arg(p)
        return func.substr(self.text_arg(t), 1, func.length(p)) == p

    def substitute(self, t, old, new):
        return func.replace(self.text_arg(t), self.text_arg(old), self.text_arg(new))

    def includes(self, m, v):
        wrapped = literal(";").concat(m).concat(";")
        return and_(func.coalesce(v, "") != "", self._instr(wrapped, literal(";").concat(v).concat(";")) > 0)

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

    def datevalue(self, x):
        return cast(func.timezone("UTC", x), Date) if self.pg else func.date(x)

    def make_date(self, y, m, d):
        raise FormulaSQLUnsupported("DATE() with fields has no SQL form; use it with numbers only.",
                                    code="formula.E200")

    # -- operators ------------------------------------------------------------------------
    def k_unary(self, node):
        x = self.c(node.args[0])
        if node.value == "!":
            return not_(self.as_bool(x))
        return -x if node.value == "-" else x

    def k_binop(self, node):
        op = node.value
        a, b = node.args
        if op in ("||", "&&"):
            xa, xb = self.as_bool(self.c(a)), self.as_bool(self.c(b))
            return or_(xa, xb) if op == "||" else and_(xa, xb)
        xa, xb = self.c(a), self.c(b)
        ot = node.extra.get("operand_type")
        if op in ("+", "-", "*", "/", "^"):
            xa = self.typed(xa, a.type or (T.NUMBER if node.type in (T.NUMBER, None) else node.type))
            xb = self.typed(xb, b.type or T.NUMBER)
        elif op == "&":
            xa, xb = self.typed(xa, T.TEXT), self.typed(xb, T.TEXT)
        elif ot is not None:
            xa, xb = self.typed(xa, ot), self.typed(xb, ot)
        if op in ("=", "!="):
            e = self.eq(xa, xb, ot)
            return e if op == "=" else not_(e)
        if op in ("<", "<=", ">", ">="):
            if a.type is None or b.type is None:
                return false()          # ordering with a blank is FALSE
            if ot == T.TEXT:
                xa, xb = self.blank_text(xa), self.blank_text(xb)
                if self.pg:
                    xa, xb = xa.collate("C"), xb.collate("C")
            return self.as_bool(_ORDER[op](xa, xb))
        if op == "&":
            return self.text_arg(xa).concat(self.text_arg(xb))
        if op in ("+", "-"):
            return self.additive(node, op, xa, xb, a.type, b.type)
        if op == "*":
            return xa * xb
        if op == "/":
            return self.div(xa, xb)
        return func.power(xa, xb)

    def additive(self, node, op, xa, xb, ta, tb):
        if node.type == T.DATE:
            d, n = (xb, xa) if ta == T.NUMBER else (xa, xb)
            days = cast(func.trunc(n) if self.pg else n, Integer)
            if op == "-":
                days = -days
            if self.pg:
                return d + days
            return func.date(d, cast(days, String).concat(" days"))
        if node.type == T.DATETIME:
            d, n = (xb, xa) if ta == T.NUMBER else (xa, xb)
            if op == "-":
                n = -n
            if self.pg:
                return d + func.make_interval(0, 0, 0, 0, 0, 0, cast(n, Float) * 86400)
            return d + n
        if op == "-" and ta == tb == T.DATE:
            return (xa - xb) if self.pg else func.julianday(xa) - func.julianday(xb)
        if op == "-" and ta == tb == T.DATETIME:
            return (func.extract("epoch", xa - xb) / 86400) if self.pg else xa - xb
        return xa + xb if op == "+" else xa - xb

    # -- calls ------------------------------------------------------------------------------
    def k_call(self, node):
        fdef = node.extra["fdef"]
        name = node.value
        if fdef.special:
            handler = getattr(self, "sp_" + fdef.special.lower(), None)
            if handler is None:
                raise FormulaSQLUnsupported(f"{name}() cannot be used in a SQL filter or sort.",
                                            code="formula.E201")
            return handler(node)
        if fdef.sql is None:
            raise FormulaSQLUnsupported(f"{name}() has no SQL form, so it cannot be used in a filter or a "
                                        "sort (it works in formula fields).", code="formula.E201")
        args = [self.c(a) for a in node.args]
        return fdef.sql(self, *args)

    def sp_if(self, node):
        c, a, b = (self.c(x) for x in node.args)
        return case((self.as_bool(c), self.typed(a, node.type)), else_=self.typed(b, node.type))

    def sp_case(self, node):
        x = self.c(node.args[0])
        t = node.args[0].type
        whens = []
        blank = func.coalesce(self.blank_text(x) if t == T.TEXT else x, None)
        for i in range(1, len(node.args) - 1, 2):
            whens.append((and_(blank.is_not(None), self.eq(x, self.c(node.args[i]), t)),
                          self.typed(self.c(node.args[i + 1]), node.type)))
        return case(*whens, else_=self.typed(self.c(node.args[-1]), node.type))

    def sp_and(self, node):
        return and_(*[self.as_bool(self.c(a)) for a in node.args])

    def sp_or(self, node):
        return or_(*[self.as_bool(self.c(a)) for a in node.args])

    def sp_not(self, node):
        return not_(self.as_bool(self.c(node.args[0])))

    def sp_isblank(self, node):
        x = self.c(node.args[0])
        if node.args[0].type in (T.TEXT, T.MULTI):
            return func.coalesce(x, "") == ""
        return x.is_(None)

    sp_isnull = sp_isblank

    def sp_blankvalue(self, node):
        x, d = self.typed(self.c(node.args[0]), node.type), self.typed(self.c(node.args[1]), node.type)
        if node.type in (T.TEXT, T.MULTI):
            return func.coalesce(self.blank_text(x), d)
        return func.coalesce(x, d)

    sp_nullvalue = sp_blankvalue

    def sp_text(self, node):
        t = node.args[0].type
        x = self.c(node.args[0])
        if t in (T.TEXT, None):
            return x
        if t == T.DATE:
            return func.to_char(x, "YYYY-MM-DD") if self.pg else x
        if t == T.MULTI:
            return x
        raise FormulaSQLUnsupported(f"TEXT() of {T.describe(t)} has no SQL form.", code="formula.E201")

    def sp_today(self, node):
        return self.bind(self.env.now.astimezone(UTC).date(), T.DATE)

    def sp_now(self, node):
        return self.bind(self.env.now, T.DATETIME)


_FAILED = object()
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

__all__ = ["compile_sql", "sql_supported"]
