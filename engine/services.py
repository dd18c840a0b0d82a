"""The composition root: the one place that builds everything a process needs.

``build_services(config)`` creates the database engine, loads the registries from their entry
points once and freezes them, builds the metadata store, the snapshot cache and the access
services, and fills every hook point — by name, in order — so that what runs on a write or a
metadata change never depends on which modules happened to be imported. ``create_app()``, the
command line, ``tessera demo``, the tests and every future subsystem (workflow, reports, packs:
each an ``install(services)`` listed in ``SUBSYSTEMS``) start here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine import reports, workflow
from engine.config import Config
from engine.db import init_db, make_engine
from engine.metadata.store import MetadataHooks, MetadataStore
from engine.records import formula_checks, formulas, history, rollups
from engine.records.pipeline import RecordHooks
from engine.records.service import RecordService
from engine.records.snapshot import SnapshotCache
from engine.security import SYSTEM_ACTOR
from engine.security.access import PlanCache
from engine.security.admin import AccessAdmin
from engine.security.audit import metadata_audit_hook
from engine.security.sessions import actor_for_user, resolve_session, resolve_token

log = logging.getLogger("tessera")

# Subsystems that add their own hooks and tables: ``install(services)`` each, in order.
SUBSYSTEMS = (workflow.install, reports.install)


@dataclass
class Services:
    """Everything one process shares between its requests, jobs and commands (no per-request state)."""

    config: Config
    engine: object
    store: MetadataStore
    snapshots: SnapshotCache
    plans: PlanCache
    access: AccessAdmin
    record_hooks: RecordHooks
    metadata_hooks: MetadataHooks
    extensions: dict = field(default_factory=dict)   # subsystem name -> its own service object

    system_actor = SYSTEM_ACTOR

    def records(self, snapshot=None):
        """A record service over ``snapshot`` (default: the current metadata version)."""
        return RecordService(self.engine, snapshot or self.snapshots.refresh(), self.record_hooks)

    def authenticate(self, token, *, ip=None, header_sent=True):
        """``(actor, snapshot)`` for a bearer token; ``Unauthorized`` when it is missing or invalid."""
        resolved = resolve_token(self.engine, self.plans, token, ip=ip, header_sent=header_sent)
        return resolved.actor, self.snapshots.get(resolved.metadata_version)

    def authenticate_session(self, secret):
        """``(actor, snapshot)`` for a browser session's secret (the pages); ``Unauthorized`` when
        it is missing, revoked or expired, or its user is inactive."""
        resolved = resolve_session(self.engine, self.plans, secret)
        return resolved.actor, self.snapshots.get(resolved.metadata_version)

    def actor(self, username):
        """The actor (with its permission plan) of an active user."""
        return actor_for_user(self.engine, self.plans, username)

    def dispose(self):
        self.engine.dispose()


def load_registries():
    """Load plugin field types, formula functions, workflow actions and approver resolvers from
    their entry points, then freeze the registries."""
    from engine.formula.functions import functions, load_plugins
    from engine.metadata.field_types import field_types, load_field_type_plugins
    from engine.workflow.actions import actions, load_action_plugins
    from engine.workflow.approvals.resolvers import load_resolver_plugins, resolvers

    load_field_type_plugins()
    load_plugins()
    load_action_plugins()
    load_resolver_plugins()
    field_types.freeze()
    functions.freeze()
    actions.freeze()
    resolvers.freeze()


def build_record_hooks():
    """The write pipeline's hooks, in order."""
    hooks = RecordHooks()
    hooks.defaults.add("formula_defaults", formulas.apply_defaults)
    hooks.validate.add("validation_rules", formulas.run_validation_rules)
    hooks.flags.add("field_history", history.history_flags)
    hooks.after_write.add("field_history", history.track_history)
    hooks.after_write.add("rollups", rollups.update_rollups)
    return hooks


def build_metadata_hooks():
    """What runs inside a metadata change, in order."""
    hooks = MetadataHooks()
    hooks.checks.add("formulas", formula_checks.check_formulas)
    hooks.dependency_checks.add("formula_references", formula_checks.check_formula_dependants)
    hooks.after_change.add("rollup_backfill", rollups.backfill_rollups)
    hooks.after_change.add("audit", metadata_audit_hook)
    return hooks


def build_services(config=None):
    """Build the services of one process. ``config``: a ``Config`` or a dict of overrides."""
    if not isinstance(config, Config):
        config = Config.from_env(config)
    load_registries()
    engine = make_engine(config.database_url, synchronous=config.sqlite_synchronous)
    init_db(engine)
    record_hooks, metadata_hooks = build_record_hooks(), build_metadata_hooks()
    services = Services(config=config, engine=engine, store=MetadataStore(engine, metadata_hooks),
                        snapshots=SnapshotCache(engine), plans=PlanCache(), access=AccessAdmin(engine),
                        record_hooks=record_hooks, metadata_hooks=metadata_hooks)
    for install in SUBSYSTEMS:
        install(services)
    record_hooks.freeze()
    metadata_hooks.freeze()
    return services
