"""Real handwritten digits that ship inside scikit-learn: ``load_digits`` (1,797 images, 8x8).

The split is fixed and documented: for each class, the last 30% of its images by index
form the test set (539 images), the rest the training set (1,258). Nothing is downloaded.

Images are 8x8 with 17 grey levels (0..16), white strokes on black. The models see them
at ``size`` (8 by default: the native size; larger sizes are bilinear) in ``[-1, 1]``; a digit drawn in the app goes through
:func:`symmflow.processing.preprocess_drawing`, which makes it look like the training digits.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = ["DIGITS_TEST_FRACTION", "DigitsDataset", "digits_split", "digits_to_tensor"]

DIGITS_TEST_FRACTION = 0.3


def _load() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError("the digits data set ships with scikit-learn: pip install scikit-learn") from err
    data = load_digits()
    return data.images.astype(np.float32), data.target.astype(np.int64)


def digits_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images [N, 8, 8] float32 in 0..16, labels [N] int64)`` of ``"train"``, ``"test"`` or ``"all"``."""
    images, labels = _load()
    if split == "all":
        return images, labels
    if split not in ("train", "test"):
        raise ValueError(f"unknown digits split {split!r}; choose 'train', 'test' or 'all'")
    test = np.zeros(len(labels), dtype=bool)
    for k in range(10):
        idx = np.flatnonzero(labels == k)
        test[idx[len(idx) - int(round(DIGITS_TEST_FRACTION * len(idx))) :]] = True
    keep = test if split == "test" else ~test
    return images[keep], labels[keep]


def digits_to_tensor(images: np.ndarray, size: int = 8) -> torch.Tensor:
    """8x8 digits in 0..16 ``[N, 8, 8]`` -> ``[N, 1, size, size]`` float32 in ``[-1, 1]`` (bilinear)."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 8, 8) / 8.0 - 1.0
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(-1, 1)


class DigitsDataset(Dataset):
    """Items ``{"image": [1, size, size] in [-1, 1], "label": int64 scalar}`` of a fixed split."""

    def __init__(self, split: str = "train", size: int = 8) -> None:
        images, labels = digits_split(split)
        self.images = digits_to_tensor(images, size)
        self.labels = torch.from_numpy(labels)
        self.split = split

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "label": self.labels[index]}

