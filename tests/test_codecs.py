import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from symmflow.codecs import ClassCodec, OneHotCodec, PaletteCodec, uniform_dequantize
from symmflow.palettes import CELEBAMASK_HQ, COCO_STUFF, PALETTE_NAMES, get_palette
from symmflow.painted_masks import read_painted_mask


# -- class codec ----------------------------------------------------------------------------

def test_class_levels_match_reference(vectors):
    ref = vectors["class_codec"]
    codec = ClassCodec(ref["num_classes"], beta=ref["beta"])
    torch.testing.assert_close(codec.levels(), torch.tensor(ref["channel_value"]), atol=1e-6, rtol=0)
    assert codec.noise_width / 2 == pytest.approx(ref["noise_half_width"], abs=1e-6)


def test_class_round_trip_with_noise_on_maps():
    codec = ClassCodec(10, beta=4.0, shape=(1, 32, 32))
    labels = torch.arange(10).repeat(20)
    y = codec.encode(labels, generator=torch.Generator().manual_seed(0))
    assert y.shape == (200, 1, 32, 32)
    # noise stays inside a quarter of the level gap each side, so even single pixels decode
    gap = 4.0 / 9
    assert (y - codec.encode(labels, dequantize=False)).abs().max() <= gap / 4 + 1e-6
    assert torch.equal(codec.decode(y), labels)


def test_class_decode_at_the_boundaries():
    codec = ClassCodec(10, beta=4.0)
    scale = 2.0
    # far outside the range clamps to the first / last class
    assert codec.decode(torch.tensor([[-50.0], [50.0]])).tolist() == [0, 9]
    # just either side of the midpoint between levels 3 and 4
    mid = (codec.levels()[3] + codec.levels()[4]) / 2
    assert codec.decode(torch.tensor([[mid - 1e-3], [mid + 1e-3]])).tolist() == [3, 4]
    # exact ends
    assert codec.decode(torch.tensor([[-scale], [scale]])).tolist() == [0, 9]


def test_class_scores_peak_at_the_decoded_class():
    codec = ClassCodec(10, beta=4.0, shape=(1, 4, 4))
    y = codec.encode(torch.tensor([2, 7]))
    scores = codec.scores(y)
    torch.testing.assert_close(scores.sum(1), torch.ones(2))
    assert scores.argmax(1).tolist() == [2, 7]


def test_spiral_style_codec_is_sign():
    codec = ClassCodec(2, beta=2.0)
    torch.testing.assert_close(codec.levels(), torch.tensor([-1.0, 1.0]))
    y = codec.encode(torch.tensor([0, 1] * 500), generator=torch.Generator().manual_seed(1))
    assert y[::2].min() >= -1.5 and y[::2].max() <= -0.5  # U(-0.5, 0.5) around -1
    assert codec.decode(torch.tensor([[-0.01], [0.01]])).tolist() == [0, 1]


@pytest.mark.parametrize(
    ("labels", "message"),
    [([0, 10], r"\[0, 9\]"), ([-1], r"\[0, 9\]"), ([[0, 1]], "1-D"), ([0.5], "integer")],
)
def test_class_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        ClassCodec(10).encode(torch.tensor(labels))


# -- dequantization -------------------------------------------------------------------------

def test_uniform_dequantize_width(vectors):
    beta = vectors["mask_dequantization"]["beta_celebamask_hq"]
    mask = torch.zeros(1, 3, 64, 64)
    noisy = PaletteCodec("celebamask_hq", beta=beta).dequantize(mask, torch.Generator().manual_seed(0))
    half = beta / 2 / 127.5
    assert noisy.abs().max() <= half and noisy.abs().max() > 0.9 * half
    assert abs(noisy.mean().item()) < 0.01 * half * 10
    with pytest.raises(ValueError, match=">= 0"):
        uniform_dequantize(mask, -1.0)


# -- palettes and the palette codec -----------------------------------------------------------

def test_palettes_match_reference(vectors):
    ref = vectors["palettes"]
    assert list(CELEBAMASK_HQ.class_names) == ref["celebamask_hq"]["names"]
    assert CELEBAMASK_HQ.colors.tolist() == ref["celebamask_hq"]["rgb"]
    coco = ref["coco_stuff"]  # colours by raw id: tests/test_palettes.py
    assert COCO_STUFF.colors[:11].tolist() == coco["rgb_first_171"][:11]  # raw ids 0..10 = classes 0..10
    assert COCO_STUFF.colors[171].tolist() == coco["unlabeled_rgb"]
    assert COCO_STUFF.from_raw(np.array([0, 170, 181, coco["unlabeled_id"]])).tolist() == [0, 159, 170, 171]
    assert set(PALETTE_NAMES) == {"celebamask_hq", "coco_stuff"}


def test_unknown_palette_names_the_choices():
    with pytest.raises(ValueError, match="celebamask_hq, coco_stuff"):
        get_palette("cityscapes")
    with pytest.raises(ValueError, match="not classes"):
        COCO_STUFF.from_raw(np.array([200]))


@pytest.mark.parametrize("name,beta", [("celebamask_hq", 10), ("coco_stuff", 6)])
def test_palette_round_trip_survives_dequantization(name, beta):
    codec = PaletteCodec(name, beta=beta)
    ids = torch.randint(0, codec.num_classes, (2, 32, 32), generator=torch.Generator().manual_seed(0))
    mask = codec.encode(ids, dequantize=True, generator=torch.Generator().manual_seed(1))
    assert mask.shape == (2, 3, 32, 32) and mask.min() >= -1.05 and mask.max() <= 1.05
    assert torch.equal(codec.decode(mask), ids)


def test_palette_decode_is_nearest_colour():
    codec = PaletteCodec("celebamask_hq")
    rgb = np.array([[[200, 10, 5], [80, 150, 10], [250, 250, 10]]], dtype=np.uint8)  # skin, nose, u_lip
    assert read_painted_mask(rgb, codec.palette, tolerance=None).tolist() == [[1, 2, 11]]
    mask = torch.from_numpy(rgb).permute(2, 0, 1).float() / 127.5 - 1
    assert codec.decode(mask).tolist() == [[[1, 2, 11]]]


def _antialiased_disc(size=64, inside=(0, 0, 204), outside=(0, 0, 0), factor=8):
    """Hair-coloured disc on background, drawn large and downsampled: soft, blended edges."""
    big = Image.new("RGB", (size * factor, size * factor), outside)
    ImageDraw.Draw(big).ellipse([8 * factor, 8 * factor, 56 * factor, 56 * factor], fill=inside)
    return np.asarray(big.resize((size, size), Image.Resampling.BOX))


def test_antialiased_brush_edges_map_to_the_two_painted_classes():
    codec = PaletteCodec("celebamask_hq")
    img = _antialiased_disc()
    naive = read_painted_mask(img, codec.palette, tolerance=None)
    robust = read_painted_mask(img, codec.palette)
    assert set(np.unique(naive)) - {0, 13}  # plain nearest colour invents l_lip (0,0,153) on the edge
    assert set(np.unique(robust)) == {0, 13}
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 31.5, xx - 31.5)
    assert (robust[r < 22] == 13).all() and (robust[r > 26] == 0).all()


def test_max_foreign_tells_blends_from_other_colours():
    codec = PaletteCodec("celebamask_hq")
    soft = _antialiased_disc(factor=8)
    assert np.array_equal(read_painted_mask(soft, codec.palette, max_foreign=0.0), read_painted_mask(soft, codec.palette))  # every edge pixel is a blend
    stray = soft.copy()
    stray[30:34, 30:34] = (250, 120, 10)  # inside the hair, far from every palette colour and from hair
    with pytest.raises(ValueError, match=r"0\.39% of the pixels \(16\).*most often \(250, 120, 10\)"):
        read_painted_mask(stray, codec.palette, max_foreign=0.001)
    assert read_painted_mask(stray, codec.palette, max_foreign=0.01)[31, 31] == 13  # tolerated: filled from the hair around it
    with pytest.raises(ValueError, match="needs a tolerance"):
        read_painted_mask(soft, codec.palette, tolerance=None, max_foreign=0.01)


def test_exact_palette_masks_are_unchanged_by_robust_decoding():
    codec = PaletteCodec("celebamask_hq")
    ids = np.zeros((48, 48), dtype=np.int64)
    ids[4:44, 8:40] = 1
    ids[10:14, 12:20] = 6
    ids[16:20, 12:20] = 4
    ids[30:34, 14:34] = 11
    ids[34:37, 14:34] = 12
    ids[:6] = 13
    assert np.array_equal(read_painted_mask(CELEBAMASK_HQ.colorize(ids), codec.palette), ids)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.encode(torch.tensor([[0, 19]])), r"\[0, 18\]"),
        (lambda c: c.encode(torch.zeros(2, 2)), "integer"),
        (lambda c: c.encode(torch.zeros(1, 1, 2, 2, dtype=torch.long)), r"\[B, H, W\]"),
        (lambda c: c.decode(torch.zeros(1, 1, 4, 4)), r"\[B, 3, H, W\]"),
        (lambda c: read_painted_mask(np.zeros((4, 4), dtype=np.uint8), c.palette), r"\[H, W, 3\]"),
    ],
)
def test_palette_codec_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(PaletteCodec("celebamask_hq"))


# -- one-hot masks ---------------------------------------------------------------------------


def test_onehot_round_trip_survives_dequantization():
    codec = OneHotCodec("celebamask_hq", beta=10)
    ids = torch.randint(0, 19, (2, 16, 16), generator=torch.Generator().manual_seed(0))
    y = codec.encode(ids, dequantize=True, generator=torch.Generator().manual_seed(1))
    assert y.shape == (2, 19, 16, 16) and codec.channels == 19
    clean = codec.encode(ids)
    assert set(clean.unique().tolist()) == {-1.0, 1.0} and torch.equal(clean.sum(1), torch.full((2, 16, 16), -17.0))
    assert (y - clean).abs().max() <= 5 / 127.5 + 1e-6  # +-beta/2 grey levels, as for colour masks
    assert torch.equal(codec.decode(y), ids)


def test_onehot_decodes_a_mixture_to_its_most_likely_class():
    """The posterior mean of a one-step readout: 60% hair, 40% background decodes as hair, where
    the same mixture of the two palette colours is closest to the lower lip's colour."""
    onehot, palette = OneHotCodec("celebamask_hq"), PaletteCodec("celebamask_hq")
    hair, background = torch.tensor([[13]]), torch.tensor([[0]])
    mean_onehot = 0.6 * onehot.encode(hair) + 0.4 * onehot.encode(background)
    mean_colour = 0.6 * palette.encode(hair) + 0.4 * palette.encode(background)
    assert onehot.decode(mean_onehot).item() == 13
    assert palette.decode(mean_colour).item() == 12  # l_lip (0, 0, 153)


def test_onehot_colour_view_and_painted_masks_match_the_palette():
    onehot, palette = OneHotCodec("celebamask_hq"), PaletteCodec("celebamask_hq")
    ids = torch.randint(0, 19, (1, 8, 8), generator=torch.Generator().manual_seed(2))
    assert torch.equal(onehot.to_colour_mask(onehot.encode(ids)), palette.encode(ids))
    rgb = CELEBAMASK_HQ.colorize(ids[0].numpy())
    assert np.array_equal(read_painted_mask(rgb, onehot.palette, tolerance=None), ids[0].numpy())
    assert np.array_equal(read_painted_mask(rgb, onehot.palette), read_painted_mask(rgb, palette.palette))


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda c: c.encode(torch.tensor([[0, 19]])), r"\[0, 18\]"),
        (lambda c: c.encode(torch.zeros(2, 2)), "integer"),
        (lambda c: c.decode(torch.zeros(1, 3, 4, 4)), r"\[B, 19, H, W\]"),
    ],
)
def test_onehot_codec_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(OneHotCodec("celebamask_hq"))


def test_decode_weights_shift_the_prior_back():
    """A readout of q = 0.55 rare (earring, weight 4) vs 0.45 common (skin, weight 1): the plain
    argmax says earring; a class-balanced model's scores were inflated by the weight, so dividing
    by w ** 0.5 (2 vs 1) gives skin the larger score, 0.45 vs 0.275; a readout of 0.9 vs 0.1
    stays with the earring either way (weights only move close calls)."""
    weights = torch.ones(19)
    weights[15] = 4.0
    plain, shifted = OneHotCodec("celebamask_hq"), OneHotCodec("celebamask_hq", decode_weights=weights**0.5)
    y = -torch.ones(1, 19, 1, 2)
    y[0, 15, 0, 0], y[0, 1, 0, 0] = 2 * 0.55 - 1, 2 * 0.45 - 1  # earring ahead: a close call
    y[0, 15, 0, 1], y[0, 1, 0, 1] = 2 * 0.9 - 1, 2 * 0.1 - 1  # earring far ahead
    assert plain.decode(y).tolist() == [[[15, 15]]]
    assert shifted.decode(y).tolist() == [[[1, 15]]]
    # the chunked scores the pipeline takes the running argmax of agree with decode
    chunks = torch.cat([shifted.class_scores(y[:, s : s + 8], s) for s in range(0, 19, 8)], 1)
    assert torch.equal(chunks.argmax(1), shifted.decode(y))


def test_decode_weights_keep_the_readouts_order_where_every_class_undershoots():
    """Readouts below -1 (q <= 0) are not clamped to one value, which would let the weights alone
    pick the class: such a pixel keeps the plain argmax, and any positive q still beats them."""
    weights = torch.ones(19)
    weights[15] = 4.0
    codec = OneHotCodec("celebamask_hq", decode_weights=weights)
    y = torch.full((1, 19, 1, 2), -1.5)
    y[0, 1, 0, 0], y[0, 15, 0, 0] = -1.01, -1.2  # skin undershoots least: skin, whatever the weights
    y[0, 15, 0, 1] = -0.9  # one positive q among undershoots wins
    y = torch.cat([y, torch.full((1, 19, 1, 1), -1.5)], 3)
    y[0, 1, 0, 2], y[0, 15, 0, 2] = -1.04, -1.02  # earring undershoots least: weighting q * d would flip it
    assert codec.decode(y).tolist() == [[[1, 15, 15]]]
    assert OneHotCodec("celebamask_hq").decode(y).tolist() == [[[1, 15, 15]]]


@pytest.mark.parametrize("weights", [[1.0] * 18, [1.0] * 18 + [0.0], [1.0] * 18 + [float("nan")]])
def test_decode_weights_bad_input(weights):
    with pytest.raises(ValueError, match="19 finite numbers > 0"):
        OneHotCodec("celebamask_hq", decode_weights=weights)
