"""``POST /api/v1/formula/check``: type-check a formula for the editor."""
from __future__ import annotations

from flask import g, jsonify

from engine.errors import BadRequest, NotFound
from engine.formula import FormulaError, compile_formula
from engine.metadata.checks import suggest
from engine.records.field_security import reader_view

from . import api, body_json


@api.post("/formula/check")
def check_formula():
    body = body_json()
    obj, source = body.get("object"), body.get("formula")
    if not isinstance(source, str):
        raise BadRequest("formula.E400", "Send {\"object\": \"deal\", \"formula\": \"...\"}.",
                         fields={"formula": ["must be a string"]})
    rt = g.snapshot.get(obj) if isinstance(obj, str) else None
    if rt is None:
        raise NotFound("records.E404", f"Unknown object '{obj}'{suggest(str(obj), g.snapshot.objects)}.")
    fields = reader_view(g.snapshot, g.actor).fields_map(rt.name)   # the caller's fields only
    try:
        compiled = compile_formula(source, fields, return_type=body.get("return_type"))
    except FormulaError as exc:
        return jsonify({"ok": False, "error": {"message": exc.message, "line": exc.line, "column": exc.column,
                                               "position": exc.position, "code": exc.code}})
    return jsonify({"ok": True, "return_type": compiled.return_type})
