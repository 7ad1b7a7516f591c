"""Torch datasets for the real segmentation data, in the layouts people download (CelebAMask-HQ
here; folder layouts in :mod:`symmflow.data.folders`). Every dataset yields dicts::

    {"image": float32 [3, H, W] in [-1, 1],
     "class_map": int64 [H, W] of class ids in the palette's id space (0..num_classes-1),
     "name": str}

Shared options: ``size`` (an int for ``size x size``, ``(height, width)``, or ``None`` for
the label map's native size; images: area averaging / bicubic, label maps: nearest neighbour),
``limit`` (the first ``limit`` items of the sorted list) and ``square_crop`` (centre-crop both
to a square first, as SDM does for COCO-Stuff, so resizing never distorts the aspect ratio).

Image and label files are paired by file stem. Files without a partner are skipped; their
names are kept in ``unmatched_images`` / ``unmatched_labels`` (count: ``num_unmatched``) and
one warning is issued. :meth:`SegmentationDataset.verify`, which the trainer runs before the
first step, refuses them (unless ``allow_unmatched``) along with every unreadable file, label
outside the palette and image/label pair of different sizes.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from symmflow.painted_masks import read_painted_mask
from symmflow.data.images import (
    center_crop_square,
    load_rgb,
    open_image,
    resize_labels,
    resize_rgb,
    to_tensor,
)
from symmflow.palettes import CELEBAMASK_HQ, COCO_STUFF_UNUSED_RAW_IDS, Palette, get_palette
from symmflow.palettes import describe_values as _describe_values

__all__ = [
    "CELEBA_PARTITION_TRAIN_END",
    "CELEBA_PARTITION_VAL_END",
    "CELEBAMASK_FIXED_TRAIN_SIZE",
    "COCO182_UNUSED_IDS",
    "CelebAMaskHQ",
    "CelebAMaskHQColor",
    "CocoStuff",
    "PairFolder",
    "SegmentationDataset",
    "SegmentationFolder",
    "IMAGE_EXTENSIONS",
    "ItemCheck",
    "LABEL_EXTENSIONS",
    "MAX_FOREIGN_SHARE",
    "merge_celebamask_parts",
    "read_label_map",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# Lossless formats only: JPEG artefacts would blur class boundaries into invented colours.
LABEL_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")

CELEBAMASK_FIXED_TRAIN_SIZE = 28_000
"""Fixed CelebAMask-HQ split: ids ``0..27999`` train, ``28000..29999`` held out (val/test)."""
CELEBA_PARTITION_TRAIN_END = 162_771
CELEBA_PARTITION_VAL_END = 182_638
"""Official split via ``CelebA-HQ-to-CelebA-mapping.txt``: ``orig_idx < 162771`` train,
``< 182638`` val, else test, exactly as the dataset's own ``g_partition.py`` (24,183 / 2,993 /
2,824 images)."""

COCO182_UNUSED_IDS = COCO_STUFF_UNUSED_RAW_IDS  # (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
"""Zero-based ids of the 11 COCO thing categories that have no annotations; the official
``stuffthingmaps_trainval2017`` PNGs (ids 0..181) never use them, leaving 171 classes."""

MAX_FOREIGN_SHARE = 0.01
"""Share of a colour label file's pixels that may lie off the palette (and off the blends of
two neighbouring classes) before :func:`read_label_map` refuses it: a wrong palette or a
mask drawn in other colours would otherwise be mapped to the nearest classes silently."""

Size = int | tuple[int, int] | None


def _sorted_key(stem: str) -> tuple[int, int | str]:
    """Numeric stems in numeric order (``2`` before ``10``), then the rest alphabetically."""
    return (0, int(stem)) if stem.isdigit() else (1, stem)


def _files_by_stem(folder: Path, extensions: Iterable[str]) -> dict[str, Path]:
    """``{stem: path}`` of the files in ``folder`` with one of ``extensions`` (hidden files skipped).

    Raises ValueError when two files share a stem (``a.jpg`` and ``a.png``): the pairing
    would be ambiguous.
    """
    extensions = tuple(extensions)
    found: dict[str, Path] = {}
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith(".") or not name.lower().endswith(extensions) or not entry.is_file():
            continue
        path = Path(entry.path)
        if path.stem in found:
            other = found[path.stem].name
            raise ValueError(f"{folder} holds two files with the stem {path.stem!r}: {other} and {name}")
        found[path.stem] = path
    return found


def _require_dir(path: Path, layout: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"expected the folder {path}, which does not exist. Expected layout:\n{layout}"
        )
    return path


def _raw_to_ids(raw: np.ndarray, palette: Palette, what: str) -> np.ndarray:
    """Label values (class ids, or raw dataset values for palettes with ``raw_ids``) ->
    ``int64`` class ids, rejecting any value that is not a class of ``palette``."""
    valid = palette.raw_ids if palette.raw_ids is not None else tuple(range(palette.num_classes))
    bad = sorted(set(np.unique(raw).tolist()) - set(valid))
    if bad:
        raise ValueError(
            f"{what}: label values {bad[:10]}{' ...' if len(bad) > 10 else ''} are not classes of palette "
            f"{palette.name!r} (expected {_describe_values(valid)})"
        )
    return palette.from_raw(raw)


def _use_as_ids(values: np.ndarray, colors: np.ndarray, palette: Palette) -> bool:
    """Whether a single-channel-looking label (grey levels or palette indices ``values``,
    shown as ``colors`` ``[n, 3]``) holds class ids rather than a colour mask.

    Ids when every value is a valid id and either the colours are not all palette colours
    (a grey or foreign visualisation palette) or each colour is exactly its id's colour
    (both readings agree). A mask whose colours are exact palette colours of other classes
    is a colour mask (e.g. COCO's grey ``(50, 50, 50)`` is class 43, not id 50).
    """
    raw_ids = palette.raw_ids if palette.raw_ids is not None else tuple(range(palette.num_classes))
    if not set(values.tolist()) <= set(raw_ids):
        return False
    palette_colors = {tuple(c) for c in palette.colors.tolist()}
    if not all(tuple(c) in palette_colors for c in colors.tolist()):
        return True
    return bool((palette.colors[palette.from_raw(values)] == colors).all())


def read_label_map(
    path: str | os.PathLike, palette: str | Palette
) -> np.ndarray:
    """Read a label file as ``int64`` class ids ``[H, W]`` in ``palette``'s id space.

    The kind of label is detected from the image mode:

    * ``L``/``I``/``I;16`` (and ``LA``, alpha ignored): the values are class ids (raw dataset
      values for palettes with ``raw_ids``, e.g. COCO's 255 -> "unlabeled");
    * ``P`` and grey ``RGB``: class ids when the values are ids and the colours do not say
      otherwise (see :func:`_use_as_ids`), else a colour mask;
    * ``RGB``/``RGBA`` (alpha dropped, not composited: compositing would change the colours):
      a colour mask, mapped with :func:`symmflow.painted_masks.read_painted_mask`, which tolerates JPEG-like
      noise and antialiased edges but refuses other colours (more than
      :data:`MAX_FOREIGN_SHARE` of the pixels far from every palette colour).

    Raises:
        ValueError: ids outside the palette, colours outside it, or an unsupported mode.
    """
    palette = get_palette(palette)
    what = str(path)
    image = open_image(path)
    mode = image.mode
    if mode in ("L", "1", "LA") or mode.startswith("I"):
        values = np.asarray(image.getchannel(0) if mode == "LA" else image).astype(np.int64)
        return _raw_to_ids(values, palette, what)
    if mode == "P":
        indices = np.asarray(image)
        values = np.unique(indices)
        lut = np.asarray(image.getpalette() or [], dtype=np.uint8)
        lut = np.pad(lut, (0, max(0, 768 - lut.size))).reshape(-1, 3)
        if _use_as_ids(values, lut[values], palette):
            return _raw_to_ids(indices.astype(np.int64), palette, what)
        rgb = lut[indices]
    elif mode in ("RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            values = np.unique(rgb[..., 0])
            if _use_as_ids(values, np.repeat(values[:, None], 3, axis=1), palette):
                return _raw_to_ids(rgb[..., 0].astype(np.int64), palette, what)
    else:
        raise ValueError(f"{what}: label maps must be L, P, I, RGB or RGBA images, got mode {mode!r}")
    try:
        return read_painted_mask(rgb, palette, max_foreign=MAX_FOREIGN_SHARE)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None


@dataclass
class ItemCheck:
    """What reading items of a dataset found (:meth:`SegmentationDataset.check_items`); checks
    of disjoint item sets, e.g. one per training process, merge with ``+``.

    Attributes:
        problems: ``"item 'name': what is wrong"``, one a broken item.
        broken: how many broken items were found.
        stopped: whether reading stopped early (too many broken items).
        sizes: ``{(height, width): (items, up to 3 of their names)}`` of the items as they come out.
    """

    problems: list[str] = field(default_factory=list)
    broken: int = 0
    stopped: bool = False
    sizes: dict[tuple[int, int], tuple[int, list[str]]] = field(default_factory=dict)

    def __add__(self, other: ItemCheck) -> ItemCheck:
        sizes = dict(self.sizes)
        for size, (n, names) in other.sizes.items():
            m, known = sizes.get(size, (0, []))
            sizes[size] = (m + n, (known + names)[:3])
        return ItemCheck(self.problems + other.problems, self.broken + other.broken, self.stopped or other.stopped, sizes)


def _listing(count: int, what: str, names: list[str], sep: str = ", ") -> str:
    """``"3 image(s) without a label: a, b, c"``, at most 5 names (``""`` when ``count`` is 0)."""
    if not count:
        return ""
    return f"{count} {what}: {sep.join(names[:5])}{' ...' if count > 5 else ''}"


class SegmentationDataset(Dataset):
    """Base of the (image, label map) datasets: subclasses fill ``names`` and implement
    :meth:`load`; this class crops, resizes and converts.

    Attributes:
        palette: the label palette (class names and colours).
        names: item names in order (``len(dataset) == len(names)``).
        unmatched_images, unmatched_labels: names of files skipped for lack of a partner.
        unknown_files: ``"path: why"`` for files in the layout that fit no rule of it (e.g. a
            CelebAMask-HQ part file of an unknown part); :meth:`verify` refuses them.
        label_scales: how many times larger than its label map an image may be; ``(1,)``:
            the same size (CelebAMask-HQ ships 1024 px photos with 512 px masks: ``(1, 2)``).
    """

    label_scales: tuple[int, ...] = (1,)

    def __init__(self, palette: Palette, size: Size, limit: int | None, square_crop: bool) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.palette = palette
        self.size = size
        self.limit = limit
        self.square_crop = square_crop
        self.names: list[str] = []
        self.unmatched_images: list[str] = []
        self.unmatched_labels: list[str] = []
        self.unknown_files: list[str] = []

    @property
    def num_classes(self) -> int:
        return self.palette.num_classes

    @property
    def num_unmatched(self) -> int:
        """How many files were skipped because their image or label partner is missing."""
        return len(self.unmatched_images) + len(self.unmatched_labels)

    def _set_items(self, names: list[str], where: str, layout: str, pairs_on_disk: int = 0) -> None:
        """Store the item list (sorted, then cut to ``limit``) and warn about skipped files.
        ``pairs_on_disk``: the pairs found before a split selected ``names`` from them."""
        if not names and pairs_on_disk:
            raise ValueError(f"no (image, label) pairs in {where}: the split selected none of the {pairs_on_disk} pairs found")
        if not names:
            raise ValueError(
                f"no (image, label) pairs found for {where}: {len(self.unmatched_images)} image(s) and "
                f"{len(self.unmatched_labels)} label file(s), none with a partner. Expected layout:\n{layout}"
            )
        self.names = sorted(names, key=_sorted_key)[: self.limit]
        if self.num_unmatched:
            examples = (self.unmatched_images + self.unmatched_labels)[:3]
            warnings.warn(
                f"{where}: skipped {len(self.unmatched_images)} image(s) without a label and "
                f"{len(self.unmatched_labels)} label(s) without an image (e.g. {', '.join(examples)})",
                stacklevel=3,
            )

    def __len__(self) -> int:
        return len(self.names)

    def verify(self, max_errors: int = 10, allow_unmatched: bool = False) -> None:
        """Read every item once; raise one error naming each broken file (up to ``max_errors``).

        The trainer runs the same checks before the first step (split over its processes), so
        that a corrupt image, a label with ids or colours outside the palette, an image/label
        pair of different sizes, items that come out in different sizes, a file of the layout
        that fits no rule of it, or (unless ``allow_unmatched``) an image without its label
        stops the run at once, not hours into it.

        Raises:
            ValueError: listing the broken items and what is wrong with each.
        """
        refusal = self.refusal(self.layout_problems(allow_unmatched), self.check_items(max_errors=max_errors))
        if refusal:
            raise ValueError(refusal)

    def layout_problems(self, allow_unmatched: bool = False) -> list[str]:
        """What is wrong with the file listing itself: unknown files, and (unless
        ``allow_unmatched``) images without labels and labels without images."""
        problems = [_listing(len(self.unknown_files), "file(s) that fit no rule of the layout", self.unknown_files, sep="; ")]
        if not allow_unmatched:
            problems.append(_listing(len(self.unmatched_images), "image(s) without a label", self.unmatched_images))
            problems.append(_listing(len(self.unmatched_labels), "label(s) without an image", self.unmatched_labels))
            if self.num_unmatched:
                problems.append("(to train on the complete pairs only, set allow_unmatched: true in the data config)")
        return [p for p in problems if p]

    def check_items(self, indices: Iterable[int] | None = None, max_errors: int = 10) -> ItemCheck:
        """Read the items ``indices`` (default: all); stops after ``max_errors + 1`` broken ones."""
        check = ItemCheck()
        for i in range(len(self)) if indices is None else indices:
            name = self.names[i]
            try:
                h, w = self[i]["image"].shape[-2:]
            except Exception as err:  # noqa: BLE001 - whatever a broken file raises, name the file
                if check.broken == max_errors:
                    check.stopped = True
                    break
                check.broken += 1
                text = str(err)
                check.problems.append(text if text.startswith(f"item {name!r}") else f"item {name!r}: {text}")
                continue
            count, examples = check.sizes.get((int(h), int(w)), (0, []))
            check.sizes[(int(h), int(w))] = (count + 1, examples if len(examples) >= 3 else [*examples, name])
        return check

    def refusal(self, layout: list[str], items: ItemCheck, max_errors: int = 10) -> str | None:
        """The error text for problems found by :meth:`layout_problems` and :meth:`check_items`
        (``None``: nothing wrong)."""
        problems = list(layout) + items.problems[:max_errors]
        if len(items.sizes) > 1:  # no size is "right": list them all, the odd ones out are the few
            listed = ", ".join(
                f"{w}x{h} ({n} item(s), e.g. {', '.join(map(repr, names))})"
                for (h, w), (n, names) in sorted(items.sizes.items(), key=lambda kv: -kv[1][0])
            )
            problems.append(f"items come out in {len(items.sizes)} sizes: {listed}; set the dataset's size option to resize them to one")
        if not problems:
            return None
        more = ", stopped there" if items.stopped else ""
        count = f" ({items.broken} broken item(s){more})" if items.broken else ""
        return f"this {type(self).__name__} cannot be trained on{count}:\n" + "\n".join(f"  {p}" for p in problems)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``index`` at native resolution: RGB ``uint8`` ``[H, W, 3]`` and class ids
        ``int64`` ``[h, w]`` (the image may be ``k`` times larger, ``k`` in ``label_scales``)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        name = self.names[index]
        rgb, ids = self.load(index)
        (ih, iw), (lh, lw) = rgb.shape[:2], ids.shape
        # Any other size means a wrong pairing (or a resized label): refuse, don't stretch.
        if not any((ih, iw) == (k * lh, k * lw) for k in self.label_scales):
            accepted = " or ".join("the same size" if k == 1 else f"{k}x the label map's size" for k in self.label_scales)
            raise ValueError(
                f"item {name!r}: image {iw}x{ih} and label map {lw}x{lh} do not match (accepted: the image at {accepted})"
            )
        if self.square_crop:
            rgb, ids = center_crop_square(rgb), center_crop_square(ids)
        target = self.size if self.size is not None else ids.shape
        rgb = resize_rgb(rgb, target)
        ids = resize_labels(ids, target)
        return {"image": to_tensor(rgb), "class_map": torch.from_numpy(ids.astype(np.int64)), "name": name}


# -- CelebAMask-HQ, as distributed -------------------------------------------------------------

_CELEBA_LAYOUT = """\
  root/CelebA-HQ-img/{i}.jpg                               (i = 0..29999)
  root/CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png  (part = skin, nose, ..., cloth)
  root/CelebA-HQ-to-CelebA-mapping.txt or root/split.json   (optional, see CelebAMaskHQ)"""
_CELEBA_PART_FILE = re.compile(r"^(\d+)_([a-z_]+)\.png$")
_CELEBA_IMAGE_FILE = re.compile(r"^(\d+)\.(?:jpg|jpeg|png)$", re.IGNORECASE)


def merge_celebamask_parts(parts: Mapping[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Merge CelebAMask-HQ binary part masks into one class-id map ``int64`` ``[H, W]``.

    Args:
        parts: ``{part name: mask [H, W]}``; names are the palette's class names for ids
            1..18 (``"skin"``, ..., ``"cloth"``); a mask is ``bool`` or grey levels, where
            values above 127 are "on" (the files are 0/255; the threshold tolerates noise).
            Absent parts are simply left out.
        shape: ``(H, W)`` of the result.

    Parts are painted in class-id order 1..18, each over the earlier ones (so ``hair``, id 13,
    covers ``skin``, id 1), as the dataset's own ``g_mask.py`` does; pixels in no part are
    background (0).
    """
    ids = np.zeros(shape, dtype=np.int64)
    class_ids = {name: k for k, name in enumerate(CELEBAMASK_HQ.class_names) if k > 0}
    unknown = sorted(set(parts) - set(class_ids))
    if unknown:
        raise ValueError(f"unknown CelebAMask-HQ parts {unknown}; parts are {list(class_ids)}")
    for name, k in class_ids.items():
        if name not in parts:
            continue
        mask = np.asarray(parts[name])
        if mask.shape != tuple(shape):
            raise ValueError(f"part {name!r} has shape {list(mask.shape)}, expected {list(shape)}")
        ids[mask if mask.dtype == np.bool_ else mask > 127] = k
    return ids


class CelebAMaskHQ(SegmentationDataset):
    """CelebAMask-HQ from the official download (30,000 faces, 19 classes).

    Layout::

        root/CelebA-HQ-img/{i}.jpg                              1024x1024, i = 0..29999
        root/CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png  512x512 binary part masks

    The part masks are merged with :func:`merge_celebamask_parts` (later classes over
    earlier ones); a missing part file means the part is absent. Only ids with an image and
    at least one part file are listed. With ``size=None`` items come at the label
    resolution, 512x512 (the image is area-downsampled from 1024).

    Splits (``split`` in ``"train"``, ``"val"``, ``"test"``, ``"all"``), chosen by what ``root``
    holds, first match wins (the one used is in ``split_source``):

    1. ``root/split.json``: ``{"train": [ids], "val": [ids], "test": [ids]}`` (any subset of
       the keys), for reproducing someone's exact split.
    2. ``root/CelebA-HQ-to-CelebA-mapping.txt`` (part of the official download, so this is
       the default there): the official partition (CelebA's own train/val/test), the
       standard CelebAMask-HQ split. Each image's ``orig_idx`` (its index in CelebA) decides:
       ``< 162771`` train, ``< 182638`` val, else test, giving 24,183 / 2,993 / 2,824 images.
       The thresholds are applied to the 0-based ``orig_idx`` exactly as the dataset's own
       ``g_partition.py`` does, although CelebA's partition file numbers images from 1 (an
       image right at a boundary may sit one split off); published numbers use the script.
       Images the mapping does not list belong to no split (only to ``"all"``).
    3. Neither: the fixed split by index: ids ``0..27999`` train, ``28000..29999`` (the last
       2,000) held out, returned for both ``"val"`` and ``"test"``.

    Args:
        root: the folder holding ``CelebA-HQ-img`` and ``CelebAMask-HQ-mask-anno``.
        split: which split.
        size: output size (see the module docstring); ``None``: 512x512.
        limit: keep only the first ``limit`` ids of the split (ascending).
        square_crop: centre-crop to a square first (a no-op for these square images).
    """

    label_scales = (1, 2)  # 1024 px photos with 512 px part masks, or both resized alike

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        size: Size = None,
        limit: int | None = None,
        square_crop: bool = False,
    ) -> None:
        super().__init__(CELEBAMASK_HQ, size, limit, square_crop)
        if split not in ("train", "val", "test", "all"):
            raise ValueError(f"split must be 'train', 'val', 'test' or 'all', got {split!r}")
        self.root = Path(root)
        self.split = split
        image_dir = _require_dir(self.root / "CelebA-HQ-img", _CELEBA_LAYOUT)
        anno_dir = _require_dir(self.root / "CelebAMask-HQ-mask-anno", _CELEBA_LAYOUT)

        self._images: dict[int, Path] = {}
        for entry in os.scandir(image_dir):
            match = _CELEBA_IMAGE_FILE.match(entry.name)
            if match:
                self._images[int(match.group(1))] = Path(entry.path)
        # One scan of the part folders up front (a few hundred thousand files), so items never
        # probe for the files of absent parts. Each id's folder is recorded, not recomputed
        # from i // 2000, so a re-foldered copy still reads.
        part_names = set(CELEBAMASK_HQ.class_names[1:])
        self._parts: dict[int, dict[str, Path]] = {}
        for folder in sorted(p for p in anno_dir.iterdir() if p.is_dir()):
            for entry in os.scandir(folder):
                match = _CELEBA_PART_FILE.match(entry.name)
                if match and match.group(2) in part_names:
                    self._parts.setdefault(int(match.group(1)), {})[match.group(2)] = Path(entry.path)
                elif match:  # e.g. 00001_left_eye.png: a renamed part would silently go missing
                    self.unknown_files.append(f"{entry.path}: not a CelebAMask-HQ part (parts: {', '.join(sorted(part_names))})")

        wanted = self._split_filter()
        self.unmatched_images = [str(i) for i in sorted(set(self._images) - set(self._parts)) if wanted(i)]
        self.unmatched_labels = [str(i) for i in sorted(set(self._parts) - set(self._images)) if wanted(i)]
        names = [str(i) for i in self._images if i in self._parts and wanted(i)]
        self._set_items(
            names,
            f"CelebAMask-HQ split {split!r} in {self.root} ({self.split_source} split)",
            _CELEBA_LAYOUT,
            pairs_on_disk=len(self._images.keys() & self._parts.keys()),
        )

    def _split_filter(self) -> Callable[[int], bool]:
        """Set ``split_source`` and return a predicate ``id -> bool`` for ``self.split``."""
        split_json = self.root / "split.json"
        mapping = self.root / "CelebA-HQ-to-CelebA-mapping.txt"
        if split_json.is_file():
            self.split_source = "split.json"
            table = json.loads(split_json.read_text())
            if self.split == "all":
                members = {int(i) for ids in table.values() for i in ids}
            elif self.split in table:
                members = {int(i) for i in table[self.split]}
            else:
                raise ValueError(f"{split_json} has no split {self.split!r}; it has {sorted(table)}")
            return members.__contains__
        if mapping.is_file():
            self.split_source = "official CelebA partition"
            orig = self._read_mapping(mapping)

            def wanted(i: int) -> bool:
                if self.split == "all":
                    return True
                if i not in orig:  # an image the mapping does not cover belongs to no split
                    return False
                x = orig[i]
                if x < CELEBA_PARTITION_TRAIN_END:
                    return self.split == "train"
                return self.split == ("val" if x < CELEBA_PARTITION_VAL_END else "test")

            return wanted
        self.split_source = f"fixed {CELEBAMASK_FIXED_TRAIN_SIZE}-image"
        if self.split == "all":
            return lambda i: True
        if self.split == "train":
            return lambda i: i < CELEBAMASK_FIXED_TRAIN_SIZE
        return lambda i: i >= CELEBAMASK_FIXED_TRAIN_SIZE

    @staticmethod
    def _read_mapping(path: Path) -> dict[int, int]:
        """``CelebA-HQ-to-CelebA-mapping.txt`` (``idx orig_idx orig_file`` per line, one header
        line) -> ``{idx: orig_idx}``."""
        orig: dict[int, int] = {}
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
                orig[int(fields[0])] = int(fields[1])
        if not orig:
            raise ValueError(f"{path} holds no 'idx orig_idx orig_file' rows")
        return orig

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        i = int(self.names[index])
        rgb = load_rgb(self._images[i], exif_transpose=False)
        paths = self._parts[i]
        parts = {name: _read_part_mask(path) for name, path in paths.items()}
        first = next(iter(parts))
        shape = parts[first].shape
        for name, mask in parts.items():
            if mask.shape != shape:
                raise ValueError(
                    f"{paths[name]} is {mask.shape[1]}x{mask.shape[0]} but {paths[first].name} is "
                    f"{shape[1]}x{shape[0]}: the part masks of one face must have one size"
                )
        return rgb, merge_celebamask_parts(parts, shape)


def _read_part_mask(path: Path) -> np.ndarray:
    """One CelebAMask-HQ part file (black 0 / white 255) -> ``bool`` ``[H, W]``.

    A 0/1 mask or a coloured one (red reads as grey 76) would fail the > 127 threshold and
    read as an absent part, so a mask whose marked pixels are mostly mid-grey is refused, not
    guessed at (a few grey pixels, e.g. from resampling, are tolerated).
    """
    grey = np.asarray(open_image(path).convert("L"))
    on = grey > 127
    marked = int((grey > 32).sum())
    unsure = int(((grey > 32) & (grey < 223)).sum())
    if (grey.max() > 0 and not on.any()) or unsure > 0.5 * marked:
        levels = np.unique(grey)
        raise ValueError(
            f"{path}: a part mask must be black (0) and white (255), found grey levels "
            f"{_describe_values(levels[:20].tolist())}{' ...' if levels.size > 20 else ''}"
        )
    return on


# -- folder layouts -----------------------------------------------------------------------------


# the folder data sets (symmflow.data.folders) build on the classes above: imported last
from symmflow.data.folders import CelebAMaskHQColor, CocoStuff, PairFolder, SegmentationFolder  # noqa: E402
