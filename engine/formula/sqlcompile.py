"""Compile a typed formula tree to a SQLAlchemy Core expression (SQLite and PostgreSQL).

The SQL must select exactly the rows for which the Python evaluation is TRUE, and it must never
fail at run time, whatever the data (issue 8; the guards live in ``sqlhelpers``):
- boolean expressions are made two-valued (``COALESCE(x, FALSE)``) wherever a boolean is
  needed, so that NOT and nesting keep the spec's "blank counts as FALSE";
- text treats '' as blank (``NULLIF(x, '')``) in equality and ordering, and orders by code
  point (PostgreSQL ``COLLATE "C"``);
- a stored field compared with a constant that is not blank is a plain ``col = :v AND col IS NOT
  NULL`` (``_plain_comparison``), which an index on the field can serve;
- sub-trees that read no record field (literals, ``$user``, ``TODAY()``, ``DATE(2024, 1, 1)``)
  are evaluated once in Python and bound as parameters; one that fails there is bound as NULL;
- where Python raises (division by zero, a bad date text, an overflow...), SQL gives NULL, so
  such a row does not match a filter. Where Python succeeds, SQL agrees with it.
Chains of IFs become one flat CASE, ``a & b & c`` one concatenation, ``CASE(x, ...)`` a simple
CASE that reads x once: SQLite's parser takes only about twenty nested levels (``sqlcheck``).
On SQLite dates are 'YYYY-MM-DD' text and date/times are handled as Julian day numbers.
"""
from __future__ import annotations

import datetime as _dt
import operator

from sqlalchemy import (Boolean, Date, DateTime, Float, Numeric, String, and_, case, cast, false, func, literal,
                        not_, null, or_, true)
from sqlalchemy.sql.elements import BindParameter, Case, ColumnClause, Null
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.sqltypes import Integer, NullType

from . import types as T
from .errors import FormulaError, FormulaSQLUnsupported
from .pycompile import Env, compile_node
from .sqlcheck import check_sql
from .sqlhelpers import NUM_HI, UNKNOWN, SqlHelpers

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


class _SQL(SqlHelpers):
    """Also the helper object (``S``) handed to functions' SQL implementations."""

    def __init__(self, compiled, resolve, dialect, context):
        self.compiled = compiled
        self.resolve = resolve
        self.dialect = "postgresql" if str(dialect).startswith("postgres") else "sqlite"
        self.pg = self.dialect == "postgresql"
        self.bz = compiled.blank_as_zero
        self.arg_types = ()     # formula types of the arguments of the call being compiled
        self._init_bounds()
        self._two_valued = {}   # id(expr) -> expr: boolean expressions that are never NULL
        now = context.get("now") or _dt.datetime.now(UTC)
        self.env = Env({}, None, True, context.get("user") or {}, now if now.tzinfo else now.replace(tzinfo=UTC))

    def top(self):
        expr = self.c(self.compiled.tree)
        if self.compiled.return_type == T.BOOLEAN:
            expr = self.as_bool(expr)
        elif self.compiled.return_type == T.NUMBER and self.num_bound(expr)[0] > NUM_HI:
            expr = self.bounded(expr)   # another formula reading this one may multiply it
        check_sql(expr, self.dialect)
        return expr

    # -- constants -------------------------------------------------------------------
    def _is_constant(self, node):
        if node.kind == "path":
            return node.value[0] == "$user"
        if node.kind == "call" and (node.value in NO_SQL or getattr(node.extra.get("fdef"), "reads_record", False)):
            return False
        return all(self._is_constant(a) for a in node.args)

    def bind(self, value, t):
        if value is None:   # a typed NULL (PostgreSQL cannot tell the type of a NULL parameter)
            if t is None:
                return null()
            return cast(null(), self.sqltype(t)) if self.pg else literal(None, self.sqltype(t))
        if t == T.BOOLEAN:
            return true() if value else false()
        if t == T.NUMBER:
            return self.bind_number(value)
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
            except (FormulaError, ArithmeticError, ValueError, TypeError, RecursionError):
                value = None    # Python fails on it: blank in SQL, as for any run-time error
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
        if t == T.NUMBER:
            num = self.num(col)
            return self.note(func.coalesce(num, 0), *self.num_bound(col)) if self.bz else num
        if t == T.BOOLEAN:
            return func.coalesce(col, false())
        if t == T.DATETIME and not self.pg:
            return func.julianday(col)
        return col

    # -- helpers used by operators and functions ---------------------------------------
    def sqltype(self, t):
        return {T.NUMBER: Numeric() if self.pg else Float(), T.TEXT: String(), T.DATE: Date(),
                T.BOOLEAN: Boolean(), T.MULTI: String(),
                T.DATETIME: DateTime(timezone=True) if self.pg else Float()}.get(t, String())

    def typed(self, expr, t):
        """Give an untyped NULL (e.g. IF(c, NULL, NULL)) the SQL type its context needs."""
        if self.pg and t is not None and _untyped_null(expr):
            return cast(expr, self.sqltype(t))
        return expr  # SQLite is dynamically typed: a CAST there would change values

    def as_bool(self, expr):
        if id(expr) in self._two_valued:   # never NULL already: keep it plain for the planner
            return expr
        return func.coalesce(self.typed(expr, T.BOOLEAN), false())

    def two_valued(self, expr):
        """Note that ``expr`` is TRUE or FALSE, never NULL (``as_bool`` leaves it as it is)."""
        self._two_valued[id(expr)] = expr
        return expr

    # -- operators ------------------------------------------------------------------------
    def k_unary(self, node):
        x = self.c(node.args[0])
        if node.value == "!":
            return self.two_valued(not_(self.as_bool(x)))
        x = self.typed(x, T.NUMBER)
        return self.note(-x, *self.num_bound(x)) if node.value == "-" else x

    def k_binop(self, node):
        op = node.value
        a, b = node.args
        if op in ("||", "&&"):
            xa, xb = self.as_bool(self.c(a)), self.as_bool(self.c(b))
            return self.two_valued(or_(xa, xb) if op == "||" else and_(xa, xb))
        if op == "&":
            parts = []
            self._concat_parts(node, parts)
            return self.concat(parts)
        plain = self._plain_comparison(node)
        if plain is not None:
            return plain
        xa, xb = self.c(a), self.c(b)
        ot = node.extra.get("operand_type")
        if op in ("+", "-", "*", "/", "^"):
            dated = {a.type, b.type} & {T.DATE, T.DATETIME}
            if dated and None in (a.type, b.type) and node.type not in dated:
                return self.bind(None, node.type)     # NULL - date: blank
            # a NULL operand is the number of days when the other side is the date
            xa = self.typed(xa, a.type or T.NUMBER)
            xb = self.typed(xb, b.type or T.NUMBER)
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
        if op in ("+", "-"):
            return self.additive(node, op, xa, xb, a.type, b.type)
        if op == "*":
            return self.mul(xa, xb)
        if op == "/":
            return self.div(xa, xb)
        return self.power(xa, xb)

    def _plain_comparison(self, node):
        """``field <op> constant`` as ``col <op> :v AND col IS NOT NULL``, or None.

        The general forms wrap the column (``NULLIF(stage, '') IS NOT DISTINCT FROM 'X'``,
        ``COALESCE(amount > 5, FALSE)``, a cast of an integer to NUMERIC), which keeps an index on
        the column from serving the filter. With a stored column on one side and a constant that
        is not blank on the other, the plain comparison selects the same rows: a blank column
        (NULL, or '' for text, which equals no text that is not blank) matches nothing, as in
        Python; and ``AND col IS NOT NULL`` keeps it TRUE or FALSE under NOT. Text is compared
        this way for ``=`` only: ordering puts '' (blank) before every text, and PostgreSQL
        orders text by code point only through ``COLLATE "C"``.
        """
        op = node.value
        if op not in _PLAIN or self.bz:
            return None
        a, b = node.args
        if a.kind != "path" and b.kind == "path":
            a, b, op = b, a, _FLIP[op]
        t = node.extra.get("operand_type")
        if a.kind != "path" or len(a.value) != 1 or a.value[0] == "$user" or not self._is_constant(b) \
                or not (a.type == b.type == t) or (t == T.TEXT and op != "=") \
                or t not in (T.TEXT, T.NUMBER, T.DATE, T.DATETIME) or (t == T.DATETIME and not self.pg):
            return None
        col = self.resolve(tuple(a.value))
        if not isinstance(col, ColumnClause):
            return None     # a formula field or a related field: an expression, not a column
        try:
            value = compile_node(b, self.bz)(self.env)
        except (FormulaError, ArithmeticError, ValueError, TypeError, RecursionError):
            return None
        if value is None or value == "":
            return None
        if t == T.NUMBER and isinstance(col.type, Integer):
            if not value.is_finite() or value != value.to_integral_value() or not -2 ** 63 <= value < 2 ** 63:
                return None
            bound = literal(int(value), col.type)   # bigint against bigint: no cast of the column
        else:
            bound = self.bind(value, t)
        return self.two_valued(and_(_ORDER_ALL[op](col, bound), col.is_not(None)))

    def _concat_parts(self, node, out):
        """The operands of a whole chain ``a & b & (c & d)``, joined at once (one length check)."""
        if node.kind == "binop" and node.value == "&" and not self._is_constant(node):
            for arg in node.args:
                self._concat_parts(arg, out)
        else:
            out.append(self.typed(self.c(node), T.TEXT))

    def additive(self, node, op, xa, xb, ta, tb):
        sign = 1 if op == "+" else -1
        if node.type in (T.DATE, T.DATETIME):
            d, n = (xb, xa) if tb == node.type else (xa, xb)   # n + date, NULL + date
            return (self.date_add if node.type == T.DATE else self.datetime_add)(d, n, sign)
        if op == "-" and ta == tb == T.DATE:
            return self.date_diff(xa, xb)
        if op == "-" and ta == tb == T.DATETIME:
            return self.datetime_diff(xa, xb)
        return self.add(xa, xb, op)

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
        args = [self.typed(self.c(a), _param_type(fdef, i, a)) for i, a in enumerate(node.args)]
        self.arg_types = tuple(a.type for a in node.args)
        out = fdef.sql(self, *args)
        if node.type == T.NUMBER:
            out = self.num(out)
        if node.type == T.NUMBER and id(out) not in self._num_bound:
            if not fdef.builtin:
                return self.note(out, *UNKNOWN)
            bounds = [self.num_bound(x) for x, a in zip(args, node.args) if a.type == T.NUMBER]
            self.note(out, max([b[0] for b in bounds] + [20]) + 1, max([b[1] for b in bounds] + [0]))
        return out

    def sp_if(self, node):
        """Nested IFs as one flat CASE: SQLite's parser takes only about twenty nested CASEs.

        IF(c1, IF(c2, a, b), IF(c3, d, e)) is CASE WHEN c1 AND c2 THEN a WHEN c1 THEN b WHEN c3 THEN d
        ELSE e END: a branch is reached only when the WHENs before it were not TRUE, as in Python."""
        whens = []
        self._if_branches(node, [], whens, node.type)
        *firsts, (_conds, last) = whens
        return case(*[(and_(*conds), result) for conds, result in firsts], else_=last) if firsts else last

    def _if_branches(self, node, conds, out, t):
        if node.kind == "call" and node.value == "IF" and node.extra.get("fdef") is not None \
                and node.extra["fdef"].special == "IF" and not self._is_constant(node):
            c, a, b = node.args
            self._if_branches(a, conds + [self.as_bool(self.c(c))], out, t)
            self._if_branches(b, conds, out, t)
        else:
            out.append((conds, self.typed(self.c(node), t)))

    def sp_case(self, node):
        """A simple CASE: the subject is read once; a blank subject matches nothing (NULL = v)."""
        t = node.args[0].type
        if t is None:       # CASE(NULL, ...): a blank subject matches nothing
            return self.typed(self.c(node.args[-1]), node.type)
        x = self.c(node.args[0])
        subject = self.blank_text(x) if t == T.TEXT else x
        whens = [(self.typed(self.c(node.args[i]), t), self.typed(self.c(node.args[i + 1]), node.type))
                 for i in range(1, len(node.args) - 1, 2)]
        return case(*whens, value=subject, else_=self.typed(self.c(node.args[-1]), node.type))

    # AND, OR and NOT of two-valued operands are two-valued: no COALESCE around them
    def sp_and(self, node):
        return self.two_valued(and_(*[self.as_bool(self.c(a)) for a in node.args]))

    def sp_or(self, node):
        return self.two_valued(or_(*[self.as_bool(self.c(a)) for a in node.args]))

    def sp_not(self, node):
        return self.two_valued(not_(self.as_bool(self.c(node.args[0]))))

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
        out = func.coalesce(x, d)
        if node.type == T.NUMBER:
            (hx, lx), (hd, ld) = self.num_bound(x), self.num_bound(d)
            self.note(out, max(hx, hd), max(lx, ld))
        return out

    sp_nullvalue = sp_blankvalue

    def sp_text(self, node):
        t = node.args[0].type
        x = self.c(node.args[0])
        if t in (T.TEXT, None):
            return x
        if t == T.DATE:
            return self.note_text(func.to_char(x, "YYYY-MM-DD"), 10) if self.pg else x
        if t == T.MULTI:
            return x
        raise FormulaSQLUnsupported(f"TEXT() of {T.describe(t)} has no SQL form.", code="formula.E201")

    def sp_today(self, node):
        return self.bind(self.env.now.astimezone(UTC).date(), T.DATE)

    def sp_now(self, node):
        return self.bind(self.env.now, T.DATETIME)


def _untyped_null(expr):
    """NULL whose type PostgreSQL cannot infer (a function's result it types itself)."""
    if isinstance(expr, Null):
        return True
    if isinstance(expr, BindParameter):
        return expr.value is None and isinstance(expr.type, NullType)
    if isinstance(expr, Case):
        return all(_untyped_null(r) for _c, r in expr.whens) and (expr.else_ is None or _untyped_null(expr.else_))
    if isinstance(expr, FunctionElement) and expr.name in ("coalesce", "nullif"):
        return all(_untyped_null(a) for a in expr.clauses.clauses)
    return False


def _param_type(fdef, i, arg):
    """The type a NULL argument is given (PostgreSQL cannot choose a function for an untyped NULL)."""
    spec = fdef.params[min(i, len(fdef.params) - 1)] if fdef.params else None
    if arg.type is not None or spec is None:
        return arg.type
    spec = spec if isinstance(spec, str) else spec[0]     # (date, datetime): a NULL date will do
    return spec if spec in T.FORMULA_TYPES else None


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ORDER_ALL = dict(_ORDER, **{"=": operator.eq})
_PLAIN = frozenset(_ORDER_ALL)
_FLIP = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

__all__ = ["compile_sql", "sql_supported"]
