"""The authors' released latent checkpoints (hub repo ``ocaetas/SymmFlow``) -> our models.

Each release file ``LatFM_{dataset}_beta{beta}.pt`` is a pickled ``state_dict`` of the EMA
model, keys prefixed ``unet.`` (``unet.conv_in.weight`` ``[320, 8, 3, 3]`` ...). Our
:class:`~symmflow.models.LatentUNet` keeps its U-Net at ``.unet``, so the keys map one to one;
only the empty-prompt embedding, which the release does not contain, comes from elsewhere
(a file, or the SD 2.1 text encoder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from symmflow.models.base import CheckpointError
from symmflow.models.latent import SD21_UNET_CONFIG, LatentUNet
from symmflow.models.vae import SD_VAE_REPO, SD_VAE_SCALING, LatentSpace
from symmflow.pipeline_config import PipelineConfig

__all__ = [
    "RELEASE_DATASETS",
    "RELEASE_REPO",
    "compute_prompt_embedding",
    "download_release",
    "latent_unet_from_release",
    "load_prompt_embedding",
    "load_release_state_dict",
    "pipeline_from_release",
    "release_filename",
]

RELEASE_REPO = "ocaetas/SymmFlow"
RELEASE_DATASETS: dict[str, dict[str, Any]] = {
    # dataset name in the authors' code -> our palette and their dequantization beta
    "celeba": {"palette": "celebamask_hq", "beta": 10.0},
    "coco": {"palette": "coco_stuff", "beta": 6.0},
}
SD21_TEXT_ENCODER_REPO = "stabilityai/stable-diffusion-2-1"


def release_filename(dataset: str, beta: float | None = None) -> str:
    """``LatFM_{dataset}_beta{beta}.pt``, e.g. ``LatFM_coco_beta6.0.pt``."""
    if dataset not in RELEASE_DATASETS:
        raise ValueError(f"unknown release dataset {dataset!r}; choose one of {', '.join(RELEASE_DATASETS)}")
    beta = RELEASE_DATASETS[dataset]["beta"] if beta is None else beta
    return f"LatFM_{dataset}_beta{float(beta)}.pt"


def download_release(dataset: str, beta: float | None = None, repo_id: str = RELEASE_REPO) -> Path:
    """Fetch a release file through ``huggingface_hub`` (cached; honours ``HF_HUB_OFFLINE``)."""
    from huggingface_hub import hf_hub_download

    filename = release_filename(dataset, beta)
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename))
    except Exception as err:  # network, auth, offline-and-not-cached: all end the same way
        raise CheckpointError(
            f"could not get {filename} from the hub repo {repo_id} ({type(err).__name__}: {err})"
        ) from err


def load_release_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a release ``.pt`` safely (``weights_only=True``: tensors only, no code runs).

    Raises:
        CheckpointError: unreadable file, not a state dict, or keys without the ``unet.`` prefix.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe pickles
        raise CheckpointError(f"could not read the release checkpoint {str(path)!r}: {err}") from err
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{str(path)!r} does not hold a state dict (got {type(state).__name__})")
    if not all(isinstance(k, str) and k.startswith("unet.") for k in state):
        odd = next(k for k in state if not (isinstance(k, str) and k.startswith("unet.")))
        raise CheckpointError(f"{str(path)!r} is not a SymmFlow latent release: key {odd!r} lacks the 'unet.' prefix")
    return state


def latent_unet_from_release(
    state_dict: dict[str, torch.Tensor],
    prompt_embedding: torch.Tensor | None = None,
    unet_config: dict[str, Any] | None = None,
) -> LatentUNet:
    """Build a :class:`LatentUNet` from a release state dict.

    Args:
        state_dict: from :func:`load_release_state_dict`.
        prompt_embedding: the empty-prompt embedding ``[1, 77, cross_attention_dim]``; required
            for meaningful outputs (see :func:`load_prompt_embedding`).
        unet_config: the U-Net architecture; SD 2.1 by default (tests pass tiny configs).
    """
    conv_in = state_dict.get("unet.conv_in.weight")
    if conv_in is None:
        raise CheckpointError("the release state dict has no 'unet.conv_in.weight'")
    if conv_in.shape[1] % 2:
        raise CheckpointError(f"conv_in has {conv_in.shape[1]} input channels; a SymmFlow U-Net has an even number")
    model = LatentUNet(latent_channels=conv_in.shape[1] // 2, unet_config=unet_config or dict(SD21_UNET_CONFIG))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict) - {"prompt_embedding"})
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [k for k in state_dict if k in expected and state_dict[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{name}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
            for name, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise CheckpointError(f"the release checkpoint does not match the U-Net config: {detail}")
    model.load_state_dict(state_dict, strict=False)
    if prompt_embedding is not None:
        model.set_prompt_embedding(prompt_embedding)
    return model


def load_prompt_embedding(source: str | os.PathLike | torch.Tensor) -> torch.Tensor:
    """The empty-prompt embedding from a tensor, a ``.pt`` file (e.g. the authors'
    ``sd_emptyembed.pt``) or a ``.safetensors`` file with one tensor. Shape ``[1, 77, D]``."""
    if isinstance(source, torch.Tensor):
        tensor = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"no prompt-embedding file at {str(path)!r}")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            tensors = load_file(path)
            if len(tensors) != 1:
                raise ValueError(f"{path} holds {len(tensors)} tensors; expected exactly one embedding")
            tensor = next(iter(tensors.values()))
        else:
            tensor = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(tensor, dict) and len(tensor) == 1:
                tensor = next(iter(tensor.values()))
    if not isinstance(tensor, torch.Tensor) or tensor.dim() not in (2, 3):
        raise ValueError("a prompt embedding must be a tensor of shape [77, D] or [1, 77, D]")
    return (tensor[None] if tensor.dim() == 2 else tensor[:1]).float()


def compute_prompt_embedding(repo_id: str = SD21_TEXT_ENCODER_REPO, prompt: str = "") -> torch.Tensor:
    """Run the SD 2.1 text encoder once on the empty prompt (needs ``transformers``)."""
    try:
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError as err:
        raise ImportError("computing the prompt embedding needs transformers: pip install transformers") from err
    tokenizer = CLIPTokenizer.from_pretrained(repo_id, subfolder="tokenizer")
    encoder = CLIPTextModel.from_pretrained(repo_id, subfolder="text_encoder").eval()
    ids = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return encoder(ids.input_ids)[0].float()


def pipeline_from_release(
    checkpoint: str | os.PathLike,
    dataset: str,
    prompt_embedding: str | os.PathLike | torch.Tensor,
    vae: str | os.PathLike = SD_VAE_REPO,
    image_size: int = 512,
    unet_config: dict[str, Any] | None = None,
):
    """A ready :class:`~symmflow.pipeline.SymmFlowPipeline` from a release ``.pt`` file.

    Args:
        checkpoint: the release file (see :func:`download_release`).
        dataset: ``"celeba"`` or ``"coco"`` (sets the palette and beta).
        prompt_embedding: the empty-prompt embedding (tensor or file).
        vae: the ``AutoencoderKL`` (hub id or folder); the release used ``stabilityai/sd-vae-ft-mse``.
        image_size: pixel resolution (512 in the paper).
    """
    from diffusers import AutoencoderKL

    from symmflow.pipeline import SymmFlowPipeline

    if dataset not in RELEASE_DATASETS:
        raise ValueError(f"unknown release dataset {dataset!r}; choose one of {', '.join(RELEASE_DATASETS)}")
    model = latent_unet_from_release(load_release_state_dict(checkpoint), load_prompt_embedding(prompt_embedding), unet_config)
    try:
        autoencoder = AutoencoderKL.from_pretrained(vae)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"could not load the VAE {str(vae)!r}: {err}") from err
    info = RELEASE_DATASETS[dataset]
    config = PipelineConfig(
        task="segmentation",
        image_size=image_size,
        palette=info["palette"],
        beta=info["beta"],
        description=f"the authors' released SD 2.1 latent model ({Path(checkpoint).name}), trained on {dataset}",
    )
    return SymmFlowPipeline(model, config, vae=LatentSpace(autoencoder, SD_VAE_SCALING))
