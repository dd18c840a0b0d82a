"""Record validation errors that name the field label and the record (rows counted from 1)."""
from __future__ import annotations

from engine.errors import RecordValidationError

SYSTEM_LABELS = {"name": "Name", "owner_id": "Owner", "_record": None}


def _label(rt, key, messages=()):
    if key in SYSTEM_LABELS:
        return SYSTEM_LABELS[key]
    fdef = rt.odef.field(key)
    if fdef is None or any(m.startswith("Unknown field") for m in messages):
        return key   # unknown to the writer (e.g. hidden from them): named as sent, its label not revealed
    return fdef.label


def _describe(rt, errors):
    parts = []
    for key, messages in errors.items():
        label = _label(rt, key, messages)
        text = " ".join(messages)
        parts.append(f"{label}: {text}" if label else text)
    return "; ".join(parts)


def _subject(rt, record):
    name = (record or {}).get("name")
    return f"{rt.odef.label} '{name}'" if name else f"The {rt.odef.label}" if record and record.get("id") \
        else f"The new {rt.odef.label}"


def record_errors(rt, errors, record=None):
    """One record's errors: "Deal 'Acme renewal' was not saved: Amount: must not be negative."."""
    return RecordValidationError(errors, message=f"{_subject(rt, record)} was not saved: {_describe(rt, errors)}")


def row_errors(rt, contexts, single):
    """The errors of a (bulk) create; ``fields`` keys are ``records[i].field`` (JSON index)."""
    bad = [(i, c) for i, c in enumerate(contexts) if c.errors]
    if single:
        return record_errors(rt, bad[0][1].errors, bad[0][1].sent)
    flat = {}
    for i, ctx in bad:
        for k, v in ctx.errors.items():
            flat[f"records[{i}].{k}"] = v
    first, ctx = bad[0]
    return RecordValidationError(flat, message=f"{len(bad)} of {len(contexts)} {rt.odef.plural_label} are "
                                 f"invalid; nothing was saved. Row {first + 1}: {_describe(rt, ctx.errors)}")
