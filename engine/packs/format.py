"""The pack format: reading a pack folder into a :class:`PackDef`, collecting every problem.

A pack folder (``../shared/specs/packs.md``)::

    pack.yaml              name, version, title, description, engine, depends
    objects/<name>.yaml    one object document each; ``extends: true`` adds elements to an object
                           of a pack this one depends on
    security.yaml          roles, permission sets, sharing rules (optional)
    i18n/<locale>.yaml     translations of the labels (optional; label_i18n in the documents too)
    data/<object>.csv      sample data (optional; first column ``_key``)
    reports/, dashboards/  element kinds of other subsystems (``engine/packs/kinds.py``)

Nothing here touches a database. Every problem is a :class:`~engine.packs.source.Problem` with
the file and line; :func:`load_pack` reads everything it can and returns them all.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema

from engine.metadata.checks import _schema_problems, suggest

from .source import LineMap, Problem, load_csv, load_yaml

OBJECT_PACK_KEYS = ("extends",)          # keys of an object file that are the pack's, not the document's
# what an extension (extends: true) may carry: elements added to the host object
EXTENSION_KEYS = ("api_name", "extends", "fields", "validation_rules", "layouts", "list_views",
                  "automation_rules", "approval_processes")
ITEM_KINDS = ("validation_rules", "layouts", "list_views", "automation_rules", "approval_processes")
PACK_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
OTHER_KINDS = ("reports", "dashboards", "segments")    # folders element kinds of other subsystems claim
KNOWN_ENTRIES = {"pack.yaml", "security.yaml", "objects", "data", "i18n", "README.md", "readme.md", "docs"}


@lru_cache(maxsize=None)
def load_schema(name):
    text = resources.files("engine.packs").joinpath("schemas").joinpath(f"{name}.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=None)
def validator(name):
    schema = load_schema(name)
    return jsonschema.validators.validator_for(schema)(schema)


@dataclass
class ObjectFile:
    """One ``objects/<name>.yaml``: the document (pack keys removed) and its line numbers."""

    name: str
    file: str
    doc: dict
    lines: LineMap
    extends: bool = False


@dataclass
class PackDef:
    """A pack read from its folder."""

    name: str
    version: str
    meta: dict                                   # pack.yaml
    root: Path
    source: str = "path"                         # builtin | entry point name | path
    objects: dict = field(default_factory=dict)  # api_name -> ObjectFile
    security: dict = field(default_factory=dict)
    security_lines: LineMap | None = None
    data: dict = field(default_factory=dict)     # object -> CsvTable
    extra: dict = field(default_factory=dict)    # element kind -> [(file, value, LineMap)]
    lines: dict = field(default_factory=dict)    # file -> LineMap
    problems: list = field(default_factory=list) # what load_pack found (the installer refuses them)

    @property
    def depends(self):
        return dict(self.meta.get("depends") or {})

    def title(self, locale="en"):
        t = self.meta.get("title") or self.name
        return t if isinstance(t, str) else t.get(locale) or t.get("en") or self.name

    def own_objects(self):
        return {n: o for n, o in self.objects.items() if not o.extends}

    def extensions(self):
        return {n: o for n, o in self.objects.items() if o.extends}

    def describe(self):
        return {"name": self.name, "version": self.version, "title": self.meta.get("title") or self.name,
                "description": self.meta.get("description") or "", "depends": self.depends,
                "engine": self.meta.get("engine"), "source": self.source,
                "objects": sorted(self.own_objects()), "extends": sorted(self.extensions()),
                "sample_data": sorted(self.data)}


def _read(path, root):
    rel = path.relative_to(root).as_posix()
    try:
        return rel, path.read_text("utf-8"), None
    except UnicodeDecodeError as exc:
        return rel, None, Problem(rel, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return rel, None, Problem(rel, None, f"cannot be read: {exc.strerror}")


def show_path(parts):
    """``['roles', 0, 'api_name']`` -> ``roles[0].api_name``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problems_error(pack_name, problems, code="packs.E001", what="has problems; nothing was applied"):
    """One ``PackError`` listing every problem as ``file:line: message``."""
    from engine.errors import PackError

    texts = [str(p) for p in problems]
    return PackError(code, f"Pack '{pack_name}' {what}:\n" + "\n".join(texts), fields={"problems": texts})


def _duplicates(ofile):
    """Duplicate fields, options and named elements of an object file (the merge would hide them)."""
    problems = []
    doc, lines = ofile.doc, ofile.lines

    def dup(kind, items, key, path, shown=None):
        seen = {}
        for i, item in enumerate(items or []):
            if not isinstance(item, dict) or not isinstance(item.get(key), str):
                continue
            if item[key] in seen:
                problems.append(Problem(ofile.file, lines.line_of(path + (i, key)),
                                        f"{shown or show_path(list(path))}[{i}].{key}: duplicate {kind} '{item[key]}' "
                                        f"(also on line {lines.line_of(path + (seen[item[key]],))})"))
            seen.setdefault(item[key], i)

    fields = doc.get("fields") if isinstance(doc.get("fields"), list) else []
    dup("field", fields, "api_name", ("fields",))
    for i, fdoc in enumerate(fields):
        if isinstance(fdoc, dict) and isinstance(fdoc.get("options"), list):
            dup("option", fdoc["options"], "value", ("fields", i, "options"), f"fields.{fdoc.get('api_name')}.options")
    for kind in ITEM_KINDS:
        if isinstance(doc.get(kind), list):
            dup(kind[:-1].replace("_", " "), doc[kind], "name", (kind,))
    return problems


def _schema(validator_, value, lines, prefix=()):
    out = []
    for path, message in _schema_problems(validator_, value, "$"):
        from .source import split_json_path
        parts = split_json_path(path)[1:]
        shown = show_path(parts)
        out.append(Problem(lines.file, lines.line_of(tuple(prefix) + tuple(parts)),
                           f"{shown + ': ' if shown else ''}{message}"))
    return out


def load_pack(root, source="path", kinds=None):
    """``(PackDef or None, problems)`` for the pack folder ``root``. ``kinds``: the extra element
    kinds (``{dir name: ElementKind}``) whose folders the pack may have."""
    root = Path(root)
    kinds = kinds or {}
    problems = []
    if not (root / "pack.yaml").is_file():
        return None, [Problem(str(root), None, "not a pack folder: it has no pack.yaml")]
    rel, text, problem = _read(root / "pack.yaml", root)
    if problem:
        return None, [problem]
    meta, lines, found = load_yaml(text, rel)
    problems += found
    if meta is None:
        return None, problems
    if not isinstance(meta, dict):
        return None, problems + [Problem(rel, 1, "must be a mapping with name, version, title, depends")]
    problems += _schema(validator("pack"), meta, lines)
    if isinstance(meta.get("version"), (int, float)):
        problems.append(Problem(rel, lines.line_of(("version",)),
                                f"version: write it as text, e.g. version: \"{meta['version']}.0\""))
    name = meta["name"] if isinstance(meta.get("name"), str) and PACK_NAME.fullmatch(meta["name"]) else root.name
    pack = PackDef(name=name, version=str(meta.get("version")), meta=meta, root=root, source=source)
    pack.lines[rel] = lines
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name in KNOWN_ENTRIES or entry.name in kinds:
            continue
        if entry.name in OTHER_KINDS:
            problems.append(Problem(entry.name + "/", None, f"{entry.name}/ needs the subsystem that owns "
                                    f"{entry.name}, which is not installed in this engine"))
        elif entry.suffix in (".yaml", ".yml", ".csv") or entry.is_dir():
            known = sorted(KNOWN_ENTRIES | set(kinds))
            problems.append(Problem(entry.name, None, f"unknown pack entry '{entry.name}'"
                                    f"{suggest(entry.name, known)}; a pack holds {', '.join(known)}"))
    problems += _load_objects(pack, root)
    problems += _load_security(pack, root)
    problems += _load_i18n(pack, root)
    problems += _load_data(pack, root)
    for dirname, kind in kinds.items():
        folder = root / dirname
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            rel, text, problem = _read(path, root)
            if problem:
                problems.append(problem)
                continue
            value, lines, found = load_yaml(text, rel)
            problems += found
            if value is not None:
                pack.extra.setdefault(dirname, []).append((rel, value, lines))
                pack.lines[rel] = lines
                problems += [Problem(rel, lines.line_of(p), m) for p, m in kind.check_file(value)]
    pack.problems = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.message))
    return pack, pack.problems


def _load_objects(pack, root):
    problems = []
    folder = root / "objects"
    if not folder.is_dir():
        return problems
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            problems.append(Problem(path.relative_to(root).as_posix(), None,
                                    "objects/ holds one <api_name>.yaml per object"))
            continue
        rel, text, problem = _read(path, root)
        if problem:
            problems.append(problem)
            continue
        doc, lines, found = load_yaml(text, rel)
        problems += found
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.append(Problem(rel, 1, "must be a mapping: an object document with api_name and fields"))
            continue
        api_name = doc.get("api_name")
        if api_name != path.stem:
            problems.append(Problem(rel, lines.line_of(("api_name",)),
                                    f"api_name must be '{path.stem}', the file's name (got "
                                    f"{json.dumps(api_name)[:60]})"))
            continue
        extends = doc.get("extends", False)
        if not isinstance(extends, bool):
            problems.append(Problem(rel, lines.line_of(("extends",)), "extends must be true or false"))
            continue
        if extends:
            extra = sorted(set(doc) - set(EXTENSION_KEYS))
            if extra:
                problems.append(Problem(rel, lines.line_of((extra[0],)),
                                        f"an extension (extends: true) adds elements to an object of another "
                                        f"pack; it cannot set {', '.join(repr(e) for e in extra)}"))
        body = {k: copy.deepcopy(v) for k, v in doc.items() if k not in OBJECT_PACK_KEYS}
        pack.objects[api_name] = ObjectFile(api_name, rel, body, lines, extends)
        problems += _duplicates(pack.objects[api_name])
        pack.lines[rel] = lines
    return problems


def _load_security(pack, root):
    path = root / "security.yaml"
    if not path.is_file():
        return []
    rel, text, problem = _read(path, root)
    if problem:
        return [problem]
    value, lines, problems = load_yaml(text, rel)
    if value is None:
        return problems
    pack.lines[rel] = lines
    found = _schema(validator("security"), value, lines)
    if found or not isinstance(value, dict):
        return problems + found
    pack.security, pack.security_lines = value, lines
    seen = {}
    for kind, key in (("roles", "api_name"), ("permission_sets", "api_name"), ("sharing_rules", "name")):
        for i, item in enumerate(value.get(kind) or []):
            ident = (kind, item.get("object"), item[key])
            if ident in seen:
                problems.append(Problem(rel, lines.line_of((kind, i)), f"duplicate {kind[:-1].replace('_', ' ')} "
                                        f"'{item[key]}' (also on line {seen[ident]})"))
            seen.setdefault(ident, lines.line_of((kind, i)))
    roles = {r["api_name"] for r in value.get("roles") or []}
    for i, role in enumerate(value.get("roles") or []):
        parent = role.get("parent")
        if parent is not None and parent not in roles:
            problems.append(Problem(rel, lines.line_of(("roles", i, "parent")),
                                    f"roles: unknown parent role '{parent}'{suggest(parent, roles)}; a pack's "
                                    "roles may only have the pack's own roles as parents"))
    return problems


def _load_i18n(pack, root):
    """Merge ``i18n/<locale>.yaml`` into the documents' ``label_i18n`` (and options', items')."""
    folder = root / "i18n"
    problems = []
    if not folder.is_dir():
        return problems
    for path in sorted(folder.glob("*.y*ml")):
        rel, text, problem = _read(path, root)
        if problem:
            problems.append(problem)
            continue
        value, lines, found = load_yaml(text, rel)
        problems += found
        if value is None:
            continue
        pack.lines[rel] = lines
        locale = path.stem
        if not isinstance(value, dict) or not isinstance(value.get("objects", {}), dict):
            problems.append(Problem(rel, 1, "must be a mapping: objects: {<object>: {label, fields: {...}}}"))
            continue
        for obj, tr in (value.get("objects") or {}).items():
            ofile = pack.objects.get(obj)
            if ofile is None:
                problems.append(Problem(rel, lines.line_of(("objects", obj)),
                                        f"unknown object '{obj}'{suggest(obj, pack.objects)} (not in this pack)"))
                continue
            problems += _apply_translation(ofile.doc, tr, locale, rel, lines, ("objects", obj))
    return problems


def _apply_translation(doc, tr, locale, rel, lines, path):
    problems = []
    if not isinstance(tr, dict):
        return [Problem(rel, lines.line_of(path), "must be a mapping of label, plural_label, fields, ...")]
    for key in ("label", "plural_label", "description"):
        if isinstance(tr.get(key), str):
            doc.setdefault(f"{key}_i18n", {})[locale] = tr[key]
    for kind, ident in (("fields", "api_name"), *((k, "name") for k in ITEM_KINDS)):
        for name, text in (tr.get(kind) or {}).items():
            item = next((x for x in doc.get(kind) or [] if isinstance(x, dict) and x.get(ident) == name), None)
            if item is None:
                problems.append(Problem(rel, lines.line_of(path + (kind, name)),
                                        f"unknown {kind[:-1].replace('_', ' ')} '{name}' of '{doc.get('api_name')}'"))
                continue
            if isinstance(text, str):
                text = {"label": text}
            if not isinstance(text, dict):
                continue
            if isinstance(text.get("label"), str):
                item.setdefault("label_i18n", {})[locale] = text["label"]
            for value, label in (text.get("options") or {}).items():
                opt = next((o for o in item.get("options") or [] if o.get("value") == value), None)
                if opt is None:
                    problems.append(Problem(rel, lines.line_of(path + (kind, name, "options", value)),
                                            f"unknown option '{value}' of '{name}'"))
                else:
                    opt.setdefault("label_i18n", {})[locale] = label
    return problems


def _load_data(pack, root):
    folder = root / "data"
    problems = []
    if not folder.is_dir():
        return problems
    for path in sorted(folder.iterdir()):
        rel = path.relative_to(root).as_posix()
        if path.suffix != ".csv":
            problems.append(Problem(rel, None, "data/ holds one <object>.csv per object"))
            continue
        rel, text, problem = _read(path, root)
        if problem:
            problems.append(problem)
            continue
        table, found = load_csv(text, rel)
        problems += found
        if table is not None:
            pack.data[path.stem] = table
    return problems
