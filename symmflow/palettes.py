"""Class palettes: the colour of every class in the datasets' official colour masks.

A palette maps class id ``k`` to an RGB colour (``uint8``). Colour masks are what the
image models read and write as their label half (scaled to ``[-1, 1]``, see
``symmflow.codecs.PaletteCodec``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Palette", "get_palette", "PALETTE_NAMES", "CELEBAMASK_HQ", "COCO_STUFF"]


@dataclass(frozen=True)
class Palette:
    """Named classes and their colours.

    Attributes:
        name: registry name, e.g. ``"celebamask_hq"``.
        class_names: one name per class id, ``len == num_classes``.
        colors: ``uint8`` array of shape ``[num_classes, 3]``; row ``k`` is class ``k``'s RGB.
        ignore_index: class id left out of mIoU (the paper: CelebA background, COCO unlabeled).
        raw_ids: dataset label value of each class where it differs from the row index
            (COCO-Stuff stores "unlabeled" as 255 in its label PNGs).
    """

    name: str
    class_names: tuple[str, ...]
    colors: np.ndarray = field(repr=False)
    ignore_index: int | None = None
    raw_ids: tuple[int, ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def colorize(self, class_map: np.ndarray) -> np.ndarray:
        """Class ids ``[..., H, W]`` (ints in ``[0, num_classes)``) -> RGB ``uint8`` ``[..., H, W, 3]``."""
        class_map = np.asarray(class_map)
        if class_map.size and (class_map.min() < 0 or class_map.max() >= self.num_classes):
            raise ValueError(
                f"class ids must lie in [0, {self.num_classes - 1}] for palette {self.name!r}, "
                f"got values in [{class_map.min()}, {class_map.max()}]"
            )
        return self.colors[class_map]

    def from_raw(self, raw: np.ndarray) -> np.ndarray:
        """Dataset label values -> class ids (identity unless ``raw_ids`` is set)."""
        raw = np.asarray(raw)
        if self.raw_ids is None:
            return raw.astype(np.int64)
        lut = np.full(256, -1, dtype=np.int64)
        lut[list(self.raw_ids)] = np.arange(self.num_classes)
        ids = lut[raw.astype(np.int64).clip(0, 255)]
        if (ids < 0).any():
            bad = np.unique(raw[ids < 0])[:5].tolist()
            raise ValueError(f"label values {bad} are not classes of palette {self.name!r}")
        return ids


CELEBAMASK_HQ = Palette(
    name="celebamask_hq",
    class_names=(
        "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear",
        "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
    ),
    colors=np.array(
        [
            (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204),
            (0, 255, 255), (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0),
            (0, 0, 153), (0, 0, 204), (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51),
            (0, 204, 0),
        ],
        dtype=np.uint8,
    ),
    ignore_index=0,
)


def _coco_stuff() -> Palette:
    # The authors' colour rule for the 171 classes; "unlabeled" (raw 255) is the 172nd class.
    k = np.arange(171)
    colors = np.stack([50 * (k // 36), 50 * ((k // 6) % 6), 50 * (k % 6)], axis=1)
    colors = np.concatenate([colors, [[250, 250, 250]]]).astype(np.uint8)
    names = tuple(f"class_{i}" for i in range(171)) + ("unlabeled",)
    return Palette(
        name="coco_stuff",
        class_names=names,
        colors=colors,
        ignore_index=171,
        raw_ids=tuple(range(171)) + (255,),
    )


COCO_STUFF = _coco_stuff()

_REGISTRY = {p.name: p for p in (CELEBAMASK_HQ, COCO_STUFF)}
PALETTE_NAMES = tuple(_REGISTRY)


def get_palette(name: str | Palette) -> Palette:
    """Look a palette up by name (``"celebamask_hq"`` or ``"coco_stuff"``); a Palette passes through."""
    if isinstance(name, Palette):
        return name
    key = str(name).lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown palette {name!r}; available palettes: {', '.join(PALETTE_NAMES)}")
    return _REGISTRY[key]
