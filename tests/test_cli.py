"""``symmflow generate|segment|classify`` on files, with tiny pipelines the tests save."""

import numpy as np
import pytest
from PIL import Image

from symmflow.cli import main as cli_main
from symmflow.palettes import CELEBAMASK_HQ
from symmflow.pipeline import SymmFlowPipeline

from test_pipeline import face_ids, tiny_unet


@pytest.fixture(scope="module")
def pipes(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipes")
    SymmFlowPipeline(tiny_unet(), task="segmentation", image_size=16).save_pretrained(root / "faces")
    SymmFlowPipeline(
        tiny_unet(1, 1), task="classification", image_size=16, image_channels=1, num_classes=3, class_names=["a", "b", "c"], beta=4
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


def test_segment_writes_masks_at_the_input_size(pipes, tmp_path, capsys):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(photo)
    assert cli_main(["segment", str(photo), "--checkpoint", str(pipes / "faces"), "--steps", "2",
                     "--out", str(tmp_path / "seg"), "--quiet"]) == 0
    mask = Image.open(tmp_path / "seg" / "photo_mask.png")
    labels = np.asarray(Image.open(tmp_path / "seg" / "photo_labels.png"))
    assert mask.size == (40, 30) and labels.shape == (30, 40) and labels.max() < 19
    assert "%" in capsys.readouterr().out


def test_classify_and_class_generation(pipes, tmp_path, capsys):
    digit = tmp_path / "digit.png"
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(digit)
    assert cli_main(["classify", str(digit), "--checkpoint", str(pipes / "digits")]) == 0
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
