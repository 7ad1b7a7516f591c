"""Mirror averaging: a velocity field made symmetric under left-right reflection.

A face seen in a mirror is still a face, with its left and right parts swapped. Let ``M`` be
that reflection of the joint state: flip both halves along the width, and send every label
channel to its mirror class's channel (``l_eye <-> r_eye``, ``l_brow <-> r_brow``,
``l_ear <-> r_ear`` for CelebAMask-HQ; the identity for classes without a side). The averaged
field is

    v_M(x, y, t) = 1/2 [ v(x, y, t) + M v(M x, M y, t) ]

and is exactly mirror-equivariant, ``v_M(M x, M y, t) = M v_M(x, y, t)``, whatever the
network learned. (The field, not every output: the label noise a segmentation starts from is
drawn as it is, not mirrored, so a photo and its mirror image can still differ in a few pixels.) One network evaluation of a doubled batch per step; the time convention is
the solver's (:mod:`symmflow.solver`), untouched here.

A one-step segmentation with ``v_M`` is the mean of the network's readouts of the photo and of
its mirror image (mirrored back), a test-time ensemble that cancels the network's left-right
slips. The reflection must be linear in the label half, so this applies to one-hot label
channels in pixel space (:class:`~symmflow.codecs.OneHotCodec`), not to colour masks, whose
left and right colours do not swap by a channel permutation, nor to VAE latents.

Example::

    >>> field = MirrorAveraged(model, CELEBAMASK_HQ.mirror_permutation())
    >>> ODESolver(field).solve(images, noise, *TIME_SPAN["label"], steps=1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from symmflow.solver import VelocityModel

__all__ = ["MirrorAveraged"]


class MirrorAveraged:
    """``v_M(x, y, t) = (v(x, y, t) + M v(M x, M y, t)) / 2`` (module docstring).

    Args:
        velocity: ``v(x [B, C, H, W], y [B, K, H, W], t [B]) -> (v_x, v_y)``.
        label_permutation: ``K`` channel indices, entry ``k`` the channel of class ``k``'s
            mirror class; an involution (applying it twice is the identity).

    Raises:
        ValueError: if ``label_permutation`` is not a permutation that is its own inverse.
    """

    def __init__(self, velocity: VelocityModel, label_permutation: Sequence[int]) -> None:
        ids = list(label_permutation)
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in ids):
            raise ValueError(f"label_permutation must hold integer channel indices, got {ids}")
        perm = torch.tensor([int(i) for i in ids], dtype=torch.long)
        k = len(perm)
        if k == 0 or sorted(perm.tolist()) != list(range(k)) or not torch.equal(perm[perm], torch.arange(k)):
            raise ValueError(
                f"label_permutation must be a permutation of 0..K-1 that is its own inverse "
                f"(each class and its mirror class swap), got {perm.tolist()}"
            )
        self.velocity = velocity
        self.permutation = perm

    def mirror(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``M (x, y)``: both halves flipped along the width, label channels permuted."""
        if y.shape[1] != len(self.permutation):
            raise ValueError(f"the label half has {y.shape[1]} channels, the mirror permutation {len(self.permutation)}")
        return x.flip(-1), y[:, self.permutation.to(y.device)].flip(-1)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_m, y_m = self.mirror(x, y)
        v_x, v_y = self.velocity(torch.cat([x, x_m]), torch.cat([y, y_m]), torch.cat([t, t]))
        b = len(x)
        back_x, back_y = self.mirror(v_x[b:], v_y[b:])
        return 0.5 * (v_x[:b] + back_x), 0.5 * (v_y[:b] + back_y)
