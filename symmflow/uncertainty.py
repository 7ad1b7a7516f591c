"""Segmentation uncertainty: how much posterior samples of a mask disagree, pixel by pixel.

The reverse flow (``t = 1 -> 0``: label noise -> label while the image dissolves) in ONE Euler step
returns the posterior mean ``E[y | x]``: that stays the answer. More steps turn prediction into
sampling (README, "What is SymmFlow?"): each seed draws another mask from the posterior.
:func:`sample_masks` draws ``K`` of them in one batch, sample ``k``'s label noise from seed
``seed + k``; :func:`disagreement` scores each pixel by how many samples leave its most common
class, ``1 - votes / K``: 0 where all ``K`` agree, at most ``1 - 1/K``.

Example::

    >>> out = segment_with_uncertainty(pipe, photo, samples=8, steps=5, seed=0)
    >>> out.class_maps[0].shape, out.uncertainty[0].max() <= 1 - 1 / 8
    ((H, W), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from symmflow.alignment import paste_labels
from symmflow.pipeline import SegmentationPipeline
from symmflow.solver import SOLVER_METHODS
from symmflow.validation import check_seed, check_steps

__all__ = ["MAX_SAMPLES", "SAMPLE_STEPS", "UncertaintyOutput", "disagreement", "heat_map", "paste_uncertainty",
           "photo_uncertainty", "sample_masks", "segment_with_uncertainty"]

SAMPLE_STEPS = 5
"""Default Euler steps of each posterior sample (at least 2: one step returns the mean, not a sample)."""
MAX_SAMPLES = 64


@dataclass
class UncertaintyOutput:
    """Per input image, at the input's own size ``[H, W]``:

    Attributes:
        class_maps: ``int64 [H, W]``: the answer, the one-step posterior mean.
        uncertainty: ``float32 [H, W]`` in ``[0, 1 - 1/K]``: the samples' disagreement.
        samples: ``int64 [K, H, W]``: the ``K`` posterior samples' class maps.
        nfe: network evaluations (answer and samples; each sample's evaluations are batched).
    """

    class_maps: list[np.ndarray]
    uncertainty: list[np.ndarray]
    samples: list[np.ndarray]
    nfe: int


def _check_samples(samples: int) -> int:
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or not 1 <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples must be an integer from 1 to {MAX_SAMPLES}, got {samples!r}")
    return int(samples)


def disagreement(samples: np.ndarray) -> np.ndarray:
    """``K`` class maps ``int [K, H, W]`` -> ``float32 [H, W]``: ``1 - votes / K``, where ``votes``
    is how many samples give the pixel its most common class. 0 where all agree."""
    maps = np.asarray(samples)
    if maps.ndim != 3 or maps.shape[0] < 1 or not np.issubdtype(maps.dtype, np.integer):
        raise ValueError(f"samples must be integer class maps [K, H, W] with K >= 1, got {maps.dtype} {list(maps.shape)}")
    ordered = np.sort(maps, axis=0)
    run = best = np.ones(maps.shape[1:], np.int64)
    for k in range(1, len(ordered)):  # the longest run of equal classes in the sorted votes
        run = np.where(ordered[k] == ordered[k - 1], run + 1, 1)
        best = np.maximum(best, run)
    return (1.0 - best / len(maps)).astype(np.float32)


@torch.no_grad()
def sample_masks(
    pipe: SegmentationPipeline, images: Any, samples: int = 8, *, steps: int = SAMPLE_STEPS, seed: int = 0,
    solver: str = "euler", mirror: bool | None = None, min_region: int | None = None,
) -> tuple[list[np.ndarray], int]:
    """``K`` posterior samples of each image's class map, in one batch of ``K x B``.

    Sample ``k`` draws its label noise from seed ``seed + k``, so for a pixel model it is exactly
    ``pipe.segment(images, steps=steps, seed=seed + k)``; a latent model encodes each image once
    (a VAE sample drawn with ``seed``) for all ``K``.

    Args:
        images: as :meth:`~symmflow.pipeline.SegmentationPipeline.segment`.
        samples: ``K``, 1..:data:`MAX_SAMPLES`. One sample is a mask drawn from the posterior
            (useful in itself); its disagreement map is zero everywhere, which is why the app and
            the CLI ask for at least 2 when they show uncertainty.
        steps: Euler steps per sample, at least 2 (one step returns the posterior mean, the same
            for every seed).
        mirror: the field to sample, as in ``pipe.segment`` (:meth:`~symmflow.pipeline.SegmentationPipeline.label_velocity`).
        min_region: the regions removed from each sample's class map, as in ``pipe.segment``
            (default: the config's).

    Returns:
        per image ``int64 [K, H, W]`` at its own size, and the network evaluations.
    """
    if not isinstance(pipe, SegmentationPipeline):
        raise ValueError(f"uncertainty needs a segmentation pipeline, got a {type(pipe).__name__}")
    k = _check_samples(samples)
    if check_steps(steps) < 2:
        raise ValueError(f"posterior samples need at least 2 steps (1 step returns the posterior mean), got {steps}")
    if solver not in SOLVER_METHODS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVER_METHODS)}")
    seed = check_seed(seed)
    min_region = pipe.resolve_min_region(min_region)
    velocity = pipe.label_velocity(mirror)
    states, sizes = pipe.reverse_states(images, steps, solver, torch.Generator().manual_seed(seed), velocity,
                                        noise_seeds=[seed + j for j in range(k)])
    *_, last = states
    masks = last.y if pipe.vae is None else pipe.decode_half(last.y, True)
    b = len(sizes)
    maps = [np.stack([pipe.decode_class_map(masks[j * b + i], h, w, min_region) for j in range(k)])
            for i, (h, w) in enumerate(sizes)]
    return maps, last.nfe


def segment_with_uncertainty(
    pipe: SegmentationPipeline, images: Any, samples: int = 8, *, steps: int = SAMPLE_STEPS, seed: int = 0,
    solver: str = "euler", mirror: bool | None = None, min_region: int | None = None,
) -> UncertaintyOutput:
    """Images -> the one-step answer, ``K`` posterior samples and their per-pixel disagreement.

    Args: as :func:`sample_masks`; the answer is ``pipe.segment(images, steps=1, seed=seed, mirror=mirror,
    min_region=min_region)``.
    """
    drawn, nfe = sample_masks(pipe, images, samples, steps=steps, seed=seed, solver=solver, mirror=mirror,
                              min_region=min_region)
    answer = pipe.segment(images, steps=1, seed=seed, solver=solver, output_type="np", mirror=mirror, min_region=min_region)
    return UncertaintyOutput(answer.class_maps, [disagreement(m) for m in drawn], drawn, nfe + answer.nfe)


def paste_uncertainty(maps: np.ndarray, matrices: np.ndarray, shape: tuple[int, ...], samples: int) -> np.ndarray:
    """Aligned crops' disagreement maps ``(N, S, S)`` (multiples of ``1/K``) -> the whole photo's
    ``float32 (H, W)``, placed as :func:`~symmflow.alignment.paste_labels` places class maps (0
    outside every crop). ``matrices``: the crops' photo -> crop maps ``(N, 2, 3)``."""
    k = _check_samples(samples)
    votes = np.rint(np.asarray(maps, np.float64) * k).astype(np.int64)  # exact: u = (K - votes) / K
    return (paste_labels(votes, matrices, shape) / k).astype(np.float32)


def photo_uncertainty(
    pipe: SegmentationPipeline, crops: np.ndarray, matrices: np.ndarray, shape: tuple[int, ...], samples: int = 8, *,
    steps: int = SAMPLE_STEPS, seed: int = 0, solver: str = "euler", mirror: bool | None = None,
    min_region: int | None = None,
) -> np.ndarray:
    """The disagreement of ``K`` posterior samples of a photo's aligned crops (``(N, S, S, 3)``
    ``uint8``, with their photo -> crop ``matrices``, as :func:`~symmflow.alignment.align_photo`
    gives them), on the whole photo of ``shape``: ``float32 (H, W)``, 0 outside every crop."""
    drawn, _ = sample_masks(pipe, list(crops), samples, steps=steps, seed=seed, solver=solver, mirror=mirror,
                            min_region=min_region)
    return paste_uncertainty(np.stack([disagreement(m) for m in drawn]), matrices, shape, samples)


_HEAT = np.array([[0, 0, 0], [90, 20, 120], [220, 60, 60], [255, 200, 40], [255, 255, 220]], np.float64)


def heat_map(uncertainty: np.ndarray, samples: int) -> np.ndarray:
    """``float [H, W]`` disagreement -> ``uint8 [H, W, 3]``: black where all ``K`` samples agree,
    through purple, red and yellow to white at the most possible, ``1 - 1/K``."""
    k = _check_samples(samples)
    top = max(1.0 - 1.0 / k, 1e-6)
    u = np.clip(np.asarray(uncertainty, np.float64) / top, 0.0, 1.0) * (len(_HEAT) - 1)
    return np.stack([np.interp(u, np.arange(len(_HEAT)), _HEAT[:, c]) for c in range(3)], axis=-1).round().astype(np.uint8)
