"""Tab "Paint a face": paint a 19-class mask, watch a portrait emerge step by step."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from demo.cache import cache_folder
from demo.models import ROOT, app_processor, faces_pipeline, gpu, locked_steps
from demo.ui import SOLVER_CHOICES, EditorFiles, FramePacer, InputError, Radio, SeedNumber, Slider, check_count, check_seed, check_solver, editor_image, palette_legend
from symmflow.animation import save_gif, tile
from symmflow.editing import regenerate_stream, repainted_region
from symmflow.painted_masks import OffPaletteError
from symmflow.processing import EmptyMaskError

MAX_STEPS = 50
MAX_SAMPLES = 4
FACES_QUEUE = "faces"
"""The ``concurrency_id`` of every event that runs the face model (paint and segment tabs)."""
VIEW = 256
CANVAS = 256
EXAMPLES = sorted((ROOT / "assets" / "faces").glob("mask_*.png"))
GIF_FOLDER = "symmflow-gifs"
"""Trajectory GIFs are written in Gradio's cache (this subfolder), which then serves them without
a copy and deletes them with the rest of the app's files (age, size bound, server exit)."""


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _enlarge(image: np.ndarray, size: int = VIEW) -> np.ndarray:
    if image.shape[0] >= size:
        return image
    return np.asarray(Image.fromarray(image).resize((size * image.shape[1] // image.shape[0], size), Image.Resampling.BICUBIC))


def read_canvas(editor_value: Any) -> tuple[np.ndarray, np.ndarray]:
    """The painted canvas, decoded once -> (class ids ``int64 [H, W]``, its colours ``uint8 [H, W, 3]``),
    read by the pipeline's input layer (antialiased edges snap to their classes; the pixel limit
    is checked before decoding). The colours tell what was repainted (:func:`repainted_region`)."""
    image = editor_image(editor_value, "The canvas is empty: paint a face mask or pick an example.")
    try:
        return app_processor(faces_pipeline()).read_mask_colours(image)
    except OffPaletteError as err:
        raise InputError(
            f"This mask is not painted in the model's class colours: {err}. Paint with the brush colours "
            "(listed under the canvas) or upload a mask in those colours."
        ) from None
    except EmptyMaskError:
        raise InputError("The canvas holds only background: paint a face (or pick an example mask).") from None
    except (ValueError, FileNotFoundError) as err:
        raise InputError(f"This canvas cannot be used as a mask: {err}") from None


def generate_portraits(
    editor_value: Any,
    steps: float,
    seed: float,
    solver: str,
    samples: float,
    recovered: dict | None = None,
) -> Iterator[tuple[Any, Any, Any]]:
    """Yield (emerging portraits, gallery, trajectory) as the ODE integrates; the last yield is
    complete. Intermediate frames are paced (:class:`FramePacer`); the trajectory (every step,
    at model resolution) is for :func:`trajectory_gif`, which runs once the portrait is shown.

    ``recovered`` (set by the segment tab's "edit this mask" button) holds the aligned face photo
    (``crop``), the noise that regenerates it and its class map at the canvas's size (the mask
    sent to the canvas, coloured): wherever the canvas keeps the colours sent to it the portrait
    is held on the path from that noise to the photo at every step (:mod:`symmflow.editing`, as
    the authors' GUI), so it ends as the photo there; the label half flows freely, as there.
    """
    steps_i = check_count(steps, 1, MAX_STEPS)
    seed_i = check_seed(seed)
    method = check_solver(solver)
    count = check_count(samples, 1, MAX_SAMPLES, what="number of portraits")
    ids, colours = read_canvas(editor_value)
    pipe = faces_pipeline()
    trajectory = []
    pacer = FramePacer()
    options = dict(steps=steps_i, seed=seed_i, solver=method, num_images_per_label=count)
    if _editing(recovered):
        # repainted = the canvas's colours differ from the mask sent to it (the class map handed
        # over, coloured): comparing the ids read back would count thin strips the reader snaps
        # to a neighbour as repainted, and free them from the photo
        edit = repainted_region(colours, pipe.palette.colorize(recovered["class_map"]))
        stream = regenerate_stream(pipe, ids, recovered["crop"], recovered["noise"], edit, **options)
    else:
        stream = pipe.generate_stream(ids, **options)
    for frame in locked_steps(stream):
        trajectory.append(tile(frame.images))
        if not frame.is_final and pacer.due():
            yield _enlarge(trajectory[-1]), gr.skip(), gr.skip()
    gallery = [(_enlarge(img), f"seed {seed_i}, sample {k + 1}") for k, img in enumerate(frame.images)]
    yield _enlarge(trajectory[-1]), gallery, trajectory


def trajectory_gif(trajectory: list[np.ndarray] | None) -> str | None:
    """Every frame of the last generation as an animated GIF (a file path), or None."""
    if not trajectory:
        return None
    return str(save_gif(trajectory, cache_folder() / GIF_FOLDER / f"portrait-{uuid.uuid4().hex}.gif", min_size=VIEW))


def _editing(recovered: dict | None) -> bool:
    """Whether the segment tab handed over a photo to edit (its crop, noise and class map)."""
    return bool(recovered) and all(recovered.get(key) is not None for key in ("noise", "class_map", "crop"))


def build(blocks: gr.Blocks, recovered: gr.State) -> gr.ImageEditor:
    """Add the tab; returns the canvas (the segment tab sends masks to it)."""
    pipe = faces_pipeline()
    gr.Markdown(
        f"Paint a **face mask** with the {pipe.num_classes} classes of the model's palette, then press *Generate*: the portrait "
        "emerges as the ODE integrates from noise (t = 0) to the image (t = 1) while the mask dissolves. "
        "Different seeds give different portraits of the same mask."
    )
    with gr.Row():
        with gr.Column(scale=1):
            colors = [_hex(c) for c in pipe.palette.colors.tolist()]
            canvas = EditorFiles(
                value=str(EXAMPLES[0]) if EXAMPLES else None,
                label="face mask",
                image_mode="RGBA",
                format="png",  # lossless: webp would blur the class colours
                canvas_size=(CANVAS, CANVAS),
                brush=gr.Brush(default_size=12, colors=colors, default_color=colors[1], color_mode="fixed"),
                eraser=False,
                sources=("upload", "clipboard"),
                transforms=(),
                layers=False,
                height=CANVAS + 160,
                elem_id="paint-canvas",
            )
            gr.HTML(palette_legend(pipe.palette))
            if EXAMPLES:
                # a new mask from the examples forgets any photo handed over by the segment tab
                gr.Examples(
                    [[str(p)] for p in EXAMPLES], inputs=[canvas], outputs=[canvas, recovered],
                    fn=lambda mask: (mask["composite"].path, None), run_on_click=True, label="example masks", examples_per_page=8,
                    api_name=False,
                )
        with gr.Column(scale=1):
            with gr.Row():
                steps = Slider(1, MAX_STEPS, value=pipe.default_steps["generate"], step=1, label="ODE steps")
                seed = SeedNumber(value=0, precision=0, minimum=0, label="seed")
            with gr.Row():
                solver = Radio(SOLVER_CHOICES, value="euler", label="solver")
                samples = Slider(1, MAX_SAMPLES, value=1, step=1, label="portraits (different noise)")
            run = gr.Button("Generate", variant="primary", elem_id="paint-generate")
            live = gr.Image(label="the portrait emerging", type="numpy", interactive=False, height=VIEW, elem_id="paint-live")
            gallery = gr.Gallery(label="results", columns=MAX_SAMPLES, height=VIEW // 2 + 40, elem_id="paint-gallery")
            gif = gr.File(label="trajectory (GIF)", elem_id="paint-gif")
    trajectory = gr.State(None)
    # the GIF is built after the portrait is on screen: it never delays the result
    run.click(
        gpu(generate_portraits),
        [canvas, steps, seed, solver, samples, recovered],
        [live, gallery, trajectory],
        api_name="generate_portrait",
        # portraits and segmentations share the face model: one flow at a time, the rest queue
        # apart from the light tabs' events
        concurrency_id=FACES_QUEUE, concurrency_limit=1,
    ).success(trajectory_gif, trajectory, gif, api_name=False, concurrency_id="trajectory-gif", concurrency_limit=1)
    # an uploaded mask is a new picture: forget the photo's noise (painting over a mask sent by
    # the segment tab keeps it, which is the point of the round trip)
    canvas.upload(lambda: None, None, recovered, api_name=False)
    return canvas
