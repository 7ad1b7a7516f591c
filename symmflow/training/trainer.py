"""The trainer: accelerate (1 to N GPUs, or the CPU), EMA, one-cycle, exact resume.

Every random draw of step ``s`` (which samples, their shifts, ``t``, both noises, the VAE's
latent sample) comes from a generator seeded by ``(seed, s, process)``. With the model, EMA,
optimiser, schedule (and fp16 loss scale) restored from the last checkpoint, a run killed at
any point and resumed continues exactly as if it had never stopped; the log is cut back to
the checkpoint's step.

Output folder::

    state/        model, EMA, optimiser and schedule states + trainer.json (resume)
    pipeline/     the EMA weights as a pipeline folder (what you ship)
    samples/      preview grids, generated from fixed labels with the EMA weights
    log.jsonl     loss and learning rate every ``log_every`` steps
"""

from __future__ import annotations

import copy
import functools
import json
import math
import operator
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset

from symmflow.codecs import build_codec
from symmflow.data import open_dataset
from symmflow.data.augment import random_affine, random_shift
from symmflow.io import atomic_directory, write_json_atomic, write_text_atomic
from symmflow.models.latent import LatentUNet
from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet
from symmflow.models.vae import LatentSpace
from symmflow.path import SymmetricPath
from symmflow.pipeline_folder import check_network, load_pipeline_folder, save_pipeline_folder
from symmflow.training.balance import class_balance_weights, class_frequencies
from symmflow.training.config import DataConfig, ModelConfig, TrainConfig

T = TypeVar("T")

__all__ = ["Trainer", "build_dataset", "build_model", "init_weights"]


def build_dataset(config: DataConfig) -> Dataset:
    """The training set named by ``config.dataset`` (items: ``image`` + ``label`` or ``class_map``)."""
    return open_dataset(config.dataset, **config.kwargs)


def build_model(config: ModelConfig, sigma_min: float = 1e-4) -> tuple[torch.nn.Module, LatentSpace | None]:
    """The network (and, for latent models, the frozen VAE) described by ``config``; a pixel
    network's linear skip assumes the path width ``sigma_min`` (the pipeline config's)."""
    if config.cls == "PixelUNet":
        if config.preset is not None and config.preset not in PIXEL_UNET_PRESETS:
            raise ValueError(f"unknown preset {config.preset!r}; choose one of {', '.join(PIXEL_UNET_PRESETS)}")
        if "sigma_min" in config.kwargs:
            raise ValueError("model.kwargs.sigma_min: the path width is set once, as pipeline.sigma_min")
        kwargs = {**PIXEL_UNET_PRESETS.get(config.preset or "", {}), **config.kwargs, "sigma_min": sigma_min}
        return PixelUNet(**kwargs), None
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from symmflow.release import load_prompt_embedding

    if not config.vae:
        raise ValueError("a LatentUNet config needs model.vae (e.g. stabilityai/sd-vae-ft-mse)")
    embedding = load_prompt_embedding(config.prompt_embedding) if config.prompt_embedding else None
    if config.pretrained_unet:
        base = UNet2DConditionModel.from_pretrained(config.pretrained_unet, subfolder=config.unet_subfolder)
        model = LatentUNet.from_sd_unet(base, embedding)
    else:
        model = LatentUNet(**config.kwargs)
        if embedding is not None:
            model.set_prompt_embedding(embedding)
    return model, LatentSpace(AutoencoderKL.from_pretrained(config.vae))


def init_weights(model: torch.nn.Module, source: str) -> None:
    """Start from the weights of a saved pipeline (a folder or hub repo id) whose network has
    ``model``'s weight layout (settings that hold no weights, e.g. dropout, may differ): a new
    run that continues where a shipped model stopped. Other layouts are refused; converting
    a checkpoint to a new layout is ``scripts/migrate_checkpoint.py``'s job."""
    from symmflow.models.base import CheckpointError

    _, network, _ = load_pipeline_folder(source)
    trained, mine = network.state_dict(), model.state_dict()
    changed = sorted(k for k in trained.keys() | mine.keys() if k not in trained or k not in mine or trained[k].shape != mine[k].shape)
    if type(network) is not type(model) or changed:
        shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise CheckpointError(
            f"model.init_from {source!r} holds a network of another layout (differs in: {shown or 'the network class'}); "
            "scripts/migrate_checkpoint.py converts a checkpoint to a new layout"
        )
    model.load_state_dict(trained)


def _recover_replaced(folder: Path) -> None:
    """A kill between the two renames of an atomic folder swap leaves ``folder`` missing and its
    previous version at ``.{name}.old-*``: put it back (it is complete)."""
    olds = sorted(folder.parent.glob(f".{folder.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        olds[-1].rename(folder)


class EMA:
    """Exponential moving average of a model's weights (float32, on the model's device).

    The decay warms up as ``min(decay, (1 + step) / (10 + step))`` (diffusers' EMAModel
    default), so early checkpoints are not dominated by the random initial weights.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).float().eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        weight = 1.0 - self.decay_at(step)
        for ema_p, p in zip(self.model.state_dict().values(), model.state_dict().values()):
            if ema_p.is_floating_point():
                ema_p.lerp_(p.detach().float(), weight)
            else:
                ema_p.copy_(p)


class Trainer:
    """Train the model of a :class:`TrainConfig`; call :meth:`fit`.

    Args:
        config: the run.
        accelerator: an ``accelerate.Accelerator`` (made from the config if omitted).
    """

    def __init__(self, config: TrainConfig, accelerator: Any = None) -> None:
        from accelerate import Accelerator

        self.config = config
        t = config.train
        self.accelerator = accelerator or Accelerator(mixed_precision=t.mixed_precision, cpu=not torch.cuda.is_available())
        self.out = Path(config.output_dir)
        self.dataset = build_dataset(config.data)
        if len(self.dataset) == 0:
            raise ValueError(f"the {config.data.dataset} training set is empty")
        self._check_data()
        torch.manual_seed(t.seed)  # the initial weights
        model, self.vae = build_model(config.model, config.pipeline.sigma_min)
        self.path = SymmetricPath(sigma_min=config.pipeline.sigma_min)
        # The config of the pipeline this run ships decides the label codec, and the network
        # must fit it before any training: training and inference can never disagree on beta.
        check_network(config.pipeline, model, self.vae)
        self.codec = build_codec(config.pipeline)
        if config.model.init_from:
            init_weights(model, config.model.init_from)
        # augmentation fills uncovered label pixels with the ignored class where the palette has
        # one (COCO-Stuff: unlabeled), else with class 0 (background)
        palette = getattr(self.codec, "palette", None)
        self.label_fill = palette.ignore_index if palette is not None and palette.ignore_index is not None else 0
        self.class_weights = self.image_class_weights = None
        if t.class_balance or t.image_balance:
            frequencies = class_frequencies(self.dataset, self.codec.num_classes)
            if t.class_balance:
                self.class_weights = class_balance_weights(frequencies, t.class_balance)
            if t.image_balance:
                self.image_class_weights = class_balance_weights(frequencies, t.image_balance)
        model.train().requires_grad_(True)
        self.ema = EMA(model, t.ema_decay)
        optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=t.lr, total_steps=t.steps, pct_start=max(t.warmup, 1e-6), anneal_strategy="cos",
            div_factor=t.lr / 1e-6, final_div_factor=1.0, cycle_momentum=False,
        )
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.ema.model.to(self.accelerator.device)
        if self.vae is not None:
            self.vae.vae.to(self.accelerator.device)
        self.step = 0
        self.seconds = 0.0
        self.losses: list[float] = []

    # -- state -----------------------------------------------------------------------------

    def save_state(self) -> None:
        """Atomically write everything needed to resume, then the shippable EMA pipeline."""
        if not self.accelerator.is_main_process:
            return
        from safetensors.torch import save_file

        with atomic_directory(self.out / "state") as tmp:
            raw = self.accelerator.unwrap_model(self.model)
            save_file({k: v.contiguous() for k, v in raw.state_dict().items()}, tmp / "model.safetensors")
            save_file({k: v.contiguous() for k, v in self.ema.model.state_dict().items()}, tmp / "ema.safetensors")
            torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            if self.accelerator.scaler is not None:  # fp16: the loss scale is part of the state
                torch.save(self.accelerator.scaler.state_dict(), tmp / "scaler.pt")
            write_json_atomic(tmp / "trainer.json", {
                "step": self.step, "seconds": self.seconds, "losses": self.losses, "config": self.config.to_dict(),
            })
        save_pipeline_folder(self.out / "pipeline", self.config.pipeline, self.ema.model, self.vae, training_info=self.training_info())

    def load_state(self) -> bool:
        """Resume from ``output_dir/state`` if it exists; returns whether it did."""
        folder = self.out / "state"
        if not folder.exists():
            _recover_replaced(folder)
        if not (folder / "trainer.json").is_file():
            return False
        from safetensors.torch import load_file

        info = json.loads((folder / "trainer.json").read_text())
        saved_train = info["config"]["train"]
        if saved_train["steps"] != self.config.train.steps or saved_train["seed"] != self.config.train.seed:
            raise ValueError(
                f"{folder} was written by a run with steps={saved_train['steps']}, seed={saved_train['seed']}; "
                "resume with the same settings or choose another output_dir"
            )
        self.accelerator.unwrap_model(self.model).load_state_dict(load_file(folder / "model.safetensors"))
        self.ema.model.load_state_dict(load_file(folder / "ema.safetensors"))
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
        self.scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
        if self.accelerator.scaler is not None and (folder / "scaler.pt").is_file():
            self.accelerator.scaler.load_state_dict(torch.load(folder / "scaler.pt", weights_only=True))
        self.step, self.seconds, self.losses = info["step"], info["seconds"], info["losses"]
        self._truncate_log()
        return True

    def _truncate_log(self) -> None:
        """Drop log records written after the checkpoint we resume from (they will be redone)."""
        log = self.out / "log.jsonl"
        if self.accelerator.is_main_process and log.is_file():
            kept = [line for line in log.read_text().splitlines() if line and json.loads(line)["step"] <= self.step]
            write_text_atomic(log, "".join(line + "\n" for line in kept))

    def training_info(self) -> dict[str, Any]:
        return {
            "name": self.config.name,
            "steps_done": self.step,
            "train_seconds": round(self.seconds, 1),
            "processes": self.accelerator.num_processes,
            "device": str(self.accelerator.device),
            "final_loss": self.losses[-1] if self.losses else None,
            # the label loss's per-class weights (class_balance), recorded because the data they
            # were counted on can change later: scripts/calibrate_decoding.py reads them from here
            "class_weights": None if self.class_weights is None else [round(float(w), 6) for w in self.class_weights],
            "image_class_weights": None if self.image_class_weights is None else [round(float(w), 6) for w in self.image_class_weights],
            "config": self.config.to_dict(),
        }

    def _check_data(self) -> None:
        """Refuse broken data before step 1: every file of a dataset on disk is read once,
        each process reading its share (skipped when resuming a run on the same data config,
        which was checked when it started), and the items must come at the pipeline's
        ``image_size``. Every process raises the same error, so none waits for the others."""
        acc = self.accelerator
        if hasattr(self.dataset, "check_items") and not _on_main(acc, self._resumes_same_data):
            share = self.dataset.check_items(range(acc.process_index, len(self.dataset), acc.num_processes))
            if acc.num_processes > 1:
                from accelerate.utils import gather_object

                share = functools.reduce(operator.add, gather_object([share]))
            error = self.dataset.refusal(self.dataset.layout_problems(self.config.data.allow_unmatched), share)
            if error:
                raise ValueError(error)
        size = self.config.pipeline.image_size
        shape = tuple(self.dataset[0]["image"].shape[-2:])
        if shape != (size, size):
            raise ValueError(
                f"the {self.config.data.dataset} items are {shape[1]}x{shape[0]} but pipeline.image_size is {size}: "
                f"set the dataset's size (data.kwargs.size: {size}) or pipeline.image_size to match"
            )

    def _resumes_same_data(self) -> bool:
        """Whether ``output_dir`` holds a checkpoint of a run on this same data config."""
        saved = self.out / "state" / "trainer.json"
        if not saved.is_file():
            return False
        return json.loads(saved.read_text())["config"].get("data") == self.config.to_dict()["data"]

    # -- one step ----------------------------------------------------------------------------

    def _generator(self, micro: int) -> torch.Generator:
        rank = self.accelerator.process_index
        key = ((self.config.train.seed * 1_000_003 + self.step) * 1024 + rank) * 256 + micro
        return torch.Generator().manual_seed(key % (2**63))

    def _batch(self, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """One micro-batch: ``(x, y)`` in the model's space (pixels or latents), on device, and
        the label and image losses' per-pixel weights ``[B, 1, H, W]`` (``None`` without
        class balancing, ``train.class_balance`` / ``train.image_balance``)."""
        t = self.config.train
        idx = torch.randint(len(self.dataset), (t.batch_size,), generator=g).tolist()
        items = [self.dataset[i] for i in idx]
        images = torch.stack([it["image"] for it in items]).float()
        maps = torch.stack([it["class_map"] for it in items]).long() if self.config.task == "segmentation" else None
        augment = self.config.data.augment
        if augment.get("translate"):
            images, maps = random_shift(images, maps, int(augment["translate"]), g, fill=self.label_fill)
        if augment.get("affine"):
            images, maps = random_affine(images, maps, g, **augment["affine"], fill=self.label_fill)
        device = self.accelerator.device
        if self.config.task == "classification":
            labels = torch.stack([torch.as_tensor(it["label"]) for it in items])
            y = self.codec.encode(labels, dequantize=True, generator=g)
        else:
            y = self.codec.encode(maps, dequantize=True, generator=g)
        x, y = images.to(device), y.to(device)
        if self.vae is not None:
            x = self.vae.encode_image(x, generator=g)  # diffusers draws with the CPU generator, then moves
            y = self.vae.encode_mask(y)
        weights = [None if w is None else w[maps].unsqueeze(1).to(device) for w in (self.class_weights, self.image_class_weights)]
        return x, y, *weights

    def train_step(self) -> float:
        t = self.config.train
        total = 0.0
        for micro in range(t.grad_accum):
            g = self._generator(micro)
            x, y, label_weight, image_pixel_weight = self._batch(g)
            times = torch.rand(len(x), generator=g)
            if t.readout_fraction:
                # t = 1 is exactly what one-step classification sees; uniform t rarely visits it
                times[torch.rand(len(x), generator=g) < t.readout_fraction] = 1.0
            times = times.to(x.device)
            noise_x = torch.randn(x.shape, generator=g).to(x.device)
            noise_y = torch.randn(y.shape, generator=g).to(x.device)
            sample = self.path.sample(x, y, times, noise_x, noise_y)
            with self.accelerator.autocast():
                v_x, v_y = self.model(sample.x_t, sample.y_t, sample.t)
                loss = self.path.loss(v_x.float(), v_y.float(), sample, t.image_weight, label_weight, image_pixel_weight) / t.grad_accum
            if micro < t.grad_accum - 1:
                with self.accelerator.no_sync(self.model):
                    self.accelerator.backward(loss)
            else:
                self.accelerator.backward(loss)
            total += loss.item()
        if t.grad_clip:
            self.accelerator.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.ema.update(self.accelerator.unwrap_model(self.model), self.step)
        self.step += 1
        return total

    # -- the loop ----------------------------------------------------------------------------

    def fit(self, max_minutes: float | None = None, progress: bool = True, resume: bool = True) -> dict[str, Any]:
        """Train until ``train.steps`` (or ``max_minutes`` of wall time, then checkpoint and stop).

        Returns :meth:`training_info`.
        """
        from tqdm.auto import tqdm

        t = self.config.train
        if resume and self.load_state():
            self.accelerator.print(f"resumed {self.out} at step {self.step}/{t.steps}")
        elif self.accelerator.is_main_process:
            (self.out / "log.jsonl").unlink(missing_ok=True)  # a fresh run starts a fresh log
        self.model.train()
        bar = tqdm(total=t.steps, initial=self.step, desc=self.config.name, disable=not (progress and self.accelerator.is_main_process), mininterval=2.0)
        started = time.perf_counter()
        last = started
        window: list[float] = []
        while self.step < t.steps:
            window.append(self.train_step())
            now = time.perf_counter()
            self.seconds += now - last
            last = now
            bar.update(1)
            if self.step % t.log_every == 0 or self.step == t.steps:
                mean = float(np.mean(window))
                window.clear()
                self.losses.append(round(mean, 5))
                bar.set_postfix(loss=f"{mean:.4f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                self._log({"step": self.step, "loss": mean, "lr": self.scheduler.get_last_lr()[0], "seconds": round(self.seconds, 1)})
            if t.sample_every and self.step % t.sample_every == 0:
                self.save_samples()
            out_of_time = max_minutes is not None and now - started > 60 * max_minutes
            if self.accelerator.num_processes > 1:  # every rank must stop at the same step
                flag = torch.tensor(int(out_of_time), device=self.accelerator.device)
                out_of_time = bool(self.accelerator.reduce(flag, reduction="max").item())
            if self.step % t.checkpoint_every == 0 or self.step == t.steps or out_of_time:
                self.save_state()
            if out_of_time:
                break
        bar.close()
        if self.step == t.steps and t.sample_every and t.steps % t.sample_every:
            self.save_samples()  # the last step was not a sampling step
        return self.training_info()

    def _log(self, record: dict[str, Any]) -> None:
        if self.accelerator.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def save_samples(self, count: int = 8) -> Path | None:
        """A grid generated by the EMA weights from fixed labels (the first training items)."""
        if not self.accelerator.is_main_process:
            return None
        from PIL import Image

        from symmflow.animation import tile

        from symmflow.pipeline import SymmFlowPipeline  # inference, as diffusers' training scripts validate

        model = copy.deepcopy(self.ema.model)
        pipe = SymmFlowPipeline(model, self.config.pipeline, self.vae)
        if self.config.task == "classification":
            labels = [k % pipe.num_classes for k in range(count)]
        else:
            labels = [self.dataset[i]["class_map"] for i in range(min(count, len(self.dataset)))]
        images = pipe.generate(labels, steps=pipe.default_steps["generate"], seed=0, output_type="np").images
        row = list(images)
        if self.config.task == "segmentation":
            row = [pipe.palette.colorize(m.numpy()) for m in labels] + row
        path = self.out / "samples" / f"step_{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tile(row, columns=len(labels))).save(path)
        return path


def _on_main(accelerator: Any, decide: Callable[[], T]) -> T:
    """``decide()`` on the main process, its answer on every process (each deciding alone
    could disagree, e.g. when output folders are not shared, and then a collective hangs)."""
    answer = decide() if accelerator.is_main_process else None
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        answer = broadcast_object_list([answer])[0]
    return answer
