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


def test_average_leaves_an_equivariant_field_unchanged():
    def pointwise(x, y, t):  # acts on each pixel alone, the same on every channel: equivariant
        return 2 * x, y * t[:, None, None, None]
    g = torch.Generator().manual_seed(1)
    x, y, t = torch.randn(3, 3, 8, 8, generator=g), torch.randn(3, 19, 8, 8, generator=g), torch.rand(3, generator=g)
    vx, vy = MirrorAveraged(pointwise, PERM)(x, y, t)
    torch.testing.assert_close(vx, 2 * x)
    torch.testing.assert_close(vy, y * t[:, None, None, None])


@pytest.mark.parametrize("perm", [[], [0, 0, 1], [1, 2, 0], [0, 1, 3]])
def test_bad_permutations_are_refused(perm):
    with pytest.raises(ValueError, match="own inverse"):
        MirrorAveraged(lambda x, y, t: (x, y), perm)


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


def test_colour_mask_pipelines_cannot_mirror():
    torch.manual_seed(0)
    net = PixelUNet(image_channels=3, label_channels=3, sample_size=16, **PIXEL_UNET_PRESETS["tiny"])
    pipe = SymmFlowPipeline(net, PipelineConfig(task="segmentation", image_size=16, palette="celebamask_hq", beta=10))
    assert not pipe.can_mirror and pipe.label_velocity() is pipe.model
    photo = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="one-hot label channels in pixel space.*colour masks"):
        pipe.segment(photo, steps=1, mirror=True)
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
