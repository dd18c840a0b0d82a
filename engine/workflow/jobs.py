"""The only rq entry points. A job carries an outbox id (JSON), never a pickled callable; the worker
process binds its services once (``tessera worker`` does) and every job runs through them."""
from __future__ import annotations

_bound = {}


def bind(services):
    """Give this process's jobs the services to run with (called once by ``tessera worker``)."""
    _bound["services"] = services


def _workflow():
    services = _bound.get("services")
    if services is None:
        raise RuntimeError("Tessera jobs run in `tessera worker`, which builds the services they need; "
                           "start the worker with that command.")
    return services.extensions["workflow"]


def run_outbox(outbox_id):
    """Run one outbox row (claims it; a row already done or held elsewhere is left alone)."""
    return _workflow().run_outbox(outbox_id)


run_action = run_outbox   # the name the style guide uses
