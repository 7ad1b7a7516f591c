"""Segmentation data sets laid out as folders of images beside folders of label maps: any
such folder (:class:`SegmentationFolder`), CelebAMask-HQ's colour-mask variant and COCO-Stuff;
and flat folders of CelebAMask-HQ photo/mask pairs for real-photo scoring (:class:`PairFolder`).
The shared reading and checking lives in :mod:`symmflow.data.datasets`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from symmflow.data.datasets import (
    COCO182_UNUSED_IDS,
    IMAGE_EXTENSIONS,
    LABEL_EXTENSIONS,
    SegmentationDataset,
    Size,
    _files_by_stem,
    _require_dir,
    _sorted_key,
    read_label_map,
)
from symmflow.data.images import load_rgb, open_image
from symmflow.painted_masks import read_painted_mask
from symmflow.palettes import CELEBAMASK_HQ, COCO_STUFF, Palette, get_palette

__all__ = ["CelebAMaskHQColor", "CocoStuff", "PairFolder", "SegmentationFolder"]


class SegmentationFolder(SegmentationDataset):
    """Any folder of (image, label map) pairs matched by file stem.

    Layout: ``root/{image_dir}/{stem}.{jpg,png,...}`` and ``root/{label_dir}/{stem}.png``.
    Labels may be class-id PNGs (``L``/``P``/``I`` modes, values are ids, or raw values for
    palettes with ``raw_ids``) or RGB colour masks in ``palette``'s colours; each file is
    detected on its own by :func:`read_label_map`.

    Args:
        root: the folder holding ``image_dir`` and ``label_dir``.
        size: output size (see the module docstring); ``None``: the label map's size.
        image_dir, label_dir: sub-folders of ``root`` (relative paths such as
            ``"images/val2017"`` are fine).
        palette: ``"celebamask_hq"``, ``"coco_stuff"`` or a :class:`Palette`.
        limit: keep only the first ``limit`` pairs (by stem).
        square_crop: centre-crop to a square first.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: Size = None,
        image_dir: str = "images",
        label_dir: str = "labels",
        palette: str | Palette = "celebamask_hq",
        limit: int | None = None,
        square_crop: bool = False,
    ) -> None:
        super().__init__(get_palette(palette), size, limit, square_crop)
        self.root = Path(root)
        layout = (
            f"  {self.root}/{image_dir}/<stem>{{{','.join(IMAGE_EXTENSIONS)}}}\n"
            f"  {self.root}/{label_dir}/<stem>{{{','.join(LABEL_EXTENSIONS)}}}  (lossless formats only)"
        )
        self._images = _files_by_stem(_require_dir(self.root / image_dir, layout), IMAGE_EXTENSIONS)
        self._labels = _files_by_stem(_require_dir(self.root / label_dir, layout), LABEL_EXTENSIONS)
        self.unmatched_images = sorted(set(self._images) - set(self._labels), key=_sorted_key)
        self.unmatched_labels = sorted(set(self._labels) - set(self._images), key=_sorted_key)
        self._set_items([s for s in self._images if s in self._labels], f"{self.root / image_dir}", layout)

    def read_labels(self, path: Path) -> np.ndarray:
        """One label file -> class ids ``int64`` ``[H, W]`` (subclasses narrow the formats)."""
        return read_label_map(path, self.palette)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        stem = self.names[index]
        return load_rgb(self._images[stem], exif_transpose=False), self.read_labels(self._labels[stem])


class CelebAMaskHQColor(SegmentationFolder):
    """CelebAMask-HQ in the Hugging Face dataset-style layout with colour masks.

    Layout: ``root/{split}/images/{stem}.jpg|png`` and ``root/{split}/masks/{stem}.png``.
    Masks are RGB colour masks in the CelebAMask-HQ palette (mapped with
    :func:`symmflow.painted_masks.read_painted_mask`, robust to antialiased edges) or single-channel class-id
    PNGs (``L``/``P`` with values < 19, used directly).

    Args:
        root: the folder holding the split folders.
        split: the split folder's name (e.g. ``"train"``, ``"val"``, ``"test"``).
        size: output size (see the module docstring); ``None``: the mask's size.
        limit: keep only the first ``limit`` pairs (by stem).
        square_crop: centre-crop to a square first.
    """

    label_scales = (1, 2)  # converted from the 1024 px photos and 512 px masks, or both resized

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        size: Size = None,
        limit: int | None = None,
        square_crop: bool = False,
    ) -> None:
        root = Path(root)
        if root.is_dir() and not (root / split).is_dir():
            available = sorted(p.name for p in root.iterdir() if (p / "images").is_dir())
            raise FileNotFoundError(
                f"no split folder {root / split}; splits found: {available or 'none'}. Expected layout:\n"
                f"  {root}/<split>/images/<stem>.jpg|png\n  {root}/<split>/masks/<stem>.png"
            )
        super().__init__(root, size, f"{split}/images", f"{split}/masks", CELEBAMASK_HQ, limit, square_crop)
        self.split = split


_COCO_LAYOUT = """\
  root/images/{split}/*.jpg              (or root/{split}/*.jpg)
  root/stuffthingmaps/{split}/*.png      (or root/stuffthingmaps_trainval2017/{split}/*.png)"""


def _first_dir(root: Path, *candidates: str) -> str:
    """The first of the folders ``root/candidate`` that exists (as the relative path)."""
    for candidate in candidates:
        if (root / candidate).is_dir():
            return candidate
    tried = ", ".join(str(root / c) for c in candidates)
    raise FileNotFoundError(f"none of the folders {tried} exists. Expected layout:\n{_COCO_LAYOUT}")


class CocoStuff(SegmentationFolder):
    """COCO-Stuff with the stuff+thing label maps (171 classes + unlabeled).

    Layout (either spelling of each folder)::

        root/images/{split}/*.jpg            or  root/{split}/*.jpg
        root/stuffthingmaps/{split}/*.png    or  root/stuffthingmaps_trainval2017/{split}/*.png

    Label PNGs hold one raw value per pixel. With ``label_space="coco182"`` (the default: the
    official ``stuffthingmaps_trainval2017`` release, which the authors train on) values are the
    raw ids ``0..181`` (the 1-based COCO category id minus one; the 11 unused ids
    :data:`COCO182_UNUSED_IDS` never occur) plus 255 for "unlabeled", mapped by
    :meth:`Palette.from_raw` to the contiguous class ids ``0..171`` of ``COCO_STUFF`` (whose
    colours are those of the raw ids, as the authors colour masks). ``label_space="coco171"``
    reads maps already renumbered to contiguous ids ``0..170`` (255 unlabeled), as some
    re-releases (e.g. SDM's) store them. Any value outside the chosen space raises ValueError
    naming the values.

    Args:
        root: dataset folder.
        split: ``"train2017"`` or ``"val2017"``.
        size: output size (see the module docstring); ``None``: native (after the crop).
        limit: keep only the first ``limit`` pairs (by stem).
        square_crop: centre-crop image and label map to a square before resizing (SDM's
            COCO-Stuff preprocessing); on by default.
        label_space: ``"coco171"`` or ``"coco182"``, see above.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train2017",
        size: Size = None,
        limit: int | None = None,
        square_crop: bool = True,
        label_space: str = "coco182",
    ) -> None:
        if split not in ("train2017", "val2017"):
            raise ValueError(f"split must be 'train2017' or 'val2017', got {split!r}")
        if label_space not in ("coco171", "coco182"):
            raise ValueError(f"label_space must be 'coco171' or 'coco182', got {label_space!r}")
        root = Path(root)
        image_dir = _first_dir(root, f"images/{split}", split)
        label_dir = _first_dir(root, f"stuffthingmaps/{split}", f"stuffthingmaps_trainval2017/{split}")
        super().__init__(root, size, image_dir, label_dir, COCO_STUFF, limit, square_crop)
        self.split = split
        self.label_space = label_space
        # Label value -> class id (0..171); -1 marks values outside the label space.
        self._to_ids = np.full(256, -1, dtype=np.int64)
        values = COCO_STUFF.raw_ids if label_space == "coco182" else tuple(range(171)) + (255,)
        self._to_ids[list(values)] = np.arange(COCO_STUFF.num_classes)

    def read_labels(self, path: Path) -> np.ndarray:
        image = open_image(path)
        if image.mode not in ("L", "P"):
            raise ValueError(
                f"{path}: COCO-Stuff label maps are single-channel PNGs, got mode {image.mode!r}"
            )
        raw = np.asarray(image).astype(np.int64)
        ids = self._to_ids[raw.clip(0, 255)]
        if (ids < 0).any():
            bad = np.unique(raw[ids < 0]).tolist()
            expected = (
                "0..170 and 255: stuffthingmaps renumbered to 171 contiguous ids (for the official "
                "182-id release pass label_space='coco182')"
                if self.label_space == "coco171"
                else f"the official stuffthingmaps' raw ids 0..181 without the unused ids {list(COCO182_UNUSED_IDS)}, "
                "and 255 (for maps renumbered to 171 contiguous ids pass label_space='coco171')"
            )
            raise ValueError(
                f"{path}: label values {bad[:10]} are outside the label space; expected {expected}"
            )
        return ids


class PairFolder:
    """A flat folder of CelebAMask-HQ pairs, as real-photo benchmarks and calibrations read them.

    ``NAME.jpg`` (a photo, any size) beside ``NAME.png`` (its class ids in
    :data:`~symmflow.palettes.CELEBAMASK_HQ`'s order), as a sequence of (photo uint8 ``[h, w, 3]``
    resized to the mask's size, class ids int64 ``[h, w]``), read one at a time (a thousand pairs
    do not fit in memory as int64), in name order, the first ``limit``.

    Raises:
        ValueError: ``limit`` under 1 or no pairs in ``folder`` (when built); a mask holding ids
            outside the palette (when that pair or its :meth:`mask` is read).
    """

    def __init__(self, folder: Path, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a whole number of pairs, at least 1, got {limit}")
        self.folder = Path(folder)
        names = sorted(p.stem for p in self.folder.glob("*.png") if (self.folder / f"{p.stem}.jpg").is_file())
        if not names:
            raise ValueError(f"no pairs in {self.folder}: expected NAME.jpg photos beside NAME.png class-id masks")
        self.names = names[:limit]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2  # only here: the rest of the module reads without OpenCV

        mask = self.mask(i)
        rgb = load_rgb(self.folder / f"{self.names[i]}.jpg", exif_transpose=False)
        return cv2.resize(rgb, mask.shape[::-1], interpolation=cv2.INTER_AREA), mask

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def mask(self, i: int) -> np.ndarray:
        """Pair ``i``'s class ids, int64 ``[h, w]``, without its photo."""
        name = self.names[i]
        mask = np.asarray(open_image(self.folder / f"{name}.png"))
        if mask.ndim != 2 or mask.max() >= CELEBAMASK_HQ.num_classes:
            raise ValueError(f"{name}.png must hold class ids 0..{CELEBAMASK_HQ.num_classes - 1} in one channel, "
                             f"got shape {mask.shape}, max {mask.max()}")
        return mask.astype(np.int64)
