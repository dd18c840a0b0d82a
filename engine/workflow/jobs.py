"""The only rq entry points. A job carries outbox ids (JSON), never a pickled callable; the worker
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


def run_outbox_batch(outbox_ids):
    """Run several outbox rows, one after the other (bulk writes and schedules dispatch batches: rq's
    own cost per job is far above a row's). A row left unrun by a dying worker is enqueued again by
    the scheduler."""
    workflow = _workflow()
    return [workflow.run_outbox(outbox_id) for outbox_id in outbox_ids]


run_action = run_outbox   # the name the style guide uses
