"""Engine error hierarchy.

Every error a user can cause is an :class:`EngineError` with a stable ``code``
(``area.E###``), one clear ``message``, and where known the ``path`` (a JSON path
or field name), the formula ``position``/``line``/``column`` and a ``hint``.
Only :mod:`engine.api` maps these to HTTP status codes.
"""
from __future__ import annotations


class EngineError(Exception):
    """Base class of every user-facing engine error."""

    status = 400
    kind = "bad_request"

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
    """One or more problems in a metadata document (422)."""

    status = 422
    kind = "invalid_metadata"

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


class NotFound(EngineError):
    status = 404
    kind = "not_found"


class Conflict(EngineError):
    status = 409
    kind = "conflict"


class PreconditionFailed(EngineError):
    status = 412
    kind = "precondition_failed"


class Forbidden(EngineError):
    status = 403
    kind = "forbidden"


class Unauthorized(EngineError):
    status = 401
    kind = "unauthorized"


class BadRequest(EngineError):
    status = 400
    kind = "bad_request"


class RecordValidationError(EngineError):
    """A record failed validation; ``fields`` maps field api_name -> messages."""

    status = 422
    kind = "validation_failed"

    def __init__(self, fields, message=None, code="records.E001"):
        if message is None:
            parts = [f"{k}: {'; '.join(v)}" for k, v in fields.items()]
            message = "Validation failed: " + " | ".join(parts)
        super().__init__(code, message, fields=fields)


class PackError(EngineError):
    status = 422
    kind = "invalid_pack"


class WorkflowError(EngineError):
    status = 422
    kind = "workflow_error"


class TooManyRequests(EngineError):
    status = 429
    kind = "too_many_requests"
