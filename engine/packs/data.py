"""Sample data: CSV rows turned into records through the record service, in bulk.

The first column, ``_key``, names a row within its pack. A lookup cell holds the ``_key`` of the
target record — in this pack, or in the sample data of a pack this one depends on. A cell that
starts with ``=`` is a formula evaluated at install time (``=TODAY() - 12``), so that dates stay
fresh. Objects are loaded so that lookup targets come first; a lookup to a row loaded later (a
record pointing at its own object, or a cycle) is set by an update once every row exists.
"""
from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal, InvalidOperation

from engine.errors import EngineError, RecordValidationError
from engine.formula import FormulaError, compile_formula
from engine.metadata.field_types import field_types

from .source import Problem

TRUE, FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n"}
SYSTEM_COLUMNS = ("name",)
_ROW = re.compile(r"records\[(\d+)\]\.(.+)")
CHUNK = 2000


def check_table(table, fields, refs):
    """Problems of one CSV before anything is written: columns, numbers, dates, options, keys.
    ``fields``: api_name -> field document of the object; ``refs(target) -> set of _keys``."""
    problems = []
    for i, column in enumerate(table.header[1:], start=2):
        if column not in fields and column not in SYSTEM_COLUMNS:
            from engine.metadata.checks import suggest
            problems.append(Problem(table.file, 1, f"column {i} '{column}' is not a field of the object"
                                                   f"{suggest(column, list(fields) + list(SYSTEM_COLUMNS))}"))
    keys = {}
    for line, row in table.rows:
        key = row.get("_key", "")
        if not key:
            problems.append(Problem(table.file, line, "_key is empty; every row needs a key unique in the pack"))
        elif key in keys:
            problems.append(Problem(table.file, line, f"duplicate _key '{key}' (also on line {keys[key]})"))
        keys.setdefault(key, line)
        for column, text in row.items():
            fdoc = fields.get(column)
            if column == "_key" or fdoc is None or text == "":
                continue
            try:
                convert(fdoc, text, refs)
            except ValueError as exc:
                problems.append(Problem(table.file, line, f"{column}: {exc}"))
    return problems


def evaluate(source):
    """The value of an install-time formula (``=TODAY() - 12`` without the ``=``)."""
    try:
        value = compile_formula(source, {}).evaluate({})
    except FormulaError as exc:
        raise ValueError(f"formula '={source}': {exc.message}") from None
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def convert(fdoc, text, refs, keys=None):
    """A CSV cell as the JSON value the record service takes. ``keys``: (target, key) -> id, for
    lookups (without it, a lookup is only checked against ``refs``)."""
    ftype = field_types.get(fdoc["type"])
    if text.startswith("="):
        value = evaluate(text[1:])
        text = "" if value is None else (("true" if value else "false") if isinstance(value, bool) else str(value))
        if text == "":
            return None
    family = ftype.family
    if family == "lookup":
        target = fdoc.get("target")
        if text not in refs(target):
            raise ValueError(f"no {target} row with _key '{text}' in this pack or the packs it depends on")
        return keys.get((target, text)) if keys is not None else text
    if family == "number":
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise ValueError(f"'{text[:40]}' is not a number") from None
        return str(number)
    if family == "boolean":
        low = text.strip().lower()
        if low not in TRUE | FALSE:
            raise ValueError(f"'{text[:40]}' is not true or false")
        return low in TRUE
    if family == "multi":
        values = [v.strip() for v in text.split(";") if v.strip()]
        bad = [v for v in values if v not in [o.get("value") for o in fdoc.get("options") or []]]
        if bad:
            raise ValueError(f"'{bad[0]}' is not one of its options")
        return values
    if ftype.has_options and text not in [o.get("value") for o in fdoc.get("options") or []]:
        raise ValueError(f"'{text[:60]}' is not one of its options")
    if family == "date":
        try:
            _dt.date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"'{text[:40]}' is not a date (YYYY-MM-DD or a formula such as =TODAY() - 3)") \
                from None
    return text


def load_order(tables, docs):
    """Objects in an order where lookup targets come first (cycles broken by the deferred pass)."""
    order, seen = [], set()

    def visit(name, path=()):
        if name in seen or name in path:
            return
        for fdoc in docs[name].get("fields") or []:
            target = fdoc.get("target")
            if target and target in tables and target != name:
                visit(target, path + (name,))
        seen.add(name)
        order.append(name)

    for name in sorted(tables):
        visit(name)
    return order


def load_data(records, pack, actor, known):
    """Create the pack's sample records; return ``{("record", "obj/key"): {"id": ...}}``.
    ``records``: a record service; ``known``: (object, key) -> id of dependency packs' records."""
    docs = {name: dict(records.runtime(name).odef.doc) for name in pack.data}
    ids = dict(known)
    owned = {}
    deferred = []          # (object, key, {field: target key})
    order = load_order(pack.data, docs)
    position = {name: i for i, name in enumerate(order)}
    for name in order:
        table = pack.data[name]
        rt = records.runtime(name)
        fields = {f.api_name: dict(f.doc) for f in rt.odef.fields}
        payloads, lines = [], []
        for line, row in table.rows:
            payload, later = {}, {}
            for column, text in row.items():
                if column == "_key" or text == "":
                    continue
                fdoc = fields.get(column)
                if fdoc is None:
                    payload[column] = text
                    continue
                if field_types.get(fdoc["type"]).family == "lookup" and not text.startswith("="):
                    target = fdoc.get("target")
                    if (target, text) not in ids and target in position and position[target] >= position[name]:
                        later[column] = (target, text)
                        continue
                payload[column] = convert(fdoc, text, lambda t: _AnyKey(), ids)
            payloads.append(payload)
            lines.append((line, row["_key"], later))
        created = []
        for start in range(0, len(payloads), CHUNK):
            try:
                created += records.bulk_create(name, payloads[start:start + CHUNK], actor)
            except RecordValidationError as exc:
                raise _located(exc, table, lines, start) from None
        for (line, key, later), rec in zip(lines, created):
            ids[(name, key)] = rec["id"]
            owned[("record", f"{name}/{key}")] = {"id": rec["id"]}
            if later:
                deferred.append((name, key, later, line, table))
    for name, key, later, line, table in deferred:
        values = {column: ids.get(ref) for column, ref in later.items()}
        try:
            records.update(name, ids[(name, key)], values, actor)
        except EngineError as exc:
            raise RecordValidationError({}, message=f"{table.file}:{line}: {exc.message}",
                                        code="packs.E014") from None
    return owned


class _AnyKey:
    """Lookups were checked before; at load time every key resolves through ``ids``."""

    def __contains__(self, _key):
        return True


def _located(exc, table, lines, start):
    """The record service's ``records[i].field`` errors as ``file:line: field: message``."""
    out = []
    for key, messages in exc.fields.items():
        m = _ROW.fullmatch(key)
        if m:
            line = lines[start + int(m.group(1))][0]
            out.append(f"{table.file}:{line}: {m.group(2)}: {' '.join(messages)}")
        else:
            out.append(f"{table.file}: {key}: {' '.join(messages)}")
    if not out:
        out.append(f"{table.file}: {exc.message}")
    return RecordValidationError({"problems": out}, message="The sample data was refused; nothing was applied:\n"
                                 + "\n".join(out), code="packs.E014")
