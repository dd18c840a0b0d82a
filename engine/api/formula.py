"""``POST /api/v1/formula/check``: type-check a formula for the editor."""
from __future__ import annotations

from flask import g, jsonify

from engine.errors import BadRequest, NotFound
from engine.formula import FormulaError, compile_formula
from engine.records.field_security import reader_view

from . import api, body_json, svc


@api.post("/formula/check")
def check_formula():
    body = body_json()
    obj, source = body.get("object"), body.get("formula")
    if not isinstance(source, str):
        raise BadRequest("formula.E150", "Send {\"object\": \"deal\", \"formula\": \"...\"}.",
                         fields={"formula": ["must be a string"]})
    if not isinstance(obj, str):
        raise NotFound("metadata.E041", f"Unknown object '{obj}'.")
    # an object the caller may not read answers as one that does not exist; the fields are theirs
    rt = svc().records(g.snapshot).runtime(obj, g.actor)
    fields = reader_view(g.snapshot, g.actor).fields_map(rt.name)
    try:
        compiled = compile_formula(source, fields, return_type=body.get("return_type"))
    except FormulaError as exc:
        return jsonify({"ok": False, "error": {"message": exc.message, "line": exc.line, "column": exc.column,
                                               "position": exc.position, "code": exc.code,
                                               **({"caret": exc.caret} if exc.caret else {})}})
    return jsonify({"ok": True, "return_type": compiled.return_type})
