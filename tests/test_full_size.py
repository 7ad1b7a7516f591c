"""The SD 2.1-size latent pipeline at 512 px through the app's face handlers (random weights).

Minutes and ~5 GB of memory on a CPU: out of the default run (marker ``fullsize``); run it with
``python -m pytest -m fullsize tests/test_full_size.py`` (``benchmarks/full_size.py`` records the
same run's seconds and memory in benchmarks/RESULTS.md).
"""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.fullsize
def test_segment_edit_regenerate_at_full_size():
    from full_size import SIZE, run

    record = run()
    assert record["parameters_millions"] > 900  # U-Net (866M) and VAE (84M)
    assert record["mask_shape"] == record["photo_size"] == [SIZE, SIZE]
    assert record["noise_shape"] == [1, 4, SIZE // 8, SIZE // 8]  # the recovered latent noise
    assert record["portrait_shape"] == [SIZE, SIZE] and record["portraits"] == 1 and record["edited_share"] > 0
    for stage in ("build", "segment_1_step", "edit_mask", "regenerate_2_steps"):
        assert record[stage]["seconds"] > 0 and record[stage]["peak_rss_mb"] > 0
