"""Security: users, password hashing, API tokens and the acting-user context.

Imports ``engine.db`` and ``engine.errors`` only; never Flask. The acting user is
passed explicitly as an :class:`Actor` to every service call. Roles, permission sets
and sharing (issue 4) plug in here.
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
