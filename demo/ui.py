"""Small helpers shared by the tabs: input checks that speak to people, frame conversion."""

from __future__ import annotations

import gradio as gr

SOLVER_CHOICES = [("Euler (1 network call per step)", "euler"), ("Heun (2nd order, 2 calls per step)", "heun")]
"""(label shown, value sent) pairs for a ``gr.Radio``: API clients send ``"euler"`` or ``"heun"``."""


def check_steps(steps: float | int | None, low: int, high: int) -> int:
    """Slider values arrive as floats, or as anything at all through the API."""
    try:
        value = int(steps)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise gr.Error(f"The number of steps must be a whole number between {low} and {high}.") from None
    if value != steps or not low <= value <= high:
        raise gr.Error(f"The number of steps must be a whole number between {low} and {high}; got {steps}.")
    return value


def check_seed(seed: float | int | None) -> int:
    try:
        value = int(seed) if seed is not None else 0
    except (TypeError, ValueError):
        raise gr.Error("The seed must be a whole number.") from None
    if not 0 <= value < 2**31:
        raise gr.Error(f"The seed must lie between 0 and {2**31 - 1}; got {seed}.")
    return value


def check_solver(value: str) -> str:
    if value not in {v for _, v in SOLVER_CHOICES}:
        raise gr.Error(f"Unknown solver {value!r}; choose 'euler' or 'heun'.")
    return value
