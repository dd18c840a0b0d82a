"""Refuse, when a formula is compiled to SQL, SQL that the database or SQLAlchemy could not take.

The size counts shared sub-expressions once per use (as they are written out), so that SQL whose
text would grow exponentially is refused before it is rendered. The nesting bounds SQLAlchemy's
recursive compiler. SQLite's parser is tighter still (a stack of 100 entries: about twenty nested
CASEs) and its cost per construct varies, so the SQLite library itself is asked to read the
statement, with a margin for the query the formula is placed in.
"""
from __future__ import annotations

import sqlite3

from .errors import FormulaSQLUnsupported
from .limits import SQL_MAX_DEPTH, SQL_MAX_SIZE

_SQLITE_SURELY_FINE = 15   # nesting below which SQLite's parser never overflows
_SQLITE_MARGIN = 4         # function levels kept free for the enclosing query (WHERE, sub-queries)
_SQLITE_LIMITS = ("stack overflow", "too large", "too many", "too deep")
_WORKS_ELSEWHERE = "it still works in formula fields"


def measure(expr):
    """(size with shared parts counted once per use, nesting depth) of a SQLAlchemy expression."""
    done = {}
    stack = [(expr, False)]
    while stack:
        el, expanded = stack.pop()
        key = id(el)
        if key in done:
            continue
        children = list(el.get_children())
        if expanded:
            got = [done[id(c)] for c in children]
            done[key] = (1 + sum(s for s, _d in got), 1 + max((d for _s, d in got), default=0))
        else:
            stack.append((el, True))
            stack.extend((c, False) for c in children if id(c) not in done)
    return done[id(expr)]


def _sqlite_reads(expr):
    from sqlalchemy.dialects import sqlite

    try:
        text = str(expr.compile(dialect=sqlite.dialect()))
    except RecursionError:
        return False
    con = sqlite3.connect(":memory:")
    try:
        con.execute("EXPLAIN SELECT " + "abs(" * _SQLITE_MARGIN + text + ")" * _SQLITE_MARGIN)
    except sqlite3.Error as exc:  # no such column, missing parameters...: it was read, which is all we ask
        return not any(word in str(exc) for word in _SQLITE_LIMITS)
    finally:
        con.close()
    return True


def check_sql(expr, dialect):
    """Raise ``FormulaSQLUnsupported`` when ``expr`` is too large or too deeply nested to run."""
    size, depth = measure(expr)
    if size > SQL_MAX_SIZE:
        raise FormulaSQLUnsupported(f"The formula is too large to run in the database as a filter or sort "
                                    f"({_WORKS_ELSEWHERE}). Simplify it, or split it into several formula "
                                    "fields.", code="formula.E202")
    if depth > SQL_MAX_DEPTH or (dialect == "sqlite" and depth > _SQLITE_SURELY_FINE
                                 and not _sqlite_reads(expr)):
        raise FormulaSQLUnsupported(f"The formula is nested too deeply to run in the database as a filter or "
                                    f"sort ({_WORKS_ELSEWHERE}). Use CASE() instead of nested IFs, or split it "
                                    "into several formula fields.", code="formula.E203")
