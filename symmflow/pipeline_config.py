"""``PipelineConfig``: what a pipeline folder's ``pipeline.json`` holds, typed and checked.

The same dataclass is the ``pipeline:`` section of a training config, so a run and the model
it ships can never disagree on a setting. Every component is built from it: the label codec
(:func:`symmflow.codecs.build_codec`), the input processor
(:class:`symmflow.processing.ImageProcessor`) and the pipeline itself. ``sigma_min`` (the
path's width at the noise end) is read from here by the trainer, the networks' linear skip
and the Diffusion Classifier baseline.

Time convention: the image is noise at ``t = 0`` and data at ``t = 1``; the label is data at
``t = 0`` and noise at ``t = 1``.

Old ``pipeline.json`` files (written before ``sigma_min`` was recorded) load with the
authors' ``sigma_min = 1e-4``; bookkeeping keys (``_class_name``, ``format_version``) are
accepted and rewritten.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from symmflow.palettes import get_palette

__all__ = [
    "DEFAULT_STEPS", "LABEL_ENCODINGS", "PIPELINE_CONFIG_NAME", "TASKS", "PipelineConfig", "check_decode_weights",
    "check_label_fade", "check_min_region",
]

PIPELINE_CONFIG_NAME = "pipeline.json"
TASKS = ("segmentation", "classification")
LABEL_ENCODINGS = ("palette", "onehot")
DEFAULT_STEPS = {"generate": 25, "segment": 5, "classify": 1}
"""ODE steps per call unless a model's config says otherwise: the authors generate with 25
Euler steps; one step reads out the posterior mean of a label (the best classifier)."""

_BOOKKEEPING = {"_class_name", "format_version"}


@dataclass
class PipelineConfig:
    """Everything a pipeline needs besides its weights.

    Attributes:
        task: ``"segmentation"`` (labels are class-id maps shown in ``palette`` colours) or
            ``"classification"`` (labels are class ids, one constant label channel).
        image_size: square pixel resolution the model works at (``>= 8``).
        image_channels: 3 (RGB) or 1 (grey, e.g. digits).
        palette: segmentation: the palette's name (``"celebamask_hq"``, ``"coco_stuff"``).
        label_encoding: segmentation: ``"palette"`` (the paper's colour mask, 3 channels in
            ``[-1, 1]``; the only choice for latent models) or ``"onehot"`` (``K`` channels of
            ``+-1``; pixel models).
        beta: dequantization strength (grey levels for masks, level spread for classes).
        num_classes, class_names: classification.
        default_steps: ODE steps of ``generate`` / ``segment`` / ``classify`` by default.
        sigma_min: width of the noise end of the symmetric path, ``s`` in
            ``x_t = (1 - (1 - s) t) e_x + t x``.
        description: what the model was trained on (shown by the app).
        model_class: the network's class (``PixelUNet`` / ``LatentUNet``); set when saved.
        vae_scaling_factor, preview: latent models: the VAE's latent scale and the linear
            latent -> RGB preview map.
        decode_weights: one-hot models trained with a class-balanced loss: ``K`` divisors of the
            readout before the argmax (:class:`~symmflow.codecs.OneHotCodec`); ``None``: none.
        min_region: segmentation: regions of one class smaller than this many pixels on the
            model's ``image_size`` grid are given to the regions around them, at any output size
            (:mod:`symmflow.regions`); 0 keeps every region.
        label_fade: generation holds the label half at ``(1 - label_fade * t) y`` at every step
            instead of letting it flow into noise (:mod:`symmflow.conditioning`, chosen on
            validation faces by ``scripts/calibrate_label_fade.py``); ``None``: the authors'
            free joint flow.
    """

    task: str
    image_size: int
    image_channels: int = 3
    palette: str | None = None
    label_encoding: str | None = None
    beta: float = 10.0
    num_classes: int | None = None
    class_names: list[str] | None = None
    default_steps: dict[str, int] = field(default_factory=dict)
    sigma_min: float = 1e-4
    description: str = ""
    model_class: str | None = None
    vae_scaling_factor: float | None = None
    preview: dict[str, Any] | None = None
    decode_weights: list[float] | None = None
    min_region: int = 0
    label_fade: float | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose 'segmentation' or 'classification'")
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int) or self.image_size < 8:
            raise ValueError(f"image_size must be an integer >= 8, got {self.image_size!r}")
        if self.image_channels not in (1, 3):
            raise ValueError(f"image_channels must be 1 or 3, got {self.image_channels!r}")
        if not isinstance(self.beta, (int, float)) or not math.isfinite(self.beta) or self.beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta!r}")
        self.beta = float(self.beta)
        if not isinstance(self.sigma_min, (int, float)) or not 0 <= self.sigma_min < 1:
            raise ValueError(f"sigma_min must lie in [0, 1), got {self.sigma_min!r}")
        self.sigma_min = float(self.sigma_min)
        unknown = sorted(set(self.default_steps) - set(DEFAULT_STEPS))
        if unknown:
            raise ValueError(f"unknown default_steps key(s) {', '.join(unknown)}; accepted: {', '.join(DEFAULT_STEPS)}")
        bad = {k: v for k, v in self.default_steps.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1}
        if bad:
            raise ValueError(f"default_steps must be whole numbers >= 1, got {bad}")
        self.default_steps = {**DEFAULT_STEPS, **self.default_steps}
        self.min_region = check_min_region(self.min_region)
        if self.label_fade is not None:
            self.label_fade = check_label_fade(self.label_fade)
        if self.task == "segmentation":
            self.palette = self.palette or "celebamask_hq"
            self.label_encoding = self.label_encoding or "palette"
            if self.label_encoding not in LABEL_ENCODINGS:
                raise ValueError(f"unknown label_encoding {self.label_encoding!r}; choose one of {', '.join(LABEL_ENCODINGS)}")
            if self.num_classes is not None or self.class_names is not None:
                raise ValueError("num_classes and class_names are for classification; a segmentation model's classes come from its palette")
            if self.decode_weights is not None:
                if self.label_encoding != "onehot":
                    raise ValueError("decode_weights are for one-hot labels (label_encoding 'onehot'); a colour mask decodes to the nearest colour")
                self.decode_weights = check_decode_weights(self.decode_weights, get_palette(self.palette).num_classes)
        else:
            if self.label_encoding not in (None, "palette") or self.palette is not None or self.decode_weights is not None or self.min_region:
                raise ValueError("palette, label_encoding, decode_weights and min_region are for segmentation; classifiers encode class levels")
            self.label_encoding = None
            if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 2:
                raise ValueError(f"classification needs num_classes >= 2, got {self.num_classes!r}")
            if self.beta <= 0:
                raise ValueError(f"a classifier's beta must be > 0, got {self.beta}")
            self.class_names = [str(n) for n in (self.class_names or range(self.num_classes))]
            if len(self.class_names) != self.num_classes:
                raise ValueError(f"{len(self.class_names)} class names for {self.num_classes} classes")

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "pipeline config") -> PipelineConfig:
        """Build from a mapping (a ``pipeline.json`` or a training config's ``pipeline:``).

        Raises:
            ValueError: an unknown or missing key, or a value out of range; the message names
                ``where``, the key and what is accepted.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be a mapping of settings, got {type(data).__name__}")
        data = {k: v for k, v in data.items() if k not in _BOOKKEEPING}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)} in {where}; accepted: {', '.join(sorted(known))}")
        missing = [k for k in ("task", "image_size") if k not in data]
        if missing:
            raise ValueError(f"{where} lacks the key(s) {', '.join(missing)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """The ``pipeline.json`` mapping (keys that do not apply to the task are left out)."""
        out: dict[str, Any] = {"_class_name": "SymmFlowPipeline", "format_version": 2}
        out.update({k: v for k, v in asdict(self).items() if v is not None})
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike) -> PipelineConfig:
        """Read ``folder/pipeline.json``. Raises ``ValueError`` when it is missing or malformed."""
        path = Path(folder) / PIPELINE_CONFIG_NAME
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(
                f"{str(folder)!r} is not a SymmFlow pipeline: it has no {PIPELINE_CONFIG_NAME} "
                "(expected pipeline.json, model/ and, for latent models, vae/)"
            ) from None
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"unreadable {path}: {err}") from None
        return cls.from_dict(data, where=str(path))

    @property
    def label_channels(self) -> int:
        """Channels of the label half in pixel space: 3 (colour masks), ``K`` (one-hot), 1 (class levels)."""
        if self.task == "classification":
            return 1
        if self.label_encoding == "onehot":
            return get_palette(self.palette).num_classes
        return 3


def check_decode_weights(weights: Any, num_classes: int) -> list[float]:
    """``decode_weights`` as ``num_classes`` finite floats > 0, or a ValueError saying what came
    (the one check, for a ``pipeline.json`` and for :class:`~symmflow.codecs.OneHotCodec`)."""
    ok = isinstance(weights, (list, tuple)) and len(weights) == num_classes and all(map(_positive_finite, weights))
    if not ok:
        got = f"{len(weights)} values" if isinstance(weights, (list, tuple)) else type(weights).__name__
        raise ValueError(f"decode_weights must be a list of {num_classes} finite numbers > 0 (one per class of the palette), got {got}: {weights!r:.120}")
    return [float(w) for w in weights]


def check_label_fade(value: Any) -> float:
    """``label_fade`` as a float in ``[0, 1]``, or a ValueError saying what came (the one check,
    for a ``pipeline.json`` and for :class:`~symmflow.conditioning.HeldLabel`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(
            f"label_fade must be a number in [0, 1] (generation holds the label half at (1 - fade * t) y; "
            f"1 - sigma_min is the mean of its path), got {value!r}"
        )
    return float(value)


def check_min_region(value: Any) -> int:
    """``min_region`` as an ``int`` >= 0 (numpy integers too), or a ValueError saying what came
    (the one check, for a ``pipeline.json`` and for a pipeline call's ``min_region=``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"min_region must be a whole number of pixels >= 0 (0 keeps every region), got {value!r}")
    return int(value)


def _positive_finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy scalars too
        return False
    try:
        return math.isfinite(value) and value > 0
    except OverflowError:  # a JSON integer too large for a float
        return False
