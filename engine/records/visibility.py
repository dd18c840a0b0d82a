"""One visibility function for every path that reads records.

Lists, counts, cursors, single reads, row locks for writes, exports, formula fields reading
related records (Python) and related fields in ``where=``/sorting (SQL) all ask
:func:`visible`. It combines the actor's object rights, the org-wide default, ownership and the
role hierarchy, manual shares and sharing rules — criteria rules compiled for the reader, so
``$user`` in a criteria rule is the person reading.
"""
from __future__ import annotations

from sqlalchemy import false

from engine.security import access as acl

MAX_CRITERIA_DEPTH = 2   # criteria rules inside related hops inside criteria rules … stop here (fewer rows)


def visible(service, rt, actor, access="read", *, table=None, depth=0):
    """SQL condition on ``table`` (default ``rt.table``): rows of ``rt`` that ``actor`` reaches
    with ``access`` ('read' or 'edit'); None when every row is reachable."""
    plan = actor.plan
    if plan.is_admin:
        return None
    if not plan.can(rt.name, access):
        return false()
    shares = service.shares_exist(plan, rt.name)
    criteria = None
    if depth < MAX_CRITERIA_DEPTH:
        def criteria(source):
            return criteria_sql(service, rt, source, actor, table, depth)
    return acl.visibility(plan, rt, access, criteria, shares_exist=shares, table=table)


def criteria_sql(service, rt, source, actor, table=None, depth=0):
    """A sharing rule's criteria as SQL for ``actor`` (compiled once per version and source)."""
    from engine.formula import FormulaError, compile_formula

    from .resolver import SqlResolver

    compiled = rt.criteria_cache.get(source)
    if compiled is None:
        try:
            compiled = compile_formula(source, rt.formulas.fields_map, return_type="boolean")
        except FormulaError:
            return false()   # a rule that no longer compiles grants nothing
        rt.criteria_cache[source] = compiled
    return SqlResolver(service, rt, actor, table=table, depth=depth + 1).compile(compiled)
