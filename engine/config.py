"""Configuration from ``TESSERA_*`` environment variables with laptop defaults."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Config:
    database_url: str = "sqlite:///tessera.db"
    redis_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    max_body_bytes: int = 5 * 1024 * 1024
    max_page_size: int = 200
    default_page_size: int = 50
    max_bulk_records: int = 10000
    testing: bool = False
    secure_cookies: bool = False     # set TESSERA_SECURE_COOKIES=1 behind HTTPS
    sqlite_synchronous: str = "FULL"  # TESSERA_SQLITE_SYNCHRONOUS: FULL survives a power cut; NORMAL is faster

    @classmethod
    def from_env(cls, overrides=None):
        env = os.environ
        values = {}
        if env.get("TESSERA_DATABASE_URL"):
            values["database_url"] = env["TESSERA_DATABASE_URL"]
        if env.get("TESSERA_REDIS_URL"):
            values["redis_url"] = env["TESSERA_REDIS_URL"]
        if env.get("TESSERA_SECRET_KEY"):
            values["secret_key"] = env["TESSERA_SECRET_KEY"]
        if env.get("TESSERA_SECURE_COOKIES", "").lower() in ("1", "true", "yes"):
            values["secure_cookies"] = True
        if env.get("TESSERA_SQLITE_SYNCHRONOUS"):
            values["sqlite_synchronous"] = env["TESSERA_SQLITE_SYNCHRONOUS"].upper()
        if env.get("TESSERA_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(env["TESSERA_MAX_BODY_BYTES"])
        cfg = cls(**values)
        if overrides:
            known = {k: v for k, v in overrides.items() if k in cls.__dataclass_fields__}
            cfg = replace(cfg, **known)
        return cfg
