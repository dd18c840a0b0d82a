"""Tessera: a low-code, metadata-driven CRM platform engine.

Layers import downward only: ``metadata`` -> ``formula`` -> ``records`` (+ ``security``)
-> ``workflow`` -> ``api`` / ``ui_renderer`` / ``cli``. Nothing below ``api``,
``ui_renderer`` and ``cli`` imports Flask.
"""

__version__ = "0.1.0"


def create_app(config=None):
    """Build the Flask application (see :mod:`engine.app`)."""
    from engine.app import create_app as _create_app

    return _create_app(config)
