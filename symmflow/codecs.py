"""Label codecs: discrete labels <-> the continuous label half ``y`` of the joint state.

* :func:`uniform_dequantize` spreads a discrete value over a small interval, so the label
  distribution has density (the authors' fix for collapse on discrete labels).
* :class:`ClassCodec`: one class id per sample -> a constant channel (or vector) at one of
  ``K`` levels in ``[-beta/2, beta/2]``; decoded by mean + rounding.
* :class:`PaletteCodec`: a class-id map -> the dataset's colour mask in ``[-1, 1]``; decoded
  by nearest palette colour, robustly for colours that are not in the palette. The paper's
  encoding (and the only one a VAE can take).
* :class:`OneHotCodec`: a class-id map -> one ``+-1`` channel per class; decoded by argmax. For
  pixel-space models: classes are all equally far apart, where neighbouring palette colours
  (hair ``(0,0,204)`` and lower lip ``(0,0,153)``) are 0.4 apart in ``[-1, 1]`` units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from symmflow.palettes import Palette, get_palette

__all__ = ["ClassCodec", "OneHotCodec", "PaletteCodec", "uniform_dequantize"]


def uniform_dequantize(
    y: torch.Tensor, width: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``y + width * (U(0, 1) - 0.5)``: uniform noise of total ``width`` on every element."""
    if width < 0:
        raise ValueError(f"dequantization width must be >= 0, got {width}")
    u = torch.rand(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    return y + width * (u - 0.5)


class ClassCodec:
    """Class ids <-> a label half at ``K`` evenly spaced levels.

    Class ``k`` becomes the level ``l_k = 2k / (K - 1) - 1`` in ``[-1, 1]``; the encoded value is
    ``(beta / 2) * l_k`` on every element of ``shape`` plus, when dequantizing, uniform noise of
    total width ``(beta / 2) / (K - 1)`` (a quarter of the gap between levels each side). The
    authors use ``beta = 4`` for MNIST/CIFAR-10; ``K = 2, beta = 2`` is the spiral toy's
    ``+-1`` labels with ``U(-0.5, 0.5)`` noise.

    Args:
        num_classes: ``K >= 2``.
        beta: total spread of the levels (values lie in ``[-beta/2, beta/2]``).
        shape: shape of one encoded label, e.g. ``(1,)`` for a vector or ``(1, 32, 32)`` for a
            one-channel map beside a 32x32 image.
    """

    def __init__(self, num_classes: int, beta: float = 4.0, shape: Sequence[int] = (1,)) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.num_classes = int(num_classes)
        self.beta = float(beta)
        self.shape = tuple(int(s) for s in shape)

    def __repr__(self) -> str:
        return f"ClassCodec(num_classes={self.num_classes}, beta={self.beta:g}, shape={self.shape})"

    @property
    def scale(self) -> float:
        return self.beta / 2.0

    @property
    def noise_width(self) -> float:
        """Total width of the dequantization noise, ``(beta / 2) / (K - 1)``."""
        return self.scale / (self.num_classes - 1)

    def levels(self) -> torch.Tensor:
        """Encoded value of each class, shape ``[K]``: ``(beta/2) * (2k/(K-1) - 1)``."""
        k = torch.arange(self.num_classes, dtype=torch.float64)
        return (self.scale * (2.0 * k / (self.num_classes - 1) - 1.0)).float()

    def encode(
        self,
        labels: torch.Tensor | Sequence[int],
        dequantize: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Class ids ``[B]`` (ints in ``[0, K)``) -> label half ``[B, *shape]``."""
        labels = torch.as_tensor(labels)
        if labels.dim() != 1:
            raise ValueError(f"labels must be a 1-D tensor of class ids, got shape {list(labels.shape)}")
        if labels.is_floating_point() and not torch.equal(labels, labels.round()):
            raise ValueError("labels must be integer class ids, got fractional values")
        labels = labels.long()
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"class ids must lie in [0, {self.num_classes - 1}], "
                f"got values in [{labels.min().item()}, {labels.max().item()}]"
            )
        y = self.levels()[labels].reshape(-1, *([1] * len(self.shape))).expand(-1, *self.shape).clone()
        if dequantize:
            y = uniform_dequantize(y, self.noise_width, generator)
        return y

    def mean_level(self, y: torch.Tensor) -> torch.Tensor:
        """Predicted level in ``[-1, 1]`` units (unclamped), shape ``[B]``: mean over non-batch dims."""
        if y.dim() < 1:
            raise ValueError("y must have a batch dimension")
        return y.reshape(y.shape[0], -1).float().mean(dim=1) / self.scale

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """Label half ``[B, ...]`` -> class ids ``[B]`` (nearest level, clamped to ``[0, K)``)."""
        k = torch.round((self.mean_level(y) + 1.0) * (self.num_classes - 1) / 2.0)
        return k.clamp(0, self.num_classes - 1).long()

    def scores(self, y: torch.Tensor) -> torch.Tensor:
        """A per-class score ``[B, K]`` summing to 1: a softmax over the negative squared distance
        of the predicted level to each class level, in units of half the level gap (so the
        decoded class always has the top score)."""
        gap = 2.0 / (self.num_classes - 1)
        levels = torch.linspace(-1.0, 1.0, self.num_classes, device=y.device)
        d = (self.mean_level(y)[:, None] - levels[None, :]) / (gap / 2.0)
        return torch.softmax(-0.5 * d.square(), dim=1)


class _MaskCodec:
    """What every codec of segmentation masks shares: the palette (classes and their display
    colours) and the dequantization strength ``beta`` in grey levels."""

    def __init__(self, palette: str | Palette, beta: float = 10.0) -> None:
        self.palette = get_palette(palette)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = float(beta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(palette={self.palette.name!r}, beta={self.beta:g})"

    @property
    def num_classes(self) -> int:
        return self.palette.num_classes

    def dequantize(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``y + beta * (U(0, 1) - 0.5) / 127.5``: +-beta/2 grey levels on every pixel and channel."""
        return uniform_dequantize(y, self.beta / 127.5, generator)

    def encode(
        self,
        class_map: torch.Tensor | np.ndarray,
        dequantize: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Class ids ``[B, H, W]`` (or ``[H, W]``) -> the label half ``[B, channels, H, W]``,
        dequantized on request."""
        y = self._encode_ids(_check_class_map(class_map, self.num_classes, self.palette.name))
        return self.dequantize(y, generator) if dequantize else y

    def _encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class PaletteCodec(_MaskCodec):
    """Class-id maps <-> colour masks in ``[-1, 1]``, the label half of the image models.

    Args:
        palette: a :class:`~symmflow.palettes.Palette` or its name (``"celebamask_hq"``,
            ``"coco_stuff"``).
        beta: dequantization strength in grey levels; the authors use 10 for CelebAMask-HQ and
            6 for COCO-Stuff: ``mask + beta * (U(0, 1) - 0.5) / 127.5``.
    """

    def __init__(self, palette: str | Palette, beta: float = 10.0) -> None:
        super().__init__(palette, beta)
        colors = torch.from_numpy(self.palette.colors.astype(np.float32))
        self._colors = colors  # [K, 3] in 0..255
        self._colors_sq = colors.square().sum(dim=1)

    @property
    def channels(self) -> int:
        """Channels of the encoded label half: 3 (RGB)."""
        return 3

    def to_colour_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The label half as a colour mask ``[B, 3, H, W]``: itself (unclamped)."""
        return mask

    def _encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Checked class ids ``[B, H, W]`` -> colour mask ``[B, 3, H, W]`` in ``[-1, 1]``."""
        return self._colors.to(ids.device)[ids].permute(0, 3, 1, 2) / 127.5 - 1.0

    def nearest(self, rgb: torch.Tensor, chunk: int = 1 << 16) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest palette colour (Euclidean, 0..255 units) of each row of ``rgb`` ``[N, 3]``.

        Returns ``(class_ids [N], distance [N])``. Works in chunks so a 512x512 COCO mask
        (172 colours) does not build a 180 MB distance matrix.
        """
        colors = self._colors.to(rgb.device)
        colors_sq = self._colors_sq.to(rgb.device)
        ids, dists = [], []
        for part in rgb.float().split(chunk):
            # |p - c|^2 = |p|^2 - 2 p.c + |c|^2, without materialising p - c.
            d2 = part.square().sum(1, keepdim=True) - 2.0 * part @ colors.T + colors_sq
            best, idx = d2.min(dim=1)
            ids.append(idx)
            dists.append(best.clamp_min(0).sqrt())
        if not ids:
            return torch.empty(0, dtype=torch.long), torch.empty(0)
        return torch.cat(ids), torch.cat(dists)

    def decode(self, mask: torch.Tensor) -> torch.Tensor:
        """Colour mask ``[B, 3, H, W]`` (or ``[3, H, W]``) in ``[-1, 1]`` -> class ids ``[B, H, W]``.

        Each pixel is mapped back to 0..255 and takes the class of the nearest palette colour,
        as the paper evaluates segmentation.
        """
        if mask.dim() == 3:
            mask = mask[None]
        if mask.dim() != 4 or mask.shape[1] != 3:
            raise ValueError(f"mask must have shape [B, 3, H, W], got {list(mask.shape)}")
        b, _, h, w = mask.shape
        rgb = ((mask.float().clamp(-1, 1) + 1.0) * 127.5).permute(0, 2, 3, 1).reshape(-1, 3)
        ids, _ = self.nearest(rgb)
        return ids.reshape(b, h, w)

    def rgb_to_ids(
        self, image: np.ndarray, tolerance: float | None = 24.0, max_foreign: float | None = None
    ) -> np.ndarray:
        """A painted colour mask ``[H, W, 3]`` (``uint8``) -> class ids ``[H, W]`` (``int64``).

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
        h, w, _ = image.shape
        ids, dist = self.nearest(torch.from_numpy(image.reshape(-1, 3).astype(np.float32)))
        ids = ids.reshape(h, w).numpy()
        if tolerance is None:
            return ids
        near = (dist <= tolerance).reshape(h, w).numpy()
        if max_foreign is not None:
            # foreign pixels are far ones: when few pixels are far, none need a closer look
            foreign = _off_palette(image, ids, near, self.palette.colors, tolerance) if (~near).mean() > max_foreign else None
            if foreign is not None and foreign.mean() > max_foreign:
                colours, counts = np.unique(image[foreign], axis=0, return_counts=True)
                examples = ", ".join(str(tuple(int(v) for v in c)) for c in colours[np.argsort(-counts)[:3]])
                raise ValueError(
                    f"{foreign.mean():.2%} of the pixels ({int(foreign.sum())}) are not {self.palette.name!r} "
                    f"palette colours (within {tolerance:g}) nor blends of two neighbouring ones, most often "
                    f"{examples}; accepted: colour masks in the {self.palette.name!r} palette "
                    f"(at most {max_foreign:.2%} stray pixels) or class-id maps"
                )
        confident = near & ~_blend_pixels(image, ids, tolerance)
        if not confident.any():
            return ids
        return _fill_from_confident(ids, confident)


class OneHotCodec(_MaskCodec):
    """Class-id maps <-> one channel per class: ``+1`` for the pixel's class, ``-1`` elsewhere.

    The label half of pixel-space segmentation models that need not match the paper's colour
    masks (there is no VAE to feed). Every pair of classes is ``2 sqrt(2)`` apart, and the
    posterior mean a one-step readout returns decodes by argmax to the most likely class, where
    the mean of two palette colours can be a third class's colour.

    Args:
        palette: the classes and their display colours (``"celebamask_hq"``, ``"coco_stuff"``).
        beta: dequantization strength in grey levels, as for :class:`PaletteCodec`:
            ``+-beta / 2 / 127.5`` of uniform noise on every channel.
    """

    def __init__(self, palette: str | Palette, beta: float = 10.0) -> None:
        super().__init__(palette, beta)
        self._palette_codec = PaletteCodec(self.palette, beta=beta)

    @property
    def channels(self) -> int:
        """Channels of the encoded label half: one per class."""
        return self.num_classes

    def _encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Checked class ids ``[B, H, W]`` -> ``[B, K, H, W]`` with values ``+-1``."""
        return 2.0 * torch.nn.functional.one_hot(ids, self.num_classes).permute(0, 3, 1, 2).float() - 1.0

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """Label half ``[B, K, H, W]`` (or ``[K, H, W]``) -> class ids ``[B, H, W]`` by argmax."""
        if y.dim() == 3:
            y = y[None]
        if y.dim() != 4 or y.shape[1] != self.num_classes:
            raise ValueError(f"a one-hot label half must have shape [B, {self.num_classes}, H, W], got {list(y.shape)}")
        return y.argmax(dim=1)

    def to_colour_mask(self, y: torch.Tensor) -> torch.Tensor:
        """The label half as a colour mask ``[B, 3, H, W]`` in ``[-1, 1]``: each pixel in the
        colour of its current argmax class (what the app shows while a segmentation emerges)."""
        return self._palette_codec.encode(self.decode(y))

    def rgb_to_ids(
        self, image: np.ndarray, tolerance: float | None = 24.0, max_foreign: float | None = None
    ) -> np.ndarray:
        """A painted colour mask -> class ids; see :meth:`PaletteCodec.rgb_to_ids`."""
        return self._palette_codec.rgb_to_ids(image, tolerance, max_foreign)


def _check_class_map(class_map: torch.Tensor | np.ndarray, num_classes: int, palette: str) -> torch.Tensor:
    """Class ids ``[B, H, W]`` or ``[H, W]`` -> a checked ``int64`` tensor ``[B, H, W]``."""
    ids = torch.as_tensor(np.asarray(class_map) if isinstance(class_map, np.ndarray) else class_map)
    if ids.is_floating_point():
        raise ValueError("class_map must hold integer class ids, got a floating-point tensor")
    if ids.dim() == 2:
        ids = ids[None]
    if ids.dim() != 3:
        raise ValueError(f"class_map must have shape [B, H, W] or [H, W], got {list(ids.shape)}")
    ids = ids.long()
    if ids.numel() and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(
            f"class ids must lie in [0, {num_classes - 1}] for palette {palette!r}, "
            f"got values in [{ids.min().item()}, {ids.max().item()}]"
        )
    return ids


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
