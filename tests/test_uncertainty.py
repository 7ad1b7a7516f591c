"""Segmentation uncertainty (symmflow.uncertainty): K posterior samples and their disagreement."""

import numpy as np
import pytest
import torch

from conftest import tiny_face_pipeline
from symmflow.alignment import invert_affine, whole_matrix
from symmflow.pipeline import SymmFlowPipeline
from symmflow.uncertainty import disagreement, heat_map, paste_uncertainty, sample_masks, segment_with_uncertainty

SIZE = 16


@pytest.fixture(scope="module")
def pipe():
    return tiny_face_pipeline(SIZE)


def photos(count=2, size=24):
    return list(np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8))


def test_disagreement_counts_the_votes_against_the_most_common_class():
    one = np.random.default_rng(0).integers(0, 19, (20, 30))
    assert not disagreement(np.stack([one] * 6)).any()  # K copies of one sample agree everywhere
    votes = np.array([[[0]], [[0]], [[1]], [[2]]])
    assert disagreement(votes)[0, 0] == pytest.approx(0.5)  # 2 of 4 leave class 0
    assert disagreement(np.arange(4).reshape(4, 1, 1))[0, 0] == pytest.approx(0.75)  # all differ: 1 - 1/K
    assert disagreement(np.array([[[3]], [[1]], [[3]], [[1]], [[1]]]))[0, 0] == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"integer class maps \[K, H, W\]"):
        disagreement(np.zeros((4, 4)))


class FixedLabel(torch.nn.Module):
    """A degenerate model: every flow of the label half ends at one mask ``c``, whatever its noise
    (the straight path's velocity towards ``c``, ``(y_t - c) / t``); the image half stands still."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, y, t):
        return torch.zeros_like(x), (y - self.c) / t.reshape(-1, 1, 1, 1)


def test_uncertainty_is_zero_when_every_sample_agrees(pipe):
    ids = np.zeros((SIZE, SIZE), np.int64)
    ids[4:12, 4:12] = 1
    ids[:4] = 13
    c = pipe.codec.encode(torch.from_numpy(ids)[None], dequantize=False)
    degenerate = SymmFlowPipeline(pipe.model, pipe.config)
    degenerate.model = FixedLabel(c)
    drawn, nfe = sample_masks(degenerate, photos(2), 5, steps=3, seed=0)
    assert nfe == 3 and len(drawn) == 2 and drawn[0].shape == (5, 24, 24)
    for maps in drawn:
        assert not disagreement(maps).any()


def test_samples_are_batched_one_seed_each(pipe):
    images = photos(2)
    drawn, nfe = sample_masks(pipe, images, 3, steps=2, seed=10)
    assert nfe == 2  # K x B items in one batch: one evaluation per step
    for k in range(3):
        alone = pipe.segment(images, steps=2, seed=10 + k, output_type="np").class_maps
        for b in range(2):  # equal but for a rare tie between colours that batching can tip
            assert (drawn[b][k] == alone[b]).mean() > 0.99 and (drawn[b][(k + 1) % 3] == alone[b]).mean() < 0.95
    assert any(disagreement(m).any() for m in drawn)  # different seeds, different samples


def test_the_answer_stays_the_one_step_posterior_mean(pipe):
    images = photos(2)
    out = segment_with_uncertainty(pipe, images, 4, steps=2, seed=0)
    one_step = pipe.segment(images, steps=1, seed=0, output_type="np").class_maps
    assert all(np.array_equal(a, b) for a, b in zip(out.class_maps, one_step))
    assert out.nfe == 3 and len(out.uncertainty) == 2 and out.samples[0].shape == (4, 24, 24)
    for u in out.uncertainty:
        assert u.dtype == np.float32 and u.shape == (24, 24) and 0 <= u.min() and u.max() <= 0.75


def test_bad_arguments_are_named(pipe):
    with pytest.raises(ValueError, match="at least 2 steps"):
        sample_masks(pipe, photos(1), 4, steps=1)
    with pytest.raises(ValueError, match="from 1 to 64"):
        sample_masks(pipe, photos(1), 0)
    with pytest.raises(ValueError, match="unknown solver"):
        sample_masks(pipe, photos(1), 2, solver="rk4")


def test_paste_and_heat_map():
    k = 4
    crop = np.zeros((1, 8, 8), np.float32)
    crop[0, 2:6, 2:6] = 0.5
    crop[0, 0, 0] = 0.75
    shape = (8, 8)
    m = whole_matrix(shape, 8)  # the whole 8x8 photo as the crop: the identity
    assert np.allclose(m, np.array([[1, 0, 0], [0, 1, 0]])) and np.allclose(invert_affine(m), m)
    assert np.array_equal(paste_uncertainty(crop, m[None], shape, k), crop[0])
    heat = heat_map(crop[0], k)
    assert heat.dtype == np.uint8 and heat.shape == (8, 8, 3)
    assert (heat[7, 7] == 0).all() and (heat[0, 0] == [255, 255, 220]).all()


def test_cli_writes_the_uncertainty_map_beside_the_mask(pipe, tmp_path, capsys):
    from PIL import Image

    from symmflow.cli import main as cli_main

    pipe.save_pretrained(tmp_path / "faces")
    picture = tmp_path / "photo.png"
    Image.fromarray(photos(1, size=40)[0][:, :30]).save(picture)
    args = ["segment", str(picture), "--checkpoint", str(tmp_path / "faces"), "--align", "whole", "--steps", "1",
            "--out", str(tmp_path / "out"), "--quiet"]
    assert cli_main(args + ["--uncertainty", "3"]) == 0
    heat = np.asarray(Image.open(tmp_path / "out" / "photo_uncertainty.png"))
    mask = np.asarray(Image.open(tmp_path / "out" / "photo_mask.png"))
    assert heat.shape == mask.shape == (40, 30, 3) and heat.any()
    # one sample cannot disagree (the segment tab's slider skips 1 too), and more than MAX_SAMPLES are not
    # drawn: both refused by the parser, the range named, before anything is written
    for k in ("1", "65"):
        with pytest.raises(SystemExit) as exit_:
            cli_main([*args[:-3], "--out", str(tmp_path / "refused"), "--quiet", "--uncertainty", k])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and f"--uncertainty: expected a whole number from 2 to 64 (one sample cannot disagree with itself), got '{k}'" in err
        assert not (tmp_path / "refused").exists()


def test_latent_models_draw_their_samples_in_one_batch_too():
    from symmflow.models.latent import LatentUNet
    from symmflow.models.vae import LatentSpace
    from symmflow.pipeline_config import PipelineConfig
    from test_latent import tiny_sd_unet, tiny_vae

    model = LatentUNet.from_sd_unet(tiny_sd_unet(), torch.randn(1, 77, 32))
    latent = SymmFlowPipeline(model, PipelineConfig(task="segmentation", image_size=16, palette="celebamask_hq"), vae=LatentSpace(tiny_vae()))
    out = segment_with_uncertainty(latent, photos(2, size=20), 3, steps=2, seed=0)
    assert out.nfe == 3 and out.samples[1].shape == (3, 20, 20) and out.uncertainty[0].shape == (20, 20)
