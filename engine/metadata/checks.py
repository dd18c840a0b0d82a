"""Collect-all validation of object documents: JSON Schema first, then semantics.

``check_object(doc, ctx)`` returns a list of ``(path, message)`` problems; the path
is a JSON path such as ``objects.deal.fields[2].options[1].value``. Higher layers
(formulas) add their own checks: the metadata store runs the ``checks`` hook point the
composition root filled, after these built-in ones.
"""
from __future__ import annotations

import difflib
import json
import re
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import jsonschema
from referencing import Registry as RefRegistry
from referencing import Resource

from engine.metadata.field_types import field_types
from engine.metadata.model import SYSTEM_FIELDS, build_field_def

# Always fullmatch: "$" in a pattern also matches before a final newline.
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME = 40
# Every PostgreSQL table has these hidden columns; a field of that name cannot be created.
PG_SYSTEM_COLUMNS = {"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"}
ARCHIVE_PREFIX = "zz_"   # archived tables and columns are renamed zz_<name>_v<N>
# Names the REST API and the query string use for themselves ("user" is also the lookup target of
# the users). SQL words (case, order, group, select, ...) are fine: tables are prefixed and every
# identifier is quoted by SQLAlchemy on both databases (tests/metadata/test_sql_words.py).
API_RESERVED = {"where", "order_by", "limit", "cursor", "fields", "with_total", "deleted",
                "include_deleted", "purge", "q", "view", "restore", "approval", "shares",
                "history", "user", "me", "self", "new", "edit", "all", "true", "false", "null"}
SCHEMA_NAMES = ("object", "field", "validation_rule", "layout", "list_view")

def suggest(name, candidates):
    """Return " (did you mean 'x'?)" for the closest candidate, or ""."""
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@lru_cache(maxsize=None)
def load_schema(name):
    text = resources.files("engine.metadata").joinpath("schemas").joinpath(f"{name}.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=None)
def _ref_registry():
    reg = RefRegistry()
    for name in SCHEMA_NAMES:
        schema = load_schema(name)
        reg = reg.with_resource(schema["$id"], Resource.from_contents(schema))
    return reg


@lru_cache(maxsize=None)
def _validator(name):
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=_ref_registry())


def _field_validator(type_name):
    base = load_schema("field")
    ftype = field_types.get(type_name)
    schema = dict(base)
    schema["properties"] = dict(base["properties"], **ftype.options_schema)
    schema["additionalProperties"] = False
    schema.pop("$id", None)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _json_path(prefix, error_path):
    out = prefix
    for part in error_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_problems(validator, doc, prefix):
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        if list(err.absolute_path) == ["api_name"]:
            continue  # check_name reports api_name problems in plainer words
        message = err.message
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            allowed = sorted(err.schema.get("properties", {}))
            hint = suggest(extra[0], allowed) if extra else ""
            message = f"unknown key {', '.join(repr(e) for e in extra)}{hint}"
        elif err.validator == "type":
            message = f"must be of type {err.validator_value} (got {_shown(err.instance)[:60]})"
        elif err.validator == "enum":
            message = f"must be one of {', '.join(map(json.dumps, err.validator_value))} (got {_shown(err.instance)[:60]})"
        elif err.validator == "pattern":
            words = err.schema.get("description") or f"text matching {err.validator_value}"
            message = f"must be {words} (got {_shown(err.instance)[:60]})"
        elif err.validator in ("maxLength", "minLength", "maxItems", "minItems", "maximum", "minimum"):
            shown = _shown(err.instance)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            message = _bound_message(err, shown)
        problems.append((_json_path(prefix, err.absolute_path), message))
    return problems


def _shown(value):
    """A value as JSON in a message (a body read with Decimal numbers shows them as numbers)."""
    return json.dumps(value, default=lambda v: float(v) if isinstance(v, Decimal) else str(v))


def _bound_message(err, shown):
    v = err.validator_value
    return {
        "maxLength": f"must be at most {v} characters long",
        "minLength": f"must be at least {v} character{'s' if v != 1 else ''} long",
        "maxItems": f"must have at most {v} items",
        "minItems": f"must have at least {v} item{'s' if v != 1 else ''}",
        "maximum": f"must be at most {v} (got {shown})",
        "minimum": f"must be at least {v} (got {shown})",
    }[err.validator]


def _show(name):
    """A name as quoted in messages: control characters (a newline, a tab) made visible."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def check_name(name, path, what="api_name", *, allow_system=False):
    """Check an api_name's syntax; return problems.

    ``allow_system`` (object names): system field names and PostgreSQL's hidden column
    names are allowed, since they only clash as columns.
    """
    if not isinstance(name, str):
        return [(path, f"{what} must be a string")]
    if not name:
        return [(path, f"{what} must not be empty")]
    if len(name) > MAX_NAME:
        return [(path, f"{what} '{_show(name[:50])}' is longer than {MAX_NAME} characters")]
    if not NAME_RE.fullmatch(name):
        fixed = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
        hint = f" (try '{fixed}')" if fixed and NAME_RE.fullmatch(fixed) else ""
        return [(path, f"{what} '{_show(name)}' must be lowercase snake_case: a letter, then letters, digits "
                 f"or _{hint}")]
    if "__" in name or name.endswith("_"):
        return [(path, f"{what} '{name}' must not contain '__' or end with '_'")]
    if name.startswith(ARCHIVE_PREFIX):
        return [(path, f"{what} '{name}' must not start with '{ARCHIVE_PREFIX}': that prefix is reserved for "
                 "archived fields and objects")]
    if name in API_RESERVED:
        return [(path, f"{what} '{name}' is reserved by the API; choose another name")]
    if not allow_system and name in SYSTEM_FIELDS:
        return [(path, f"{what} '{name}' is a system field; every record has it already")]
    if not allow_system and name in PG_SYSTEM_COLUMNS:
        return [(path, f"{what} '{name}' is the name of a PostgreSQL system column; choose another name")]
    return []


def check_field(fdoc, prefix, ctx):
    """Check one field document."""
    if not isinstance(fdoc, dict):
        return [(prefix, "must be an object")]
    problems = check_name(fdoc.get("api_name"), f"{prefix}.api_name")
    tname = fdoc.get("type")
    if not isinstance(tname, str):
        return problems + [(f"{prefix}.type", "is required and must be a string naming a field type")]
    if tname not in field_types:
        return problems + [(f"{prefix}.type",
                            f"unknown field type '{tname}'{suggest(tname, field_types.keys())}. "
                            f"Known: {', '.join(field_types.keys())}")]
    ftype = field_types.get(tname)
    problems += _schema_problems(_field_validator(tname), fdoc, prefix)
    for key in ftype.required_keys:
        if key not in fdoc:
            problems.append((f"{prefix}.{key}", f"is required for a {tname} field"))
    if fdoc.get("unique") and not (ftype.stored and ftype.can_be_unique):
        problems.append((f"{prefix}.unique", f"a {tname} field cannot be unique"))
    if fdoc.get("required") and not ftype.writable:
        problems.append((f"{prefix}.required", f"a {tname} field is computed and cannot be required"))
    if "column" in fdoc:
        problems += check_name(fdoc["column"], f"{prefix}.column", "column")
    if not problems:
        problems += [(f"{prefix}.{p}", m) for p, m in ftype.check(fdoc, ctx)]
    if not problems and ftype.writable:
        problems += _check_constant_default(fdoc, ftype, prefix)
    return problems


_TEXT_LITERAL = re.compile(r"\s*(?:'((?:\\.|[^'\\])*)'|\"((?:\\.|[^\"\\])*)\")\s*", re.S)
_NUMBER_LITERAL = re.compile(r"\s*([-+]?)\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*")
_ESCAPED = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "t": "\t"}   # the formula language's escapes


def constant_default(source):
    """The value of a default formula that is a single text or number literal, else None.

    Metadata sits below the formula package, so this reads the two literal forms itself
    (the formula checks report any syntax error in the default).
    """
    if not isinstance(source, str):
        return None
    m = _TEXT_LITERAL.fullmatch(source)
    if m:
        body = m.group(1) if m.group(1) is not None else m.group(2)
        parts = re.split(r"(\\.)", body)
        if any(p.startswith("\\") and p[1:] not in _ESCAPED for p in parts):
            return None
        return "".join(_ESCAPED[p[1:]] if p.startswith("\\") else p for p in parts)
    m = _NUMBER_LITERAL.fullmatch(source)
    if m:
        return Decimal(m.group(1) + m.group(2))
    return None


def _check_constant_default(fdoc, ftype, prefix):
    """A constant default must be a value the field accepts: a text that fits max_length, one
    of the picklist's options, a number that fits precision and scale. (The database would
    refuse it, or keep it silently, on every record created without that field.)"""
    from marshmallow import ValidationError

    value = constant_default(fdoc.get("default"))
    kind = "text" if isinstance(value, str) else "number"
    if value is None or value == "" or ftype.formula_type != kind:
        return []   # not a constant, blank, or of the wrong type (the formula checks report that)
    mfield = ftype.marshmallow_field(build_field_def(fdoc))
    try:
        mfield.deserialize(value)
    except ValidationError as exc:
        msgs = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
        shown = _show(value if len(value) <= 40 else value[:37] + "...") if isinstance(value, str) else value
        return [(f"{prefix}.default", f"the default '{shown}' is not a valid value for this field: "
                 f"{' '.join(map(str, msgs))} Change the default or the field.")]
    return []


def check_object(doc, ctx, extra_checks=()):
    """Collect every problem of an object document.

    ``ctx``: ``objects`` (dict of other existing object api_name -> doc). ``extra_checks``:
    ``fn(doc, ctx) -> [(path, message)]`` run when the built-in checks found nothing.
    """
    if not isinstance(doc, dict):
        return [("object", "must be a JSON object")]
    name = doc.get("api_name")
    name_problems = check_name(name, "object.api_name", allow_system=True) if name is not None else []
    prefix = "object" if name is None or name_problems else f"objects.{name}"
    problems = _schema_problems(_validator("object"), doc, prefix)
    problems += check_name(name, f"{prefix}.api_name", allow_system=True) if name is not None else [
        ("object.api_name", "is required")]
    ctx = dict(ctx, self=name, suggest=suggest)
    seen = {}
    fields = doc.get("fields") if isinstance(doc.get("fields"), list) else []
    for i, fdoc in enumerate(fields):
        fname = fdoc.get("api_name") if isinstance(fdoc, dict) else None
        named = isinstance(fname, str) and NAME_RE.fullmatch(fname) and len(fname) <= MAX_NAME
        fprefix = f"{prefix}.fields.{fname}" if named else f"{prefix}.fields[{i}]"
        problems += check_field(fdoc, fprefix, ctx)
        if isinstance(fname, str):
            if fname in seen:
                problems.append((f"{fprefix}.api_name", f"duplicate field '{fname}' (also fields[{seen[fname]}])"))
            seen.setdefault(fname, i)
    problems += _check_columns(fields, prefix)
    names = set(seen) | set(SYSTEM_FIELDS)
    problems += _check_named_list(doc, "validation_rules", prefix)
    for i, rule in enumerate(doc.get("validation_rules") or []):
        if isinstance(rule, dict) and rule.get("field") and rule["field"] not in names:
            problems.append((f"{prefix}.validation_rules[{i}].field",
                             f"unknown field '{rule['field']}'{suggest(rule['field'], names)}"))
    for kind, key in (("layouts", "sections"), ("list_views", "columns")):
        problems += _check_named_list(doc, kind, prefix)
        for i, item in enumerate(doc.get(kind) or []):
            if not isinstance(item, dict):
                continue
            refs = []
            if key == "sections":
                for s in item.get("sections") or []:
                    refs += s.get("fields", []) if isinstance(s, dict) else []
            else:
                refs = item.get("columns") or []
            for ref in refs:
                if isinstance(ref, str) and ref not in names:
                    problems.append((f"{prefix}.{kind}[{i}]",
                                     f"unknown field '{ref}'{suggest(ref, names)}"))
    if not problems:
        for check in extra_checks:
            problems += check(doc, ctx)
    return problems


def _check_columns(fields, prefix):
    """Two stored fields may not share a physical column (``column`` defaults to the api_name)."""
    problems, owners = [], {}
    for fdoc in fields:
        if not isinstance(fdoc, dict) or fdoc.get("type") not in field_types:
            continue
        name, column = fdoc.get("api_name"), fdoc.get("column") or fdoc.get("api_name")
        if not field_types.get(fdoc["type"]).stored or not isinstance(name, str) or not isinstance(column, str):
            continue
        if column in owners and owners[column] != name:
            problems.append((f"{prefix}.fields.{_show(name)}.column",
                             f"column '{_show(column)}' is already used by field '{owners[column]}'; "
                             "choose another column"))
        owners.setdefault(column, name)
    return problems


def _check_named_list(doc, kind, prefix):
    problems, seen = [], set()
    for i, item in enumerate(doc.get(kind) or []):
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            if item["name"] in seen:
                problems.append((f"{prefix}.{kind}[{i}].name", f"duplicate name '{item['name']}'"))
            seen.add(item["name"])
    return problems
