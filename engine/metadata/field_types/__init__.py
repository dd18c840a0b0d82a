"""The field-type registry: one place per type for its column, marshmallow field,
formula type, form widget and value validation.

Built-in types live in the modules of this package; plugins add types through
the entry-point group ``tessera.field_types`` (the entry point names a
``FieldType`` subclass or instance; its ``name`` is the key).
"""
from __future__ import annotations

from engine.registry import Registry

from .base import FieldType  # noqa: F401

field_types = Registry("field type", entry_point_group="tessera.field_types")


def register_field_type(cls_or_obj):
    """Register a ``FieldType`` (class or instance) under its ``name``; usable as a decorator."""
    obj = cls_or_obj() if isinstance(cls_or_obj, type) else cls_or_obj
    field_types.register(obj.name, obj, owner=type(obj).__module__)
    return cls_or_obj


def _load_builtins():
    from . import computed, numeric, relation, scalar, text  # noqa: F401


_load_builtins()


def load_field_type_plugins(registry=None):
    """Load plugin field types once; entry points may name a class or an instance."""
    from importlib.metadata import entry_points

    registry = registry or field_types
    if registry._plugins_loaded:
        return
    registry._plugins_loaded = True
    for ep in entry_points(group="tessera.field_types"):
        obj = ep.load()
        obj = obj() if isinstance(obj, type) else obj
        registry.register(obj.name, obj, owner=ep.value)
