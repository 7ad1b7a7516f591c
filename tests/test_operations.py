"""Operating the app for many users (issue 20): bounded cache, upload limit, per-model
queues, no server paths on the page, one log line per refused input."""

import logging
import os
import time

import gradio as gr
import numpy as np
import pytest

from conftest import ROOT
from demo import cache, digits_tab, paint_tab, spiral_tab
from demo.models import public_message, shown_name


def test_trajectory_gif_is_stored_once_in_gradios_cache():
    trajectory = [np.full((8, 8, 3), v, np.uint8) for v in (0, 128, 255)]
    gif = paint_tab.trajectory_gif(trajectory)
    assert os.path.commonpath([gif, str(cache.cache_folder().resolve())]) == str(cache.cache_folder().resolve())
    from gradio.processing_utils import move_files_to_cache

    block = gr.File()
    served = move_files_to_cache(block.postprocess(gif), block, postprocess=True)  # what an event does with it
    assert served["path"] == gif  # served where it was written: no second copy
    assert gif in block.temp_files  # so Gradio's age sweep and exit clean-up delete it
    os.remove(gif)


def test_light_tabs_send_a_bounded_number_of_frames():
    frames = list(digits_tab.generate_digit("7", 25, 0))
    assert 2 <= len(frames) <= 11
    outputs = list(spiral_tab.run_flows(50, 0, "euler"))
    assert len(outputs) == spiral_tab.FRAMES + 1 == 8 and "50 euler step(s)" in outputs[-1][1]  # 7 frames, the summary
    assert len(list(spiral_tab.run_flows(3, 0, "euler"))) == 3 + 1 + 1  # few steps: every one


def test_cache_cap_deletes_the_oldest_files_first_and_keeps_examples(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    (tmp_path / "before").mkdir()
    (tmp_path / "before" / "other.webp").write_bytes(b"x" * 1000)  # not this run's
    time.sleep(0.05)
    with gr.Blocks() as blocks:
        image = gr.Image()
    cap = cache.CacheCap(blocks, max_files=3, max_bytes=10**9, min_age=0)
    cap.started = time.time()
    paths = []
    for k in range(6):
        folder = tmp_path / f"hash{k}"
        folder.mkdir()
        (folder / "image.webp").write_bytes(b"x" * 1000)
        paths.append(str(folder / "image.webp"))
        time.sleep(0.02)  # distinct creation times
    image.keep_in_cache.add(paths[0])  # an example: never trimmed
    blocks.upload_file_set.add(paths[1])  # an upload: trimmed after the outputs
    assert cap.usage() == (5, 5000)
    assert cap.trim() == 2
    assert [os.path.exists(p) for p in paths] == [True, True, False, False, True, True]
    assert not (tmp_path / "hash2").exists()  # the emptied hash folder goes too
    assert cap.usage() == (3, 3000)
    cap.max_files, cap.max_bytes = 100, 1500
    assert cap.trim() == 2 and cap.usage() == (1, 1000)
    assert os.path.exists(paths[1]) and not os.path.exists(paths[4])  # the upload outlives newer outputs
    cap.max_files = cap.max_bytes = 0
    cap.min_age = 3600
    assert cap.trim() == 0  # files a browser may still be fetching stay
    assert cap.clear() == 2  # at exit: everything of this run, the example too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["before"]


def test_page_names_models_without_server_paths():
    assert shown_name(ROOT / "checkpoints" / "faces") == "checkpoints/faces"
    assert shown_name("ocaetas/SymmFlow") == "ocaetas/SymmFlow"
    assert shown_name("/srv/models/my-faces") == "my-faces"
    message = f"no readable PixelUNet checkpoint at '{ROOT}/checkpoints/faces/model': missing"
    assert public_message(message, ROOT / "checkpoints" / "faces") == "no readable PixelUNet checkpoint at 'checkpoints/faces/model': missing"
    assert public_message("could not load /srv/models/x/model", "/srv/models/x") == "could not load x/model"


def test_a_missing_model_is_named_without_its_path(tmp_path, monkeypatch):
    from demo import app

    monkeypatch.setenv("SYMMFLOW_DIGITS_CHECKPOINT", str(tmp_path / "digits"))
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "pipeline.json").write_text('{"task": "classification"}')
    from demo.models import digits_checkpoint

    app.digits_pipeline.cache_clear()
    try:
        model, error = app._load(app.digits_pipeline, "classification", digits_checkpoint)
    finally:
        app.digits_pipeline.cache_clear()
    assert model is None and str(tmp_path) not in error and "digits" in error


def test_events_queue_per_model(served_app):
    from app import demo

    ids = {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values() if fn.api_name}
    assert ids["generate_portrait"] == ids["segment_photo"] == ("faces", 1)  # one face flow at a time
    assert ids["classify_digit"][0] == ids["generate_digit"][0] == "digits"
    assert ids["spiral_flows"][0] == "spiral"
    assert len({ids[n][0] for n in ("generate_portrait", "classify_digit", "spiral_flows")}) == 3


def test_served_page_and_config_hold_no_server_path(served_app):
    import httpx

    for route in ("", "config"):
        text = httpx.get(served_app + route, timeout=30).text
        assert str(ROOT) not in text, f"/{route} shows the server's checkout path"
    assert "checkpoints/faces" in httpx.get(served_app + "config", timeout=30).text  # named by its repository path


def test_uploads_over_the_limit_are_refused(served_app):
    import httpx

    from demo.ui import MAX_UPLOAD

    limit = int(MAX_UPLOAD.removesuffix("mb")) * 1024**2
    big = httpx.post(served_app + "gradio_api/upload", files={"files": ("big.png", b"\0" * (limit + 1024))}, timeout=120)
    assert big.status_code == 413 and "maximum allowed size" in big.text
    small = httpx.post(served_app + "gradio_api/upload", files={"files": ("small.png", b"\0" * 1024)}, timeout=30)
    assert small.status_code == 200


def test_a_refused_input_is_one_log_line_not_a_traceback(served_app, capfd, caplog):
    from gradio_client import Client

    client = Client(served_app, verbose=False)
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger="symmflow.app"):
        with pytest.raises(Exception, match="seed must lie between 0 and 2147483647"):
            client.predict(3, 2**31, "euler", api_name="/spiral_flows")
        with pytest.raises(Exception, match="greater than maximum value 50"):  # Gradio's own check, as quiet
            client.predict(500, 1, "euler", api_name="/spiral_flows")
        with pytest.raises(Exception, match="rk45"):
            client.predict(3, 1, "rk45", api_name="/spiral_flows")
    logged = capfd.readouterr()
    assert "Traceback" not in logged.out + logged.err
    messages = [r.getMessage() for r in caplog.records if r.name == "symmflow.app"]
    assert len(messages) == 3 and messages[0] == "input refused: The seed must lie between 0 and 2147483647; got 2147483648."
    assert "greater than maximum value 50" in messages[1] and "rk45" in messages[2]


def test_a_vanished_upload_is_named_by_the_users_file_name(tmp_path):
    from demo import segment_tab
    from symmflow.processing import NamedFile

    gone = NamedFile(str(tmp_path / "gradio" / "abc123" / "image_0.png"), "holiday.png")
    with pytest.raises(gr.Error, match="holiday.png could not be opened") as err:
        segment_tab._photo(gone)
    assert str(tmp_path) not in str(err.value)
