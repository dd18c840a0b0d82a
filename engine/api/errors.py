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


# Errors the web server raises before a view runs (werkzeug's HTTPException): status -> code.
# An engine error never takes these codes; see docs/errors.md.
WEB_ERRORS = {404: "api.E020", 405: "api.E021", 413: "api.E022"}
WEB_REFUSED = "api.E023"                      # any other status werkzeug answers with
INTERNAL_ERROR = ("api.E099", "Internal error; it has been logged.")


def web_error(status, method, description):
    """The code and message for an HTTP error raised by the web server itself (no such route,
    a method the route does not take, a body over the size limit, ...)."""
    message = {404: "No such API endpoint.", 405: f"Method {method} is not allowed here.",
               413: "The request body is too large."}.get(status, description)
    return WEB_ERRORS.get(status, WEB_REFUSED), message


def http_status(exc):
    """The status for an engine error: its nearest class in ``HTTP_STATUS``."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400
