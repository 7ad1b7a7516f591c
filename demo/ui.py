"""Small helpers shared by the tabs: input checks that speak to people, frame conversion."""

from __future__ import annotations

import time

import gradio as gr

SOLVER_CHOICES = [("Euler (1 network call per step)", "euler"), ("Heun (2nd order, 2 calls per step)", "heun")]
"""(label shown, value sent) pairs for a ``gr.Radio``: API clients send ``"euler"`` or ``"heun"``."""


def check_count(steps: float | int | None, low: int, high: int, what: str = "number of steps") -> int:
    """A whole number in ``[low, high]`` from a slider (a float), or from anything at all
    through the API, else a ``gr.Error`` naming ``what`` and the range (the app's messages;
    :func:`symmflow.validation.check_steps` is the library's)."""
    try:
        value = int(steps)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise gr.Error(f"The {what} must be a whole number between {low} and {high}.") from None
    if value != steps or not low <= value <= high:
        raise gr.Error(f"The {what} must be a whole number between {low} and {high}; got {steps}.")
    return value


def check_seed(seed: float | int | None) -> int:
    try:
        value = int(seed) if seed is not None else 0
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite seed sent through the API
        raise gr.Error("The seed must be a whole number.") from None
    if not 0 <= value < 2**31:
        raise gr.Error(f"The seed must lie between 0 and {2**31 - 1}; got {seed}.")
    return value


def check_solver(value: str) -> str:
    if value not in {v for _, v in SOLVER_CHOICES}:
        raise gr.Error(f"Unknown solver {value!r}; choose 'euler' or 'heun'.")
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


def editor_rgb(value, what: str = "canvas"):
    """An ImageEditor/Sketchpad value -> RGB ``uint8 [H, W, 3]``, transparent pixels as black
    (the background class), or a readable ``gr.Error``."""
    import numpy as np

    from symmflow.data.images import composite

    image = value.get("composite") if isinstance(value, dict) else value
    if image is None:
        raise gr.Error(f"The {what} is empty: paint a face mask or pick an example.")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0:
        raise gr.Error(f"The {what} did not arrive as an image (got an array of shape {list(arr.shape)}).")
    if arr.shape[2] == 4:
        return composite(arr.astype(np.uint8), background=0)
    return arr.astype(np.uint8)


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
