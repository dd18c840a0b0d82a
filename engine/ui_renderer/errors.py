"""HTML error pages for page blueprints: an engine error, an HTTP error, a refused CSRF token or a
bug becomes a page with the status and a message in the user's language — never a traceback
(that goes to the log). JSON endpoints of the pages (the lookup search) answer JSON."""
from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.errors import (AuthenticationError, ConflictError, EngineError, InvalidRequestError,
                           NotFoundError, PermissionDeniedError, RecordValidationError, StaleVersionError,
                           ThrottledError)

log = logging.getLogger("tessera.ui")

# The pages' own table from error class to status (engine.api keeps the API's; doors decide).
STATUS = ((NotFoundError, 404), (PermissionDeniedError, 403), (AuthenticationError, 401),
          (ConflictError, 409), (StaleVersionError, 409), (RecordValidationError, 422),
          (InvalidRequestError, 400), (ThrottledError, 429))


# Codes of the errors the pages raise themselves (JSON endpoints show them; docs/errors.md).
FORM_EXPIRED = "pages.E001"
WEB_ERRORS = {404: "pages.E002", 405: "pages.E003", 413: "pages.E004"}
WEB_REFUSED = "pages.E005"
INTERNAL_ERROR = "pages.E009"


def status_of(exc):
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def _titles():
    return {400: _("The request could not be understood"), 401: _("Please sign in"),
            403: _("You do not have access to this page"), 404: _("Page not found"),
            405: _("This action is not allowed here"), 409: _("This change conflicts with another one"),
            413: _("The request is too large"), 422: _("The data could not be saved"),
            429: _("Too many attempts"), 500: _("Something went wrong")}


def _default_message(status):
    return {400: _("Check the address or the form and try again."),
            401: _("Your session has ended; sign in again."),
            403: _("Ask an administrator for access if you need it."),
            404: _("The page or record does not exist, or you may not see it."),
            405: _("Use the buttons on the page instead."),
            409: _("Reload the page to see the current data, then try again."),
            413: _("Send less data at once."),
            422: _("Correct the values and try again."),
            429: _("Wait a moment and try again."),
            500: _("The problem has been logged. Try again, or go back to the home page.")}.get(status, "")


def error_page(status, message=None, detail=None, code=None):
    """Render the error page (or JSON for the pages' JSON endpoints) with ``status``; ``detail``
    is the engine's own (English) message, shown under the translated one; ``code`` is the error's
    code (an engine error's own, else one of the pages' codes above)."""
    title = _titles().get(status, _("Something went wrong"))
    if request.path.endswith("/lookup") or request.accept_mimetypes.best == "application/json":
        code = code or WEB_ERRORS.get(status, WEB_REFUSED)
        return jsonify({"error": {"code": code, "message": detail or message or title}}), status
    return render_template("engine/error.html", status=status, title=title,
                           message=message or _default_message(status), detail=detail), status


def install_error_pages(bp):
    """Register the HTML error handlers on a page blueprint."""

    @bp.errorhandler(CSRFError)
    def _csrf(exc):
        return error_page(400, _("The form has expired or did not come from this site. Reload the page "
                                 "and try again; nothing was changed."), code=FORM_EXPIRED)

    @bp.errorhandler(EngineError)
    def _engine(exc):
        return error_page(status_of(exc), detail=exc.message, code=exc.code)

    @bp.errorhandler(HTTPException)
    def _http(exc):
        return error_page(exc.code or 500)

    @bp.errorhandler(Exception)
    def _bug(exc):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_page(500, code=INTERNAL_ERROR)
