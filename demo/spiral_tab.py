"""Tab "Spiral": the paper's toy, both flows animated side by side."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import gradio as gr
import numpy as np
import torch

from demo.models import LIGHT_LOCK, spiral_model
from demo.ui import SOLVER_CHOICES, Radio, SeedNumber, Slider, check_count, check_seed, check_solver, shown_steps
from symmflow.spiral import accuracy_by_steps, classify_flow, generate_flow, make_spirals
from symmflow.spiral.plot import accuracy_figure, figure_to_array, frame_figure

PAPER_ROW = {"1": 100.0, "2": 92.0, "5": 87.0, "10": 83.6, "20": 82.6, "50": 82.0}
MAX_STEPS = 50
FORWARD_POINTS = 1000
REVERSE_POINTS = 2000
SPIRAL_QUEUE = "spiral"
FRAMES = 7  # at most, per run: the start, the end and evenly spaced steps between

INTRO = """
**One network, two opposite flows.** The same 17k-parameter network moves Gaussian noise onto
the arm of a chosen label (*forward*, t = 0 -> 1: left) and moves the label of each point from
noise to -1 or +1 (*reverse*, t = 1 -> 0: right, coloured blue -1 .. red +1). Classification is
best in **one** step: at t = 1 the network sees the point exactly and one Euler step returns the
expected label; more steps turn prediction into sampling and the accuracy falls, as in the
paper's table (below).
"""


def run_flows(steps: float, seed: float, solver: str) -> Iterator[tuple[np.ndarray, str]]:
    """Yield one side-by-side frame per ODE step (at most :data:`FRAMES`, :func:`~demo.ui.shown_steps`), then a summary.

    Returns frames as RGB ``uint8`` arrays and a Markdown status line.
    """
    steps_i = check_count(steps, 1, MAX_STEPS)
    gen = torch.Generator().manual_seed(check_seed(seed))
    method = check_solver(solver)
    model = spiral_model()
    labels = torch.arange(2).repeat_interleave(FORWARD_POINTS // 2)
    points, true = make_spirals(REVERSE_POINTS, generator=gen)
    with LIGHT_LOCK:
        forward = list(generate_flow(model, labels, steps_i, method=method, generator=gen))
        reverse = list(classify_flow(model, points, steps_i, method=method, generator=gen))
    # each frame is a matplotlib drawing (0.1 s) and a file in Gradio's cache: 7 show the flow
    shown = shown_steps(steps_i, most=FRAMES - 1)
    for fwd, rev in zip(forward, reverse):
        if fwd.step not in shown:
            continue
        frame = figure_to_array(frame_figure(fwd, labels, rev, points, true))
        status = f"t = {fwd.t:.2f} (forward) / {rev.t:.2f} (reverse), step {fwd.step} of {steps_i}"
        yield frame, status
    acc = 100.0 * ((reverse[-1].y[:, 0] > 0).long() == true).float().mean().item()
    yield frame, (
        f"Done: {steps_i} {method} step(s), {reverse[-1].nfe} network evaluations per point. "
        f"Classification accuracy on these {REVERSE_POINTS} points: **{acc:.1f}%**."
    )


@lru_cache(maxsize=1)
def accuracy_curve() -> np.ndarray:
    """Accuracy vs steps of the served model (4,000 fresh points) against the paper's row."""
    with LIGHT_LOCK:
        acc = accuracy_by_steps(spiral_model(), test_size=4000, seed=2024)["classification"]
    ours = {str(k): v for k, v in acc.items()}
    return figure_to_array(accuracy_figure(ours, PAPER_ROW))


def build(blocks: gr.Blocks) -> None:
    """Add the tab's components and events to ``blocks`` (inside its ``gr.Tab``)."""
    gr.Markdown(INTRO)
    with gr.Row():
        steps = Slider(1, MAX_STEPS, value=10, step=1, label="ODE steps")
        seed = SeedNumber(value=0, precision=0, label="Seed", minimum=0)
        solver = Radio(SOLVER_CHOICES, value="euler", label="Solver")
        run = gr.Button("Run both flows", variant="primary")
    frame = gr.Image(label="forward flow (left) and reverse flow (right)", type="numpy", interactive=False)
    status = gr.Markdown()
    curve = gr.Image(label="accuracy vs number of steps", type="numpy", interactive=False, height=320)
    # the toy's own queue, never behind portraits; two at once (the model is tiny, drawing dominates)
    run.click(run_flows, [steps, seed, solver], [frame, status], api_name="spiral_flows",
              concurrency_id=SPIRAL_QUEUE, concurrency_limit=2)
    steps.release(run_flows, [steps, seed, solver], [frame, status], api_name=False,
                  concurrency_id=SPIRAL_QUEUE, concurrency_limit=2)
    # Measured once per process on first page load, then served from the cache.
    blocks.load(accuracy_curve, None, curve, api_name="spiral_accuracy")
