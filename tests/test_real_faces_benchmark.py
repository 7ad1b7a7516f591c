"""benchmarks/real_faces.py without the CelebAMask-HQ samples (they are never in this repository):
it still runs the public-domain portraits through the alignment path, and says how to get them."""

import json
import subprocess
import sys

from conftest import ROOT


def test_benchmark_runs_without_the_samples_and_says_how_to_get_them(tmp_path):
    results = ROOT / "benchmarks" / "results" / "real_faces.json"
    before = results.read_bytes() if results.exists() else None
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "real_faces.py"), "--samples", str(tmp_path / "absent"), "--dry-run"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "git clone --depth 1 https://github.com/switchablenorms/CelebAMask-HQ" in run.stdout
    assert str(tmp_path / "absent") in run.stdout  # where to put them
    # the portraits that ship in packages still go through detection and alignment
    assert "grace_hopper: 1 face(s)" in run.stdout, run.stdout
    # a dry run leaves the committed results alone
    assert (results.read_bytes() if results.exists() else None) == before
    if before is not None:
        assert {"miou_1", "miou_5", "template", "faces_found"} <= set(json.loads(before))
