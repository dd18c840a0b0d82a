"""Field security inside formulas: what the metadata looks like to one reader.

A field hidden from a reader does not exist for them. :class:`ReaderView` is the snapshot seen
through one set of hidden fields: the formula field map it hands to the compiler lacks them, so
``where=``, sorting, formula fields and exports cannot reach a hidden field. A formula field that
needs a hidden field (directly, or through a lookup, or through another formula) and a roll-up
over a hidden child field (or filtered by one, or through a hidden relationship) are hidden too —
never computed from it.

An object the reader may not read does not exist for them either: a lookup to it and a roll-up
over it are hidden like fields the reader may not see, so neither its name, its fields nor its
records can be reached through the objects they may read.

Views are cached per snapshot, per set of hidden fields and per set of unreadable objects: users
with the same permission sets share one.
"""
from __future__ import annotations

import threading

from engine.formula import FormulaError, compile_formula

from .formula_checks import FieldMaps

WHERE_CACHE_SIZE = 256
_lock = threading.Lock()


def hidden_signature(plan):
    """The (object, field) pairs a plan hides, as a hashable key."""
    if plan.is_admin:
        return frozenset()
    return frozenset((obj, f) for obj, levels in plan.fields.items()
                     for f, level in levels.items() if level == "hidden")


def unreadable_objects(snap, plan):
    """The objects of ``snap`` the plan may not read."""
    if plan.is_admin:
        return frozenset()
    return frozenset(name for name in snap.objects if not plan.can(name, "read"))


def reader_view(snap, actor):
    """The :class:`ReaderView` of ``snap`` for ``actor`` (built once per hidden-field set)."""
    key = (hidden_signature(actor.plan), unreadable_objects(snap, actor.plan))
    view = snap.reader_views.get(key)
    if view is None:
        with _lock:
            view = snap.reader_views.get(key)
            if view is None:
                view = ReaderView(snap, *key)
                snap.reader_views[key] = view
    return view


class ReaderView:
    """The snapshot's formulas as one set of hidden fields leaves them."""

    def __init__(self, snap, hidden_pairs, unreadable=frozenset()):
        self.snap = snap
        self.unreadable = unreadable
        direct = {}
        for obj, f in hidden_pairs:
            direct.setdefault(obj, set()).add(f)
        for name, rt in snap.objects.items():
            for fdef in rt.odef.fields:
                ftype = rt.ftypes[fdef.api_name]
                if (ftype.relates and fdef.target in unreadable) or \
                        (ftype.summarises and (fdef.get("summary") or {}).get("object") in unreadable):
                    direct.setdefault(name, set()).add(fdef.api_name)
        if not direct:
            self.hidden = {}
            self._maps = {name: rt.formulas.fields_map for name, rt in snap.objects.items()}
        else:
            self.hidden = self._derive(snap, direct)
            docs = _docs_without(snap, self.hidden)
            maps = FieldMaps(docs)
            self._maps = {name: maps.fields(name) for name in snap.objects}
        self._where = {}

    @staticmethod
    def _derive(snap, direct):
        # pass 1: without the directly hidden fields, which roll-ups lose their source?
        hidden = {obj: set(fs) for obj, fs in direct.items()}
        maps = FieldMaps(_docs_without(snap, hidden))
        for name, rt in snap.objects.items():
            for fdef in rt.odef.fields:
                if not rt.ftypes[fdef.api_name].summarises:
                    continue
                summary = fdef.get("summary") or {}
                child = summary.get("object")
                if summary.get("field") in hidden.get(child, ()) or _through_hidden(snap, name, summary, hidden):
                    hidden.setdefault(name, set()).add(fdef.api_name)
                elif summary.get("filter") and child in snap.objects:
                    try:
                        compile_formula(summary["filter"], maps.fields(child), return_type="boolean")
                    except FormulaError:
                        hidden.setdefault(name, set()).add(fdef.api_name)
        # pass 2: formula fields that no longer compile without the hidden fields are hidden
        maps = FieldMaps(_docs_without(snap, hidden))
        for name, rt in snap.objects.items():
            fields = maps.fields(name)
            for fdef in rt.odef.fields:
                if rt.ftypes[fdef.api_name].computed and fdef.api_name not in fields:
                    hidden.setdefault(name, set()).add(fdef.api_name)
        return {obj: frozenset(fs) for obj, fs in hidden.items()}

    def hidden_fields(self, obj):
        """Fields of ``obj`` this reader may not see (including derived ones)."""
        return self.hidden.get(obj, frozenset())

    def fields_map(self, obj):
        """The formula field map of ``obj`` for this reader."""
        return self._maps[obj]

    def compile_where(self, rt, source):
        """Compile a ``where=`` formula against this reader's fields (cached per source)."""
        key = (rt.name, source)
        compiled = self._where.get(key)
        if compiled is None:  # a client repeats its filters: parse and check each text once
            compiled = compile_formula(source, self.fields_map(rt.name), return_type="boolean")
            if len(self._where) >= WHERE_CACHE_SIZE:
                self._where.pop(next(iter(self._where)), None)
            self._where[key] = compiled
        return compiled


def _through_hidden(snap, parent, summary, hidden):
    """Whether a roll-up of ``parent`` counts its children through a relationship field hidden
    from the reader (its value would tell them which children point where)."""
    child_rt = snap.objects.get(summary.get("object"))
    gone = hidden.get(summary.get("object"), ())
    if child_rt is None or not gone:
        return False
    if summary.get("relationship_field"):
        return summary["relationship_field"] in gone
    links = [f.api_name for f in child_rt.odef.fields if child_rt.ftypes[f.api_name].cascade and f.target == parent]
    return bool(links) and all(f in gone for f in links)


def _docs_without(snap, hidden):
    docs = {}
    for name, rt in snap.objects.items():
        doc = dict(rt.odef.doc)
        gone = hidden.get(name)
        if gone:
            doc["fields"] = [f for f in doc.get("fields", []) if f.get("api_name") not in gone]
        docs[name] = doc
    return docs
