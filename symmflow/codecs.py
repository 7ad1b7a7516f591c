"""Label codecs: discrete labels <-> the continuous label half ``y`` of the joint state.

* :func:`uniform_dequantize` spreads a discrete value over a small interval, so the label
  distribution has density (the authors' fix for collapse on discrete labels).
* :class:`ClassCodec`: one class id per sample -> a constant channel (or vector) at one of
  ``K`` levels in ``[-beta/2, beta/2]``; decoded by mean + rounding.
* :class:`PaletteCodec`: a class-id map -> the dataset's colour mask in ``[-1, 1]``; decoded
  by nearest palette colour. The paper's encoding (and the only one a VAE can take).
* :class:`OneHotCodec`: a class-id map -> one ``+-1`` channel per class; decoded by argmax. For
  pixel-space models: classes are all equally far apart, where neighbouring palette colours
  (hair ``(0,0,204)`` and lower lip ``(0,0,153)``) are 0.4 apart in ``[-1, 1]`` units.

Codecs are pure: tensors in, tensors out. :func:`build_codec` makes the one a
:class:`~symmflow.pipeline_config.PipelineConfig` describes. Reading labels from files,
pictures and painted canvases is the input layer's job (:mod:`symmflow.processing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np
import torch

from symmflow.palettes import Palette, decoding_palette, get_palette
from symmflow.pipeline_config import check_decode_weights

if TYPE_CHECKING:
    from symmflow.pipeline_config import PipelineConfig

__all__ = ["ClassCodec", "LabelCodec", "OneHotCodec", "PaletteCodec", "build_codec", "uniform_dequantize"]


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
        self._colors = torch.from_numpy(self.palette.colors.astype(np.float32))  # [K, 3] in 0..255

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

    def _colour_mask(self, ids: torch.Tensor) -> torch.Tensor:
        """Checked class ids ``[B, H, W]`` -> colour mask ``[B, 3, H, W]`` in ``[-1, 1]``."""
        return self._colors.to(ids.device)[ids].permute(0, 3, 1, 2) / 127.5 - 1.0


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
        self._colors_sq = self._colors.square().sum(dim=1)

    @property
    def channels(self) -> int:
        """Channels of the encoded label half: 3 (RGB)."""
        return 3

    def to_colour_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The label half as a colour mask ``[B, 3, H, W]``: itself (unclamped)."""
        return mask

    def _encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Checked class ids ``[B, H, W]`` -> colour mask ``[B, 3, H, W]`` in ``[-1, 1]``."""
        return self._colour_mask(ids)

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

    def decode(self, mask: torch.Tensor, decoding: str = "classes") -> torch.Tensor:
        """Colour mask ``[B, 3, H, W]`` (or ``[3, H, W]``) in ``[-1, 1]`` -> class ids ``[B, H, W]``.

        Each pixel is mapped back to 0..255 and takes the class of the nearest palette colour,
        as the paper evaluates segmentation. ``decoding="authors"`` decodes to the authors'
        evaluation colours instead (:func:`~symmflow.palettes.decoding_palette`; for COCO-Stuff
        the ids are then rows of :data:`~symmflow.palettes.COCO_STUFF_AUTHORS_EVAL`).
        """
        target = decoding_palette(self.palette, decoding)
        if target is not self.palette:
            return PaletteCodec(target, self.beta).decode(mask)
        if mask.dim() == 3:
            mask = mask[None]
        if mask.dim() != 4 or mask.shape[1] != 3:
            raise ValueError(f"mask must have shape [B, 3, H, W], got {list(mask.shape)}")
        b, _, h, w = mask.shape
        rgb = ((mask.float().clamp(-1, 1) + 1.0) * 127.5).permute(0, 2, 3, 1).reshape(-1, 3)
        ids, _ = self.nearest(rgb)
        return ids.reshape(b, h, w)


class OneHotCodec(_MaskCodec):
    """Class-id maps <-> one channel per class: ``+1`` for the pixel's class, ``-1`` elsewhere.

    The label half of pixel-space segmentation models that need not match the paper's colour
    masks (there is no VAE to feed). Every pair of classes is ``2 sqrt(2)`` apart, and the
    posterior mean a one-step readout returns decodes by argmax to the most likely class, where
    the mean of two palette colours can be a third class's colour.

    A model trained with a class-balanced label loss (each pixel's error weighted by ``w_k`` of
    its true class, :mod:`symmflow.training.balance`) reads out ``q_k = (y_k + 1) / 2``
    proportional to ``p(k | image) w_k`` rather than to the posterior itself: rare classes are
    over-predicted. ``decode_weights`` (``d_k``, e.g. ``w_k ** gamma``) divide ``q_k`` before the
    argmax, shifting the prior back part of the way (logit adjustment); ``None`` is a plain argmax.

    Args:
        palette: the classes and their display colours (``"celebamask_hq"``, ``"coco_stuff"``).
        beta: dequantization strength in grey levels, as for :class:`PaletteCodec`:
            ``+-beta / 2 / 127.5`` of uniform noise on every channel.
        decode_weights: ``K`` positive divisors of the readout before the argmax, or ``None``.
    """

    def __init__(self, palette: str | Palette, beta: float = 10.0, decode_weights: Sequence[float] | None = None) -> None:
        super().__init__(palette, beta)
        self.decode_weights = None
        if decode_weights is not None:
            weights = decode_weights.tolist() if hasattr(decode_weights, "tolist") else list(decode_weights)  # tensors, arrays
            self.decode_weights = torch.tensor(check_decode_weights(weights, self.num_classes), dtype=torch.float32)

    @property
    def channels(self) -> int:
        """Channels of the encoded label half: one per class."""
        return self.num_classes

    def class_scores(self, y: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Readout ``[B, C, H, W]`` of classes ``start .. start + C - 1`` -> scores whose argmax over
        all ``K`` classes is the decoded class: ``y`` itself, or ``q / d`` with ``q = (y + 1) / 2``
        (above). Where a readout undershoots to ``q <= 0`` it scores ``q`` itself, unweighted: below
        every positive score and in the readout's own order, so a pixel whose classes all
        undershoot keeps the plain argmax rather than being reordered by the weights."""
        if self.decode_weights is None:
            return y
        d = self.decode_weights[start : start + y.shape[1]].to(y.device)[:, None, None]
        q = (y + 1.0) / 2.0
        return torch.where(q > 0, q / d, q)

    def _encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Checked class ids ``[B, H, W]`` -> ``[B, K, H, W]`` with values ``+-1``."""
        return 2.0 * torch.nn.functional.one_hot(ids, self.num_classes).permute(0, 3, 1, 2).float() - 1.0

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """Label half ``[B, K, H, W]`` (or ``[K, H, W]``) -> class ids ``[B, H, W]`` by the argmax of
        :meth:`class_scores`."""
        if y.dim() == 3:
            y = y[None]
        if y.dim() != 4 or y.shape[1] != self.num_classes:
            raise ValueError(f"a one-hot label half must have shape [B, {self.num_classes}, H, W], got {list(y.shape)}")
        return self.class_scores(y).argmax(dim=1)

    def to_colour_mask(self, y: torch.Tensor) -> torch.Tensor:
        """The label half as a colour mask ``[B, 3, H, W]`` in ``[-1, 1]``: each pixel in the
        colour of its current argmax class (what the app shows while a segmentation emerges)."""
        return self._colour_mask(self.decode(y))


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


LabelCodec = Union[ClassCodec, PaletteCodec, OneHotCodec]


def build_codec(config: PipelineConfig) -> LabelCodec:
    """The label codec a pipeline config describes.

    Segmentation: a :class:`PaletteCodec` (``label_encoding="palette"``) or
    :class:`OneHotCodec` (``"onehot"``) of ``config.palette`` with ``config.beta`` grey levels.
    Classification: a :class:`ClassCodec` of ``config.num_classes`` levels, one channel of
    ``config.image_size`` squared (``[1, S, S]``), spread ``config.beta``.
    """
    if config.task == "classification":
        return ClassCodec(config.num_classes, beta=config.beta, shape=(1, config.image_size, config.image_size))
    if config.label_encoding == "onehot":
        return OneHotCodec(config.palette, beta=config.beta, decode_weights=config.decode_weights)
    return PaletteCodec(config.palette, beta=config.beta)
