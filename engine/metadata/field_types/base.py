"""Base class of every field type."""
from __future__ import annotations

from marshmallow import fields as mf


class FieldType:
    """Describe how one kind of field is stored, validated, shown and typed in formulas.

    Subclasses set ``name``, ``formula_type``, ``widget`` and override ``column_type``
    and ``marshmallow_field``. ``options_schema`` is JSON Schema for the type-specific
    keys of the field document; ``required_keys`` are keys the field document must have.
    """

    name = ""
    label = ""
    formula_type = "text"
    widget = "widgets/text.html"
    stored = True          # has a physical column
    writable = True        # accepted from clients
    sortable = True
    cascade = False        # master-detail: children follow their parent to the recycle bin
    # Capabilities: code asks these, never the type's name.
    computed = False           # evaluated from a formula on read (no column)
    assign_on_insert = False   # the engine assigns the value when a record is created (auto-number)
    summarises = False         # kept up to date from child records (roll-up summary)
    relates = False            # points to another object's record (lookup, master-detail)
    can_be_unique = True       # a unique index makes sense
    has_options = False        # values come from the field's own ``options`` list (picklists)
    multiline = False          # text kept as typed, line breaks and surrounding spaces included
    json_blank = None          # a callable making the JSON of an empty (NULL) value, when it is not null
    options_schema: dict = {}
    required_keys: tuple = ()
    openapi = {"type": "string"}
    # Families of types whose stored data convert into one another.
    family = "text"

    @property
    def is_numeric(self):
        return self.family == "number"

    def column_type(self, fdef):
        raise NotImplementedError

    def marshmallow_field(self, fdef):
        """The marshmallow field that deserialises and validates client input."""
        return mf.Raw(allow_none=True)

    def check(self, fdoc, ctx):
        """Semantic checks of the field document; return a list of (path, message)."""
        return []

    def to_storage(self, fdef, value):
        return value

    def to_json(self, fdef, value):
        return value

    def json_converter(self, fdef):
        """``to_json`` of one field as a one-argument callable for values that are not None, made
        once per metadata version (a page of records calls it per row); None when values are kept
        as they are. A type that overrides ``to_json`` may override this too, with the same output."""
        if type(self).to_json is FieldType.to_json:
            return None
        to_json = self.to_json
        return lambda value: to_json(fdef, value)

    def openapi_schema(self, fdef):
        schema = dict(self.openapi)
        if not fdef.required or not self.writable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        if not self.writable:
            schema["readOnly"] = True
        return schema

    def __repr__(self):
        return f"<FieldType {self.name}>"
