"""The one place that knows HTTP status codes for engine errors."""
from __future__ import annotations

from engine.errors import (AuthenticationError, ConflictError, EngineError, InvalidRequestError,
                           MetadataError, NotFoundError, PackError, PermissionDeniedError,
                           RecordValidationError, StaleVersionError, ThrottledError, WorkflowError)
from engine.formula import FormulaError

HTTP_STATUS = {
    InvalidRequestError: 400,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    StaleVersionError: 412,
    MetadataError: 422,
    RecordValidationError: 422,
    FormulaError: 422,
    PackError: 422,
    WorkflowError: 422,
    ThrottledError: 429,
    EngineError: 400,
}


def http_status(exc):
    """The status for an engine error: its nearest class in ``HTTP_STATUS``."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400
