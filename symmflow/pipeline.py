"""The pipelines: inference with one SymmFlow network, in both directions.

A pipeline composes a velocity network (pixel or latent), an optional VAE, the label codec
and the input processor, all described by one :class:`~symmflow.pipeline_config.PipelineConfig`,
and runs the ODE loops:

* :class:`SegmentationPipeline`: ``generate`` (mask -> image, ``t = 0 -> 1``) and ``segment``
  (image -> class-id map + colour mask, ``t = 1 -> 0``);
* :class:`ClassificationPipeline`: ``generate`` (class -> image) and ``classify`` (image ->
  class id + per-class scores, ``t = 1 -> 0``, best in one step).

:meth:`SymmFlowPipeline.from_pretrained` returns the right one from ``pipeline.json``. Every
call is batched and deterministic for a seed; ``generate`` and ``segment`` have ``*_stream``
twins yielding a viewable :class:`~symmflow.outputs.FlowFrame` per ODE step (latent models
preview intermediate frames through a linear latent -> RGB map; only the final frame pays for a
VAE decode). Inputs are read by :class:`~symmflow.processing.ImageProcessor` (files, PIL, arrays,
tensors; size limits); folders are read and written by :mod:`symmflow.pipeline_folder`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from symmflow.alignment import MIN_CROP, PhotoSegmentation, segment_photo
from symmflow.codecs import OneHotCodec, PaletteCodec, build_codec
from symmflow.conditioning import HeldLabel, chain
from symmflow.mirroring import MirrorAveraged
from symmflow.models.base import CheckpointError, SymmFlowModel
from symmflow.models.vae import LatentSpace
from symmflow.outputs import (OUTPUT_TYPES, ClassificationOutput, FlowFrame, GenerationOutput, OutputType,
                              SegmentationOutput, format_images, frames_of)
from symmflow.palettes import get_palette
from symmflow.pipeline_config import PipelineConfig, check_min_region
from symmflow.pipeline_folder import check_network, load_pipeline_folder, save_pipeline_folder
from symmflow.processing import ImageProcessor, read_rgb
from symmflow.regions import fill_regions, remove_small_regions, small_regions
from symmflow.solver import SOLVER_METHODS, TIME_SPAN, Constraint, ODESolver, SolverState, VelocityModel
from symmflow.validation import check_flag, check_seed, check_steps

__all__ = ["ClassificationOutput", "ClassificationPipeline", "FlowFrame", "GenerationOutput",
           "SegmentationOutput", "SegmentationPipeline", "SymmFlowPipeline"]

class SymmFlowPipeline:
    """What both tasks share: loading, saving, the noise and the forward (generation) loop.

    ``SymmFlowPipeline(model, config, vae)`` builds the pipeline of ``config.task``
    (:class:`SegmentationPipeline` or :class:`ClassificationPipeline`).

    Args:
        model: a :class:`PixelUNet` (pixel space) or :class:`LatentUNet` (with ``vae``).
        config: the :class:`PipelineConfig` (task, size, palette or classes, beta, steps, ...).
        vae: the :class:`LatentSpace` of a latent model.
    """

    task = ""

    def __new__(cls, model: SymmFlowModel, config: PipelineConfig, vae: LatentSpace | None = None) -> SymmFlowPipeline:
        if cls is SymmFlowPipeline:
            if not isinstance(config, PipelineConfig):
                raise TypeError(f"config must be a PipelineConfig, got {type(config).__name__}")
            cls = SegmentationPipeline if config.task == "segmentation" else ClassificationPipeline
        return super().__new__(cls)

    def __init__(self, model: SymmFlowModel, config: PipelineConfig, vae: LatentSpace | None = None) -> None:
        if config.task != self.task:
            raise ValueError(f"a {type(self).__name__} needs a {self.task} config, got task {config.task!r}")
        self.config = copy.deepcopy(config)
        self.config.model_class = type(model).__name__
        if vae is not None:
            self.config.vae_scaling_factor, self.config.preview = vae.scaling_factor, vae.preview_map.to_dict()
        self.model = model.eval().requires_grad_(False)
        self.vae = vae
        self.codec = build_codec(self.config)
        self.processor = ImageProcessor(self.config)
        check_network(self.config, self.model, self.vae)

    # -- what the config says, by name ------------------------------------------------------

    image_size = property(lambda self: self.config.image_size)
    image_channels = property(lambda self: self.config.image_channels)
    beta = property(lambda self: self.config.beta)
    default_steps = property(lambda self: self.config.default_steps)
    description = property(lambda self: self.config.description)
    label_encoding = property(lambda self: self.config.label_encoding)
    label_channels = property(lambda self: self.config.label_channels)
    num_classes = property(lambda self: self.codec.num_classes)
    is_latent = property(lambda self: self.vae is not None)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> SymmFlowPipeline:
        self.model.to(device)
        if self.vae is not None:
            self.vae.vae.to(device)
        return self

    # -- persistence -----------------------------------------------------------------------

    def save_pretrained(self, directory: str | os.PathLike, training_info: dict[str, Any] | None = None, weights_dtype: torch.dtype | None = None) -> None:
        """Write the pipeline folder atomically; ``weights_dtype=torch.float16`` halves its size
        (loaded back as float32 unless told otherwise)."""
        save_pipeline_folder(directory, self.config, self.model, self.vae, training_info=training_info, weights_dtype=weights_dtype)

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: str | os.PathLike, revision: str | None = None,
        device: str | torch.device | None = None, torch_dtype: torch.dtype | None = None,
    ) -> SymmFlowPipeline:
        """Load a pipeline folder, or download one from the Hugging Face hub (``HF_HUB_OFFLINE=1``:
        the cache only). Old ``pipeline.json`` files load too.

        Raises:
            CheckpointError: missing or unreadable folder/repo, corrupt files, an unknown
                network, or a network that does not fit the config.
        """
        config, model, vae = load_pipeline_folder(path_or_repo_id, revision=revision, torch_dtype=torch_dtype)
        pipe = SymmFlowPipeline(model, config, vae)
        if cls is not SymmFlowPipeline and not isinstance(pipe, cls):
            raise CheckpointError(f"{str(path_or_repo_id)!r} holds a {config.task} model, not a {cls.task} model")
        return pipe.to(device) if device is not None else pipe

    # -- generation (t = 0 -> 1) -----------------------------------------------------------

    def _encode_labels(self, labels: Any, generator: torch.Generator) -> tuple[torch.Tensor, list[Any]]:
        """Labels -> the dequantized label half at ``t = 0`` (pixel or latent) and the raw labels."""
        raise NotImplementedError

    def generate_stream(
        self, labels: Any, *, steps: int | None = None, seed: int | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None, solver: str = "euler",
        num_images_per_label: int = 1, output_type: OutputType = "pil", noise: torch.Tensor | None = None,
        previews: bool = True, constraint: Constraint | None = None, hold_label: bool | None = None,
    ) -> Iterator[FlowFrame]:
        """Like :meth:`generate`, yielding a :class:`FlowFrame` of the image half per step (``previews=False``: no
        images on intermediate frames; ``constraint``: see :meth:`ODESolver.iterate` and :mod:`symmflow.editing`,
        applied together with the label hold)."""
        steps = check_steps(self.default_steps["generate"] if steps is None else steps)
        _check_options(solver, output_type)
        constraint = chain(constraint, self.held_label(hold_label))
        if isinstance(num_images_per_label, bool) or not isinstance(num_images_per_label, int) or num_images_per_label < 1:
            raise ValueError(f"num_images_per_label must be an integer >= 1, got {num_images_per_label!r}")
        if isinstance(generator, (list, tuple)):
            y0, raw, x0 = self._start_per_item(labels, generator, num_images_per_label)
        else:
            generator = _generator(seed, generator)
            y0, raw = self._encode_labels(labels, generator)
            y0 = y0.repeat_interleave(num_images_per_label, dim=0)
            raw = [r for r in raw for _ in range(num_images_per_label)]
            x0 = None if noise is not None else self.randn((len(y0), self._image_half_channels(), *y0.shape[-2:]), generator)
        shape = (len(y0), self._image_half_channels(), *y0.shape[-2:])
        if noise is not None:
            if tuple(noise.shape) != shape:
                raise ValueError(f"noise must have shape {list(shape)}, got {list(noise.shape)}")
            x0 = noise.to(self.device, torch.float32)
        for state in ODESolver(self.model, solver).iterate(x0, y0, *TIME_SPAN["image"], steps, constraint=constraint):
            if not (state.is_final or previews):
                yield FlowFrame(state.step, steps, state.t, [], state.nfe)
                continue
            view = self.decode_half(state.x, state.is_final)
            frame = FlowFrame(state.step, steps, state.t, frames_of(view), state.nfe)
            if state.is_final:
                frame.output = GenerationOutput(format_images(view, output_type, frame.images), state.nfe, raw)
            yield frame

    def generate(
        self, labels: Any, *, steps: int | None = None, seed: int | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None, solver: str = "euler",
        num_images_per_label: int = 1, output_type: OutputType = "pil", noise: torch.Tensor | None = None,
        callback: Callable[[FlowFrame], None] | None = None, hold_label: bool | None = None,
    ) -> GenerationOutput:
        """Labels -> new images, integrating ``t = 0 -> 1`` from ``[noise, dequantized label]``.

        Args:
            labels: segmentation: a mask or a list/batch of masks (see
                :meth:`~symmflow.processing.ImageProcessor.class_maps`: colour masks in the
                palette or class-id maps; masks in other colours and all-background masks are
                refused). Classification: a class id or name, or a list of them.
            steps: ODE steps (default: the config's ``default_steps["generate"]``).
            seed / generator: the noise; equal seeds give equal images. ``generator`` may be a
                list of CPU generators, one per label: each image then depends on its own only.
            solver: one of :data:`~symmflow.solver.SOLVER_METHODS`.
            num_images_per_label: samples (different noise) per label.
            output_type: ``"pil"``, ``"np"`` or ``"pt"`` (see :class:`GenerationOutput`).
            noise: the image half at ``t = 0`` ``[B, C, s, s]`` (e.g. :attr:`SegmentationOutput.image_noise`).
            callback: called with every :class:`FlowFrame`.
            hold_label: hold the label half noise-free at every step (:meth:`held_label`); the
                default does when the model's config sets ``label_fade``.
        """
        stream = self.generate_stream(
            labels, steps=steps, seed=seed, generator=generator, solver=solver, num_images_per_label=num_images_per_label,
            output_type=output_type, noise=noise, previews=callback is not None, hold_label=hold_label,
        )
        return _consume(stream, callback)

    def held_label(self, hold_label: bool | None = None) -> HeldLabel | None:
        """The constraint generation puts on the label half (:mod:`symmflow.conditioning`), or
        ``None`` for the authors' free joint flow. ``hold_label``: ``None`` holds it when the
        config sets ``label_fade`` (at that fade); ``True`` always (at the config's fade, else on
        the mean of the label's path, ``1 - sigma_min``); ``False`` never."""
        check_flag(hold_label, "hold_label", " (the model's default)")
        fade = self.config.label_fade
        if hold_label is False or (hold_label is None and fade is None):
            return None
        return HeldLabel(1.0 - self.config.sigma_min if fade is None else fade)

    def _start_per_item(self, labels: Any, generators: Sequence[torch.Generator], per_label: int) -> tuple[torch.Tensor, list[Any], torch.Tensor]:
        """``(y0, raw labels, x0)`` with item ``i``'s label and image noise drawn from ``generators[i]``."""
        if per_label != 1:
            raise ValueError(f"with a list of generators, num_images_per_label must be 1, got {per_label}")
        if not isinstance(labels, (list, tuple)):
            raise ValueError(f"a list of generators needs a list of labels, one per generator, got a {type(labels).__name__}")
        if not labels or len(labels) != len(generators):
            raise ValueError(f"a list of generators needs one generator per label: got {len(generators)} for {len(labels)} labels")
        ys, raw, xs = [], [], []
        for item, g in zip(labels, generators):
            y, r = self._encode_labels([item], _generator(None, g))
            ys.append(y)
            raw += r
            xs.append(self.randn((1, self._image_half_channels(), *y.shape[-2:]), g))
        return torch.cat(ys), raw, torch.cat(xs)

    # -- the reverse flow (t = 1 -> 0) -------------------------------------------------------

    def reverse_states(
        self, images: Any, steps: int, solver: str, generator: torch.Generator, velocity: VelocityModel | None = None,
        noise_seeds: Sequence[int] | None = None,
    ) -> tuple[Iterator[SolverState], list[tuple[int, int]]]:
        """The reverse flow (``t = 1 -> 0``: label noise -> label) of ``images``, as the
        solver's states, and each input's ``(h, w)``.

        ``generator`` draws the VAE's latent sample (latent models), then the label noise.
        ``noise_seeds``: instead, ``K`` draws of label noise in one batch of ``K x B``,
        sample-major (item ``k * B + b`` is image ``b`` with noise from a generator seeded
        ``noise_seeds[k]``: for a pixel model exactly the noise ``segment(seed=noise_seeds[k])``
        draws; a latent model encodes each image once, with ``generator``).
        ``velocity``: the field to integrate, default the network.
        """
        x, sizes = self.processor.preprocess(images)
        x = x.to(self.device)
        if self.vae is not None:
            x = self.vae.encode_image(x, generator=generator)
        label_channels = self.vae.latent_channels if self.vae is not None else self.label_channels
        shape = (len(x), label_channels, *x.shape[-2:])
        if noise_seeds is None:
            noise_y = self.randn(shape, generator)
        else:
            seeds = list(noise_seeds)
            if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s < 2**64 for s in seeds):
                raise ValueError(f"noise_seeds must be one or more whole numbers from 0 to 2**64 - 1, got {seeds!r:.120}")
            noise_y = torch.cat([self.randn(shape, torch.Generator().manual_seed(int(s))) for s in seeds])
            x = x.repeat(len(seeds), 1, 1, 1)
        velocity = self.model if velocity is None else velocity
        return ODESolver(velocity, solver).iterate(x, noise_y, *TIME_SPAN["label"], steps), sizes

    # -- helpers -------------------------------------------------------------------------------

    def _image_half_channels(self) -> int:
        return self.vae.latent_channels if self.vae is not None else self.image_channels

    def randn(self, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        """Standard normal noise of ``shape`` on the pipeline's device: the ``t = 0`` end of
        either flow, as every method of the pipeline draws it. Drawn on the CPU, so a seed gives
        the same noise on every device."""
        return torch.randn(tuple(shape), generator=generator).to(self.device)

    def decode_half(self, half: torch.Tensor, final: bool) -> torch.Tensor:
        """Either half of the flow's state -> RGB-able ``[B, C, H, W]`` in ``[-1, 1]``: pixels as
        they are; latents through the linear preview, or a full VAE decode when ``final``."""
        if self.vae is None:
            return half.clamp(-1, 1)
        return self.vae.decode(half) if final else self.vae.preview(half)


class SegmentationPipeline(SymmFlowPipeline):
    """Masks <-> images: ``generate`` (mask -> portrait) and ``segment`` (photo -> mask)."""

    task = "segmentation"
    palette = property(lambda self: get_palette(self.config.palette))
    class_names = property(lambda self: list(self.palette.class_names))
    crop_size = property(lambda self: max(self.image_size, MIN_CROP))  # side of the face crops of segment_photo

    def _encode_labels(self, labels: Any, generator: torch.Generator) -> tuple[torch.Tensor, list[Any]]:
        maps = self.processor.class_maps(labels)
        mask = self.codec.encode(maps, dequantize=True, generator=generator).to(self.device)
        if self.vae is not None:
            mask = self.vae.encode_mask(mask)
        return mask, list(maps.numpy())

    @property
    def can_mirror(self) -> bool:
        """Whether :meth:`label_velocity` can mirror-average: one-hot label channels in pixel space."""
        return isinstance(self.codec, OneHotCodec) and self.vae is None

    def label_velocity(self, mirror: bool | None = None) -> VelocityModel:
        """The velocity field :meth:`segment` integrates.

        Args:
            mirror: ``None``: the network's field averaged with its mirror image
                (:class:`~symmflow.mirroring.MirrorAveraged`: one doubled batch per step, so
                about twice the compute for the same ``nfe``) where :attr:`can_mirror`, else the
                network as it is; ``True``: the average, or ``ValueError`` where it cannot be
                taken; ``False``: the network as it is.
        """
        if check_flag(mirror, "mirror") is None:
            mirror = self.can_mirror
        if not mirror:
            return self.model
        if not self.can_mirror:
            where = "VAE latents" if self.vae is not None else "colour masks (label_encoding 'palette')"
            raise ValueError(
                f"mirror averaging needs one-hot label channels in pixel space; this pipeline's label half is {where}: "
                "use mirror=False or None"
            )
        return MirrorAveraged(self.model, self.palette.mirror_permutation())

    def segment_stream(
        self, images: Any, *, steps: int | None = None, seed: int | None = None, generator: torch.Generator | None = None,
        solver: str = "euler", output_type: OutputType = "pil", previews: bool = True, mirror: bool | None = None,
        min_region: int | None = None,
    ) -> Iterator[FlowFrame]:
        """Like :meth:`segment`, yielding a :class:`FlowFrame` of the colour-mask half per step.
        Options are checked when it is called, before the first frame is asked for."""
        steps = check_steps(self.default_steps["segment"] if steps is None else steps)
        _check_options(solver, output_type)
        velocity = self.label_velocity(mirror)
        min_region = self.resolve_min_region(min_region)
        return self._segment_frames(images, steps, solver, _generator(seed, generator), output_type, previews, velocity,
                                    min_region)

    def resolve_min_region(self, min_region: int | None) -> int:
        """``min_region`` as given (checked: a whole number >= 0) or, for ``None``, the config's."""
        return self.config.min_region if min_region is None else check_min_region(min_region)

    def _segment_frames(
        self, images: Any, steps: int, solver: str, generator: torch.Generator, output_type: OutputType, previews: bool,
        velocity: VelocityModel, min_region: int,
    ) -> Iterator[FlowFrame]:
        states, sizes = self.reverse_states(images, steps, solver, generator, velocity)
        for state in states:
            if not state.is_final:
                frames = frames_of(self._mask_view(state.y)) if previews else []
                yield FlowFrame(state.step, steps, state.t, frames, state.nfe)
                continue
            mask = state.y if self.vae is None else self.decode_half(state.y, True)
            class_maps = [self.decode_class_map(m, h, w, min_region) for m, (h, w) in zip(mask, sizes)]
            colours = [self.palette.colorize(c) for c in class_maps]
            frame = FlowFrame(state.step, steps, state.t, colours, state.nfe)
            as_output: list[Any] = colours
            if output_type == "pil":
                as_output = [Image.fromarray(c) for c in colours]
            elif output_type == "pt":
                as_output = [torch.from_numpy(c).permute(2, 0, 1).float() / 127.5 - 1 for c in colours]
            frame.output = SegmentationOutput(class_maps, as_output, state.x.detach().cpu(), state.nfe)
            yield frame

    def segment(
        self, images: Any, *, steps: int | None = None, seed: int | None = None, generator: torch.Generator | None = None,
        solver: str = "euler", output_type: OutputType = "pil", callback: Callable[[FlowFrame], None] | None = None,
        mirror: bool | None = None, min_region: int | None = None,
    ) -> SegmentationOutput:
        """Images -> class-id maps and colour masks at each input's size (``t = 1 -> 0``).

        Args:
            images: one image or a list/batch (see :meth:`~symmflow.processing.ImageProcessor.preprocess`).
            steps: default: the config's ``default_steps["segment"]``.
            seed / generator, solver, output_type, callback: as in :meth:`generate`.
            mirror: average the flow with its mirror image (:meth:`label_velocity`); the default
                does wherever the label half allows it.
            min_region: regions of one class smaller than this many pixels on the model's
                ``image_size`` grid go to the regions around them (:meth:`decode_class_map`);
                default: the config's ``min_region``; 0 keeps every region.
        """
        stream = self.segment_stream(images, steps=steps, seed=seed, generator=generator, solver=solver,
                                     output_type=output_type, previews=callback is not None, mirror=mirror,
                                     min_region=min_region)
        return _consume(stream, callback)

    def segment_photo(
        self, photo: Any, *, align: str = "auto", steps: int | None = None, seed: int | None = None,
        crop_size: int | None = None, mirror: bool | None = None, min_region: int | None = None,
    ) -> PhotoSegmentation:
        """A photo of any framing -> class-id map, through face crops aligned as the model's
        training faces were (CelebA-HQ's framing, :mod:`symmflow.alignment`), segmented in one
        batch and warped back onto the photo.

        Args:
            photo: one image, in any form :meth:`segment` takes (a file path, file object, PIL
                image or array; transparent pixels are composited on white).
            align: ``"auto"``: align every face found; with none, segment the whole photo as it
                is and say so in ``messages``. ``"align"``: raise
                :class:`~symmflow.alignment.NoFaceError` when no face can be aligned.
                ``"whole"``: never align.
            steps, seed, mirror, min_region: as in :meth:`segment`.
            crop_size: crop side, default :attr:`crop_size`, ``max(image_size, MIN_CROP)`` (:mod:`~symmflow.alignment`).

        Returns:
            :class:`~symmflow.alignment.PhotoSegmentation`: ``labels`` ``(H, W)`` int64 on the
            whole photo; the faces found (boxes, eyes, photo -> crop matrices); the crops and
            their class maps; ``messages`` for the user.
        """
        min_region = self.resolve_min_region(min_region)
        rgb = read_rgb(photo, self.processor.max_pixels)  # arrays as files: alpha on white, the size limit

        def segment_fn(crops: np.ndarray) -> np.ndarray:
            out = self.segment(list(crops), steps=steps, seed=seed, output_type="np", mirror=mirror, min_region=min_region)
            return np.stack(out.class_maps)

        return segment_photo(rgb, segment_fn, mode=align, size=self.crop_size if crop_size is None else crop_size)

    def decode_class_map(self, mask: torch.Tensor, h: int, w: int, min_region: int | None = None) -> np.ndarray:
        """One decoded label half ``[C, s, s]`` (pixels, as :meth:`decode_half` gives) -> class
        ids ``int64`` ``[h, w]``: values are upsampled, then snapped to classes. Colours are
        clamped to ``[-1, 1]`` first; one-hot scores are not.

        ``min_region`` (default: the config's): regions of one class smaller than this many
        pixels on the model's own ``s x s`` grid are found there
        (:func:`~symmflow.regions.small_regions`); at another output size the pixels of their
        class within their footprint (grown by one grid pixel, to hold what upsampling spread)
        are given to the regions around them at ``h x w`` (:func:`~symmflow.regions.fill_regions`),
        and so are the pixels of any class that holds no grid pixel at all (upsampling blends
        values: between two colours, or two classes' scores, a third class can win a sliver).
        Deciding on the grid keeps a region of exactly ``min_region`` grid pixels at every size.
        When every grid region is under ``min_region`` there is nothing to grow from, and the
        map is returned as it is, at every size.
        """
        ids = self._snap(mask, h, w)
        min_region = self.resolve_min_region(min_region)
        if not min_region:
            return ids
        if (h, w) == tuple(mask.shape[-2:]):
            return remove_small_regions(ids, min_region)
        grid = self._snap(mask, *mask.shape[-2:])
        small = small_regions(grid, min_region)
        if small.all():
            return ids
        holes = ~np.isin(ids, np.unique(grid[~small]))  # classes with no region kept on the grid
        if small.any():
            footprint = cv2.dilate(small.astype(np.uint8), np.ones((3, 3), np.uint8))
            footprint = cv2.resize(footprint, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
            holes |= footprint & np.isin(ids, np.unique(grid[small]))
        return fill_regions(ids, holes)

    def _snap(self, mask: torch.Tensor, h: int, w: int) -> np.ndarray:
        """Upsample, then snap to classes (no region removed)."""
        if isinstance(self.codec, PaletteCodec):
            up = F.interpolate(mask[None].float().clamp(-1, 1), size=(h, w), mode="bilinear", align_corners=False)
            return self.codec.decode(up)[0].cpu().numpy()
        # one-hot: a running argmax over 8 channels at a time (never K full-size maps at once)
        best = ids = None
        for start in range(0, mask.shape[0], 8):
            up = F.interpolate(mask[None, start : start + 8].float(), size=(h, w), mode="bilinear", align_corners=False)
            value, index = self.codec.class_scores(up, start)[0].max(dim=0)
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


class ClassificationPipeline(SymmFlowPipeline):
    """Classes <-> images: ``generate`` (class -> image) and ``classify`` (image -> class)."""

    task = "classification"
    palette = None
    class_names = property(lambda self: list(self.config.class_names))

    def _encode_labels(self, labels: Any, generator: torch.Generator) -> tuple[torch.Tensor, list[Any]]:
        ids = self.processor.class_ids(labels)
        return self.codec.encode(ids, dequantize=True, generator=generator).to(self.device), ids.tolist()

    def classify(
        self, images: Any, *, steps: int | None = None, seed: int | None = None,
        generator: torch.Generator | None = None, solver: str = "euler",
    ) -> ClassificationOutput:
        """Images -> class ids and per-class scores by the reverse flow (best with 1 step, the
        config's default). ``images``: as :meth:`SegmentationPipeline.segment`, or float tensors
        ``[B, C, S, S]`` in ``[-1, 1]``; drawn digits first go through
        :meth:`~symmflow.processing.ImageProcessor.preprocess_drawings`."""
        steps = check_steps(self.default_steps["classify"] if steps is None else steps)
        _check_options(solver, "np")
        states, _ = self.reverse_states(images, steps, solver, _generator(seed, generator))
        *_, last = states
        return ClassificationOutput(self.codec.decode(last.y).cpu().numpy(), self.codec.scores(last.y).cpu().numpy(), self.class_names, last.nfe)


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        if generator.device.type != "cpu":
            raise ValueError(f"pass a CPU torch.Generator (got one on {generator.device}): noise is drawn on the CPU so that a seed gives the same result on every device")
        return generator
    if seed is None:
        return torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
    return torch.Generator().manual_seed(check_seed(seed))


def _check_options(solver: str, output_type: str) -> None:
    if solver not in SOLVER_METHODS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVER_METHODS)}")
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")


def _consume(frames: Iterator[FlowFrame], callback: Callable[[FlowFrame], None] | None) -> Any:
    frame = None
    for frame in frames:
        if callback is not None:
            callback(frame)
    assert frame is not None and frame.output is not None
    return frame.output
