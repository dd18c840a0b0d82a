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
    for _name, factory in kind_factories.items():
        found += list(factory(services))
    for ext in services.extensions.values():
        offer = getattr(ext, "pack_kinds", None)
        if callable(offer):
            found += list(offer())
    for kind in found:
        out[kind.dirname] = kind
    return out
