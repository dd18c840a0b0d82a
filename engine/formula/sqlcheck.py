"""Refuse, when a formula is compiled to SQL, SQL that the database or SQLAlchemy could not take.

The size counts shared sub-expressions once per use (as they are written out), so that SQL whose
text would grow exponentially is refused before it is rendered. The nesting bounds SQLAlchemy's
recursive compiler. SQLite's parser is tighter still (a stack of 100 entries: about twenty nested
CASEs) and its cost per construct varies, so the SQLite library itself is asked to read the
statement, with a margin for the query the formula is placed in.
"""
from __future__ import annotations

import sqlite3

from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import TableClause

from .errors import FormulaSQLUnsupported
from .limits import SQL_MAX_DEPTH, SQL_MAX_SIZE

_SQLITE_SURELY_FINE = 10   # nesting up to which SQLite's parser never overflows (a CASE level costs most)
# the formula is read where the records service may place it: in a WHERE, inside a correlated
# sub-query (a roll-up's filter), inside another sub-query (a count, an IN), with some room left
_SQLITE_CONTEXT = ("EXPLAIN SELECT 1 FROM (SELECT 1 AS id) AS o WHERE o.id IN (SELECT 1 WHERE 1 = 1 AND "
                   "(SELECT count(*) FROM (SELECT 1) WHERE 1 = 1 AND abs(abs({}))) > 0)")
_SQLITE_LIMITS = ("stack overflow", "too large", "too many", "too deep")
_WORKS_ELSEWHERE = "it still works in formula fields"


def measure(expr):
    """(size with shared parts counted once per use, nesting depth, shape) of a SQLAlchemy expression;
    the shape is a hash of the node types, the same for the same SQL with other parameter values."""
    done, children = {}, {}
    stack = [expr]
    while stack:
        el = stack[-1]
        key = id(el)
        if key in done:
            stack.pop()
            continue
        kids = children.get(key)
        if kids is None:   # first visit: a column or a table is written as a name, whatever it holds
            kids = children[key] = () if isinstance(el, (ColumnClause, TableClause)) else tuple(el.get_children())
            pending = [k for k in kids if id(k) not in done]
            if pending:
                stack.extend(pending)
                continue
        stack.pop()
        got = [done[id(k)] for k in kids]
        done[key] = (1 + sum(g[0] for g in got), 1 + max((g[1] for g in got), default=0),
                     hash((type(el).__name__, getattr(el, "name", None), *(g[2] for g in got))))
    return done[id(expr)]


_READ_BY_SHAPE = {}   # shape -> whether SQLite read it: a filter is checked once, not per request


def _sqlite_reads(expr, shape):
    known = _READ_BY_SHAPE.get(shape)
    if known is not None:
        return known
    from sqlalchemy.dialects import sqlite

    try:
        text = str(expr.compile(dialect=sqlite.dialect()))
    except RecursionError:
        return False
    con = sqlite3.connect(":memory:")
    try:
        con.execute(_SQLITE_CONTEXT.format(text))
        known = True
    except sqlite3.Error as exc:  # no such column, missing parameters...: it was read, which is all we ask
        known = not any(word in str(exc) for word in _SQLITE_LIMITS)
    finally:
        con.close()
    if len(_READ_BY_SHAPE) >= 4096:
        _READ_BY_SHAPE.clear()
    _READ_BY_SHAPE[shape] = known
    return known


def check_sql(expr, dialect):
    """Raise ``FormulaSQLUnsupported`` when ``expr`` is too large or too deeply nested to run."""
    size, depth, shape = measure(expr)
    if size > SQL_MAX_SIZE:
        raise FormulaSQLUnsupported(f"The formula is too large to run in the database as a filter or sort "
                                    f"({_WORKS_ELSEWHERE}). Simplify it, or split it into several formula "
                                    "fields.", code="formula.E202")
    if depth > SQL_MAX_DEPTH or (dialect == "sqlite" and depth > _SQLITE_SURELY_FINE
                                 and not _sqlite_reads(expr, shape)):
        raise FormulaSQLUnsupported(f"The formula is nested too deeply to run in the database as a filter or "
                                    f"sort ({_WORKS_ELSEWHERE}). Use CASE() instead of nested IFs, or split it "
                                    "into several formula fields.", code="formula.E203")
