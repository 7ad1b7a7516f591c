"""The Gradio app: handlers called directly, then the running app over HTTP."""

import socket

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_app():
    from app import demo

    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_api_endpoints_over_http(served_app):
    from gradio_client import Client

    client = Client(served_app, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)
    assert {"/spiral_flows", "/spiral_accuracy"} <= set(api["named_endpoints"])
    frame, summary = client.predict(3, 1, "euler", api_name="/spiral_flows")
    assert "3 euler step(s)" in summary
    with pytest.raises(Exception, match="greater than maximum value 50"):  # the slider checks first
        client.predict(500, 1, "euler", api_name="/spiral_flows")
