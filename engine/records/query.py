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
from decimal import Decimal

from marshmallow import ValidationError
from sqlalchemy import and_, false, or_, true

from engine.errors import BadRequest, RecordValidationError
from engine.metadata.checks import suggest
from engine.metadata.model import SYSTEM_FIELDS

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull", "startswith")
from engine.metadata.system_fields import SYSTEM_FILTER_TYPES as SYSTEM_TYPES


def _parse_value(rt, name, raw):
    """Turn a query-string value into a storage value for field ``name``."""
    if name in SYSTEM_TYPES:
        kind = SYSTEM_TYPES[name]
        try:
            if kind == "datetime":
                v = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
                return v if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc)
            if kind == "integer":
                return int(raw)
        except ValueError:
            raise RecordValidationError({name: [f"Not a valid {kind}: '{raw[:50]}'."]}) from None
        return raw
    fdef = rt.odef.field(name)
    ftype = rt.ftypes[name]
    if ftype.family == "boolean":
        low = raw.lower()
        if low not in ("true", "false", "1", "0"):
            raise RecordValidationError({name: ["Not a valid boolean (true or false)."]})
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
        raise RecordValidationError({name: [str(m) for m in msgs]}) from None
    return ftype.to_storage(fdef, value) if ftype.family != "multi" else value


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


def build_filters(rt, params):
    """Build SQL conditions from ``{"amount__gte": "10", "stage": "Won"}``."""
    conds = []
    for key, raw in params.items():
        name, _, op = key.partition("__")
        op = op or "eq"
        if op not in OPS:
            raise BadRequest("records.E012", f"Unknown filter operator '{op}' in '{key}'. Known: "
                             f"{', '.join(OPS)}.", fields={key: ["unknown operator"]})
        col = filterable_column(rt, name)
        if op == "isnull":
            conds.append(col.is_(None) if raw.lower() in ("true", "1") else col.is_not(None))
            continue
        if op == "in":
            values = [_parse_value(rt, name, v) for v in raw.split(",") if v != ""]
            conds.append(col.in_(values) if values else false())
            continue
        value = _parse_value(rt, name, raw)
        if op == "startswith":
            if not isinstance(value, str):
                raise BadRequest("records.E013", f"'startswith' needs a text field ('{name}').")
            conds.append(col.startswith(value, autoescape=True))
        elif op == "eq":
            conds.append(col.is_(None) if value is None else col == value)
        elif op == "ne":
            conds.append(or_(col.is_(None), col != value))
        else:
            conds.append({"gt": col > value, "gte": col >= value, "lt": col < value,
                          "lte": col <= value}[op])
    return conds


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
    return [(col.desc().nulls_last() if desc else col.asc().nulls_first()) for _n, col, desc in keys]


def keyset_condition(keys, values):
    """Rows strictly after the row whose sort values are ``values``."""
    cond = None
    for (name, col, desc), v in reversed(list(zip(keys, values))):
        if v is None:
            after = false() if desc else col.is_not(None)
            equal = col.is_(None)
        else:
            after = or_(col < v, col.is_(None)) if desc else col > v
            equal = col == v
        cond = after if cond is None else or_(after, and_(equal, cond))
    return cond if cond is not None else true()


def _enc(v):
    if isinstance(v, Decimal):
        return {"n": str(v)}
    if isinstance(v, _dt.datetime):
        return {"t": v.isoformat()}
    if isinstance(v, _dt.date):
        return {"d": v.isoformat()}
    if isinstance(v, list):
        return {"l": v}
    return v


def _dec(v):
    if isinstance(v, dict):
        if "n" in v:
            return Decimal(v["n"])
        if "t" in v:
            return _dt.datetime.fromisoformat(v["t"])
        if "d" in v:
            return _dt.date.fromisoformat(v["d"])
        if "l" in v:
            return v["l"]
    return v


def fingerprint(*parts):
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def encode_cursor(values, fp):
    raw = json.dumps({"v": [_enc(v) for v in values], "f": fp}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor, fp, nkeys):
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        values = [_dec(v) for v in data["v"]]
        ok = data.get("f") == fp and len(values) == nkeys
    except (ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok:
        raise BadRequest("records.E016", "Invalid cursor: it is malformed or was made for another "
                         "sort or filter; start again without cursor.", fields={"cursor": ["invalid"]})
    return values
