"""Metadata: document kinds and their JSON Schemas, the field-type registry, semantic
checks, the versioned metadata store and run-time DDL. Imports nothing above itself
(no formula, records, api or Flask)."""
