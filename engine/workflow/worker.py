"""``tessera worker``: an rq worker on the workflow queue plus the scheduler loop, or — without
Redis — the scheduler alone, running due outbox rows in this process."""
from __future__ import annotations

import atexit
import logging
import os
import queue
import signal
import threading
import time

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


class Enqueuer:
    """A background thread that hands outbox ids to rq in batches, so that a request that wrote
    records does not wait on Redis. Ids it could not enqueue (process killed, Redis down) are in
    the database; the scheduler enqueues them later.

    After the first id of a batch it sleeps ``linger`` seconds and then takes every id put
    meanwhile (a sleep, not a wait on the queue: a put does not wake the thread for each id). When
    ids came faster than ``busy_rate`` a second between its last two batches, writes are coming
    steadily and it sleeps ``busy_linger`` instead: fewer, fuller rq jobs (each costs the web
    process 0.3-1 ms of CPU, and the worker ~60 Redis round trips, so fuller jobs are also drained
    faster) for at most ``busy_linger`` more latency. Writes further apart (a person's, a few a
    second) keep the short ``linger``. :meth:`flush` cuts a linger short: what was put is handed
    over at once (shutdown, tests, benchmarks), without waiting out the sleep."""

    # busy_linger 0.1 s: at 1,300 writes/s with rules, one job of ~200 ids a batch (0.05 s made twice
    # the jobs: 16 against 10 us of the enqueuer's CPU a write in bench/workflow.py)
    def __init__(self, enqueue, max_batch=500, linger=0.005, busy_linger=0.1, busy_rate=50.0):
        self._enqueue = enqueue
        self._max = max_batch
        self._linger = linger
        self._busy_linger = busy_linger
        self._busy_rate = busy_rate
        self._wake = threading.Event()         # set by flush(): the linger ends at once
        self._sleep, self._clock = self._wake.wait, time.monotonic
        self._lock = threading.Lock()
        self._handed = threading.Condition()   # notified when a batch has been handed over
        self._pid = None
        self._put = self._done = 0
        atexit.register(self.flush, 2.0)

    def _start(self):
        # (again after a fork: a child has the object but not the thread)
        self._queue = queue.SimpleQueue()
        self._pid = os.getpid()
        threading.Thread(target=self._loop, name="tessera-enqueuer", daemon=True).start()

    def put(self, ids):
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._start()
        self._put += 1
        self._queue.put(list(ids))

    def _loop(self):
        q = self._queue
        busy, last = False, None
        while True:
            ids, taken = q.get(), 1
            try:
                self._sleep(self._busy_linger if busy else self._linger)
                self._wake.clear()
                while len(ids) < self._max:
                    try:
                        ids += q.get_nowait()
                        taken += 1
                    except queue.Empty:
                        break
                # the ids taken now came since the last batch was taken: their rate decides the next sleep
                now = self._clock()
                busy = last is not None and taken > self._busy_rate * max(now - last, 1e-6)
                last = now
                self._enqueue(ids)
            except Exception:  # noqa: BLE001 - never let the thread die
                log.exception("enqueueing outbox rows failed")
            finally:
                self._done += taken
                with self._handed:
                    self._handed.notify_all()

    def flush(self, timeout=5.0):
        """Hand over every id put so far now (the thread's linger is cut short) and wait for it
        (at most ``timeout`` seconds)."""
        if self._pid != os.getpid():
            return
        deadline = time.monotonic() + timeout
        with self._handed:
            while self._done < self._put:
                self._wake.set()
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._handed.wait(min(left, 0.05))
