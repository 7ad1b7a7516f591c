"""Tab "Segment a photo": find and align the faces, watch their segmentation emerge, see it on the
whole photo; send the (first) aligned face to the paint tab to edit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import numpy as np

from demo.models import MODEL_LOCK, ROOT, faces_pipeline, gpu, locked_steps
from demo.paint_tab import CANVAS, FACES_QUEUE
from demo.ui import MAX_PIXELS, FramePacer, ImageFile, InputError, SeedNumber, check_count, check_seed
from symmflow.alignment import NoFaceError, align_photo, draw_faces
from symmflow.animation import tile
from symmflow.data.images import resize_labels, resize_rgb
from symmflow.processing import read_rgb
from symmflow.uncertainty import SAMPLE_STEPS, heat_map, photo_uncertainty

MAX_STEPS = 20
MIN_SIDE = 16  # a smaller "photo" holds no face: segmenting it would return nonsense
MAX_SIDE = 1024  # the photo is shrunk to this first: the model works at 64-512 px, and the
# mask, overlay and per-session class map at full size would cost gigabytes for a large photo
VIEW = 256
ALIGN = {  # what the user picks -> symmflow.alignment's mode
    "find faces and align each (whole image if none)": "auto",
    "faces only (refuse photos without one)": "align",
    "whole image, no alignment": "whole",
}
ALIGN_LABEL = "faces"  # the radio buttons' label
EXAMPLES = sorted((ROOT / "assets" / "faces").glob("image_*.png"))
# one posterior sample cannot disagree with itself (its map is black whatever the photo): 0 (off) or 2..16,
# as symmflow segment --uncertainty takes 2 and more
MIN_UNCERTAINTY_SAMPLES, MAX_UNCERTAINTY_SAMPLES = 2, 16
assert MAX_UNCERTAINTY_SAMPLES % MIN_UNCERTAINTY_SAMPLES == 0  # the slider steps by MIN and must reach MAX


def _photo(image: Any) -> np.ndarray:
    """The upload (a :class:`~symmflow.processing.NamedFile`), a path, PIL image or array -> RGB
    ``uint8``, at most :data:`MAX_SIDE` on its long side; one under :data:`MIN_SIDE` on its short
    side as uploaded is refused. The input layer checks the size from the header and converts
    palette, CMYK and 16-bit images properly."""
    if image is None:
        raise InputError("Upload a photo (or pick an example) first.")
    try:
        rgb = read_rgb(image, max_pixels=MAX_PIXELS)
    except (ValueError, FileNotFoundError) as err:
        raise InputError(f"This file cannot be used as a photo: {err}") from None
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:  # the size uploaded, before any shrinking
        raise InputError(f"This photo is only {w}x{h} pixels: too small to hold a face (at least {MIN_SIDE}x{MIN_SIDE}).")
    if max(h, w) > MAX_SIDE:
        scale = MAX_SIDE / max(h, w)
        rgb = resize_rgb(rgb, (max(1, round(h * scale)), max(1, round(w * scale))))
    return rgb


def _uncertainty_samples(value: Any) -> int:
    """The uncertainty slider's value (a float, or anything through the API) -> ``K``: 0 (off) or
    :data:`MIN_UNCERTAINTY_SAMPLES` .. :data:`MAX_UNCERTAINTY_SAMPLES`, else an InputError."""
    if value is None or value == 0:
        return 0
    return check_count(value, MIN_UNCERTAINTY_SAMPLES, MAX_UNCERTAINTY_SAMPLES, rule=(  # told with what 0 and 1 mean here
        f"The number of uncertainty samples must be 0 (off) or a whole number between {MIN_UNCERTAINTY_SAMPLES} "
        f"and {MAX_UNCERTAINTY_SAMPLES} (one sample cannot disagree with itself)"
    ))


def _no_face(err: NoFaceError) -> InputError:
    """The library's refusal of a photo without a face to align, naming the choices as the radio
    buttons show them (the library names its modes, which the user never sees)."""
    detail = err.detail
    label = {mode: text for text, mode in ALIGN.items()}
    return InputError(f"{detail[0].upper()}{detail[1:]}; pick \"{label['auto']}\" or \"{label['whole']}\" under \"{ALIGN_LABEL}\".")


def segment_photo(
    image: Any, steps: float, seed: float, align: str = next(iter(ALIGN)), uncertainty: float = 0,
) -> Iterator[tuple[Any, ...]]:
    """Yield (emerging masks of the aligned faces, final mask, overlay with the faces found,
    classes found, state) as the flow runs.

    ``uncertainty``: ``K`` posterior samples of each face (0: none; else 2..16), drawn in one batch
    at ``steps`` (at least 2) Euler steps; their per-pixel disagreement on the whole photo goes
    into ``state["uncertainty"]`` as a heat map (:func:`show_uncertainty` shows it)."""
    steps_i = check_count(steps, 1, MAX_STEPS)
    seed_i = check_seed(seed)
    samples = _uncertainty_samples(uncertainty)
    if align not in ALIGN:
        raise InputError(f"Alignment must be one of: {'; '.join(ALIGN)}; got {align!r}.")
    photo = _photo(image)
    pipe = faces_pipeline()
    try:
        aligned = align_photo(photo, ALIGN[align], size=pipe.crop_size)
    except NoFaceError as err:
        raise _no_face(err) from None
    for message in aligned.messages:
        gr.Warning(message)
    pacer = FramePacer()
    for frame in locked_steps(pipe.segment_stream(list(aligned.crops), steps=steps_i, seed=seed_i)):
        if not frame.is_final and pacer.due():
            yield tile(frame.images), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    out = frame.output
    result = aligned.paste(np.stack(out.class_maps))
    mask = pipe.palette.colorize(result.labels)
    overlay = draw_faces((0.55 * photo + 0.45 * mask).astype(np.uint8), result.faces)
    areas = np.bincount(result.labels.ravel(), minlength=pipe.num_classes) / result.labels.size
    # the class mIoU leaves out (CelebA background, COCO unlabeled) says nothing about the photo
    found = {pipe.class_names[k]: float(a) for k, a in enumerate(areas) if a > 0 and k != pipe.palette.ignore_index}
    # the edit round trip works on the first (largest) face's aligned crop: its mask and the
    # photo noise the reverse flow recovered there
    state = {"noise": out.image_noise[:1], "class_map": out.class_maps[0], "crop": aligned.crops[0], "uncertainty": None}
    if samples:
        # more than one step samples the posterior (one step returns its mean, the same every time)
        with MODEL_LOCK:
            spread = photo_uncertainty(pipe, aligned.crops, aligned.matrices, photo.shape, samples,
                                       steps=steps_i if steps_i > 1 else SAMPLE_STEPS, seed=seed_i)
        state["uncertainty"] = heat_map(spread, samples)
    yield tile(frame.images), mask, overlay, found, state


def show_uncertainty(state: dict | None) -> np.ndarray | None:
    """The last segmentation's uncertainty heat map (black: its samples agree), or None."""
    return (state or {}).get("uncertainty")


def send_to_paint(state: dict | None) -> tuple[dict, dict, Any]:
    """The segmentation as the paint tab's canvas (with the photo's noise kept for editing)."""
    if not state:
        raise InputError("Segment a photo first, then send its mask to the paint tab.")
    ids = state["class_map"]
    if max(ids.shape) > CANVAS:  # the canvas is small; the noise keeps the photo's detail anyway
        scale = CANVAS / max(ids.shape)
        ids = resize_labels(ids, (max(1, round(ids.shape[0] * scale)), max(1, round(ids.shape[1] * scale))), mode="majority")
    mask = faces_pipeline().palette.colorize(ids)
    return {"background": mask, "layers": [], "composite": mask}, {**state, "class_map": ids}, gr.Tabs(selected="paint")


def build(blocks: gr.Blocks, canvas: gr.ImageEditor, recovered: gr.State, tabs: gr.Tabs) -> None:
    gr.Markdown(
        "Upload a photo: its faces are found (green boxes, red eyes) and each is aligned as the model's training "
        "faces were (CelebA-HQ's framing); the reverse flow turns label noise into a **colour mask** of each face "
        "(t = 1 -> 0) while the photo dissolves, and the masks go back onto the whole photo. Then *Edit this mask*: "
        "the first face's aligned mask goes to the paint tab; where you did not repaint, the regenerated portrait is held "
        "at every step on the path from the photo's recovered noise to the photo, so it ends as the photo there. "
        "The uncertainty map shows where posterior samples of the mask (more than one step each) disagree."
    )
    last = gr.State(None)
    with gr.Row():
        with gr.Column():
            # the file as uploaded (image_mode None: Gradio must not convert it first), read by _photo
            photo = ImageFile(label="photo", type="filepath", image_mode=None, sources=("upload", "clipboard"), height=VIEW, elem_id="segment-photo")
            steps = gr.Slider(
                1, MAX_STEPS, value=faces_pipeline().default_steps["segment"], step=1, label="ODE steps",
                info="1 step returns the posterior mean of the mask (the best reading); more steps draw a sample and show it emerge",
            )
            seed = SeedNumber(value=0, precision=0, minimum=0, label="seed")
            align = gr.Radio(list(ALIGN), value=next(iter(ALIGN)), label=ALIGN_LABEL)
            # steps of MIN from 0: off, then 2, 4, .. 16, never the 1 refused (MAX is a multiple of MIN)
            uncertainty = gr.Slider(
                0, MAX_UNCERTAINTY_SAMPLES, value=8, step=MIN_UNCERTAINTY_SAMPLES, label="uncertainty samples (0: off)",
                info=f"posterior samples of each face, at the ODE steps above ({SAMPLE_STEPS} if 1); the map shows where they disagree",
            )
            run = gr.Button("Segment", variant="primary", elem_id="segment-run")
            if EXAMPLES:
                gr.Examples([[str(p)] for p in EXAMPLES], inputs=[photo], label="example portraits", examples_per_page=8)
        with gr.Column():
            live = gr.Image(label="the aligned faces' masks emerging", type="numpy", interactive=False, height=VIEW)
            with gr.Row():
                final = gr.Image(label="segmentation", type="numpy", interactive=False, height=VIEW, elem_id="segment-final")
                overlay = gr.Image(label="overlay, faces found", type="numpy", interactive=False, height=VIEW)
                spread = gr.Image(
                    label="uncertainty (black: the samples agree; bright: they disagree)", type="numpy", interactive=False,
                    height=VIEW, elem_id="segment-uncertainty",
                )
            found = gr.Label(label="classes found (share of the image)", num_top_classes=19)
            edit = gr.Button("Edit this mask in the paint tab")
    run.click(
        gpu(segment_photo), [photo, steps, seed, align, uncertainty], [live, final, overlay, found, last], api_name="segment_photo",
        concurrency_id=FACES_QUEUE, concurrency_limit=1,  # the face model's queue, shared with portraits
    ).success(show_uncertainty, last, spread, api_name=False)
    edit.click(send_to_paint, [last], [canvas, recovered, tabs], api_name=False)
