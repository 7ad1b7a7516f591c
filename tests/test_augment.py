"""Training augmentation and the skip of the pixel U-Net."""

import pytest
import torch

from symmflow.data.augment import random_affine, random_shift
from symmflow.models.unet import PixelUNet, linear_skip
from symmflow.training.config import DataConfig, TrainConfig

from conftest import tiny_patched_unet


def _batch():
    images = torch.full((4, 3, 16, 16), -1.0)
    maps = torch.zeros(4, 16, 16, dtype=torch.long)
    images[:, :, 4:12, 6:10] = 1.0
    maps[:, 4:12, 6:10] = 5
    return images, maps


def test_affine_identity_and_labels_move_with_the_image():
    images, maps = _batch()
    same, same_maps = random_affine(images, maps, torch.Generator().manual_seed(0))
    torch.testing.assert_close(same, images, atol=1e-5, rtol=0)
    assert torch.equal(same_maps, maps)
    moved, moved_maps = random_affine(images, maps, torch.Generator().manual_seed(0), degrees=20, scale=0.2, translate=2)
    assert moved.shape == images.shape and moved_maps.dtype == maps.dtype
    assert moved.min() >= -1 - 1e-5 and moved.max() <= 1 + 1e-5
    assert not torch.equal(moved_maps, maps)
    # where the label moved, the image moved with it: bright pixels and class-5 pixels coincide
    bright = moved.mean(1) > 0.5
    assert (bright == (moved_maps == 5)).float().mean() > 0.93
    assert set(moved_maps.unique().tolist()) <= {0, 5}  # nearest neighbour never invents a class


def test_affine_is_reproducible_from_the_generator_and_checks_its_ranges():
    images, maps = _batch()
    a = random_affine(images, None, torch.Generator().manual_seed(3), degrees=10, scale=0.1, translate=1)[0]
    b = random_affine(images, None, torch.Generator().manual_seed(3), degrees=10, scale=0.1, translate=1)[0]
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="scale < 1"):
        random_affine(images, maps, torch.Generator(), scale=1.5)
    with pytest.raises(ValueError, match="degrees >= 0"):
        random_affine(images, maps, torch.Generator(), degrees=-1)


def test_shift_keeps_content_and_fills_background():
    images, maps = _batch()
    out, out_maps = random_shift(images, maps, 2, torch.Generator().manual_seed(1))
    assert not torch.equal(out, images)  # some samples moved
    assert ((out > 0).sum((1, 2, 3)) == (images > 0).sum((1, 2, 3))).all()  # the stroke stays inside
    assert ((out_maps == 5).sum((1, 2)) == 32).all()
    assert (out.mean(1) > 0).eq(out_maps == 5).all()  # the label moved with the image


def test_uncovered_label_pixels_take_the_fill_class():
    images, maps = _batch()
    _, shifted = random_shift(images, maps, 3, torch.Generator().manual_seed(2), fill=171)
    _, turned = random_affine(images, maps, torch.Generator().manual_seed(2), degrees=30, scale=0.3, fill=171)
    for out in (shifted, turned):  # COCO-Stuff: what comes from outside is unlabeled, not a person (0)
        assert (out == 171).any() and set(out.unique().tolist()) <= {0, 5, 171}


@pytest.mark.parametrize(
    ("augment", "message"),
    [({"flip": True}, "unknown augmentation"), ({"translate": -1}, "whole number"),
     ({"affine": {"degrees": 5, "shear": 2}}, "degrees, scale and translate"),
     ({"affine": {"scale": 1.0}}, "0 <= scale < 1"), ({"affine": {"degrees": "ten"}}, "needs numbers"),
     ({"translate": True}, "whole number")],
)
def test_bad_augmentation_settings_are_refused(augment, message):
    with pytest.raises(ValueError, match=message):
        DataConfig(dataset="digits", augment=augment)


def test_readout_fraction_is_checked():
    data = {"name": "x", "task": "classification", "data": {}, "model": {}, "pipeline": {"image_size": 8, "num_classes": 10},
            "train": {"readout_fraction": 1.5}}
    with pytest.raises(ValueError, match="readout_fraction"):
        TrainConfig.from_dict(data)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
def test_linear_skip_is_the_least_squares_coefficient(sigma):
    """Fit c by least squares on samples of the path, for data of std sigma: it matches."""
    g = torch.Generator().manual_seed(0)
    n, s = 400_000, 1e-4
    for t in (0.05, 0.3, 0.7, 0.95):
        data, noise = sigma * torch.randn(n, generator=g), torch.randn(n, generator=g)
        a = 1 - (1 - s) * t
        x_t, v_x = a * noise + t * data, data - (1 - s) * noise
        y_t, v_y = a * data + t * noise, noise - (1 - s) * data
        c_x, c_y = linear_skip(torch.tensor([t]), sigma, s)
        assert c_x.item() == pytest.approx(((x_t * v_x).sum() / (x_t * x_t).sum()).item(), rel=0.02, abs=0.01)
        assert c_y.item() == pytest.approx(((y_t * v_y).sum() / (y_t * y_t).sum()).item(), rel=0.02, abs=0.01)
    t = torch.linspace(0, 1, 10_001)
    bound = (sigma + 1 / sigma) / 2
    assert all(bound * 0.99 <= c.abs().max() <= bound for c in linear_skip(t, sigma, 1e-4))  # and it is tight


def test_skip_makes_a_silent_unet_denoise_both_halves():
    """With the U-Net's output zeroed, the skip alone is the least-squares flow: for data of
    std sigma, 25 Euler steps shrink pure noise to the data's scale, both directions."""
    model = PixelUNet(image_channels=3, label_channels=3, sample_size=8, block_out_channels=(8, 16),
                      down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                      attention_head_dim=8, norm_num_groups=4, skip_sigma=0.1)
    torch.nn.init.zeros_(model.unet.conv_out.weight)
    torch.nn.init.zeros_(model.unet.conv_out.bias)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 8, 8, generator=g), torch.zeros(2, 3, 8, 8)
    for k in range(25):  # forward: image noise -> image
        v_x, _ = model(x, y, torch.full((2,), k / 25))
        x = x + v_x / 25
    assert x.std() < 0.2
    x, y = torch.zeros(2, 3, 8, 8), torch.randn(2, 3, 8, 8, generator=g)
    for k in range(25):  # reverse: label noise -> label
        _, v_y = model(x, y, torch.full((2,), 1 - k / 25))
        y = y - v_y / 25
    assert y.std() < 0.2
    with pytest.raises(ValueError, match="skip_sigma"):
        PixelUNet(sample_size=8, skip_sigma=0.0)


def test_retired_pixel_stem_setting_loads_when_off_and_is_refused_when_on(tmp_path):
    """Checkpoints saved before the full-resolution stem was retired hold pixel_channels: null."""
    import json

    from symmflow.models.base import CheckpointError
    from conftest import tiny_patched_unet

    model = tiny_patched_unet()
    model.save_pretrained(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "pixel_channels": None}))
    assert PixelUNet.from_pretrained(tmp_path / "m").config.sigma_min == 1e-4
    config_path.write_text(json.dumps({**config, "pixel_channels": 8}))
    with pytest.raises(CheckpointError, match="pixel_channels=8, a setting PixelUNet no longer has"):
        PixelUNet.from_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="refine_channels must be >= 1"):
        PixelUNet(sample_size=8, refine_channels=0)
