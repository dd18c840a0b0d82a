"""Relationship field types: lookup and master_detail (a required lookup whose
children are deleted with their parent)."""
from __future__ import annotations

from marshmallow import fields as mf
from marshmallow import validate
from sqlalchemy import String

from . import register_field_type
from .base import FieldType

# JSON Schema patterns are ECMA regexes, which jsonschema runs with Python's re.search, where "$"
# also matches before a final newline: "(?!\n)" refuses it in both dialects.
_NAME = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,39}$(?!\n)",
         "description": "lowercase snake_case of at most 40 characters: a letter, then letters, digits or _"}
_TARGET = {"target": _NAME, "relationship_name": _NAME,
           "on_delete": {"enum": ["set_null", "restrict"]}}


@register_field_type
class LookupType(FieldType):
    name, label, widget = "lookup", "Lookup", "widgets/lookup.html"
    formula_type = "text"
    family = "lookup"
    relates = True
    options_schema = _TARGET
    required_keys = ("target",)
    openapi = {"type": "string", "description": "id of the related record"}
    cascade = False

    def column_type(self, fdef):
        return String(36)

    def marshmallow_field(self, fdef):
        return mf.String(allow_none=True, validate=validate.Length(min=1, max=36))

    def check(self, fdoc, ctx):
        target = fdoc.get("target")
        if target and target not in ctx.get("objects", ()) and target != ctx.get("self"):
            hint = ctx["suggest"](target, list(ctx.get("objects", ())))
            return [("target", f"unknown object '{target}'{hint}")]
        return []

    def to_storage(self, fdef, value):
        return value or None


@register_field_type
class MasterDetailType(LookupType):
    name, label = "master_detail", "Master-detail"
    cascade = True

    def check(self, fdoc, ctx):
        problems = super().check(fdoc, ctx)
        if fdoc.get("target") == ctx.get("self"):
            problems.append(("target", "a master-detail field cannot point to its own object"))
        return problems
