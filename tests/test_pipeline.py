"""SymmFlowPipeline with tiny untrained networks: plumbing, inputs, outputs, persistence."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from symmflow.models import CheckpointError
from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig
from symmflow.palettes import CELEBAMASK_HQ

SIZE = 16


def tiny_unet(image_channels=3, label_channels=3):
    torch.manual_seed(0)
    return PixelUNet(image_channels=image_channels, label_channels=label_channels, sample_size=SIZE, **PIXEL_UNET_PRESETS["tiny"])


@pytest.fixture(scope="module")
def seg_pipe():
    return SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=SIZE, palette="celebamask_hq", beta=10))


@pytest.fixture(scope="module")
def cls_pipe():
    return SymmFlowPipeline(tiny_unet(1, 1), PipelineConfig(task="classification", image_size=SIZE, image_channels=1, num_classes=10, beta=4))


def face_ids(size=40):
    ids = np.zeros((size, size), dtype=np.int64)
    ids[size // 5 :, size // 4 : 3 * size // 4] = 1
    ids[: size // 4] = 13
    return ids


# -- generation ----------------------------------------------------------------------------


def test_generate_output_types_and_shapes(seg_pipe):
    ids = face_ids()
    pil = seg_pipe.generate(ids, steps=2, seed=0).images
    assert len(pil) == 1 and pil[0].size == (SIZE, SIZE) and pil[0].mode == "RGB"
    arr = seg_pipe.generate([ids, ids], steps=2, seed=0, output_type="np").images
    assert arr.shape == (2, SIZE, SIZE, 3) and arr.dtype == np.uint8
    pt = seg_pipe.generate(ids, steps=2, seed=0, output_type="pt", num_images_per_label=3).images
    assert pt.shape == (3, 3, SIZE, SIZE) and pt.min() >= -1 and pt.max() <= 1


def test_generate_is_deterministic_per_seed(seg_pipe):
    ids = face_ids()
    a = seg_pipe.generate(ids, steps=3, seed=7, output_type="pt").images
    b = seg_pipe.generate(ids, steps=3, seed=7, output_type="pt").images
    c = seg_pipe.generate(ids, steps=3, seed=8, output_type="pt").images
    assert torch.equal(a, b) and not torch.equal(a, c)
    several = seg_pipe.generate(ids, steps=3, seed=7, output_type="pt", num_images_per_label=2).images
    assert not torch.equal(several[0], several[1])  # fresh noise per sample


def test_mask_inputs_of_every_kind_agree(seg_pipe):
    ids = face_ids(64)
    colour = CELEBAMASK_HQ.colorize(ids)
    p_mode = Image.fromarray(ids.astype(np.uint8), mode="L").convert("P")
    p_mode.putpalette(CELEBAMASK_HQ.colors.flatten().tolist())
    # a palette image whose background index is marked transparent (shown white): background, not skin
    see_through = Image.fromarray(ids.astype(np.uint8), mode="L").convert("P")
    see_through.putpalette([255, 255, 255] + CELEBAMASK_HQ.colors[1:].flatten().tolist())
    see_through.info["transparency"] = 0
    inputs = [ids, torch.from_numpy(ids), Image.fromarray(colour), colour, Image.fromarray(ids.astype(np.uint8), "L"), p_mode, see_through]
    outs = [seg_pipe.generate(m, steps=1, seed=3, output_type="pt").images for m in inputs]
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0])


def test_stream_yields_each_step_then_the_output(seg_pipe):
    frames = list(seg_pipe.generate_stream(face_ids(), steps=4, seed=0, solver="heun"))
    assert [f.step for f in frames] == [0, 1, 2, 3, 4]
    assert [f.is_final for f in frames] == [False] * 4 + [True]
    assert frames[-1].nfe == 8 and frames[-1].output.nfe == 8
    assert all(f.images[0].shape == (SIZE, SIZE, 3) and f.images[0].dtype == np.uint8 for f in frames)
    seen = []
    seg_pipe.generate(face_ids(), steps=2, seed=0, callback=lambda f: seen.append(f.step))
    assert seen == [0, 1, 2]


def test_image_noise_from_segmentation_can_regenerate(seg_pipe):
    seg = seg_pipe.segment(np.zeros((SIZE, SIZE, 3), np.uint8), steps=2, seed=0)
    assert seg.image_noise.shape == (1, 3, SIZE, SIZE)
    out = seg_pipe.generate(face_ids(), steps=2, noise=seg.image_noise, output_type="pt")
    assert out.images.shape == (1, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match="noise must have shape"):
        seg_pipe.generate(face_ids(), steps=2, noise=torch.zeros(1, 3, 8, 8))


# -- segmentation --------------------------------------------------------------------------


def test_segment_returns_results_at_the_input_size(seg_pipe, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (37, 23, 3), dtype=np.uint8)
    path16 = tmp_path / "deep.png"
    Image.fromarray((np.arange(30 * 20).reshape(30, 20) * 50).astype(np.uint16)).save(path16)
    cmyk = Image.fromarray(rgb).convert("CMYK")
    inputs = {
        "pil rgb": (Image.fromarray(rgb), (37, 23)),
        "grayscale": (Image.fromarray(rgb).convert("L"), (37, 23)),
        "rgba": (Image.fromarray(rgb).convert("RGBA"), (37, 23)),
        "cmyk": (cmyk, (37, 23)),
        "16-bit png": (str(path16), (30, 20)),
        "float array": (rgb / 255.0, (37, 23)),
        "tensor": (torch.rand(3, 12, 9) * 2 - 1, (12, 9)),
        "1x1": (np.zeros((1, 1, 3), np.uint8), (1, 1)),
    }
    for name, (image, hw) in inputs.items():
        out = seg_pipe.segment(image, steps=1, seed=0)
        assert out.class_maps[0].shape == hw, name
        assert out.class_maps[0].dtype == np.int64 and out.class_maps[0].max() < 19, name
        assert out.color_masks[0].size == (hw[1], hw[0]), name
        assert set(map(tuple, np.asarray(out.color_masks[0]).reshape(-1, 3))) <= set(map(tuple, CELEBAMASK_HQ.colors))


def test_face_crops_are_the_models_size_or_min_crop(seg_pipe):
    """One crop side for the library, the CLI and the app: ``crop_size``, ``max(image_size, MIN_CROP)``."""
    from symmflow.alignment import MIN_CROP

    res = seg_pipe.segment_photo(np.full((40, 50, 3), 128, np.uint8), align="whole", steps=1, seed=0)
    assert seg_pipe.crop_size == MIN_CROP == 256 and res.crops.shape == (1, 256, 256, 3)
    big = SymmFlowPipeline(tiny_unet(), PipelineConfig(task="segmentation", image_size=512, palette="celebamask_hq", beta=10))
    assert big.crop_size == 512


def test_segment_batch_and_stream(seg_pipe):
    batch = torch.rand(3, 3, SIZE, SIZE) * 2 - 1
    frames = list(seg_pipe.segment_stream(batch, steps=3, seed=1))
    assert len(frames) == 4 and len(frames[0].images) == 3
    out = frames[-1].output
    assert len(out.class_maps) == 3 and out.nfe == 3
    again = seg_pipe.segment(batch, steps=3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(out.class_maps, again.class_maps))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (torch.full((3, 4, 4), 5.0), r"\[-1, 1\]"),
        (torch.full((3, 4, 4), float("nan")), "NaN"),
        ([], "no images"),
    ],
)
def test_segment_bad_images(seg_pipe, image, message):
    with pytest.raises(ValueError, match=message):
        seg_pipe.segment(image, steps=1)


def test_segment_rejects_a_non_image_file_and_a_huge_image(seg_pipe, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        seg_pipe.segment(str(text), steps=1)
    huge = Image.new("L", (10_000, 10_000))
    with pytest.raises(ValueError, match="10000"):
        seg_pipe.segment(huge, steps=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(solver="rk4"), "unknown solver"),
        (dict(output_type="jpg"), "output_type"),
        (dict(seed=-3), "seed"),
    ],
)
def test_bad_call_arguments(seg_pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        seg_pipe.generate(face_ids(), **kwargs)


def test_bad_masks(seg_pipe):
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 18\]"):
        seg_pipe.generate(np.full((8, 8), 40), steps=1)
    with pytest.raises(ValueError, match="empty"):
        seg_pipe.generate(np.zeros((0, 8), np.int64), steps=1)


# -- classification --------------------------------------------------------------------------


def test_classify_and_class_generation(cls_pipe):
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    out = cls_pipe.classify(images, steps=1, seed=0)
    assert out.labels.shape == (5,) and out.scores.shape == (5, 10)
    np.testing.assert_allclose(out.scores.sum(1), 1, rtol=1e-5)
    assert (out.labels == out.scores.argmax(1)).all() and out.nfe == 1
    rgb = np.zeros((50, 40, 3), np.uint8)  # colour input to a grayscale model is converted
    assert cls_pipe.classify(rgb, steps=2).labels.shape == (1,)
    gen = cls_pipe.generate([7, "3"], steps=2, seed=0, output_type="np").images
    assert gen.shape == (2, SIZE, SIZE, 3)


def test_each_task_has_its_own_class_and_bad_classes_are_named(cls_pipe, seg_pipe, tmp_path):
    from symmflow.models.base import CheckpointError
    from symmflow.pipeline import ClassificationPipeline, SegmentationPipeline

    assert isinstance(seg_pipe, SegmentationPipeline) and not hasattr(seg_pipe, "classify")
    assert isinstance(cls_pipe, ClassificationPipeline) and not hasattr(cls_pipe, "segment")
    seg_pipe.save_pretrained(tmp_path / "seg")
    assert isinstance(SegmentationPipeline.from_pretrained(tmp_path / "seg"), SegmentationPipeline)
    with pytest.raises(CheckpointError, match="holds a segmentation model, not a classification model"):
        ClassificationPipeline.from_pretrained(tmp_path / "seg")
    with pytest.raises(ValueError, match="unknown class"):
        cls_pipe.generate("eleven")
    with pytest.raises(ValueError, match=r"ids in \[0, 9\]"):
        cls_pipe.generate(12)


# -- persistence -------------------------------------------------------------------------------


def test_save_and_load_round_trip_is_bit_exact(seg_pipe, tmp_path):
    seg_pipe.save_pretrained(tmp_path / "pipe", training_info={"steps": 1})
    assert sorted(p.name for p in (tmp_path / "pipe").iterdir()) == ["model", "pipeline.json"]
    loaded = SymmFlowPipeline.from_pretrained(tmp_path / "pipe")
    for (k, a), b in zip(seg_pipe.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a, b), k
    a = seg_pipe.generate(face_ids(), steps=2, seed=4, output_type="pt").images
    b = loaded.generate(face_ids(), steps=2, seed=4, output_type="pt").images
    # identical weights; a fresh instance may pick different conv/attention kernels (~1e-7)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert loaded.config.to_dict() == seg_pipe.config.to_dict()


def test_half_precision_weights_halve_the_file_and_load_as_float32(seg_pipe, tmp_path):
    seg_pipe.save_pretrained(tmp_path / "full")
    seg_pipe.save_pretrained(tmp_path / "half", weights_dtype=torch.float16)
    assert next(seg_pipe.model.parameters()).dtype == torch.float32  # the pipeline itself is untouched
    size = lambda d: (d / "model" / "diffusion_pytorch_model.safetensors").stat().st_size  # noqa: E731
    assert size(tmp_path / "half") < 0.55 * size(tmp_path / "full")
    loaded = SymmFlowPipeline.from_pretrained(tmp_path / "half")
    assert next(loaded.model.parameters()).dtype == torch.float32
    for a, b in zip(seg_pipe.model.state_dict().values(), loaded.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_generator_lists_make_each_image_independent_of_its_batch(seg_pipe):
    gens = lambda: [torch.Generator().manual_seed(s) for s in (7, 8)]  # noqa: E731
    pair = seg_pipe.generate([face_ids(), face_ids()], steps=2, generator=gens(), output_type="pt").images
    alone = seg_pipe.generate([face_ids()], steps=2, generator=gens()[1:], output_type="pt").images
    torch.testing.assert_close(pair[1:], alone, rtol=0, atol=1e-5)
    assert not torch.allclose(pair[0], pair[1])
    with pytest.raises(ValueError, match="one generator per label"):
        seg_pipe.generate([face_ids()], steps=2, generator=gens())
    with pytest.raises(ValueError, match="one generator per label"):
        seg_pipe.generate([], steps=2, generator=[])
    with pytest.raises(ValueError, match="num_images_per_label must be 1"):
        seg_pipe.generate([face_ids(), face_ids()], steps=2, generator=gens(), num_images_per_label=2)
    with pytest.raises(ValueError, match="a list of labels"):
        seg_pipe.generate(face_ids(), steps=2, generator=gens())


def test_wrong_and_missing_checkpoints(seg_pipe, cls_pipe, tmp_path):
    with pytest.raises(CheckpointError, match="no pipeline folder"):
        SymmFlowPipeline.from_pretrained(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="has no pipeline.json"):
        SymmFlowPipeline.from_pretrained(tmp_path / "empty")
    # a classification network declared as a segmentation pipeline: wrong channel count
    cls_pipe.save_pretrained(tmp_path / "cls")
    cfg = json.loads((tmp_path / "cls" / "pipeline.json").read_text())
    cfg.update(task="segmentation", palette="celebamask_hq", image_channels=3)
    del cfg["num_classes"], cfg["class_names"]
    (tmp_path / "cls" / "pipeline.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="label channels"):
        SymmFlowPipeline.from_pretrained(tmp_path / "cls")
    seg_pipe.save_pretrained(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "model" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="could not load PixelUNet weights"):
        SymmFlowPipeline.from_pretrained(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "pipeline.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        SymmFlowPipeline.from_pretrained(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "pipeline.json").write_text(json.dumps({**seg_pipe.config.to_dict(), "colour": 3}))
    with pytest.raises(CheckpointError, match="unknown key.*colour.*accepted: beta"):
        SymmFlowPipeline.from_pretrained(tmp_path / "corrupt")


def test_old_pipeline_json_loads_and_sigma_min_travels_with_the_config(seg_pipe, tmp_path):
    """A pipeline.json written before PipelineConfig (no sigma_min, format_version 1) loads with
    the authors' 1e-4; a new one records sigma_min, and a skip network must agree with it."""
    from symmflow.models.unet import PixelUNet

    seg_pipe.save_pretrained(tmp_path / "old")
    cfg = json.loads((tmp_path / "old" / "pipeline.json").read_text())
    assert cfg["sigma_min"] == 1e-4 and cfg["default_steps"] == {"generate": 25, "segment": 5, "classify": 1}
    old = {k: v for k, v in cfg.items() if k not in ("sigma_min", "default_steps")} | {"format_version": 1}
    (tmp_path / "old" / "pipeline.json").write_text(json.dumps(old))
    loaded = SymmFlowPipeline.from_pretrained(tmp_path / "old")
    assert loaded.config.sigma_min == 1e-4 and loaded.default_steps["segment"] == 5
    skip = PixelUNet(sample_size=SIZE, skip_sigma=0.1, sigma_min=0.01, **PIXEL_UNET_PRESETS["tiny"])
    with pytest.raises(CheckpointError, match="assumes sigma_min 0.01, the pipeline's is 0.0001"):
        SymmFlowPipeline(skip, PipelineConfig(task="segmentation", image_size=SIZE))
    pipe = SymmFlowPipeline(skip, PipelineConfig(task="segmentation", image_size=SIZE, sigma_min=0.01))
    pipe.save_pretrained(tmp_path / "new")
    assert SymmFlowPipeline.from_pretrained(tmp_path / "new").config.sigma_min == 0.01


def test_hub_repo_ids_load_from_the_cache_offline(seg_pipe, tmp_path, monkeypatch):
    """The real huggingface_hub path, served from a cache laid out as the hub client writes it."""
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--symmflow--tiny-faces"
    seg_pipe.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    pipe = SymmFlowPipeline.from_pretrained("symmflow/tiny-faces")
    assert pipe.task == "segmentation" and pipe.image_size == SIZE
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        SymmFlowPipeline.from_pretrained("symmflow/not-in-cache")


# -- one-hot masks -----------------------------------------------------------------------------


def test_onehot_pipeline_segments_generates_and_round_trips(tmp_path):
    pipe = SymmFlowPipeline(tiny_unet(3, 19), PipelineConfig(task="segmentation", image_size=SIZE, palette="celebamask_hq", label_encoding="onehot"))
    assert pipe.label_channels == 19
    image = pipe.generate(face_ids(), steps=2, seed=1, output_type="np").images[0]
    frames = list(pipe.segment_stream(image, steps=3, seed=0, output_type="np"))
    out = frames[-1].output
    assert out.class_maps[0].shape == image.shape[:2] and out.class_maps[0].max() < 19
    # every frame, mid-flow ones included, shows palette colours only
    colours = {tuple(c) for c in CELEBAMASK_HQ.colors}
    assert all({tuple(p) for p in f.images[0].reshape(-1, 3)} <= colours for f in frames)
    pipe.save_pretrained(tmp_path / "onehot")
    loaded = SymmFlowPipeline.from_pretrained(tmp_path / "onehot")
    assert loaded.label_encoding == "onehot" and loaded.config.to_dict() == pipe.config.to_dict()
    again = loaded.segment(image, steps=3, seed=0, output_type="np")
    assert np.array_equal(again.class_maps[0], out.class_maps[0])
    # at a photo's size, scores are upsampled a few channels at a time: the same as all at once
    scores = torch.randn(19, SIZE, SIZE)
    whole = torch.nn.functional.interpolate(scores[None], size=(37, 53), mode="bilinear", align_corners=False)[0].argmax(0)
    assert np.array_equal(pipe.decode_class_map(scores, 37, 53), whole.numpy())


def test_onehot_needs_a_pixel_segmentation_model_with_one_channel_per_class():
    with pytest.raises(CheckpointError, match="3 label channels"):
        SymmFlowPipeline(tiny_unet(3, 3), PipelineConfig(task="segmentation", image_size=SIZE, label_encoding="onehot"))
    with pytest.raises(ValueError, match="are for segmentation"):
        SymmFlowPipeline(tiny_unet(1, 1), PipelineConfig(task="classification", image_size=SIZE, image_channels=1, num_classes=10, label_encoding="onehot"))
    with pytest.raises(ValueError, match="palette, onehot"):
        SymmFlowPipeline(tiny_unet(3, 19), PipelineConfig(task="segmentation", image_size=SIZE, label_encoding="bits"))


def test_decode_weights_travel_with_the_config_and_apply_at_every_size(tmp_path):
    weights = [1.0] * 19
    weights[1] = 50.0  # skin needs a far larger share to win
    config = PipelineConfig(task="segmentation", image_size=SIZE, palette="celebamask_hq", label_encoding="onehot",
                            decode_weights=weights)
    pipe = SymmFlowPipeline(tiny_unet(3, 19), config)
    pipe.save_pretrained(tmp_path / "weighted")
    loaded = SymmFlowPipeline.from_pretrained(tmp_path / "weighted")
    assert loaded.config.decode_weights == weights and loaded.codec.decode_weights[1] == 50.0
    scores = -torch.ones(19, SIZE, SIZE)
    scores[1], scores[13] = 0.6, -0.2  # q: skin 0.8, hair 0.4; skin / 50 loses to hair / 1
    assert (loaded.decode_class_map(scores, 37, 53) == 13).all()
    assert (SymmFlowPipeline(tiny_unet(3, 19), PipelineConfig(**{**config.__dict__, "decode_weights": None}))
            .decode_class_map(scores, 37, 53) == 1).all()
    with pytest.raises(ValueError, match="decode_weights are for one-hot"):
        PipelineConfig(task="segmentation", image_size=SIZE, decode_weights=weights)
    # a pipeline.json with the wrong number of weights is refused on loading, naming the file
    path = tmp_path / "weighted" / "pipeline.json"
    path.write_text(path.read_text().replace('"decode_weights": [', '"decode_weights": [1.0, '))
    with pytest.raises(CheckpointError, match=r"pipeline\.json.*19 finite numbers > 0.*got 20 values"):
        SymmFlowPipeline.from_pretrained(tmp_path / "weighted")


def test_reverse_states_draws_one_noise_per_seed_sample_major(seg_pipe):
    """noise_seeds [a, b]: item k * B + i is image i under seed noise_seeds[k], the noise
    segment(seed=...) draws it (a pixel model); bad seed lists are refused, naming the range."""
    images = [np.full((SIZE, SIZE, 3), v, np.uint8) for v in (30, 200)]
    states, sizes = seg_pipe.reverse_states(images, 2, "euler", torch.Generator().manual_seed(0), noise_seeds=[3, 5])
    *_, last = states
    assert last.y.shape[0] == 4 and sizes == [(SIZE, SIZE)] * 2
    for k, seed in enumerate((3, 5)):
        states, _ = seg_pipe.reverse_states(images, 2, "euler", torch.Generator().manual_seed(seed))
        *_, alone = states
        assert torch.allclose(last.y[2 * k : 2 * k + 2], alone.y, atol=1e-5)  # batch sizes differ: float sums may too
    for bad in ([], [-1], [1.5], [2**64], [True]):
        with pytest.raises(ValueError, match=r"noise_seeds must be one or more whole numbers from 0 to 2\*\*64 - 1"):
            seg_pipe.reverse_states(images, 1, "euler", torch.Generator(), noise_seeds=bad)
