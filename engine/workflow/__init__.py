"""Workflow (approval processes, automations, the outbox and rq jobs) — arrives with the workflow
issue. May import everything below it (metadata, formula, records, security); never Flask."""
