"""REST API (``/api/v1``): Flask blueprints over the engine's services.

The only layer (with ``ui_renderer`` and ``cli``) that imports Flask. It maps
``EngineError`` to HTTP status and the JSON error body of the API contract:
``{"error": {"code", "message", "fields"}}``. No request may end in a bare 500.
"""
from __future__ import annotations

import json
import logging
from decimal import Decimal

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from engine.errors import BadRequest, EngineError, Forbidden

from .errors import INTERNAL_ERROR, http_status, web_error

log = logging.getLogger("tessera.api")

api = Blueprint("api", __name__, url_prefix="/api/v1")

def error_response(status, code, message, fields=None, extra=None):
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    if extra:
        body["error"].update(extra)
    return jsonify(body), status


def _engine_error(exc):
    extra = {}
    if exc.line is not None:
        extra.update(line=exc.line, column=exc.column, position=exc.position)
    if exc.hint:
        extra["hint"] = exc.hint
    if getattr(exc, "caret", None):
        extra["caret"] = exc.caret
    return error_response(http_status(exc), exc.code, exc.message, exc.fields, extra)


def svc():
    return current_app.extensions["tessera"]


def body_json(*, allow_list=False):
    """The request body as JSON (numbers with fractions as Decimal); 400 when malformed."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("api.E001", "The request body is empty; send a JSON object.")
    ctype = request.mimetype
    if ctype and ctype not in ("application/json", "text/json") and not ctype.endswith("+json"):
        raise BadRequest("api.E002", f"Send JSON with Content-Type: application/json (got '{ctype}').")
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("api.E003", f"The request body is not valid JSON: {str(exc)[:120]}.") from None
    bad = _unstorable(data) if _may_hold_unstorable(raw) else None
    if bad is not None:
        raise BadRequest("api.E005", f"The request body holds text that cannot be stored ({bad}); remove NUL "
                         "characters and invalid Unicode.")
    if not isinstance(data, dict) and not (allow_list and isinstance(data, list)):
        kinds = "a JSON object or array" if allow_list else "a JSON object"
        raise BadRequest("api.E004", f"The request body must be {kinds}.")
    return data


def _may_hold_unstorable(raw):
    """Whether the body's bytes could decode to a NUL or a lone surrogate: only through a NUL byte
    (or UTF-16/32 JSON), a ``\\u`` escape, or a UTF-8 sequence starting with 0xED (U+D000-U+DFFF,
    which json.loads decodes with 'surrogatepass'). Without any, the walk over every string of a
    large body (a bulk create) is skipped."""
    return b"\x00" in raw or b"\\u" in raw or b"\xed" in raw


def _unstorable(value, depth=0):
    """Describe the first string that no database can store (NUL, lone surrogates), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "invalid Unicode"
        return None
    if depth > 50:
        return None
    if isinstance(value, dict):
        items = list(value.keys()) + list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = _unstorable(item, depth + 1)
        if found:
            return found
    return None


def _no_constant(name):
    raise ValueError(f"{name} is not allowed")


def require_admin():
    if not g.actor.is_admin:
        raise Forbidden("metadata.E040", "Only administrators may change metadata.")


def _authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    actor, g.snapshot = svc().authenticate(token.strip() if scheme.lower() == "bearer" else None,
                                           ip=request.remote_addr, header_sent=bool(header))
    g.actor = actor
    if actor.read_only and request.method not in ("GET", "HEAD", "OPTIONS"):
        raise Forbidden("security.E030", "This token is read-only.")


PUBLIC_ENDPOINTS = {"api.login"}


@api.before_request
def _before():
    for key, value in request.args.items(multi=True):
        if _unstorable(key) or _unstorable(value):
            raise BadRequest("api.E006", f"The query parameter '{key[:40]!s}' holds a NUL character or invalid "
                             "Unicode.")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    _authenticate()


def register_api(app):
    from . import approvals, formula, metadata, openapi, packs, records, reports, security, workflow  # noqa: F401

    app.register_blueprint(api)

    @app.errorhandler(EngineError)
    def _on_engine_error(exc):
        return _engine_error(exc)

    @app.errorhandler(HTTPException)
    def _on_http(exc):
        if not request.path.startswith("/api/"):
            return exc
        status = exc.code or 500
        code, message = web_error(status, request.method, exc.description)
        body, status = error_response(status, code, message)
        if status == 405 and getattr(exc, "valid_methods", None):
            body.headers["Allow"] = ", ".join(sorted(exc.valid_methods))   # RFC 9110: a 405 names them
        return body, status

    @app.errorhandler(Exception)
    def _on_error(exc):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, *INTERNAL_ERROR)
