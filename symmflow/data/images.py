"""Reading, converting and resizing images, shared by the datasets, the app and the pipelines.

Conventions used everywhere in ``symmflow``:

* an *RGB array* is ``uint8`` ``[H, W, 3]`` in ``0..255``;
* an *image tensor* is ``float32`` ``[3, H, W]`` in ``[-1, 1]`` (``x / 127.5 - 1``);
* a *label map* is an integer ``[H, W]`` array of class ids; it is only ever resized with
  nearest-neighbour sampling, so no class is invented at a boundary.

Only Pillow and numpy are used (OpenCV is an optional dependency of the app).
"""

from __future__ import annotations

import os
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageSource",
    "center_crop_square",
    "composite",
    "load_rgb",
    "open_image",
    "resize_labels",
    "resize_rgb",
    "to_tensor",
    "to_uint8",
]

DEFAULT_MAX_PIXELS = 64_000_000
"""Largest image (width x height) read by default: 64 megapixels, a decompression-bomb guard.
A 64 MP RGB image is ~190 MB decoded; anything larger is far beyond what the models use."""

ImageSource = Union[str, os.PathLike, BinaryIO, Image.Image, np.ndarray]

_READABLE = "PNG, JPEG, WebP, BMP, TIFF, GIF"


def _describe(source: object) -> str:
    """A short name of an image source for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__}>"


def _check_size(width: int, height: int, max_pixels: int | None, what: str) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"{what} is empty (size {width}x{height}); an image needs at least 1x1 pixels")
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f"{what} is {width}x{height} = {width * height / 1e6:.1f} megapixels, more than the limit of "
            f"{max_pixels / 1e6:.1f} megapixels ({max_pixels} pixels); downscale it first or raise max_pixels"
        )


def open_image(
    source: str | os.PathLike | BinaryIO, max_pixels: int | None = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Image.Image:
    """Open and fully decode an image file with Pillow, with clear errors.

    The size is checked against ``max_pixels`` from the header alone, before any pixel is
    decoded, so a decompression bomb costs nothing. Multi-frame files (GIF, animated WebP)
    give their first frame. The image keeps its mode (``"RGB"``, ``"P"``, ``"I;16"``, ...).
    Messages name the file ``name`` (e.g. the name a user uploaded it under), else ``source``.

    Raises:
        FileNotFoundError: ``source`` is a path that does not exist.
        ValueError: not a path or file object, not an image Pillow can read, an empty image, an image over
            ``max_pixels``, or a file that fails to decode (e.g. truncated).
    """
    what = name or _describe(source)
    if not isinstance(source, (str, os.PathLike)) and not hasattr(source, "read"):
        raise ValueError(
            f"{what}: cannot read an image from a {type(source).__name__}; accepted: a file path, "
            "a binary file object, a PIL image or a numpy array"
        )
    try:
        image = Image.open(source)
    except UnidentifiedImageError:
        raise ValueError(f"{what} is not an image file PIL can read (accepted: {_READABLE})") from None
    except Image.DecompressionBombError as err:
        # Pillow's own guard (2x Image.MAX_IMAGE_PIXELS) fires before ours can when max_pixels is larger.
        raise ValueError(f"{what} is too large to open safely: {err}") from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        if name is None:
            raise
        # a file known by another name (an upload): say that name, never the server's path
        raise type(err)(f"{name} could not be opened ({err.strerror}); upload it again") from None
    except OSError as err:  # e.g. a file cut off inside its header
        raise ValueError(f"{what} could not be read ({err}); the file may be truncated or corrupt") from None
    _check_size(image.width, image.height, max_pixels, what)
    try:
        image.load()
    except OSError as err:
        raise ValueError(
            f"{what} could not be decoded ({err}); the file may be truncated or corrupt"
        ) from None
    return image


def composite(rgba: np.ndarray, background: int = 255) -> np.ndarray:
    """``uint8`` ``[H, W, 4]`` (straight alpha) -> ``uint8`` ``[H, W, 3]`` over a grey level.

    Photos and drawings go on white (what viewers show); colour masks go on black (0), the
    background class, so a transparent area never reads as a face part.
    """
    rgb = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:4].astype(np.uint32)
    # Integer rounding of rgb * a + bg * (1 - a), exact at a = 0 and a = 255.
    return ((rgb * alpha + background * (255 - alpha) + 127) // 255).astype(np.uint8)


def _array_to_rgb(arr: np.ndarray, what: str) -> np.ndarray:
    """Any supported numeric array ``[H, W]`` / ``[H, W, 1|2|3|4]`` -> ``uint8`` ``[H, W, 3]``."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        hint = ""
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
            hint = "; channel-first arrays need arr.transpose(1, 2, 0) first"
        raise ValueError(
            f"{what}: expected an array of shape [H, W] or [H, W, 1|2|3|4], got {list(arr.shape)}{hint}"
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError(f"{what}: a float image must not contain NaN or infinity")
        lo, hi = float(arr.min()), float(arr.max())
        # Any negative value means the model range [-1, 1]; otherwise [0, 1]. A little slack
        # absorbs round-off from arithmetic on the values.
        if lo >= -1e-3 and hi <= 1 + 1e-3:
            arr = arr * 255.0
        elif lo >= -1 - 1e-3 and hi <= 1 + 1e-3:
            arr = (arr + 1.0) * 127.5
        else:
            raise ValueError(
                f"{what}: a float image must lie in [0, 1] or [-1, 1], got values in [{lo:g}, {hi:g}]"
            )
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ValueError(
                f"{what}: integer images must lie in 0..255 or 0..65535, got values in [{lo}, {hi}]"
            )
        # 16-bit data (dtype uint16, or wider ints holding values > 255) keeps its top byte, so
        # brightness is preserved; stretching by the maximum would brighten dark images.
        if arr.dtype == np.uint16 or hi > 255:
            arr = arr.astype(np.uint32) >> 8
        arr = arr.astype(np.uint8)
    else:
        raise ValueError(f"{what}: unsupported array dtype {arr.dtype}")
    channels = arr.shape[2]
    if channels == 1:
        return np.repeat(arr, 3, axis=2)
    if channels == 2:  # grey + alpha
        return composite(np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2))
    if channels == 4:
        return composite(arr)
    return arr


def _pil_to_rgb(image: Image.Image, what: str) -> np.ndarray:
    """A decoded Pillow image of any mode -> ``uint8`` ``[H, W, 3]``."""
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    if mode.startswith("I") or mode == "F":
        # 16/32-bit integer and float modes: Pillow's convert("RGB") clips them to 0..255,
        # which turns a 16-bit PNG white; the array rules scale them instead.
        return _array_to_rgb(np.asarray(image), what)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return composite(np.asarray(image.convert("RGBA"), dtype=np.uint8))
    try:
        # L, 1, P, CMYK (Pillow undoes Adobe's inverted CMYK JPEGs), YCbCr, ...
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except ValueError as err:
        raise ValueError(f"{what}: cannot convert an image of mode {mode!r} to RGB ({err})") from None


def load_rgb(
    source: ImageSource,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    exif_transpose: bool = True,
    name: str | None = None,
) -> np.ndarray:
    """Read any image into an RGB array ``uint8`` ``[H, W, 3]``.

    Accepts a path, a binary file object, a Pillow image, or a numpy array ``[H, W]`` or
    ``[H, W, C]`` with ``C`` in 1..4. How each kind becomes RGB:

    * grey (``L``, ``1``, 1-channel arrays): repeated over the three channels;
    * palette (``P``): expanded through its palette;
    * alpha (``RGBA``, ``LA``, ``PA``, a ``P``/``L``/``RGB`` image with a transparent colour,
      4- and 2-channel arrays): **composited on white**. Transparent areas of uploaded
      drawings and cut-outs are shown on white by nearly every viewer, so white is what the
      user saw; dropping alpha would instead expose whatever colour the editor left under it;
    * ``CMYK`` (e.g. print JPEGs): Pillow's conversion (ICC profiles are ignored);
    * 16-bit (``I;16`` PNGs, ``uint16`` arrays, ints above 255): the top 8 bits (``>> 8``);
    * float arrays: ``[0, 1]`` -> ``x * 255``; with any negative value, ``[-1, 1]`` ->
      ``(x + 1) * 127.5``; rounded. Other ranges are an error.

    Args:
        source: the image.
        max_pixels: largest allowed ``width * height`` (``None``: no limit). Checked before a
            file's pixels are decoded.
        exif_transpose: rotate/flip a file or Pillow image as its EXIF orientation says (what
            a viewer shows, e.g. phone photos). Datasets pass ``False``: their label maps are
            aligned with the stored pixel order, not the displayed one.
        name: what messages call the image (default: its path, or its type).

    Raises:
        ValueError: empty image, over ``max_pixels``, not an image file, or an unsupported
            mode/dtype/shape/range; the message names the source and what was expected.
    """
    what = name or _describe(source)
    if isinstance(source, np.ndarray):
        if source.size == 0:
            raise ValueError(f"{what}: the image is empty (array shape {list(source.shape)})")
        if source.ndim in (2, 3):
            _check_size(source.shape[1], source.shape[0], max_pixels, what)
        rgb = _array_to_rgb(source, what)
    else:
        if isinstance(source, Image.Image):
            image = source
            _check_size(image.width, image.height, max_pixels, what)
        else:
            image = open_image(source, max_pixels, name=what)
        if exif_transpose:
            image = ImageOps.exif_transpose(image)
        rgb = _pil_to_rgb(image, what)
    return np.ascontiguousarray(rgb)


def _target_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """``size`` (an int for a square, or ``(height, width)``) -> ``(height, width)``."""
    h, w = (size, size) if isinstance(size, (int, np.integer)) else size
    if int(h) <= 0 or int(w) <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return int(h), int(w)


def resize_rgb(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an RGB array ``uint8`` ``[H, W, 3]`` to ``size`` (int: square; or ``(height, width)``).

    Shrinking uses area averaging (Pillow ``BOX``, like OpenCV's ``INTER_AREA``): no aliasing
    and no ringing. Enlarging (either side) uses bicubic. Returns ``uint8`` ``[h, w, 3]``.
    """
    h, w = _target_hw(size)
    if image.shape[:2] == (h, w):
        return image.copy()
    shrink = h <= image.shape[0] and w <= image.shape[1]
    method = Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize((w, h), method), dtype=np.uint8)


def resize_labels(labels: np.ndarray, size: int | tuple[int, int], mode: str = "nearest") -> np.ndarray:
    """Resize a label map ``[H, W]`` (any integer dtype, kept); only ids present can appear.

    ``mode="nearest"``: output pixel ``(i, j)`` takes the input pixel under its centre (Pillow's
    ``NEAREST``). ``mode="majority"``: when shrinking, each output pixel takes the class that
    covers most of its area, so thin strokes (brows, lips) survive a 4x reduction far better;
    enlarging falls back to nearest.
    """
    if mode not in ("nearest", "majority"):
        raise ValueError(f"mode must be 'nearest' or 'majority', got {mode!r}")
    h, w = _target_hw(size)
    in_h, in_w = labels.shape[:2]
    if (in_h, in_w) == (h, w):
        return labels.copy()
    if mode == "majority" and h <= in_h and w <= in_w:
        ids = torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64))
        present = torch.unique(ids)
        onehot = (ids[None] == present[:, None, None]).float()
        pooled = torch.nn.functional.interpolate(onehot[None], size=(h, w), mode="area")[0]
        return present[pooled.argmax(0)].numpy().astype(labels.dtype)
    rows = np.minimum(((np.arange(h) + 0.5) * in_h / h).astype(np.int64), in_h - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * in_w / w).astype(np.int64), in_w - 1)
    return labels[rows[:, None], cols[None, :]]


def center_crop_square(array: np.ndarray) -> np.ndarray:
    """The centred ``s x s`` crop (``s`` = shorter side) of an ``[H, W, ...]`` array (a view)."""
    h, w = array.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return array[top : top + s, left : left + s]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB array ``uint8`` ``[H, W, 3]`` -> image tensor ``float32`` ``[3, H, W]`` in ``[-1, 1]``."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"to_tensor expects uint8 [H, W, 3], got {image.dtype} {list(image.shape)}")
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 127.5 - 1.0


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """Image tensor ``[3, H, W]`` in ``[-1, 1]`` (values outside are clipped) -> ``uint8`` ``[H, W, 3]``."""
    tensor = torch.as_tensor(image).detach()
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"to_uint8 expects a [3, H, W] tensor, got shape {list(tensor.shape)}")
    pixels = ((tensor.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return pixels.permute(1, 2, 0).contiguous().cpu().numpy()
