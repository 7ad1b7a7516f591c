"""The symmetric probability path: one network, two opposite flows.

Time convention (shared by the whole package, see ``symmflow.solver``):

* the **image** half ``x`` is noise at ``t = 0`` and data at ``t = 1``;
* the **label** half ``y`` is data at ``t = 0`` and noise at ``t = 1``.

With ``s = sigma_min``::

    x_t = (1 - (1 - s) t) e_x + t x        v_x = x - (1 - s) e_x
    y_t = (1 - (1 - s) t) y   + t e_y      v_y = e_y - (1 - s) y

so integrating ``dt > 0`` turns noise into an image while the label dissolves into noise
(semantic image synthesis), and integrating ``dt < 0`` turns noise into a label while the
image dissolves (segmentation / classification). The network sees ``[x_t, y_t]`` and
predicts ``[v_x, v_y]``.

Example::

    >>> path = SymmetricPath()
    >>> x, y = torch.randn(8, 3, 32, 32), torch.randn(8, 1, 32, 32)
    >>> s = path.sample(x, y, torch.rand(8))
    >>> s.x_t.shape, s.v_y.shape
    (torch.Size([8, 3, 32, 32]), torch.Size([8, 1, 32, 32]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from symmflow.validation import check_finite, check_same_batch, check_time

__all__ = ["SymmetricPath", "SymmetricPathSample", "symmetric_loss"]


@dataclass
class SymmetricPathSample:
    """A point on the joint path and the velocity that moves it.

    Attributes:
        x_t: image half at time ``t``. Shape ``[B, *image_shape]``.
        y_t: label half at time ``t``. Shape ``[B, *label_shape]``.
        v_x: target velocity of the image half, ``d x_t / dt``. Same shape as ``x_t``.
        v_y: target velocity of the label half, ``d y_t / dt``. Same shape as ``y_t``.
        t: times in ``[0, 1]``. Shape ``[B]``.
        x, y: the clean data the sample was drawn from.
        noise_x, noise_y: the Gaussian endpoints ``e_x`` and ``e_y``.
    """

    x_t: torch.Tensor
    y_t: torch.Tensor
    v_x: torch.Tensor
    v_y: torch.Tensor
    t: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    noise_x: torch.Tensor
    noise_y: torch.Tensor


def _expand_time(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape ``t`` of shape ``[B]`` so that it broadcasts against ``like`` ``[B, ...]``."""
    return t.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)


class SymmetricPath:
    """Straight-line (optimal-transport) paths running in opposite directions for x and y.

    Args:
        sigma_min: width of the noise end of each path, ``s`` in the formulas above.
            The authors use ``1e-4`` for image models and ``0`` for the 2-D toy.
    """

    def __init__(self, sigma_min: float = 1e-4) -> None:
        if not 0.0 <= sigma_min < 1.0:
            raise ValueError(f"sigma_min must lie in [0, 1), got {sigma_min}")
        self.sigma_min = float(sigma_min)

    def __repr__(self) -> str:
        return f"SymmetricPath(sigma_min={self.sigma_min:g})"

    def sample(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor,
        noise_x: torch.Tensor | None = None,
        noise_y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> SymmetricPathSample:
        """Draw ``(x_t, y_t)`` and their target velocities.

        Args:
            x: clean images (or points). Shape ``[B, *image_shape]``; usually in ``[-1, 1]``.
            y: clean, already encoded labels. Shape ``[B, *label_shape]``; the label shape
                is independent of the image shape (a vector, a 1-channel map, an RGB mask).
            t: times in ``[0, 1]``, shape ``[B]`` (a scalar is broadcast to the batch).
            noise_x, noise_y: the Gaussian endpoints; drawn with ``generator`` if omitted.

        Raises:
            ValueError: if the batch sizes differ, a noise tensor has the wrong shape,
                ``t`` leaves ``[0, 1]``, or an input contains NaN/inf.
        """
        check_same_batch(x=x, y=y)
        check_finite(x=x, y=y)
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be a scalar or have shape [{x.shape[0]}], got {list(t.shape)}")
        check_time(t)
        if noise_x is None:
            noise_x = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        if noise_y is None:
            noise_y = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        if noise_x.shape != x.shape:
            raise ValueError(f"noise_x has shape {list(noise_x.shape)}, expected x's shape {list(x.shape)}")
        if noise_y.shape != y.shape:
            raise ValueError(f"noise_y has shape {list(noise_y.shape)}, expected y's shape {list(y.shape)}")

        shrink = 1.0 - self.sigma_min
        tx, ty = _expand_time(t, x), _expand_time(t, y)
        return SymmetricPathSample(
            x_t=(1.0 - shrink * tx) * noise_x + tx * x,
            y_t=(1.0 - shrink * ty) * y + ty * noise_y,
            v_x=x - shrink * noise_x,
            v_y=noise_y - shrink * y,
            t=t,
            x=x,
            y=y,
            noise_x=noise_x,
            noise_y=noise_y,
        )

    def loss(
        self,
        v_x_hat: torch.Tensor,
        v_y_hat: torch.Tensor,
        sample: SymmetricPathSample,
        image_weight: float,
        label_weight: torch.Tensor | None = None,
        image_pixel_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The symmetric flow-matching loss of a prediction on ``sample``; see :func:`symmetric_loss`."""
        return symmetric_loss(v_x_hat, v_y_hat, sample.v_x, sample.v_y, image_weight, label_weight, image_pixel_weight)


def symmetric_loss(
    v_x_hat: torch.Tensor,
    v_y_hat: torch.Tensor,
    v_x: torch.Tensor,
    v_y: torch.Tensor,
    image_weight: float,
    label_weight: torch.Tensor | None = None,
    image_pixel_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """``w * mse(v_x_hat, v_x) + (1 - w) * mse(v_y_hat, v_y)``, each a plain mean.

    ``w`` is 0.7 for the Stable Diffusion face/COCO models and 0.9 for the pixel-level
    classifiers and the toy (the authors' settings). ``label_weight``, if given, weights the
    label half's squared errors element-wise (it broadcasts against ``v_y``, e.g. ``[B, 1, H, W]``
    per-pixel weights for a ``[B, K, H, W]`` one-hot mask) before the mean: class balancing,
    see :mod:`symmflow.training.balance`. ``image_pixel_weight`` does the same for the image
    half (``[B, 1, H, W]`` against ``v_x``'s ``[B, C, H, W]``): the generator's error on a rare
    part's pixels counts more. Returns a scalar tensor.
    """
    if not 0.0 <= image_weight <= 1.0:
        raise ValueError(f"image_weight must lie in [0, 1], got {image_weight}")
    if v_x_hat.shape != v_x.shape or v_y_hat.shape != v_y.shape:
        raise ValueError(
            f"prediction shapes {list(v_x_hat.shape)} / {list(v_y_hat.shape)} do not match "
            f"targets {list(v_x.shape)} / {list(v_y.shape)}"
        )
    label_loss = _weighted_mse(v_y_hat, v_y, label_weight, "label_weight", "label")
    image_loss = _weighted_mse(v_x_hat, v_x, image_pixel_weight, "image_pixel_weight", "image")
    return image_weight * image_loss + (1.0 - image_weight) * label_loss


def _weighted_mse(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, name: str, half: str) -> torch.Tensor:
    """The mean of ``weight * (prediction - target) ** 2`` (a plain mean without ``weight``)."""
    if weight is None:
        return F.mse_loss(prediction, target)
    try:
        weight = torch.broadcast_to(weight, target.shape)
    except RuntimeError:
        raise ValueError(f"{name} of shape {list(weight.shape)} does not broadcast to the {half}'s {list(target.shape)}") from None
    return (weight * (prediction - target).square()).mean()
