"""What the pipelines return: one dataclass per call, with documented shapes.

Time convention: generation runs ``t = 0 -> 1`` (image noise -> image), segmentation and
classification ``t = 1 -> 0`` (label noise -> label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from symmflow.data.images import to_uint8

__all__ = [
    "OUTPUT_TYPES", "ClassificationOutput", "FlowFrame", "GenerationOutput", "OutputType", "SegmentationOutput",
    "format_images", "frames_of",
]

OutputType = Literal["pil", "np", "pt"]
OUTPUT_TYPES = ("pil", "np", "pt")


@dataclass
class FlowFrame:
    """One viewable state of a running flow.

    Attributes:
        step, steps: position on the time grid (0 = the initial state).
        t: time of the state (generation runs 0 -> 1, segmentation 1 -> 0).
        images: one RGB ``uint8`` array ``[H, W, 3]`` per batch item: the image half while
            generating, the colour-mask half while segmenting (previews at model resolution
            until the final frame). Empty on intermediate frames when previews are off.
        nfe: network evaluations so far.
        output: on the final frame only, the call's full output.
    """

    step: int
    steps: int
    t: float
    images: list[np.ndarray]
    nfe: int
    output: Any = None

    @property
    def is_final(self) -> bool:
        return self.output is not None


@dataclass
class GenerationOutput:
    """The images of :meth:`~symmflow.pipeline.SymmFlowPipeline.generate`, ``B`` of them
    (labels x ``num_images_per_label``).

    Attributes:
        images: by ``output_type``: ``"pil"`` a list of ``B`` PIL images (RGB, or RGB-repeated
            grey); ``"np"`` ``uint8 [B, S, S, 3]``; ``"pt"`` ``float32 [B, C, S, S]`` in ``[-1, 1]``
            (``C`` = the model's image channels), at the model's size ``S``.
        nfe: network evaluations.
        labels: what each image was generated from: class-id maps ``int64 [S, S]``
            (segmentation) or class ids (classification).
    """

    images: Any
    nfe: int
    labels: list[Any] = field(default_factory=list)


@dataclass
class SegmentationOutput:
    """Per input image, at the input's own size ``[H, W]``:

    Attributes:
        class_maps: ``int64 [H, W]`` class ids of the palette.
        color_masks: the class maps in palette colours: PIL RGB images (``"pil"``),
            ``uint8 [H, W, 3]`` (``"np"``) or ``float32 [3, H, W]`` in ``[-1, 1]`` (``"pt"``).
        image_noise: the image half at ``t = 0``, ``float32 [B, C, s, s]`` at model (or latent)
            resolution: the noise that regenerates each image (``generate(noise=...)``).
        nfe: network evaluations.
    """

    class_maps: list[np.ndarray]
    color_masks: list[Any]
    image_noise: torch.Tensor
    nfe: int


@dataclass
class ClassificationOutput:
    """Attributes: ``labels`` ``int64 [B]`` class ids, ``scores`` ``float32 [B, K]`` (rows sum
    to 1, the decoded class scores highest), ``class_names`` (``K``), ``nfe``."""

    labels: np.ndarray
    scores: np.ndarray
    class_names: list[str]
    nfe: int


def frames_of(view: torch.Tensor) -> list[np.ndarray]:
    """``[B, C, H, W]`` in ``[-1, 1]`` -> viewable RGB arrays (grey repeated to 3 channels)."""
    return [to_uint8(v if v.shape[0] == 3 else v.expand(3, -1, -1)) for v in view.detach().float().cpu()]


def format_images(view: torch.Tensor, output_type: OutputType, frames: list[np.ndarray]) -> Any:
    if output_type == "pt":
        return view.detach().float().cpu()
    return np.stack(frames) if output_type == "np" else [Image.fromarray(f) for f in frames]
