"""Security: users, password hashing, API tokens, roles, permission sets, sharing, field
history and the audit log, and the acting-user context.

Imports ``engine.db``, ``engine.errors`` and ``engine.metadata`` (and hooks into the record
service); never Flask. The acting user is passed explicitly as an :class:`Actor` (with its
permission ``plan``) to every service call.
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
    plan: object = field(default=None, compare=False, repr=False)   # access.Plan; None = unrestricted

    @property
    def read_only(self):
        return self.scope == "read"


SYSTEM_ACTOR = Actor(user_id=None, username="system", is_admin=True)
