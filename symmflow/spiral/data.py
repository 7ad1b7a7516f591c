"""The spiral data set, generated as in the authors' notebook."""

from __future__ import annotations

import math

import torch

from symmflow.codecs import ClassCodec

__all__ = ["SPIRAL_CODEC", "arm_curves", "make_spirals", "nearest_arm"]

SPIRAL_CODEC = ClassCodec(num_classes=2, beta=2.0, shape=(1,))
"""Class 0 (first arm) <-> label -1, class 1 (second arm) <-> +1, dequantized with U(-0.5, 0.5)."""


def arm_curves(n: int, separation: float = 0.5) -> torch.Tensor:
    """The noise-free arms, shape ``[2, n, 2]``: ``theta = sqrt(linspace(0, 4 pi, n))``,
    ``r = linspace(0, 1, n)``; arm 2 is arm 1 turned by pi and shifted by ``(separation, 0)``."""
    theta = torch.sqrt(torch.linspace(0, 4 * math.pi, n))
    r = torch.linspace(0, 1, n)
    arm1 = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)
    arm2 = torch.stack([r * torch.cos(theta + math.pi), r * torch.sin(theta + math.pi)], dim=1)
    return torch.stack([arm1, arm2 + torch.tensor([separation, 0.0])])


def make_spirals(
    size: int,
    noise: float = 0.1,
    separation: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` points, half on each arm, with Gaussian jitter of std ``noise``.

    Returns:
        points: ``[size, 2]`` float32, roughly in ``[-1.2, 1.7] x [-1.2, 1.2]``.
        labels: ``[size]`` int64 class ids, 0 for the first arm and 1 for the second.
    """
    if size < 2 or size % 2:
        raise ValueError(f"size must be an even number >= 2 (half the points per arm), got {size}")
    per_arm = size // 2
    points = arm_curves(per_arm, separation).reshape(-1, 2)
    points = points + noise * torch.randn(points.shape, generator=generator)
    labels = torch.arange(2).repeat_interleave(per_arm)
    return points, labels


def nearest_arm(points: torch.Tensor, separation: float = 0.5, resolution: int = 2000) -> torch.Tensor:
    """Class id ``[N]`` of the arm curve nearest each point ``[N, 2]`` (judges generated points)."""
    curves = arm_curves(resolution, separation)  # [2, R, 2]
    d = torch.cdist(points.float(), curves.reshape(-1, 2)).reshape(len(points), 2, resolution)
    return d.min(dim=2).values.argmin(dim=1)
