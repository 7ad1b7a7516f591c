"""Reading painted colour masks: which class did the painter mean at each pixel?

A mask painted in a browser, resampled by an editor or saved as JPEG is not made of palette
colours alone: antialiased brush edges blend two classes, and a mask in another palette
shares no colour with ours. :func:`read_painted_mask` snaps such a canvas to class ids
robustly (blends take a neighbouring class, never a third class that happens to lie near
the blend) and refuses masks drawn in other colours. Part of the input layer
(:mod:`symmflow.processing`); the codecs only ever see clean class ids.
"""

from __future__ import annotations

import numpy as np
import torch

from symmflow.codecs import PaletteCodec
from symmflow.palettes import Palette, get_palette

__all__ = ["DEFAULT_TOLERANCE", "OffPaletteError", "read_painted_mask"]

DEFAULT_TOLERANCE = 24.0
"""Largest distance (0..255 RGB units) at which a pixel counts as a palette colour."""


class OffPaletteError(ValueError):
    """A colour mask painted in other colours than the palette's."""


def read_painted_mask(
    image: np.ndarray,
    palette: str | Palette,
    tolerance: float | None = DEFAULT_TOLERANCE,
    max_foreign: float | None = None,
) -> np.ndarray:
    """A painted colour mask ``[H, W, 3]`` (``uint8``, 0..255) -> class ids ``[H, W]`` (``int64``) of ``palette``.

    Pixels within ``tolerance`` (0..255 units) of a palette colour take that class. The
    rest, e.g. antialiased brush edges that blend two classes, take the class of the
    nearest confident pixel, so a blend of two colours never invents a third class that
    happens to lie near the blend. With ``tolerance=None`` every pixel simply takes the
    nearest colour.

    ``max_foreign`` (a share, e.g. ``0.005``; needs a ``tolerance``) refuses masks drawn in
    other colours: a pixel is foreign when it is farther than ``tolerance`` from every
    palette colour and from every blend of two classes found within 3 pixels of it
    (antialiased or resampled edges). A wrong palette would otherwise be read as the
    nearest classes without a word.

    Raises:
        ValueError: a shape other than ``[H, W, 3]``, or more foreign pixels than ``max_foreign``.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a colour mask must have shape [H, W, 3], got {list(image.shape)}")
    if max_foreign is not None and tolerance is None:
        raise ValueError("max_foreign needs a tolerance: it counts pixels farther than tolerance from the palette")
    palette = get_palette(palette)
    h, w, _ = image.shape
    ids, dist = PaletteCodec(palette).nearest(torch.from_numpy(image.reshape(-1, 3).astype(np.float32)))
    ids = ids.reshape(h, w).numpy()
    if tolerance is None:
        return ids
    near = (dist <= tolerance).reshape(h, w).numpy()
    if max_foreign is not None:
        # foreign pixels are far ones: when few pixels are far, none need a closer look
        foreign = _off_palette(image, ids, near, palette.colors, tolerance) if (~near).mean() > max_foreign else None
        if foreign is not None and foreign.mean() > max_foreign:
            colours, counts = np.unique(image[foreign], axis=0, return_counts=True)
            examples = ", ".join(str(tuple(int(v) for v in c)) for c in colours[np.argsort(-counts)[:3]])
            raise OffPaletteError(
                f"{foreign.mean():.2%} of the pixels ({int(foreign.sum())}) are not {palette.name!r} "
                f"palette colours (within {tolerance:g}) nor blends of two neighbouring ones, most often "
                f"{examples}; accepted: colour masks in the {palette.name!r} palette "
                f"(at most {max_foreign:.2%} stray pixels) or class-id maps"
            )
    confident = near & ~_blend_pixels(image, ids, tolerance)
    if not confident.any():
        return ids
    return _fill_from_confident(ids, confident)


def _blend_pixels(image: np.ndarray, ids: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels that look like a mix of two different neighbouring classes.

    A pixel is flagged when, along some direction, the pixels 1 or 2 steps away on either
    side belong to two other, different classes and its colour lies (within ``tolerance``)
    strictly between theirs in RGB: the signature of an antialiased edge, even where the
    mix happens to equal a third palette colour exactly (hair over background looks like lips).
    """
    h, w = ids.shape
    rgb = image.astype(np.float32)
    pad = 2
    ids_p = np.pad(ids, pad, mode="edge")
    rgb_p = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")

    def shifted(arr: np.ndarray, dy: int, dx: int) -> np.ndarray:
        return arr[pad + dy : pad + dy + h, pad + dx : pad + dx + w]

    flagged = np.zeros((h, w), dtype=bool)
    for oy, ox in ((0, 1), (1, 0), (1, 1), (1, -1)):
        for d in (1, 2):
            a, b = shifted(ids_p, d * oy, d * ox), shifted(ids_p, -d * oy, -d * ox)
            candidate = (a != ids) & (b != ids) & (a != b)
            if not candidate.any():
                continue
            ca, cb = shifted(rgb_p, d * oy, d * ox), shifted(rgb_p, -d * oy, -d * ox)
            seg = cb - ca
            along = ((rgb - ca) * seg).sum(-1) / np.maximum((seg * seg).sum(-1), 1e-6)
            off_line = np.linalg.norm(rgb - (ca + along[..., None].clip(0, 1) * seg), axis=-1)
            flagged |= candidate & (along > 0) & (along < 1) & (off_line <= tolerance)
    return flagged


def _off_palette(
    image: np.ndarray,
    ids: np.ndarray,
    near: np.ndarray,
    colors: np.ndarray,
    tolerance: float,
    radius: int = 3,
    max_classes: int = 4,
    chunk: int = 1 << 17,
) -> np.ndarray:
    """``bool`` ``[H, W]``: the pixels not ``near`` a palette colour that are no blend either,
    i.e. farther than ``tolerance`` from the RGB segment between the colours of every two
    classes with ``near`` pixels within ``radius`` of them (the first ``max_classes`` of
    them by id: more meet only at rare junctions)."""
    far = ~near
    fy, fx = np.nonzero(far)
    explained = np.zeros(len(fy), dtype=bool)
    labelled = np.pad(np.where(near, ids, -1).astype(np.int16), radius, constant_values=-1)
    palette = colors.astype(np.float32)
    span = range(2 * radius + 1)
    for lo in range(0, len(fy), chunk):  # bounded memory on masks that are mostly far pixels
        y, x = fy[lo : lo + chunk], fx[lo : lo + chunk]
        window = np.sort(np.stack([labelled[y + dy, x + dx] for dy in span for dx in span], axis=1), axis=1)
        new = np.ones(window.shape, dtype=bool)
        new[:, 1:] = window[:, 1:] != window[:, :-1]
        new &= window >= 0
        rank = np.cumsum(new, axis=1) - 1
        rows, cols = np.nonzero(new & (rank < max_classes))
        found = np.full((len(y), max_classes), -1, dtype=np.int64)
        found[rows, rank[rows, cols]] = window[rows, cols]
        rgb = image[y, x].astype(np.float32)
        done = explained[lo : lo + chunk]  # a view: marks land in `explained`
        for i in range(max_classes):
            for j in range(i + 1, max_classes):
                idx = np.nonzero((found[:, j] >= 0) & ~done)[0]  # found[:, i] >= 0 whenever found[:, j] is
                if not idx.size:
                    continue
                ca = palette[found[idx, i]]
                seg = palette[found[idx, j]] - ca
                q = rgb[idx] - ca
                along = ((q * seg).sum(1) / np.maximum((seg * seg).sum(1), 1e-6)).clip(0, 1)
                done[idx[np.linalg.norm(q - along[:, None] * seg, axis=1) <= tolerance]] = True
    out = np.zeros_like(far)
    out[fy[~explained], fx[~explained]] = True
    return out


def _fill_from_confident(ids: np.ndarray, confident: np.ndarray, max_iters: int = 64) -> np.ndarray:
    """Give every unconfident pixel the class of a confident neighbour, growing inward one
    ring per iteration (antialiased edges are a few pixels wide, so this ends fast).
    Edge-sharing neighbours are preferred over diagonal ones."""
    ids = ids.copy()
    known = confident.copy()
    h, w = ids.shape
    offsets = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))
    for _ in range(max_iters):
        if known.all():
            break
        padded_ids, padded_known = np.pad(ids, 1), np.pad(known, 1)
        filled = known.copy()
        for dy, dx in offsets:
            n_ids = padded_ids[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            take = ~filled & padded_known[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            ids[take] = n_ids[take]
            filled |= take
        if (filled == known).all():
            break
        known = filled
    return ids
