"""``tessera worker``: an rq worker on the workflow queue plus the scheduler loop, or — without
Redis — the scheduler alone, running due outbox rows in this process."""
from __future__ import annotations

import logging
import signal
import threading

from . import jobs

log = logging.getLogger("tessera.workflow")


def scheduler_loop(workflow, stop, interval):
    """Call ``run_due`` every ``interval`` seconds until ``stop`` is set (errors are logged, not fatal)."""
    while not stop.is_set():
        try:
            workflow.run_due()
        except Exception:  # noqa: BLE001 - a bad tick must not end the scheduler
            log.exception("scheduler tick failed")
        stop.wait(interval)


def run_worker(services, *, interval=5.0, burst=False, echo=print):
    """Run until stopped (SIGTERM/SIGINT): rq's worker in this thread, the scheduler in another."""
    workflow = services.extensions["workflow"]
    jobs.bind(services)
    stop = threading.Event()
    if not services.config.redis_url:
        echo("no TESSERA_REDIS_URL: running the scheduler and due outbox rows in this process")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_a: stop.set())
        if burst:
            workflow.run_due()
            return
        scheduler_loop(workflow, stop, interval)
        return
    from rq import SimpleWorker

    queue = workflow.queue
    thread = threading.Thread(target=scheduler_loop, args=(workflow, stop, interval), name="tessera-scheduler",
                              daemon=True)
    thread.start()
    echo(f"worker on queue '{queue.name}' ({services.config.workflow_queue}); scheduler every {interval:g} s")
    try:
        # SimpleWorker runs jobs in this process: the services (and their connection pool) are built
        # once, and nothing is forked with open database connections
        SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(
            burst=burst, logging_level="WARNING", with_scheduler=False)
    finally:
        stop.set()
        thread.join(timeout=interval + 5)
