"""Matplotlib helpers shared by every figure the package draws."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["figure_to_array", "new_figure"]


def new_figure(**kwargs) -> Figure:
    """A figure outside pyplot's global registry: safe to draw from several threads at once
    (the app renders frames for concurrent sessions) and never left open."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def figure_to_array(fig: Figure) -> np.ndarray:
    """Rasterise a figure to an RGB ``uint8`` array ``[H, W, 3]``."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
