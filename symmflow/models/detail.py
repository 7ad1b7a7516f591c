"""A small full-resolution U-Net that adds per-pixel detail to a patched network's velocity."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DetailUNet"]

_GROUPS = 8
_TIME_WIDTH = 64


class _Block(nn.Module):
    """Two 3x3 convolutions with group norm; the time modulates the first (FiLM)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm1 = nn.GroupNorm(_GROUPS, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(_GROUPS, out_channels)

    def forward(self, h: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        h = self.norm1(self.conv1(h)) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        return F.silu(self.norm2(self.conv2(F.silu(h))))


class DetailUNet(nn.Module):
    """``(h [B, C_in, H, W], t [B]) -> [B, C_out, H, W]``: a plain convolutional U-Net at full
    resolution that returns an additive correction to a velocity.

    In :class:`~symmflow.models.unet.PixelUNet`, ``h`` is ``[velocity so far, x_t, y_t]`` and the
    output is added to the velocity. ``len(widths)`` levels, each halving the size (``H`` and
    ``W`` must be divisible by ``2 ** (len(widths) - 1)``); two 3x3 convolutions a block give
    three levels a window of 44x44 pixels, four 92x92. ``t`` in ``[0, 1]`` is taken raw (no ``time_scale``;
    ``t = 0``: image noise and clean label, ``t = 1``: clean image and label noise, see
    :mod:`symmflow.path`) and enters every block as a FiLM scale and shift.

    A 4x4-patched U-Net sees a face part two pixels wide as a fraction of one token; a
    full-resolution U-Net sees its pixels. The last convolution starts at zero, so added to a
    trained model the network changes nothing until it trains.
    """

    def __init__(self, in_channels: int, out_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or any(w < _GROUPS or w % _GROUPS for w in widths):
            raise ValueError(f"detail_channels must be a non-empty list of multiples of {_GROUPS}, got {list(widths)}")
        self.widths = widths
        self.down = nn.ModuleList(
            _Block(c_in, c_out) for c_in, c_out in zip([in_channels] + widths[:-1], widths)
        )
        self.up = nn.ModuleList(
            _Block(deep + skip, skip) for deep, skip in zip(widths[:0:-1], widths[-2::-1])
        )
        modulated = sum(b.norm1.num_channels for b in (*self.down, *self.up))
        # t -> a scale and a shift for every modulated channel
        self.time = nn.Sequential(nn.Linear(1, _TIME_WIDTH), nn.SiLU(), nn.Linear(_TIME_WIDTH, 2 * modulated))
        self.out = nn.Conv2d(widths[0], out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        factor = 2 ** (len(self.widths) - 1)
        if h.shape[-1] % factor or h.shape[-2] % factor:
            raise ValueError(
                f"image size {list(h.shape[-2:])} is not divisible by {factor}, "
                f"which a {len(self.widths)}-level detail network needs"
            )
        blocks = [*self.down, *self.up]
        modulation = self.time(t.to(h.dtype).view(-1, 1))
        films = iter(modulation[:, rows].chunk(2, dim=1) for rows in film_rows(blocks))
        skips = []
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else F.avg_pool2d(h, 2), *next(films))
            skips.append(h)
        h = skips.pop()
        for block in self.up:
            h = block(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), skips.pop()], dim=1), *next(films))
        return self.out(h)


def film_rows(blocks: Sequence[nn.Module]) -> list[slice]:
    """The rows of the time network's last layer that modulate each block (scale, then shift)."""
    rows, start = [], 0
    for block in blocks:
        width = 2 * block.norm1.num_channels
        rows.append(slice(start, start + width))
        start += width
    return rows
