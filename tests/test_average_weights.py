"""scripts/average_weights.py: the mean of pipelines' network weights, and what it refuses."""

import sys

import pytest
import torch

from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import average_weights  # noqa: E402


def _folder(path, seed, **unet):
    torch.manual_seed(seed)
    net = PixelUNet(image_channels=3, label_channels=19, sample_size=16, **{**PIXEL_UNET_PRESETS["tiny"], **unet})
    config = PipelineConfig(task="segmentation", image_size=16, palette="celebamask_hq", label_encoding="onehot")
    SymmFlowPipeline(net, config).save_pretrained(path, training_info={"steps_done": seed})
    return path


def _run(monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["average_weights.py", *map(str, argv)])
    average_weights.main()


def test_mean_of_two_pipelines(tmp_path, monkeypatch, capsys):
    a, b = _folder(tmp_path / "a", 1), _folder(tmp_path / "b", 2)
    _run(monkeypatch, a, b, "--out", tmp_path / "mean")
    mean = SymmFlowPipeline.from_pretrained(tmp_path / "mean").model.state_dict()
    wa = SymmFlowPipeline.from_pretrained(a).model.state_dict()
    wb = SymmFlowPipeline.from_pretrained(b).model.state_dict()
    key = next(k for k in wa if wa[k].is_floating_point() and not torch.equal(wa[k], wb[k]))
    torch.testing.assert_close(mean[key], (wa[key] + wb[key]) / 2)
    assert all(torch.allclose(mean[k], (wa[k] + wb[k]) / 2, atol=1e-6) for k in wa if wa[k].is_floating_point())
    assert "mean of 2 networks" in capsys.readouterr().out


def test_refuses_one_folder_another_architecture_and_an_existing_output(tmp_path, monkeypatch):
    a, b = _folder(tmp_path / "a", 1), _folder(tmp_path / "b", 2, refine_channels=8)
    with pytest.raises(SystemExit, match="at least two"):
        _run(monkeypatch, a, "--out", tmp_path / "x")
    with pytest.raises(SystemExit, match="another architecture"):
        _run(monkeypatch, a, b, "--out", tmp_path / "y")
    assert not (tmp_path / "y").exists()
    with pytest.raises(SystemExit, match="exists"):
        _run(monkeypatch, a, a, "--out", b)
