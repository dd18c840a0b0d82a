"""The shared acceptance cases (../shared/formula-cases) through their own runner."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "formula-cases"


@pytest.mark.skipif(not (SHARED / "run_cases.py").exists(), reason="../shared/formula-cases is not present")
def test_public_cases():
    r = subprocess.run([sys.executable, str(SHARED / "run_cases.py"), "--path", str(ROOT),
                        *sorted(str(p) for p in SHARED.glob("*.jsonl"))],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    last = r.stdout.strip().splitlines()[-1]
    assert last.endswith(" 0 failed"), r.stdout[-3000:]
    assert r.returncode == 0
