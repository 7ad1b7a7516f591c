"""Tab "Digits": draw a digit and watch one Euler step classify it; generate a digit of a class."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from demo.models import LIGHT_LOCK, ROOT, app_processor, digits_pipeline, locked_steps
from demo.ui import Dropdown, InputError, SeedNumber, SketchFiles, Slider, check_count, check_seed, editor_image, shown_steps

MAX_STEPS = 25
STEP_ROW = (1, 2, 5, 10, 25)
VIEW_SIZE = 160
DIGITS_QUEUE = "digits"
EXAMPLES = sorted((ROOT / "assets" / "digits").glob("*.png"))

INTRO = """
**Classification is the reverse flow.** The flow starts at t = 1 from the image beside a noisy
label channel; integrating down to t = 0 turns the noise into one of ten levels, one per digit
(while the image dissolves: the whole state moves). **One** step is
best: it returns the expected level given the image. More steps sample a label instead, so the
answer can change (the table shows it). The same network, run forward, draws a new digit of the
class you pick. Trained on scikit-learn's real handwritten digits (8x8 pixels): draw large and
thick, your drawing is cropped, centred and shrunk the way those digits were made.
"""


def _enlarge(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((VIEW_SIZE, VIEW_SIZE), Image.Resampling.NEAREST))


def classify_drawing(drawing: Any, steps: float) -> tuple[dict[str, float], np.ndarray, str]:
    """Returns the class scores, the 8x8 view the model gets (enlarged) and a steps table."""
    steps_i = check_count(steps, 1, MAX_STEPS)
    image = editor_image(drawing, "The canvas is empty: draw a digit first.")
    pipe = digits_pipeline()
    try:  # the same preprocessing as `symmflow classify`
        x, digits = app_processor(pipe).preprocess_drawings(image)
    except (ValueError, FileNotFoundError) as err:
        raise InputError(f"This drawing cannot be read: {err}") from None
    with LIGHT_LOCK:
        main = pipe.classify(x, steps=steps_i, seed=0)
        rows = {s: pipe.classify(x, steps=s, seed=0) for s in STEP_ROW}
    scores = {pipe.class_names[k]: float(v) for k, v in enumerate(main.scores[0])}
    view = _enlarge((digits[0] / 16.0 * 255).astype(np.uint8))
    table = "| steps | " + " | ".join(str(s) for s in STEP_ROW) + " |\n|---|" + "---:|" * len(STEP_ROW) + "\n"
    table += "| answer | " + " | ".join(f"**{pipe.class_names[r.labels[0]]}**" for r in rows.values()) + " |"
    return scores, view, table


def generate_digit(digit: str, steps: float, seed: float) -> Iterator[np.ndarray]:
    """Yield the image half as the forward flow runs (at most 11 steps of it, :func:`shown_steps`), enlarged."""
    steps_i = check_count(steps, 1, MAX_STEPS)
    pipe = digits_pipeline()
    if digit not in pipe.class_names:
        raise InputError(f"Pick a digit from 0 to 9, not {digit!r}.")
    shown = shown_steps(steps_i)
    for frame in locked_steps(pipe.generate_stream(digit, steps=steps_i, seed=check_seed(seed)), LIGHT_LOCK):
        if frame.step in shown:  # each frame sent is a file in Gradio's cache
            yield _enlarge(frame.images[0])


def build(blocks: gr.Blocks) -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column():
            canvas = SketchFiles(
                label="draw a digit",
                image_mode="RGBA",
                canvas_size=(280, 280),
                brush=gr.Brush(default_size=22, colors=["#000000"], default_color="#000000", color_mode="fixed"),
            )
            steps = Slider(1, MAX_STEPS, value=1, step=1, label="ODE steps (1 is best for classification)")
            classify = gr.Button("Classify", variant="primary")
            if EXAMPLES:
                gr.Examples([[str(p)] for p in EXAMPLES], inputs=[canvas], label="test digits (never seen in training)")
        with gr.Column():
            scores = gr.Label(num_top_classes=3, label="class scores")
            view = gr.Image(label="what the model sees (8x8)", type="numpy", interactive=False, height=VIEW_SIZE, width=VIEW_SIZE)
            table = gr.Markdown()
    # the digit model's own queue: never behind portraits (two at once: a request takes milliseconds)
    classify.click(classify_drawing, [canvas, steps], [scores, view, table], api_name="classify_digit",
                   concurrency_id=DIGITS_QUEUE, concurrency_limit=2)
    with gr.Row():
        digit = Dropdown([str(k) for k in range(10)], value="7", label="generate a")
        gen_steps = Slider(1, MAX_STEPS, value=25, step=1, label="ODE steps")
        seed = SeedNumber(value=0, precision=0, minimum=0, label="seed")
        generate = gr.Button("Generate", variant="primary")
    generated = gr.Image(label="new digit", type="numpy", interactive=False, height=VIEW_SIZE, width=VIEW_SIZE)
    generate.click(generate_digit, [digit, gen_steps, seed], generated, api_name="generate_digit",
                   concurrency_id=DIGITS_QUEUE, concurrency_limit=2)
