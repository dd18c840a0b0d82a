"""Packs: the pack format and the installer (``../shared/specs/packs.md``, ``docs/packs.md``).

Owns ``engine/packs/**`` and its tables (``tessera_packs``, ``tessera_pack_elements``). Sits above
the composition root, like the other users of ``build_services`` (the doors, the CLI, the demo):
it may import ``engine.services`` and everything below it, never Flask. It applies packs only
through the services an administrator uses — the metadata store, the access admin and the record
service — bound to one transaction per pack. Other subsystems add element kinds (reports,
dashboards) through ``engine/packs/kinds.py``.
"""
from __future__ import annotations


def packs(services):
    """The :class:`~engine.packs.installer.PackService` of ``services`` (made once per process)."""
    from .installer import PackService

    service = services.extensions.get("packs")
    if service is None:
        service = services.extensions["packs"] = PackService(services)
    return service


__all__ = ["packs"]
