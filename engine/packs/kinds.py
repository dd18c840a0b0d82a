"""The extension point for element kinds other subsystems own: reports, dashboards, segments.

A pack folder may hold ``reports/*.yaml``, ``dashboards/*.yaml`` or any folder a registered
:class:`ElementKind` claims. The installer itself knows objects, security and sample data; every
other kind brings its own reading, applying and exporting, and plugs in one of two ways:

* a subsystem's service in ``services.extensions`` offers ``pack_kinds()`` returning
  ``ElementKind`` instances (how ``engine/reports`` is meant to plug in: its ``install(services)``
  already puts its service there), or
* a plugin distribution registers a factory ``fn(services) -> [ElementKind]`` in the entry-point
  group ``tessera.pack_kinds``.

Ownership works as for objects: each document is an element ``(kind, name)`` whose definition as
the pack wrote it is the baseline; the kind decides what an administrator's change is.
"""
from __future__ import annotations

from importlib.metadata import entry_points

from engine.registry import Registry

# factory name -> fn(services) -> [ElementKind]; filled from the entry-point group once per process
kind_factories = Registry("pack element kind", entry_point_group="tessera.pack_kinds")
_loaded = []


class ElementKind:
    """What the installer needs to know about one folder of a pack (subclass it).

    ``dirname``: the pack folder (``reports``); ``kind``: the element kind in the ownership table
    (``report``). Methods get the *bound* services (inside the pack's transaction) and the actor.
    """

    dirname = ""
    kind = ""

    def check_file(self, value):
        """Problems of one YAML file before anything is applied: ``[(path tuple, message)]``."""
        return []

    def elements(self, files):
        """``{name: definition}`` of a pack's files (``[(file, value, LineMap)]``)."""
        return {}

    def apply(self, services, actor, base, new, plan):
        """Make the live documents follow ``new`` where they still equal ``base``; append plan rows
        ``(kind, key, action, note)``; return ``{(kind, name): definition}`` the pack owns now."""
        raise NotImplementedError

    def export(self, services, actor, objects):
        """``{file name: value}`` of the documents about ``objects``, for ``pack export``."""
        return {}


def load_kind_plugins():
    """Register the factories of the ``tessera.pack_kinds`` entry-point group (once per process)."""
    if _loaded:
        return
    _loaded.append(True)
    for ep in entry_points(group=kind_factories.entry_point_group):
        if ep.name not in kind_factories:
            kind_factories.register(ep.name, ep.load(), owner=ep.value)


def kinds_for(services):
    """``{dirname: ElementKind}`` available in this process."""
    load_kind_plugins()
    out = {}
    found = []
    found += _reports_kinds(services)
    for _name, factory in kind_factories.items():
        found += list(factory(services))
    for ext in services.extensions.values():
        offer = getattr(ext, "pack_kinds", None)
        if callable(offer):
            found += list(offer())
    for kind in found:
        out[kind.dirname] = kind
    return out


class DocumentKind(ElementKind):
    """Documents kept by a subsystem's document store (``export()``, ``import_docs(docs, actor)``,
    ``delete(name, actor)``): reports, dashboards and segments of ``engine/reports``. One YAML file
    holds one document (or a list of them), keyed by its ``name``."""

    def __init__(self, extension, attr, dirname, kind, schema_check=None, belongs=None):
        self.extension, self.attr, self.dirname, self.kind = extension, attr, dirname, kind
        self._schema_check = schema_check
        self._belongs = belongs or _about_objects

    def _store(self, services):
        return getattr(services.extensions[self.extension], self.attr)

    def check_file(self, value):
        from .source import split_json_path

        docs = value if isinstance(value, list) else [value]
        problems = []
        for i, doc in enumerate(docs):
            prefix = (i,) if isinstance(value, list) else ()
            if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
                problems.append((prefix, f"a {self.kind} needs a name"))
                continue
            for path, message in (self._schema_check(doc) if self._schema_check else []):
                parts = tuple(split_json_path(path)) if path else ()
                problems.append((prefix + parts, f"{self.kind} '{doc['name']}': {path + ': ' if path else ''}{message}"))
        return problems

    def elements(self, files):
        out = {}
        for _file, value, _lines in files:
            for doc in value if isinstance(value, list) else [value]:
                out[doc["name"]] = doc
        return out

    def apply(self, services, actor, base, new, plan):
        store = self._store(services)
        live = {d["name"]: d for d in store.export()}
        owned, write = {}, []
        for name, doc in new.items():
            owned[(self.kind, name)] = doc
            if name not in live:
                write.append(doc)
                plan.append((self.kind, name, "create", ""))
            elif name in base and live[name] == base[name]:
                if doc != base[name]:
                    write.append(doc)
                plan.append((self.kind, name, "change" if doc != base[name] else "keep", ""))
            elif name in base:
                plan.append((self.kind, name, "keep", "changed by an administrator"))
            else:
                owned.pop((self.kind, name))
                plan.append((self.kind, name, "keep", f"an administrator's {self.kind} of the same name exists"))
        if write:
            store.import_docs(write, actor)
        for name in base:
            if name not in new and name in live:
                store.delete(name, actor)
                plan.append((self.kind, name, "archive", "kept in its history"))
        return owned

    def export(self, services, actor, objects):
        belongs = self._belongs(services, objects)
        docs = [d for d in self._store(services).export() if belongs(d)]
        return {f"{self.dirname}/{d['name']}.yaml": d for d in docs}


def _about_objects(services, objects):
    """A report or segment goes with an export of the object it is about."""
    return lambda doc: doc.get("object") in objects


def _shows_exported_reports(services, objects):
    """A dashboard goes with an export when every report it shows goes with it too (a dashboard
    showing a report of an object left out would not install on its own)."""
    reports = {d["name"] for d in services.extensions["reports"].reports.export() if d.get("object") in objects}

    def belongs(doc):
        names = [c.get("report") for c in doc.get("components") or ()]
        return bool(names) and all(n in reports for n in names)
    return belongs


def _reports_kinds(services):
    """The element kinds of ``engine/reports`` when that subsystem is installed."""
    reports = services.extensions.get("reports")
    if reports is None or not all(hasattr(reports, a) for a in ("reports", "dashboards", "segments")):
        return []
    try:
        from engine.reports.documents import schema_problems
    except ImportError:
        schema_problems = None

    def check(kind):
        return (lambda doc: schema_problems(kind, doc)) if schema_problems else None

    return [DocumentKind("reports", "reports", "reports", "report", check("report")),
            DocumentKind("reports", "dashboards", "dashboards", "dashboard", check("dashboard"),
                         belongs=_shows_exported_reports),
            DocumentKind("reports", "segments", "segments", "segment", check("segment"))]
