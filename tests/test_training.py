"""The trainer: config checks, exact resume after a stop, and a short run that learns."""

import json

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from symmflow.cli import main as cli_main
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig
from symmflow.training import Trainer, load_config
from symmflow.training.config import TrainConfig

from conftest import ROOT

TINY_DIGITS = {
    "name": "tiny-digits",
    "task": "classification",
    "data": {"dataset": "digits", "kwargs": {"split": "train", "size": 8}, "augment": {"translate": 1}},
    "model": {"class": "PixelUNet", "preset": "tiny", "kwargs": {"image_channels": 1, "label_channels": 1, "sample_size": 8}},
    "pipeline": {"image_size": 8, "image_channels": 1, "num_classes": 10, "beta": 4.0},
    "train": {"steps": 6, "batch_size": 8, "lr": 1e-3, "checkpoint_every": 3, "sample_every": 0, "log_every": 1},
}


def make_config(tmp_path, **train):
    data = json.loads(json.dumps(TINY_DIGITS))
    data["train"].update(train)
    data["output_dir"] = str(tmp_path / "run")
    return TrainConfig.from_dict(data)


def test_resume_after_a_stop_is_exact(tmp_path):
    straight = Trainer(make_config(tmp_path / "a"))
    straight.fit(progress=False)
    # the same run, stopped after 3 steps (a kill right after a checkpoint) and resumed
    first = Trainer(make_config(tmp_path / "b"))
    while first.step < 3:
        first.train_step()
    first.save_state()
    del first
    resumed = Trainer(make_config(tmp_path / "b"))
    resumed.fit(progress=False)
    assert resumed.step == 6
    a = load_file(tmp_path / "a" / "run" / "state" / "ema.safetensors")
    b = load_file(tmp_path / "b" / "run" / "state" / "ema.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    pipe = SymmFlowPipeline.from_pretrained(tmp_path / "b" / "run" / "pipeline")
    assert pipe.task == "classification" and pipe.image_size == 8
    log = [json.loads(line) for line in (tmp_path / "a" / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]


def test_warmup_then_cosine_schedule(tmp_path):
    trainer = Trainer(make_config(tmp_path, steps=40, warmup=0.1, lr=1e-3, checkpoint_every=1000))
    lrs = []
    for _ in range(40):
        lrs.append(trainer.scheduler.get_last_lr()[0])
        trainer.train_step()
    assert lrs[0] == pytest.approx(1e-6, rel=1e-3)      # starts at 1e-6
    assert max(lrs) == pytest.approx(1e-3, rel=1e-2)    # peaks at lr after 10% of the steps
    assert int(np.argmax(lrs)) in (3, 4)
    assert lrs[-1] < 0.05 * 1e-3                        # cosine back down


def test_resuming_with_other_settings_is_refused(tmp_path):
    Trainer(make_config(tmp_path)).fit(progress=False)
    with pytest.raises(ValueError, match="resume with the same settings"):
        Trainer(make_config(tmp_path, steps=12)).fit(progress=False)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(task="detection"), "unknown task .detection."),
        (lambda d: d["train"].update(stepz=3), "unknown key.*stepz"),
        (lambda d: d["model"].update({"class": "Transformer"}), "PixelUNet or LatentUNet"),
        (lambda d: d["train"].update(mixed_precision="fp8"), "mixed_precision"),
        (lambda d: d.pop("pipeline"), "lacks the key"),
    ],
)
def test_bad_configs_name_the_problem(edit, message):
    data = json.loads(json.dumps(TINY_DIGITS))
    edit(data)
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(data)


def test_numbers_written_as_yaml_reads_them_are_accepted_or_named():
    data = json.loads(json.dumps(TINY_DIGITS))
    data["train"].update(lr="3e-4", steps="1e2")  # YAML 1.1 reads 3e-4 as a string
    cfg = TrainConfig.from_dict(data)
    assert cfg.train.lr == 3e-4 and cfg.train.steps == 100 and isinstance(cfg.train.steps, int)
    data["train"].update(seed=np.int64(2**62 + 1), grad_clip=None)
    cfg = TrainConfig.from_dict(data)
    assert cfg.train.seed == 2**62 + 1 and cfg.train.grad_clip is None
    for key, value, message in [("lr", "fast", "train.lr must be a number, got 'fast'"),
                                ("lr", "nan", "train.lr must be a finite number"),
                                ("steps", float("inf"), "train.steps must be a finite number"),
                                ("steps", 2.5, "train.steps must be a whole number"),
                                ("grad_clip", False, "train.grad_clip must be a number or null"),
                                ("batch_size", True, "train.batch_size must be a number")]:
        data = json.loads(json.dumps(TINY_DIGITS))
        data["train"][key] = value
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict(data)


def test_shipped_configs_parse():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.train.steps > 0, path


def test_train_cli_with_overrides_and_a_time_budget(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_DIGITS))
    code = cli_main(["train", "--config", str(config), "--output-dir", str(tmp_path / "out"),
                     "--set", "train.steps=4", "--set", "train.sample_every=2", "--quiet"])
    assert code == 0 and "finished at step 4/4" in capsys.readouterr().out
    assert (tmp_path / "out" / "samples" / "step_0000004.png").exists()
    code = cli_main(["train", "--config", str(config), "--output-dir", str(tmp_path / "paused"),
                     "--set", "train.steps=50", "--max-minutes", "0", "--quiet"])
    assert code == 0 and "paused at step 1/50" in capsys.readouterr().out
    assert cli_main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_latent_model_trains_through_the_same_path(tmp_path):
    """The paper's design (VAE latents + doubled-channel SD U-Net), at test size, on faces."""
    from test_latent import TINY_UNET, tiny_vae

    tiny_vae().save_pretrained(tmp_path / "vae")
    data = {
        "name": "tiny-latent",
        "task": "segmentation",
        "output_dir": str(tmp_path / "run"),
        "data": {"dataset": "procedural_faces", "kwargs": {"length": 16, "size": 16}},
        "model": {"class": "LatentUNet", "kwargs": {"unet_config": TINY_UNET}, "vae": str(tmp_path / "vae")},
        "pipeline": {"image_size": 16, "palette": "celebamask_hq", "beta": 10.0},
        "train": {"steps": 2, "batch_size": 2, "image_weight": 0.7, "ema_decay": 0.9, "checkpoint_every": 2, "sample_every": 0},
    }
    trainer = Trainer(TrainConfig.from_dict(data))
    before = {k: v.clone() for k, v in trainer.ema.model.state_dict().items()}
    trainer.fit(progress=False)
    after = trainer.ema.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    pipe = SymmFlowPipeline.from_pretrained(tmp_path / "run" / "pipeline")
    assert pipe.is_latent and pipe.vae.latent_channels == 4
    assert pipe.segment(np.zeros((16, 16, 3), np.uint8), steps=1).class_maps[0].shape == (16, 16)


def test_ema_warms_up_then_holds_its_decay():
    from symmflow.training.trainer import EMA

    model = torch.nn.Linear(2, 2)
    ema = EMA(model, decay=0.999)
    start = ema.model.weight.detach().clone()
    assert ema.decay_at(0) == pytest.approx(0.1) and ema.decay_at(90) == pytest.approx(0.91)
    assert ema.decay_at(100_000) == 0.999
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model, step=0)  # the first update moves 90% of the way: no long memory of the init
    torch.testing.assert_close(ema.model.weight, 0.1 * start + 0.9)


def test_a_new_run_can_start_from_a_saved_pipeline(tmp_path):
    from symmflow.models.base import CheckpointError

    Trainer(make_config(tmp_path / "first")).fit(progress=False)
    shipped = tmp_path / "first" / "run" / "pipeline"
    data = json.loads(json.dumps(TINY_DIGITS))
    data["output_dir"] = str(tmp_path / "second")
    data["model"]["init_from"] = str(shipped)
    trainer = Trainer(TrainConfig.from_dict(data))
    start = SymmFlowPipeline.from_pretrained(shipped).model.state_dict()
    assert all(torch.equal(start[k], v) for k, v in trainer.ema.model.state_dict().items())
    data["model"]["kwargs"]["dropout"] = 0.2  # holds no weights: fine
    Trainer(TrainConfig.from_dict(data))
    data["model"]["kwargs"]["block_out_channels"] = [8, 16, 32]  # another layout
    with pytest.raises(CheckpointError, match="another layout.*unet"):
        Trainer(TrainConfig.from_dict(data))


def test_readout_fraction_trains_that_share_at_t_equal_one(tmp_path):
    times = []
    for fraction in (0.0, 0.5, 1.0):
        trainer = Trainer(make_config(tmp_path / str(fraction), batch_size=64, readout_fraction=fraction))
        sample = trainer.path.sample
        trainer.path.sample = lambda x, y, t, *a, **k: times.append((fraction, t.clone())) or sample(x, y, t, *a, **k)
        for _ in range(3):
            trainer.train_step()
    share = {f: torch.cat([t for g, t in times if g == f]).eq(1.0).float().mean().item() for f in (0.0, 0.5, 1.0)}
    assert share[0.0] == 0.0 and share[1.0] == 1.0 and 0.35 < share[0.5] < 0.65


