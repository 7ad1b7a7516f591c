"""The full-resolution detail network (PixelUNet(detail_channels=...))."""

import copy

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


def test_detail_network_added_to_a_trained_model_starts_as_the_identity(tmp_path):
    from symmflow.pipeline import SymmFlowPipeline
    from symmflow.training.trainer import init_weights

    trained = _patched(refine_channels=8)
    with torch.no_grad():  # a trained head is not zero: the detail network must keep its output
        trained.refine[-1].weight.normal_(0, 0.1)
    SymmFlowPipeline(trained, task="segmentation", image_size=16).save_pretrained(tmp_path / "trained")
    detailed = _patched((8, 16), refine_channels=8)
    init_weights(detailed, str(tmp_path / "trained"))
    x, y, t = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16), torch.rand(2)
    with torch.no_grad():
        for a, b in zip(trained(x, y, t), detailed(x, y, t)):
            torch.testing.assert_close(a, b)


def test_a_source_with_another_detail_network_is_refused(tmp_path):
    from symmflow.models.base import CheckpointError
    from symmflow.pipeline import SymmFlowPipeline
    from symmflow.training.trainer import init_weights

    SymmFlowPipeline(_patched((8, 16)), task="segmentation", image_size=16).save_pretrained(tmp_path / "detailed")
    for target in (_patched(), _patched((8, 8)), _patched((16, 16, 16))):
        with pytest.raises(CheckpointError, match="holds a network of another layout.*detail"):
            init_weights(target, str(tmp_path / "detailed"))


def test_a_deeper_detail_network_continues_from_a_shallower_one(tmp_path):
    """Warm start from a 2-level detail network into a 3-level one through init_weights: the
    output moves far less than with a random new level (the new up block is a near-identity)."""
    from symmflow.pipeline import SymmFlowPipeline
    from symmflow.training.trainer import init_weights

    torch.manual_seed(0)
    trained = _patched((8, 16))
    with torch.no_grad():  # a trained detail network's output is not zero
        trained.detail.out.weight.normal_(0, 0.3)
        trained.detail.time[2].weight.normal_(0, 0.3)
    SymmFlowPipeline(trained, task="segmentation", image_size=16).save_pretrained(tmp_path / "trained")
    deeper = _patched((8, 16, 32))
    init_weights(deeper, str(tmp_path / "trained"))

    source, grown = trained.detail, deeper.detail
    random_up = copy.deepcopy(grown)
    random_up.up[0] = type(grown.up[0])(48, 16)  # what a plain partial load would leave
    x, y, t = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16), torch.rand(4)
    h = torch.cat([x, y, x, y], dim=1)
    with torch.no_grad():
        want = source(h, t)
        errors = [((net(h, t) - want).norm() / want.norm()).item() for net in (grown, random_up)]
    # measured: 0.49 near-identity, 1.16 random (a random network; on the trained face model the
    # mIoU moved 0.753 -> 0.742 at 1 step, see deepen_from)
    assert errors[0] < 0.6 and errors[0] < 0.6 * errors[1], errors


@pytest.mark.parametrize("widths, deeper", [((8, 16), (8, 16, 32)), ((8, 16), (8, 16, 32, 64)), ((8, 8), (8, 8, 8, 8))])
def test_deepening_keeps_every_block_and_its_time_modulation_in_place(widths, deeper):
    torch.manual_seed(0)
    source, grown = DetailUNet(6, 4, widths), DetailUNet(6, 4, deeper)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    grown.deepen_from(source)
    n, new = len(widths), len(deeper) - len(widths)
    pairs = [*zip(source.down, grown.down), *zip(source.up, grown.up[new:])]
    for theirs, mine in pairs:
        assert all(torch.equal(a, b) for a, b in zip(theirs.state_dict().values(), mine.state_dict().values()))
    t = torch.rand(3, 1)
    rows_theirs = film_rows([*source.down, *source.up])
    rows_mine = film_rows([*grown.down, *grown.up])
    blocks_mine = [*grown.down, *grown.up]
    placed = [blocks_mine.index(mine) for _, mine in pairs]
    with torch.no_grad():
        film_theirs, film_mine = source.time(t), grown.time(t)
    for i, j in enumerate(placed):
        assert torch.equal(film_theirs[:, rows_theirs[i]], film_mine[:, rows_mine[j]])
    for j in set(range(len(blocks_mine))) - set(placed):
        if j >= len(deeper):  # a new up block: no time modulation, identity on its skip input
            assert not film_mine[:, rows_mine[j]].any()
            block = blocks_mine[j]
            skip = block.conv2.out_channels
            for conv in (block.conv1, block.conv2):
                expected = torch.zeros_like(conv.weight)
                expected[:, -skip:, 1, 1] = torch.eye(skip)
                assert torch.equal(conv.weight, expected) and not conv.bias.any()


def test_deepening_needs_the_same_leading_widths_and_channels():
    source = DetailUNet(4, 4, [8, 16])
    for target in (DetailUNet(4, 4, [8, 16]), DetailUNet(4, 4, [16, 16, 32]), DetailUNet(4, 4, [8]),
                   DetailUNet(4, 2, [8, 16, 32]), DetailUNet(6, 4, [8, 16, 32])):
        with pytest.raises(ValueError, match="proper prefix of"):
            target.deepen_from(source)


def test_a_one_hot_model_with_a_detail_network_warm_starts_from_a_colour_model(tmp_path):
    """The colour model's U-Net is mapped as without the detail network, which starts at zero."""
    from symmflow.codecs import OneHotCodec
    from symmflow.models.unet import palette_to_onehot

    colour = _patched()
    onehot = PixelUNet(**{**colour.config, "label_channels": 19, "detail_channels": (8, 16)})
    palette_to_onehot(colour, onehot, torch.from_numpy(OneHotCodec("celebamask_hq").palette.colors.astype("float32")))
    kept = [k for k in colour.unet.state_dict() if not k.startswith(("conv_in", "conv_out"))]
    assert kept and all(torch.equal(colour.unet.state_dict()[k], onehot.unet.state_dict()[k]) for k in kept)
    assert onehot.detail.out.weight.abs().sum() == 0


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
