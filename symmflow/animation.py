"""Trajectory animations: the frames of a flow as an animated GIF."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["save_gif", "tile"]


def tile(images: Sequence[np.ndarray], columns: int | None = None) -> np.ndarray:
    """Place equally sized RGB arrays ``[H, W, 3]`` on a grid (row-major), black padding."""
    if not images:
        raise ValueError("no images to tile")
    h, w = images[0].shape[:2]
    cols = columns or len(images)
    rows = -(-len(images) // cols)
    grid = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    return grid


def save_gif(
    frames: Sequence[np.ndarray],
    path: str | os.PathLike,
    min_size: int = 256,
    frame_ms: int = 80,
    hold_last_ms: int = 1200,
) -> Path:
    """Write RGB frames ``[H, W, 3]`` as a looping GIF, enlarged (nearest) so the short side is >= ``min_size``.

    Frames may differ in size (latent previews are smaller than the decoded last frame); each
    is scaled to the size of the last one. The file appears only once complete.
    """
    if not frames:
        raise ValueError("no frames to animate")
    path = Path(path)
    last = frames[-1]
    scale = max(1, -(-min_size // min(last.shape[:2])))
    size = (last.shape[1] * scale, last.shape[0] * scale)
    images = [Image.fromarray(f).resize(size, Image.Resampling.NEAREST) for f in frames]
    durations = [frame_ms] * (len(images) - 1) + [hold_last_ms]
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    os.replace(tmp, path)
    return path
