"""Named spiral recipes: a network config plus a training config.

* ``faithful``: the authors' notebook, exactly (1,576-parameter BatchNorm residual MLP,
  Adam 1e-2, 6,000 steps of 10,000 fresh points). It is the one that reproduces the paper.
* ``fast``: the model the app ships by default. A wider residual MLP with no BatchNorm
  (inference does not depend on batch statistics), trained on smaller batches with a
  one-cycle schedule and EMA so that it trains in under two minutes on 2 CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from symmflow.spiral.train import SpiralTrainConfig

__all__ = ["SPIRAL_PRESETS", "SpiralPreset"]


@dataclass(frozen=True)
class SpiralPreset:
    model: dict[str, Any]
    train: SpiralTrainConfig = field(default_factory=SpiralTrainConfig)
    description: str = ""


SPIRAL_PRESETS: dict[str, SpiralPreset] = {
    "faithful": SpiralPreset(
        model=dict(num_blocks=10, norm="batch", activation="relu"),
        train=SpiralTrainConfig(),
        description="the authors' notebook: 1.6k-parameter BatchNorm residual MLP, 6000 x 10k points",
    ),
    "fast": SpiralPreset(
        model=dict(hidden_dim=64, num_blocks=4, norm="none", activation="silu"),
        train=SpiralTrainConfig(steps=6000, batch_size=2000, lr=3e-3, schedule="onecycle", ema_decay=0.999),
        description="shipped default: 17.6k-parameter residual MLP, 6000 x 2k points, one-cycle + EMA",
    ),
}
