"""``symmflow generate|segment|classify`` on files, with tiny pipelines the tests save."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from symmflow.cli import main as cli_main
from symmflow.palettes import CELEBAMASK_HQ
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig

from test_pipeline import face_ids, tiny_unet


@pytest.fixture(scope="module")
def pipes(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipes")
    SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=16)).save_pretrained(root / "faces")
    SymmFlowPipeline(
        tiny_unet(1, 1), PipelineConfig(task="classification", image_size=16, image_channels=1, num_classes=3, class_names=["a", "b", "c"], beta=4)
    ).save_pretrained(root / "digits")
    return root


def test_generate_writes_pngs_and_a_gif(pipes, tmp_path, capsys):
    mask = tmp_path / "face.png"
    Image.fromarray(CELEBAMASK_HQ.colorize(face_ids(48))).save(mask)
    args = ["generate", str(mask), "--checkpoint", str(pipes / "faces"), "--steps", "3", "--num-images", "2",
            "--out", str(tmp_path / "out"), "--gif", "--quiet"]
    assert cli_main(args) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"face_0.png", "face_1.png", "face.gif"}
    gif = Image.open(tmp_path / "out" / "face.gif")
    assert gif.n_frames == 4 and min(gif.size) >= 256
    assert "3 network evaluations" in capsys.readouterr().out


def test_generate_holds_the_label_as_the_model_says_unless_told(pipes, tmp_path):
    """A model whose config sets label_fade holds its label (symmflow.conditioning);
    --no-hold-label gives the authors' free flow, the same as a model without one."""
    held = tmp_path / "held"
    SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=16, label_fade=0.65)).save_pretrained(held)
    mask = tmp_path / "face.png"
    Image.fromarray(CELEBAMASK_HQ.colorize(face_ids(16))).save(mask)

    def portrait(folder, *flags):
        out = tmp_path / f"{folder.name}{''.join(flags)}"
        assert cli_main(["generate", str(mask), "--checkpoint", str(folder), "--steps", "3", "--out", str(out), "--quiet", *flags]) == 0
        return np.asarray(Image.open(out / "face_0.png")).astype(int)

    free = portrait(pipes / "faces")
    np.testing.assert_array_equal(portrait(held, "--no-hold-label"), free)
    assert np.abs(portrait(held) - free).max() > 0
    assert np.abs(portrait(pipes / "faces", "--hold-label") - free).max() > 0  # on the mean of its path


def test_segment_writes_masks_at_the_input_size(pipes, tmp_path, capsys):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(photo)
    assert cli_main(["segment", str(photo), "--checkpoint", str(pipes / "faces"), "--steps", "2",
                     "--out", str(tmp_path / "seg"), "--quiet"]) == 0
    mask = Image.open(tmp_path / "seg" / "photo_mask.png")
    labels = np.asarray(Image.open(tmp_path / "seg" / "photo_labels.png"))
    assert mask.size == (40, 30) and labels.shape == (30, 40) and labels.max() < 19
    assert "%" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["segment", "generate"])
def test_inputs_whose_outputs_would_share_a_name_are_refused_before_anything_is_written(pipes, tmp_path, capsys, command):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    colours = CELEBAMASK_HQ.colorize(face_ids(16))
    first, second = tmp_path / "a" / "face.png", tmp_path / "b" / "face.jpg"
    Image.fromarray(colours).save(first), Image.fromarray(colours).save(second, quality=100)
    out = tmp_path / "out"
    assert cli_main([command, str(first), str(second), "--checkpoint", str(pipes / "faces"), "--steps", "1",
                     "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"inputs 1 ({first}) and 2 ({second}) would both write face* in {out}" in err
    assert not out.exists()


def test_segment_aligns_the_faces_of_a_photo(pipes, tmp_path, capsys):
    """The public-domain portrait in matplotlib: its face is found, aligned and boxed; a photo
    without a face is refused under --align align and segmented whole under auto."""
    import matplotlib

    hopper = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    assert cli_main(["segment", hopper, "--checkpoint", str(pipes / "faces"), "--steps", "1",
                     "--out", str(tmp_path / "seg"), "--quiet"]) == 0
    assert "grace_hopper (1 face(s) aligned)" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "seg").iterdir()} == {"grace_hopper_mask.png", "grace_hopper_labels.png",
                                                              "grace_hopper_faces.png"}
    flat = tmp_path / "flat.png"
    Image.new("RGB", (64, 48), (120, 120, 120)).save(flat)
    assert cli_main(["segment", str(flat), "--checkpoint", str(pipes / "faces"), "--steps", "1", "--align", "align",
                     "--out", str(tmp_path / "seg2"), "--quiet"]) == 2
    assert "no face to align" in capsys.readouterr().err
    assert cli_main(["segment", str(flat), "--checkpoint", str(pipes / "faces"), "--steps", "1",
                     "--out", str(tmp_path / "seg3"), "--quiet"]) == 0
    assert "flat (whole image)" in capsys.readouterr().out and (tmp_path / "seg3" / "flat_mask.png").is_file()


def test_segment_align_refuses_a_later_photo_without_a_face_before_writing_anything(pipes, tmp_path, capsys):
    """Several photos under --align align: every face is found before the first output is written,
    so a photo without one is refused (exit 2, named) and nothing is left half-written."""
    import matplotlib

    hopper = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    flat = tmp_path / "flat.png"
    Image.new("RGB", (64, 48), (120, 120, 120)).save(flat)
    out = tmp_path / "seg"
    assert cli_main(["segment", hopper, str(flat), "--checkpoint", str(pipes / "faces"), "--steps", "1", "--align", "align",
                     "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"photo 2 of 2 ({flat}): no face to align in this 64x48 photo" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("change", ["rewritten", "deleted"])
def test_segment_refuses_a_photo_changed_between_its_two_passes(pipes, tmp_path, monkeypatch, capsys, change):
    """The second pass cuts the crops at the faces found in the first: a photo rewritten (same
    size, other pixels) or deleted in between is named and the command fails (exit 1), with the
    earlier photo's outputs written."""
    import time

    from symmflow.pipeline import SegmentationPipeline

    photos = []
    for k in range(2):
        photos.append(tmp_path / f"p{k}.png")
        Image.new("RGB", (64, 48), (100 + 20 * k,) * 3).save(photos[-1])
    segment_stream = SegmentationPipeline.segment_stream

    def stream(self, images, **kwargs):
        if len(list((tmp_path / "seg").glob("*"))) == 0:  # while photo 1 is segmented
            time.sleep(0.01)  # a later modification time even on coarse clocks
            if change == "deleted":
                photos[1].unlink()
            else:
                Image.new("RGB", (64, 48), (10, 200, 10)).save(photos[1])
        yield from segment_stream(self, images, **kwargs)

    monkeypatch.setattr(SegmentationPipeline, "segment_stream", stream)
    code = cli_main(["segment", *map(str, photos), "--checkpoint", str(pipes / "faces"), "--steps", "1", "--align", "whole",
                     "--out", str(tmp_path / "seg"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    expected = "changed on disk" if change == "rewritten" else "could not be read again"
    assert f"photo 2 of 2 ({photos[1]})" in err and expected in err, err
    assert sorted(f.name for f in (tmp_path / "seg").iterdir() if f.stem.startswith("p1")) == []
    assert any(f.stem.startswith("p0") for f in (tmp_path / "seg").iterdir())


def test_segment_keeps_no_crops_between_its_two_passes(pipes, tmp_path, monkeypatch, capsys):
    """The first pass (every photo read and its faces found) keeps the faces and their matrices, not
    the crops: by the time the first photo is segmented, none of the crops align_photo cut is alive;
    each photo's crops are cut again from it, pixel for pixel the same, just before it is segmented."""
    import gc
    import weakref

    import matplotlib

    from symmflow import alignment
    from symmflow.pipeline import SegmentationPipeline

    cut = []  # per photo: a weak reference to the crops align_photo returned, and a copy of them
    align_photo, segment_stream = alignment.align_photo, SegmentationPipeline.segment_stream

    def align(*args, **kwargs):
        aligned = align_photo(*args, **kwargs)
        cut.append((weakref.ref(aligned.crops), aligned.crops.copy()))
        return aligned

    segmented = []  # per photo segmented: which first-pass crops were still alive, and what was segmented

    def stream(self, images, **kwargs):
        gc.collect()
        segmented.append(([ref() is not None for ref, _ in cut], np.stack(images)))
        yield from segment_stream(self, images, **kwargs)

    monkeypatch.setattr(alignment, "align_photo", align)
    monkeypatch.setattr(SegmentationPipeline, "segment_stream", stream)
    hopper = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    flat = tmp_path / "flat.png"
    Image.new("RGB", (64, 48), (120, 120, 120)).save(flat)
    assert cli_main(["segment", hopper, str(flat), "--checkpoint", str(pipes / "faces"), "--steps", "1",
                     "--out", str(tmp_path / "seg"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "grace_hopper (1 face(s) aligned)" in out and "flat (whole image)" in out
    assert len(cut) == len(segmented) == 2
    assert [alive for alive, _ in segmented] == [[False, False], [False, False]]
    for (_, first), (_, again) in zip(cut, segmented):
        assert again.shape == first.shape and np.array_equal(again, first)


def test_classify_and_class_generation(pipes, tmp_path, capsys):
    digit = tmp_path / "digit.png"
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(digit)
    assert cli_main(["classify", str(digit), "--checkpoint", str(pipes / "digits"), "--no-drawing"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{digit}: ") and "score" in line
    assert cli_main(["generate", "b", "2", "--checkpoint", str(pipes / "digits"), "--steps", "2",
                     "--out", str(tmp_path / "gen"), "--quiet"]) == 0
    assert {p.name for p in (tmp_path / "gen").iterdir()} == {"class_b_0.png", "class_2_0.png"}


def test_errors_are_one_line(pipes, tmp_path, capsys):
    assert cli_main(["segment", str(tmp_path / "missing.png"), "--checkpoint", str(pipes / "faces"), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err
    assert cli_main(["classify", str(tmp_path / "x.png"), "--checkpoint", str(tmp_path / "nowhere")]) == 2
    assert "no pipeline folder" in capsys.readouterr().err


def test_eval_on_a_segmentation_model_writes_miou_cycle_and_diversity(pipes, tmp_path, capsys):
    import json

    out = tmp_path / "eval.json"
    assert cli_main(["eval", "--checkpoint", str(pipes / "faces"), "--count", "6", "--steps", "1", "2",
                     "--cycle", "4", "--diversity", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["images"] == 6 and set(report["segmentation"]) == {"1", "2"}
    for figure in (report["segmentation"]["1"]["miou"], report["cycle_miou"]):
        assert 0.0 <= figure <= 1.0
    assert report["diversity"] > 0  # fresh noise per sample, even from an untrained network
    assert "segmentation mIoU at 2 step(s), 6 images" in capsys.readouterr().out


def test_eval_min_region_changes_the_figure_and_is_named(pipes, tmp_path, capsys):
    """--min-region N evaluates with the regions under N grid pixels removed, says so, and gives
    the figure evaluate_segmentation gives with that config; classifiers refuse it."""
    import json
    from dataclasses import replace

    from symmflow.evaluation import evaluate_segmentation, segmentation_data

    figures = {}
    for n in (0, 2):
        out = tmp_path / f"eval{n}.json"
        assert cli_main(["eval", "--checkpoint", str(pipes / "faces"), "--count", "6", "--steps", "1",
                         "--min-region", str(n), "--json", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report["min_region"] == n and f"min_region {n}:" in capsys.readouterr().out
        figures[n] = report["segmentation"]["1"]["miou"]
        pipe = SymmFlowPipeline.from_pretrained(pipes / "faces")
        pipe.config = replace(pipe.config, min_region=n)
        images, maps = segmentation_data(pipe, "procedural_faces", count=6)
        assert round(evaluate_segmentation(pipe, images, maps, steps=1)["miou"], 4) == figures[n]
    assert figures[0] != figures[2]
    assert cli_main(["eval", "--checkpoint", str(pipes / "digits"), "--min-region", "2"]) == 2
    assert "--min-region applies to segmentation models" in capsys.readouterr().err


def test_eval_on_a_folder_data_set_and_its_errors(pipes, tmp_path, capsys):
    from test_pipeline import face_ids

    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "labels").mkdir()
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(tmp_path / "data" / "images" / "a.jpg")
    Image.fromarray(face_ids(20).astype(np.uint8)).save(tmp_path / "data" / "labels" / "a.png")
    assert cli_main(["eval", "--checkpoint", str(pipes / "faces"), "--data", "folder", "--root",
                     str(tmp_path / "data"), "--steps", "1"]) == 0
    assert "1 images" in capsys.readouterr().out
    assert cli_main(["eval", "--checkpoint", str(pipes / "faces"), "--data", "folder"]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert cli_main(["eval", "--checkpoint", str(pipes / "faces"), "--data", "folder", "--root",
                     str(tmp_path / "data"), "--split", "val"]) == 2
    assert "--split does not apply" in capsys.readouterr().err
    assert cli_main(["eval", "--checkpoint", str(pipes / "faces"), "--data", "celebamask_hq_color", "--root",
                     str(tmp_path / "data")]) == 2
    assert "needs --split" in capsys.readouterr().err


def test_sample_is_resumable_and_independent_of_the_batch_size(pipes, tmp_path, capsys):
    base = ["sample", "--checkpoint", str(pipes / "faces"), "--count", "3", "--per-mask", "2", "--steps", "2", "--quiet"]
    assert cli_main(base + ["--out", str(tmp_path / "a"), "--batch-size", "4"]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [f"{i:05d}_{k:02d}.png" for i in range(3) for k in range(2)]
    (tmp_path / "a" / "00001_01.png").unlink()  # as if stopped before this one
    assert cli_main(base + ["--out", str(tmp_path / "a"), "--batch-size", "4"]) == 0
    assert "5 samples were already there; wrote 1" in capsys.readouterr().out
    assert cli_main(base + ["--out", str(tmp_path / "b"), "--batch-size", "1"]) == 0
    for name in names:  # one generator per (seed, mask, sample): batching changes nothing
        assert np.array_equal(np.asarray(Image.open(tmp_path / "a" / name)), np.asarray(Image.open(tmp_path / "b" / name)))
    assert cli_main(["sample", "--checkpoint", str(pipes / "digits"), "--out", str(tmp_path / "c")]) == 2


def _torchrun(procs: int, args: list[str]) -> subprocess.CompletedProcess:
    """``symmflow ARGS`` in ``procs`` CPU processes under torchrun (what accelerate launch starts)."""
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), "-m", "symmflow", *args]
    return subprocess.run(run, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_eval_and_sample_data_parallel_match_one_process(pipes, tmp_path):
    """Two CPU processes under torchrun (what accelerate launch starts) give the one-process
    figures and the same PNGs."""
    import json

    common = ["--checkpoint", str(pipes / "faces"), "--count", "5"]
    for procs in (1, 2):
        for args in (["eval", *common, "--steps", "2", "--cycle", "3", "--diversity", "3", "--json", str(tmp_path / f"eval{procs}.json")],
                     ["sample", *common, "--per-mask", "2", "--steps", "2", "--batch-size", "2", "--quiet", "--out", str(tmp_path / f"png{procs}")]):
            done = _torchrun(procs, args)
            assert done.returncode == 0, f"symmflow {args[0]} on {procs} process(es) failed:\n{done.stderr[-3000:]}"
    one, two = (json.loads((tmp_path / f"eval{n}.json").read_text()) for n in (1, 2))
    assert one == two
    names = sorted(p.name for p in (tmp_path / "png1").iterdir())
    assert len(names) == 10 and names == sorted(p.name for p in (tmp_path / "png2").iterdir())
    for name in names:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "png1" / name)), np.asarray(Image.open(tmp_path / "png2" / name)))


@pytest.mark.slow
def test_broken_data_stops_every_training_process(tmp_path):
    """Under two processes each reads half of the items; a broken file in the second half
    must stop both with the same error, not leave one waiting for the other."""
    import yaml

    root = tmp_path / "folder"
    for name in "abcd":
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (90, 60, 50)).save(root / "images" / f"{name}.png")
        Image.new("L", (8, 8), 0).save(root / "labels" / f"{name}.png")
    (root / "images" / "d.png").write_bytes(b"not a png")  # item 3: read by the second process
    config = {
        "name": "broken", "task": "segmentation", "output_dir": str(tmp_path / "run"),
        "data": {"dataset": "folder", "kwargs": {"root": str(root), "size": 8}},
        "model": {"class": "PixelUNet", "preset": "tiny", "kwargs": {"sample_size": 8}},
        "pipeline": {"image_size": 8, "palette": "celebamask_hq"}, "train": {"steps": 2, "batch_size": 2},
    }
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(config))
    done = _torchrun(2, ["train", "--config", str(tmp_path / "broken.yaml"), "--quiet"])
    assert done.returncode != 0
    assert done.stderr.count("error: this SegmentationFolder cannot be trained on (1 broken item(s))") == 2
    assert "item 'd'" in done.stderr and not (tmp_path / "run").exists()


# -- exits (issue 20): 0 done, 2 refused before anything is written, 1 failed while running


def _refused(args, capsys) -> str:
    """The command exits 2 through argparse and prints one error line, no traceback."""
    with pytest.raises(SystemExit) as exit_:
        cli_main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(("device", "message"), [("foo", "unknown device 'foo'; accepted: cpu, cuda, cuda:N, mps"),
                                                   ("cuda", "--device cuda: "), ("cuda:7", "--device cuda:7: ")])
def test_unusable_devices_are_refused_before_anything_is_written(pipes, tmp_path, capsys, device, message):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the GPU asked for")
    mask = tmp_path / "face.png"
    Image.fromarray(CELEBAMASK_HQ.colorize(face_ids(16))).save(mask)
    line = _refused(["generate", str(mask), "--checkpoint", str(pipes / "faces"), "--device", device,
                     "--out", str(tmp_path / "out")], capsys)
    assert message in line and not (tmp_path / "out").exists()


def test_numbers_are_checked_by_the_parser_with_the_apps_seed_range(pipes, tmp_path, capsys):
    from symmflow.validation import MAX_SEED

    base = ["generate", "b", "--checkpoint", str(pipes / "digits"), "--steps", "1", "--quiet", "--out", str(tmp_path / "o")]
    assert "a seed is a whole number between 0 and 2147483647, got '18446744073709551616'" in _refused(
        base + ["--seed", str(2**64)], capsys)
    assert "got '-1'" in _refused(base + ["--seed", "-1"], capsys)
    assert "--batch-size: expected a whole number >= 1, got '0'" in _refused(
        ["sample", "--out", str(tmp_path / "s"), "--batch-size", "0"], capsys)
    assert "--num-images" in _refused(base + ["--num-images", "0"], capsys)
    assert "--steps" in _refused(["eval", "--steps", "1", "0"], capsys)
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()
    assert cli_main(base + ["--seed", str(MAX_SEED)]) == 0  # the app's largest seed works here too


def test_a_bad_later_input_is_named_by_its_position_and_nothing_is_written(pipes, tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.fromarray(CELEBAMASK_HQ.colorize(face_ids(16))).save(good)
    Image.fromarray(CELEBAMASK_HQ.colorize(face_ids(16))).save(tmp_path / "good2.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert cli_main(["generate", str(good), str(tmp_path / "good2.png"), str(tmp_path / "broken.png"), "--checkpoint", str(pipes / "faces"),
                     "--steps", "1", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: mask 3 of 3 ({tmp_path / 'broken.png'}): ") and "\n" not in err
    assert not out.exists()
    assert cli_main(["generate", "a", "z", "--checkpoint", str(pipes / "digits"), "--out", str(out)]) == 2
    assert "label 2 of 2 (z): unknown class 'z'" in capsys.readouterr().err and not out.exists()
    assert cli_main(["segment", str(good), str(tmp_path / "broken.png"), "--checkpoint", str(pipes / "faces"),
                     "--out", str(out), "--quiet"]) == 2
    assert "photo 2 of 2" in capsys.readouterr().err and not out.exists()
    assert cli_main(["classify", str(good), str(tmp_path / "nothing.png"), "--checkpoint", str(pipes / "digits")]) == 2
    assert "image 2 of 2" in capsys.readouterr().err


def test_a_failure_while_running_exits_1_with_one_line(pipes, tmp_path, capsys, monkeypatch):
    from symmflow.pipeline import SegmentationPipeline

    def broken(self, *args, **kwargs):
        raise RuntimeError("out of memory")
        yield

    monkeypatch.setattr(SegmentationPipeline, "generate_stream", broken)
    mask = tmp_path / "face.png"
    Image.fromarray(CELEBAMASK_HQ.colorize(face_ids(16))).save(mask)
    assert cli_main(["generate", str(mask), "--checkpoint", str(pipes / "faces"), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == "error: RuntimeError: out of memory (set SYMMFLOW_TRACEBACK=1 for the traceback)\n"
    monkeypatch.setenv("SYMMFLOW_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="out of memory"):
        cli_main(["generate", str(mask), "--checkpoint", str(pipes / "faces"), "--out", str(tmp_path / "o"), "--quiet"])


def test_spiral_training_never_replaces_a_checkpoint_unless_asked(tmp_path, capsys):
    from symmflow.cli import build_parser

    assert build_parser().parse_args(["spiral", "train"]).out is None  # -> runs/spiral-PRESET, not checkpoints/
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    assert cli_main(["spiral", "train", "--out", str(tmp_path / "ckpt"), "--steps", "1", "--quiet"]) == 2
    assert "already holds a checkpoint; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "ckpt" / "config.json").read_text() == "{}"


def test_a_missing_model_subfolder_is_named_not_blamed_on_the_hub(pipes, tmp_path, capsys):
    import shutil

    shutil.copytree(pipes / "faces", tmp_path / "faces")
    shutil.rmtree(tmp_path / "faces" / "model")
    assert cli_main(["segment", str(tmp_path / "x.png"), "--checkpoint", str(tmp_path / "faces")]) == 2
    err = capsys.readouterr().err
    assert "has no model/ subfolder" in err and "hub" not in err.split("(")[0]
    from symmflow.models import CheckpointError, ResidualMLP

    with pytest.raises(CheckpointError, match="no readable ResidualMLP checkpoint at .*: no such folder"):
        ResidualMLP.from_pretrained(str(tmp_path / "nowhere" / "spiral"))


def test_loading_without_accelerate_prints_no_warning(pipes, capfd, monkeypatch):
    import diffusers.models.modeling_utils as modeling_utils

    import symmflow.models.base as base

    monkeypatch.setattr(modeling_utils, "is_accelerate_available", lambda: False)
    monkeypatch.setattr(base, "is_accelerate_available", lambda: False)
    capfd.readouterr()
    SymmFlowPipeline.from_pretrained(pipes / "faces")
    captured = capfd.readouterr()
    assert "accelerate" not in captured.out + captured.err


def test_segment_mirror_is_refused_where_the_model_cannot_mirror(pipes, tmp_path, capsys):
    """--mirror on a colour-mask model: exit 2 naming why, before any output folder exists;
    --no-mirror runs."""
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(photo)
    base = ["segment", str(photo), "--checkpoint", str(pipes / "faces"), "--steps", "1", "--quiet"]
    assert cli_main(base + ["--out", str(tmp_path / "on"), "--mirror"]) == 2
    assert "one-hot label channels" in capsys.readouterr().err and not (tmp_path / "on").exists()
    assert cli_main(base + ["--out", str(tmp_path / "off"), "--no-mirror"]) == 0
    assert (tmp_path / "off" / "photo_mask.png").is_file()


def test_segment_min_region_reaches_labels_and_uncertainty_and_refuses_a_negative(pipes, tmp_path, capsys):
    """--min-region N gives the labels and the uncertainty map the library gives with
    min_region=N; the untrained model's speckled map differs with and without it; a negative N
    is refused (exit 2) before any output folder exists."""
    from symmflow.uncertainty import heat_map, photo_uncertainty

    pipe = SymmFlowPipeline.from_pretrained(pipes / "faces")
    photo = tmp_path / "photo.png"
    rgb = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(photo)
    base = ["segment", str(photo), "--checkpoint", str(pipes / "faces"), "--steps", "2", "--quiet", "--align", "whole",
            "--uncertainty", "2"]
    labels = {}
    for n in (0, 2):  # the untrained model's map holds few regions of 4 grid pixels to grow from
        assert cli_main(base + ["--out", str(tmp_path / str(n)), "--min-region", str(n)]) == 0
        labels[n] = np.asarray(Image.open(tmp_path / str(n) / "photo_labels.png")).astype(np.int64)
        result = pipe.segment_photo(rgb, align="whole", steps=2, seed=0, min_region=n)
        assert (labels[n] == result.labels).all()
        spread = photo_uncertainty(pipe, result.crops, result.matrices, result.labels.shape, 2, steps=2, seed=0, min_region=n)
        assert (np.asarray(Image.open(tmp_path / str(n) / "photo_uncertainty.png")) == heat_map(spread, 2)).all()
    assert (labels[0] != labels[2]).any()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli_main(base + ["--out", str(tmp_path / "bad"), "--min-region", "-1"])
    assert exit_.value.code == 2
    assert "expected a whole number >= 0" in capsys.readouterr().err and not (tmp_path / "bad").exists()
