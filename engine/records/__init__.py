"""Records: the record service (the only writer of records), list queries with cursors, the
per-version compiled snapshot, formula integration and roll-ups.

May import ``engine.metadata``, ``engine.formula`` and ``engine.security``; never Flask. The acting
user arrives as an explicit ``Actor``.
"""
