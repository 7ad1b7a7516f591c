"""Mirror averaging (symmflow.mirroring) and its use by segmentation pipelines."""

from pathlib import Path

import numpy as np
import pytest
import torch

from symmflow.data.procedural_faces import HELD_OUT_SEED, generate_faces
from symmflow.mirroring import MirrorAveraged
from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet
from symmflow.palettes import CELEBAMASK_HQ, COCO_STUFF
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig
from symmflow.uncertainty import sample_masks

ROOT = Path(__file__).resolve().parent.parent
ID = {name: k for k, name in enumerate(CELEBAMASK_HQ.class_names)}
PERM = CELEBAMASK_HQ.mirror_permutation()


def onehot_pipeline(size=16):
    torch.manual_seed(0)
    net = PixelUNet(image_channels=3, label_channels=19, sample_size=size, **PIXEL_UNET_PRESETS["tiny"])
    config = PipelineConfig(task="segmentation", image_size=size, palette="celebamask_hq", label_encoding="onehot", beta=10)
    return SymmFlowPipeline(net, config)


def test_celebamask_mirror_swaps_left_and_right_parts_only():
    assert PERM[ID["l_eye"]] == ID["r_eye"] and PERM[ID["r_eye"]] == ID["l_eye"]
    assert PERM[ID["l_brow"]] == ID["r_brow"] and PERM[ID["l_ear"]] == ID["r_ear"]
    sided = {ID[n] for n in ("l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear")}
    assert all(PERM[k] == k for k in range(19) if k not in sided)
    assert COCO_STUFF.mirror_permutation() == list(range(COCO_STUFF.num_classes))


def test_rendered_faces_are_mirror_images_under_the_permutation():
    """The permutation is the one the data obey: a flipped face's left eye is where the
    original's right eye was (l_* is the subject's left)."""
    _, maps = generate_faces(4, 64, seed=3)
    for m in maps:
        mirrored = np.asarray(PERM)[m[:, ::-1]]
        assert (mirrored == ID["l_eye"]).any()
        left_x = np.nonzero(mirrored == ID["l_eye"])[1].mean()
        assert left_x > 32  # still on the image's right after mirroring


def test_mirror_of_a_known_state():
    """On a state wider than tall: a pixel at column 0 goes to column W - 1 of the same row, and
    an l_eye label there becomes an r_eye label; classes without a side keep their channel."""
    field = MirrorAveraged(lambda x, y, t: (x, y), PERM)
    x, y = torch.zeros(1, 3, 4, 7), torch.zeros(1, 19, 4, 7)
    x[0, 2, 1, 0] = 1.0
    y[0, ID["l_eye"], 1, 0] = 1.0
    y[0, ID["nose"], 3, 2] = 1.0
    mx, my = field.mirror(x, y)
    assert mx[0, 2, 1, 6] == 1 and mx.sum() == 1
    assert my[0, ID["r_eye"], 1, 6] == 1 and my[0, ID["nose"], 3, 4] == 1 and my.sum() == 2


def test_average_matches_its_definition():
    """``v_M`` against the formula written out here with its own flips and indexing."""
    pipe = onehot_pipeline()
    g = torch.Generator().manual_seed(2)
    x, y, t = torch.randn(2, 3, 16, 16, generator=g), torch.randn(2, 19, 16, 16, generator=g), torch.tensor([0.2, 0.7])
    with torch.no_grad():
        vx, vy = MirrorAveraged(pipe.model, PERM)(x, y, t)
        ax, ay = pipe.model(x, y, t)
        bx, by = pipe.model(torch.flip(x, dims=[3]), torch.flip(y[:, PERM], dims=[3]), t)
    torch.testing.assert_close(vx, 0.5 * (ax + torch.flip(bx, dims=[3])), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(vy, 0.5 * (ay + torch.flip(by, dims=[3])[:, PERM]), atol=1e-5, rtol=1e-5)


def test_average_is_exactly_mirror_equivariant():
    """``v_M(M x, M y) = M v_M(x, y)`` for a network that is not symmetric at all."""
    pipe = onehot_pipeline()
    field = MirrorAveraged(pipe.model, PERM)
    g = torch.Generator().manual_seed(0)
    x, y, t = torch.randn(2, 3, 16, 16, generator=g), torch.randn(2, 19, 16, 16, generator=g), torch.tensor([0.3, 0.9])
    with torch.no_grad():
        vx, vy = field(x, y, t)
        vx_m, vy_m = field(*field.mirror(x, y), t)
        raw_x, raw_y = pipe.model(*field.mirror(x, y), t)
    want_x, want_y = field.mirror(vx, vy)
    torch.testing.assert_close(vx_m, want_x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(vy_m, want_y, atol=1e-5, rtol=1e-5)
    assert (raw_y - want_y).abs().max() > 1e-2  # the network alone is not equivariant


def test_average_leaves_a_mirror_symmetric_field_unchanged():
    """A field that already commutes with the face mirror (width flip, l/r swap) but not with a
    height flip or a flip without the swap: averaging leaves it exactly as it is."""
    def symmetric(x, y, t):
        return x + x.flip(-1) + x.roll(1, -2), y + y[:, PERM].flip(-1) + y.roll(1, -2) * t[:, None, None, None]
    g = torch.Generator().manual_seed(1)
    x, y, t = torch.randn(3, 3, 6, 8, generator=g), torch.randn(3, 19, 6, 8, generator=g), torch.rand(3, generator=g)
    vx, vy = MirrorAveraged(symmetric, PERM)(x, y, t)
    want_x, want_y = symmetric(x, y, t)
    torch.testing.assert_close(vx, want_x)
    torch.testing.assert_close(vy, want_y)


@pytest.mark.parametrize("perm", [[], [0, 0, 1], [1, 2, 0], [0, 1, 3]])
def test_bad_permutations_are_refused(perm):
    with pytest.raises(ValueError, match="own inverse"):
        MirrorAveraged(lambda x, y, t: (x, y), perm)


@pytest.mark.parametrize("perm", [[0.0, 1.0], [True, False]])
def test_permutations_must_be_integers(perm):
    with pytest.raises(ValueError, match="integer channel indices"):
        MirrorAveraged(lambda x, y, t: (x, y), perm)


@pytest.mark.parametrize("pairs, message", [
    ((("l_eye", "left_eye"),), "'left_eye', which is not one of its classes"),
    ((("l_eye", "r_eye"), ("r_eye", "nose")), "'r_eye' is in two mirror pairs"),
    ((("nose", "nose"),), "two different classes"),
])
def test_palettes_refuse_bad_mirror_pairs(pairs, message):
    from symmflow.palettes import Palette

    with pytest.raises(ValueError, match=message):
        Palette("faces", CELEBAMASK_HQ.class_names, CELEBAMASK_HQ.colors, mirror_pairs=pairs)


def test_label_channels_must_match_the_permutation():
    field = MirrorAveraged(lambda x, y, t: (x, y), PERM)
    with pytest.raises(ValueError, match="3 channels"):
        field(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1))


def test_pipeline_mirrors_by_default_where_it_can():
    pipe = onehot_pipeline()
    photos = [np.random.default_rng(k).integers(0, 256, (16, 16, 3), dtype=np.uint8) for k in range(2)]
    default = pipe.segment(photos, steps=2, seed=0, output_type="np")
    on = pipe.segment(photos, steps=2, seed=0, output_type="np", mirror=True)
    off = pipe.segment(photos, steps=2, seed=0, output_type="np", mirror=False)
    assert pipe.can_mirror and isinstance(pipe.label_velocity(), MirrorAveraged)
    assert default.nfe == on.nfe == off.nfe == 2  # one doubled batch per step
    assert all(np.array_equal(a, b) for a, b in zip(default.class_maps, on.class_maps))
    assert any(not np.array_equal(a, b) for a, b in zip(default.class_maps, off.class_maps))
    # posterior samples follow the same field as the answer they qualify
    drawn, _ = sample_masks(pipe, photos, 2, steps=2, seed=0)
    assert np.array_equal(drawn[0][0], default.class_maps[0])


def test_mirror_option_is_checked_when_the_stream_is_made():
    pipe = onehot_pipeline()
    with pytest.raises(ValueError, match="True, False or None"):
        pipe.segment_stream(np.zeros((16, 16, 3), np.uint8), mirror="false")


def test_colour_mask_pipelines_cannot_mirror():
    torch.manual_seed(0)
    net = PixelUNet(image_channels=3, label_channels=3, sample_size=16, **PIXEL_UNET_PRESETS["tiny"])
    pipe = SymmFlowPipeline(net, PipelineConfig(task="segmentation", image_size=16, palette="celebamask_hq", beta=10))
    assert not pipe.can_mirror and pipe.label_velocity() is pipe.model
    photo = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="one-hot label channels in pixel space.*colour masks"):
        pipe.segment_stream(photo, steps=1, mirror=True)  # refused at the call, before any frame
    assert pipe.segment(photo, steps=1, seed=0, output_type="np").class_maps[0].shape == (16, 16)


def test_shipped_face_model_reads_a_face_and_its_mirror_image_alike():
    """With the average, a mirrored photo's map is the map mirrored (left and right parts
    swapped) up to the label noise; without it, the network's own left-right slips show."""
    pipe = SymmFlowPipeline.from_pretrained(ROOT / "checkpoints" / "faces")
    images, _ = generate_faces(8, 64, seed=HELD_OUT_SEED)
    flipped = [im[:, ::-1].copy() for im in images]

    def agreement(mirror):
        a = pipe.segment(list(images), steps=1, seed=0, output_type="np", mirror=mirror).class_maps
        b = pipe.segment(flipped, steps=1, seed=0, output_type="np", mirror=mirror).class_maps
        return np.mean([(x == np.asarray(PERM)[y[:, ::-1]]).mean() for x, y in zip(a, b)])

    averaged, plain = agreement(True), agreement(False)  # measured: 0.989 vs 0.977
    assert averaged > 0.985 and (1 - averaged) < 0.6 * (1 - plain), (averaged, plain)
