"""The input layer: whatever a user hands over -> the tensors a pipeline computes with.

In the spirit of diffusers' ``VaeImageProcessor``, one :class:`ImageProcessor` per pipeline
(built from its :class:`~symmflow.pipeline_config.PipelineConfig`) owns every decision about
inputs, so the library, the command line and the app cannot disagree:

* reading files (paths, file objects, :class:`NamedFile` uploads) and telling PIL images,
  numpy arrays and tensors apart;
* the pixel limit, checked from a file's header before any pixel is decoded
  (:data:`MAX_PIXELS`), for every image input: photos, masks and drawings;
* resizing to the model's resolution (images: area/bilinear; class maps: majority vote);
* reading painted masks in the palette, blends and off-palette pixels included
  (:mod:`symmflow.painted_masks`), and refusing masks that say nothing (all background);
* turning a drawn digit into the 8x8 digits the classifier was trained on
  (:func:`preprocess_drawing`).

Conventions: image tensors are ``float32 [B, C, S, S]`` in ``[-1, 1]``; class maps are
``int64 [H, W]`` ids of the palette; errors are ``ValueError`` naming the input (by its
index in a batch and its file name) and what is accepted.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from symmflow.data.images import DEFAULT_MAX_PIXELS, composite, load_rgb, open_image, resize_labels, to_tensor
from symmflow.painted_masks import read_painted_mask
from symmflow.palettes import get_palette

if TYPE_CHECKING:
    from symmflow.pipeline_config import PipelineConfig

__all__ = [
    "MAX_FOREIGN",
    "MAX_PIXELS",
    "MIN_SIDE",
    "EmptyMaskError",
    "ImageProcessor",
    "NamedFile",
    "preprocess_drawing",
    "read_drawing",
    "read_image",
]

MAX_PIXELS = DEFAULT_MAX_PIXELS
"""The pixel limit (width x height) of every image input, checked before decoding."""

MAX_FOREIGN = 0.02
"""Largest share of a colour mask's pixels in no class colour (nor a blend of two) before
the mask is refused as drawn in another palette."""

MIN_SIDE = 8
"""Images with a shorter side than this (or than the model's size, if smaller) hold too
little to segment or classify: the pipeline warns."""


class EmptyMaskError(ValueError):
    """A mask of nothing but the palette's ignored class (background): it says nothing."""


@dataclass(frozen=True)
class NamedFile:
    """A file on disk with the name its owner knows it by (an upload's original name):
    messages about it say ``name``, never the server's temporary ``path``."""

    path: str
    name: str

    def __fspath__(self) -> str:
        return self.path


def _source(item: Any) -> tuple[Any, str | None]:
    """``(what to read, the name to show)`` of an input."""
    if isinstance(item, NamedFile):
        return item.path, item.name
    return item, None


def read_image(source: Any, max_pixels: int | None = MAX_PIXELS, name: str | None = None) -> Image.Image:
    """Open an image file (path, file object or :class:`NamedFile`), checking ``max_pixels``
    from the header before decoding. Returns the decoded PIL image in its own mode.

    Raises:
        ValueError: not an image (empty, truncated, SVG, text...), over the limit; the message
            names the file by ``name`` or the :class:`NamedFile`'s name.
        FileNotFoundError: no such file.
    """
    path, own = _source(source)
    return open_image(path, max_pixels, name=name or own)


def read_rgb(source: Any, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Any image input -> RGB ``uint8 [H, W, 3]`` (alpha composited on white), size-checked."""
    path, name = _source(source)
    return load_rgb(path, max_pixels=max_pixels, name=name)


def _mask_rgb(item: Any, max_pixels: int | None) -> np.ndarray:
    """A colour mask as RGB ``uint8 [H, W, 3]``; transparent pixels become black, the background
    class (also in palette and grey images that mark a transparent colour)."""
    if isinstance(item, Image.Image) and (item.mode in ("RGBA", "LA", "PA") or "transparency" in item.info):
        return composite(np.asarray(item.convert("RGBA")), background=0)
    if isinstance(item, np.ndarray) and item.ndim == 3 and item.shape[2] == 4 and item.dtype == np.uint8:
        return composite(item, background=0)
    return read_rgb(item, max_pixels)


def read_drawing(source: Any, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """A drawing (file, :class:`NamedFile`, PIL image or array) -> ``uint8 [H, W, 4]`` RGBA or
    the array as given, size-checked, ready for :func:`preprocess_drawing`."""
    if isinstance(source, np.ndarray):
        load_rgb(source[..., :3] if source.ndim == 3 else source, max_pixels=max_pixels)  # checks only
        return source
    image = source if isinstance(source, Image.Image) else read_image(source, max_pixels)
    return np.asarray(image.convert("RGBA"))


def preprocess_drawing(image: np.ndarray, invert: bool | None = None) -> np.ndarray:
    """A drawn digit of any size -> an 8x8 digit made the way the training digits were made.

    scikit-learn's digits are UCI "optdigits": each handwritten digit was scaled to fit a
    32x32 bitmap and the "on" pixels counted in each 4x4 block (0..16). Here: find the
    strokes' bounding box, scale it so its longer side is 32 pixels, centre it, binarise, and
    count 4x4 blocks. ``image``: ``[H, W]`` grey, ``[H, W, 3]`` RGB or ``[H, W, 4]`` RGBA
    (transparent counts as paper) in 0..255. ``invert``: ``None`` guesses dark-on-light vs
    light-on-dark from the border colour. Returns ``float32 [8, 8]`` in 0..16.

    Raises:
        ValueError: an empty canvas (no strokes), or an array of another shape.
    """
    gray = np.asarray(image, dtype=np.float32)
    if gray.ndim == 3:
        if gray.shape[2] == 4:  # strokes on a transparent canvas: transparent counts as paper
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
    strokes = ink > 0.5 * ink.max()
    rows, cols = np.nonzero(strokes)
    crop = strokes[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    scale = 32.0 / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = F.interpolate(torch.from_numpy(crop)[None, None], size=(h, w), mode="area")[0, 0] > 0.5
    bitmap = torch.zeros(32, 32)
    top, left = (32 - h) // 2, (32 - w) // 2
    bitmap[top : top + h, left : left + w] = small.float()
    return (F.avg_pool2d(bitmap[None, None], 4)[0, 0] * 16.0).numpy()


def _as_items(inputs: Any, what: str, maps: bool = False) -> list[Any]:
    """One input or a batch -> a list of single items. ``maps``: a 3-D integer array or tensor
    is a batch of class-id maps ``[B, H, W]`` (not one RGB picture)."""
    if isinstance(inputs, (list, tuple)):
        items = list(inputs)
    elif isinstance(inputs, (torch.Tensor, np.ndarray)) and inputs.ndim == 4:
        items = list(inputs)
    elif maps and isinstance(inputs, torch.Tensor) and inputs.dim() == 3 and not inputs.is_floating_point():
        items = list(inputs)
    elif maps and isinstance(inputs, np.ndarray) and inputs.ndim == 3 and np.issubdtype(inputs.dtype, np.integer) and inputs.shape[2] not in (3, 4):
        items = list(inputs)
    else:
        items = [inputs]
    if not items:
        raise ValueError(f"no {what} given")
    return items


def _float_image_tensor(item: torch.Tensor) -> torch.Tensor:
    if item.dim() == 2:
        item = item[None]
    if item.dim() != 3 or item.shape[0] not in (1, 3, 4) or min(item.shape[1:]) < 1:
        raise ValueError(f"a tensor image must be [C, H, W] with C in 1, 3, 4, got {list(item.shape)}")
    if not torch.isfinite(item).all():
        raise ValueError("it contains NaN or infinite values")
    if item.min() < -1.001 or item.max() > 1.001:
        raise ValueError(f"tensor images must be in [-1, 1], got [{item.min():.3g}, {item.max():.3g}]")
    return item[:3].float().cpu()


def _resize(img: torch.Tensor, size: int) -> torch.Tensor:
    if img.shape[-2:] == (size, size):
        return img
    return F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].clamp(-1, 1)


def _palette_matches(image: Image.Image, colors: np.ndarray) -> bool:
    pal = image.getpalette()
    if not pal:
        return False
    pal = np.array(pal[: 3 * len(colors)]).reshape(-1, 3)
    return len(pal) >= len(colors) and np.array_equal(pal[: len(colors)], colors)


def _label(i: int, item: Any, what: str) -> str:
    """How messages name input ``i``: ``images[0] ('photo.png')``."""
    name = item.name if isinstance(item, NamedFile) else str(item) if isinstance(item, (str, os.PathLike)) else None
    return f"{what}[{i}]" + (f" ({name!r})" if name else "")


class ImageProcessor:
    """Inputs of one pipeline -> model tensors. Built from a :class:`PipelineConfig`.

    Args:
        config: the pipeline's config (image size and channels, palette, classes).
        max_pixels: the pixel limit of every image input (``None``: none).
    """

    def __init__(self, config: PipelineConfig, max_pixels: int | None = MAX_PIXELS) -> None:
        self.config = config
        self.max_pixels = max_pixels
        self.palette = get_palette(config.palette) if config.task == "segmentation" else None

    # -- images ------------------------------------------------------------------------------

    def preprocess(self, images: Any) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Images -> ``([B, C, S, S]`` float32 in ``[-1, 1]`` on the CPU, each input's ``(H, W)``).

        ``images``: one image or a list/batch: a path, :class:`NamedFile` or file object; PIL
        (any mode); ``uint8``/float arrays ``[H, W]`` / ``[H, W, C]``; float tensors ``[C, H, W]``
        / ``[B, C, H, W]`` in ``[-1, 1]``. RGB becomes grey (ITU-R 601 weights) for 1-channel
        models and grey becomes RGB for 3-channel ones; every image is resized to ``S``.
        Warns (``UserWarning``) about images smaller than :data:`MIN_SIDE`.
        """
        batch, sizes = [], []
        size, channels = self.config.image_size, self.config.image_channels
        for i, item in enumerate(_as_items(images, "images")):
            try:
                if isinstance(item, torch.Tensor) and item.is_floating_point():
                    img = _float_image_tensor(item)
                else:
                    img = to_tensor(read_rgb(item, self.max_pixels))
            except ValueError as err:
                raise ValueError(f"{_label(i, item, 'images')}: {err}") from err
            h, w = img.shape[1], img.shape[2]
            if min(h, w) < min(MIN_SIDE, size):
                warnings.warn(
                    f"{_label(i, item, 'images')} is only {w}x{h} pixels: far too small to "
                    f"{'segment' if self.palette else 'classify'}; the result means little",
                    stacklevel=3,
                )
            sizes.append((h, w))
            if img.shape[0] == 3 and channels == 1:
                img = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
            elif img.shape[0] == 1 and channels == 3:
                img = img.expand(3, -1, -1)
            batch.append(_resize(img, size))
        return torch.stack(batch), sizes

    def preprocess_drawings(self, drawings: Any) -> tuple[torch.Tensor, list[np.ndarray]]:
        """Drawn digits (files, images or arrays, any size) -> ``([B, 1, S, S]`` in ``[-1, 1]``,
        the 8x8 digits in 0..16), made the way the training digits were (:func:`preprocess_drawing`)."""
        if self.config.image_channels != 1:
            raise ValueError("drawings are for grey digit classifiers (image_channels 1)")
        digits, batch = [], []
        for i, item in enumerate(_as_items(drawings, "drawings")):
            try:
                digit = preprocess_drawing(read_drawing(item, self.max_pixels))
            except ValueError as err:
                raise ValueError(f"{_label(i, item, 'drawings')}: {err}") from err
            digits.append(digit)
            x = torch.from_numpy(digit)[None, None] / 8.0 - 1.0
            if self.config.image_size != 8:
                x = F.interpolate(x, size=(self.config.image_size,) * 2, mode="bilinear", align_corners=False)
            batch.append(x[0].clamp(-1, 1))
        return torch.stack(batch), digits

    # -- masks -------------------------------------------------------------------------------

    def class_maps(self, masks: Any) -> torch.Tensor:
        """Masks -> class ids ``int64 [B, S, S]`` at model resolution (majority vote when shrinking).

        Each mask: a colour mask (file, PIL or ``uint8 [H, W, 3|4]``, palette colours;
        antialiased edges are fine, transparent pixels are background) or a class-id map
        (``int [H, W]`` array/tensor, ``L``/``P`` PIL image, a batch ``[B, H, W]``). For
        palettes with ``raw_ids`` (COCO-Stuff) an ``L``/``I`` image of raw values is the data
        set's label PNG and is read as :meth:`~symmflow.palettes.Palette.from_raw` reads it.
        Refused: masks in other colours (:data:`MAX_FOREIGN`) and masks of nothing but the
        palette's ignored class (background).
        """
        maps = []
        for i, item in enumerate(_as_items(masks, "masks", maps=True)):
            try:
                ids = self.read_mask(item)
            except ValueError as err:
                raise type(err)(f"{_label(i, item, 'masks')}: {err}") from err
            maps.append(torch.from_numpy(self.resize_class_map(ids)))
        return torch.stack(maps)

    def resize_class_map(self, ids: np.ndarray) -> np.ndarray:
        """Class ids ``[H, W]`` -> ``[S, S]`` at model resolution: each pixel takes the class
        covering most of its area when shrinking (thin brows and lips survive), nearest else."""
        return resize_labels(ids, self.config.image_size, mode="majority")

    def read_mask(self, item: Any) -> np.ndarray:
        """One mask (see :meth:`class_maps`) -> class ids ``int64 [H, W]`` at its own size."""
        return self._read_mask(item)[0]

    def read_mask_colours(self, item: Any) -> tuple[np.ndarray, np.ndarray]:
        """One mask, decoded once -> (class ids ``int64 [H, W]``, the colours read ``uint8 [H, W, 3]``).

        The colours are the mask's own pixels (transparent ones black), not the palette colours
        of the ids: a blend or a thin strip the reader snapped to another class keeps its colour,
        so a canvas can be compared with what was painted on it. A mask given as class ids
        (array, tensor, ``L``/``P`` image) has its ids' palette colours."""
        ids, rgb = self._read_mask(item)
        return ids, self.palette.colorize(ids) if rgb is None else rgb

    def _read_mask(self, item: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`read_mask_colours`, with ``None`` for the colours of a mask given as class ids."""
        palette = self.palette
        if palette is None:
            raise ValueError("masks are labels of segmentation models; this model classifies")
        rgb = None
        if isinstance(item, (str, os.PathLike, NamedFile)) or hasattr(item, "read"):
            path, name = _source(item)
            item = open_image(path, self.max_pixels, name=name)  # a class-id PNG must be read as ids
        if isinstance(item, Image.Image):
            _check_pixels(item.width, item.height, self.max_pixels)
        if isinstance(item, torch.Tensor) and not item.is_floating_point():
            ids = item.long().numpy()
        elif isinstance(item, np.ndarray) and item.ndim == 2 and np.issubdtype(item.dtype, np.integer):
            ids = item.astype(np.int64)
        elif isinstance(item, Image.Image) and item.mode == "P" and _palette_matches(item, palette.colors):
            ids = np.asarray(item).astype(np.int64)  # a colour mask saved with our palette
        elif isinstance(item, Image.Image) and item.mode in ("L", "I", "I;16"):
            ids = np.asarray(item).astype(np.int64)
            if palette.raw_ids is not None and set(np.unique(ids).tolist()) <= set(palette.raw_ids):
                ids = palette.from_raw(ids)  # a data set's label PNG (COCO: raw stuffthingmaps ids, 255 unlabeled)
            elif ids.size and ids.max() >= palette.num_classes:  # not class ids: a grey picture of a mask
                rgb = load_rgb(item)
                ids = read_painted_mask(rgb, palette, max_foreign=MAX_FOREIGN)
        else:
            rgb = _mask_rgb(item, self.max_pixels)
            ids = read_painted_mask(rgb, palette, max_foreign=MAX_FOREIGN)
        if ids.ndim != 2:
            raise ValueError(f"a class map must be 2-D [H, W], got shape {list(ids.shape)}")
        if ids.size == 0:
            raise ValueError("the mask is empty (0 pixels)")
        _check_pixels(ids.shape[1], ids.shape[0], self.max_pixels)
        if ids.min() < 0 or ids.max() >= palette.num_classes:
            raise ValueError(
                f"class ids must lie in [0, {palette.num_classes - 1}] for palette {palette.name!r}, "
                f"got values in [{ids.min()}, {ids.max()}]"
            )
        if palette.ignore_index is not None and (ids == palette.ignore_index).all():
            name = palette.class_names[palette.ignore_index]
            raise EmptyMaskError(f"the mask holds only {name!r}: paint some classes (accepted: masks with at least one other class)")
        return ids, rgb

    # -- class labels --------------------------------------------------------------------------

    def class_ids(self, labels: Any) -> torch.Tensor:
        """Class labels (an id, a name, or a list/array of them) -> ids ``int64 [B]``."""
        names, k = self.config.class_names or [], self.config.num_classes or 0
        if isinstance(labels, str):
            labels = [labels]
        values = labels.tolist() if isinstance(labels, (torch.Tensor, np.ndarray)) else labels
        values = [values] if not isinstance(values, (list, tuple)) else list(values)
        ids = []
        for v in values:
            if isinstance(v, str):
                if v not in names:
                    raise ValueError(f"unknown class {v!r}; known classes: {', '.join(names)}")
                ids.append(names.index(v))
            elif isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < k:
                ids.append(int(v))
            else:
                raise ValueError(f"class labels must be ids in [0, {k - 1}] or class names, got {v!r}")
        if not ids:
            raise ValueError("no class labels given")
        return torch.tensor(ids)


def _check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f"it is {width}x{height} = {width * height / 1e6:.1f} megapixels, more than the limit of "
            f"{max_pixels / 1e6:.1f} megapixels; downscale it first"
        )

