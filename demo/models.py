"""The models the app serves, loaded once per process and shared by every session.

Defaults are the small CPU models shipped in ``checkpoints/``; environment variables point
a tab at another checkpoint (a local folder or a Hugging Face hub repo id).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import torch

from symmflow.models import ResidualMLP
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_folder import default_checkpoint
from symmflow.processing import ImageProcessor

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent

SPIRAL_ENV = "SYMMFLOW_SPIRAL_CHECKPOINT"
DIGITS_ENV = "SYMMFLOW_DIGITS_CHECKPOINT"
FACES_ENV = "SYMMFLOW_FACES_CHECKPOINT"

# One lock for the face model: PyTorch's intra-op thread pool is shared by every flow, and a
# free Space has 2 cores, so one face flow at a time keeps each step fast when sessions overlap.
MODEL_LOCK = threading.Lock()
# The light models (digits, spiral: milliseconds a step) share another, so a digit or spiral
# request never waits for a portrait's step.
LIGHT_LOCK = threading.Lock()


def locked_steps(stream: Iterator[T], lock: threading.Lock = MODEL_LOCK) -> Iterator[T]:
    """Advance a flow one step at a time under ``lock``, yielding outside it, so a slow or
    vanished client never holds the model while its frame is being sent."""
    while True:
        with lock:
            item = next(stream, _DONE)
        if item is _DONE:
            return
        yield item


_DONE = object()


def on_zero_gpu() -> bool:
    """Whether the app runs on a Hugging Face ZeroGPU Space (which sets ``SPACES_ZERO_GPU``)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


if on_zero_gpu():
    import spaces  # noqa: F401  (ZeroGPU must be imported before anything touches CUDA)


def shown_name(checkpoint: str | os.PathLike) -> str:
    """How the page names a checkpoint, never by a server path: a hub repo id as it is, a
    folder of this checkout by its path in the repository (``checkpoints/faces``), any other
    folder by its name."""
    path = Path(checkpoint)
    if not path.exists() and not path.is_absolute():
        return str(checkpoint)  # a hub repo id (or a missing folder, named as the user gave it)
    resolved = path.resolve()
    return resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else resolved.name


def public_message(message: str, checkpoint: str | os.PathLike) -> str:
    """``message`` (e.g. a :class:`~symmflow.models.CheckpointError`'s) with the checkpoint's
    server path, and this checkout's, replaced by names fit for the page."""
    for path in {str(checkpoint), str(Path(checkpoint).resolve())}:
        if os.path.isabs(path):
            message = message.replace(path, shown_name(checkpoint))
    return message.replace(str(ROOT) + os.sep, "").replace(str(ROOT), ".")


def spiral_checkpoint() -> str:
    return os.environ.get(SPIRAL_ENV) or str(default_checkpoint("spiral"))


@lru_cache(maxsize=1)
def spiral_model() -> ResidualMLP:
    model = ResidualMLP.from_pretrained(spiral_checkpoint())
    model.eval().requires_grad_(False)
    return model


def digits_checkpoint() -> str:
    return os.environ.get(DIGITS_ENV) or str(default_checkpoint("digits"))


@lru_cache(maxsize=1)
def digits_pipeline() -> SymmFlowPipeline:
    return SymmFlowPipeline.from_pretrained(digits_checkpoint())


def faces_checkpoint() -> str:
    """The shipped CPU face model, or the one ``SYMMFLOW_FACES_CHECKPOINT`` names (a pipeline
    folder or hub repo id, e.g. the paper's weights converted by ``symmflow convert-release``)."""
    return os.environ.get(FACES_ENV) or str(default_checkpoint("faces"))


@lru_cache(maxsize=1)
def faces_pipeline() -> SymmFlowPipeline:
    # on ZeroGPU the model is placed on "cuda" at start-up; the GPU is attached per call
    device = "cuda" if on_zero_gpu() or torch.cuda.is_available() else None
    pipe = SymmFlowPipeline.from_pretrained(faces_checkpoint(), device=device)
    # channels_last convolutions: 10-20% faster 25-step portraits on 2 CPU cores, the same
    # pixels to 1e-5 (benchmarks/faces.py times both)
    pipe.model.to(memory_format=torch.channels_last)
    return pipe


@lru_cache(maxsize=4)
def app_processor(pipe: SymmFlowPipeline) -> ImageProcessor:
    """The input processor of ``pipe`` with the app's pixel limit (:data:`demo.ui.MAX_PIXELS`)."""
    from demo.ui import MAX_PIXELS

    return ImageProcessor(pipe.config, max_pixels=MAX_PIXELS)


def gpu(fn: T) -> T:
    """``spaces.GPU(fn)`` on a ZeroGPU Space (a GPU is lent for each call), ``fn`` elsewhere."""
    if not on_zero_gpu():
        return fn
    import spaces

    return spaces.GPU(fn)


def available_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota
    (``/sys/fs/cgroup/cpu.max``), which is how containers such as Spaces limit CPUs while
    ``os.cpu_count()`` still reports the host's."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def set_threads() -> None:
    """Use every core the Space gives us, but never more (a free Space has 2)."""
    torch.set_num_threads(min(available_cores(), 8))
