"""One registry helper for every extension point (field types, formula functions,
workflow actions, packs). Plugins fill registries through Python entry points."""
from __future__ import annotations

from contextlib import contextmanager


class RegistryError(Exception):
    pass


class Registry:
    """A named mapping of keys to objects with duplicate detection and freezing."""

    def __init__(self, kind, entry_point_group=None):
        """``entry_point_group``: where plugins for this registry are found (loaded by its owner)."""
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items = {}
        self._owners = {}
        self._frozen = False
        self._plugins_loaded = False

    def register(self, key, obj=None, *, replace=False, owner=None):
        """Register ``obj`` under ``key``; without ``obj`` acts as a decorator."""
        if obj is None:
            def deco(o):
                self.register(key, o, replace=replace, owner=owner)
                return o
            return deco
        if self._frozen:
            raise RegistryError(f"The {self.kind} registry is frozen; register '{key}' before create_app().")
        new_owner = owner or getattr(obj, "__module__", repr(obj))
        if key in self._items and not replace:
            raise RegistryError(
                f"{self.kind} '{key}' is registered twice: by {self._owners[key]} and by {new_owner}.")
        self._items[key] = obj
        self._owners[key] = new_owner
        return obj

    def get(self, key):
        try:
            return self._items[key]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise RegistryError(f"Unknown {self.kind} '{key}'. Known: {known}.") from None

    def __contains__(self, key):
        return key in self._items

    def keys(self):
        return sorted(self._items)

    def items(self):
        return sorted(self._items.items())

    def freeze(self):
        self._frozen = True

    @contextmanager
    def thawed(self):
        """Open a frozen registry for the duration of a block (tests that register plugins)."""
        frozen, self._frozen = self._frozen, False
        try:
            yield self
        finally:
            self._frozen = frozen
