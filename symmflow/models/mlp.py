"""A residual MLP velocity network for low-dimensional data (the paper's 2-D spiral toy)."""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from symmflow.models.base import SymmFlowModel

__all__ = ["ResidualMLP", "SinusoidalTimeEmbedding"]


class SinusoidalTimeEmbedding(nn.Module):
    """``t in [0, 1]`` -> ``[sin(k pi t), cos(k pi t)]`` for ``k = 1 .. dim/2``. Shape ``[B] -> [B, dim]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"time embedding size must be even, got {dim}")
        self.register_buffer("freqs", torch.arange(1, dim // 2 + 1, dtype=torch.float32) * math.pi)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = self.freqs * t[:, None].to(self.freqs.dtype)
        return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResidualMLP(SymmFlowModel):
    """Joint velocity ``v(x_t, y_t, t) -> (v_x, v_y)`` for vector data and vector labels.

    The input ``[x_t, y_t, time_embedding(t)]`` goes through ``num_blocks`` residual blocks
    ``h + act(Linear(norm(h)))`` and a final linear layer to ``[v_x, v_y]``. With the defaults
    this is the authors' toy network: width 11 (2 + 1 + 8), ten BatchNorm/ReLU blocks,
    1,576 parameters. A ``hidden_dim`` other than the input width adds an input projection.

    Args:
        data_dim: size of ``x`` (2 for points in the plane).
        label_dim: size of ``y`` (1 for a scalar class level).
        time_embedding_dim: size of the sinusoidal embedding of ``t`` (even).
        num_blocks: residual blocks.
        hidden_dim: block width; ``None`` keeps the input width (no projection).
        norm: ``"batch"`` (the authors'), ``"layer"`` or ``"none"``.
        activation: ``"relu"`` (the authors') or ``"silu"``.
    """

    @register_to_config
    def __init__(
        self,
        data_dim: int = 2,
        label_dim: int = 1,
        time_embedding_dim: int = 8,
        num_blocks: int = 10,
        hidden_dim: int | None = None,
        norm: str = "batch",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        norms = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm, "none": lambda _: nn.Identity()}
        acts = {"relu": nn.ReLU, "silu": nn.SiLU}
        if norm not in norms:
            raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(norms)}")
        if activation not in acts:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(acts)}")
        in_dim = data_dim + label_dim + time_embedding_dim
        width = hidden_dim or in_dim
        self.time_embedding = SinusoidalTimeEmbedding(time_embedding_dim)
        self.project = nn.Identity() if width == in_dim else nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(norms[norm](width), nn.Linear(width, width), acts[activation]())
            for _ in range(num_blocks)
        )
        self.final = nn.Linear(width, data_dim + label_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, data_dim]``, ``y [B, label_dim]``, ``t [B]`` in ``[0, 1]`` -> ``(v_x, v_y)``."""
        h = self.project(torch.cat([x, y, self.time_embedding(t)], dim=1))
        for block in self.blocks:
            h = h + block(h)
        out = self.final(h)
        return out[:, : self.config.data_dim], out[:, self.config.data_dim :]
