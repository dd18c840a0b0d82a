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

    Relationship names map to the related object's map, shared, up to five hops. Formula
    fields are typed by compiling them, all the formula fields an object can reach in one
    order over every object (a formula reading ``account.g`` is typed after ``account.g``, however
    many lookups apart), so a map is never read half-built; a cycle raises :class:`CycleError`.
    """

    def __init__(self, docs):
        self.docs = docs
        self.formula_types = {}       # (object, field) -> return type
        self._maps = {}               # (object, depth) -> map (shared between maps)
        self._typed_from = set()      # objects whose reachable formula fields are typed
        self._failed = set()          # (object, field) whose formula does not compile

    def fields(self, obj, depth=0):
        out = self._structure(obj, depth)
        if obj not in self._typed_from:
            self._typed_from.add(obj)
            self._type_reachable(obj)
        return out

    def formula_type(self, obj, fdoc):
        """The return type of formula field ``fdoc`` of ``obj``; raises its FormulaError."""
        key = (obj, fdoc["api_name"])
        if key not in self.formula_types and obj not in self._typed_from:
            self.fields(obj)
        if key in self.formula_types:
            return self.formula_types[key]
        return self._compile_type(obj, fdoc)

    def _compile_type(self, obj, fdoc):
        compiled = compile_formula(fdoc["formula"], self._structure(obj, 0), return_type=_declared(fdoc),
                                   blank_as_zero=bool(fdoc.get("blank_as_zero")))
        rtype = compiled.return_type or "text"
        self.formula_types[(obj, fdoc["api_name"])] = rtype
        return rtype

    def _structure(self, obj, depth):
        """The map of ``obj`` without the formula fields not yet typed (those are added as typed)."""
        key = (obj, depth)
        if key in self._maps:
            return self._maps[key]
        out = dict(SYSTEM_FORMULA_TYPES)
        self._maps[key] = out
        for fdoc in _fields_of(self.docs, obj):
            ftype = field_types.get(fdoc["type"])
            name = fdoc["api_name"]
            if ftype.computed:
                if (obj, name) in self.formula_types:
                    out[name] = self.formula_types[(obj, name)]
            elif ftype.family == "lookup" and fdoc.get("target") in self.docs and depth < MAX_HOPS:
                out[name] = self._structure(fdoc["target"], depth + 1)
            else:
                out[name] = ftype.formula_type
        if depth == 0:
            out["$user"] = dict(USER_FIELDS)
        return out

    def _type_reachable(self, obj):
        objects = _reachable(self.docs, obj)
        pending = {(o, f["api_name"]): f for o in objects for f in _fields_of(self.docs, o)
                   if field_types.get(f["type"]).computed}
        pending = {k: f for k, f in pending.items() if k not in self.formula_types and k not in self._failed}
        for key in _formula_order(pending, self.docs):
            try:
                rtype = self._compile_type(key[0], pending[key])
            except CycleError:
                raise
            except FormulaError:
                self._failed.add(key)
                continue
            for (o, _depth), m in self._maps.items():
                if o == key[0]:
                    m[key[1]] = rtype


def _fields_of(docs, obj):
    """The well-formed field documents of ``obj`` whose type is registered."""
    return [f for f in (docs.get(obj) or {}).get("fields", [])
            if isinstance(f, dict) and f.get("type") in field_types and isinstance(f.get("api_name"), str)]


def _reachable(docs, obj):
    """``obj`` and the objects its lookups reach, in the order found."""
    seen, queue = [obj], [obj]
    while queue:
        for f in _fields_of(docs, queue.pop(0)):
            target = f.get("target")
            if field_types.get(f["type"]).family == "lookup" and target in docs and target not in seen:
                seen.append(target)
                queue.append(target)
    return seen


def _formula_order(pending, docs):
    """The keys ``(object, field)`` of ``pending`` formula fields in dependency order, across
    objects (a path ``account.g`` depends on ``account``'s formula field ``g``); a cycle raises
    CycleError naming it."""
    from engine.formula.parser import parse

    deps = {}
    for key, fdoc in pending.items():
        try:
            node = parse(fdoc["formula"])
        except FormulaError:
            deps[key] = set()
            continue
        deps[key] = {d for d in (_formula_target(docs, key[0], parts) for parts in _paths(node))
                     if d in pending}
    order, state = [], {}

    def visit(key, stack):
        if state.get(key) == "done":
            return
        if state.get(key) == "active":
            cycle = stack[stack.index(key):] + [key]
            raise CycleError("formula fields refer to each other in a cycle: "
                             + " -> ".join(f"{o}.{n}" for o, n in cycle), key)
        state[key] = "active"
        for d in sorted(deps[key]):
            visit(d, stack + [key])
        state[key] = "done"
        order.append(key)

    for key in pending:
        visit(key, [])
    return order


def _formula_target(docs, obj, parts):
    """The ``(object, field)`` of the formula field a path ends on, else None."""
    current = obj
    for i, part in enumerate(parts):
        fdoc = next((f for f in _fields_of(docs, current) if f["api_name"] == part), None)
        if fdoc is None or i >= MAX_HOPS + 1:
            return None
        ftype = field_types.get(fdoc["type"])
        if i == len(parts) - 1:
            return (current, part) if ftype.computed else None
        if ftype.family != "lookup" or fdoc.get("target") not in docs:
            return None
        current = fdoc["target"]
    return None


def _paths(node):
    if node.kind == "path" and not node.value[0].startswith("$"):
        yield node.value
    for a in node.args:
        yield from _paths(a)


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
