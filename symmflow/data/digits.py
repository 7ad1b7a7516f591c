"""Real handwritten digits that ship inside scikit-learn: ``load_digits`` (1,797 images, 8x8).

The split is fixed and documented: for each class, the last 30% of its images by index
form the test set (540 images), the rest the training set (1,257). Nothing is downloaded.

Images are 8x8 with 17 grey levels (0..16), white strokes on black. The models see them
upsampled to ``size`` (16 by default) in ``[-1, 1]``; a digit drawn in the app goes through
:func:`preprocess_drawing`, which makes it look like the training digits.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = ["DIGITS_TEST_FRACTION", "DigitsDataset", "digits_split", "digits_to_tensor", "preprocess_drawing"]

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


def preprocess_drawing(image: np.ndarray, invert: bool | None = None) -> np.ndarray:
    """A drawn digit of any size -> an 8x8 digit like the training ones (``float32`` in 0..16).

    Steps, as the digits were made: find the strokes' bounding box, pad it to a centred
    square with a margin, blur slightly (thick marker strokes become grey edges), and
    area-average down to 8x8. ``invert``: ``None`` guesses dark-on-light vs light-on-dark
    from the border colour.

    Raises:
        ValueError: an empty canvas (no strokes).
    """
    gray = np.asarray(image, dtype=np.float32)
    if gray.ndim == 3:
        if gray.shape[2] == 4:  # strokes live in alpha on a transparent canvas
            alpha = gray[..., 3] / 255.0
            gray = gray[..., :3].mean(axis=2) * alpha + 255.0 * (1 - alpha)
        else:
            gray = gray[..., :3].mean(axis=2)
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"expected a 2-D drawing (or RGB/RGBA), got shape {list(np.shape(image))}")
    if invert is None:
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        invert = float(np.median(border)) > 127.0
    ink = (255.0 - gray) if invert else gray
    ink = ink - ink.min()
    if ink.max() < 32:  # nothing but background (or an almost invisible speck)
        raise ValueError("the canvas is empty: draw a digit first")
    ink = ink / ink.max()
    rows, cols = np.nonzero(ink > 0.25)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = ink[top:bottom, left:right]
    # the training digits fill roughly the central 6-7 of 8 pixels: a 10% margin each side
    side = int(max(crop.shape) * 1.25) + 1
    square = np.zeros((side, side), dtype=np.float32)
    r0, c0 = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[r0 : r0 + crop.shape[0], c0 : c0 + crop.shape[1]] = crop
    t = torch.from_numpy(square)[None, None]
    k = max(1, side // 16) * 2 + 1
    t = F.avg_pool2d(F.pad(t, (k // 2,) * 4, mode="replicate"), k, stride=1)
    small = F.adaptive_avg_pool2d(t, 8)[0, 0]
    small = small / small.max().clamp_min(1e-6)
    return (small * 16.0).numpy()
