"""The Gradio app: handlers called directly, then the running app over HTTP."""

import gradio as gr
import numpy as np
import pytest

from demo import spiral_tab


def test_spiral_handler_streams_one_frame_per_step():
    outputs = list(spiral_tab.run_flows(4, 0, "euler"))
    assert len(outputs) == 4 + 2  # initial state, 4 steps, final summary
    frames = [frame for frame, _ in outputs]
    assert all(f.dtype == np.uint8 and f.ndim == 3 and f.shape[2] == 3 for f in frames)
    assert not np.array_equal(frames[0], frames[-2])  # the picture changes as the flow runs
    assert "step 0 of 4" in outputs[0][1]
    summary = outputs[-1][1]
    assert "4 euler step(s), 4 network evaluations" in summary
    accuracy = float(summary.split("**")[1].rstrip("%."))
    assert 75.0 < accuracy <= 100.0


def test_spiral_one_step_is_near_perfect_and_heun_costs_double():
    *_, (_, summary) = spiral_tab.run_flows(1, 0, "heun")
    assert "2 network evaluations" in summary
    *_, (_, summary) = spiral_tab.run_flows(1, 0, "euler")
    assert float(summary.split("**")[1].rstrip("%.")) > 99.0


@pytest.mark.parametrize(
    ("steps", "seed", "solver", "message"),
    [
        (0, 0, "euler", "between 1 and 50"),
        (51, 0, "euler", "between 1 and 50"),
        (2.5, 0, "euler", "whole number"),
        ("many", 0, "euler", "whole number"),
        (None, 0, "euler", "whole number"),
        (5, -1, "euler", "seed"),
        (5, "abc", "euler", "seed"),
        (5, 0, "rk45", "Unknown solver"),
    ],
)
def test_spiral_bad_input_is_a_readable_gradio_error(steps, seed, solver, message):
    with pytest.raises(gr.Error, match=message):
        next(spiral_tab.run_flows(steps, seed, solver))


def test_accuracy_curve_is_drawn():
    image = spiral_tab.accuracy_curve()
    assert image.ndim == 3 and image.shape[0] > 100


def test_api_endpoints_over_http(served_app):
    from gradio_client import Client, handle_file

    from conftest import ROOT

    client = Client(served_app, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)
    named = set(api["named_endpoints"])
    assert {"/spiral_flows", "/spiral_accuracy", "/generate_portrait", "/segment_photo",
            "/classify_digit", "/generate_digit"} <= named
    frame, summary = client.predict(3, 1, "euler", api_name="/spiral_flows")
    assert "3 euler step(s)" in summary
    with pytest.raises(Exception, match="greater than maximum value 50"):  # the slider checks first
        client.predict(500, 1, "euler", api_name="/spiral_flows")

    mask = handle_file(str(ROOT / "assets" / "faces" / "mask_0.png"))
    editor = {"background": mask, "layers": [], "composite": mask, "id": None}
    live, gallery = client.predict(editor, 3, 0, "euler", 1, api_name="/generate_portrait")
    assert live and len(gallery) == 1
    photo = handle_file(str(ROOT / "assets" / "faces" / "image_0.png"))
    live, final, overlay, found = client.predict(photo, 2, 0, api_name="/segment_photo")
    assert final and overlay and found["label"]
    digit = handle_file(str(ROOT / "assets" / "digits" / "digit_3.png"))
    scores, view, table = client.predict({"background": digit, "layers": [], "composite": digit, "id": None}, 1,
                                         api_name="/classify_digit")
    assert len(scores["confidences"]) == 3 and "| answer |" in table
    assert client.predict("7", 3, 0, api_name="/generate_digit")


def test_frame_pacer_sends_the_first_frame_then_one_per_interval(monkeypatch):
    from demo import ui

    clock = iter([0.0, 0.1, 0.2, 0.35, 0.4, 0.7])
    monkeypatch.setattr(ui.time, "perf_counter", lambda: next(clock))
    pacer = ui.FramePacer(interval=0.3)
    assert [pacer.due() for _ in range(6)] == [True, False, False, True, False, True]


def test_zero_gpu_wraps_handlers_only_on_zero_gpu_spaces(monkeypatch):
    import sys
    import types

    from demo import models

    wrapped = []
    fake = types.ModuleType("spaces")
    fake.GPU = lambda fn: wrapped.append(fn) or (lambda *a: ("on gpu", fn(*a)))
    monkeypatch.setitem(sys.modules, "spaces", fake)

    def handler(x):
        return x + 1

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert models.gpu(handler) is handler and not models.on_zero_gpu()
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert models.on_zero_gpu() and models.gpu(handler)(1) == ("on gpu", 2) and wrapped == [handler]
