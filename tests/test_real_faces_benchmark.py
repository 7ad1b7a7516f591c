"""benchmarks/real_faces.py without the CelebAMask-HQ samples (they are never in this repository):
it still runs the public-domain portraits through the alignment path, and says how to get them."""

import json
import subprocess
import sys

import numpy as np
import pytest

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


def test_miou_counts_the_classes_a_photo_is_given_but_lacks():
    """``invented`` gets, per class, the pixels painted on each photo whose truth lacks that class:
    the false classes that cost the mean most (each counts 0 when no truth holds it)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from real_faces import miou

    from symmflow.palettes import CELEBAMASK_HQ

    ids = {name: k for k, name in enumerate(CELEBAMASK_HQ.class_names)}
    truth_a = np.full((8, 8), ids["skin"])
    truth_a[:2] = ids["hair"]
    truth_b = np.full((8, 8), ids["skin"])
    truth_b[6:] = ids["neck_l"]
    pred_a = truth_a.copy()
    pred_a[6:, :3] = ids["neck_l"]  # 6 pixels of a necklace truth_a lacks
    pred_b = truth_b.copy()
    pred_b[0, :5] = ids["hair"]  # 5 pixels of hair truth_b lacks
    predictions = iter([pred_a, pred_b])
    invented: dict = {}
    value, per_class = miou([(None, truth_a), (None, truth_b)], lambda _: next(predictions), invented)
    assert invented == {"neck_l": [6, 0], "hair": [0, 5]}
    # hair: 16 true pixels plus 5 painted where b has none; neck_l: 16 true plus 6 painted on a
    assert per_class["hair"] == round(16 / 21, 4) and per_class["neck_l"] == round(16 / 22, 4)
    assert 0 < value < 1


def test_moved_alignment_moves_the_face_by_the_asked_model_pixels():
    """The benchmark's crop moves: half a model pixel right puts the eyes half a model pixel
    (here 2 crop pixels: a 256 crop for a 64 px model) left of where alignment puts them; a
    scale of 1.03 leaves them 1.03 times closer together about the same midpoint."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from real_faces import moved_alignment

    from symmflow.alignment import CANONICAL_EYES, alignment_matrix, apply_affine

    eyes = np.array([[410.0, 300.0], [530.0, 310.0]])  # a slightly tilted face
    canonical = CANONICAL_EYES * 256 - 0.5
    np.testing.assert_allclose(moved_alignment(eyes, 256, 64, 0, 0, 1), alignment_matrix(eyes, 256))
    np.testing.assert_allclose(apply_affine(moved_alignment(eyes, 256, 64, 0.5, 0, 1), eyes), canonical - [2, 0], atol=1e-9)
    np.testing.assert_allclose(apply_affine(moved_alignment(eyes, 256, 64, 0, -0.5, 1), eyes), canonical + [0, 2], atol=1e-9)
    larger = apply_affine(moved_alignment(eyes, 256, 64, 0, 0, 1.03), eyes)
    np.testing.assert_allclose(larger.mean(axis=0), canonical.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(np.diff(larger, axis=0), np.diff(canonical, axis=0) / 1.03, atol=1e-9)


def test_an_unmoved_crop_segments_as_the_library_does():
    """The moved predictor with no move is the library's aligned segmentation, pixel for pixel
    (the same faces, crops, flow and paste), so each move's figure differs only by the move."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import matplotlib
    from PIL import Image
    from real_faces import moved_predictor, predictor

    from symmflow.pipeline import SymmFlowPipeline

    photo = np.asarray(Image.open(f"{matplotlib.get_data_path()}/sample_data/grace_hopper.jpg").convert("RGB"))
    pipe = SymmFlowPipeline.from_pretrained(ROOT / "checkpoints" / "faces")
    np.testing.assert_array_equal(moved_predictor(pipe, 0, 0, 1)(photo), predictor(pipe, 1, "align")(photo))
    assert (moved_predictor(pipe, 0.5, 0, 1)(photo) != predictor(pipe, 1, "align")(photo)).any()


def test_grid_ceiling_is_what_the_model_grid_loses_of_the_truth():
    """The truth read through the model's grid: at the crop's own size broad parts come back
    whole inside the face's crop; at a coarse grid a line two photo pixels thick is lost while
    the broad parts stay."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import matplotlib
    from PIL import Image
    from real_faces import grid_ceiling

    from symmflow.alignment import align_photo
    from symmflow.palettes import CELEBAMASK_HQ

    ids = {name: k for k, name in enumerate(CELEBAMASK_HQ.class_names)}
    photo = np.asarray(Image.open(f"{matplotlib.get_data_path()}/sample_data/grace_hopper.jpg").convert("RGB"))
    footprint = align_photo(photo, "align", 256).paste(np.ones((1, 256, 256), np.int64)).labels == 1
    truth = np.full(photo.shape[:2], ids["skin"])
    truth[: photo.shape[0] // 3] = ids["hair"]
    rows = np.nonzero(footprint.any(axis=1))[0]
    line = (rows[0] + rows[-1]) // 2
    truth[line : line + 2] = ids["neck_l"]
    truth[~footprint] = ids["hair"]  # outside the crop nothing is read back: only hair, which no assert checks, lies there
    _, fine = grid_ceiling([(photo, truth)], 256, 256)
    _, coarse = grid_ceiling([(photo, truth)], 256, 16)
    assert fine["skin"] > 0.97 and fine["neck_l"] > 0.5, fine
    assert coarse["skin"] > 0.9 and coarse["neck_l"] < 0.1, coarse


def _write_pairs(folder, masks):
    """``NAME.png`` class ids and a ``NAME.jpg`` photo twice their size for each mask."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name, mask in masks.items():
        Image.fromarray(mask.astype(np.uint8)).save(folder / f"{name}.png")
        photo = np.repeat(np.repeat(mask * 12, 2, axis=0), 2, axis=1).astype(np.uint8)
        Image.fromarray(np.stack([photo] * 3, axis=-1)).save(folder / f"{name}.jpg", quality=95)


def test_pair_folder_reads_pairs_in_name_order_at_the_masks_size(tmp_path):
    """A folder of pairs: only names with both files, in name order, the photo resized to its
    mask; a mask with an id outside the palette, or a folder without pairs, is refused by name."""
    import pytest

    from symmflow.data.datasets import PairFolder

    masks = {name: np.full((6, 8), k) for k, name in ((1, "b"), (2, "a"), (13, "c"))}
    _write_pairs(tmp_path / "pairs", masks)
    (tmp_path / "pairs" / "lonely.jpg").write_bytes((tmp_path / "pairs" / "a.jpg").read_bytes())
    pairs = PairFolder(tmp_path / "pairs")
    assert pairs.names == ["a", "b", "c"] and len(pairs) == 3
    photo, truth = pairs[2]
    assert photo.shape == (6, 8, 3) and photo.dtype == np.uint8 and truth.dtype == np.int64
    assert (truth == 13).all() and abs(int(photo.mean()) - 13 * 12) <= 3
    assert [t[0, 0] for _, t in pairs] == [2, 1, 13]
    assert len(PairFolder(tmp_path / "pairs", limit=2)) == 2
    _write_pairs(tmp_path / "bad", {"x": np.full((4, 4), 19)})
    with pytest.raises(ValueError, match=r"x\.png must hold class ids 0\.\.18"):
        PairFolder(tmp_path / "bad")[0]
    with pytest.raises(ValueError, match="no pairs in"):
        PairFolder(tmp_path / "empty")
    for limit in (0, -2):  # a slice would give no pairs, or all but the last two
        with pytest.raises(ValueError, match=f"at least 1, got {limit}"):
            PairFolder(tmp_path / "pairs", limit=limit)


def test_template_over_the_next_faces_is_the_ring_of_neighbours():
    """``template(truths, others=1)``: each face 'predicted' by the next face's truth only (the
    last by the first); without ``others``, by every other face's."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from real_faces import template

    truths = [np.full((4, 4), 13, np.int64) for _ in range(3)]  # hair (background would be ignored)
    truths[0][:1], truths[1][:2], truths[2][:4] = 1, 1, 1  # skin in 4, 8 and 16 pixels
    # skin IoU pooled over (0 by 1), (1 by 2), (2 by 0): intersections 4 + 8 + 4, unions 8 + 16 + 16
    assert template(truths, others=1)[1]["skin"] == round(16 / 40, 4)
    # every ordered pair: the ring both ways, intersections 16 + 16, unions 40 + 40
    assert template(truths)[1]["skin"] == round(32 / 80, 4)


def test_score_folder_counts_faces_missed_and_classes_invented(tmp_path):
    """``score_folder``'s accounting, with a stand-in for the pipeline: pooled IoU, photos where
    no face was found, and each class painted on a photo whose truth lacks it (photos, pixels)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from types import SimpleNamespace

    from real_faces import score_folder

    from symmflow.data.datasets import PairFolder
    from symmflow.palettes import CELEBAMASK_HQ

    hat = CELEBAMASK_HQ.class_names.index("hat")
    _write_pairs(tmp_path, {"a": np.full((4, 4), 1), "b": np.full((4, 4), 13)})

    class Painter:
        def segment_photo(self, photo, align, steps, seed):
            assert (align, steps, seed) == ("auto", 1, 0)
            labels = np.full(photo.shape[:2], 1, np.int64)
            labels[0, :3] = hat  # 3 pixels of hat on every photo
            return SimpleNamespace(labels=labels, faces=[] if photo.mean() > 100 else [object()])

    scores = score_folder(PairFolder(tmp_path), {"model": Painter()}, others=1)
    assert scores["pairs"] == 2 and scores["model"]["no_face"] == 1  # the hair photo is bright
    assert scores["model"]["invented"] == {"hat": {"photos": 2, "pixels": 6}, "skin": {"photos": 1, "pixels": 13}}
    # skin: 13 of a's 16 pixels, and 13 painted on b's hair
    assert scores["model"]["per_class"]["skin"] == round(13 / 29, 4)
    assert scores["template"]["others"] == 1 and scores["template"]["per_class"]["skin"] == 0.0
    # the interval over the photos: a drawn twice reads skin 26 / 32 beside hat 0 (hair absent), b twice
    # reads 0, one of each the whole set's (13 / 29 + 0 + 0) / 3; the 95% interval spans the first two
    assert scores["model"]["miou"] == round(13 / 29 / 3, 4)
    assert scores["model"]["interval"] == pytest.approx([0.0, 26 / 32 / 2], abs=1e-4)
    assert scores["template"]["interval"] == [0.0, 0.0]


def test_a_wrong_pairs_folder_or_limit_is_refused_before_any_work(tmp_path):
    """``--pairs`` without pairs, or ``--pairs-limit`` under 1: a usage error naming what was
    wrong, at once (exit status 2), not after the minutes the samples take."""
    _write_pairs(tmp_path / "pairs", {"a": np.full((4, 4), 1)})
    for extra, said in (([str(tmp_path / "absent")], "no pairs in"),
                        ([str(tmp_path / "pairs"), "--pairs-limit", "0"], "at least 1, got 0")):
        run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_faces.py"), "--dry-run", "--pairs", *extra],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert run.returncode == 2 and said in run.stderr, run.stderr[-2000:]
        assert "pairs from" not in run.stdout and "grace_hopper" not in run.stdout  # nothing was scored


def test_a_seed_count_under_one_is_a_usage_error_before_any_work(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "real_faces.py"), "--samples", str(tmp_path / "absent"), "--seeds", "0", "--dry-run"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert run.returncode == 2 and "--seeds must be a whole number of seeds, at least 1; got 0" in run.stderr


def test_the_seed_of_the_label_noise_reaches_the_segmentation():
    """``predictor(..., seed=s)`` segments as ``segment_photo(seed=s)`` does: the seeds the
    samples' figure is averaged over are the library's own."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from real_faces import predictor

    calls = []

    class Recorder:
        def segment_photo(self, photo, **kwargs):
            calls.append(kwargs)
            return type("Result", (), {"labels": np.zeros((2, 2), np.int64)})()

    for seed in (0, 3):
        predictor(Recorder(), 1, "align", seed=seed)(None)
    assert [c["seed"] for c in calls] == [0, 3] and all(c["align"] == "align" and c["steps"] == 1 for c in calls)
