"""scripts/migrate_checkpoint.py: one-off layout changes of trained networks (not shipped code)."""

import copy
import sys

import pytest
import torch

from symmflow.models.detail import DetailUNet, film_rows
from symmflow.models.unet import PixelUNet
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig

from conftest import ROOT, tiny_patched_unet

sys.path.insert(0, str(ROOT / "scripts"))
from migrate_checkpoint import deepen_from, migrate, palette_to_onehot  # noqa: E402


def _patched(detail_channels=None, refine_channels=None):
    return tiny_patched_unet(refine_channels=refine_channels, detail_channels=detail_channels)


def test_detail_network_added_to_a_trained_model_starts_as_the_identity(tmp_path):

    trained = _patched(refine_channels=8)
    with torch.no_grad():  # a trained head is not zero: the detail network must keep its output
        trained.refine[-1].weight.normal_(0, 0.1)
    SymmFlowPipeline(trained, PipelineConfig(task="segmentation", image_size=16)).save_pretrained(tmp_path / "trained")
    detailed = _patched((8, 16), refine_channels=8)
    migrate(detailed, str(tmp_path / "trained"))
    x, y, t = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16), torch.rand(2)
    with torch.no_grad():
        for a, b in zip(trained(x, y, t), detailed(x, y, t)):
            torch.testing.assert_close(a, b)


def test_a_source_with_another_detail_network_is_refused(tmp_path):
    from symmflow.models.base import CheckpointError

    SymmFlowPipeline(_patched((8, 16)), PipelineConfig(task="segmentation", image_size=16)).save_pretrained(tmp_path / "detailed")
    for target in (_patched(), _patched((8, 8)), _patched((16, 16, 16))):
        with pytest.raises(CheckpointError, match="holds a network of another layout.*detail"):
            migrate(target, str(tmp_path / "detailed"))


def test_a_deeper_detail_network_continues_from_a_shallower_one(tmp_path):
    """Warm start from a 2-level detail network into a 3-level one through migrate: the
    output moves far less than with a random new level (the new up block is a near-identity)."""

    torch.manual_seed(0)
    trained = _patched((8, 16))
    with torch.no_grad():  # a trained detail network's output is not zero
        trained.detail.out.weight.normal_(0, 0.3)
        trained.detail.time[2].weight.normal_(0, 0.3)
    SymmFlowPipeline(trained, PipelineConfig(task="segmentation", image_size=16)).save_pretrained(tmp_path / "trained")
    deeper = _patched((8, 16, 32))
    migrate(deeper, str(tmp_path / "trained"))

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
    deepen_from(grown, source)
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
            deepen_from(target, source)


def test_a_one_hot_model_with_a_detail_network_warm_starts_from_a_colour_model(tmp_path):
    """The colour model's U-Net is mapped as without the detail network, which starts at zero."""
    from symmflow.codecs import OneHotCodec

    colour = _patched()
    onehot = PixelUNet(**{**colour.config, "label_channels": 19, "detail_channels": (8, 16)})
    palette_to_onehot(colour, onehot, torch.from_numpy(OneHotCodec("celebamask_hq").palette.colors.astype("float32")))
    kept = [k for k in colour.unet.state_dict() if not k.startswith(("conv_in", "conv_out"))]
    assert kept and all(torch.equal(colour.unet.state_dict()[k], onehot.unet.state_dict()[k]) for k in kept)
    assert onehot.detail.out.weight.abs().sum() == 0


def test_a_one_hot_model_warm_starts_from_a_colour_mask_model(tmp_path):
    """Channel surgery: on clean masks the one-hot network's first layer computes the colour
    model's features exactly, zero-padded borders included; only the label readout is new."""
    import torch.nn.functional as F

    from symmflow.codecs import OneHotCodec, PaletteCodec
    from symmflow.models.base import CheckpointError
    from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet

    def net(label_channels, **kw):
        return PixelUNet(label_channels=label_channels, sample_size=16, patch_size=2, skip_sigma=0.1,
                         **{**PIXEL_UNET_PRESETS["tiny"], **kw})

    torch.manual_seed(0)
    colour = net(3)
    SymmFlowPipeline(colour, PipelineConfig(task="segmentation", image_size=16)).save_pretrained(tmp_path / "colour")
    onehot_codec, palette_codec = OneHotCodec("celebamask_hq"), PaletteCodec("celebamask_hq")
    onehot = net(19)
    migrate(onehot, str(tmp_path / "colour"))

    ids = torch.randint(0, 19, (2, 16, 16), generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 3, 16, 16)
    a = colour.unet.conv_in(F.pixel_unshuffle(torch.cat([x, palette_codec.encode(ids)], 1), 2))
    b = onehot.unet.conv_in(F.pixel_unshuffle(torch.cat([x, onehot_codec.encode(ids)], 1), 2))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert onehot.unet.conv_out.weight[12:].abs().sum() == 0  # 3 image channels x 2x2 patches kept
    torch.testing.assert_close(onehot.unet.conv_out.weight[:12], colour.unet.conv_out.weight[:12])
    kept = [k for k in colour.state_dict() if not k.startswith(("unet.conv_in", "unet.conv_out"))]
    assert kept and all(torch.equal(colour.state_dict()[k], onehot.state_dict()[k]) for k in kept)
    # the label velocity starts as the linear skip alone
    t = torch.tensor([0.3, 0.8])
    y = onehot_codec.encode(ids)
    from symmflow.models.unet import linear_skip
    torch.testing.assert_close(onehot(x, y, t)[1], linear_skip(t, 0.1, 1e-4)[1].view(-1, 1, 1, 1) * y)

    with pytest.raises(CheckpointError, match="differ in block_out_channels"):
        migrate(net(19, block_out_channels=(8, 16, 32)), str(tmp_path / "colour"))
    with pytest.raises(CheckpointError, match=r"palette 'celebamask_hq' \(19 classes\).*172 label channels"):
        migrate(net(172), str(tmp_path / "colour"))

    colours = torch.from_numpy(onehot_codec.palette.colors.astype("float32"))
    with pytest.raises(ValueError, match="one per palette colour.*got 3 -> 3"):
        palette_to_onehot(colour, net(3), colours)


def test_a_refinement_head_starts_as_the_identity(tmp_path):
    """Added to a trained model (init_from), the head changes nothing until it trains."""

    plain = _patched()
    SymmFlowPipeline(plain, PipelineConfig(task="segmentation", image_size=16)).save_pretrained(tmp_path / "plain")
    refined = _patched(None, 8)
    migrate(refined, str(tmp_path / "plain"))
    x, y, t = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16), torch.rand(2)
    with torch.no_grad():
        for a, b in zip(plain(x, y, t), refined(x, y, t)):
            torch.testing.assert_close(a, b)
