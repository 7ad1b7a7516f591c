"""The Diffusion Classifier baseline (Li et al., 2023), run on a SymmFlow network.

For each candidate class ``c`` it measures how well the network predicts the image velocity
when told the label is ``c``: ``err_c = E_{t, e_x, e_y} || v_x_hat(x_t, y_t^c, t) - v_x ||^2``,
and predicts ``argmin_c err_c``. The same ``(t, e_x, e_y)`` draws are shared by all classes
(the paper's variance reduction). Cost: ``num_classes * trials`` network evaluations per
image, against SymmFlow's single evaluation for a 1-step reverse flow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from symmflow.codecs import ClassCodec
from symmflow.path import SymmetricPath

__all__ = ["DiffusionClassifierOutput", "diffusion_classify"]


@dataclass
class DiffusionClassifierOutput:
    """``labels [B]``, ``errors [B, K]`` (mean velocity error per class), ``nfe`` per image."""

    labels: np.ndarray
    errors: np.ndarray
    nfe: int


@torch.no_grad()
def diffusion_classify(
    pipe,
    images,
    trials: int = 10,
    seed: int = 0,
    max_batch: int = 2048,
) -> DiffusionClassifierOutput:
    """Classify ``images`` (anything ``pipe.classify`` accepts) by velocity-matching error.

    Args:
        pipe: a :class:`~symmflow.pipeline.ClassificationPipeline` (pixel model); the path's
            ``sigma_min`` is its config's.
        trials: ``(t, noise)`` draws per image, shared by every class.
        max_batch: largest number of (image, class) pairs per network call.
    """
    if pipe.task != "classification":
        raise ValueError("the Diffusion Classifier needs a classification pipeline")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    codec: ClassCodec = pipe.codec
    x, _ = pipe.processor.preprocess(images)
    x = x.to(pipe.device)
    b, k = len(x), codec.num_classes
    gen = torch.Generator().manual_seed(seed)
    path = SymmetricPath(pipe.config.sigma_min)
    levels = codec.encode(torch.arange(k), dequantize=False).to(x.device)  # [K, 1, H, W], noise-free
    errors = torch.zeros(b, k)
    for _ in range(trials):
        t = torch.rand(b, generator=gen)
        noise_x = torch.randn(x.shape, generator=gen)
        noise_y = torch.randn((b, *levels.shape[1:]), generator=gen)
        # every (image, class) pair, image-major: pair i*K + c
        xs = x.repeat_interleave(k, dim=0)
        ys = levels.repeat(b, 1, 1, 1)
        s = path.sample(xs, ys, t.repeat_interleave(k).to(x.device),
                        noise_x.repeat_interleave(k, dim=0).to(x.device), noise_y.repeat_interleave(k, dim=0).to(x.device))
        err = []
        for i in range(0, len(xs), max_batch):
            v_x, _ = pipe.model(s.x_t[i : i + max_batch], s.y_t[i : i + max_batch], s.t[i : i + max_batch])
            err.append((v_x - s.v_x[i : i + max_batch]).square().flatten(1).mean(1))
        errors += torch.cat(err).reshape(b, k).cpu()
    errors /= trials
    return DiffusionClassifierOutput(errors.argmin(1).numpy(), errors.numpy(), k * trials)
