"""Class balancing of the label loss: frequencies, weights, the weighted loss and its wiring."""

import json

import pytest
import torch

from symmflow.path import symmetric_loss
from symmflow.training import Trainer
from symmflow.training.balance import class_balance_weights, class_frequencies
from symmflow.training.config import TrainConfig

TINY_FACES = {
    "name": "tiny-faces",
    "task": "segmentation",
    # augmented: the weights must follow the label pixels where the shift and the affine move them
    "data": {"dataset": "procedural_faces", "kwargs": {"length": 8, "size": 16},
             "augment": {"translate": 2, "affine": {"degrees": 10, "scale": 0.1, "translate": 0.1}}},
    "model": {"class": "PixelUNet", "preset": "tiny", "kwargs": {"label_channels": 19, "sample_size": 16}},
    "pipeline": {"image_size": 16, "palette": "celebamask_hq", "label_encoding": "onehot", "beta": 10.0},
    "train": {"steps": 2, "batch_size": 4, "class_balance": 0.5, "checkpoint_every": 2, "sample_every": 0},
}


def _maps(*maps):
    return [{"class_map": torch.tensor(m)} for m in maps]


def test_frequencies_count_every_pixel_of_the_items_read():
    data = _maps([[0, 0], [1, 2]], [[0, 0], [0, 2]])
    torch.testing.assert_close(class_frequencies(data, 4), torch.tensor([5, 1, 2, 0], dtype=torch.float64) / 8)
    with pytest.raises(ValueError, match=r"item 0 holds class ids outside \[0, 2\)"):
        class_frequencies(_maps([[0, 3]]), 2)
    with pytest.raises(ValueError, match="empty"):
        class_frequencies([], 2)


def test_weights_keep_the_mean_at_one_and_favour_rare_classes():
    f = torch.tensor([0.7, 0.2, 0.1, 0.0])
    torch.testing.assert_close(class_balance_weights(f, 0.0), torch.ones(4))
    for exponent in (0.5, 1.0):
        w = class_balance_weights(f, exponent).double()
        assert (f.double() * w).sum().item() == pytest.approx(1.0)
        assert w[0] < w[1] < w[2] == w[3]  # the unseen class weighs as the rarest seen
    w = class_balance_weights(f, 1.0)
    assert (w[1] / w[0]).item() == pytest.approx(3.5)  # inverse frequency: 0.7 / 0.2
    with pytest.raises(ValueError, match=r"exponent must lie in \[0, 1\]"):
        class_balance_weights(f, 2.0)
    for bad in ([0.5, -0.1], [float("nan"), 0.5], [0.0, 0.0]):
        with pytest.raises(ValueError, match="finite, non-negative"):
            class_balance_weights(torch.tensor(bad), 0.5)


def test_weighted_label_loss():
    v_y, v_y_hat = torch.zeros(2, 3, 1, 2), torch.ones(2, 3, 1, 2)
    v_x = torch.zeros(2, 1)
    ones = torch.ones(2, 1, 1, 2)
    plain = symmetric_loss(v_x, v_y_hat, v_x, v_y, image_weight=0.5)
    assert symmetric_loss(v_x, v_y_hat, v_x, v_y, 0.5, label_weight=ones).item() == pytest.approx(plain.item())
    # weight 3 on one of the two pixels: mean weight 2
    weight = torch.tensor([3.0, 1.0]).view(1, 1, 1, 2).expand(2, 1, 1, 2)
    assert symmetric_loss(v_x, v_y_hat, v_x, v_y, 0.5, label_weight=weight).item() == pytest.approx(2 * plain.item())
    with pytest.raises(ValueError, match="does not broadcast"):
        symmetric_loss(v_x, v_y_hat, v_x, v_y, 0.5, label_weight=torch.ones(2, 1, 3, 3))


def test_trainer_weights_each_label_pixel_by_its_class(tmp_path):
    data = json.loads(json.dumps(TINY_FACES))
    data["output_dir"] = str(tmp_path / "run")
    trainer = Trainer(TrainConfig.from_dict(data))
    expected = class_balance_weights(class_frequencies(trainer.dataset, 19), 0.5)
    torch.testing.assert_close(trainer.class_weights, expected)
    x, y, weight, image_weight = trainer._batch(torch.Generator().manual_seed(0))
    assert image_weight is None  # train.image_balance 0: the image loss is a plain mean
    assert weight.shape == (4, 1, 16, 16)
    # the weight of each pixel is that of its (one-hot) class
    torch.testing.assert_close(weight[:, 0], expected[y.argmax(1)])
    assert weight.unique().numel() > 2  # several classes in view, not a constant map
    seen = []
    loss = trainer.path.loss
    trainer.path.loss = lambda *a: seen.append(a[-2]) or loss(*a)
    trainer.fit(progress=False)
    assert trainer.step == 2 and len(seen) == 2
    assert all(w is not None and w.shape == (4, 1, 16, 16) and w.min() < 1 < w.max() for w in seen)
    # the weights are recorded with the model: the data they were counted on may change later
    recorded = json.loads((tmp_path / "run" / "pipeline" / "model" / "training.json").read_text())["class_weights"]
    torch.testing.assert_close(torch.tensor(recorded), expected, atol=1e-5, rtol=0)


def test_image_balance_weights_the_image_loss_by_the_class_under_each_pixel(tmp_path):
    data = json.loads(json.dumps(TINY_FACES))
    data["output_dir"] = str(tmp_path / "run")
    data["train"].update(class_balance=0.0, image_balance=0.5)
    trainer = Trainer(TrainConfig.from_dict(data))
    assert trainer.class_weights is None
    expected = class_balance_weights(class_frequencies(trainer.dataset, 19), 0.5)
    x, y, label_weight, image_weight = trainer._batch(torch.Generator().manual_seed(0))
    assert label_weight is None
    torch.testing.assert_close(image_weight[:, 0], expected[y.argmax(1)])
    # the weighted image loss is the weighted mean of the squared errors, each pixel's three
    # colour channels at its class's weight
    v_x_hat = torch.zeros_like(x)
    v_x = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    loss = symmetric_loss(v_x_hat, y, v_x, y, 1.0, image_pixel_weight=image_weight)
    assert loss.item() == pytest.approx((image_weight * v_x.square()).mean().item(), rel=1e-6)
    assert loss.item() != pytest.approx(v_x.square().mean().item(), rel=1e-3)
    with pytest.raises(ValueError, match="image_pixel_weight of shape"):
        symmetric_loss(v_x_hat, y, v_x, y, 1.0, image_pixel_weight=torch.ones(1, 1, 3, 3))
    seen = []
    original = trainer.path.loss
    trainer.path.loss = lambda *a: seen.append(a[-1]) or original(*a)
    trainer.fit(progress=False)
    assert len(seen) == 2 and all(w.shape == (4, 1, 16, 16) and w.min() < 1 < w.max() for w in seen)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["train"].update(class_balance=1.5), r"class_balance is an exponent in \[0, 1\]"),
        (lambda d: d["train"].update(image_balance=-0.5), r"image_balance is an exponent in \[0, 1\]"),
        (lambda d: d["model"].update({"class": "LatentUNet"}) or d["train"].update(class_balance=0, image_balance=0.5),
         "image_balance weights pixels by class: it needs task segmentation"),
        (lambda d: d.update(task="classification", pipeline={"image_size": 16, "num_classes": 10}),
         "needs task segmentation and a PixelUNet"),
        (lambda d: d["model"].update({"class": "LatentUNet"}), "needs task segmentation and a PixelUNet"),
    ],
)
def test_class_balance_is_refused_where_it_has_no_meaning(edit, message):
    data = json.loads(json.dumps(TINY_FACES))
    data["output_dir"] = "unused"
    edit(data)
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(data)
