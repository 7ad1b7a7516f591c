"""Edit and regenerate (symmflow.editing): the unedited region is pinned at every step."""

import numpy as np
import pytest
import torch

from conftest import tiny_face_pipeline
from symmflow.editing import PinnedPath, changed_region, edit_region, regenerate, regenerate_stream, repainted_region
from symmflow.models.latent import LatentUNet
from symmflow.models.vae import LatentSpace
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig
from symmflow.solver import ODESolver
from test_latent import tiny_sd_unet, tiny_vae

SIZE = 16


@pytest.fixture(scope="module")
def pipe():
    return tiny_face_pipeline(SIZE)


def face_ids(size=32):
    ids = np.zeros((size, size), dtype=np.int64)
    ids[size // 5 :, size // 4 : 3 * size // 4] = 1
    ids[: size // 4] = 13
    return ids


def photo(size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def at_model_size(pipe, image):
    x, _ = pipe.processor.preprocess(image)
    return x


def test_edit_region_shrinks_thresholds_at_0_2_and_dilates_3x3():
    mask = np.zeros((64, 64), bool)
    mask[8:12, 8:12] = True  # one whole 4x4 cell at 16x16: cell (2, 2)
    region = edit_region(mask, 16)
    assert region.shape == (1, 1, 16, 16) and region.dtype == torch.bool
    assert region[0, 0].nonzero().tolist() == [[r, c] for r in (1, 2, 3) for c in (1, 2, 3)]
    few = np.zeros((64, 64), bool)
    few[40, 40:43] = True  # 3 of a cell's 16 pixels: 0.19, under the threshold
    assert not edit_region(few, 16).any()
    few[41, 40] = True  # 4 of 16: 0.25
    assert edit_region(few, 16).sum() == 9
    # uint8 strokes (0..255) and floats in [0, 1] read alike; a small mask is enlarged
    assert torch.equal(edit_region(mask.astype(np.uint8) * 255, 16), region)
    assert torch.equal(edit_region(torch.from_numpy(mask).float(), 16), region)
    assert edit_region(np.ones((4, 4), bool), 16).all()
    assert edit_region(np.stack([mask, ~mask]), 16).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        edit_region(np.full((8, 8), 2.0), 16)
    with pytest.raises(ValueError, match="must be"):
        edit_region(np.zeros(8), 16)


def test_changed_region_compares_at_the_new_masks_size():
    old = face_ids(16)
    new = face_ids(32)
    assert not changed_region(new, old).any()
    new[0:4, 0:4] = 14
    assert changed_region(new, old).sum() == 16 and changed_region(new, old).shape == (32, 32)


def test_an_unrepainted_one_pixel_palette_strip_is_not_an_edit(pipe):
    """A genuine 1-px l_ear strip between neck and background: the class ids read back snap it to
    a neighbour (it looks like an antialiased blend), but its canvas colours are the ones sent, so
    nothing counts as repainted; a real stroke does."""
    sent_ids = np.zeros((32, 32), dtype=np.int64)
    sent_ids[:, 16:] = 17  # neck
    sent_ids[8:24, 15] = 8  # l_ear (102, 51, 0), one pixel wide, between background and neck
    sent = pipe.palette.colorize(sent_ids)
    ids, colours = pipe.processor.read_mask_colours(sent)
    assert changed_region(ids, sent_ids).sum() >= 6  # the premise: reading ids back loses the strip
    assert np.array_equal(colours, sent) and not repainted_region(colours, sent).any()
    assert not repainted_region(pipe.palette.colorize(face_ids(64)), pipe.palette.colorize(face_ids(32))).any()  # other sizes: nearest
    canvas = sent.copy()
    canvas[2:5, 2:6] = pipe.palette.colors[14]  # a hat stroke
    assert repainted_region(canvas, sent).sum() == 12
    with pytest.raises(ValueError, match=r"canvas must be RGB uint8 \[H, W, 3\]"):
        repainted_region(sent_ids, sent)


def test_the_constraint_is_applied_to_every_state():
    seen = []

    def constraint(x, y, t):
        seen.append(t)
        return x, y

    def velocity(x, y, t):
        return torch.ones_like(x), torch.zeros_like(y)

    list(ODESolver(velocity).iterate(torch.zeros(1, 2), torch.zeros(1, 1), 0.0, 1.0, 4, constraint=constraint))
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0]
    seen.clear()
    list(ODESolver(velocity, "heun").iterate(torch.zeros(1, 2), torch.zeros(1, 1), 0.0, 1.0, 2, constraint=constraint))
    assert seen == [0.0, 0.5, 0.5, 1.0, 1.0]  # each Heun predictor too


def test_pinned_path_is_the_straight_path_outside_the_region():
    e, z = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    region = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    region[..., 0, 0] = True
    pin = PinnedPath(e, z, region, sigma_min=1e-4)
    x = torch.full((1, 3, 4, 4), 7.0)
    out, _ = pin(x, torch.zeros(1), 0.3)
    assert torch.allclose(out[..., 1:, :], ((1 - 0.9999 * 0.3) * e + 0.3 * z)[..., 1:, :])
    assert (out[..., 0, 0] == 7.0).all()
    assert torch.allclose(pin.path(0.0), e) and torch.allclose(pin.path(1.0), z + 1e-4 * e)
    with pytest.raises(ValueError, match="region must be bool"):
        PinnedPath(e, z, region[..., :2, :2])


def test_an_empty_edit_regenerates_the_photo(pipe):
    picture = photo()
    seg = pipe.segment(picture, steps=3, seed=0)
    z = at_model_size(pipe, picture)
    for mask in (None, np.zeros((32, 32), bool)):
        out = regenerate(pipe, face_ids(), picture, seg.image_noise, mask, steps=4, seed=1, output_type="pt")
        assert (out.images - z).abs().max() < 1e-3  # z + sigma_min * e: the photo, to numerical precision
    heun = regenerate(pipe, face_ids(), picture, seg.image_noise, None, steps=2, seed=1, solver="heun", output_type="pt")
    assert (heun.images - z).abs().max() < 1e-3
    # without the pin, the same noise drifts away from the photo
    free = pipe.generate(face_ids(), steps=4, noise=seg.image_noise, output_type="pt")
    assert (free.images - z).abs().max() > 0.1


def test_an_edit_changes_only_its_region(pipe):
    picture = photo(seed=2)
    seg = pipe.segment(picture, steps=3, seed=0, output_type="np")
    new = seg.class_maps[0].copy()
    new[:8, :8] = 14  # a hat in the top-left corner (32 px photo -> 16 px model)
    changed = changed_region(new, seg.class_maps[0])
    assert changed.any()
    region = edit_region(changed, SIZE)[0, 0]
    frames = list(regenerate_stream(pipe, new, picture, seg.image_noise, changed, steps=4, seed=1, num_images_per_label=2, output_type="pt"))
    assert len(frames) == 5
    out = frames[-1].output.images
    z = at_model_size(pipe, picture)
    diff = (out - z).abs().amax(dim=1)  # [2, S, S]
    assert diff[:, ~region].max() < 1e-3 and diff[:, region].mean() > 0.05
    a, b = out  # fresh noise differs per portrait inside the edit only
    assert (a - b).abs().amax(dim=0)[~region].max() < 1e-6 and (a - b).abs().amax(dim=0)[region].mean() > 0.05
    # the intermediate states are pinned too: frame i is on the path at t = i / 4 outside the region
    pin = PinnedPath(seg.image_noise, z, torch.ones(1, 1, SIZE, SIZE, dtype=torch.bool))
    mid = torch.from_numpy(frames[2].images[0]).permute(2, 0, 1).float() / 127.5 - 1
    assert (mid - pin.path(0.5)[0].clamp(-1, 1)).abs().amax(dim=0)[~region].max() <= 1 / 127.5 + 1e-6


def test_a_model_that_holds_its_label_still_keeps_the_unedited_region_exact(pipe):
    held = tiny_face_pipeline(SIZE)  # the same seeded weights
    held.config.label_fade = 0.65  # generation's label hold and the edit's image pin, together
    picture = photo(seed=2)
    seg = held.segment(picture, steps=3, seed=0, output_type="np")
    new = seg.class_maps[0].copy()
    new[:8, :8] = 14
    changed = changed_region(new, seg.class_maps[0])
    region = edit_region(changed, SIZE)[0, 0]
    out = regenerate(held, new, picture, seg.image_noise, changed, steps=4, seed=1, output_type="pt", hold_label=None).images
    unheld = regenerate(pipe, new, picture, seg.image_noise, changed, steps=4, seed=1, output_type="pt").images
    diff = (out - at_model_size(held, picture)).abs().amax(dim=1)
    assert diff[:, ~region].max() < 1e-3
    assert (out - unheld).abs().amax(dim=1)[:, region].mean() > 1e-3  # the hold changed the repainted part
    by_default = regenerate(held, new, picture, seg.image_noise, changed, steps=4, seed=1, output_type="pt")
    torch.testing.assert_close(by_default.images, unheld)  # regenerate flows freely unless told to hold


def test_regenerate_names_what_does_not_match(pipe):
    picture = photo()
    noise = pipe.segment(picture, steps=1, seed=0).image_noise
    with pytest.raises(ValueError, match="does not match the noise"):
        regenerate(pipe, face_ids(), [picture, picture], noise, None, steps=1)
    with pytest.raises(ValueError, match=r"\[B, C, h, w\]"):
        regenerate(pipe, face_ids(), picture, noise[0], None, steps=1)
    with pytest.raises(ValueError, match="2 edit masks for 1 photos"):
        regenerate(pipe, face_ids(), picture, noise, np.zeros((2, 32, 32), bool), steps=1)
    with pytest.raises(ValueError, match="noise must have shape"):  # one mask per noise
        regenerate(pipe, [face_ids(), face_ids()], picture, noise, None, steps=1)


def test_latent_pipeline_pins_the_photos_latent():
    model = LatentUNet.from_sd_unet(tiny_sd_unet(), torch.randn(1, 77, 32))
    latent = SymmFlowPipeline(model, PipelineConfig(task="segmentation", image_size=16, palette="celebamask_hq"), vae=LatentSpace(tiny_vae()))
    picture = photo(16)
    seg = latent.segment(picture, steps=2, seed=0)
    assert seg.image_noise.shape == (1, 4, 8, 8)
    x = at_model_size(latent, picture)
    reconstruction = latent.vae.decode(latent.vae.encode_mask(x))
    out = regenerate(latent, face_ids(16), picture, seg.image_noise, None, steps=3, seed=0, output_type="pt")
    assert (out.images - reconstruction).abs().max() < 1e-2  # the photo through the VAE
    ids = face_ids(16)
    ids[:4, :4] = 14
    edited = regenerate(latent, ids, picture, seg.image_noise, changed_region(ids, face_ids(16)), steps=3, seed=0, output_type="pt")
    assert (edited.images - reconstruction).abs().max() > 1e-2
