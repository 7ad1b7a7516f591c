"""Holding the label during generation: the conditioning half kept noise-free.

In the authors' inference the whole joint state moves (:mod:`symmflow.solver`): generating
(``t = 0 -> 1``), the label half ``y_t`` starts at the dequantized label ``y`` and is carried by
the network's own ``v_y`` towards noise, ``y_t ~ (1 - (1 - s) t) y + t e_y``. What is left of
the label at time ``t`` is therefore mixed with noise: a part one or two pixels wide (a
necklace, an earring, a glasses frame) is below the noise after the first steps, and the image
half, still mostly noise, has not committed to it yet. A small model then drops it.

:class:`HeldLabel` is a solver constraint that puts, at every state, the label half back at

    y_t = (1 - fade * t) y

the label itself, faded but without noise. With ``fade = 1 - s`` that is the mean of the label's
path given ``y``: the state the network would see if it were told the label exactly rather than
a noisy draw of it. A smaller ``fade`` shows the network more label than the path would at
``t`` (that of an earlier time ``fade * t``), a strength that, like a guidance scale, is chosen
per model on validation data (``scripts/calibrate_label_fade.py``; the model's
``PipelineConfig.label_fade``). The image half is untouched; it costs no network evaluation.

This is not the authors' inference, and models trained as theirs were may not gain from it:
pipelines hold the label only when their config sets ``label_fade`` (``hold_label=False`` gives the
authors' free flow for any model).

Example::

    >>> held = HeldLabel(fade=0.65)
    >>> image, _ = ODESolver(model).solve(noise, labels, *TIME_SPAN["image"], steps=25, constraint=held)
"""

from __future__ import annotations

import torch

from symmflow.pipeline_config import check_label_fade
from symmflow.solver import Constraint

__all__ = ["HeldLabel", "chain"]


class HeldLabel:
    """A solver constraint holding the label half at ``(1 - fade * t) y`` (module docstring).

    ``y`` is the label half of the state at ``t = 0``, where every generation starts (the
    dequantized label as :meth:`~symmflow.pipeline.SymmFlowPipeline.generate` encodes it: one-hot
    channels, a colour mask, a class level, or a latent model's VAE latent of the mask); it is
    read again at each ``t = 0``, so one instance serves one solve after another.

    Args:
        fade: in ``[0, 1]`` (:func:`~symmflow.pipeline_config.check_label_fade`); ``1 - sigma_min`` holds
            the label on the mean of its path.
    """

    def __init__(self, fade: float) -> None:
        self.fade = check_label_fade(fade)
        self.label: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        if t == 0:  # a generation starts: its label is the one to hold
            self.label = y.detach().clone()
        elif self.label is None:
            raise ValueError(f"HeldLabel must first see the generation's start (t = 0) to read the label, got t = {t}")
        if self.label.shape != y.shape:
            raise ValueError(f"the label half has shape {list(y.shape)}, the held label {list(self.label.shape)}")
        return x, (1.0 - self.fade * t) * self.label.to(y.dtype)


def chain(*constraints: Constraint | None) -> Constraint | None:
    """One constraint applying each given one in turn (``None`` entries skipped); ``None`` if
    none is given."""
    given = [c for c in constraints if c is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]

    def apply(x: torch.Tensor, y: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        for c in given:
            x, y = c(x, y, t)
        return x, y

    return apply
