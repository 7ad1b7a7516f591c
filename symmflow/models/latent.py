"""The paper's latent model: a Stable Diffusion 2.1 U-Net with doubled channels.

The U-Net sees the concatenation ``[z_x, z_y]`` of the image latent and the mask latent
(4 + 4 = 8 channels, image first) and predicts both velocities. Text conditioning is a fixed
embedding of the empty prompt (``[1, 77, 1024]`` for SD 2.1), held by the model as a buffer
and repeated over the batch: it is computed once (or loaded), never per call. The time given
to the U-Net is the raw ``t in [0, 1]``, as the released weights expect.

The wrapped U-Net lives at ``self.unet``, so this model's state-dict keys are exactly the
authors' release keys (``unet.conv_in.weight`` ...) plus ``prompt_embedding``.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import register_to_config

from symmflow.models.base import SymmFlowModel

__all__ = ["SD21_UNET_CONFIG", "LatentUNet"]

SD21_UNET_CONFIG: dict[str, Any] = dict(
    sample_size=96,
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=1024,
    attention_head_dim=(5, 10, 20, 20),
    use_linear_projection=True,
    upcast_attention=True,
    norm_num_groups=32,
)
"""The Stable Diffusion 2.1 U-Net architecture (``stabilityai/stable-diffusion-2-1``) minus its channel counts."""


class LatentUNet(SymmFlowModel):
    """``v(z_x, z_y, t) -> (v_x, v_y)`` on VAE latents, with a doubled-channel SD U-Net.

    Args:
        latent_channels: channels of one latent (4 for the SD VAE); the U-Net gets twice that.
        unet_config: ``UNet2DConditionModel`` arguments other than in/out channels; defaults
            to :data:`SD21_UNET_CONFIG`. Tiny configs make test-sized models of the same design.
        prompt_tokens: length of the fixed text embedding (77 for CLIP tokenizers).
    """

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 4,
        unet_config: dict[str, Any] | None = None,
        prompt_tokens: int = 77,
    ) -> None:
        super().__init__()
        config = dict(SD21_UNET_CONFIG if unet_config is None else unet_config)
        config.pop("in_channels", None)
        config.pop("out_channels", None)
        self.unet = UNet2DConditionModel(in_channels=2 * latent_channels, out_channels=2 * latent_channels, **config)
        # Zeros until set: the empty-prompt embedding is not part of the released checkpoints.
        self.register_buffer("prompt_embedding", torch.zeros(1, prompt_tokens, self.unet.config.cross_attention_dim))

    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    def set_prompt_embedding(self, embedding: torch.Tensor) -> None:
        """Store the fixed conditioning, shape ``[1, prompt_tokens, cross_attention_dim]``."""
        expected = tuple(self.prompt_embedding.shape)
        if embedding.dim() == 2:
            embedding = embedding[None]
        if tuple(embedding.shape) != expected:
            raise ValueError(f"prompt embedding must have shape {list(expected)}, got {list(embedding.shape)}")
        self.prompt_embedding.copy_(embedding.to(self.prompt_embedding))

    @classmethod
    def from_sd_unet(cls, unet: UNet2DConditionModel, prompt_embedding: torch.Tensor | None = None) -> LatentUNet:
        """Channel surgery on a pretrained 4-channel SD U-Net, as the authors do.

        ``conv_in.weight`` ``[320, 4, 3, 3]`` is repeated along the input axis to ``[320, 8, 3, 3]``;
        ``conv_out.weight`` / ``bias`` are repeated along the output axis to ``[8, 320, 3, 3]`` / ``[8]``.
        No rescaling and no zero init: on input ``[z, 0]`` both output halves equal the
        original U-Net's output on ``z``.
        """
        c = unet.config.in_channels
        if unet.config.out_channels != c:
            raise ValueError(f"expected a U-Net with equal in/out channels, got {c} / {unet.config.out_channels}")
        config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
        tokens = 77 if prompt_embedding is None else prompt_embedding.shape[-2]
        model = cls(latent_channels=c, unet_config=config, prompt_tokens=tokens)
        state = dict(unet.state_dict())
        state["conv_in.weight"] = state["conv_in.weight"].repeat(1, 2, 1, 1)
        state["conv_out.weight"] = state["conv_out.weight"].repeat(2, 1, 1, 1)
        state["conv_out.bias"] = state["conv_out.bias"].repeat(2)
        model.unet.load_state_dict(state)
        if prompt_embedding is not None:
            model.set_prompt_embedding(prompt_embedding)
        # .to() only when needed: diffusers warns on every dtype cast of a loaded model
        return model if unet.dtype == torch.float32 else model.to(unet.dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x, y [B, latent_channels, h, w]``, ``t [B]`` in ``[0, 1]`` (raw, passed on in
        float32 even when the weights are bf16/fp16) -> ``(v_x, v_y)`` in the dtypes of x, y."""
        c = self.latent_channels
        if x.shape[1] != c or y.shape[1] != c:
            raise ValueError(f"expected {c}-channel image and mask latents, got {x.shape[1]} and {y.shape[1]}")
        sample = torch.cat([x, y], dim=1).to(self.unet.dtype)
        context = self.prompt_embedding.to(sample.dtype).expand(x.shape[0], -1, -1)
        # t stays float32 whatever the weights' dtype (bf16 would round 0.96 to 0.961): the
        # U-Net's sinusoidal time projection runs in float32 and casts its output itself.
        out = self.unet(sample, t.to(torch.float32), encoder_hidden_states=context).sample
        return out[:, :c].to(x.dtype), out[:, c:].to(y.dtype)
