"""Training of a spiral velocity model with the symmetric loss."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import trange

from symmflow.path import SymmetricPath
from symmflow.spiral.data import SPIRAL_CODEC, make_spirals

__all__ = ["SpiralTrainConfig", "train_spiral"]


@dataclass
class SpiralTrainConfig:
    """Hyper-parameters; the defaults are the authors' notebook recipe.

    Attributes:
        steps: optimiser steps, each on a freshly drawn batch.
        batch_size: points per batch (even; half per arm).
        lr: Adam learning rate (peak rate under ``schedule="onecycle"``).
        image_weight: ``w`` of the symmetric loss (0.9: the point half dominates).
        sigma_min: path width at the noise end (the notebook uses none).
        schedule: ``"constant"`` (the notebook) or ``"onecycle"`` (5% warm-up, cosine decay).
        ema_decay: keep and return an EMA of the weights when set (e.g. 0.999).
        seed: seeds the weights' initialisation and every batch.
    """

    steps: int = 6000
    batch_size: int = 10_000
    lr: float = 1e-2
    image_weight: float = 0.9
    sigma_min: float = 0.0
    schedule: Literal["constant", "onecycle"] = "constant"
    ema_decay: float | None = None
    seed: int = 0


def train_spiral(model: nn.Module, config: SpiralTrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train ``model`` in place (or, with EMA, load the EMA weights into it at the end).

    Returns a ``training.json``-style record: the config, wall time, final loss and the loss
    every 100 steps.
    """
    if config.steps < 1 or config.batch_size < 2:
        raise ValueError(f"steps must be >= 1 and batch_size >= 2, got {config.steps} / {config.batch_size}")
    gen = torch.Generator().manual_seed(config.seed)
    path = SymmetricPath(sigma_min=config.sigma_min)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = None
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.steps, pct_start=0.05,
            anneal_strategy="cos", div_factor=config.lr / 1e-6, final_div_factor=100.0,
        )
    elif config.schedule != "constant":
        raise ValueError(f"unknown schedule {config.schedule!r}; choose 'constant' or 'onecycle'")
    ema = copy.deepcopy(model).eval() if config.ema_decay else None

    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    bar = trange(config.steps, desc="spiral", disable=not progress, mininterval=1.0)
    for step in bar:
        points, labels = make_spirals(config.batch_size, generator=gen)
        y = SPIRAL_CODEC.encode(labels, dequantize=True, generator=gen)
        t = torch.rand(config.batch_size, generator=gen)
        sample = path.sample(points, y, t, generator=gen)
        v_x, v_y = model(sample.x_t, sample.y_t, sample.t)
        loss = path.loss(v_x, v_y, sample, config.image_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            with torch.no_grad():
                for p_ema, p in zip(ema.state_dict().values(), model.state_dict().values()):
                    if p_ema.is_floating_point():
                        p_ema.lerp_(p, 1.0 - config.ema_decay)
                    else:
                        p_ema.copy_(p)
        if step % 100 == 0 or step == config.steps - 1:
            losses.append(round(loss.item(), 5))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    seconds = time.perf_counter() - start
    if ema is not None:
        model.load_state_dict(ema.state_dict())
    model.eval()
    return {
        "recipe": asdict(config),
        "train_seconds": round(seconds, 2),
        "final_loss": losses[-1],
        "loss_every_100_steps": losses,
        "torch_threads": torch.get_num_threads(),
    }
