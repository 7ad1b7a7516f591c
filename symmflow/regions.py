"""Regions of a class map: removing specks smaller than the model can draw.

A segmenter working at 64 px paints, now and then, a region of two or three of its pixels
of a class the photo does not hold: a fleck of ``mouth`` between closed lips, of ``ear_r``
(earring) on an ear lobe. Such a region is below what the model can place, and in a
macro mean it costs a whole class (IoU 0 for a class no truth holds).

* :func:`small_regions` marks the 8-connected regions of one class under ``min_area`` pixels;
* :func:`fill_regions` grows the regions around marked pixels into them;
* :func:`remove_small_regions` does both on one map.

The pipelines find the small regions on the model's own grid (``PipelineConfig.min_region``
pixels at ``image_size``; 0, the default, keeps every region) and refill their footprint on the
output, whatever its size (:meth:`~symmflow.pipeline.SegmentationPipeline.decode_class_map`).
The shipped face model sets 4: the smallest whole part its training faces draw at 64 px is an
earring of 4 pixels, so no region of a size the model learnt to draw is removed.
"""

from __future__ import annotations

import numbers

import cv2
import numpy as np

__all__ = ["fill_regions", "remove_small_regions", "small_regions"]

_NEIGHBOURS = np.ones((3, 3), np.float32)


def _check_map(class_map) -> np.ndarray:
    ids = np.asarray(class_map)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"class_map must be a 2-D integer class-id map [H, W], got {ids.dtype} {list(ids.shape)}")
    if ids.size and ids.min() < 0:
        raise ValueError(f"class ids must be >= 0, got {ids.min()}")
    return ids


def small_regions(class_map: np.ndarray, min_area: float) -> np.ndarray:
    """Class ids ``int [H, W]`` -> ``bool [H, W]``: the pixels of 8-connected regions of one
    class smaller than ``min_area`` pixels (none when ``min_area`` <= 1).

    Raises:
        ValueError: ``class_map`` is not a 2-D integer map with ids >= 0, or ``min_area`` is
            not a number >= 0.
    """
    ids = _check_map(class_map)
    whole = isinstance(min_area, (numbers.Integral, np.integer)) and not isinstance(min_area, bool)
    real = isinstance(min_area, (numbers.Real, np.floating)) and not isinstance(min_area, bool)
    if not (whole and min_area >= 0 or real and np.isfinite(min_area) and min_area >= 0):
        raise ValueError(f"min_area must be a number of pixels >= 0, got {min_area!r}")
    small = np.zeros(ids.shape, bool)
    if min_area <= 1:
        return small
    for c in np.unique(ids):
        _, regions, stats, _ = cv2.connectedComponentsWithStats((ids == c).astype(np.uint8), connectivity=8)
        too_small = stats[:, cv2.CC_STAT_AREA] < min_area
        too_small[0] = False  # label 0: the pixels of other classes
        small |= too_small[regions]
    return small


def fill_regions(class_map: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Class ids ``int [H, W]`` -> a copy in which the ``missing`` pixels (``bool [H, W]``) are
    given to the regions around them.

    Each connected patch of missing pixels is filled from its rim inwards, a ring at a time:
    a missing pixel next to filled or kept ones takes the class most of its 8 neighbours have
    (on a tie, the lowest id). A 2-pixel fleck thus takes the class around it; a larger hole is
    shared by the regions around it. A patch with no rim (the whole map) is kept as it is. The
    work is done in each patch's bounding box, so a few specks cost little on any map size.
    """
    ids = _check_map(class_map)
    holes = np.asarray(missing)
    if holes.shape != ids.shape or holes.dtype != bool:
        raise ValueError(f"missing must be a bool mask of the map's shape {list(ids.shape)}, got {holes.dtype} {list(holes.shape)}")
    out = ids.copy()
    if not holes.any() or holes.all():
        return out
    h, w = ids.shape
    count, patches, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=8)
    for j in range(1, count):
        x, y, bw, bh = stats[j, :4]
        box = slice(max(y - 1, 0), min(y + bh + 1, h)), slice(max(x - 1, 0), min(x + bw + 1, w))
        sub, todo = out[box], patches[box] == j  # sub: a view, filled in place
        # other patches never touch this one (they would be one patch), so every neighbour of a
        # pixel still to do is kept or already filled
        rim = cv2.dilate(todo.astype(np.uint8), _NEIGHBOURS.astype(np.uint8)).astype(bool) & ~todo
        growing = np.unique(sub[rim])
        while growing.size and todo.any():
            votes = np.stack([cv2.filter2D(((sub == c) & ~todo).astype(np.float32), -1, _NEIGHBOURS,
                                           borderType=cv2.BORDER_CONSTANT) for c in growing])
            grow = todo & (votes.max(0) > 0)
            sub[grow] = growing[votes.argmax(0)[grow]]
            todo &= ~grow
    return out


def remove_small_regions(class_map: np.ndarray, min_area: float) -> np.ndarray:
    """Class ids ``int [H, W]`` -> a copy without regions of one class smaller than
    ``min_area`` pixels: :func:`fill_regions` of :func:`small_regions`. Every region left holds
    a kept one, so none is under ``min_area``; when no region is as large (a tiny map), the map
    is returned as it is. ``min_area`` <= 1 keeps everything."""
    return fill_regions(class_map, small_regions(class_map, min_area))
