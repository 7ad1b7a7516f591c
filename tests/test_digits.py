"""Real handwritten digits: the split, a short run that learns, and the Diffusion Classifier
baseline on the shipped model."""

import numpy as np
import pytest
import torch

from symmflow.data.digits import digits_split, digits_to_tensor
from symmflow.diffusion_classifier import diffusion_classify
from symmflow.pipeline import SymmFlowPipeline
from symmflow.training import Trainer
from symmflow.training.config import TrainConfig

from conftest import ROOT


def test_split_is_fixed_stratified_and_disjoint():
    train_x, train_y = digits_split("train")
    test_x, test_y = digits_split("test")
    all_x, _ = digits_split("all")
    assert len(train_y) + len(test_y) == len(all_x) == 1797
    assert np.allclose(np.bincount(test_y) / np.bincount(train_y + 0, minlength=10).clip(1), 0.3 / 0.7, atol=0.02)
    # no test image is a training image
    train_rows = {row.tobytes() for row in train_x.reshape(len(train_x), -1)}
    assert not any(row.tobytes() in train_rows for row in test_x.reshape(len(test_x), -1))
    with pytest.raises(ValueError, match="'train', 'test' or 'all'"):
        digits_split("validation")


@pytest.mark.slow
def test_a_short_training_run_classifies_held_out_digits(tmp_path):
    """~10 s on 2 cores: a small U-Net, 400 steps, reads the class well above chance (10%)."""
    config = TrainConfig.from_dict({
        "name": "short-digits",
        "task": "classification",
        "output_dir": str(tmp_path / "run"),
        "data": {"dataset": "digits", "kwargs": {"split": "train", "size": 8}},
        "model": {"class": "PixelUNet", "kwargs": {
            "image_channels": 1, "label_channels": 1, "sample_size": 8, "block_out_channels": [16, 32],
            "layers_per_block": 1, "down_block_types": ["DownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "UpBlock2D"], "norm_num_groups": 8, "skip_sigma": 0.5}},
        "pipeline": {"image_size": 8, "image_channels": 1, "num_classes": 10, "beta": 4.0},
        "train": {"steps": 400, "batch_size": 64, "lr": 3e-3, "ema_decay": 0.99, "image_weight": 0.9,
                  "readout_fraction": 0.3, "checkpoint_every": 400, "sample_every": 0, "log_every": 100},
    })
    Trainer(config).fit(progress=False)
    pipe = SymmFlowPipeline.from_pretrained(tmp_path / "run" / "pipeline")
    images, labels = digits_split("test")
    x = digits_to_tensor(images)
    accuracy = (pipe.classify(x, steps=1, seed=0).labels == labels).mean()
    assert accuracy > 0.6, accuracy


@pytest.fixture(scope="module")
def shipped():
    """The shipped model, the test digits as its input and their labels."""
    images, labels = digits_split("test")
    return SymmFlowPipeline.from_pretrained(ROOT / "checkpoints" / "digits"), digits_to_tensor(images), labels


def test_diffusion_classifier_agrees_with_one_step_on_easy_digits(shipped):
    """On the shipped model: the 20 test digits SymmFlow reads most confidently are read the
    same by the baseline (which costs 10 classes x 10 trials = 100 network calls each)."""
    pipe, x, labels = shipped
    one = pipe.classify(x, steps=1, seed=0)
    easy = np.argsort(-one.scores.max(axis=1) if isinstance(one.scores, np.ndarray) else -one.scores.max(dim=1).values.numpy())[:20]
    baseline = diffusion_classify(pipe, x[easy], trials=10, seed=0)
    assert baseline.nfe == 100
    assert (baseline.labels == np.asarray(one.labels)[easy]).mean() >= 0.9
    assert (np.asarray(one.labels)[easy] == labels[easy]).mean() >= 0.95


def test_shipped_model_classifies_held_out_digits_in_one_step(shipped):
    """The issue's figure: >= 98.5% at one step on the 539 test digits at the default seed (0),
    and no label-noise seed far below it (measured, one batch: 98.14-98.70%, mean 98.46%)."""
    pipe, x, labels = shipped
    accuracy = [100 * (pipe.classify(x, steps=1, seed=s).labels == labels).mean() for s in range(6)]
    assert accuracy[0] >= 98.5, accuracy
    assert min(accuracy) >= 98.0 and np.mean(accuracy) >= 98.2, accuracy
