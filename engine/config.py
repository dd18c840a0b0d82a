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
    # workflow (engine/workflow; docs/workflow.md)
    webhook_secrets: dict = field(default_factory=dict, repr=False, compare=False)  # TESSERA_WEBHOOK_SECRETS (JSON)
    automation_max_depth: int = 5            # TESSERA_AUTOMATION_MAX_DEPTH: the loop guard
    workflow_max_attempts: int = 8           # TESSERA_WORKFLOW_MAX_ATTEMPTS: then the outbox entry is dead
    workflow_retry_base_seconds: float = 30  # TESSERA_WORKFLOW_RETRY_BASE_SECONDS: backoff 30 s, 60 s, 120 s, ...
    workflow_lease_seconds: float = 300      # TESSERA_WORKFLOW_LEASE_SECONDS: a dead worker's entry is retried after
    workflow_requeue_seconds: float = 60     # TESSERA_WORKFLOW_REQUEUE_SECONDS: re-enqueue an entry not picked up
    workflow_job_timeout: int = 300          # TESSERA_WORKFLOW_JOB_TIMEOUT (rq)
    workflow_queue: str = "tessera"          # TESSERA_WORKFLOW_QUEUE (rq queue name)
    webhook_timeout_seconds: float = 10      # TESSERA_WEBHOOK_TIMEOUT_SECONDS (also SMTP)
    smtp_url: str | None = field(default=None, repr=False)   # TESSERA_SMTP_URL: smtp://user:pass@host:587
    mail_from: str = "tessera@localhost"     # TESSERA_MAIL_FROM

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
        if env.get("TESSERA_WEBHOOK_SECRETS"):
            values["webhook_secrets"] = _secrets(env["TESSERA_WEBHOOK_SECRETS"])
        for key, name, kind in _WORKFLOW_ENV:
            if env.get(name):
                values[key] = kind(env[name])
        cfg = cls(**values)
        if overrides:
            known = {k: v for k, v in overrides.items() if k in cls.__dataclass_fields__}
            cfg = replace(cfg, **known)
        return cfg


_WORKFLOW_ENV = (
    ("automation_max_depth", "TESSERA_AUTOMATION_MAX_DEPTH", int),
    ("workflow_max_attempts", "TESSERA_WORKFLOW_MAX_ATTEMPTS", int),
    ("workflow_retry_base_seconds", "TESSERA_WORKFLOW_RETRY_BASE_SECONDS", float),
    ("workflow_lease_seconds", "TESSERA_WORKFLOW_LEASE_SECONDS", float),
    ("workflow_requeue_seconds", "TESSERA_WORKFLOW_REQUEUE_SECONDS", float),
    ("workflow_job_timeout", "TESSERA_WORKFLOW_JOB_TIMEOUT", int),
    ("workflow_queue", "TESSERA_WORKFLOW_QUEUE", str),
    ("webhook_timeout_seconds", "TESSERA_WEBHOOK_TIMEOUT_SECONDS", float),
    ("smtp_url", "TESSERA_SMTP_URL", str),
    ("mail_from", "TESSERA_MAIL_FROM", str),
)


def _secrets(text):
    """TESSERA_WEBHOOK_SECRETS: a JSON object of secret name -> secret text."""
    import json

    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError('TESSERA_WEBHOOK_SECRETS must be a JSON object of name -> secret text, '
                         'e.g. {"case_hook": "s3cr3t"}')
    return value
