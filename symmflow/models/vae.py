"""The VAE side of the latent model: images and colour masks <-> scaled latents.

Conventions of the release: the ``stabilityai/sd-vae-ft-mse`` VAE with scaling factor
0.18215; images are encoded with a *sample* of the latent distribution, masks with its
*mode* (a mask should map to one latent, not a cloud). 512x512 -> 4x64x64.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL

__all__ = ["LatentPreview", "LatentSpace", "SD_VAE_REPO", "SD_VAE_SCALING"]

SD_VAE_REPO = "stabilityai/sd-vae-ft-mse"
SD_VAE_SCALING = 0.18215


class LatentPreview:
    """A cheap linear map from scaled latents ``[B, C, h, w]`` to RGB ``[B, 3, h, w]`` in ``[-1, 1]``.

    Used for animation frames, so that no intermediate state costs a VAE decode. Fitted by
    least squares on (latent, image) pairs of the VAE it previews (:meth:`fit`).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        if weight.dim() != 2 or weight.shape[0] != 3 or bias.shape != (3,):
            raise ValueError(f"preview weight must be [3, C] and bias [3], got {list(weight.shape)} / {list(bias.shape)}")
        self.weight = weight.float()
        self.bias = bias.float()

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(latents.device)
        rgb = torch.einsum("oc,bchw->bohw", w, latents.float()) + self.bias.to(latents.device)[None, :, None, None]
        return rgb.clamp(-1, 1)

    @classmethod
    def fit(cls, latents: torch.Tensor, images: torch.Tensor) -> LatentPreview:
        """Least squares from ``latents [B, C, h, w]`` to ``images [B, 3, H, W]`` pooled to ``h x w``."""
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.float(), latents.shape[-2:])
        a = latents.float().permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        a = torch.cat([a, torch.ones(len(a), 1)], dim=1)
        b = pooled.permute(0, 2, 3, 1).reshape(-1, 3)
        solution = torch.linalg.lstsq(a, b).solution  # [C + 1, 3]
        return cls(solution[:-1].T.contiguous(), solution[-1].contiguous())

    def to_dict(self) -> dict[str, list]:
        return {"weight": self.weight.tolist(), "bias": self.bias.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> LatentPreview:
        return cls(torch.tensor(data["weight"]), torch.tensor(data["bias"]))


class LatentSpace:
    """Wraps an ``AutoencoderKL``: encode images (sample) and masks (mode), decode, preview.

    Args:
        vae: the autoencoder; its ``config.scaling_factor`` is used unless ``scaling_factor``
            is given (the release: 0.18215).
        preview: the linear latent->RGB map for cheap frames; fitted lazily if omitted.
    """

    def __init__(self, vae: AutoencoderKL, scaling_factor: float | None = None, preview: LatentPreview | None = None) -> None:
        self.vae = vae.eval().requires_grad_(False)
        self.scaling_factor = float(scaling_factor or vae.config.scaling_factor)
        self._preview = preview

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return self.vae.config.latent_channels

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images ``[B, 3, H, W]`` in ``[-1, 1]`` -> scaled latent *samples* ``[B, C, H/f, W/f]``."""
        dist = self.vae.encode(images.to(self.vae.dtype)).latent_dist
        return dist.sample(generator=generator) * self.scaling_factor

    @torch.no_grad()
    def encode_mask(self, masks: torch.Tensor) -> torch.Tensor:
        """Colour masks ``[B, 3, H, W]`` in ``[-1, 1]`` -> scaled latent *modes* ``[B, C, H/f, W/f]``."""
        return self.vae.encode(masks.to(self.vae.dtype)).latent_dist.mode() * self.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images ``[B, 3, H, W]`` in ``[-1, 1]`` (clamped)."""
        return self.vae.decode(latents.to(self.vae.dtype) / self.scaling_factor).sample.float().clamp(-1, 1)

    def preview(self, latents: torch.Tensor) -> torch.Tensor:
        """Cheap RGB ``[B, 3, h, w]`` in ``[-1, 1]`` at latent resolution (no decoder pass)."""
        return self.preview_map(latents)

    @property
    def preview_map(self) -> LatentPreview:
        """The linear preview, fitted on first use if none was given."""
        if self._preview is None:
            self._preview = self.fit_preview()
        return self._preview

    @torch.no_grad()
    def fit_preview(self, size: int | None = None, count: int = 8, seed: int = 0) -> LatentPreview:
        """Fit the linear preview on synthetic images: flat colours, gradients and blocks,
        which span the colours both portraits and palette masks use."""
        size = size or 8 * self.downsample
        gen = torch.Generator().manual_seed(seed)
        images = []
        for i in range(count):
            base = torch.rand(3, 1, 1, generator=gen) * 2 - 1
            ramp = torch.linspace(-1, 1, size)
            grad = (torch.rand(3, 1, 1, generator=gen) * 2 - 1) * (ramp[None, :, None] if i % 2 else ramp[None, None, :])
            img = (base + 0.5 * grad).expand(3, size, size).clone()
            block = size // 4
            for _ in range(4):
                r, c = torch.randint(0, size - block, (2,), generator=gen).tolist()
                img[:, r : r + block, c : c + block] = torch.rand(3, 1, 1, generator=gen) * 2 - 1
            images.append(img.clamp(-1, 1))
        batch = torch.stack(images).to(self.vae.device)
        latents = self.encode_mask(batch)  # the mode: a deterministic fit
        return LatentPreview.fit(latents.cpu(), batch.cpu())
