"""Instructions per write (valgrind's cachegrind: a count, not a clock, so other people's load on
this shared machine does not move it) for the record service door of ``bench/workflow.py``: the
same ``ticket`` object, with the three rules or none.

    python bench/workflow_instructions.py [--writes 300]

Each configuration runs twice under ``valgrind --tool=cachegrind --cache-sim=no``: with 0 and with
``--writes`` creates after 30 warm-up creates; the difference over ``--writes`` is one write's
instructions (the setup cancels out). The hand-over to rq is switched off (the rows stay pending):
what is counted is the writing thread, including the hand-over to the enqueuer thread, not that
thread's rq work (``bench/workflow.py`` prints that as "other threads"). About 5 minutes.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child(mode, n):
    """Run in the process valgrind counts: the setup, then ``n`` creates."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    import workflow as wb
    from engine.security import SYSTEM_ACTOR
    from engine.services import build_services

    receiver = wb.Receiver()
    services = build_services({"database_url": f"sqlite:///{tempfile.mkdtemp(prefix='bench_wfi_')}/b.db",
                               "redis_url": "redis://127.0.0.1:6379/13", "workflow_queue": f"wfi_{os.getpid()}",
                               "webhook_secrets": wb.SECRETS})
    services.store.create_object(wb.TICKET, SYSTEM_ACTOR)
    wb.set_rules(services, wb.rules(receiver.url) if mode == "rules" else [])
    wf = services.extensions["workflow"]
    wf.enqueue = lambda ids: None          # rows stay pending: nothing reaches Redis
    write = wb.service_writer(services)
    for i in range(30):
        write(10 ** 7 + i)
    for i in range(n):
        write(i)
    wf.flush()
    services.dispose()


def count(mode, n):
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          sys.executable, __file__, "--child", mode, str(n)],
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, check=True)
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out.stderr).group(1).replace(",", ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    per = {mode: (count(mode, args.writes) - count(mode, 0)) / args.writes / 1e6 for mode in ("none", "rules")}
    print(f"M instructions per write: no rules {per['none']:.3f}, three rules {per['rules']:.3f}, "
          f"extra {per['rules'] - per['none']:.3f}, ratio {per['none'] / per['rules']:.3f}  (goal >= 0.7x)")


if __name__ == "__main__":
    main()
