"""Instructions per detail page (valgrind's cachegrind: a count, not a clock), ours and the
hand-written one of ``bench/pages.py``, on its setup: 20 warm-up pages of each, then ``n`` of one
kind, minus the same run with none. ``python bench/detail_instructions.py <tree> [n]`` (the tree on
PYTHONPATH and as the working directory; about 15 minutes on a loaded machine)."""
import os, re, subprocess, sys, tempfile

def child(which, n):
    sys.path.insert(0, os.getcwd())
    from bench.pages import _setup, _hand_app
    app, services, client = _setup(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    hand = _hand_app(services)
    rid = services.records().list("deal", services.actor("admin"), limit=1)["records"][0]["id"]
    for _ in range(20):
        client.get(f"/o/deal/{rid}")
        hand.get(f"/deals/{rid}")
    c, u = (client, f"/o/deal/{rid}") if which == "ours" else (hand, f"/deals/{rid}")
    for _ in range(n):
        assert c.get(u).status_code == 200
    services.dispose()

def count(tree, which, n):
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          sys.executable, __file__, "--child", which, str(n)], cwd=tree,
                         env=dict(os.environ, PYTHONPATH=tree), capture_output=True, text=True, check=True)
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out.stderr).group(1).replace(",", ""))

if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        tree, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
        base = count(tree, "ours", 0)
        ours = (count(tree, "ours", n) - base) / n
        hand = (count(tree, "hand", n) - base) / n
        print(f"{tree:20} ours {ours/1e6:.3f} M  hand {hand/1e6:.3f} M  ratio {hand/ours:.3f}", flush=True)
