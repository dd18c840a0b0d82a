"""Segments: saved boolean formulas over an object, with live membership, and ``IN_SEGMENT``.

Members are a list through the query seam (``where=`` the criteria, as the viewer): always what
the viewer may see, with the list API's filters, sorting, cursor and ``with_total``.

``IN_SEGMENT('name')`` (and ``IN_SEGMENT('name', lookup)``) is a formula function whose SQL form
needs the segment's criteria at compile time. How it gets them: :func:`register_in_segment`
(called by :func:`engine.reports.install`) registers it once per process in the formula function
registry — briefly thawed, frozen again with the rest — marked ``reads_record`` so that the SQL
compiler never folds it into a constant. Its SQL form reads the segment from this subsystem's
table through the database of the :class:`~engine.records.resolver.SqlResolver` compiling the
formula (the resolver is the compiler's ``resolve``; it carries the reader, the viewer and the
table), so it holds no per-process state and works for every engine a process opens. The
criteria are compiled *for the viewer* (a hidden field is unknown to them) and placed inline —
on the same row for the one-argument form, as an ``EXISTS`` over the segment's object through
the lookup (with the viewer's visibility) for the two-argument form. A segment that names
itself, directly or through others, is refused. ``IN_SEGMENT`` has no Python form: it works in
filters, reports, list views and segments (the database), not in formula fields.
"""
from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.sql.elements import BindParameter

from engine.formula import FormulaError, compile_formula
from engine.formula.errors import FormulaRuntimeError, FormulaSQLUnsupported
from engine.records.field_security import reader_view
from engine.records.resolver import SqlResolver
from engine.records.visibility import visible

from .errors import ReportDefinitionError
from .tables import documents

MAX_SEGMENT_DEPTH = 5


def register_in_segment():
    """Register ``IN_SEGMENT`` in the formula function registry (once per process)."""
    from engine.formula.functions import functions, register_function

    if "IN_SEGMENT" in functions:
        return
    with functions.thawed():
        register_function("IN_SEGMENT", ("text", "text"), "boolean", _no_python, sql=_in_segment_sql,
                          min_args=1, handles_blank=True, reads_record=True, check=_literal_name,
                          family="reports", replace=False,
                          doc="TRUE when the record is in the segment: IN_SEGMENT('high_value'), or "
                              "IN_SEGMENT('high_value', account) for a related record (filters only).")


def _no_python(*_args):
    raise FormulaRuntimeError("IN_SEGMENT() works in filters, reports, list views and segments (in the "
                              "database), not in formula fields.", code="reports.E035")


def _literal_name(args):
    if not args or args[0].kind != "string":
        return 0, "IN_SEGMENT takes the segment's name as a text in quotes", "Write IN_SEGMENT('high_value')"
    return None


def _load(engine, name):
    with engine.connect().execution_options(tessera_readonly=True) as conn:
        row = conn.execute(select(documents).where(documents.c.kind == "segment", documents.c.name == name)).first()
    return row


def _in_segment_sql(S, name_sql, record_sql=None):
    resolver = S.resolve
    if not isinstance(resolver, SqlResolver):
        raise FormulaSQLUnsupported("IN_SEGMENT() can only be used in a filter, a report, a list view or a "
                                    "segment.", code="reports.E036")
    name = name_sql.value if isinstance(name_sql, BindParameter) else None
    reader, actor = resolver.service, resolver.actor
    row = _load(reader.engine, name) if isinstance(name, str) else None
    visible_to_actor = row is not None and (
        actor.is_admin or ((not row.private or row.owner_id == actor.user_id) and actor.plan.can(row.object, "read")))
    if not visible_to_actor:
        raise FormulaError(f"Unknown segment '{str(name)[:64]}'.", code="reports.E031")
    seen = getattr(resolver, "segments_seen", ())
    if name in seen or len(seen) >= MAX_SEGMENT_DEPTH:
        chain = " -> ".join(list(seen) + [name])
        raise FormulaError(f"Segments refer to each other in a cycle or too deeply: {chain}.", code="reports.E034")
    doc = json.loads(row.doc)
    target = reader.snapshot.get(row.object)
    if target is None:
        raise FormulaError(f"Segment '{name}' is over '{row.object}', which no longer exists.", code="reports.E037")
    try:
        compiled = compile_formula(doc["criteria"], reader_view(reader.snapshot, actor).fields_map(row.object),
                                   return_type="boolean")
    except FormulaError as exc:
        raise FormulaError(f"Segment '{name}' cannot be used here: its criteria: {exc.message}",
                           code="reports.E032") from None
    if record_sql is None:
        if target.name != resolver.rt.name:
            raise FormulaError(f"Segment '{name}' is over '{row.object}', not '{resolver.rt.name}': name the "
                               f"lookup to it, IN_SEGMENT('{name}', <lookup>).", code="reports.E033")
        inner = SqlResolver(reader, resolver.rt, actor, table=resolver.table, depth=resolver.depth)
        inner.segments_seen = tuple(seen) + (name,)
        return inner.compile(compiled)
    alias = target.table.alias()
    inner = SqlResolver(reader, target, actor, table=alias, depth=resolver.depth + 1)
    inner.segments_seen = tuple(seen) + (name,)
    conds = [alias.c.id == record_sql, alias.c.deleted_at.is_(None), inner.compile(compiled)]
    vis = visible(reader, target, actor, "read", table=alias, depth=resolver.depth + 1)
    if vis is not None:
        conds.append(vis)
    return select(alias.c.id).where(*conds).exists()


# -- documents -------------------------------------------------------------------------------------

def check_segment(services, doc, actor):
    """Semantic check of a segment document as ``actor``: the object exists for them and the
    criteria compile to SQL against the fields they may see (line and column)."""
    reader = services.records()
    problems = []
    rt = reader.snapshot.get(doc["object"])
    if rt is None or not actor.plan.can(doc["object"], "read"):
        from engine.metadata.checks import suggest
        names = [n for n in reader.snapshot.objects if actor.plan.can(n, "read")]
        problems.append(("object", f"unknown object '{doc['object']}'{suggest(doc['object'], names)}"))
        raise ReportDefinitionError(problems)
    try:
        probe = SqlResolver(reader, rt, actor)
        probe.segments_seen = (doc["name"],)
        compiled = compile_formula(doc["criteria"], reader_view(reader.snapshot, actor).fields_map(rt.name),
                                   return_type="boolean")
        probe.compile(compiled)
    except FormulaError as exc:
        raise ReportDefinitionError([("criteria", exc.message)], line=exc.line, column=exc.column,
                                    position=exc.position) from None


def members_where(doc, where=None):
    """The ``where=`` formula of a segment's members, with the caller's own ``where`` ANDed."""
    criteria = f"IN_SEGMENT('{doc['name']}')"
    return f"{criteria} && ({where})" if where else criteria


def check_in_segment_use(doc, ctx):
    """``MetadataHooks.checks``: ``IN_SEGMENT`` only where a formula filters in the database — not
    in formula fields, defaults or validation rules, which are evaluated in Python."""
    from engine.formula.errors import located
    from engine.formula.parser import parse

    obj = doc.get("api_name")
    sources = []
    for fdoc in doc.get("fields") or []:
        if isinstance(fdoc, dict):
            for key in ("formula", "default"):
                if isinstance(fdoc.get(key), str):
                    sources.append((f"objects.{obj}.fields.{fdoc.get('api_name')}.{key}", fdoc[key]))
    for i, rule in enumerate(doc.get("validation_rules") or []):
        if isinstance(rule, dict) and isinstance(rule.get("condition"), str):
            sources.append((f"objects.{obj}.validation_rules[{i}].condition", rule["condition"]))
    problems = []
    for path, source in sources:
        if "IN_SEGMENT" not in source.upper():
            continue
        try:
            tree = parse(source)
        except FormulaError:
            continue      # the formula checks report it
        stack = [tree]
        while stack:
            node = stack.pop()
            if node.kind == "call" and node.value == "IN_SEGMENT":
                err = located(FormulaError, "IN_SEGMENT() works in filters (reports, list views, where=, "
                              "segments), not in formula fields, defaults or validation rules", source, node.pos,
                              code="reports.E035")
                problems.append((path, err.message))
                break
            stack.extend(node.args)
    return problems
