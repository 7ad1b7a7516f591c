"""Training configuration: a YAML file read into dataclasses, every key checked.

Layout of a config file (see ``configs/``)::

    name: digits
    task: classification            # or segmentation
    output_dir: runs/digits
    data: {dataset: digits, kwargs: {split: train, size: 16}, augment: {translate: 1}}
    model: {class: PixelUNet, kwargs: {...}}   # or LatentUNet with pretrained_unet / vae
    pipeline: {image_size: 16, image_channels: 1, num_classes: 10, beta: 4, sigma_min: 1.0e-4, ...}
                                    # a PipelineConfig: written to pipeline.json as it is
    train: {steps: 20000, batch_size: 128, lr: 5.0e-4, ...}
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from symmflow.pipeline_config import PipelineConfig

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "TrainConfig", "load_config"]


def _build(cls, data: dict[str, Any] | None, where: str):
    data = dict(data or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in {where}; accepted: {', '.join(sorted(known))}")
    return cls(**data)


@dataclass
class DataConfig:
    """``dataset``: ``digits``, ``procedural_faces``, ``celebamask_hq``, ``celebamask_hq_color``,
    ``coco_stuff`` or ``folder``; ``kwargs`` go to its constructor. ``augment``: ``translate``,
    random whole-pixel shifts of up to that many pixels; ``affine``, ``{degrees, scale,
    translate}`` for :func:`symmflow.data.augment.random_affine`. Label maps move with the image.
    ``allow_unmatched``: train on the complete (image, label) pairs of a dataset on disk that
    also holds images without labels or labels without images (refused by default)."""

    dataset: str = "digits"
    kwargs: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    allow_unmatched: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.allow_unmatched, bool):
            raise ValueError(f"data.allow_unmatched is true or false, got {self.allow_unmatched!r}")
        unknown = sorted(set(self.augment) - {"translate", "affine"})
        if unknown:
            raise ValueError(f"unknown augmentation(s) {', '.join(unknown)} in data.augment; accepted: affine, translate")
        shift = self.augment.get("translate", 0)
        if not isinstance(shift, int) or isinstance(shift, bool) or shift < 0:
            raise ValueError(f"data.augment.translate is a whole number of pixels >= 0, got {shift!r}")
        affine = self.augment.get("affine") or {}
        if not isinstance(affine, dict) or set(affine) - {"degrees", "scale", "translate"}:
            raise ValueError(f"data.augment.affine takes the keys degrees, scale and translate, got {affine!r}")
        from symmflow.data.augment import check_affine

        try:
            check_affine(**affine)
        except ValueError as err:
            raise ValueError(f"data.augment.affine: {err}") from None


@dataclass
class ModelConfig:
    """``class``: ``PixelUNet`` or ``LatentUNet``. For ``PixelUNet``, ``preset`` names a size in
    ``PIXEL_UNET_PRESETS`` and ``kwargs`` override it. For ``LatentUNet``: ``pretrained_unet``
    (a 4-channel SD U-Net to double, hub id or folder, with ``unet_subfolder`` e.g. ``unet``;
    else built from ``kwargs``), ``vae``
    (an AutoencoderKL) and ``prompt_embedding`` (file). ``init_from``: a saved pipeline (folder or
    hub id) whose weights the network starts from (the same weight layout), e.g. to train a
    shipped model further. Changing a trained network's layout (adding a refinement head or
    detail network, colour-mask -> one-hot labels) is ``scripts/migrate_checkpoint.py``'s job."""

    cls: str = "PixelUNet"
    preset: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained_unet: str | None = None
    unet_subfolder: str | None = None
    vae: str | None = None
    prompt_embedding: str | None = None
    init_from: str | None = None


@dataclass
class OptimConfig:
    """AdamW with the authors' one-cycle schedule: warm up from 1e-6 to ``lr`` over the first
    ``warmup`` fraction of ``steps``, cosine back down. ``readout_fraction``: the probability that a
    sample is trained at exactly ``t = 1`` (the input of one-step classification; 0 = the paper's
    ``t ~ U(0, 1)`` for all). ``class_balance``: exponent ``a`` of per-pixel label-loss weights
    ``f_k ** -a`` by the pixel's true class (``f_k``: the class's share of the training pixels;
    0 = the paper's plain mean, 0.5 = square-root balancing), for pixel segmentation models, see
    :mod:`symmflow.training.balance`. ``image_balance``: the same exponent for the image
    half's per-pixel weights (by the class under the pixel; 0 = a plain mean), so the generator
    is trained to get a rare part's pixels right as much as the segmenter is to find them.
    ``sigma_min``: accepted for older configs; the path's width
    belongs to ``pipeline.sigma_min`` (a value here must agree with it, or fills it in).
    ``batch_size`` is per process and per
    micro-batch; the effective batch is ``batch_size * grad_accum * processes``."""

    steps: int = 10_000
    batch_size: int = 64
    grad_accum: int = 1
    lr: float = 5e-4
    warmup: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    ema_decay: float = 0.999
    image_weight: float = 0.9
    sigma_min: float | None = None
    readout_fraction: float = 0.0
    class_balance: float = 0.0
    image_balance: float = 0.0
    mixed_precision: str = "no"
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int = 1000
    log_every: int = 50

    def __post_init__(self) -> None:
        # YAML 1.1 reads an exponent without a dot (lr: 3e-4) as a string: accept it as the
        # number it clearly is, and name the key of anything that is not a finite number
        for f in fields(self):
            value = getattr(self, f.name)
            optional = "None" in f.type
            if value is None and optional:
                continue
            if f.type.startswith("int"):
                setattr(self, f.name, _number(value, int, f"train.{f.name}", optional))
            elif f.type.startswith("float"):
                setattr(self, f.name, _number(value, float, f"train.{f.name}", optional))


def _number(value: Any, kind: type, where: str, optional: bool = False) -> int | float:
    """``value`` as a finite ``kind``; strings such as ``"3e-4"`` are parsed."""
    accepted = "a number" + (" or null" if optional else "")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{where} must be {accepted}, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where} must be {accepted}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    if kind is int:
        if isinstance(value, numbers.Integral):
            return int(value)
        if not float(value).is_integer():
            raise ValueError(f"{where} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


@dataclass
class TrainConfig:
    name: str
    task: str
    output_dir: str
    data: DataConfig
    model: ModelConfig
    pipeline: PipelineConfig
    train: OptimConfig

    def __post_init__(self) -> None:
        if self.task not in ("segmentation", "classification"):
            raise ValueError(f"task must be 'segmentation' or 'classification', got {self.task!r}")
        if self.model.cls not in ("PixelUNet", "LatentUNet"):
            raise ValueError(f"model.class must be PixelUNet or LatentUNet, got {self.model.cls!r}")
        t = self.train
        if t.steps < 1 or t.batch_size < 1 or t.grad_accum < 1:
            raise ValueError("train.steps, train.batch_size and train.grad_accum must be >= 1")
        if t.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"train.mixed_precision must be no, bf16 or fp16, got {t.mixed_precision!r}")
        if not 0 <= t.warmup < 1:
            raise ValueError(f"train.warmup is a fraction of the steps in [0, 1), got {t.warmup}")
        for name in ("checkpoint_every", "log_every"):
            if getattr(t, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(t, name)}")
        if t.sample_every < 0:
            raise ValueError(f"train.sample_every must be >= 0 (0: no samples), got {t.sample_every}")
        if not 0 <= t.image_weight <= 1 or not 0 <= t.ema_decay < 1:
            raise ValueError("train.image_weight must lie in [0, 1], train.ema_decay in [0, 1)")
        if not 0 <= t.readout_fraction <= 1:
            raise ValueError(f"train.readout_fraction is the share of samples drawn at t = 1, in [0, 1], got {t.readout_fraction}")
        for name in ("class_balance", "image_balance"):
            if not 0 <= getattr(t, name) <= 1:
                raise ValueError(f"train.{name} is an exponent in [0, 1] (0: no balancing), got {getattr(t, name)}")
            if getattr(t, name) and (self.task != "segmentation" or self.model.cls != "PixelUNet"):
                raise ValueError(
                    f"train.{name} weights pixels by class: it needs task segmentation and a "
                    f"PixelUNet (labels in pixel space), got task {self.task!r} with {self.model.cls}"
                )
        if t.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {t.lr}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"]["class"] = d["model"].pop("cls")
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TrainConfig:
        data = dict(data)
        required = {"name", "task", "data", "model", "pipeline", "train"}
        missing = sorted(required - set(data))
        if missing:
            raise ValueError(f"{where} lacks the key(s) {', '.join(missing)}")
        model = dict(data.pop("model"))
        if "class" in model:
            model["cls"] = model.pop("class")
        known = required | {"output_dir"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)} in {where}; accepted: {', '.join(sorted(known))}")
        return cls(
            name=data["name"],
            task=data["task"],
            output_dir=data.get("output_dir") or f"runs/{data['name']}",
            data=_build(DataConfig, data["data"], f"{where}: data"),
            model=_build(ModelConfig, model, f"{where}: model"),
            pipeline=_pipeline_config(data, where),
            train=_build(OptimConfig, data["train"], f"{where}: train"),
        )


def _pipeline_config(data: dict[str, Any], where: str) -> PipelineConfig:
    """The ``pipeline:`` section as a :class:`PipelineConfig`, its task the config's ``task``
    and its ``sigma_min`` filled in from an older config's ``train.sigma_min``."""
    section = data["pipeline"]
    if not isinstance(section, dict):
        raise ValueError(f"{where}: pipeline must be a mapping of settings")
    section = dict(section)
    if section.setdefault("task", data["task"]) != data["task"]:
        raise ValueError(f"{where}: pipeline.task {section['task']!r} differs from task {data['task']!r}")
    legacy = (data.get("train") or {}).get("sigma_min")
    if legacy is not None:
        legacy = _number(legacy, float, "train.sigma_min")
        if section.setdefault("sigma_min", legacy) != legacy:
            raise ValueError(f"{where}: train.sigma_min {legacy:g} differs from pipeline.sigma_min {section['sigma_min']:g}; set pipeline.sigma_min only")
    return PipelineConfig.from_dict(section, where=f"{where}: pipeline")


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config; ``overrides`` like ``{"train.steps": 100, "output_dir": "x"}`` win."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no config file at {str(path)!r}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of settings")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return TrainConfig.from_dict(data, where=str(path))
