"""``SymmFlowPipeline``: the one entry point for inference, in both directions.

It composes a velocity network (pixel or latent), an optional VAE, a label codec and an ODE
solver, and exposes:

* :meth:`~SymmFlowPipeline.generate` - label (mask or class) -> image, ``t = 0 -> 1``;
* :meth:`~SymmFlowPipeline.segment` - image -> class-id map + colour mask, ``t = 1 -> 0``;
* :meth:`~SymmFlowPipeline.classify` - image -> class id + per-class score, ``t = 1 -> 0``.

Each accepts PIL images, numpy arrays or tensors of any size and mode (resized and converted
as needed; segmentation results come back at the input's size), is batched, deterministic
for a given seed, and has a ``*_stream`` twin that yields a viewable :class:`FlowFrame` per
ODE step. For a latent model, intermediate frames use a linear latent->RGB preview; only the
final frame pays for a VAE decode.

A pipeline folder (``save_pretrained`` / ``from_pretrained``, local or on the hub)::

    pipeline.json     task, image size, palette or classes, dequantization, defaults
    model/            the network: config.json + diffusion_pytorch_model.safetensors
    vae/              (latent models) the AutoencoderKL
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from symmflow.codecs import ClassCodec, OneHotCodec, PaletteCodec
from symmflow.data.images import composite, load_rgb, open_image, resize_labels, to_tensor, to_uint8
from symmflow.io import atomic_directory, write_json_atomic
from symmflow.models.base import CheckpointError, SymmFlowModel
from symmflow.models.latent import LatentUNet
from symmflow.models.unet import PixelUNet
from symmflow.models.vae import LatentPreview, LatentSpace
from symmflow.palettes import get_palette
from symmflow.solver import SOLVER_METHODS, TIME_SPAN, ODESolver, SolverState
from symmflow.validation import check_steps

__all__ = [
    "ClassificationOutput",
    "FlowFrame",
    "GenerationOutput",
    "SegmentationOutput",
    "SymmFlowPipeline",
]

PIPELINE_CONFIG_NAME = "pipeline.json"
MODEL_CLASSES: dict[str, type[SymmFlowModel]] = {"PixelUNet": PixelUNet, "LatentUNet": LatentUNet}
Task = Literal["segmentation", "classification"]
LABEL_ENCODINGS = ("palette", "onehot")
OutputType = Literal["pil", "np", "pt"]


# -- outputs -----------------------------------------------------------------------------------


@dataclass
class FlowFrame:
    """One viewable state of a running flow.

    Attributes:
        step, steps: position on the time grid (0 = the initial state).
        t: time of the state (generation runs 0 -> 1, segmentation 1 -> 0).
        images: one RGB ``uint8`` array ``[H, W, 3]`` per batch item: the image half while
            generating, the colour-mask half while segmenting (previews at model resolution
            until the final frame).
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
    """``images``: a list of PIL images, a ``uint8`` array ``[B, H, W, C]`` or a tensor ``[B, C, H, W]``
    in ``[-1, 1]``, by ``output_type``. ``labels``: what each image was generated from."""

    images: Any
    nfe: int
    labels: list[Any] = field(default_factory=list)


@dataclass
class SegmentationOutput:
    """Per input image, at the input's size: ``class_maps`` (``int64`` ``[H, W]``) and
    ``color_masks`` (palette colours, PIL or ``uint8`` ``[H, W, 3]``). ``image_noise`` is the
    image half at ``t = 0``, the noise that regenerates this image (``[B, C, h, w]``)."""

    class_maps: list[np.ndarray]
    color_masks: list[Any]
    image_noise: torch.Tensor
    nfe: int


@dataclass
class ClassificationOutput:
    """``labels`` ``[B]`` class ids, ``scores`` ``[B, K]`` (rows sum to 1), and their names."""

    labels: np.ndarray
    scores: np.ndarray
    class_names: list[str]
    nfe: int


# -- the pipeline ------------------------------------------------------------------------------


class SymmFlowPipeline:
    """Inference with one SymmFlow network, in both directions.

    Args:
        model: a :class:`PixelUNet` (pixel space) or :class:`LatentUNet` (with ``vae``).
        task: ``"segmentation"`` (labels are colour masks of ``palette``) or
            ``"classification"`` (labels are class ids, one constant channel).
        image_size: square pixel resolution the model works at.
        image_channels: 3 (RGB) or 1 (grayscale, e.g. digits).
        palette: palette name for segmentation (``"celebamask_hq"``, ``"coco_stuff"``).
        label_encoding: how segmentation masks enter the label half: ``"palette"``, the
            paper's colour mask (3 channels; the only choice for latent models), or
            ``"onehot"``, one ``+-1`` channel per class (pixel models; see
            :class:`~symmflow.codecs.OneHotCodec`).
        beta: dequantization strength (grey levels for masks; level spread for classes).
        num_classes, class_names: for classification.
        vae: the :class:`LatentSpace` of a latent model.
        default_steps: default ODE steps per call (``generate``, ``segment``, ``classify``).
        description: what the model was trained on (shown by the app).
    """

    def __init__(
        self,
        model: SymmFlowModel,
        task: Task,
        image_size: int,
        image_channels: int = 3,
        palette: str | None = None,
        beta: float = 10.0,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        vae: LatentSpace | None = None,
        default_steps: dict[str, int] | None = None,
        description: str = "",
        label_encoding: str = "palette",
    ) -> None:
        if task not in ("segmentation", "classification"):
            raise ValueError(f"unknown task {task!r}; choose 'segmentation' or 'classification'")
        if image_channels not in (1, 3):
            raise ValueError(f"image_channels must be 1 or 3, got {image_channels}")
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {image_size}")
        if label_encoding not in LABEL_ENCODINGS:
            raise ValueError(f"unknown label_encoding {label_encoding!r}; choose one of {', '.join(LABEL_ENCODINGS)}")
        if label_encoding != "palette" and task != "segmentation":
            raise ValueError(f"label_encoding {label_encoding!r} is for segmentation; classifiers encode class levels")
        if label_encoding != "palette" and vae is not None:
            raise ValueError(f"label_encoding {label_encoding!r} is for pixel-space models: a VAE encodes colour masks only")
        self.model = model.eval().requires_grad_(False)
        self.task = task
        self.image_size = int(image_size)
        self.image_channels = int(image_channels)
        self.vae = vae
        self.beta = float(beta)
        self.label_encoding = label_encoding if task == "segmentation" else None
        self.default_steps = {"generate": 25, "segment": 5, "classify": 1, **(default_steps or {})}
        self.description = description
        if task == "segmentation":
            self.palette = get_palette(palette or "celebamask_hq")
            codec_cls = OneHotCodec if label_encoding == "onehot" else PaletteCodec
            self.codec: PaletteCodec | OneHotCodec | ClassCodec = codec_cls(self.palette, beta=beta)
            self.class_names = list(self.palette.class_names)
        else:
            if not num_classes or num_classes < 2:
                raise ValueError(f"classification needs num_classes >= 2, got {num_classes}")
            self.palette = None
            self.codec = ClassCodec(num_classes, beta=beta, shape=(1, image_size, image_size))
            self.class_names = list(class_names or [str(k) for k in range(num_classes)])
            if len(self.class_names) != num_classes:
                raise ValueError(f"{len(self.class_names)} class names for {num_classes} classes")
        self._check_model()

    # -- construction and persistence ------------------------------------------------------

    def _check_model(self) -> None:
        """Refuse a network whose channels do not fit the task (a wrong checkpoint)."""
        label_channels = self.label_channels
        if isinstance(self.model, LatentUNet):
            if self.vae is None:
                raise CheckpointError("a LatentUNet needs a VAE (the pipeline folder has no vae/)")
            if self.vae.latent_channels != self.model.latent_channels:
                raise CheckpointError(
                    f"VAE latents have {self.vae.latent_channels} channels, the network expects "
                    f"{self.model.latent_channels}"
                )
            if self.task != "segmentation" or self.image_channels != 3:
                raise CheckpointError("latent models are for RGB images with colour-mask labels (segmentation)")
        elif isinstance(self.model, PixelUNet):
            cfg = self.model.config
            if (cfg.image_channels, cfg.label_channels) != (self.image_channels, label_channels):
                encoding = f" with label_encoding {self.label_encoding!r}" if self.task == "segmentation" else ""
                raise CheckpointError(
                    f"the network has {cfg.image_channels} image + {cfg.label_channels} label channels, "
                    f"but a {self.task} pipeline{encoding} on {self.image_channels}-channel images needs "
                    f"{self.image_channels} + {label_channels}"
                )
        else:
            raise CheckpointError(f"unsupported network {type(self.model).__name__}; expected PixelUNet or LatentUNet")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def num_classes(self) -> int:
        return self.codec.num_classes

    @property
    def label_channels(self) -> int:
        """Channels of the label half in pixel space (before any VAE): 3 for colour masks,
        ``K`` for one-hot masks, 1 for class levels."""
        return self.codec.channels if self.task == "segmentation" else 1

    @property
    def is_latent(self) -> bool:
        return self.vae is not None

    def to(self, device: str | torch.device) -> SymmFlowPipeline:
        self.model.to(device)
        if self.vae is not None:
            self.vae.vae.to(device)
        return self

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "_class_name": type(self).__name__,
            "format_version": 1,
            "task": self.task,
            "model_class": type(self.model).__name__,
            "image_size": self.image_size,
            "image_channels": self.image_channels,
            "beta": self.beta,
            "default_steps": self.default_steps,
            "description": self.description,
        }
        if self.task == "segmentation":
            cfg["palette"] = self.palette.name
            cfg["label_encoding"] = self.label_encoding
        else:
            cfg["num_classes"] = self.num_classes
            cfg["class_names"] = self.class_names
        if self.vae is not None:
            cfg["vae_scaling_factor"] = self.vae.scaling_factor
            cfg["preview"] = self.vae.preview_map.to_dict()
        return cfg

    def save_pretrained(
        self,
        directory: str | os.PathLike,
        training_info: dict[str, Any] | None = None,
        weights_dtype: torch.dtype | None = None,
    ) -> None:
        """Write the pipeline folder atomically (assembled beside ``directory``, then renamed).

        ``weights_dtype=torch.float16`` stores the network's weights at half the size (what a
        Space or a repository ships); :meth:`from_pretrained` loads them back as float32
        unless told otherwise. The pipeline itself is left as it is.
        """
        model = self.model
        if weights_dtype is not None:
            # plain nn.Module.to: diffusers' override warns about float32-only modules, and
            # our networks have none
            model = torch.nn.Module.to(copy.deepcopy(model), weights_dtype)
        with atomic_directory(directory) as tmp:
            model.save_pretrained(tmp / "model", training_info=training_info)
            if self.vae is not None:
                self.vae.vae.save_pretrained(tmp / "vae")
            write_json_atomic(tmp / PIPELINE_CONFIG_NAME, self.config())

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | os.PathLike,
        revision: str | None = None,
        device: str | torch.device | None = None,
        torch_dtype: torch.dtype | None = None,
    ) -> SymmFlowPipeline:
        """Load a pipeline folder, or download one from the Hugging Face hub.

        Hub downloads go through ``huggingface_hub`` and its cache; ``HF_HUB_OFFLINE=1`` makes
        them use the cache only.

        Raises:
            CheckpointError: missing or unreadable folder/repo, corrupt files, an unknown
                network, or a network that does not fit the declared task.
        """
        folder = _resolve_folder(path_or_repo_id, revision)
        config_path = folder / PIPELINE_CONFIG_NAME
        if not config_path.is_file():
            raise CheckpointError(
                f"{str(path_or_repo_id)!r} is not a SymmFlow pipeline: it has no {PIPELINE_CONFIG_NAME} "
                "(expected pipeline.json, model/ and, for latent models, vae/)"
            )
        try:
            cfg = json.loads(config_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CheckpointError(f"unreadable {config_path}: {err}") from err
        model_cls = MODEL_CLASSES.get(cfg.get("model_class", ""))
        if model_cls is None:
            raise CheckpointError(
                f"{config_path} names network {cfg.get('model_class')!r}; known: {', '.join(MODEL_CLASSES)}"
            )
        kwargs = {"torch_dtype": torch_dtype} if torch_dtype is not None else {}
        model = model_cls.from_pretrained(folder / "model", **kwargs)
        vae = None
        if (folder / "vae").is_dir():
            from diffusers import AutoencoderKL

            try:
                autoencoder = AutoencoderKL.from_pretrained(folder / "vae", **kwargs)
            except (OSError, ValueError, RuntimeError) as err:
                raise CheckpointError(f"could not load the VAE from {folder / 'vae'}: {err}") from err
            try:
                preview = LatentPreview.from_dict(cfg["preview"]) if "preview" in cfg else None
            except (KeyError, TypeError, ValueError) as err:
                raise CheckpointError(f"{config_path}: malformed 'preview' entry ({err})") from err
            vae = LatentSpace(autoencoder, cfg.get("vae_scaling_factor"), preview)
        try:
            pipe = cls(
                model,
                task=cfg["task"],
                image_size=cfg["image_size"],
                image_channels=cfg.get("image_channels", 3),
                palette=cfg.get("palette"),
                beta=cfg.get("beta", 10.0),
                num_classes=cfg.get("num_classes"),
                class_names=cfg.get("class_names"),
                vae=vae,
                default_steps=cfg.get("default_steps"),
                description=cfg.get("description", ""),
                label_encoding=cfg.get("label_encoding", "palette"),
            )
        except KeyError as err:
            raise CheckpointError(f"{config_path} lacks the key {err}") from err
        except ValueError as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"{config_path}: {err}") from err
        return pipe.to(device) if device is not None else pipe

    # -- inputs ----------------------------------------------------------------------------

    def preprocess_images(self, images: Any) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Images of any kind -> ``[B, C, S, S]`` in ``[-1, 1]`` on the model's device, plus
        each input's ``(H, W)``: the model's view of its inputs (used by every method)."""
        items = _as_items(images, "images")
        batch, sizes = [], []
        for i, item in enumerate(items):
            if isinstance(item, torch.Tensor) and item.is_floating_point():
                img = _float_image_tensor(item, i)
            else:
                try:
                    rgb = load_rgb(item)
                except ValueError as err:
                    raise ValueError(f"images[{i}]: {err}") from err
                img = to_tensor(rgb)
            sizes.append((img.shape[1], img.shape[2]))
            if img.shape[0] == 3 and self.image_channels == 1:
                img = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
            elif img.shape[0] == 1 and self.image_channels == 3:
                img = img.expand(3, -1, -1)
            batch.append(_resize(img, self.image_size))
        return torch.stack(batch).to(self.device), sizes

    def _class_maps(self, masks: Any) -> torch.Tensor:
        """Masks of any kind -> class ids ``[B, S, S]`` (int64) at model resolution."""
        items = _as_items(masks, "masks")
        maps = []
        for i, item in enumerate(items):
            try:
                ids = self._class_map(item)
            except ValueError as err:
                raise ValueError(f"masks[{i}]: {err}") from err
            maps.append(torch.from_numpy(resize_labels(ids.numpy(), self.image_size, mode="majority")))
        return torch.stack(maps)

    def _class_map(self, item: Any) -> torch.Tensor:
        if isinstance(item, (str, os.PathLike)) or hasattr(item, "read"):
            item = open_image(item)  # a class-id PNG must be read as ids, not as a picture
        if isinstance(item, torch.Tensor) and not item.is_floating_point():
            ids = item.long()
        elif isinstance(item, np.ndarray) and item.ndim == 2 and np.issubdtype(item.dtype, np.integer):
            ids = torch.from_numpy(item.astype(np.int64))
        elif isinstance(item, Image.Image) and item.mode == "P" and _palette_matches(item, self.palette.colors):
            ids = torch.from_numpy(np.asarray(item).astype(np.int64))  # a colour mask saved with our palette
        elif isinstance(item, Image.Image) and item.mode in ("L", "I", "I;16"):
            ids = torch.from_numpy(np.asarray(item).astype(np.int64))
            if ids.numel() and ids.max() >= self.num_classes:  # not class ids: a grey picture of a mask
                ids = torch.from_numpy(self.codec.rgb_to_ids(load_rgb(item)))
        else:
            ids = torch.from_numpy(self.codec.rgb_to_ids(_mask_rgb(item)))
        if ids.dim() != 2:
            raise ValueError(f"a class map must be 2-D [H, W], got shape {list(ids.shape)}")
        if ids.numel() == 0:
            raise ValueError("the mask is empty (0 pixels)")
        if ids.min() < 0 or ids.max() >= self.num_classes:
            raise ValueError(
                f"class ids must lie in [0, {self.num_classes - 1}] for palette {self.palette.name!r}, "
                f"got values in [{ids.min().item()}, {ids.max().item()}]"
            )
        return ids

    def _class_ids(self, labels: Any) -> torch.Tensor:
        if isinstance(labels, str):
            labels = [labels]
        values = labels.tolist() if isinstance(labels, (torch.Tensor, np.ndarray)) else labels
        values = [values] if not isinstance(values, (list, tuple)) else list(values)
        ids = []
        for v in values:
            if isinstance(v, str):
                if v not in self.class_names:
                    raise ValueError(f"unknown class {v!r}; known classes: {', '.join(self.class_names)}")
                ids.append(self.class_names.index(v))
            elif isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < self.num_classes:
                ids.append(int(v))
            else:
                raise ValueError(f"class labels must be ids in [0, {self.num_classes - 1}] or class names, got {v!r}")
        if not ids:
            raise ValueError("no class labels given")
        return torch.tensor(ids)

    def _encode_labels(self, labels: Any, generator: torch.Generator) -> tuple[torch.Tensor, list[Any]]:
        """Labels -> the dequantized label half at ``t = 0`` (pixel or latent) and the raw labels."""
        if self.task == "classification":
            ids = self._class_ids(labels)
            return self.codec.encode(ids, dequantize=True, generator=generator).to(self.device), ids.tolist()
        maps = self._class_maps(labels)
        mask = self.codec.encode(maps, dequantize=True, generator=generator).to(self.device)
        if self.vae is not None:
            mask = self.vae.encode_mask(mask)
        return mask, list(maps.numpy())

    def _noise(self, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        # drawn on the CPU so a seed gives the same result on every device
        return torch.randn(tuple(shape), generator=generator).to(self.device)

    # -- views ---------------------------------------------------------------------------------

    def _view(self, half: torch.Tensor, final: bool) -> torch.Tensor:
        """Either half of the state -> RGB-able ``[B, C, H, W]`` in ``[-1, 1]``: pixels as they
        are; latents through the cheap linear preview, or a full VAE decode when final."""
        if self.vae is None:
            return half.clamp(-1, 1)
        return self.vae.decode(half) if final else self.vae.preview(half)

    def _decode_at(self, mask: torch.Tensor, h: int, w: int) -> np.ndarray:
        """One label half ``[C, s, s]`` -> class ids ``[h, w]``: smooth values are upsampled
        first, then snapped to classes (cleaner borders than upsampling class ids). Colours are
        clamped to ``[-1, 1]`` first; one-hot scores are not (clamping would tie classes)."""
        if isinstance(self.codec, PaletteCodec):
            up = F.interpolate(mask[None].float().clamp(-1, 1), size=(h, w), mode="bilinear", align_corners=False)
            return self.codec.decode(up)[0].cpu().numpy()
        # one-hot: a running argmax over a few channels at a time, so K full-size score maps
        # (172 for COCO-Stuff) never exist at once for a large photo
        best = ids = None
        for start in range(0, mask.shape[0], 8):
            up = F.interpolate(mask[None, start : start + 8].float(), size=(h, w), mode="bilinear", align_corners=False)[0]
            value, index = up.max(dim=0)
            if best is None:
                best, ids = value, index
            else:
                better = value > best
                best, ids = torch.where(better, value, best), torch.where(better, index + start, ids)
        return ids.cpu().numpy()

    def _mask_view(self, half: torch.Tensor) -> torch.Tensor:
        """The label half mid-segmentation as a colour mask ``[B, 3, H, W]`` in ``[-1, 1]``."""
        if self.vae is not None:
            return self.vae.preview(half)
        return self.codec.to_colour_mask(half).clamp(-1, 1)

    # -- generation ------------------------------------------------------------------------------

    def generate_stream(
        self,
        labels: Any,
        steps: int | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        solver: str = "euler",
        num_images_per_label: int = 1,
        output_type: OutputType = "pil",
        noise: torch.Tensor | None = None,
        previews: bool = True,
    ) -> Iterator[FlowFrame]:
        """Like :meth:`generate`, yielding a :class:`FlowFrame` of the image half per step.

        With ``previews=False`` intermediate frames carry no images (``images == []``): the
        cheapest way to run the flow when nobody watches.
        """
        steps = check_steps(self.default_steps["generate"] if steps is None else steps)
        _check_solver(solver)
        _check_output_type(output_type)
        if not isinstance(num_images_per_label, int) or num_images_per_label < 1:
            raise ValueError(f"num_images_per_label must be an integer >= 1, got {num_images_per_label!r}")
        if isinstance(generator, (list, tuple)):
            y0, raw, x0 = self._start_per_item(labels, generator, num_images_per_label)
        else:
            generator = _generator(seed, generator)
            y0, raw = self._encode_labels(labels, generator)
            y0 = y0.repeat_interleave(num_images_per_label, dim=0)
            raw = [r for r in raw for _ in range(num_images_per_label)]
            x0 = None if noise is not None else self._noise((len(y0), self._image_half_channels(), *y0.shape[-2:]), generator)
        shape = (len(y0), self._image_half_channels(), *y0.shape[-2:])
        if noise is not None:
            if tuple(noise.shape) != shape:
                raise ValueError(f"noise must have shape {list(shape)}, got {list(noise.shape)}")
            x0 = noise.to(self.device, torch.float32)
        states = ODESolver(self.model, solver).iterate(x0, y0, *TIME_SPAN["image"], steps)
        for state in states:
            final = state.is_final
            if not (final or previews):
                yield FlowFrame(state.step, steps, state.t, [], state.nfe)
                continue
            view = self._view(state.x, final)
            frame = FlowFrame(state.step, steps, state.t, _to_uint8_list(view), state.nfe)
            if final:
                frame.output = GenerationOutput(_format(view, output_type, frame.images), state.nfe, raw)
            yield frame

    def _start_per_item(
        self, labels: Any, generators: Sequence[torch.Generator], num_images_per_label: int
    ) -> tuple[torch.Tensor, list[Any], torch.Tensor]:
        """``(y0, raw labels, x0)`` with label noise and image noise of item ``i`` drawn from
        ``generators[i]``: an image then depends on its own seed only, not on its batch."""
        if num_images_per_label != 1:
            raise ValueError(f"with a list of generators, num_images_per_label must be 1, got {num_images_per_label}")
        if not isinstance(labels, (list, tuple)):
            raise ValueError(f"a list of generators needs a list of labels, one per generator, got a {type(labels).__name__}")
        items = list(labels)
        if not items or len(items) != len(generators):
            raise ValueError(f"a list of generators needs one generator per label: got {len(generators)} for {len(items)} labels")
        ys, raw, xs = [], [], []
        for item, g in zip(items, generators):
            y, r = self._encode_labels([item], _generator(None, g))
            ys.append(y)
            raw += r
            xs.append(self._noise((1, self._image_half_channels(), *y.shape[-2:]), g))
        return torch.cat(ys), raw, torch.cat(xs)

    def generate(self, labels: Any, steps: int | None = None, callback: Callable[[FlowFrame], None] | None = None, **kwargs: Any) -> GenerationOutput:
        """Labels -> new images, integrating ``t = 0 -> 1`` from ``[noise, dequantized label]``.

        Args:
            labels: segmentation: a mask or a list/batch of masks, each a colour mask (PIL or
                ``uint8 [H, W, 3]``, palette colours; antialiased edges are fine) or a class-id
                map (``int [H, W]`` array/tensor, ``L``/``P`` PIL image). Classification: a class
                id or name, or a list of them.
            steps: Euler/Heun steps (default 25).
            seed / generator: the noise; equal seeds give equal images. ``generator`` may be a
                list with one CPU generator per label: each image then depends on its own
                generator only, whatever batch it is drawn in.
            solver: ``"euler"`` or ``"heun"``.
            num_images_per_label: several samples (different noise) per label.
            output_type: ``"pil"``, ``"np"`` (``uint8 [B, H, W, C]``) or ``"pt"`` (``[B, C, H, W]`` in ``[-1, 1]``).
            noise: the image half at ``t = 0`` (e.g. :attr:`SegmentationOutput.image_noise`).
            callback: called with every :class:`FlowFrame`.
        """
        stream = self.generate_stream(labels, steps, previews=callback is not None, **kwargs)
        return _consume(stream, callback)

    def _image_half_channels(self) -> int:
        return self.vae.latent_channels if self.vae is not None else self.image_channels

    # -- segmentation and classification ---------------------------------------------------

    def _reverse_states(self, images: Any, steps: int, solver: str, generator: torch.Generator) -> tuple[Iterator[SolverState], list[tuple[int, int]]]:
        x, sizes = self.preprocess_images(images)
        if self.vae is not None:
            x = self.vae.encode_image(x, generator=generator)
        label_channels = self.vae.latent_channels if self.vae is not None else self.label_channels
        noise_y = self._noise((len(x), label_channels, *x.shape[-2:]), generator)
        return ODESolver(self.model, solver).iterate(x, noise_y, *TIME_SPAN["label"], steps), sizes

    def segment_stream(
        self,
        images: Any,
        steps: int | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        solver: str = "euler",
        output_type: OutputType = "pil",
        previews: bool = True,
    ) -> Iterator[FlowFrame]:
        """Like :meth:`segment`, yielding a :class:`FlowFrame` of the colour-mask half per step
        (``previews=False``: intermediate frames without images)."""
        if self.task != "segmentation":
            raise ValueError("segment() needs a segmentation pipeline; this one classifies (use classify())")
        steps = check_steps(self.default_steps["segment"] if steps is None else steps)
        _check_solver(solver)
        _check_output_type(output_type)
        states, sizes = self._reverse_states(images, steps, solver, _generator(seed, generator))
        for state in states:
            if not state.is_final:
                images = _to_uint8_list(self._mask_view(state.y)) if previews else []
                yield FlowFrame(state.step, steps, state.t, images, state.nfe)
                continue
            mask = state.y if self.vae is None else self._view(state.y, True)
            class_maps = [self._decode_at(m, h, w) for m, (h, w) in zip(mask, sizes)]
            colours = [self.palette.colorize(c) for c in class_maps]
            frame = FlowFrame(state.step, steps, state.t, colours, state.nfe)
            as_output = [Image.fromarray(c) for c in colours] if output_type == "pil" else colours
            if output_type == "pt":
                as_output = [torch.from_numpy(c).permute(2, 0, 1).float() / 127.5 - 1 for c in colours]
            frame.output = SegmentationOutput(class_maps, as_output, state.x.detach().cpu(), state.nfe)
            yield frame

    def segment(self, images: Any, steps: int | None = None, callback: Callable[[FlowFrame], None] | None = None, **kwargs: Any) -> SegmentationOutput:
        """Images -> class-id maps and colour masks at each input's size (``t = 1 -> 0``).

        Args:
            images: one image or a list/batch: PIL (any mode), ``uint8``/float arrays
                ``[H, W]`` / ``[H, W, C]``, or float tensors ``[C, H, W]`` / ``[B, C, H, W]`` in ``[-1, 1]``.
            steps: default 5 (the paper: segmentation is near its best from 2 steps).
            seed / generator, solver, output_type: as in :meth:`generate`.
        """
        return _consume(self.segment_stream(images, steps, previews=callback is not None, **kwargs), callback)

    def classify(
        self,
        images: Any,
        steps: int | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        solver: str = "euler",
    ) -> ClassificationOutput:
        """Images -> class ids and per-class scores, by the reverse flow (best with 1 step)."""
        if self.task != "classification":
            raise ValueError("classify() needs a classification pipeline; this one segments (use segment())")
        steps = check_steps(self.default_steps["classify"] if steps is None else steps)
        _check_solver(solver)
        states, _ = self._reverse_states(images, steps, solver, _generator(seed, generator))
        *_, last = states
        return ClassificationOutput(
            labels=self.codec.decode(last.y).cpu().numpy(),
            scores=self.codec.scores(last.y).cpu().numpy(),
            class_names=self.class_names,
            nfe=last.nfe,
        )


# -- helpers -----------------------------------------------------------------------------------


def _resolve_folder(path_or_repo_id: str | os.PathLike, revision: str | None) -> Path:
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    name = str(path_or_repo_id)
    if path.exists() or name.startswith((".", "/")) or name.count("/") != 1:
        raise CheckpointError(f"no pipeline folder at {name!r} (and it is not a hub repo id like 'user/name')")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id=name, revision=revision))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as err:
        raise CheckpointError(
            f"could not get pipeline {name!r} from the Hugging Face hub ({type(err).__name__}: {err}); "
            "check the repo id, your network, or HF_HUB_OFFLINE and the cache"
        ) from err


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        if generator.device.type != "cpu":
            raise ValueError(
                f"pass a CPU torch.Generator (got one on {generator.device}): noise is drawn on the CPU "
                "so that a seed gives the same result on every device"
            )
        return generator
    if seed is None:
        return torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def _check_solver(solver: str) -> None:
    if solver not in SOLVER_METHODS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVER_METHODS)}")


def _check_output_type(output_type: str) -> None:
    if output_type not in ("pil", "np", "pt"):
        raise ValueError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")


def _as_items(inputs: Any, what: str) -> list[Any]:
    """One input or a batch -> a list of single items."""
    if isinstance(inputs, (list, tuple)):
        items = list(inputs)
    elif isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        items = list(inputs)
    elif isinstance(inputs, torch.Tensor) and inputs.dim() == 3 and not inputs.is_floating_point() and what == "masks":
        items = list(inputs)
    elif isinstance(inputs, np.ndarray) and inputs.ndim == 4:
        items = list(inputs)
    elif isinstance(inputs, np.ndarray) and inputs.ndim == 3 and what == "masks" and np.issubdtype(inputs.dtype, np.integer) and inputs.shape[2] not in (3, 4):
        items = list(inputs)  # a batch of class-id maps [B, H, W]
    else:
        items = [inputs]
    if not items:
        raise ValueError(f"no {what} given")
    return items


def _float_image_tensor(item: torch.Tensor, index: int) -> torch.Tensor:
    if item.dim() == 2:
        item = item[None]
    if item.dim() != 3 or item.shape[0] not in (1, 3, 4) or min(item.shape[1:]) < 1:
        raise ValueError(f"images[{index}]: a tensor image must be [C, H, W] with C in 1, 3, 4, got {list(item.shape)}")
    if not torch.isfinite(item).all():
        raise ValueError(f"images[{index}] contains NaN or infinite values")
    if item.min() < -1.001 or item.max() > 1.001:
        raise ValueError(f"images[{index}]: tensor images must be in [-1, 1], got [{item.min():.3g}, {item.max():.3g}]")
    return item[:3].float().cpu()


def _resize(img: torch.Tensor, size: int) -> torch.Tensor:
    if img.shape[-2:] == (size, size):
        return img
    return F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].clamp(-1, 1)


def _mask_rgb(item: Any) -> np.ndarray:
    """A colour mask as RGB; transparent pixels become black, the background class (also in
    palette and grey images that mark a transparent colour, which a viewer shows as white)."""
    if isinstance(item, Image.Image) and (item.mode in ("RGBA", "LA", "PA") or "transparency" in item.info):
        return composite(np.asarray(item.convert("RGBA")), background=0)
    if isinstance(item, np.ndarray) and item.ndim == 3 and item.shape[2] == 4 and item.dtype == np.uint8:
        return composite(item, background=0)
    return load_rgb(item)


def _palette_matches(image: Image.Image, colors: np.ndarray) -> bool:
    pal = image.getpalette()
    if not pal:
        return False
    pal = np.array(pal[: 3 * len(colors)]).reshape(-1, 3)
    return len(pal) >= len(colors) and np.array_equal(pal[: len(colors)], colors)


def _to_uint8_list(view: torch.Tensor) -> list[np.ndarray]:
    """``[B, C, H, W]`` in ``[-1, 1]`` -> viewable RGB arrays (grey images repeated to 3 channels)."""
    return [to_uint8(v if v.shape[0] == 3 else v.expand(3, -1, -1)) for v in view.detach().float().cpu()]


def _format(view: torch.Tensor, output_type: OutputType, frames: list[np.ndarray]) -> Any:
    if output_type == "pt":
        return view.detach().float().cpu()
    if output_type == "np":
        return np.stack(frames)
    return [Image.fromarray(f) for f in frames]


def _consume(frames: Iterator[FlowFrame], callback: Callable[[FlowFrame], None] | None) -> Any:
    frame = None
    for frame in frames:
        if callback is not None:
            callback(frame)
    assert frame is not None and frame.output is not None
    return frame.output
