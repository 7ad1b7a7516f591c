import numpy as np
import pytest
import torch

from symmflow.evaluation import (IoUAccumulator, confusion_matrix, cycle_portraits, evaluate_cycle, evaluate_segmentation,
                                 frechet_distance, inception_features, sample_diversity)
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig

from test_pipeline import face_ids, tiny_unet


def test_confusion_matrix_rows_are_truth():
    cm = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_miou_is_macro_over_all_pixels_and_ignores_background():
    acc = IoUAccumulator(3, ignore_index=0)
    true = np.array([[0, 1, 1, 2]])
    acc.update(np.array([[1, 1, 2, 2]]), true)       # class 1: 1/2, class 2: 1/2 (truth-0 pixel dropped)
    acc.update(np.array([[2, 1, 1, 2]]), true)       # summed over images before dividing
    # class 1: inter 1 + 2 = 3, union 2 + 2 = 4; class 2: inter 1 + 1 = 2, union 2 + 1 = 3
    np.testing.assert_allclose(acc.per_class()[1:], [3 / 4, 2 / 3])
    assert acc.mean() == pytest.approx((3 / 4 + 2 / 3) / 2)
    never = IoUAccumulator(4, ignore_index=0)
    never.update(np.array([1, 1]), np.array([1, 1]))
    assert np.isnan(never.per_class()[3]) and never.mean() == 1.0  # absent classes do not count
    with pytest.raises(ValueError, match="shape"):
        acc.update(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 2\]"):
        acc.update(np.array([5]), np.array([1]))


def test_interval_is_a_bootstrap_over_images():
    """Images alike leave nothing to resample: the interval is the figure itself. A class on one
    image of twenty (a necklace) moves the macro mean by a share of the classes, so the interval
    is wide, holds the figure, and matches the draws computed by hand."""
    true = np.array([[0, 1, 1, 2]])
    same = IoUAccumulator(3, ignore_index=0, items=4)
    for k in range(4):
        same.update(np.array([[1, 1, 2, 2]]), true, item=k)
    assert same.interval() == pytest.approx((same.mean(), same.mean()))

    rare = IoUAccumulator(4, ignore_index=0, items=20)
    for k in range(20):
        truth = np.array([1, 1, 3 if k == 0 else 1, 2])
        rare.update(np.array([1, 1, 1, 2]), truth, item=k)  # class 3 (on image 0 only) never found
    low, high = rare.interval(level=0.9, rounds=4000, seed=1)
    assert rare.mean() == pytest.approx((59 / 60 + 1 + 0) / 3)  # class 1: 59 of 60 pixels, class 3 missed
    assert low <= rare.mean() <= high
    # a draw without image 0 has no class 3 and scores 1.0 over classes 1, 2: (1 - 1/20) ** 20 = 36% of
    # draws, so the top 5% is 1.0; with m copies of it, ((60 - m) / 60 + 1 + 0) / 3, and 3 or more
    # copies come in 7.6% of draws (4 or more in 1.6%): the bottom 5% is at m = 3
    assert high == 1.0 and low == pytest.approx((57 / 60 + 1) / 3)
    np.testing.assert_array_equal(rare.item_intersection.sum(0), rare.intersection)
    assert rare.interval(level=0.9, rounds=4000, seed=1) == (low, high)  # seeded

    with pytest.raises(ValueError, match="name each image"):
        rare.update(np.array([1]), np.array([1]))
    with pytest.raises(ValueError, match=r"item must lie in \[0, 20\), got 20"):
        rare.update(np.array([1]), np.array([1]), item=20)
    with pytest.raises(ValueError, match="level must lie in"):
        rare.interval(level=95)
    with pytest.raises(ValueError, match="rounds must be an integer >= 1, got 0"):
        rare.interval(rounds=0)
    with pytest.raises(ValueError, match="per-image sums"):
        IoUAccumulator(3).interval()
    with pytest.raises(ValueError, match="items must be the number of images"):
        IoUAccumulator(3, items=2.5)
    assert len(IoUAccumulator(3, items=np.int64(2)).item_union) == 2

    # images holding only ignored pixels: draws of nothing but those score no class and are left out
    sparse = IoUAccumulator(3, ignore_index=0, items=3)
    sparse.update(np.array([1, 1]), np.array([1, 1]), item=0)
    for k in (1, 2):
        sparse.update(np.array([1, 1]), np.array([0, 0]), item=k)
    assert sparse.mean() == 1.0 and sparse.interval() == (1.0, 1.0)


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    cov = np.cov(a, rowvar=False)
    assert frechet_distance(a.mean(0), cov, a.mean(0), cov) == pytest.approx(0, abs=1e-6)
    # a pure shift adds |d|^2; a scaled identity covariance gives (sqrt(s1) - sqrt(s2))^2 per dim
    assert frechet_distance(np.zeros(3), np.eye(3), np.ones(3), np.eye(3)) == pytest.approx(3.0)
    assert frechet_distance(np.zeros(2), 4 * np.eye(2), np.zeros(2), np.eye(2)) == pytest.approx(2.0)


def test_fid_features_need_the_optional_package():
    try:
        import pytorch_fid  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pytorch-fid"):
            inception_features(torch.zeros(1, 3, 8, 8))
    else:
        pytest.skip("pytorch-fid is installed: its weights would be downloaded")


def test_diversity_is_positive_for_fresh_noise():
    pipe = SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=16))
    assert sample_diversity(pipe, [face_ids()], samples=3, steps=2) > 0.01


def test_lpips_diversity_scores_every_pair_with_the_lpips_package(monkeypatch):
    """LPIPS is wired through the optional ``lpips`` package: with a stand-in whose distance is
    the mean absolute difference on 0..1, the LPIPS figure equals the pixel L1 figure."""
    import sys
    import types

    class FakeLPIPS(torch.nn.Module):
        def __init__(self, net, verbose):
            super().__init__()
            assert net == "alex"

        def forward(self, a, b):  # images in [-1, 1] -> [N, 1, 1, 1], as lpips returns
            return ((a - b).abs() / 2).flatten(1).mean(1).view(-1, 1, 1, 1)

    monkeypatch.setitem(sys.modules, "lpips", types.SimpleNamespace(LPIPS=FakeLPIPS))
    pipe = SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=16))
    l1 = sample_diversity(pipe, [face_ids()], samples=3, steps=2)
    assert sample_diversity(pipe, [face_ids()], samples=3, steps=2, distance="lpips") == pytest.approx(l1, rel=1e-5)
    with pytest.raises(ValueError, match="choose 'l1' or 'lpips'"):
        sample_diversity(pipe, [face_ids()], distance="l2")
    monkeypatch.setitem(sys.modules, "lpips", None)  # not installed
    with pytest.raises(ImportError, match="pip install lpips"):
        sample_diversity(pipe, [face_ids()], samples=2, steps=1, distance="lpips")


def test_each_process_takes_every_nth_batch_and_sums_add_up(monkeypatch):
    from symmflow import evaluation

    seen = []
    for rank in range(3):
        monkeypatch.setattr(evaluation, "_process", lambda rank=rank: (rank, 3))
        seen += list(evaluation.process_batches(23, 4))
    assert sorted(seen) == list(range(0, 23, 4))  # every batch once, none twice
    monkeypatch.setattr(evaluation, "_process", lambda: (0, 1))
    a = np.array([1, 2])
    assert evaluation.sum_over_processes(a)[0] is a


def test_each_process_fills_the_rows_of_its_own_images(monkeypatch):
    """Under 2 processes each scores every other batch into its own images' rows: the rows are
    disjoint and add up to one process's, so the interval after summing is the one-process one."""
    from symmflow import evaluation

    pipe = SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=16))
    masks = [np.roll(face_ids(16), k, axis=1) for k in range(5)]
    images = [np.random.default_rng(k).integers(0, 256, (16, 16, 3), dtype=np.uint8) for k in range(5)]
    rows = {}
    monkeypatch.setattr(IoUAccumulator, "sum_over_processes", lambda acc: rows.__setitem__(world, acc.item_intersection.copy()))
    for world, rank in ((1, 0), (2, 0), (2, 1)):
        monkeypatch.setattr(evaluation, "_process", lambda rank=rank, world=world: (rank, world))
        evaluate_segmentation(pipe, images, masks, steps=1, batch_size=2)
        rows[(world, rank)] = rows.pop(world)
    one, first, second = rows[(1, 0)], rows[(2, 0)], rows[(2, 1)]
    assert one.sum(1).all()  # every image scored
    assert not (first.sum(1) * second.sum(1)).any()  # batches 0-1 and 4 by rank 0, 2-3 by rank 1
    np.testing.assert_array_equal(first + second, one)


def coco_pipe_predicting(rgb):
    """A 16 px COCO-Stuff colour-mask pipeline whose one-step segmentation ends at the colour ``rgb``
    everywhere: its label velocity is ``y - c`` (one Euler step from t = 1 to 0 lands on ``c``)."""
    pipe = SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=16, palette="coco_stuff", beta=6))
    c = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 127.5 - 1
    pipe.model.forward = lambda x, y, t: (torch.zeros_like(x), y - c)
    return pipe


def test_coco_stuff_segmentation_in_both_decodings():
    """The authors' decoding decodes the predicted colour itself to their evaluation colours (raw
    value 11, an unannotated thing, for a colour 5 units from its colour), not the class the
    colour was snapped to (raw 17, 45 units away); the truth is recoded to the same rows."""
    from symmflow.evaluation import evaluate_segmentation
    from symmflow.palettes import COCO_STUFF, COCO_STUFF_AUTHORS_EVAL

    pipe = coco_pipe_predicting((0, 55, 250))  # raw 11: (0, 50, 250); raw 17: (0, 100, 250)
    raw17 = COCO_STUFF.raw_ids.index(17)  # class 16
    truth = np.full((16, 16), raw17)
    truth[:, :4] = COCO_STUFF.ignore_index  # unlabeled: left out in both decodings
    images = [np.random.default_rng(k).integers(0, 256, (16, 16, 3), dtype=np.uint8) for k in range(2)]
    ours = evaluate_segmentation(pipe, images, [truth, truth], steps=1)
    authors = evaluate_segmentation(pipe, images, [truth, truth], steps=1, decoding="authors")
    assert ours["decoding"] == "classes" and ours["miou"] == 1.0
    assert list(ours["per_class"]) == list(COCO_STUFF.class_names)
    assert authors["decoding"] == "authors" and authors["miou"] == 0.0
    assert list(authors["per_class"]) == list(COCO_STUFF_AUTHORS_EVAL.class_names)
    names = COCO_STUFF_AUTHORS_EVAL.class_names
    assert authors["per_class"][names[11]] == authors["per_class"][names[17]] == 0.0  # predicted row 11, truth row 17
    with pytest.raises(ValueError, match="one class map per image: got 2 images and 1 class maps"):
        evaluate_segmentation(pipe, images, [truth], steps=1)
    with pytest.raises(ValueError, match="unknown decoding 'paper'; accepted: classes, authors"):
        evaluate_segmentation(pipe, images, [truth, truth], steps=1, decoding="paper")


def test_cli_eval_names_its_decoding_and_refuses_others(tmp_path, capsys):
    import json

    from PIL import Image

    from symmflow.cli import main as cli_main
    from symmflow.palettes import COCO_STUFF

    pipe = SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=16, palette="coco_stuff", beta=6))
    pipe.save_pretrained(tmp_path / "coco")
    for sub in ("images", "labels"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    ids = np.zeros((16, 16), np.int64)
    ids[4:12, 4:12] = COCO_STUFF.class_names.index("wood")  # raw 181: the authors' rows end at raw 170
    for k in range(2):
        Image.fromarray(np.random.default_rng(k).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "data" / "images" / f"{k}.png")
        Image.fromarray(COCO_STUFF.colorize(ids)).save(tmp_path / "data" / "labels" / f"{k}.png")
    base = ["eval", "--checkpoint", str(tmp_path / "coco"), "--data", "folder", "--root", str(tmp_path / "data"), "--steps", "1"]
    for decoding in ("classes", "authors"):
        assert cli_main(base + ["--decoding", decoding, "--json", str(tmp_path / f"{decoding}.json")]) == 0
        assert f"segmentation mIoU at 1 step(s), 2 images, {decoding} decoding, min_region 0: " in capsys.readouterr().out
        report = json.loads((tmp_path / f"{decoding}.json").read_text())
        assert report["decoding"] == decoding and 0.0 <= report["segmentation"]["1"]["miou"] <= 1.0
        assert ("wood" in report["segmentation"]["1"]["per_class"]) == (decoding == "classes")
    SymmFlowPipeline(tiny_unet(1, 1), PipelineConfig(task="classification", image_size=16, image_channels=1, num_classes=3,
                                                    beta=4)).save_pretrained(tmp_path / "digits")
    assert cli_main(["eval", "--checkpoint", str(tmp_path / "digits"), "--decoding", "authors"]) == 2
    assert "--decoding applies to segmentation models" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli_main(base + ["--decoding", "paper"])
    assert exit_.value.code == 2 and "invalid choice: 'paper' (choose from classes, authors)" in capsys.readouterr().err.replace("'classes', 'authors'", "classes, authors")


def test_cycle_portraits_scored_at_any_steps_are_the_cycle_figure():
    """The benchmark generates the cycle's portraits once and reads them at several step counts:
    the same figures as evaluate_cycle, which generates and reads batch by batch."""
    pipe = SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=16))
    masks = [np.roll(face_ids(16), k, axis=1) for k in range(5)]
    portraits = cycle_portraits(pipe, masks, generate_steps=2, seed=3, batch_size=2)
    assert len(portraits) == 5 and portraits[0].shape == (16, 16, 3) and portraits[0].dtype == np.uint8
    np.testing.assert_array_equal(portraits[2], pipe.generate(masks[2:4], steps=2, seed=3 + 2, output_type="np").images[0])
    for steps in (1, 2):
        cycle = evaluate_cycle(pipe, masks, generate_steps=2, segment_steps=steps, seed=3, batch_size=2)
        scored = evaluate_segmentation(pipe, portraits, masks, steps=steps, seed=3, batch_size=2)
        assert cycle["miou"] == scored["miou"] and cycle["per_class"] == scored["per_class"]
        assert cycle["miou_interval"] == scored["miou_interval"]
        assert cycle["miou_interval"][0] <= cycle["miou"] <= cycle["miou_interval"][1]
