"""Training-time augmentation of (image, label map) batches; the label map moves with the image.

Every draw comes from the caller's ``torch.Generator``, so a resumed run repeats the same
augmentations (see ``symmflow.training.trainer``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["check_affine", "random_affine", "random_shift"]


def check_affine(degrees: float = 0.0, scale: float = 0.0, translate: float = 0.0) -> None:
    """Raise ``ValueError`` unless the ranges of :func:`random_affine` make sense."""
    try:
        ok = degrees >= 0 and translate >= 0 and 0 <= scale < 1
    except TypeError:
        ok = False
    if not ok or any(isinstance(v, bool) for v in (degrees, scale, translate)):
        raise ValueError(
            f"affine augmentation needs numbers with degrees >= 0, translate >= 0 and 0 <= scale < 1; "
            f"got degrees={degrees!r}, scale={scale!r}, translate={translate!r}"
        )


def random_shift(
    images: torch.Tensor, maps: torch.Tensor | None, shift: int, generator: torch.Generator, fill: int = 0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Shift each sample by up to ``shift`` whole pixels.

    Args:
        images: ``[B, C, H, W]`` in ``[-1, 1]`` (uncovered pixels: -1, black).
        maps: class ids ``[B, H, W]`` or ``None``.
        fill: the class of uncovered label pixels: the palette's background or, where it has
            one, its ignored class (COCO-Stuff: 171, unlabeled; class 0 there is a person).
    """
    b, _, h, w = images.shape
    pad = F.pad(images, (shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * shift + 1, (b, 2), generator=generator).tolist()
    out = torch.stack([pad[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])
    if maps is None:
        return out, None
    pad_m = F.pad(maps, (shift,) * 4, value=fill)
    return out, torch.stack([pad_m[i, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])


def random_affine(
    images: torch.Tensor,
    maps: torch.Tensor | None,
    generator: torch.Generator,
    degrees: float = 0.0,
    scale: float = 0.0,
    translate: float = 0.0,
    fill: int = 0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random rotation, zoom and sub-pixel shift of each sample (one affine map per sample).

    Handwriting varies by slant, size and position far more than by anything else, which is
    what a few hundred training digits per class cannot cover on their own.

    Args:
        images: ``[B, C, H, W]`` in ``[-1, 1]``; resampled bilinearly, outside filled with -1.
        maps: class ids ``[B, H, W]`` (nearest neighbour) or ``None``.
        degrees: rotation drawn from ``U(-degrees, degrees)``.
        scale: zoom factor drawn from ``U(1 - scale, 1 + scale)``; must be < 1.
        translate: shift drawn from ``U(-translate, translate)`` in pixels, per axis.
        fill: the class of label pixels that come from outside the map (see :func:`random_shift`).
    """
    check_affine(degrees, scale, translate)
    b, _, h, w = images.shape
    u = torch.rand(b, 4, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    zoom = 1.0 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output coordinates in [-1, 1] to input coordinates: a pixel is 2/size wide
    theta = torch.stack([
        torch.stack([cos, -sin, u[:, 2] * translate * 2 / w], dim=1),
        torch.stack([sin, cos, u[:, 3] * translate * 2 / h], dim=1),
    ], dim=1).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample pads with 0; shift to make the fill -1 (black background)
    out = F.grid_sample(images + 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1.0
    if maps is None:
        return out, None
    # grid_sample fills with 0: sample the offset from ``fill`` so that outside becomes ``fill``
    moved = F.grid_sample((maps - fill)[:, None].to(images.dtype), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out, moved[:, 0].round().to(maps.dtype) + fill
