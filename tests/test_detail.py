"""The full-resolution detail network (PixelUNet(detail_channels=...))."""

import pytest
import torch

from symmflow.models.detail import DetailUNet, film_rows
from symmflow.models.unet import PixelUNet

from conftest import tiny_patched_unet


def _patched(detail_channels=None, refine_channels=None):
    return tiny_patched_unet(refine_channels=refine_channels, detail_channels=detail_channels)


def _fit(model, target, steps=200, seed=1):
    """Mean loss of the last 20 of ``steps`` Adam steps on random inputs."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    recent = []
    for _ in range(steps):
        x, y = torch.randn(8, 3, 16, 16, generator=g), torch.randn(8, 3, 16, 16, generator=g)
        t = torch.rand(8, generator=g)
        want_x, want_y = target(x, y, t)
        v_x, v_y = model(x, y, t)
        loss = (v_x - want_x).square().mean() + (v_y - want_y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        recent = (recent + [loss.item()])[-20:]
    return sum(recent) / len(recent)


def test_detail_network_learns_time_dependent_per_pixel_targets_the_patched_net_cannot():
    """Target: each input pixel scaled by ``2t - 1``. A 4x4-patched net of 8 channels cannot
    carry 96 values a patch; the detail network sees every pixel and reads ``t`` through FiLM."""
    def target(x, y, t):
        scale = (2 * t - 1).view(-1, 1, 1, 1)
        return scale * x, scale * y

    losses = {"patched": _fit(_patched(), target), "detail": _fit(_patched((8, 16)), target)}
    # the target's mean square is 2/3 (2 halves x E[(2t-1)^2] = 1/3), the loss of predicting 0,
    # which is also the best a network blind to t can do; measured: 0.67 patched, 0.23 detail
    assert losses["patched"] > 0.5, losses
    assert losses["detail"] < 0.5 * losses["patched"], losses


def test_detail_network_reaches_pixels_the_refinement_head_cannot():
    """Target: the input moved 5 pixels sideways, beyond the head's 7x7 window (3 pixels either
    side) but within the detail network's; the patched U-Net cannot carry it pixel for pixel."""
    def target(x, y, t):
        return x.roll(5, dims=-1), y.roll(5, dims=-1)

    losses = {"refine": _fit(_patched(refine_channels=8), target), "detail": _fit(_patched((8, 16, 32)), target)}
    assert losses["detail"] < 0.6 * losses["refine"], losses  # measured: 1.95 refine, 1.12 detail


def test_detail_network_round_trips_through_save_pretrained(tmp_path):
    model = _patched((8, 16)).eval()
    with torch.no_grad():
        model.detail.out.weight.normal_(0, 0.1)
    model.save_pretrained(tmp_path / "m")
    loaded = PixelUNet.from_pretrained(tmp_path / "m").eval()
    assert list(loaded.config.detail_channels) == [8, 16]
    x, y, t = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16), torch.rand(2)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x, y, t), loaded(x, y, t)))


def test_detail_network_bad_widths_and_sizes_are_named():
    for widths in (16, [], "16"):
        with pytest.raises(ValueError, match="detail_channels must be a list of widths"):
            _patched(widths)
    with pytest.raises(ValueError, match="3-level detail network needs sample_size divisible by 4, got 18"):
        PixelUNet(sample_size=18, detail_channels=(8, 8, 8))
    for widths in ([], [12], [8, 0]):
        with pytest.raises(ValueError, match="detail_channels must be a non-empty list of multiples of 8"):
            DetailUNet(4, 4, widths)
    net = DetailUNet(4, 4, [8, 8, 8])
    assert net(torch.zeros(1, 4, 8, 8), torch.zeros(1)).shape == (1, 4, 8, 8)
    with pytest.raises(ValueError, match=r"image size \[6, 6\] is not divisible by 4"):
        net(torch.zeros(1, 4, 6, 6), torch.zeros(1))
