"""List queries: filters, sorting, keyset (cursor) pagination, projection.

Filters are either simple ``field`` / ``field__op`` parameters or a compiled SQL
expression (the ``where=`` formula plugs in through ``where_sql``). Rows are
ordered by the requested keys then ``id``; NULL sorts as the smallest value on
both databases, so cursors built from the last row are stable under inserts.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
import re
from decimal import Decimal

from marshmallow import ValidationError
from sqlalchemy import and_, false, literal, or_, true

from engine.errors import BadRequest, RecordValidationError
from engine.metadata.checks import suggest
from engine.metadata.model import SYSTEM_FIELDS
from engine.metadata.system_fields import SYSTEM_FILTER_TYPES as SYSTEM_TYPES

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull", "startswith")


def _bad_value(key, message):
    # A validation error like a field error on write (the API contract); the code says it is a filter.
    return RecordValidationError({key: [message]}, f"Invalid value for filter '{key}': {message}",
                                 code="records.E060")


def _parse_value(rt, name, raw, key):
    """Turn a query-string value into a storage value for field ``name`` (parameter ``key``)."""
    if name in SYSTEM_TYPES:
        kind = SYSTEM_TYPES[name]
        if kind == "datetime":
            return _parse_datetime(raw, key)
        if kind == "integer":
            if not _INTEGER.fullmatch(raw):
                raise _bad_value(key, f"Not a valid integer: '{raw[:50]}'.")
            return int(raw)
        return raw if raw != "" else None   # blank, as for text fields: stored as NULL
    fdef = rt.odef.field(name)
    ftype = rt.ftypes[name]
    if ftype.family == "boolean":
        low = raw.lower()
        if low not in ("true", "false", "1", "0"):
            raise _bad_value(key, "Not a valid boolean (true or false).")
        return low in ("true", "1")
    cache = rt.filter_fields   # per metadata version, built once
    mfield = cache.get(name)
    if mfield is None:
        mfield = ftype.marshmallow_field(fdef)
        mfield.validators = []  # filtering for a value need not be a valid choice
        cache[name] = mfield
    try:
        value = mfield.deserialize(raw)
    except ValidationError as exc:
        msgs = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
        raise _bad_value(key, " ".join(str(m) for m in msgs)) from None
    return ftype.to_storage(fdef, value) if ftype.family != "multi" else value


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")   # ASCII digits only; always within 64 bits


def _parse_datetime(raw, key):
    try:
        value = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        value = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        # Binding converts to UTC; near year 1 or 9999 that conversion overflows.
        return value.astimezone(_dt.timezone.utc)
    except (ValueError, OverflowError):
        raise _bad_value(key, f"Not a valid datetime: '{raw[:50]}' (ISO 8601, between years 1 and "
                         "9999 in UTC).") from None


def filterable_column(rt, name, computed=None):
    if name in SYSTEM_FIELDS:
        return rt.table.c[name]
    fdef = rt.odef.field(name)
    if fdef is None:
        names = list(SYSTEM_FIELDS) + [f.api_name for f in rt.odef.fields]
        raise BadRequest("records.E010", f"Unknown field '{name}' on '{rt.name}'{suggest(name, names)}.",
                         fields={name: ["unknown field"]})
    if not fdef.column:
        expr = computed(name) if computed is not None else None
        return expr if expr is not None else _not_filterable(rt, name)
    return rt.table.c[fdef.column]


def _not_filterable(rt, name):
    raise BadRequest("records.E011", f"Field '{name}' is computed and cannot be filtered or sorted "
                     "with simple parameters; use where=.", fields={name: ["not filterable"]})


# Operators that make sense per field family (others: all of OPS).
_FAMILY_OPS = {"boolean": ("eq", "ne", "in", "isnull"), "multi": ("isnull",)}
MAX_IN_VALUES = 1000


def build_filters(rt, params):
    """Build SQL conditions from ``{"amount__gte": "10", "stage": "Won"}``.

    Raises BadRequest naming the parameter for an unknown field or operator, an operator the
    field's type cannot use, or a value that does not fit the field.
    """
    conds = []
    for key, raw in params.items():
        name, _, op = key.partition("__")
        op = op or "eq"
        if op not in OPS:
            raise BadRequest("records.E012", f"Unknown filter operator '{op}' in '{key}'. Known: "
                             f"{', '.join(OPS)}.", fields={key: ["unknown operator"]})
        col = filterable_column(rt, name)
        family = rt.ftypes[name].family if name not in SYSTEM_TYPES else None
        if op not in _FAMILY_OPS.get(family, OPS):
            raise _unsupported_op(rt, name, key, op, family)
        if op == "isnull":
            low = raw.lower()
            if low not in ("true", "false", "1", "0"):
                raise BadRequest("records.E061", f"Filter '{key}' must be true or false (got '{raw[:50]}').",
                                 fields={key: ["must be true or false"]})
            conds.append(col.is_(None) if low in ("true", "1") else col.is_not(None))
            continue
        if op == "in":
            raws = [v for v in raw.split(",") if v != ""]
            if len(raws) > MAX_IN_VALUES:
                raise BadRequest("records.E063", f"Filter '{key}' takes at most {MAX_IN_VALUES} values (got "
                                 f"{len(raws)}); split the query or use where=.", fields={key: ["too many values"]})
            values = [_parse_value(rt, name, v, key) for v in raws]
            conds.append(col.in_(values) if values else false())
            continue
        value = _parse_value(rt, name, raw, key)
        if value is None and op not in ("eq", "ne"):   # a blank text is stored as NULL
            raise BadRequest("records.E064", f"Filter '{key}' needs a value; to find records where "
                             f"'{name}' is blank use {name}__isnull=true.", fields={key: ["needs a value"]})
        if op == "startswith":
            if not isinstance(value, str):
                raise BadRequest("records.E013", f"'startswith' needs a text field ('{name}').")
            conds.append(col.startswith(value, autoescape=True))
        elif op == "eq":
            conds.append(col.is_(None) if value is None else col == value)
        elif op == "ne":
            conds.append(col.is_not(None) if value is None else or_(col.is_(None), col != value))
        else:
            conds.append({"gt": col > value, "gte": col >= value, "lt": col < value,
                          "lte": col <= value}[op])
    return conds


def _unsupported_op(rt, name, key, op, family):
    ftype = rt.ftypes[name]
    hint = {"multi": f" (to find records with a value use where=INCLUDES({name}, 'value'))"}.get(family, "")
    return BadRequest("records.E062", f"Filter '{key}': a {ftype.name} field cannot be filtered with "
                      f"'{op}'; use {', '.join(_FAMILY_OPS[family])}{hint}.", fields={key: ["unsupported operator"]})


def parse_order(rt, order_by, computed=None):
    """Parse ``-amount,name`` into ``[(name, column, descending)]`` ending with ``id``."""
    keys = []
    for part in (order_by or "").split(","):
        part = part.strip()
        if not part:
            continue
        desc = part.startswith("-")
        name = part.lstrip("+-")
        fdef = rt.odef.field(name)
        if fdef is not None and not rt.ftypes[name].sortable:
            raise BadRequest("records.E014", f"Field '{name}' cannot be sorted.", fields={name: ["not sortable"]})
        if name == "id":
            keys.append(("id", rt.table.c.id, desc))
            break
        keys.append((name, filterable_column(rt, name, computed), desc))
    if not keys or keys[-1][0] != "id":
        last_desc = keys[-1][2] if keys else False
        keys.append(("id", rt.table.c.id, last_desc))
    if len(keys) > 6:
        raise BadRequest("records.E015", "Sort by at most 5 fields.")
    return keys


def order_clauses(keys):
    """ORDER BY with NULL as the smallest value; plain ASC/DESC on columns that cannot be NULL
    (``id``, timestamps), so PostgreSQL can walk their index and stop at the page size."""
    out = []
    for _n, col, desc in keys:
        if getattr(col, "nullable", True) is False:
            out.append(col.desc() if desc else col.asc())
        else:
            out.append(col.desc().nulls_last() if desc else col.asc().nulls_first())
    return out


def keyset_condition(keys, values):
    """Rows strictly after the row whose sort values are ``values`` (decoded from a cursor).

    Raises BadRequest (records.E016) when a value does not fit its sort key's type: cursors are
    opaque but not signed, so a forged one must fail here and not in the database.
    """
    cond = None
    for (name, col, desc), v in reversed(list(zip(keys, values))):
        if not _fits(v, col):
            raise _bad_cursor()
        if v is None:
            after = false() if desc else col.is_not(None)
            equal = col.is_(None)
        else:
            if isinstance(v, bool):   # SQLAlchemy refuses col < True; a bound literal is fine
                v = literal(v, type_=col.type)
            after = or_(col < v, col.is_(None)) if desc else col > v
            equal = col == v
        cond = after if cond is None else or_(after, and_(equal, cond))
    return cond if cond is not None else true()


def _fits(value, col):
    if value is None:
        return True
    try:
        expected = col.type.python_type
    except NotImplementedError:   # an untyped expression: any scalar _dec accepts
        return True
    if expected is object:
        return True
    if expected in (int, float, Decimal):  # SQLite may hand back any number type for these
        return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    if expected is _dt.date:
        return isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)
    return isinstance(value, expected)


def _enc(v):
    if isinstance(v, Decimal):
        return {"n": str(v)}
    if isinstance(v, _dt.datetime):
        return {"t": v.isoformat()}
    if isinstance(v, _dt.date):
        return {"d": v.isoformat()}
    return v


_INT64 = 2 ** 63 - 1


def _dec(v):
    """Decode one cursor value; ValueError unless it is one ``_enc`` can produce."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        if "\x00" in v:
            raise ValueError("NUL in a cursor value")
        v.encode("utf-8")   # lone surrogates raise UnicodeEncodeError (a ValueError)
        return v
    if isinstance(v, int):
        if not -_INT64 <= v <= _INT64:
            raise ValueError("integer out of range")
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("not a finite number")
        return v
    if isinstance(v, dict) and len(v) == 1:
        (tag, raw), = v.items()
        if isinstance(raw, str):
            if tag == "n":
                num = Decimal(raw)
                # PostgreSQL's numeric limits; anything larger was never a sort value.
                if not num.is_finite() or not -16383 <= num.adjusted() <= 131071:
                    raise ValueError("not a storable number")
                return num
            if tag == "t":
                value = _dt.datetime.fromisoformat(raw)
                if value.tzinfo is not None:
                    value.astimezone(_dt.timezone.utc)   # OverflowError near years 1 and 9999
                return value
            if tag == "d":
                return _dt.date.fromisoformat(raw)
    raise ValueError("not a cursor value")


def fingerprint(*parts):
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def encode_cursor(values, fp):
    raw = json.dumps({"v": [_enc(v) for v in values], "f": fp}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor, fp, nkeys):
    """The sort values stored in ``cursor``; BadRequest (records.E016) when it is malformed,
    forged or was made for another query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        ok = (isinstance(data, dict) and data.get("f") == fp and isinstance(data.get("v"), list)
              and len(data["v"]) == nkeys)
        values = [_dec(v) for v in data["v"]] if ok else None
    except (ValueError, TypeError, ArithmeticError, RecursionError):
        ok = False
    if not ok:
        raise _bad_cursor()
    return values


def _bad_cursor():
    return BadRequest("records.E016", "Invalid cursor: it is malformed or was made for another "
                      "sort or filter; start again without cursor.", fields={"cursor": ["invalid"]})
