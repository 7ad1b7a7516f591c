"""Handlers of the face and digit tabs, called directly with the shipped models."""

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from demo import digits_tab, paint_tab, segment_tab
from demo.models import faces_pipeline
from symmflow.data.digits import digits_split
from symmflow.palettes import CELEBAMASK_HQ
from symmflow.painted_masks import read_painted_mask

EXAMPLE_MASK = ROOT / "assets" / "faces" / "mask_0.png"
EXAMPLE_PHOTO = ROOT / "assets" / "faces" / "image_0.png"


def editor(rgb: np.ndarray) -> dict:
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return {"background": rgba, "layers": [], "composite": rgba}


def test_paint_streams_then_returns_gallery_and_gif():
    mask = np.asarray(Image.open(EXAMPLE_MASK).convert("RGB"))
    outs = list(paint_tab.generate_portraits(editor(mask), 4, 0, "euler", 2))
    # the first frame (t = 0) at once, later ones paced to one per 0.3 s, then the final one
    assert 2 <= len(outs) <= 5 and outs[0][0].shape == outs[-1][0].shape
    live, gallery, trajectory = outs[-1]
    assert live.dtype == np.uint8 and live.shape[0] >= 256
    assert len(trajectory) == 5  # every state, t = 0 .. 1, for the GIF
    gif = paint_tab.trajectory_gif(trajectory)
    assert len(gallery) == 2 and Image.open(gif).n_frames == 5 and min(Image.open(gif).size) >= 256
    assert paint_tab.trajectory_gif(None) is None
    a, b = (np.asarray(img, dtype=float) for img, _ in gallery)
    assert np.abs(a - b).mean() > 1.0  # two seeds' worth of noise: two different portraits


def test_antialiased_painting_is_accepted():
    ids = np.asarray(Image.open(EXAMPLE_MASK).convert("RGB"))
    soft = np.asarray(Image.fromarray(ids).resize((128, 128), Image.Resampling.BILINEAR).resize((256, 256), Image.Resampling.BILINEAR))
    recovered = read_painted_mask(soft, faces_pipeline().palette)
    exact = read_painted_mask(ids, faces_pipeline().palette, tolerance=None)
    assert (recovered == exact).mean() > 0.95
    *_, (live, gallery, _) = paint_tab.generate_portraits(editor(soft), 2, 0, "euler", 1)
    assert len(gallery) == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "empty"),
        ({"background": None, "layers": [], "composite": None}, "empty"),
        (editor(np.zeros((64, 64, 3), np.uint8)), "only background"),
    ],
)
def test_paint_bad_canvases(value, message):
    with pytest.raises(gr.Error, match=message):
        next(paint_tab.generate_portraits(value, 5, 0, "euler", 1))


def test_paint_bad_settings():
    mask = editor(np.asarray(Image.open(EXAMPLE_MASK).convert("RGB")))
    for steps, samples in ((0, 1), (51, 1), (5, 9)):
        with pytest.raises(gr.Error, match="between 1 and"):
            next(paint_tab.generate_portraits(mask, steps, 0, "euler", samples))


def test_paint_refuses_masks_in_other_colours():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    with pytest.raises(gr.Error, match=r"not painted in the model's class colours: .*% of the pixels"):
        next(paint_tab.generate_portraits(editor(noise), 5, 0, "euler", 1))


def test_segment_reads_uploaded_files_of_any_mode_and_shrinks_large_ones(tmp_path):
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(tmp_path / "red.jpg")  # red in CMYK
    Image.new("RGB", (40, 30), (0, 200, 0)).convert("P").save(tmp_path / "green.png")
    np.testing.assert_allclose(segment_tab._photo(str(tmp_path / "red.jpg")).reshape(-1, 3).mean(0), (255, 0, 0), atol=8)
    np.testing.assert_allclose(segment_tab._photo(str(tmp_path / "green.png")).reshape(-1, 3).mean(0), (0, 200, 0), atol=8)
    Image.new("RGB", (3000, 1000), (9, 9, 9)).save(tmp_path / "wide.png")
    assert segment_tab._photo(str(tmp_path / "wide.png")).shape == (341, 1024, 3)
    # a strip is judged at the size uploaded (20 px wide: enough), then shrunk like any photo
    assert segment_tab._photo(np.zeros((2000, 20, 3), np.uint8)).shape == (1024, 10, 3)


def test_photo_box_hands_over_the_uploaded_file_unconverted(tmp_path):
    from gradio.data_classes import ImageData

    from demo.app import build_demo

    box = next(b for b in build_demo().blocks.values() if getattr(b, "elem_id", None) == "segment-photo")
    Image.fromarray(np.full((20, 17), 246 * 257, np.uint16)).save(tmp_path / "deep.png")  # 16-bit grey
    rgba = np.zeros((20, 17, 4), np.uint8)
    rgba[..., 0] = 255  # red hidden under full transparency: a viewer shows white
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    for name, expected in (("deep.png", 246), ("clear.png", 255)):
        path = box.preprocess(ImageData(path=str(tmp_path / name), orig_name=name))
        assert (segment_tab._photo(path) == expected).all(), name


def test_app_refuses_a_model_for_the_wrong_task_and_odd_seeds():
    from demo import app
    from demo.models import digits_pipeline
    from demo.ui import check_seed

    model, reason = app._load(digits_pipeline, "segmentation")
    assert model is None and reason == "the checkpoint holds a classification model; this tab needs a segmentation model"
    assert app._load(faces_pipeline, "segmentation")[0] is faces_pipeline()
    for bad in (float("inf"), float("nan"), -1, "x", 1.5):
        with pytest.raises(gr.Error, match="seed"):
            check_seed(bad)
    assert check_seed(3.0) == 3 and check_seed(None) == 0  # a Number field's whole float, an empty field


def test_segment_photo_of_any_kind():
    photo = Image.open(EXAMPLE_PHOTO)
    for image in (np.asarray(photo.convert("RGB")), np.asarray(photo.convert("L")), np.asarray(photo.convert("RGBA"))):
        *frames, (live, final, overlay, found, state) = segment_tab.segment_photo(image, 3, 0)
        assert 1 <= len(frames) <= 3  # paced: the first state at once, then one per 0.3 s at most
        assert final.shape == (256, 256, 3) and overlay.shape == (256, 256, 3)
        assert set(found) <= set(CELEBAMASK_HQ.class_names) and "skin" in found
        assert state["class_map"].shape == (256, 256)


def test_segment_tab_aligns_the_faces_it_finds_and_says_when_there_is_none(monkeypatch):
    """A portrait pasted small into a large canvas is found, boxed on the overlay and segmented
    through its aligned crop; a photo without a face is segmented whole, with a warning, unless
    the user asked for faces only."""
    warned = []
    monkeypatch.setattr(segment_tab.gr, "Warning", lambda message: warned.append(message))
    face = np.asarray(Image.open(EXAMPLE_PHOTO).convert("RGB").resize((160, 160)))
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[200:360, 300:460] = face
    *_, (live, final, overlay, found, state) = segment_tab.segment_photo(canvas, 1, 0)
    assert final.shape == overlay.shape == (480, 640, 3)
    assert not warned
    # the labels land on the face, not in the empty canvas around it
    labelled = np.argwhere(np.asarray(final).any(axis=2))
    assert labelled[:, 0].min() >= 150 and labelled[:, 1].min() >= 250, labelled.min(axis=0)
    assert (overlay[..., 1] == 255).any()  # the green box
    assert state["crop"].shape == (256, 256, 3)
    flat = np.full((200, 200, 3), 128, np.uint8)
    *_, (_, final, _, _, _) = segment_tab.segment_photo(flat, 1, 0)
    assert warned and "No face found" in warned[0]
    with pytest.raises(gr.Error, match="No face to align") as refused:
        next(segment_tab.segment_photo(flat, 1, 0, "faces only (refuse photos without one)"))
    # the choices named as the radio buttons show them, not as the library's modes
    message = refused.value.message
    assert message.endswith('; pick "find faces and align each (whole image if none)" or "whole image, no alignment" '
                            'under "faces".'), message
    assert "'auto'" not in message and "'whole'" not in message and "mode" not in message
    assert set(segment_tab.ALIGN) >= {"find faces and align each (whole image if none)", "whole image, no alignment"}
    with pytest.raises(gr.Error, match="Alignment must be one of"):
        next(segment_tab.segment_photo(flat, 1, 0, "sideways"))


def test_the_uncertainty_slider_offers_only_what_the_tab_takes():
    """0 is off; one sample cannot disagree with itself, so the slider never offers 1 (symmflow segment
    --uncertainty refuses it too) and the tab refuses it through the API, naming what it takes."""
    with gr.Blocks() as blocks, gr.Tabs() as tabs, gr.Tab("segment"):
        segment_tab.build(blocks, gr.ImageEditor(), gr.State(), tabs)
    (slider,) = [b for b in blocks.blocks.values() if isinstance(b, gr.Slider) and b.label.startswith("uncertainty samples")]
    offered = np.arange(slider.minimum, slider.maximum + slider.step / 2, slider.step)
    assert offered[0] == 0 and offered[-1] == segment_tab.MAX_UNCERTAINTY_SAMPLES and 1 not in offered
    assert [segment_tab._uncertainty_samples(float(k)) for k in offered] == [int(k) for k in offered]
    assert segment_tab._uncertainty_samples(None) == 0 and segment_tab._uncertainty_samples(3) == 3  # odd K via the API
    for bad in (1, 1.0, 17, 2.5, -2, "x", float("inf"), float("nan")):
        with pytest.raises(gr.Error, match=r"must be 0 \(off\) or a whole number between 2 and 16 \(one sample cannot "
                                           r"disagree with itself\); got "):
            segment_tab._uncertainty_samples(bad)


def test_segment_bad_uploads(tmp_path, caplog):
    """Every refusal of the segment tab is an InputError: the message to the user, one log line."""
    import logging

    from demo.ui import InputError

    text = tmp_path / "notes.png"
    text.write_text("I am not a picture")
    flat = np.full((64, 64, 3), 128, np.uint8)
    refusals = {
        "cannot be used as a photo": lambda: next(segment_tab.segment_photo(str(text), 5, 0)),
        "megapixels": lambda: next(segment_tab.segment_photo(Image.new("RGB", (10_000, 10_000)), 5, 0)),
        "Upload a photo": lambda: next(segment_tab.segment_photo(None, 5, 0)),
        "between 1 and 20": lambda: next(segment_tab.segment_photo(np.zeros((8, 8, 3), np.uint8), 21, 0)),
        "only 8x8 pixels: too small": lambda: next(segment_tab.segment_photo(np.zeros((8, 8, 3), np.uint8), 1, 0)),
        # a strip is refused at the size it was uploaded, not the size it was shrunk to
        "only 3000x12 pixels: too small": lambda: next(segment_tab.segment_photo(np.zeros((12, 3000, 3), np.uint8), 1, 0)),
        "uncertainty samples must be 0 \\(off\\) or a whole number between 2 and 16 .*got 1": lambda: next(segment_tab.segment_photo(flat, 1, 0, next(iter(segment_tab.ALIGN)), 1)),
        "Alignment must be one of: .*; got 'sideways'": lambda: next(segment_tab.segment_photo(flat, 1, 0, "sideways")),
        "No face to align": lambda: next(segment_tab.segment_photo(flat, 1, 0, "faces only (refuse photos without one)")),
        "Segment a photo first": lambda: segment_tab.send_to_paint(None),
    }
    with caplog.at_level(logging.WARNING, logger="symmflow.app"):
        for message, refuse in refusals.items():
            with pytest.raises(InputError, match=message):
                refuse()
    logged = [r.getMessage() for r in caplog.records if r.name == "symmflow.app"]
    assert len(logged) == len(refusals) and all(line.startswith("input refused: ") for line in logged)
    assert "Upload a photo (or pick an example) first." in logged[2]


def test_round_trip_segment_edit_regenerate_keeps_the_photo():
    photo = np.asarray(Image.open(EXAMPLE_PHOTO).convert("RGB"))
    *_, (_, _, _, _, state) = segment_tab.segment_photo(photo, 20, 0)
    value, recovered, _ = segment_tab.send_to_paint(state)
    # the round trip works on the aligned face: its mask goes to the canvas
    assert np.array_equal(value["composite"], CELEBAMASK_HQ.colorize(state["class_map"]))
    *_, (_, gallery, _) = paint_tab.generate_portraits(value, 20, 0, "euler", 1, recovered)
    fresh = list(paint_tab.generate_portraits(value, 20, 0, "euler", 1, None))[-1][1][0][0]
    size = faces_pipeline().image_size  # compare at the model's resolution: it has no finer detail

    def at_model_size(image):
        return np.asarray(Image.fromarray(np.asarray(image)).resize((size, size), Image.Resampling.BOX), dtype=float)

    target = at_model_size(state["crop"])
    # the recovered noise brings the photo back; fresh noise draws another portrait
    assert np.abs(at_model_size(gallery[0][0]) - target).mean() < 0.9 * np.abs(at_model_size(fresh) - target).mean()
    with pytest.raises(gr.Error, match="Segment a photo first"):
        segment_tab.send_to_paint(None)


def test_a_big_drawing_is_read_like_the_training_digits():
    """Drawn large, thick and dark on a white 400x400 canvas, off-centre: after preprocessing
    the model must see (nearly) the digit it was drawn from, and answer the same."""
    from symmflow.processing import preprocess_drawing

    images, labels = digits_split("test")
    agree, differences = 0, []
    for k in range(10):
        digit = images[np.flatnonzero(labels == k)[1]]
        canvas = np.full((400, 400, 3), 255, np.uint8)
        big = np.asarray(Image.fromarray((digit / 16 * 255).astype(np.uint8)).resize((200, 200), Image.Resampling.BILINEAR))
        canvas[40:240, 150:350] = 255 - np.repeat(big[..., None], 3, axis=2)
        differences.append(np.abs(preprocess_drawing(canvas) - digit).mean())  # grey levels 0..16
        drawn, view, table = digits_tab.classify_drawing({"composite": canvas}, 1)
        original = digits_tab.digits_pipeline().classify(torch.from_numpy(digit / 8 - 1).float()[None, None], steps=1, seed=0)
        agree += max(drawn, key=drawn.get) == original.class_names[original.labels[0]]
        assert view.shape[:2] == (160, 160) and "| answer |" in table
    assert np.mean(differences) < 3.0  # a stroke may land one of 8 pixels over, rarely more
    assert agree >= 8


def test_digits_tab_errors_and_generation():
    with pytest.raises(gr.Error, match="empty"):
        digits_tab.classify_drawing({"composite": np.full((100, 100, 4), 255, np.uint8)}, 1)
    with pytest.raises(gr.Error, match="empty"):
        digits_tab.classify_drawing(None, 1)
    frames = list(digits_tab.generate_digit("7", 5, 0))
    assert len(frames) == 6 and frames[-1].shape[:2] == (160, 160)
    with pytest.raises(gr.Error, match="0 to 9"):
        next(digits_tab.generate_digit("x", 5, 0))


def test_available_cores_honours_a_cgroup_quota(monkeypatch, tmp_path):
    from demo import models

    real = models.Path
    quota = tmp_path / "cpu.max"

    def fake_path(p, *rest):
        return quota if str(p) == "/sys/fs/cgroup/cpu.max" else real(p, *rest)

    monkeypatch.setattr(models, "Path", fake_path)
    monkeypatch.setattr(models.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    quota.write_text("200000 100000\n")  # 2 CPUs of a 16-core host
    assert models.available_cores() == 2
    quota.write_text("max 100000\n")
    assert models.available_cores() == 16
    quota.unlink()  # no cgroup v2 file: the affinity decides
    assert models.available_cores() == 16
