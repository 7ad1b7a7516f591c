"""Assemble the tabs into one ``gr.Blocks`` app."""

from __future__ import annotations

import gradio as gr

from demo import digits_tab, paint_tab, segment_tab, spiral_tab
from demo.models import (
    FACES_ENV,
    digits_pipeline,
    faces_checkpoint,
    faces_pipeline,
    set_threads,
    spiral_model,
)
from symmflow.models import CheckpointError
from symmflow.pipeline_folder import default_checkpoint

TITLE = "SymmFlow Studio"

HEADER = """
# SymmFlow Studio
**Symmetrical Flow Matching** ([paper](https://arxiv.org/abs/2506.10634), AAAI 2026): one network
learns two opposite flows, *noise -> image given a label* (semantic image synthesis) and
*image -> label* (segmentation, or classification when the label is a class).
"""

HOW_IT_WORKS = """
### How it works
Training draws a time `t` and regresses one network on two straight paths at once: the image
goes from noise (t = 0) to data (t = 1) while the label goes from data (t = 0) to noise (t = 1).
Integrating **up** in time generates an image from a label; integrating **down** recovers the
label from an image. See the *Spiral* tab for both flows on the paper's 2-D toy.
"""


def _load(loader, task: str | None = None):
    """A model (a pipeline for ``task``, if given), or the reason it cannot be used: the app
    still starts without it."""
    try:
        model = loader()
    except CheckpointError as err:
        return None, str(err)
    if task is not None and model.task != task:
        return None, f"the checkpoint holds a {model.task} model; this tab needs a {task} model"
    return model, None


def models_note() -> str:
    faces, digits = faces_pipeline(), digits_pipeline()
    note = f"**Models loaded.** Faces: `{faces_checkpoint()}`, {faces.description or 'a SymmFlow face model'} ({faces.image_size}x{faces.image_size}). "
    if faces_checkpoint() == str(default_checkpoint("faces")):
        note += (
            "The shipped CPU face model knows only procedurally rendered faces: real photos are outside its "
            "training, so expect rough masks on them. "
            f"To run the paper's released weights (GPU recommended), set `{FACES_ENV}` to a pipeline folder or hub "
            "repo made by `symmflow convert-release` and restart. "
        )
    return note + f"Digits: {digits.description}."


def build_demo() -> gr.Blocks:
    set_threads()
    # files served to browsers (portraits, GIFs) are dropped from Gradio's cache after a day
    with gr.Blocks(title=TITLE, delete_cache=(3600, 86400)) as blocks:
        gr.Markdown(HEADER)
        recovered = gr.State(None)  # the photo noise the segment tab hands to the paint tab
        faces, faces_error = _load(faces_pipeline, "segmentation")
        digits, digits_error = _load(digits_pipeline, "classification")
        spiral, spiral_error = _load(spiral_model)
        with gr.Tabs() as tabs:
            with gr.Tab("Paint a face", id="paint"):
                canvas = paint_tab.build(blocks, recovered) if faces else gr.Markdown(f"Face model unavailable: {faces_error}")
            with gr.Tab("Segment a photo", id="segment"):
                if faces:
                    segment_tab.build(blocks, canvas, recovered, tabs)
                else:
                    gr.Markdown(f"Face model unavailable: {faces_error}")
            with gr.Tab("Digits", id="digits"):
                digits_tab.build(blocks) if digits else gr.Markdown(f"Digit model unavailable: {digits_error}")
            with gr.Tab("Spiral", id="spiral"):
                spiral_tab.build(blocks) if spiral else gr.Markdown(f"Spiral model unavailable: {spiral_error}")
        if faces and digits:
            gr.Markdown(models_note())
        gr.Markdown(HOW_IT_WORKS)
    # One flow at a time per event: extra clicks wait in the queue (shown to the user) instead
    # of oversubscribing the CPU; the queue itself is bounded.
    blocks.queue(default_concurrency_limit=1, max_size=64)
    return blocks
