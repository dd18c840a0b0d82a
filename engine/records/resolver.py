"""Formula paths to SQL, and the evaluation context of a formula.

:class:`SqlResolver` turns a formula path (``amount``, ``account.tier``, a formula field) into a
SQL expression over one object's table (or an alias of it). A related field is a correlated
scalar sub-query through the lookup, restricted by :func:`engine.records.visibility.visible` for
the reader — the same visibility every other path uses — so a related record the reader may not
see reads as an empty lookup, exactly as in the Python evaluation.
"""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import select

from engine.errors import BadRequest
from engine.formula import FormulaContext
from engine.metadata.system_fields import SYSTEM_FORMULA_TYPES  # noqa: F401  (re-exported)


def formula_context(actor, *, prior=None, creating=False, now=None):
    """The context a formula is evaluated in: ``$user`` is the actor, ``NOW()`` one clock reading.
    Prepared once (a :class:`~engine.formula.FormulaContext`) for every evaluation that shares it:
    a page of records, a write's rules."""
    ctx = {"now": now or _dt.datetime.now(_dt.timezone.utc)}
    if actor is not None and actor.user_id is not None:
        ctx["user"] = {"id": actor.user_id, "username": actor.username, "name": actor.username,
                       "is_admin": actor.is_admin, "locale": actor.locale}
    if not creating:
        ctx["prior"] = prior if prior is not None else {}
    return FormulaContext(ctx)


class SqlResolver:
    """Resolve formula paths of one object to SQL over ``table`` (default: the object's table)."""

    def __init__(self, service, rt, actor, *, table=None, depth=0):
        self.service, self.rt, self.actor, self.depth = service, rt, actor, depth
        self.table = table if table is not None else rt.table
        self.dialect = service.engine.dialect.name
        self.ctx = formula_context(actor)

    def __call__(self, path):
        return self._resolve(self.rt, self.table, tuple(path), frozenset())

    def compile(self, compiled):
        """The SQL of a compiled formula of this object."""
        return compiled.to_sql(self, self.dialect, context=self.ctx)

    def _resolve(self, rt, table, path, seen):
        head = path[0]
        if head in SYSTEM_FORMULA_TYPES:
            return table.c[head]
        fdef = rt.odef.field(head)
        if fdef is None:
            raise BadRequest("records.E020", f"Unknown field '{head}'.")
        if len(path) == 1:
            if fdef.column:
                return table.c[fdef.column]
            if rt.ftypes[head].computed:
                key = (rt.name, head)
                if key in seen:
                    raise BadRequest("records.E021", f"Formula field '{head}' refers to itself.")
                compiled = rt.formulas.field(head)
                return compiled.to_sql(lambda p: self._resolve(rt, table, tuple(p), seen | {key}),
                                       self.dialect, context=self.ctx)
            raise BadRequest("records.E022", f"Field '{head}' cannot be used in SQL.")
        from .visibility import visible

        target_rt = self.service.snapshot.get(fdef.target)
        alias = target_rt.table.alias()
        inner = self._resolve(target_rt, alias, path[1:], seen)
        conds = [alias.c.id == table.c[fdef.column]]
        vis = visible(self.service, target_rt, self.actor, "read", table=alias, depth=self.depth + 1)
        if vis is not None:
            conds.append(vis)
        return select(inner).where(*conds).scalar_subquery()
