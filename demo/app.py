"""Assemble the tabs into one ``gr.Blocks`` app."""

from __future__ import annotations

import gradio as gr

from demo import digits_tab, paint_tab, segment_tab, spiral_tab
from demo.models import FACES_ENV, digits_pipeline, faces_checkpoint, faces_pipeline, set_threads
from symmflow.models import CheckpointError

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


def _load(loader):
    """A model, or the reason it could not be loaded (the app still starts without it)."""
    try:
        return loader(), None
    except CheckpointError as err:
        return None, str(err)


def models_note() -> str:
    faces, digits = faces_pipeline(), digits_pipeline()
    return (
        f"**Models loaded.** Faces: `{faces_checkpoint()}`, {faces.description or 'a SymmFlow face model'} "
        f"({faces.image_size}x{faces.image_size}). The shipped CPU face model knows only procedurally rendered "
        "faces: real photos are outside its training, so expect rough masks on them. "
        f"To run the paper's released weights (GPU recommended), set `{FACES_ENV}` to a pipeline folder or hub "
        "repo made by `symmflow convert-release` and restart. "
        f"Digits: {digits.description}."
    )


def build_demo() -> gr.Blocks:
    set_threads()
    with gr.Blocks(title=TITLE) as blocks:
        gr.Markdown(HEADER)
        recovered = gr.State(None)  # the photo noise the segment tab hands to the paint tab
        faces, faces_error = _load(faces_pipeline)
        digits, digits_error = _load(digits_pipeline)
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
                spiral_tab.build(blocks)
        if faces and digits:
            gr.Markdown(models_note())
        gr.Markdown(HOW_IT_WORKS)
    # One flow at a time per event: extra clicks wait in the queue (shown to the user) instead
    # of oversubscribing the CPU; the queue itself is bounded.
    blocks.queue(default_concurrency_limit=1, max_size=64)
    return blocks
