import json

import pytest
import torch

from symmflow.cli import main as cli_main
from symmflow.models import CheckpointError, ResidualMLP
from symmflow.spiral import (
    SPIRAL_CODEC,
    SpiralTrainConfig,
    accuracy_by_steps,
    classify,
    generate,
    make_spirals,
    nearest_arm,
    train_spiral,
)
from symmflow.spiral.presets import SPIRAL_PRESETS

from conftest import ROOT


def test_data_follows_the_notebook():
    points, labels = make_spirals(1000, noise=0.0)
    assert points.shape == (1000, 2) and labels.tolist() == [0] * 500 + [1] * 500
    torch.testing.assert_close(points[0], torch.zeros(2))           # arm 1 starts at the origin
    torch.testing.assert_close(points[500], torch.tensor([0.5, 0.0]))  # arm 2 shifted by (0.5, 0)
    assert points.norm(dim=1)[:500].max() == pytest.approx(1.0)      # r runs to 1
    assert torch.equal(nearest_arm(points), labels)
    jittered, _ = make_spirals(10_000, generator=torch.Generator().manual_seed(0))
    clean, _ = make_spirals(10_000, noise=0.0)
    assert (jittered - clean).std().item() == pytest.approx(0.1, rel=0.05)
    with pytest.raises(ValueError, match="even"):
        make_spirals(7)


def test_authors_network_has_their_parameter_count():
    model = ResidualMLP(**SPIRAL_PRESETS["faithful"].model)
    assert sum(p.numel() for p in model.parameters()) == 1576


@pytest.mark.slow
def test_a_short_training_run_learns_both_flows():
    torch.manual_seed(0)
    model = ResidualMLP(**SPIRAL_PRESETS["fast"].model)
    config = SpiralTrainConfig(steps=400, batch_size=1000, lr=3e-3, schedule="onecycle", ema_decay=0.99, seed=0)
    info = train_spiral(model, config, progress=False)
    assert info["final_loss"] < info["loss_every_100_steps"][0]
    acc = accuracy_by_steps(model, steps_list=(1, 25), test_size=2000, seed=5)
    assert acc["classification"][1] > 95.0   # chance is 50%
    assert acc["generation"][25] > 75.0  # most generated points land on their label's arm (the method: ~82%)


def test_shipped_checkpoint_classifies_in_one_step():
    model = ResidualMLP.from_pretrained(ROOT / "checkpoints" / "spiral")
    points, labels = make_spirals(4000, generator=torch.Generator().manual_seed(99))
    pred = classify(model, points, steps=1, generator=torch.Generator().manual_seed(0))
    assert (pred == labels).float().mean() > 0.99
    samples = generate(model, labels, steps=25, generator=torch.Generator().manual_seed(0))
    assert (nearest_arm(samples) == labels).float().mean() > 0.75


def test_inference_is_seeded():
    model = ResidualMLP.from_pretrained(ROOT / "checkpoints" / "spiral")
    labels = torch.tensor([0, 1, 0, 1])
    a = generate(model, labels, steps=5, generator=torch.Generator().manual_seed(3))
    b = generate(model, labels, steps=5, generator=torch.Generator().manual_seed(3))
    c = generate(model, labels, steps=5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    torch.manual_seed(1)
    model = ResidualMLP(hidden_dim=16, num_blocks=2)
    model.train()
    model(torch.randn(64, 2), torch.randn(64, 1), torch.rand(64))  # move the BatchNorm running stats
    model.save_pretrained(tmp_path / "ck", training_info={"note": "test"})
    loaded = ResidualMLP.from_pretrained(tmp_path / "ck")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert ResidualMLP.training_info(tmp_path / "ck") == {"note": "test"}
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["hidden_dim"] == 16


def test_saving_over_a_checkpoint_is_atomic(tmp_path, monkeypatch):
    model = ResidualMLP(num_blocks=1)
    model.save_pretrained(tmp_path / "ck")
    before = (tmp_path / "ck" / "diffusion_pytorch_model.safetensors").read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("diffusers.ModelMixin.save_pretrained", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        ResidualMLP(num_blocks=1).save_pretrained(tmp_path / "ck")
    assert (tmp_path / "ck" / "diffusion_pytorch_model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temporary folder left behind


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no readable ResidualMLP checkpoint"):
        ResidualMLP.from_pretrained(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(CheckpointError, match="holds a UNet2DModel model, expected ResidualMLP"):
        ResidualMLP.from_pretrained(tmp_path / "other")
    ResidualMLP().save_pretrained(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="could not load ResidualMLP weights"):
        ResidualMLP.from_pretrained(tmp_path / "corrupt")


def test_codec_is_the_notebooks_labels():
    assert SPIRAL_CODEC.levels().tolist() == [-1.0, 1.0]


def test_cli_train_eval_plot(tmp_path, capsys):
    out = tmp_path / "spiral"
    assert cli_main(["spiral", "train", "--preset", "fast", "--steps", "30", "--out", str(out), "--quiet"]) == 0
    assert (out / "config.json").exists() and (out / "diffusion_pytorch_model.safetensors").exists()
    info = ResidualMLP.training_info(out)
    assert info["recipe"]["steps"] == 30 and info["preset"] == "fast"
    assert cli_main(["spiral", "eval", "--checkpoint", str(out), "--steps", "1", "2", "--test-size", "200"]) == 0
    table = capsys.readouterr().out
    assert "classification %" in table and len(table.strip().splitlines()) >= 3
    png = tmp_path / "flows.png"
    assert cli_main(["spiral", "plot", "--checkpoint", str(out), "--out", str(png), "--steps", "3", "--dpi", "40"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path, capsys):
    assert cli_main(["spiral", "eval", "--checkpoint", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no readable ResidualMLP checkpoint") and "Traceback" not in err
