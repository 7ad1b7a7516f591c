"""Input checks shared by the method layer; each raises a ValueError that names the culprit."""

from __future__ import annotations

import numbers

import torch

__all__ = ["MAX_SEED", "check_finite", "check_same_batch", "check_seed", "check_steps", "check_time"]

MAX_SEED = 2**31 - 1
"""The largest seed the app and the CLI accept (seeds are whole numbers in ``[0, MAX_SEED]``):
the same range in both, exact in a browser's number box; the library takes any seed below 2**63."""


def check_same_batch(**tensors: torch.Tensor) -> None:
    """Every tensor must be at least 1-D and share the leading (batch) dimension."""
    sizes = {}
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() == 0:
            raise ValueError(f"{name} must have a batch dimension, got a scalar")
        sizes[name] = value.shape[0]
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{n}={s}" for n, s in sizes.items())
        raise ValueError(f"batch sizes differ ({listed}); x and y must hold the same number of samples")


def check_finite(**tensors: torch.Tensor) -> None:
    """No NaN or infinity anywhere: they would silently poison every later step."""
    for name, value in tensors.items():
        if not torch.isfinite(value).all():
            raise ValueError(f"{name} contains NaN or infinite values; expected finite numbers")


def check_time(t: torch.Tensor | float, name: str = "t") -> None:
    """Times live in ``[0, 1]`` (image noise at 0, image data at 1)."""
    t = torch.as_tensor(t)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values; expected times in [0, 1]")
    if (t < 0).any() or (t > 1).any():
        raise ValueError(f"{name} must lie in [0, 1], got values in [{t.min().item():g}, {t.max().item():g}]")


def check_steps(steps: int) -> int:
    """A number of ODE steps: an integer >= 1."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    return int(steps)


def check_flag(value: bool | None, name: str, none_means: str = "") -> bool | None:
    """A three-way switch: ``True``, ``False`` or ``None`` (the default; ``none_means`` says what
    that is, in the refusal)."""
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be True, False or None{none_means}, got {value!r}")
    return value


def check_seed(seed: int) -> int:
    """A random seed: a whole number in ``[0, 2**63)`` (NaN, infinities and fractions are refused)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    return int(seed)
