"""Security: users, password hashing, API tokens, roles, permission sets, sharing, field
history and the audit log, and the acting-user context.

Imports ``engine.db``, ``engine.errors``, ``engine.formula`` and ``engine.metadata``; never
``engine.records`` (which builds on it) nor Flask. The acting user is passed explicitly as an
:class:`Actor` (with its permission ``plan``) to every service call; internal work acts as
:data:`SYSTEM_ACTOR`, never as ``None``.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """Who is acting: passed to every service call."""

    user_id: str | None
    username: str
    is_admin: bool = False
    scope: str = "all"          # "all" | "read"
    locale: str = "en"
    plan: object = field(default=None, compare=False, repr=False)   # access.Plan (required by services)

    @property
    def read_only(self):
        return self.scope == "read"


def _system_actor():
    from .access import ADMIN_PLAN
    return Actor(user_id=None, username="system", is_admin=True, plan=ADMIN_PLAN)


SYSTEM_ACTOR = _system_actor()   # internal work: demo data, back-fills, rules that protect data
