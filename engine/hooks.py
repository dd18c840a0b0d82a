"""Named, ordered hook points: the one way a subsystem plugs behaviour into another.

A :class:`HookPoint` is an ordered list of ``(name, fn)``. The composition root
(``engine.services.build_services``) fills every hook point in one place, by name, then
freezes them; nothing registers itself by being imported. A subsystem that wants to add
behaviour exposes ``install(services)`` and the composition root calls it.

Example::

    hooks.after_write.add("history", track_history)
    hooks.after_write.add("rollups", update_rollups, after="history")

Imports nothing of the engine: every layer may use it.
"""
from __future__ import annotations


class HookError(Exception):
    """A programming error in wiring hooks (duplicate name, frozen point, unknown anchor)."""


class HookPoint:
    """An ordered set of named callables run at one point of a pipeline."""

    def __init__(self, name, doc=""):
        self.name = name
        self.doc = doc
        self._items = []          # [(name, fn)]
        self._frozen = False

    def add(self, name, fn, *, before=None, after=None):
        """Add ``fn`` as ``name`` (at the end, or just before/after another hook)."""
        if self._frozen:
            raise HookError(f"Hook point '{self.name}' is frozen; add '{name}' in build_services().")
        if any(n == name for n, _ in self._items):
            raise HookError(f"Hook point '{self.name}' already has a hook named '{name}'.")
        index = len(self._items)
        anchor = before or after
        if anchor is not None:
            names = [n for n, _ in self._items]
            if anchor not in names:
                raise HookError(f"Hook point '{self.name}' has no hook '{anchor}' to place '{name}' next to; "
                                f"known: {', '.join(names) or 'none'}.")
            index = names.index(anchor) + (1 if after else 0)
        self._items.insert(index, (name, fn))
        return fn

    def remove(self, name):
        if self._frozen:
            raise HookError(f"Hook point '{self.name}' is frozen.")
        self._items = [(n, f) for n, f in self._items if n != name]

    def names(self):
        return [n for n, _ in self._items]

    def __iter__(self):
        return iter([fn for _, fn in self._items])

    def __len__(self):
        return len(self._items)

    def freeze(self):
        self._frozen = True

    def __repr__(self):
        return f"<HookPoint {self.name}: {', '.join(self.names()) or 'empty'}>"


class HookSet:
    """A group of hook points (one attribute each), frozen together."""

    POINTS: dict = {}     # attribute name -> description; set by subclasses

    def __init__(self):
        for attr, doc in self.POINTS.items():
            setattr(self, attr, HookPoint(f"{type(self).__name__}.{attr}", doc))

    def points(self):
        return {attr: getattr(self, attr) for attr in self.POINTS}

    def freeze(self):
        for point in self.points().values():
            point.freeze()

    def describe(self):
        """``{point: [hook names]}``: what runs where, for docs and tests."""
        return {attr: point.names() for attr, point in self.points().items()}
