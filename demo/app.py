"""Assemble the tabs into one ``gr.Blocks`` app."""

from __future__ import annotations

import signal

import gradio as gr

from demo import digits_tab, paint_tab, segment_tab, spiral_tab
from demo.cache import DELETE_CACHE, CacheCap
from demo.models import (
    FACES_ENV,
    ROOT,
    digits_checkpoint,
    digits_pipeline,
    faces_checkpoint,
    faces_pipeline,
    public_message,
    set_threads,
    shown_name,
    spiral_checkpoint,
    spiral_model,
)
from demo.ui import MAX_UPLOAD
from symmflow.models import CheckpointError
from symmflow.pipeline_folder import default_checkpoint

TITLE = "SymmFlow Studio"

LAUNCH = {"max_file_size": MAX_UPLOAD}
"""``launch()`` options of every way the app is served (``python app.py``, the tests): uploads
beyond :data:`demo.ui.MAX_UPLOAD` are refused before they are stored."""

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


def stop_on_sigterm() -> None:
    """Stop on SIGTERM (how a host such as a Space stops the app) as on Ctrl-C: Gradio then
    closes the server and deletes this app's cached files, instead of dying with them on disk."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _load(loader, task: str | None = None, checkpoint=None):
    """A model (a pipeline for ``task``, if given), or the reason it cannot be used, without
    the server paths of ``checkpoint()`` or the checkout: the app still starts without it."""
    try:
        model = loader()
    except CheckpointError as err:
        return None, public_message(str(err), checkpoint() if checkpoint else ROOT)
    if task is not None and model.task != task:
        return None, f"the checkpoint holds a {model.task} model; this tab needs a {task} model"
    return model, None


def models_note() -> str:
    faces, digits = faces_pipeline(), digits_pipeline()
    note = f"**Models loaded.** Faces: `{shown_name(faces_checkpoint())}`, {faces.description or 'a SymmFlow face model'} ({faces.image_size}x{faces.image_size}). "
    if faces_checkpoint() == str(default_checkpoint("faces")):
        note += (
            "The shipped CPU face model knows only procedurally rendered faces: real photos are outside its "
            "training, so expect rough masks on them. Skin, hair, nose, eyes and lips read best; the edge of a "
            "beard may come out as a necklace, glossy hair partly as a hat, thin-rimmed glasses may be missed, and "
            "earrings and necklaces are read only where they stand out (it expects fewer on photos than it was "
            "trained on). A face turned away is read as a frontal one. "
            f"To run the paper's released weights (GPU recommended), set `{FACES_ENV}` to a pipeline folder or hub "
            "repo made by `symmflow convert-release` and restart. "
        )
    return note + f"Digits: `{shown_name(digits_checkpoint())}`, {digits.description}."


def build_demo() -> gr.Blocks:
    set_threads()
    # files served to browsers (frames, portraits, GIFs, uploads) leave Gradio's cache after an
    # hour, or sooner past the size bound of demo.cache, and all of them when the server stops
    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE) as blocks:
        gr.Markdown(HEADER)
        recovered = gr.State(None)  # the photo noise the segment tab hands to the paint tab
        faces, faces_error = _load(faces_pipeline, "segmentation", faces_checkpoint)
        digits, digits_error = _load(digits_pipeline, "classification", digits_checkpoint)
        spiral, spiral_error = _load(spiral_model, checkpoint=spiral_checkpoint)
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
    # One flow at a time per event unless it says otherwise (the face model's events share one
    # queue, concurrency_id "faces"; the digits and spiral tabs have their own): extra clicks
    # wait in the queue (shown to the user) instead of oversubscribing the CPU, and light tabs
    # never wait behind portraits. The queue itself is bounded.
    blocks.queue(default_concurrency_limit=1, max_size=64)
    blocks.cache_cap = CacheCap(blocks).start()
    return blocks
