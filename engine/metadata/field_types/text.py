"""Text-like field types: text, long_text, rich_text, email, phone, url."""
from __future__ import annotations

import nh3
from marshmallow import fields as mf
from marshmallow import validate
from sqlalchemy import String, Text

from . import register_field_type
from .base import FieldType

_LEN = {"max_length": {"type": "integer", "minimum": 1, "maximum": 131072}}


class _TextBase(FieldType):
    formula_type = "text"
    family = "text"
    default_length = 255
    max_allowed = 4000
    options_schema = _LEN

    def length(self, fdef):
        return int(fdef.get("max_length") or self.default_length)

    def column_type(self, fdef):
        return String(self.length(fdef))

    def validators(self, fdef):
        return [validate.Length(max=self.length(fdef))]

    def marshmallow_field(self, fdef):
        return mf.String(allow_none=True, validate=self.validators(fdef))

    def check(self, fdoc, ctx):
        ml = fdoc.get("max_length")
        if ml is not None and ml > self.max_allowed:
            return [("max_length", f"must be at most {self.max_allowed} for a {self.name} field (got {ml})")]
        return []

    def to_storage(self, fdef, value):
        if isinstance(value, str) and value == "":
            return None
        return value


@register_field_type
class TextType(_TextBase):
    name, label, widget = "text", "Text", "widgets/text.html"


@register_field_type
class LongTextType(_TextBase):
    name, label, widget = "long_text", "Long text", "widgets/textarea.html"
    can_be_unique = False
    multiline = True
    default_length = 131072
    max_allowed = 131072

    def column_type(self, fdef):
        return Text()


@register_field_type
class RichTextType(LongTextType):
    """HTML text, sanitised on write with nh3 (an allow-list HTML sanitiser)."""

    name, label, widget = "rich_text", "Rich text", "widgets/richtext.html"

    def to_storage(self, fdef, value):
        if value is None or value == "":
            return None
        return nh3.clean(value)


@register_field_type
class EmailType(_TextBase):
    name, label, widget = "email", "Email", "widgets/email.html"
    openapi = {"type": "string", "format": "email"}

    def validators(self, fdef):
        return super().validators(fdef) + [validate.Email(error="Not a valid email address.")]

    def to_storage(self, fdef, value):
        value = super().to_storage(fdef, value)
        return value.strip() if isinstance(value, str) else value


@register_field_type
class PhoneType(_TextBase):
    name, label, widget = "phone", "Phone", "widgets/phone.html"
    default_length = 40

    def validators(self, fdef):
        return super().validators(fdef) + [validate.Regexp(
            r"^\+?[0-9 ()./\-]{3,}(\s*(x|ext\.?)\s*[0-9]+)?\Z",   # \Z: "$" allows a final newline
            error="Not a valid phone number (digits, spaces, + ( ) - . and an optional extension).")]


@register_field_type
class UrlType(_TextBase):
    name, label, widget = "url", "URL", "widgets/url.html"
    default_length = 1024
    openapi = {"type": "string", "format": "uri"}

    def validators(self, fdef):
        return super().validators(fdef) + [validate.URL(
            relative=False, schemes={"http", "https"}, error="Not a valid URL (http or https).")]
