"""Pixel-space joint velocity network: a diffusers ``UNet2DModel`` over ``[image, label]``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from diffusers import UNet2DModel
from diffusers.configuration_utils import register_to_config

from symmflow.models.base import SymmFlowModel
from symmflow.models.detail import DetailUNet

__all__ = ["PIXEL_UNET_PRESETS", "PixelUNet", "linear_skip"]


class PixelUNet(SymmFlowModel):
    """``v(x_t, y_t, t) -> (v_x, v_y)`` for images ``x`` and pixel-aligned labels ``y``.

    Input and output of the U-Net are the channel concatenation ``[x, y]`` (image channels
    first, the release's order). The label is 1 channel for classification (the class-level
    codec), 3 for colour masks and one per class for one-hot masks. Small CPU models and large
    GPU models come from the same class; only the config differs (see :data:`PIXEL_UNET_PRESETS`).

    Args:
        image_channels: channels of ``x`` (3 for RGB, 1 for digits).
        label_channels: channels of ``y`` (3 for a colour mask, ``K`` for a one-hot mask of
            ``K`` classes, 1 for a class level).
        sample_size: spatial size the model is trained at (square).
        block_out_channels, layers_per_block, down_block_types, up_block_types,
        attention_head_dim, norm_num_groups: passed to ``diffusers.UNet2DModel``.
        time_scale: the network sees ``time_scale * t``; 1000 puts ``t in [0, 1]`` on the
            range the diffusers sinusoidal embedding was designed for (the SD-based latent
            model, by contrast, takes raw ``t`` as the released weights expect).
        patch_size: fold ``p x p`` pixel patches into channels before the U-Net (and unfold
            after): the U-Net runs at ``1/p`` resolution on ``p^2`` times the channels, which
            is what makes 64x64 affordable on a CPU. 1 = plain pixels.
        skip_sigma: if set, add the least-squares linear skip ``c(t) * input`` to each half's
            output (:func:`linear_skip`), computed for zero-mean data of standard deviation
            ``skip_sigma`` on the path of width ``sigma_min``. A velocity target contains the input noise itself; without the skip
            a narrow (patched) U-Net must carry that noise pixel for pixel and leaves speckle.
            With it the U-Net only predicts what the input does not already say, as an
            x-prediction network does. ``None``: plain velocity output.
        dropout: dropout rate inside the U-Net's residual blocks (regularises small data sets).
        refine_channels: if set, add a full-resolution refinement head of this width after
            the U-Net: three 3x3 convolutions that see the network's output beside the raw
            input ``[x, y, t]`` and add a correction to the output. Its last convolution starts
            at zero, so adding it to a trained model changes nothing until it trains (a warm
            start keeps every other weight). It lets a patched model place per-pixel detail,
            e.g. label boundaries that cut through a 4x4 patch, from the input's own pixels.
            ``None``: no refinement head.
        detail_channels: if set, the widths of a small full-resolution U-Net
            (:class:`~symmflow.models.detail.DetailUNet`, one width a level, multiples of 8,
            e.g. ``[16, 32, 64]``) that sees the output so far beside the raw input ``[x, y]``
            and the time, and adds a correction to the output. Where the refinement head sees a
            7x7 window, three levels see 44x44 pixels and four 92x92, all at full resolution. It
            starts at zero too, so it can be added to a trained model. ``None``: no detail network.
        sigma_min: the symmetric path's width at the noise end, which the linear skip assumes;
            the pipeline config's ``sigma_min`` (the trainer passes it, the pipeline checks it).
    """

    _retired_config = {"pixel_channels": None}  # a full-resolution stem, tried and not shipped

    @register_to_config
    def __init__(
        self,
        image_channels: int = 3,
        label_channels: int = 3,
        sample_size: int = 64,
        block_out_channels: tuple[int, ...] = (32, 64, 128, 128),
        layers_per_block: int = 1,
        down_block_types: tuple[str, ...] = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types: tuple[str, ...] = ("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim: int = 32,
        norm_num_groups: int = 16,
        time_scale: float = 1000.0,
        patch_size: int = 1,
        skip_sigma: float | None = None,
        dropout: float = 0.0,
        refine_channels: int | None = None,
        detail_channels: tuple[int, ...] | None = None,
        sigma_min: float = 1e-4,
    ) -> None:
        super().__init__()
        if image_channels < 1 or label_channels < 1:
            raise ValueError(f"channel counts must be >= 1, got image {image_channels}, label {label_channels}")
        if patch_size < 1 or sample_size % patch_size:
            raise ValueError(f"patch_size must be >= 1 and divide sample_size {sample_size}, got {patch_size}")
        if skip_sigma is not None and skip_sigma <= 0:
            raise ValueError(f"skip_sigma must be > 0 (or None for no skip), got {skip_sigma}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if not 0 <= sigma_min < 1:
            raise ValueError(f"sigma_min must lie in [0, 1), got {sigma_min}")
        if refine_channels is not None and refine_channels < 1:
            raise ValueError(f"refine_channels must be >= 1 (or None for no refinement head), got {refine_channels}")
        if detail_channels is not None:
            if isinstance(detail_channels, (int, str)) or not detail_channels:
                raise ValueError(
                    f"detail_channels must be a list of widths, one a level (e.g. [16, 32, 64]), or None; got {detail_channels!r}"
                )
            if sample_size % 2 ** (len(detail_channels) - 1):
                raise ValueError(
                    f"a {len(detail_channels)}-level detail network needs sample_size divisible by "
                    f"{2 ** (len(detail_channels) - 1)}, got {sample_size}"
                )
        joint = image_channels + label_channels
        self.refine = None
        if refine_channels:
            self.refine = nn.Sequential(
                nn.Conv2d(2 * joint + 1, refine_channels, 3, padding=1), nn.SiLU(),
                nn.Conv2d(refine_channels, refine_channels, 3, padding=1), nn.SiLU(),
                nn.Conv2d(refine_channels, joint, 3, padding=1),
            )
            nn.init.zeros_(self.refine[-1].weight)
            nn.init.zeros_(self.refine[-1].bias)
        self.detail = DetailUNet(2 * joint, joint, detail_channels) if detail_channels is not None else None
        channels = joint * patch_size**2
        self.unet = UNet2DModel(
            sample_size=sample_size // patch_size,
            in_channels=channels,
            out_channels=channels,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            down_block_types=tuple(down_block_types),
            up_block_types=tuple(up_block_types),
            attention_head_dim=attention_head_dim,
            norm_num_groups=norm_num_groups,
            dropout=dropout,
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, Ci, H, W]``, ``y [B, Cl, H, W]``, ``t [B]`` in ``[0, 1]`` -> ``(v_x, v_y)``."""
        c = self.config.image_channels
        if x.shape[1] != c or y.shape[1] != self.config.label_channels:
            raise ValueError(
                f"expected {c} image and {self.config.label_channels} label channels, "
                f"got {x.shape[1]} and {y.shape[1]}"
            )
        p = self.config.patch_size
        if x.shape[-1] % p or x.shape[-2] % p:
            raise ValueError(f"image size {list(x.shape[-2:])} is not divisible by the patch size {p}")
        h = inputs = torch.cat([x, y], dim=1).to(self.unet.dtype)
        h = F.pixel_unshuffle(h, p) if p > 1 else h
        out = self.unet(h, (t * self.config.time_scale).to(h.dtype)).sample
        out = F.pixel_shuffle(out, p) if p > 1 else out
        if self.refine is not None:
            time = t.to(out.dtype).view(-1, 1, 1, 1).expand(-1, 1, *out.shape[-2:])
            out = out + self.refine(torch.cat([out, inputs, time], dim=1))
        if self.detail is not None:
            out = out + self.detail(torch.cat([out, inputs], dim=1), t)
        v_x, v_y = out[:, :c].to(x.dtype), out[:, c:].to(y.dtype)
        sigma = self.config.skip_sigma
        if sigma is not None:
            c_x, c_y = linear_skip(t, sigma, self.config.sigma_min)
            v_x = v_x + c_x.view(-1, 1, 1, 1).to(x.dtype) * x
            v_y = v_y + c_y.view(-1, 1, 1, 1).to(y.dtype) * y
        return v_x, v_y


def linear_skip(t: torch.Tensor, sigma: float, sigma_min: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares coefficients ``(c_x, c_y)`` [B] of the best linear velocity guess ``c * input``.

    For data of zero mean and standard deviation ``sigma`` and unit Gaussian noise, on the
    symmetric path (``a = 1 - (1 - s) t``)::

        x_t = a e_x + t x,  v_x = x - (1 - s) e_x   ->  c_x = (t sigma^2 - (1 - s) a) / (t^2 sigma^2 + a^2)
        y_t = a y + t e_y,  v_y = e_y - (1 - s) y   ->  c_y = (t - (1 - s) a sigma^2) / (t^2 + a^2 sigma^2)

    ``c = Cov(v, input) / Var(input)``. Near ``t = 0`` the image coefficient is about
    ``-1 / a``: the velocity of pure noise is minus the noise. ``|c| <= (sigma + 1 / sigma) / 2``
    at every ``t`` in ``[0, 1]``, so the skip is bounded. ``sigma`` is best read as a choice of
    parametrisation rather than a measured statistic: a small ``sigma`` (0.1) makes ``c`` close
    to ``1 / t`` for the label and ``-1 / a`` for the image wherever that stays below the bound,
    so the U-Net's part is the clean data (as in x-prediction) and never the input's noise.
    """
    t = t.float()
    shrink = 1.0 - sigma_min
    a = 1.0 - shrink * t
    var = sigma * sigma
    c_x = (t * var - shrink * a) / (t * t * var + a * a)
    c_y = (t - shrink * a * var) / (t * t + a * a * var)
    return c_x, c_y


PIXEL_UNET_PRESETS: dict[str, dict[str, Any]] = {
    # for tests: a few thousand parameters, any size divisible by 4
    "tiny": dict(
        block_out_channels=(8, 16, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=8,
        norm_num_groups=4,
    ),
    # CPU models (~1-2k training steps an hour on 2 cores)
    "small32": dict(
        block_out_channels=(32, 64, 128),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=32,
        norm_num_groups=16,
    ),
    "small64": dict(
        block_out_channels=(32, 64, 128, 128),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=32,
        norm_num_groups=16,
    ),
    # GPU scale: the ADM-like width of the paper's pixel classifiers
    "base": dict(
        block_out_channels=(128, 256, 256, 256),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=64,
        norm_num_groups=32,
    ),
}
"""Named sizes; use as ``PixelUNet(image_channels=3, label_channels=3, sample_size=64, **PIXEL_UNET_PRESETS["small64"])``."""
