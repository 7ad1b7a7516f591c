"""benchmarks/faces.py refuses counts it cannot score before any work (it takes minutes)."""

import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("counts, got", [(["--count", "0"], "got 0 and 1000"),
                                         (["--count", "5", "--cycle-count", "6"], "got 5 and 6"),
                                         (["--count", "5", "--cycle-count", "0"], "got 5 and 0")])
def test_bad_counts_are_a_usage_error(counts, got):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "faces.py"), *counts],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert f"--count must be at least 1 and --cycle-count between 1 and --count; {got}" in run.stderr
