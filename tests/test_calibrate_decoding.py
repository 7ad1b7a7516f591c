"""scripts/calibrate_decoding.py: the class weights it undoes and the exponents it accepts."""

import json
import sys

import pytest
import torch

from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig
from symmflow.training.balance import class_balance_weights, class_frequencies
from symmflow.training.config import DataConfig
from symmflow.training.trainer import build_dataset

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import calibrate_decoding  # noqa: E402

DATA = {"dataset": "procedural_faces", "kwargs": {"length": 16, "size": 16, "seed": 0}}


def _folder(tmp_path, class_weights="absent", class_balance=0.5):
    """A one-hot 16 px face pipeline whose training.json says how it was trained."""
    torch.manual_seed(0)
    net = PixelUNet(image_channels=3, label_channels=19, sample_size=16, **PIXEL_UNET_PRESETS["tiny"])
    config = PipelineConfig(task="segmentation", image_size=16, palette="celebamask_hq", label_encoding="onehot")
    info = {"config": {"data": DATA, "train": {"class_balance": class_balance}}}
    if class_weights != "absent":
        info["class_weights"] = class_weights
    SymmFlowPipeline(net, config).save_pretrained(tmp_path / "pipe")
    (tmp_path / "pipe" / "model" / "training.json").write_text(json.dumps(info))
    return tmp_path / "pipe"


def test_the_recorded_class_weights_are_the_ones_undone(tmp_path, capsys):
    recorded = [0.5 + k / 10 for k in range(19)]
    weights = calibrate_decoding.trained_class_weights(_folder(tmp_path, recorded), 19)
    torch.testing.assert_close(weights, torch.tensor(recorded))
    assert "warning" not in capsys.readouterr().err


def test_a_run_without_recorded_weights_is_recounted_with_a_warning(tmp_path, capsys):
    weights = calibrate_decoding.trained_class_weights(_folder(tmp_path), 19)
    expected = class_balance_weights(class_frequencies(build_dataset(DataConfig(**DATA)), 19), 0.5)
    torch.testing.assert_close(weights, expected)
    assert "does not record its class weights" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, message",
    [({"class_weights": [1.0] * 18}, "records 18 class weights for a 19-class model"),
     ({"class_balance": 0.0}, "trained without class balancing")],
)
def test_weights_that_cannot_be_undone_are_refused(tmp_path, kwargs, message):
    with pytest.raises(SystemExit, match=message):
        calibrate_decoding.trained_class_weights(_folder(tmp_path, **kwargs), 19)


def test_gammas():
    assert calibrate_decoding.parse_gammas("0,0.5,1") == [0.0, 0.5, 1.0]
    for text, message in [("a,b", "comma-separated numbers"), ("0,2", r"must lie in \[0, 1\]"),
                          ("-0.5", r"must lie in \[0, 1\]"), ("nan", r"must lie in \[0, 1\]")]:
        with pytest.raises(SystemExit, match=message):
            calibrate_decoding.parse_gammas(text)


def test_write_stores_the_best_exponent_of_the_recorded_weights(tmp_path, monkeypatch, capsys):
    recorded = [1.0] * 19
    recorded[1] = 4.0
    folder = _folder(tmp_path, recorded)
    monkeypatch.setattr(sys, "argv", ["calibrate_decoding.py", str(folder), "--count", "4", "--gammas", "0.5,1", "--write"])
    with torch.enable_grad():  # main() switches autograd off for the whole process, as a script may
        calibrate_decoding.main()
    assert torch.is_grad_enabled()
    out = capsys.readouterr().out
    best = float(out.split("best: gamma ")[1].split(" ")[0])
    assert "plain argmax" not in out  # gamma 0 was not run
    stored = json.loads((folder / "pipeline.json").read_text())["decode_weights"]
    assert stored[1] == pytest.approx(4.0**best) and stored[0] == 1.0
    assert SymmFlowPipeline.from_pretrained(folder).codec.decode_weights[1] == pytest.approx(4.0**best)


def test_bad_runs_of_the_script_are_refused(tmp_path, monkeypatch):
    folder = _folder(tmp_path, [1.0] * 19)
    monkeypatch.setattr(sys, "argv", ["calibrate_decoding.py", str(folder), "--count", "0"])
    with torch.enable_grad(), pytest.raises(SystemExit, match="--count must be at least 1, got 0"):
        calibrate_decoding.main()
    torch.manual_seed(0)
    net = PixelUNet(image_channels=3, label_channels=172, sample_size=16, **PIXEL_UNET_PRESETS["tiny"])
    config = PipelineConfig(task="segmentation", image_size=16, palette="coco_stuff", label_encoding="onehot")
    SymmFlowPipeline(net, config).save_pretrained(tmp_path / "coco")
    monkeypatch.setattr(sys, "argv", ["calibrate_decoding.py", str(tmp_path / "coco")])
    with torch.enable_grad(), pytest.raises(SystemExit, match="measure CelebAMask-HQ face models, this one's palette is 'coco_stuff'"):
        calibrate_decoding.main()


def test_factors():
    assert calibrate_decoding.parse_factors("1,2,4") == [1.0, 2.0, 4.0]
    for text, message in [("a", "comma-separated numbers"), ("0.5,2", "at least 1"), ("nan", "at least 1"),
                          ("1,inf", "must be finite")]:
        with pytest.raises(SystemExit, match=message):
            calibrate_decoding.parse_factors(text)


def _write_pairs(folder, count=2, top=1):
    """``count`` CelebAMask-HQ pairs 8 px wide: grey photos, masks of class ``top`` in the top two
    rows over skin."""
    from PIL import Image

    folder.mkdir()
    for k in range(count):
        mask = torch.ones((8, 8), dtype=torch.uint8)
        mask[:2] = top
        Image.fromarray(torch.full((8, 8, 3), 128, dtype=torch.uint8).numpy()).save(folder / f"{k}.jpg")
        Image.fromarray(mask.numpy()).save(folder / f"{k}.png")


def test_photo_miou_reads_aligned_photos_at_one_step(tmp_path):
    """Each photo is read as users get it (faces aligned where found, 1 step) and scored against its
    truth, background ignored: skin read over the background rows scores 1, and an earring
    painted over a quarter of the picture the mean of skin's 0.75 and the earring's 0."""
    from types import SimpleNamespace

    from symmflow.data.datasets import PairFolder
    from symmflow.palettes import CELEBAMASK_HQ

    _write_pairs(tmp_path / "pairs", top=0)
    calls = []

    def reader(painted):
        def segment_photo(photo, align, steps, seed):
            calls.append((photo.shape, align, steps))
            labels = torch.ones((8, 8), dtype=torch.int64).numpy()  # skin over the background rows too
            labels[2:6, 2:6] = painted
            return SimpleNamespace(labels=labels)
        return SimpleNamespace(palette=CELEBAMASK_HQ, segment_photo=segment_photo)

    pairs = PairFolder(tmp_path / "pairs")
    assert calibrate_decoding.photo_miou(reader(1), pairs) == pytest.approx(1.0)
    assert calibrate_decoding.photo_miou(reader(15), pairs) == pytest.approx((32 / 48 + 0) / 2)
    assert calls[0] == ((8, 8, 3), "auto", 1) and len(calls) == 4


def test_photos_choose_a_further_division_of_the_named_classes(tmp_path, monkeypatch, capsys):
    """With --photos, the factor whose readout scores best on the pairs is multiplied into the
    named classes' decode weights, on top of the exponent chosen on procedural faces."""
    recorded = [1.0] * 19
    recorded[15] = 4.0
    folder = _folder(tmp_path, recorded)
    _write_pairs(tmp_path / "pairs", count=3)
    seen = []

    def scored(pipe, pairs):  # best where ear_r's weight is 3 times its exponent's
        weights = pipe.codec.decode_weights
        seen.append((len(pairs), float(weights[15] / weights[0]), float(weights[16] / weights[0])))
        return 1.0 - abs(float(weights[15]) / 4.0**0.5 - 3.0) / 10

    monkeypatch.setattr(calibrate_decoding, "photo_miou", scored)
    monkeypatch.setattr(sys, "argv", ["calibrate_decoding.py", str(folder), "--count", "2", "--gammas", "0.5",
                                      "--photos", str(tmp_path / "pairs"), "--photo-limit", "2",
                                      "--photo-classes", "ear_r,neck_l", "--factors", "1,3,5", "--write"])
    with torch.enable_grad():
        calibrate_decoding.main()
    assert [s[0] for s in seen] == [2, 2, 2] and [round(s[1] / 2, 3) for s in seen] == [1.0, 3.0, 5.0]
    assert [round(s[2], 3) for s in seen] == [1.0, 3.0, 5.0]  # both classes scaled alike
    stored = json.loads((folder / "pipeline.json").read_text())["decode_weights"]
    assert stored[15] == pytest.approx(2.0 * 3) and stored[16] == pytest.approx(3.0) and stored[1] == 1.0
    assert "readout / 3 (1.0000)" in capsys.readouterr().out


def test_bad_photo_arguments_are_refused_before_measuring(tmp_path, monkeypatch):
    folder = _folder(tmp_path, [1.0] * 19)
    (tmp_path / "empty").mkdir()
    _write_pairs(tmp_path / "pairs")
    _write_pairs(tmp_path / "bad", count=1, top=19)
    for extra, message in [(["--photos", str(tmp_path / "empty")], "--photos: no pairs in"),
                           (["--photos", str(tmp_path / "pairs"), "--photo-limit", "0"], "at least 1, got 0"),
                           (["--photos", str(tmp_path / "pairs"), "--photo-classes", "earring"],
                            "class names of the celebamask_hq palette"),
                           (["--photos", str(tmp_path / "bad")], r"--photos: 0\.png must hold class ids"),
                           (["--factors", "0.5"], "--factors choose.* name them with --photos"),
                           (["--photos", str(tmp_path / "pairs"), "--factors", "0.5"], "at least 1")]:
        monkeypatch.setattr(sys, "argv", ["calibrate_decoding.py", str(folder), *extra])
        monkeypatch.setattr(calibrate_decoding, "evaluate_segmentation", lambda *a, **k: pytest.fail("measured"))
        with torch.enable_grad(), pytest.raises(SystemExit, match=message):
            calibrate_decoding.main()


def test_photo_defaults_divide_earrings_and_necklaces(tmp_path, monkeypatch, capsys):
    """Without --photo-classes, --factors and --photo-limit the script divides ear_r and neck_l by
    1, 2, 3 and 4 on the first 500 pairs, and names those classes in what it prints."""
    folder = _folder(tmp_path, [1.0] * 19)
    _write_pairs(tmp_path / "pairs", count=3)
    seen = []

    def scored(pipe, pairs):
        weights = pipe.codec.decode_weights
        seen.append((len(pairs), float(weights[15]), float(weights[16]), float(weights[1])))
        return 0.5

    monkeypatch.setattr(calibrate_decoding, "photo_miou", scored)
    monkeypatch.setattr(sys, "argv", ["calibrate_decoding.py", str(folder), "--count", "2", "--gammas", "0.5",
                                      "--photos", str(tmp_path / "pairs")])
    with torch.enable_grad():
        calibrate_decoding.main()
    assert seen == [(3, f, f, 1.0) for f in (1.0, 2.0, 3.0, 4.0)]
    assert "ear_r,neck_l readout / 4" in capsys.readouterr().out
