"""Save-time checks of every formula in the metadata: type-check formula fields, defaults,
validation rules, list-view filters and roll-up filters; refuse formula cycles and the
deletion of fields (or objects) that formulas use. Also the ``FieldMaps`` that tell a
formula what an object's fields (and related objects' fields) are."""
from __future__ import annotations

from engine.formula import FormulaError, compile_formula
from engine.metadata import checks
from engine.metadata.field_types import field_types

from .resolver import SYSTEM_FORMULA_TYPES

MAX_HOPS = 5
USER_FIELDS = {"id": "text", "username": "text", "name": "text", "is_admin": "boolean", "locale": "text"}


class FieldMaps:
    """Builds ``fields`` dicts for ``compile_formula`` over a set of object documents.

    Formula fields are typed by compiling them (dependencies first); relationship
    names map to the related object's map, shared, up to five hops.
    """

    def __init__(self, docs):
        self.docs = docs
        self.formula_types = {}       # (object, field) -> return type
        self._maps = {}
        self._compiling = []

    def formula_type(self, obj, fdoc):
        key = (obj, fdoc["api_name"])
        if key in self.formula_types:
            return self.formula_types[key]
        if key in self._compiling:
            cycle = " -> ".join(f"{o}.{f}" for o, f in self._compiling[self._compiling.index(key):] + [key])
            raise CycleError(f"formula fields refer to each other in a cycle: {cycle}", key)
        self._compiling.append(key)
        try:
            compiled = compile_formula(fdoc["formula"], self.fields(obj), return_type=_declared(fdoc),
                                       blank_as_zero=bool(fdoc.get("blank_as_zero")))
        finally:
            self._compiling.pop()
        rtype = compiled.return_type or "text"
        self.formula_types[key] = rtype
        return rtype

    def fields(self, obj, depth=0):
        key = (obj, depth)
        if key in self._maps:
            return self._maps[key]
        if depth:   # type obj's formulas at depth 0 first: typing one here would see it as its own cycle
            self.fields(obj)
        out = dict(SYSTEM_FORMULA_TYPES)
        self._maps[key] = out
        doc = self.docs.get(obj) or {}
        formulas = []
        for fdoc in doc.get("fields", []):
            if not isinstance(fdoc, dict) or fdoc.get("type") not in field_types:
                continue
            ftype = field_types.get(fdoc["type"])
            if ftype.computed:
                formulas.append(fdoc)
            elif ftype.family == "lookup" and fdoc.get("target") in self.docs and depth < MAX_HOPS:
                out[fdoc["api_name"]] = self.fields(fdoc["target"], depth + 1)
            else:
                out[fdoc["api_name"]] = ftype.formula_type
        if depth == 0:
            out["$user"] = dict(USER_FIELDS)
        for fdoc in _formula_order(obj, formulas):
            try:
                out[fdoc["api_name"]] = self.formula_type(obj, fdoc)
            except CycleError:
                raise
            except FormulaError:
                continue
        return out


def _formula_order(obj, formulas):
    """Formula fields in dependency order; a cycle raises CycleError naming it."""
    from engine.formula.parser import parse

    by_name = {f["api_name"]: f for f in formulas}
    deps = {}
    for f in formulas:
        try:
            deps[f["api_name"]] = {h for h in _heads(parse(f["formula"])) if h in by_name}
        except FormulaError:
            deps[f["api_name"]] = set()
    order, state = [], {}

    def visit(name, stack):
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = stack[stack.index(name):] + [name]
            raise CycleError("formula fields refer to each other in a cycle: "
                             + " -> ".join(f"{obj}.{n}" for n in cycle), (obj, name))
        state[name] = "active"
        for d in sorted(deps[name]):
            visit(d, stack + [name])
        state[name] = "done"
        order.append(by_name[name])

    for name in by_name:
        visit(name, [])
    return order


def _heads(node):
    if node.kind == "path":
        yield node.value[0]
    for a in node.args:
        yield from _heads(a)


class CycleError(FormulaError):
    def __init__(self, message, key):
        super().__init__(message, code="formula.E140")
        self.key = key


def _is(fdoc, capability):
    """Whether the field document's type has a capability (``computed``, ``summarises``, …)."""
    kind = fdoc.get("type") if isinstance(fdoc, dict) else None
    return kind in field_types and bool(getattr(field_types.get(kind), capability))


def _declared(fdoc):
    """A formula field's ``return_type`` (a formula type or a field type: the compiler maps it)."""
    return fdoc.get("return_type")


def _fmt(path, exc):
    return (path, exc.message)



def check_formulas(doc, ctx):
    """Compile every formula of an object document; report errors with line and column."""
    docs = dict(ctx.get("objects", {}))
    docs[doc["api_name"]] = doc
    maps = FieldMaps(docs)
    obj = doc["api_name"]
    prefix = f"objects.{obj}"
    problems = []
    try:
        fields = maps.fields(obj)
    except CycleError as exc:
        return [(f"{prefix}.fields.{exc.key[1]}.formula", exc.message)]
    for fdoc in doc.get("fields", []):
        path = f"{prefix}.fields.{fdoc['api_name']}"
        ftype = field_types.get(fdoc["type"])
        if ftype.computed:
            try:
                maps.formula_type(obj, fdoc)
            except FormulaError as exc:
                problems.append(_fmt(f"{path}.formula", exc))
        if fdoc.get("default") is not None and ftype.writable:
            want = ftype.formula_type if ftype.formula_type != "multi" else None
            if want is None:
                problems.append((f"{path}.default", f"a {fdoc['type']} field cannot have a default formula"))
                continue
            try:
                compile_formula(fdoc["default"], fields, return_type=want)
            except FormulaError as exc:
                problems.append(_fmt(f"{path}.default", exc))
        if ftype.summarises:
            problems += _check_rollup(doc, fdoc, docs, maps, path)
    for i, rule in enumerate(doc.get("validation_rules", [])):
        try:
            compile_formula(rule["condition"], fields, return_type="boolean")
        except FormulaError as exc:
            problems.append(_fmt(f"{prefix}.validation_rules[{i}].condition", exc))
    for i, view in enumerate(doc.get("list_views", [])):
        if view.get("where"):
            try:
                compile_formula(view["where"], fields, return_type="boolean")
            except FormulaError as exc:
                problems.append(_fmt(f"{prefix}.list_views[{i}].where", exc))
    return problems


def _check_rollup(doc, fdoc, docs, maps, path):
    summary = fdoc["summary"]
    child = docs.get(summary["object"])
    if child is None:
        return [(f"{path}.summary.object", f"unknown object '{summary['object']}'"
                 f"{checks.suggest(summary['object'], docs)}")]
    links = [f for f in child.get("fields", []) if _is(f, "cascade")
             and f.get("target") == doc["api_name"]]
    if summary.get("relationship_field"):
        links = [f for f in links if f["api_name"] == summary["relationship_field"]]
    if not links:
        return [(f"{path}.summary.object", f"'{summary['object']}' has no master-detail field pointing to "
                 f"'{doc['api_name']}'")]
    problems = []
    if summary["function"] != "count":
        target = next((f for f in child.get("fields", []) if f.get("api_name") == summary.get("field")), None)
        if target is None:
            problems.append((f"{path}.summary.field", f"{summary['function']} needs a number field of "
                             f"'{summary['object']}'"))
        elif not _is(target, "is_numeric") or _is(target, "summarises"):
            problems.append((f"{path}.summary.field", f"'{target['api_name']}' is not a number field"))
    if summary.get("filter"):
        try:
            compile_formula(summary["filter"], maps.fields(summary["object"]), return_type="boolean")
        except FormulaError as exc:
            problems.append(_fmt(f"{path}.summary.filter", exc))
    return problems


def _formula_sources(doc):
    """Yield (description, source) for every formula in an object document."""
    obj = doc["api_name"]
    for fdoc in doc.get("fields", []):
        if _is(fdoc, "computed"):
            yield f"formula field {obj}.{fdoc['api_name']}", fdoc["formula"], obj
        if fdoc.get("default"):
            yield f"default of {obj}.{fdoc['api_name']}", fdoc["default"], obj
        if _is(fdoc, "summarises") and fdoc["summary"].get("filter"):
            yield f"roll-up filter of {obj}.{fdoc['api_name']}", fdoc["summary"]["filter"], fdoc["summary"]["object"]
    for rule in doc.get("validation_rules", []):
        yield f"validation rule {obj}.{rule['name']}", rule["condition"], obj
    for view in doc.get("list_views", []):
        if view.get("where"):
            yield f"list view {obj}.{view['name']}", view["where"], obj


def check_formula_dependants(conn, old_doc, new_doc, docs_after):
    """Refuse deleting a field (or an object) that formulas, rules or filters use."""
    if old_doc is None:
        return []
    name = old_doc["api_name"]
    old_fields = {f["api_name"] for f in old_doc.get("fields", [])}
    new_fields = {f["api_name"] for f in (new_doc or {}).get("fields", [])} if new_doc else set()
    removed = old_fields - new_fields
    if not removed and new_doc is not None:
        return []
    docs_before = dict(docs_after)
    docs_before[name] = old_doc
    maps = FieldMaps(docs_before)
    users = []
    for other, doc in sorted(docs_after.items()):
        for what, source, base in _formula_sources(doc):
            try:
                compiled = compile_formula(source, maps.fields(base))
            except FormulaError:
                continue
            for ref in compiled.references:
                if _path_hits(ref, base, name, removed, docs_before, whole_object=new_doc is None):
                    users.append(what)
                    break
    rollups = [f"roll-up {o}.{f['api_name']}" for o, d in docs_after.items() for f in d.get("fields", [])
               if _is(f, "summarises") and f["summary"]["object"] == name
               and (new_doc is None or f["summary"].get("field") in removed)]
    users += rollups
    if users:
        if new_doc is None:
            return [(f"objects.{name}", f"cannot delete '{name}': used by {', '.join(users)}")]
        return [(f"objects.{name}.fields.{sorted(removed)[0]}",
                 f"cannot delete {', '.join(repr(r) for r in sorted(removed))}: used by {', '.join(users)}; "
                 "change those first")]
    return []


def _path_hits(ref, base, obj, removed, docs, whole_object):
    parts = ref.split(".")
    current = base
    for i, part in enumerate(parts):
        if part.startswith("$"):
            return False
        if current == obj and (whole_object or part in removed) and (i > 0 or not whole_object):
            return True
        fdoc = next((f for f in (docs.get(current) or {}).get("fields", []) if f.get("api_name") == part), None)
        if fdoc is None or not fdoc.get("target"):
            return False
        current = fdoc["target"]
        if whole_object and current == obj:
            return True
    return False
