"""Class palettes: the colour of every class in the datasets' official colour masks.

A palette maps class id ``k`` to an RGB colour (``uint8``). Colour masks are what the
image models read and write as their label half (scaled to ``[-1, 1]``, see
``symmflow.codecs.PaletteCodec``).

COCO-Stuff as the authors' release: class ids are contiguous (``0..170``, 171 = unlabeled), but
each class is coloured by its RAW ``stuffthingmaps`` value ``r`` (:func:`coco_stuff_colour`),
never by its contiguous id. For the paper's mIoU the authors decode predictions to a different
colour set (:data:`COCO_STUFF_AUTHORS_EVAL`, ``decoding="authors"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CELEBAMASK_HQ",
    "COCO_STUFF",
    "COCO_STUFF_AUTHORS_EVAL",
    "COCO_STUFF_RAW_NAMES",
    "COCO_STUFF_UNUSED_RAW_IDS",
    "DECODINGS",
    "PALETTE_NAMES",
    "Palette",
    "coco_stuff_colour",
    "decoding_palette",
    "describe_values",
    "get_palette",
    "recode_class_map",
]


def describe_values(values: Iterable[int]) -> str:
    """``[0, 1, 2, 5, 255]`` -> ``"0..2, 5, 255"`` (for messages naming accepted values)."""
    runs: list[list[int]] = []
    for v in sorted(values):
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


@dataclass(frozen=True)
class Palette:
    """Named classes and their colours.

    Attributes:
        name: registry name, e.g. ``"celebamask_hq"``.
        class_names: one name per class id, ``len == num_classes``.
        colors: ``uint8`` array of shape ``[num_classes, 3]``; row ``k`` is class ``k``'s RGB.
        ignore_index: class id left out of mIoU (the paper: CelebA background, COCO unlabeled).
        raw_ids: dataset label value of each class where it differs from the row index:
            COCO-Stuff's class ``k`` is raw ``stuffthingmaps`` value ``raw_ids[k]`` (0..181
            without the 11 unused thing ids; 255 for "unlabeled", class 171).
        mirror_pairs: classes that swap in a mirror image, by name (CelebAMask-HQ's
            ``("l_eye", "r_eye")``: ``l_*`` is the subject's left); every other class is its
            own mirror.
    """

    name: str
    class_names: tuple[str, ...]
    colors: np.ndarray = field(repr=False)
    ignore_index: int | None = None
    raw_ids: tuple[int, ...] | None = None
    mirror_pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for pair in self.mirror_pairs:
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(f"palette {self.name!r}: each mirror pair names two different classes, got {pair!r}")
            for name in pair:
                if name not in self.class_names:
                    raise ValueError(f"palette {self.name!r}: mirror pair {pair!r} names {name!r}, which is not one of its classes")
                if name in seen:
                    raise ValueError(f"palette {self.name!r}: class {name!r} is in two mirror pairs; each class has one mirror")
                seen.add(name)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def mirror_permutation(self) -> list[int]:
        """Entry ``k``: the id of class ``k``'s mirror class (``k`` itself for classes without a
        side), for :class:`~symmflow.mirroring.MirrorAveraged`."""
        ids = list(range(self.num_classes))
        for a, b in self.mirror_pairs:
            i, j = self.class_names.index(a), self.class_names.index(b)
            ids[i], ids[j] = j, i
        return ids

    def colorize(self, class_map: np.ndarray) -> np.ndarray:
        """Class ids ``[..., H, W]`` (ints in ``[0, num_classes)``) -> RGB ``uint8`` ``[..., H, W, 3]``."""
        return self.colors[self.check_ids(class_map)]

    def check_ids(self, class_map: np.ndarray) -> np.ndarray:
        """``class_map`` as an array, after checking its ids lie in ``[0, num_classes)``."""
        class_map = np.asarray(class_map)
        if class_map.size and (class_map.min() < 0 or class_map.max() >= self.num_classes):
            raise ValueError(
                f"class ids must lie in [0, {self.num_classes - 1}] for palette {self.name!r}, "
                f"got values in [{class_map.min()}, {class_map.max()}]"
            )
        return class_map

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
            raise ValueError(
                f"label values {bad} are not classes of palette {self.name!r}; accepted: {describe_values(self.raw_ids)}"
            )
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
    mirror_pairs=(("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")),
)


# COCO-Stuff's 182 categories, indexed by the RAW value ``r`` the official
# ``stuffthingmaps_trainval2017`` PNGs store (the 1-based COCO category id minus one): 0..90 are
# the 91 thing ids of COCO (80 used), 91..181 the 91 stuff classes; 255 is "unlabeled".
COCO_STUFF_RAW_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird",
    "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat",
    "backpack", "umbrella", "shoe", "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis",
    "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "plate", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", "mirror", "dining table", "window", "desk",
    "toilet", "door", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave",
    "oven", "toaster", "sink", "refrigerator", "blender", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush", "hair brush",
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage",
    "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter",
    "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble",
    "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower", "fog", "food-other",
    "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves",
    "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing",
    "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf",
    "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)
"""Name of each raw ``stuffthingmaps`` value ``0..181`` (COCO-Stuff's ``labels.txt``)."""

COCO_STUFF_UNUSED_RAW_IDS: tuple[int, ...] = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
"""Raw values of the 11 COCO thing categories without annotations (street sign, hat, shoe, eye
glasses, plate, mirror, window, desk, door, blender, hair brush: COCO ids 12, 26, 29, 30, 45,
66, 68, 69, 71, 83, 91). The stuffthingmaps never hold them, which leaves 171 classes."""

COCO_STUFF_UNLABELED_RAW = 255
COCO_STUFF_UNLABELED_RGB = (250, 250, 250)


def coco_stuff_colour(raw: np.ndarray | int) -> np.ndarray:
    """The authors' colour of a raw ``stuffthingmaps`` value ``r``:
    ``(50 * (r // 36), 50 * ((r // 6) % 6), 50 * (r % 6))``, and ``(250, 250, 250)`` for 255
    (unlabeled). ``raw`` ints of any shape ``[...]`` -> ``uint8 [..., 3]``.

    Raises:
        ValueError: values outside ``0..181`` and 255.
    """
    raw = np.asarray(raw, dtype=np.int64)
    bad = (raw < 0) | ((raw > 181) & (raw != COCO_STUFF_UNLABELED_RAW))
    if bad.any():
        raise ValueError(
            f"raw COCO-Stuff values {np.unique(raw[bad])[:5].tolist()} have no colour; accepted: 0..181 and 255 (unlabeled)"
        )
    rgb = np.stack([50 * (raw // 36), 50 * ((raw // 6) % 6), 50 * (raw % 6)], axis=-1)
    rgb[raw == COCO_STUFF_UNLABELED_RAW] = COCO_STUFF_UNLABELED_RGB
    return rgb.astype(np.uint8)


def _coco_stuff() -> Palette:
    # Class k (0..170) is the k-th used raw value, coloured by its RAW value as the authors'
    # data loader does (no renumbering before colouring); "unlabeled" (raw 255) is class 171.
    used = [r for r in range(182) if r not in COCO_STUFF_UNUSED_RAW_IDS]
    raw_ids = tuple(used) + (COCO_STUFF_UNLABELED_RAW,)
    return Palette(
        name="coco_stuff",
        class_names=tuple(COCO_STUFF_RAW_NAMES[r] for r in used) + ("unlabeled",),
        colors=coco_stuff_colour(np.array(raw_ids)),
        ignore_index=171,
        raw_ids=raw_ids,
    )


def _coco_stuff_authors_eval() -> Palette:
    # The authors' masks.py decodes to build_palette(6, 50)[:171] + its last colour: the
    # colours of raw values 0..170 (unused thing ids included, raw 171..181 left out) plus
    # (250, 250, 250). Row j < 171 is raw value j.
    raw_ids = tuple(range(171)) + (COCO_STUFF_UNLABELED_RAW,)
    return Palette(
        name="coco_stuff_authors_eval",
        class_names=COCO_STUFF_RAW_NAMES[:171] + ("unlabeled",),
        colors=coco_stuff_colour(np.array(raw_ids)),
        ignore_index=171,
        raw_ids=raw_ids,
    )


COCO_STUFF = _coco_stuff()
COCO_STUFF_AUTHORS_EVAL = _coco_stuff_authors_eval()
"""The colours the authors' evaluation (``utils/masks.py``) decodes COCO-Stuff masks to, for
reproducing the paper's mIoU: 172 rows, row ``j < 171`` the colour (and name) of raw value ``j``,
row 171 unlabeled (ignored). A decoding set only: raw values 171..181 (wall-concrete .. wood)
have no row, so never encode masks with it; see :func:`decoding_palette`."""

DECODINGS = ("classes", "authors")
"""How a predicted colour mask is turned into ids: ``"classes"`` (ours, the default): the
nearest colour of the palette's own classes; ``"authors"``: the nearest colour of the authors'
evaluation set (:data:`COCO_STUFF_AUTHORS_EVAL` for COCO-Stuff; CelebAMask-HQ's is its palette)."""


def decoding_palette(palette: str | Palette, decoding: str = "classes") -> Palette:
    """The palette whose colours a predicted mask of ``palette`` is decoded to (see :data:`DECODINGS`)."""
    palette = get_palette(palette)
    if decoding not in DECODINGS:
        raise ValueError(f"unknown decoding {decoding!r}; accepted: {', '.join(DECODINGS)}")
    if decoding == "authors" and palette.name == COCO_STUFF.name:
        return COCO_STUFF_AUTHORS_EVAL
    return palette


def recode_class_map(class_map: np.ndarray, palette: str | Palette, decoding: str = "classes") -> np.ndarray:
    """Class ids of ``palette`` ``[..., H, W]`` -> ids of ``decoding_palette(palette, decoding)``:
    each class's colour snapped to the nearest colour of that set, which is what the authors'
    evaluation does to a ground-truth colour mask (e.g. COCO ``wood``, raw 181, becomes raw 145
    ``playingfield`` in the ``"authors"`` decoding). Identity for ``"classes"``."""
    palette = get_palette(palette)
    target = decoding_palette(palette, decoding)
    if target is palette:
        return palette.check_ids(class_map).astype(np.int64)
    ours = palette.colors.astype(np.int64)[:, None, :]
    theirs = target.colors.astype(np.int64)[None, :, :]
    lut = ((ours - theirs) ** 2).sum(-1).argmin(1)  # first of equally near colours, as torch.argmin
    return lut[palette.check_ids(class_map).astype(np.int64)]


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
