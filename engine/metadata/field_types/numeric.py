"""Number-like field types: number, integer, currency, percent (stored exactly, as Numeric)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from marshmallow import ValidationError
from marshmallow import fields as mf
from sqlalchemy import BigInteger, Numeric

from . import register_field_type
from .base import FieldType

_PS = {"precision": {"type": "integer", "minimum": 1, "maximum": 18},
       "scale": {"type": "integer", "minimum": 0, "maximum": 6}}
_INT_MAX = 2 ** 63 - 1


class StrictDecimal(mf.Decimal):
    """A Decimal that refuses booleans, NaN/Infinity and values too wide for the column."""

    def __init__(self, precision, scale, **kw):
        super().__init__(allow_nan=False, **kw)
        self.precision, self.scale = precision, scale

    def _deserialize(self, value, attr, data, **kw):
        if isinstance(value, bool):
            raise ValidationError("Not a valid number.")
        try:
            num = super()._deserialize(value, attr, data, **kw)
        except (InvalidOperation, TypeError):
            raise ValidationError("Not a valid number.") from None
        if not num.is_finite():
            raise ValidationError("Not a valid number.")
        quant = Decimal(1).scaleb(-self.scale)
        try:
            num = num.quantize(quant, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise ValidationError("Number is too large.") from None
        if abs(num) >= Decimal(10) ** (self.precision - self.scale):
            raise ValidationError(
                f"Must have at most {self.precision - self.scale} digits before the decimal point.")
        return num


class _NumberBase(FieldType):
    formula_type = "number"
    family = "number"
    widget = "widgets/number.html"
    options_schema = _PS
    default_scale = 2
    openapi = {"type": "number"}

    def precision(self, fdef):
        return int(fdef.get("precision") or 18)

    def scale(self, fdef):
        s = fdef.get("scale")
        return int(self.default_scale if s is None else s)

    def column_type(self, fdef):
        return Numeric(self.precision(fdef), self.scale(fdef), asdecimal=True)

    def marshmallow_field(self, fdef):
        return StrictDecimal(self.precision(fdef), self.scale(fdef), allow_none=True)

    def check(self, fdoc, ctx):
        p, s = fdoc.get("precision", 18), fdoc.get("scale", self.default_scale)
        if isinstance(p, int) and isinstance(s, int) and s >= p:
            return [("scale", f"must be smaller than precision ({p}) (got {s})")]
        return []

    def to_storage(self, fdef, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Decimal(str(value))
        return value

    def to_json(self, fdef, value):
        if value is None:
            return None
        if not isinstance(value, Decimal):
            value = Decimal(str(value))
        value = value.quantize(Decimal(1).scaleb(-self.scale(fdef)))
        return int(value) if self.scale(fdef) == 0 else float(value)

    def json_converter(self, fdef):
        if type(self).to_json is not _NumberBase.to_json:   # a subclass with its own to_json
            return super().json_converter(fdef)
        quantum, whole = Decimal(1).scaleb(-self.scale(fdef)), self.scale(fdef) == 0

        def conv(value):   # to_json for a value that is not None, the scale read once
            if not isinstance(value, Decimal):
                value = Decimal(str(value))
            value = value.quantize(quantum)
            return int(value) if whole else float(value)
        return conv


@register_field_type
class NumberType(_NumberBase):
    name, label = "number", "Number"


@register_field_type
class CurrencyType(_NumberBase):
    name, label, widget = "currency", "Currency", "widgets/currency.html"
    options_schema = dict(_PS, currency={"type": "string", "pattern": r"^[A-Z]{3}$(?!\n)",
                                             "description": "a currency code of three capital letters, such as EUR"})


@register_field_type
class PercentType(_NumberBase):
    name, label, widget = "percent", "Percent", "widgets/percent.html"


class StrictInteger(mf.Integer):
    def _deserialize(self, value, attr, data, **kw):
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        if isinstance(value, (float, Decimal)) and (not value.is_finite() if isinstance(value, Decimal)
                                                    else value != value) or \
                isinstance(value, (float, Decimal)) and value != int(value):
            raise ValidationError("Not a valid integer.")
        num = super()._deserialize(value, attr, data, **kw)
        if not -_INT_MAX <= num <= _INT_MAX:
            raise ValidationError("Integer is out of range.")
        return num


@register_field_type
class IntegerType(FieldType):
    name, label = "integer", "Integer"
    formula_type = "number"
    family = "number"
    default_scale = 0          # whole numbers
    widget = "widgets/number.html"
    openapi = {"type": "integer"}

    def column_type(self, fdef):
        return BigInteger()

    def marshmallow_field(self, fdef):
        return StrictInteger(allow_none=True)

    def to_json(self, fdef, value):
        return None if value is None else int(value)
