"""Bad inputs, as a user would send them: every one gets a clear refusal (issue 19's defects).

The input layer (symmflow.processing) is what the library, the CLI and the app share; the
last tests go through the running app over HTTP, as a browser or gradio_client would.
"""

import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from symmflow.cli import main
from symmflow.palettes import CELEBAMASK_HQ
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig
from symmflow.processing import EmptyMaskError, ImageProcessor, NamedFile

from conftest import ROOT

HUGE = 10_000


def _blank_png(path, side=HUGE):
    """A valid all-black ``side x side`` greyscale PNG of a few kilobytes (a decompression bomb)."""
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = zlib.compress(b"\x00" * (side + 1) * side, 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return _blank_png(tmp_path_factory.mktemp("bomb") / "upload_1234.png")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.png").write_bytes(b"")
    (root / "notes.png").write_text("I am not a picture")
    (root / "drawing.png").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    Image.new("RGB", (64, 64), (200, 0, 0)).save(root / "whole.png")
    (root / "cut.png").write_bytes((root / "whole.png").read_bytes()[:60])
    return root


@pytest.fixture(scope="module")
def seg_config():
    return PipelineConfig(task="segmentation", image_size=16, palette="celebamask_hq", label_encoding="onehot")


def test_every_image_input_checks_the_pixel_limit_before_decoding(bomb, seg_config):
    digits = PipelineConfig(task="classification", image_size=8, image_channels=1, num_classes=10)
    named = NamedFile(str(bomb), "my_mask.png")
    for read in (ImageProcessor(seg_config).preprocess, ImageProcessor(seg_config).class_maps,
                 ImageProcessor(digits).preprocess_drawings):
        start = time.perf_counter()
        with pytest.raises(ValueError, match=r"'my_mask.png'.*10000x10000 = 100.0 megapixels, more than the limit") as err:
            read(named)
        assert time.perf_counter() - start < 2.0  # the header only: decoding would take a minute
        assert str(bomb.parent) not in str(err.value)  # the user's name, never the server's path


def test_segment_photo_reads_an_array_as_it_reads_the_same_image_given_as_a_file():
    """Transparent pixels go on white, a float photo in 0..1 is the uint8 one, and an array is
    held to the pixel limit like a file."""
    from conftest import tiny_face_pipeline

    pipe = tiny_face_pipeline(16)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, np.where(np.arange(20) < 10, 0, 255).astype(np.uint8)[None].repeat(24, 0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no face in noise: segmented whole, with a warning
        as_array = pipe.segment_photo(rgba, align="whole", seed=0).labels
        assert (as_array == pipe.segment_photo(Image.fromarray(rgba), align="whole", seed=0).labels).all()
        assert (pipe.segment_photo(rgb / 255.0, align="whole", seed=0).labels
                == pipe.segment_photo(rgb, align="whole", seed=0).labels).all()
    with pytest.raises(ValueError, match="crop size must be an integer >= 8 pixels, got 0"):
        pipe.segment_photo(rgb, crop_size=0)  # refused, not taken for the default
    pipe.processor.max_pixels = 100
    with pytest.raises(ValueError, match="more than the limit"):
        pipe.segment_photo(rgb, align="whole")


@pytest.mark.parametrize("bad", [3.5, {"image": 1}, (x for x in [np.zeros((8, 8, 3), np.uint8)])])
def test_an_input_of_no_image_type_is_refused_with_the_types_accepted(bad):
    from conftest import tiny_face_pipeline

    with pytest.raises(ValueError, match=r"images\[0\]: .*cannot read an image from a .*accepted: a file path"):
        tiny_face_pipeline(16).segment(bad)


@pytest.mark.parametrize("name, why", [
    ("empty.png", "not an image file"), ("notes.png", "not an image file"), ("drawing.png", "not an image file"),
    ("cut.png", "truncated or corrupt"),
])
def test_unreadable_files_are_named_by_the_users_name(bad_files, seg_config, name, why):
    with pytest.raises(ValueError, match=f"holiday.png.*{why}") as err:
        ImageProcessor(seg_config).preprocess(NamedFile(str(bad_files / name), "holiday.png"))
    assert str(bad_files) not in str(err.value)


def test_library_refuses_off_palette_and_all_background_masks(seg_config):
    from conftest import tiny_patched_unet  # noqa: F401  (a 19-label network below)
    from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet

    pipe = SymmFlowPipeline(PixelUNet(label_channels=19, sample_size=16, **PIXEL_UNET_PRESETS["tiny"]), seg_config)
    foreign = np.zeros((32, 32, 3), np.uint8)
    foreign[8:24, 8:24] = (120, 40, 200)  # in no palette colour
    with pytest.raises(ValueError, match=r"masks\[0\]: .*not 'celebamask_hq' palette colours"):
        pipe.generate(foreign, steps=1, seed=0)
    with pytest.raises(EmptyMaskError, match=r"masks\[0\]: the mask holds only 'background'"):
        pipe.generate(np.zeros((32, 32, 3), np.uint8), steps=1, seed=0)
    with pytest.raises(ValueError, match="only 'background'"):
        pipe.generate(np.zeros((32, 32), np.int64), steps=1, seed=0)
    for seed in (float("nan"), float("inf"), 1.5, -3):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            pipe.segment(np.zeros((16, 16, 3), np.uint8), steps=1, seed=seed)
    with pytest.warns(UserWarning, match=r"images\[0\] is only 1x1 pixels"):
        pipe.segment(np.zeros((1, 1, 3), np.uint8), steps=1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.segment(np.zeros((16, 16, 3), np.uint8), steps=1, seed=0)


def test_cli_generate_refuses_off_palette_and_background_masks(tmp_path, capsys):
    foreign = np.zeros((32, 32, 3), np.uint8)
    foreign[8:24, 8:24] = (120, 40, 200)
    Image.fromarray(foreign).save(tmp_path / "purple.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "black.png")
    for name, why in (("purple.png", "palette colours"), ("black.png", "only 'background'")):
        assert main(["generate", str(tmp_path / name), "--steps", "1", "--out", str(tmp_path / "out"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert name in err and why in err, err


def test_cli_classifies_drawn_digits_like_the_app(capsys):
    """`symmflow classify` reads drawings the way the app's digit tab does (1 of 10 before)."""
    files = sorted((ROOT / "assets" / "digits").glob("digit_*.png"))
    assert main(["classify", *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    right = sum(line.split(": ")[1].split(" ")[0] == f.stem[-1] for f, line in zip(files, lines))
    assert right >= 9, lines


def test_cli_default_steps_come_from_the_model(capsys, tmp_path):
    from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet

    net = PixelUNet(image_channels=1, label_channels=1, sample_size=8, **PIXEL_UNET_PRESETS["tiny"])
    config = PipelineConfig(task="classification", image_size=8, image_channels=1, num_classes=3,
                            default_steps={"generate": 3, "classify": 2})
    SymmFlowPipeline(net, config).save_pretrained(tmp_path / "pipe")
    assert main(["generate", "1", "--checkpoint", str(tmp_path / "pipe"), "--out", str(tmp_path), "--quiet"]) == 0
    assert "3 network evaluations" in capsys.readouterr().out


# -- the app -----------------------------------------------------------------------------------


def _editor_payload(composite, junk):
    from gradio.data_classes import FileData

    from demo.ui import EditorFiles  # noqa: F401

    return {"composite": FileData(path=str(composite), orig_name="my mask.png"),
            "background": FileData(path=str(junk), orig_name="junk.png"), "layers": [FileData(path=str(junk))]}


def test_editor_junk_in_unused_fields_does_not_fail_a_valid_request(bad_files):
    from gradio.components.image_editor import EditorData

    from demo import paint_tab
    from demo.ui import EditorFiles

    Image.fromarray(CELEBAMASK_HQ.colorize(np.pad(np.ones((20, 20), np.int64), 6))).save(bad_files / "mask.png")
    value = EditorFiles().preprocess(EditorData(**_editor_payload(bad_files / "mask.png", bad_files / "notes.png")))
    assert value["composite"].name == "my mask.png"
    assert paint_tab.read_canvas(value)[0].shape == (32, 32)


def test_an_unedited_canvas_comes_back_through_the_editor_unrepainted(bad_files):
    """The segment tab's round trip: the mask it sends to the canvas comes back as the browser's
    RGBA PNG composite through the editor's preprocessing and the canvas reader; untouched, no
    pixel counts as repainted (1-px strips included), and a stroke does."""
    from gradio.components.image_editor import EditorData

    from demo import paint_tab
    from demo.ui import EditorFiles
    from symmflow.editing import repainted_region

    ids = np.pad(np.ones((40, 40), np.int64), 12)
    ids[20:44, 30] = 8  # a one-pixel l_ear strip inside the skin
    ids[30, 10:50] = 6  # a one-pixel brow line
    sent = CELEBAMASK_HQ.colorize(ids)
    for name, image in (("rgba.png", np.dstack([sent, np.full(ids.shape, 255, np.uint8)])), ("rgb.png", sent)):
        Image.fromarray(image).save(bad_files / name)
        value = EditorFiles().preprocess(EditorData(**_editor_payload(bad_files / name, bad_files / "notes.png")))
        canvas_ids, colours = paint_tab.read_canvas(value)
        assert not repainted_region(colours, sent).any(), name
        assert np.array_equal(canvas_ids, ids), name
    stroke = np.dstack([sent, np.full(ids.shape, 255, np.uint8)])
    stroke[2:6, 2:8, :3] = CELEBAMASK_HQ.colors[14]
    Image.fromarray(stroke).save(bad_files / "stroke.png")
    value = EditorFiles().preprocess(EditorData(**_editor_payload(bad_files / "stroke.png", bad_files / "notes.png")))
    assert repainted_region(paint_tab.read_canvas(value)[1], sent).sum() == 24


def test_app_refuses_bombs_and_broken_uploads_with_the_users_file_name(bomb, bad_files):
    import gradio as gr
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    from demo import digits_tab, paint_tab, segment_tab
    from demo.ui import EditorFiles, ImageFile, SeedNumber

    for name in ("notes.png", "cut.png", "drawing.png", "empty.png"):
        value = EditorFiles().preprocess(EditorData(**_editor_payload(bad_files / name, bad_files / name)))
        with pytest.raises(gr.Error, match="my mask.png") as err:
            paint_tab.read_canvas(value)
        assert str(bad_files) not in str(err.value)
        with pytest.raises(gr.Error, match="my mask.png"):
            digits_tab.classify_drawing(value, 1)
        photo = ImageFile().preprocess(FileData(path=str(bad_files / name), orig_name="me.jpg"))
        with pytest.raises(gr.Error, match="me.jpg"):
            next(segment_tab.segment_photo(photo, 1, 0))
    value = EditorFiles().preprocess(EditorData(**_editor_payload(bomb, bomb)))
    for handler in (paint_tab.read_canvas, lambda v: digits_tab.classify_drawing(v, 1)):
        with pytest.raises(gr.Error, match="megapixels"):
            handler(value)
    with pytest.raises(gr.Error, match=r"only 1x1 pixels: too small to hold a face"):
        next(segment_tab.segment_photo(np.zeros((1, 1, 3), np.uint8), 1, 0))
    for seed in (float("nan"), float("inf")):
        with pytest.raises(gr.Error, match="seed must be a whole number"):
            SeedNumber(precision=0).preprocess(seed)


def test_through_the_running_app_a_huge_canvas_is_refused_fast_and_errors_are_plain(served_app, bomb):
    """The 10000x10000 canvas of the issue (it took 111 s and 12.7 GB before): refused from its
    header. Errors reach API clients in plain words, without quotes around them."""
    from gradio_client import Client, handle_file

    client = Client(served_app, verbose=False)
    canvas = {"background": handle_file(str(bomb)), "layers": [], "composite": handle_file(str(bomb)), "id": None}
    for endpoint, args in (("/generate_portrait", (canvas, 2, 0, "euler", 1)), ("/classify_digit", (canvas, 1))):
        start = time.perf_counter()
        with pytest.raises(Exception, match="megapixels") as err:
            client.predict(*args, api_name=endpoint)
        assert time.perf_counter() - start < 5.0, endpoint
        assert not str(err.value).strip().startswith(('"', "'")), str(err.value)


def test_app_counts_refuse_what_is_not_a_whole_number_in_range():
    """Steps, portraits and samples sent through the API: infinities and NaN are refused with the
    range like any other bad number (int(inf) raises OverflowError, not ValueError)."""
    from demo.ui import InputError, check_count

    assert check_count(5.0, 1, 50) == 5
    for bad in (float("inf"), float("-inf"), float("nan"), 0, 51, 2.5, "x", None):
        with pytest.raises(InputError, match=r"The number of steps must be a whole number between 1 and 50"):
            check_count(bad, 1, 50)
