"""Both flows of a trained spiral model: classify points, generate points of a class."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

import torch
from torch import nn

from symmflow.solver import TIME_SPAN, ODESolver, SolverState
from symmflow.spiral.data import SPIRAL_CODEC, make_spirals, nearest_arm

__all__ = ["accuracy_by_steps", "classify", "classify_flow", "generate", "generate_flow"]


def _velocity(model: nn.Module):
    model.eval()  # BatchNorm must use its running statistics at inference
    return model


def classify_flow(
    model: nn.Module,
    points: torch.Tensor,
    steps: int = 1,
    method: Literal["euler", "heun"] = "euler",
    generator: torch.Generator | None = None,
) -> Iterator[SolverState]:
    """Reverse flow, ``t = 1 -> 0`` from ``[points, e_y]``: yields every state (``steps + 1``)."""
    noise_y = torch.randn((len(points), 1), generator=generator)
    yield from ODESolver(_velocity(model), method).iterate(points, noise_y, *TIME_SPAN["label"], steps)


def generate_flow(
    model: nn.Module,
    labels: torch.Tensor,
    steps: int = 25,
    method: Literal["euler", "heun"] = "euler",
    generator: torch.Generator | None = None,
) -> Iterator[SolverState]:
    """Forward flow, ``t = 0 -> 1`` from ``[e_x, dequantized labels]``: yields every state."""
    y = SPIRAL_CODEC.encode(labels, dequantize=True, generator=generator)
    noise_x = torch.randn((len(y), 2), generator=generator)
    yield from ODESolver(_velocity(model), method).iterate(noise_x, y, *TIME_SPAN["image"], steps)


def _last(states: Iterable[SolverState]) -> SolverState:
    state = None
    for state in states:
        pass
    assert state is not None
    return state


def classify(model: nn.Module, points: torch.Tensor, steps: int = 1, **kwargs) -> torch.Tensor:
    """Class ids ``[N]`` of ``points`` ``[N, 2]``: the sign of the label after the reverse flow."""
    return SPIRAL_CODEC.decode(_last(classify_flow(model, points, steps, **kwargs)).y)


def generate(model: nn.Module, labels: torch.Tensor, steps: int = 25, **kwargs) -> torch.Tensor:
    """New points ``[N, 2]`` on the arms of ``labels`` ``[N]`` (class ids 0/1)."""
    return _last(generate_flow(model, labels, steps, **kwargs)).x


def accuracy_by_steps(
    model: nn.Module,
    steps_list: Iterable[int] = (1, 2, 5, 10, 20, 50),
    test_size: int = 10_000,
    seed: int = 1234,
    method: Literal["euler", "heun"] = "euler",
) -> dict[str, dict[int, float]]:
    """Classification and generation accuracy (percent) on a fresh seeded test set.

    ``classification``: share of test points whose predicted class is their arm.
    ``generation``: share of generated points (half per class) nearest the arm of their label.
    """
    data_gen = torch.Generator().manual_seed(seed)
    points, labels = make_spirals(test_size, generator=data_gen)
    result: dict[str, dict[int, float]] = {"classification": {}, "generation": {}}
    for steps in steps_list:
        gen = torch.Generator().manual_seed(seed + steps)
        pred = classify(model, points, steps, method=method, generator=gen)
        result["classification"][steps] = 100.0 * (pred == labels).float().mean().item()
        samples = generate(model, labels, steps, method=method, generator=gen)
        result["generation"][steps] = 100.0 * (nearest_arm(samples) == labels).float().mean().item()
    return result
