"""Engine error hierarchy: one error shape for every door.

Every error a user can cause is an :class:`EngineError` with a stable ``code``
(``area.E###``, one meaning per code: see docs/errors.md), one clear ``message``, and where
known the ``path`` (a JSON path or field name), the formula ``position``/``line``/``column``
and a ``hint``. Errors say nothing about HTTP: only :mod:`engine.api` maps a class to a status
(``engine.api.errors.HTTP_STATUS``), the pages and the CLI map them their own way.
"""
from __future__ import annotations


class EngineError(Exception):
    """Base class of every user-facing engine error."""

    def __init__(self, code, message, *, path=None, position=None, hint=None, fields=None,
                 line=None, column=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.position = position
        self.hint = hint
        self.fields = fields or {}
        self.line = line
        self.column = column

    def __str__(self):
        return self.message


class MetadataError(EngineError):
    """One or more problems in a metadata document."""

    def __init__(self, problems, code="metadata.E001"):
        # problems: list of (path, message)
        if isinstance(problems, str):
            problems = [(None, problems)]
        self.problems = list(problems)
        message = "; ".join(f"{p}: {m}" if p else m for p, m in self.problems)
        fields = {}
        for p, m in self.problems:
            fields.setdefault(p or "_", []).append(m)
        super().__init__(code, message, fields=fields)


class NotFoundError(EngineError):
    """The thing named does not exist — or the caller may not know that it does."""


class ConflictError(EngineError):
    """The change conflicts with what is stored (a unique value, an existing name)."""


class StaleVersionError(EngineError):
    """The caller's version of a record (If-Match) is no longer the stored one."""


class PermissionDeniedError(EngineError):
    """The caller is known but may not do this."""


class AuthenticationError(EngineError):
    """The caller is not signed in, or the credentials are wrong."""


class InvalidRequestError(EngineError):
    """The request itself is malformed (a parameter, a body, a cursor)."""


class RecordValidationError(EngineError):
    """A record failed validation; ``fields`` maps field api_name -> messages."""

    def __init__(self, fields, message=None, code="records.E001"):
        if message is None:
            parts = [f"{k}: {'; '.join(v)}" for k, v in fields.items()]
            message = "Validation failed: " + " | ".join(parts)
        super().__init__(code, message, fields=fields)


class PackError(EngineError):
    """A problem in a pack (with its file and line in the message)."""


class WorkflowError(EngineError):
    """An approval or automation cannot do what was asked."""


class ThrottledError(EngineError):
    """Too many attempts; try again later."""


# Short names used across the code base (the classes above are the names to document).
NotFound = NotFoundError
Conflict = ConflictError
PreconditionFailed = StaleVersionError
Forbidden = PermissionDeniedError
Unauthorized = AuthenticationError
BadRequest = InvalidRequestError
TooManyRequests = ThrottledError
