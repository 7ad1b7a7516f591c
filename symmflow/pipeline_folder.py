"""Pipeline folders, on disk or on the Hugging Face hub: reading and writing their parts.

A pipeline folder::

    pipeline.json     the PipelineConfig
    model/            the network: config.json + diffusion_pytorch_model.safetensors
    vae/              (latent models) the AutoencoderKL

The trainer writes one with :func:`save_pipeline_folder` (no pipeline needed);
:meth:`symmflow.pipeline.SymmFlowPipeline.from_pretrained` reads one with
:func:`load_pipeline_folder`.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch

from symmflow.io import atomic_directory, write_json_atomic
from symmflow.models.base import CheckpointError, SymmFlowModel
from symmflow.models.latent import LatentUNet
from symmflow.models.unet import PixelUNet
from symmflow.models.vae import LatentPreview, LatentSpace
from symmflow.pipeline_config import PIPELINE_CONFIG_NAME, PipelineConfig

__all__ = ["CHECKPOINTS_ENV", "MODEL_CLASSES", "check_network", "default_checkpoint", "load_pipeline_folder", "save_pipeline_folder"]

CHECKPOINTS_ENV = "SYMMFLOW_CHECKPOINTS"
"""Environment variable naming the folder that holds the shipped models (``faces/``,
``digits/``, ``spiral/``). Unset: the ``checkpoints/`` folder of the source checkout, which an
editable install (the README's set-up) finds; a wheel install sets it."""

MODEL_CLASSES: dict[str, type[SymmFlowModel]] = {"PixelUNet": PixelUNet, "LatentUNet": LatentUNet}


def default_checkpoint(name: str) -> Path:
    """The folder of the shipped model ``name`` (``"faces"``, ``"digits"``, ``"spiral"``): under
    ``$SYMMFLOW_CHECKPOINTS`` if set, else in the source checkout's ``checkpoints/``."""
    root = os.environ.get(CHECKPOINTS_ENV)
    base = Path(root) if root else Path(__file__).resolve().parent.parent / "checkpoints"
    return base / name


def load_pipeline_folder(
    path_or_repo_id: str | os.PathLike, revision: str | None = None, torch_dtype: torch.dtype | None = None
) -> tuple[PipelineConfig, SymmFlowModel, LatentSpace | None]:
    """``(config, network, VAE or None)`` of a pipeline folder or hub repo id.

    Raises:
        CheckpointError: missing or unreadable folder/repo, corrupt files, an unknown network.
    """
    folder = _resolve_folder(path_or_repo_id, revision)
    try:
        config = PipelineConfig.load(folder)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    model_cls = MODEL_CLASSES.get(config.model_class or "")
    if model_cls is None:
        raise CheckpointError(f"{folder / PIPELINE_CONFIG_NAME} names network {config.model_class!r}; known: {', '.join(MODEL_CLASSES)}")
    dtype = {"torch_dtype": torch_dtype} if torch_dtype is not None else {}
    if not (folder / "model").is_dir():
        raise CheckpointError(f"the pipeline folder {str(path_or_repo_id)!r} has no model/ subfolder (a pipeline folder holds "
                              f"{PIPELINE_CONFIG_NAME} and model/ with config.json and diffusion_pytorch_model.safetensors)")
    model = model_cls.from_pretrained(folder / "model", **dtype)
    vae = None
    if (folder / "vae").is_dir():
        from diffusers import AutoencoderKL
        from diffusers.utils import is_accelerate_available

        try:
            autoencoder = AutoencoderKL.from_pretrained(folder / "vae", low_cpu_mem_usage=is_accelerate_available(), **dtype)
            preview = LatentPreview.from_dict(config.preview) if config.preview is not None else None
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
            raise CheckpointError(f"could not load the VAE from {folder / 'vae'} or its preview map: {err}") from err
        vae = LatentSpace(autoencoder, config.vae_scaling_factor, preview)
    return config, model, vae


def save_pipeline_folder(
    directory: str | os.PathLike, config: PipelineConfig, model: SymmFlowModel, vae: LatentSpace | None = None,
    training_info: dict[str, Any] | None = None, weights_dtype: torch.dtype | None = None,
) -> None:
    """Write a pipeline folder (``pipeline.json``, ``model/``, ``vae/``) atomically: assembled
    beside ``directory``, then renamed. What the trainer ships, without building a pipeline."""
    config = copy.deepcopy(config)
    config.model_class = type(model).__name__
    if vae is not None:  # the VAE's own latent scale and preview map, whatever the config held
        config.vae_scaling_factor, config.preview = vae.scaling_factor, vae.preview_map.to_dict()
    if weights_dtype is not None:  # plain nn.Module.to: diffusers' override warns needlessly
        model = torch.nn.Module.to(copy.deepcopy(model), weights_dtype)
    with atomic_directory(directory) as tmp:
        model.save_pretrained(tmp / "model", training_info=training_info)
        if vae is not None:
            vae.vae.save_pretrained(tmp / "vae")
        write_json_atomic(tmp / PIPELINE_CONFIG_NAME, config.to_dict())


def _resolve_folder(path_or_repo_id: str | os.PathLike, revision: str | None) -> Path:
    path = Path(path_or_repo_id)
    if path.is_dir():
        return path
    name = str(path_or_repo_id)
    if path.exists() or name.startswith((".", "/")) or name.count("/") != 1:
        raise CheckpointError(
            f"no pipeline folder at {name!r} (and it is not a hub repo id like 'user/name'); the shipped models "
            f"live in the source checkout's checkpoints/ or in the folder ${CHECKPOINTS_ENV} names"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id=name, revision=revision))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as err:
        raise CheckpointError(
            f"could not get pipeline {name!r} from the Hugging Face hub ({type(err).__name__}: {err}); "
            "check the repo id, your network, or HF_HUB_OFFLINE and the cache"
        ) from err


def check_network(cfg: PipelineConfig, model: SymmFlowModel, vae: LatentSpace | None) -> None:
    """Refuse a network (and VAE) whose channels or ``sigma_min`` do not fit the config.

    Raises:
        CheckpointError: naming what the network has and what the config needs.
    """
    if isinstance(model, LatentUNet):
        if vae is None:
            raise CheckpointError("a LatentUNet needs a VAE (the pipeline folder has no vae/)")
        if vae.latent_channels != model.latent_channels:
            raise CheckpointError(f"VAE latents have {vae.latent_channels} channels, the network expects {model.latent_channels}")
        if cfg.task != "segmentation" or cfg.image_channels != 3 or cfg.label_encoding != "palette":
            raise CheckpointError("latent models are for RGB images with colour-mask labels (segmentation, label_encoding palette)")
    elif isinstance(model, PixelUNet):
        net = model.config
        if (net.image_channels, net.label_channels) != (cfg.image_channels, cfg.label_channels):
            encoding = f" with label_encoding {cfg.label_encoding!r}" if cfg.task == "segmentation" else ""
            raise CheckpointError(
                f"the network has {net.image_channels} image + {net.label_channels} label channels, but a "
                f"{cfg.task} pipeline{encoding} on {cfg.image_channels}-channel images needs "
                f"{cfg.image_channels} + {cfg.label_channels}"
            )
        if net.skip_sigma is not None and net.sigma_min != cfg.sigma_min:
            raise CheckpointError(f"the network's linear skip assumes sigma_min {net.sigma_min:g}, the pipeline's is {cfg.sigma_min:g}")
    else:
        raise CheckpointError(f"unsupported network {type(model).__name__}; expected PixelUNet or LatentUNet")
