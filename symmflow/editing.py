"""Edit and regenerate, as the authors' GUI does it (``sample_gui`` in caetas/SymmetricFlow).

Segmenting a photo (``t = 1 -> 0``, :meth:`~symmflow.pipeline.SegmentationPipeline.segment`)
recovers the image half's noise ``e`` at ``t = 0`` (``SegmentationOutput.image_noise``). The user
repaints part of the mask; regeneration (``t = 0 -> 1``) then integrates fresh noise inside the
edited region while, at EVERY state (the initial one, every step, the last), the image half outside
it is replaced by the straight path between ``e`` and the photo's own encoding ``z``
(``s = sigma_min``, the path of :mod:`symmflow.path`)::

    x_t = (1 - (1 - s) t) e + t z        t = 0: the recovered noise; t = 1: the photo (z + s e)

so the unedited part ends at the photo, and the network sees it there at every step, which the
edited part must fit. The edit mask is taken down to the model's (latent) resolution, thresholded
at 0.2 and dilated 3x3 (:func:`edit_region`). The label half flows freely, as in the authors'
GUI, even for a model whose config holds it in plain generation (``label_fade``,
:mod:`symmflow.conditioning`): with the shipped face model, holding it read the repainted part
back less well (``hold_label=True`` or ``None``, the config's choice, holds it; see
``benchmarks/edit_and_uncertainty.py``).

Example::

    >>> seg = pipe.segment(photo, steps=5, seed=0)
    >>> out = regenerate(pipe, new_mask, photo, seg.image_noise, edit_mask=changed_region(new_ids, old_ids), seed=0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from symmflow.data.images import resize_labels
from symmflow.outputs import FlowFrame, GenerationOutput, OutputType
from symmflow.pipeline import SymmFlowPipeline, _consume, _generator

__all__ = ["EDIT_THRESHOLD", "PinnedPath", "changed_region", "edit_region", "regenerate", "regenerate_stream", "repainted_region"]

EDIT_THRESHOLD = 0.2
"""A cell at model resolution is edited when more than this share of its pixels is (the authors' 0.2)."""


def _edit_tensor(edit_mask: Any) -> torch.Tensor:
    """An edit mask -> float ``[B, 1, H, W]`` in ``[0, 1]``."""
    mask = torch.as_tensor(np.asarray(edit_mask) if not isinstance(edit_mask, torch.Tensor) else edit_mask)
    if mask.dtype == torch.bool:
        mask = mask.float()
    elif mask.dtype == torch.uint8:
        mask = mask.float() / 255.0
    else:
        mask = mask.float()
        if mask.numel() and (mask.min() < 0 or mask.max() > 1):
            raise ValueError(
                f"an edit mask of floats must lie in [0, 1], got {mask.min().item():g}..{mask.max().item():g} "
                "(or pass booleans, or uint8 0..255)"
            )
    if mask.dim() == 2:
        mask = mask[None]
    if mask.dim() == 3:
        mask = mask[:, None]
    if mask.dim() != 4 or mask.shape[1] != 1 or min(mask.shape[-2:], default=0) < 1:
        raise ValueError(f"an edit mask must be [H, W], [B, H, W] or [B, 1, H, W], got shape {list(mask.shape)}")
    return mask


def edit_region(edit_mask: Any, size: int | tuple[int, int]) -> torch.Tensor:
    """Where regeneration draws fresh noise, at the model's (or latent) resolution.

    Args:
        edit_mask: what the user changed, at any resolution: booleans, floats in ``[0, 1]`` or
            ``uint8`` 0..255 (a painted stroke mask); ``[H, W]``, ``[B, H, W]`` or ``[B, 1, H, W]``.
        size: the side (or ``(h, w)``) of the image half: the model's image size, or the latent's.

    Returns:
        bool ``[B, 1, h, w]``: the share of edited pixels in each cell (area average; bilinear when
        enlarging) above :data:`EDIT_THRESHOLD`, then dilated by one cell (3x3): the flow mixes
        neighbouring cells. (The authors shrink with plain bilinear sampling, which at 8x reads
        2x2 of every 8x8 pixels and can miss a thin stroke; the area average sees all of them.)
    """
    mask = _edit_tensor(edit_mask)
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if mask.shape[-2] >= hw[0] and mask.shape[-1] >= hw[1]:
        mask = F.adaptive_avg_pool2d(mask, hw)
    else:
        mask = F.interpolate(mask, size=hw, mode="bilinear", align_corners=False)
    edited = (mask > EDIT_THRESHOLD).float()
    return F.max_pool2d(edited, kernel_size=3, stride=1, padding=1) > 0.5


def changed_region(new_ids: np.ndarray, old_ids: np.ndarray) -> np.ndarray:
    """Where a repainted class map ``new_ids`` ``[H, W]`` differs from the one segmented,
    ``old_ids`` (any size: taken to ``new_ids``' size by nearest neighbour). Returns bool ``[H, W]``.
    For a painted canvas compare its colours instead (:func:`repainted_region`)."""
    new, old = np.asarray(new_ids), np.asarray(old_ids)
    if new.ndim != 2 or old.ndim != 2:
        raise ValueError(f"class maps must be 2-D [H, W], got shapes {list(new.shape)} and {list(old.shape)}")
    if old.shape != new.shape:
        old = resize_labels(old, new.shape, mode="nearest")
    return new != old


def repainted_region(canvas: np.ndarray, sent: np.ndarray) -> np.ndarray:
    """Where a canvas was repainted: its colours ``uint8 [H, W, 3]`` (as read back, e.g.
    :meth:`~symmflow.processing.ImageProcessor.read_mask_colours`) differ from the colour mask
    ``sent`` to it, ``uint8 [h, w, 3]`` (any size: taken to the canvas's by nearest neighbour).
    Returns bool ``[H, W]``.

    The edit of a painted canvas, compared in colours rather than class ids: reading ids back
    from colours reads a thin strip of one class between two others as an antialiased blend, so
    :func:`changed_region` on the ids read would count such unrepainted pixels as edited (and
    regeneration would free them); an unrepainted canvas differs from what was sent nowhere.
    """
    canvas, sent = np.asarray(canvas), np.asarray(sent)
    for name, rgb in (("canvas", canvas), ("sent mask", sent)):
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or 0 in rgb.shape:
            raise ValueError(f"the {name} must be RGB uint8 [H, W, 3], got {rgb.dtype} of shape {list(rgb.shape)}")
    # one int per colour, so the sent mask is resized as a label map (nearest: no colour is blended)
    packed = [(rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2] for rgb in (canvas, sent)]
    return packed[0] != resize_labels(packed[1], canvas.shape[:2], mode="nearest")


class PinnedPath:
    """A solver constraint (:meth:`~symmflow.solver.ODESolver.iterate`) holding the image half
    outside ``region`` on the straight path ``(1 - (1 - s) t) noise + t encoding``.

    Args:
        noise: the recovered noise ``e`` at ``t = 0``, ``[B, C, h, w]``.
        encoding: the photo's own encoding ``z`` (pixels in ``[-1, 1]``, or scaled latents), ``[B, C, h, w]``.
        region: bool ``[B, 1, h, w]`` (or ``[1, 1, h, w]``): True where the image half flows freely.
        sigma_min: ``s``, the pipeline's ``config.sigma_min``.
    """

    def __init__(self, noise: torch.Tensor, encoding: torch.Tensor, region: torch.Tensor, sigma_min: float = 1e-4) -> None:
        if noise.shape != encoding.shape or noise.dim() != 4:
            raise ValueError(f"noise and encoding must both be [B, C, h, w], got {list(noise.shape)} and {list(encoding.shape)}")
        want = (noise.shape[0], 1, *noise.shape[-2:])
        if region.dim() != 4 or region.shape[1] != 1 or region.shape[-2:] != noise.shape[-2:] or region.shape[0] not in (1, want[0]):
            raise ValueError(f"region must be bool {list(want)} (or batch 1) to match the noise, got {list(region.shape)}")
        self.noise, self.encoding, self.region = noise, encoding, region.bool()
        self.shrink = 1.0 - float(sigma_min)

    def path(self, t: float) -> torch.Tensor:
        """The pinned value at time ``t``: ``(1 - (1 - s) t) e + t z``."""
        return (1.0 - self.shrink * t) * self.noise + t * self.encoding

    def __call__(self, x: torch.Tensor, y: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.where(self.region, x, self.path(t).to(x.dtype)), y


def _photo_encoding(pipe: SymmFlowPipeline, photo: Any) -> torch.Tensor:
    """The photo(s) at model resolution, ``[B, C, S, S]`` in ``[-1, 1]``; for a latent model their
    VAE encoding (the mode: one latent per photo), ``[B, C, S/f, S/f]``."""
    x, _ = pipe.processor.preprocess(photo)
    x = x.to(pipe.device)
    return pipe.vae.encode_mask(x).float() if pipe.vae is not None else x


def regenerate_stream(
    pipe: SymmFlowPipeline, labels: Any, photo: Any, noise: torch.Tensor, edit_mask: Any = None, *,
    steps: int | None = None, seed: int | None = None, generator: torch.Generator | None = None, solver: str = "euler",
    num_images_per_label: int = 1, output_type: OutputType = "pil", previews: bool = True,
    hold_label: bool | None = False,
) -> Iterator[FlowFrame]:
    """Like :func:`regenerate`, yielding a :class:`~symmflow.outputs.FlowFrame` per ODE step."""
    noise = torch.as_tensor(noise).float()
    if noise.dim() != 4:
        raise ValueError(f"noise must be the recovered image noise [B, C, h, w], got shape {list(noise.shape)}")
    encoding = _photo_encoding(pipe, photo)
    if encoding.shape != noise.shape:
        raise ValueError(
            f"the photo's encoding {list(encoding.shape)} does not match the noise {list(noise.shape)}: pass the "
            "photo(s) the noise was recovered from, one per noise"
        )
    region = torch.zeros_like(noise[:, :1], dtype=torch.bool) if edit_mask is None else edit_region(edit_mask, noise.shape[-2:])
    if region.shape[0] not in (1, len(noise)):
        raise ValueError(f"{region.shape[0]} edit masks for {len(noise)} photos: give one, or one per photo")
    if isinstance(num_images_per_label, bool) or not isinstance(num_images_per_label, int) or num_images_per_label < 1:
        raise ValueError(f"num_images_per_label must be an integer >= 1, got {num_images_per_label!r}")
    n = num_images_per_label
    region = region.expand(len(noise), -1, -1, -1)
    noise, encoding, region = (v.repeat_interleave(n, dim=0).to(pipe.device) for v in (noise, encoding, region))
    g = _generator(seed, generator)
    fresh = pipe.randn(noise.shape, g)  # inside the region; the constraint puts e outside at t = 0
    pin = PinnedPath(noise, encoding, region, pipe.config.sigma_min)
    yield from pipe.generate_stream(
        labels, steps=steps, generator=g, solver=solver, num_images_per_label=n, output_type=output_type,
        noise=fresh, previews=previews, constraint=pin, hold_label=hold_label,
    )


def regenerate(
    pipe: SymmFlowPipeline, labels: Any, photo: Any, noise: torch.Tensor, edit_mask: Any = None, *,
    steps: int | None = None, seed: int | None = None, generator: torch.Generator | None = None, solver: str = "euler",
    num_images_per_label: int = 1, output_type: OutputType = "pil", callback: Callable[[FlowFrame], None] | None = None,
    hold_label: bool | None = False,
) -> GenerationOutput:
    """A repainted mask -> a portrait that is the photo wherever the mask was not repainted.

    Args:
        pipe: a segmentation pipeline (pixel or latent).
        labels: the repainted mask(s), ``B`` of them (as :meth:`~symmflow.pipeline.SymmFlowPipeline.generate`).
        photo: the photo(s) the noise was recovered from, ``B`` of them (as ``segment``: files,
            PIL, ``uint8`` arrays, tensors; e.g. an aligned face crop).
        noise: the recovered noise, ``SegmentationOutput.image_noise`` ``[B, C, h, w]`` (float32;
            ``h = w`` = the model's image size, or the latent's).
        edit_mask: what was repainted (:func:`edit_region`; e.g. :func:`changed_region`), one for
            all or one per photo. ``None``: nothing; the result is the photo (``z + s e`` at ``t = 1``).
        steps, seed / generator, solver, num_images_per_label, output_type, callback: as in
            ``generate``; ``num_images_per_label`` portraits per mask differ inside the edit only.
        hold_label: as in ``generate``, but the default is ``False``, the free flow (module docstring).

    Returns:
        :class:`~symmflow.outputs.GenerationOutput` at the model's resolution.

    Raises:
        ValueError: noise, photos and masks that do not match (the message names the shapes).
    """
    stream = regenerate_stream(
        pipe, labels, photo, noise, edit_mask, steps=steps, seed=seed, generator=generator, solver=solver,
        num_images_per_label=num_images_per_label, output_type=output_type, previews=callback is not None,
        hold_label=hold_label,
    )
    return _consume(stream, callback)
