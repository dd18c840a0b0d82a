"""The reports subsystem's errors: codes ``reports.E###`` (one meaning per code, listed in
docs/reports.md). Documents that fail their checks raise :class:`ReportDefinitionError` with every
problem collected (422 through the API, like metadata); the others reuse the engine's classes
(``NotFoundError`` 404, ``PermissionDeniedError`` 403, ``ConflictError`` 409,
``InvalidRequestError`` 400) so that the API maps them without knowing this package.
"""
from __future__ import annotations

from engine.errors import MetadataError


class ReportDefinitionError(MetadataError):
    """A report, dashboard, segment or analytics document (or a run's parameters) that does not
    check: ``problems`` is a list of ``(path, message)``; formula messages carry line and column,
    and the first formula problem's line and column are on the error too."""

    def __init__(self, problems, code="reports.E001", *, line=None, column=None, position=None):
        super().__init__(problems, code=code)
        self.line, self.column, self.position = line, column, position
