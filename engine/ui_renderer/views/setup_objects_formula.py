"""Setup → Object Manager: the formula editor's two JSON endpoints (a session and the CSRF header,
like every page): the live check of a formula as the admin types — its result type, or the error
at its line and column with "did you mean" — and the catalogue of what a formula on an object may
read (its fields and its lookups' fields) and of every function with its signature.

Both see the metadata as the caller may (``reader_view(...).fields_map``), exactly as
``POST /api/v1/formula/check`` does; the functions come from ``engine.formula.functions``.
"""
from __future__ import annotations

import re

from flask import g, jsonify, request

from engine.formula import FormulaError, compile_formula, functions
from engine.records.field_security import reader_view

from .. import i18n
from ..viewmodels import system_label
from .setup_objects import setup_objects
from .setup_objects_fields import RESULT_TYPES


def _json_error(status, code, message):
    return jsonify({"error": {"code": code, "message": message}}), status


def _reader_fields(object):
    rt = g.snapshot.get(object) if isinstance(object, str) else None
    if rt is None:
        return None, None
    return rt, reader_view(g.snapshot, g.actor).fields_map(rt.name)   # the caller's fields, as the API does


@setup_objects.post("/formula/check")
def check_formula():
    """Type-check a formula as the admin types: the result type, or the error at its line and column."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("formula"), str):
        return _json_error(400, "formula.E150", 'Send {"object": "deal", "formula": "...", "return_type": null}.')
    rt, fields_map = _reader_fields(body.get("object"))
    if rt is None:
        return _json_error(404, "metadata.E041", f"Unknown object '{str(body.get('object'))[:40]}'.")
    source = body["formula"]
    if not source.strip():
        return jsonify({"ok": False, "empty": True})
    exclude = body.get("exclude")
    if isinstance(exclude, str) and exclude in fields_map:    # a formula field cannot read itself
        fields_map = {k: v for k, v in fields_map.items() if k != exclude}
    wanted = body.get("return_type")
    wanted = wanted if isinstance(wanted, str) and wanted else None
    try:
        compiled = compile_formula(source, fields_map, return_type=wanted)
    except FormulaError as exc:
        return jsonify({"ok": False, "error": {"message": exc.message, "line": exc.line, "column": exc.column,
                                               "position": exc.position, "code": exc.code, "hint": exc.hint}})
    rtype = compiled.return_type or "text"
    return jsonify({"ok": True, "return_type": rtype, "label": str(RESULT_TYPES.get(rtype, rtype))})


def signature(fdef):
    """``LEFT(text, number) → text``, or the signature the docstring opens with (IF, CASE, AND)."""
    m = re.match(rf"^({re.escape(fdef.name)}\([^)]*\))\s*:\s*(.*)$", fdef.doc or "", re.DOTALL)
    if m and not fdef.params:
        return m.group(1), m.group(2)
    low, _high = fdef.arity
    parts = []
    for i, param in enumerate(fdef.params):
        text = "|".join(param) if isinstance(param, tuple) else str(param)
        parts.append(f"[{text}]" if i >= low else text)
    if fdef.varargs:
        parts.append("…")
    returns = fdef.returns if isinstance(fdef.returns, str) else "any"
    return f"{fdef.name}({', '.join(parts)}) → {returns}", fdef.doc


@setup_objects.get("/formula/catalog")
def formula_catalog():
    """The fields a formula on ``?object=`` may read (and its lookups' fields), and every function."""
    rt, fields_map = _reader_fields(request.args.get("object"))
    if rt is None:
        return _json_error(404, "metadata.E041", "Unknown object.")
    out = []
    for name, kind in fields_map.items():
        if name.startswith("$") or name in ("id", "row_version", "deleted_at"):
            continue
        fdef = rt.odef.field(name)
        label = i18n.field_label(fdef) if fdef else system_label(rt, name)
        if isinstance(kind, dict):
            target = g.snapshot.get(fdef.target) if fdef is not None else None
            out.append({"path": name, "label": label, "type": "lookup"})
            for sub, subkind in kind.items():
                if isinstance(subkind, dict) or sub in ("id", "row_version", "deleted_at") or target is None:
                    continue
                subdef = target.odef.field(sub)
                sublabel = i18n.field_label(subdef) if subdef else system_label(target, sub)
                out.append({"path": f"{name}.{sub}", "label": f"{label} › {sublabel}", "type": subkind})
        else:
            out.append({"path": name, "label": label, "type": kind})
    funcs = []
    for key in sorted(functions.keys()):
        sig, doc = signature(functions.get(key))
        funcs.append({"name": key, "signature": sig, "doc": doc, "family": functions.get(key).family})
    return jsonify({"fields": out, "functions": funcs})
