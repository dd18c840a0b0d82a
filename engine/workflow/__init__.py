"""Workflow: approval processes, automation rules, the outbox and rq jobs. Plugs into the write
pipeline through ``install(services)`` (see docs/architecture.md). May import everything below it
(metadata, formula, records, security); never Flask."""
