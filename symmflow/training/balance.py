"""Class balancing of the label loss: rare classes weigh more, so macro mIoU is trained for.

The paper's loss is a plain mean over label pixels. Segmentation is scored by the mean IoU
over classes, in which a part of 15 pixels in a quarter of the faces (a mouth) counts as
much as the skin or the hair; under a plain mean its channel barely moves the loss and a
small model learns to never predict it. Weighting each pixel's label error by its true class,
``w_k = f_k ** -exponent`` (``f_k``: the class's share of the training pixels), is the
frequency balancing of SegNet and its successors (``exponent`` 1: median-frequency-like
inverse weights; 0.5: square-root balancing, milder).

The weights are normalised so that ``sum_k f_k w_k = 1``: on the training distribution the
mean weight is 1 (up to the sampling of the estimate, and the fill pixels augmentation adds),
and the loss keeps its scale (and ``image_weight`` its meaning). Where the
label half is clean (``t = 0``) the best velocity is the same under any weight; where it is
noise (``t = 1``) the weighted optimum is the class posterior re-weighted by ``w``, i.e. a
prior shifted toward rare classes, which is what a macro average rewards.

The same weights can weigh the image half's per-pixel errors by the class under each pixel
(``train.image_balance``, its own exponent): a generated mouth, earring or necklace is only
read back if the generator draws it, and under a plain mean its few pixels barely move the
image loss either.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["class_balance_weights", "class_frequencies"]


def class_frequencies(dataset: Dataset, num_classes: int, count: int = 512) -> torch.Tensor:
    """Each class's share of the label pixels of ``count`` items spread evenly over ``dataset``.

    Args:
        dataset: items with a ``class_map`` (int64 ``[H, W]``, ids in ``[0, num_classes)``).
        num_classes: ``K``.
        count: items to read (all of them if the dataset is smaller).

    Returns:
        float64 ``[K]``, summing to 1.
    """
    if len(dataset) == 0:
        raise ValueError("cannot measure class frequencies of an empty dataset")
    indices = np.unique(np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int))
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for i in indices.tolist():
        ids = torch.as_tensor(dataset[i]["class_map"]).long().flatten()
        if ids.numel() and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"item {i} holds class ids outside [0, {num_classes}): {ids.min().item()}..{ids.max().item()}")
        counts += torch.bincount(ids, minlength=num_classes).double()
    return counts / counts.sum()


def class_balance_weights(frequencies: torch.Tensor, exponent: float) -> torch.Tensor:
    """Per-class weights ``w_k`` proportional to ``f_k ** -exponent``, with ``sum_k f_k w_k = 1``.

    Args:
        frequencies: ``[K]`` class shares (non-negative, not all zero), as from
            :func:`class_frequencies`.
        exponent: ``0`` gives all ones (the paper's plain mean); ``0.5`` square-root
            balancing; ``1`` inverse frequency. In ``[0, 1]``.

    Returns:
        float32 ``[K]``. A class never seen in the sample gets the largest weight of the
        seen ones (it is at least as rare as the rarest).
    """
    if not 0.0 <= exponent <= 1.0:
        raise ValueError(f"the class-balance exponent must lie in [0, 1], got {exponent}")
    f = torch.as_tensor(frequencies, dtype=torch.float64)
    if f.dim() != 1 or not torch.isfinite(f).all() or (f < 0).any() or not f.sum() > 0:
        raise ValueError(f"frequencies must be a finite, non-negative [K] vector with a positive sum, got {f.tolist()}")
    f = f / f.sum()
    seen = f > 0
    w = torch.zeros_like(f)
    w[seen] = f[seen] ** -exponent
    w[~seen] = w[seen].max()
    return (w / (f * w).sum()).float()
