"""Small helpers shared by the tabs: input components that hand files over unread, input
checks that speak to people, frame conversion.

Every image input of the app is read by :mod:`symmflow.processing` (the pixel limit checked
from the header before decoding, the user's own file name in messages): the components
below pass uploads on as :class:`~symmflow.processing.NamedFile` instead of decoding them in
Gradio's preprocessing, where a decompression bomb would be decoded before any check and a
broken file would surface as Gradio's generic error.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from demo.cache import cache_folder
from symmflow.processing import NamedFile
from symmflow.solver import SOLVER_METHODS
from symmflow.validation import MAX_SEED

log = logging.getLogger("symmflow.app")

_SOLVER_LABELS = {"euler": "Euler (1 network call per step)", "heun": "Heun (2nd order, 2 calls per step)"}
SOLVER_CHOICES = [(_SOLVER_LABELS.get(m, m), m) for m in SOLVER_METHODS]
"""(label shown, value sent) pairs for a ``gr.Radio``: API clients send a name from
:data:`symmflow.solver.SOLVER_METHODS`."""

MAX_PIXELS = 16_000_000
"""The pixel limit of every image the app reads (photos, masks, drawings): 16 megapixels,
checked before decoding. The models work at 8-512 px; a larger upload only costs memory."""

MAX_UPLOAD = "25mb"
"""The largest file the app accepts (``launch(max_file_size=...)``): a 16-megapixel photo fits."""


class InputError(gr.Error):
    """A user's input refused: the message goes to the user, and one line to the server's log
    (``symmflow.app``), not a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message, print_exception=False)
        log.warning("input refused: %s", message)


def _named(file: Any) -> NamedFile | None:
    """An uploaded ``FileData`` (or the bytes of a chunked upload) -> a :class:`NamedFile`,
    without opening it."""
    if file is None:
        return None
    if isinstance(file, FileData) or hasattr(file, "path"):  # FileData, ImageData
        if file.path is None:
            raise InputError("The upload arrived without a file.")
        return NamedFile(str(file.path), Path(file.orig_name).name if file.orig_name else "the upload")
    # a blob the editor streamed in, kept in Gradio's cache: bounded and deleted with the rest
    (cache_folder() / "symmflow-blobs").mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(delete=False, suffix=".png", dir=cache_folder() / "symmflow-blobs") as f:
        f.write(bytes(file))
    return NamedFile(f.name, "the canvas")


class ImageFile(gr.Image):
    """A ``gr.Image`` whose handler gets the upload as a :class:`NamedFile`, unread."""

    def preprocess(self, payload: Any) -> NamedFile | None:  # type: ignore[override]
        return _named(payload)

    def get_block_name(self) -> str:  # the browser renders it as the Image it is
        return "image"


class _EditorFiles:
    """ImageEditor/Sketchpad preprocessing that hands over ``{"background", "layers",
    "composite"}`` as :class:`NamedFile` objects, unread: handlers read the composite only,
    so junk in the unused background or layers never fails a request."""

    def preprocess(self, payload: Any) -> dict[str, Any] | None:  # type: ignore[override]
        if payload is None:
            return None
        data = payload
        if payload.id is not None and (cached := self.blob_storage.pop(payload.id, None)) is not None:
            data = cached
        return {"background": _named(data.background), "layers": [_named(x) for x in data.layers or [] if x is not None],
                "composite": _named(data.composite)}

    def get_block_name(self) -> str:  # the browser renders it as the ImageEditor it is
        return "imageeditor"


class EditorFiles(_EditorFiles, gr.ImageEditor):
    pass


class SketchFiles(_EditorFiles, gr.Sketchpad):
    pass


class _QuietChecks:
    """Gradio's own checks of an input (a slider's bounds, a radio's or dropdown's choices, sent
    through the API) refused like the app's: an :class:`InputError`, one log line."""

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)  # type: ignore[misc]
        except InputError:
            raise
        except gr.Error as err:
            raise InputError(err.message) from None


class Slider(_QuietChecks, gr.Slider):
    pass


class Radio(_QuietChecks, gr.Radio):
    pass


class Dropdown(_QuietChecks, gr.Dropdown):
    pass


class SeedNumber(_QuietChecks, gr.Number):
    """A seed box that names NaN and infinite seeds (Gradio's own rounding would fail without a word)."""

    def preprocess(self, payload: float | None) -> float | int | None:
        if payload is not None and not math.isfinite(payload):
            raise InputError(f"The seed must be a whole number; got {payload}.")
        return super().preprocess(payload)

    def get_block_name(self) -> str:
        return "number"


def check_count(steps: float | int | None, low: int, high: int, what: str = "number of steps",
                rule: str | None = None) -> int:
    """A whole number in ``[low, high]`` from a slider (a float), or from anything at all
    through the API, else a ``gr.Error`` naming ``what`` and the range (the app's messages;
    :func:`symmflow.validation.check_steps` is the library's). ``rule``: the sentence a refusal
    says instead, where the range needs telling otherwise (it is followed by what came)."""
    try:
        value = int(steps)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite value sent through the API
        raise InputError(f"{rule}; got {steps!r}." if rule else f"The {what} must be a whole number between {low} and {high}.") from None
    if value != steps or not low <= value <= high:
        raise InputError(f"{rule}; got {steps!r}." if rule else f"The {what} must be a whole number between {low} and {high}; got {steps}.")
    return value


def check_seed(seed: float | int | None) -> int:
    try:
        value = int(seed) if seed is not None else 0
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite seed sent through the API
        raise InputError("The seed must be a whole number.") from None
    if isinstance(seed, float) and value != seed:  # 1.5 through the API: refused, not rounded down
        raise InputError(f"The seed must be a whole number; got {seed}.")
    if not 0 <= value <= MAX_SEED:
        raise InputError(f"The seed must lie between 0 and {MAX_SEED}; got {seed}.")
    return value


def check_solver(value: str) -> str:
    if value not in SOLVER_METHODS:
        raise InputError(f"Unknown solver {value!r}; choose one of {', '.join(SOLVER_METHODS)}.")
    return value


def palette_legend(palette) -> str:
    """HTML swatches naming every class colour of a palette (the brush's colours)."""
    names = {
        "eye_g": "eyeglasses", "l_eye": "left eye", "r_eye": "right eye", "l_brow": "left brow",
        "r_brow": "right brow", "l_ear": "left ear", "r_ear": "right ear", "u_lip": "upper lip",
        "l_lip": "lower lip", "ear_r": "earring", "neck_l": "necklace",
    }
    cells = []
    for name, (r, g, b) in zip(palette.class_names, palette.colors.tolist()):
        cells.append(
            f'<span style="display:inline-flex;align-items:center;margin:2px 10px 2px 0;font-size:13px">'
            f'<span style="width:14px;height:14px;border:1px solid #888;margin-right:4px;'
            f'background:rgb({r},{g},{b})"></span>{names.get(name, name)}</span>'
        )
    return '<div style="line-height:1.6">' + "".join(cells) + "</div>"


def editor_image(value: Any, empty: str) -> Any:
    """The image to read from an ImageEditor/Sketchpad value (its composite: a
    :class:`NamedFile` from the app, an array or PIL image from Python), or ``gr.Error(empty)``."""
    image = value.get("composite") if isinstance(value, dict) else value
    if image is None:
        raise InputError(empty)
    return image


def shown_steps(steps: int, most: int = 10) -> set[int]:
    """The steps of a ``steps``-step flow worth a frame: the start, the end and at most
    ``most - 1`` in between, evenly spaced (every step when there are few). Each frame sent
    is a file in Gradio's cache; a fast flow gains nothing from more."""
    if steps < most:
        return set(range(steps + 1))
    return {round(k * steps / most) for k in range(most + 1)}


class FramePacer:
    """Which intermediate frames of a flow to send to the browser.

    A small model takes a few milliseconds a step; sending every frame would cost more than
    the flow itself (encode, transfer, redraw). The first frame goes at once (the user sees
    the flow start), then at most one per ``interval`` seconds; the caller always sends the
    final frame.
    """

    def __init__(self, interval: float = 0.3) -> None:
        self.interval = interval
        self._last: float | None = None

    def due(self) -> bool:
        now = time.perf_counter()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True
