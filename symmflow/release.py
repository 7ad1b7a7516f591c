"""The authors' released latent checkpoints (hub repo ``ocaetas/SymmFlow``) -> our models.

Each release file ``LatFM_{dataset}_beta{beta}.pt`` is a pickled ``state_dict`` of the EMA
model, keys prefixed ``unet.`` (``unet.conv_in.weight`` ``[320, 8, 3, 3]`` ...). Our
:class:`~symmflow.models.LatentUNet` keeps its U-Net at ``.unet``, so the keys map one to one;
only the empty-prompt embedding, which the release does not contain, comes from elsewhere
(the authors' ``sd_emptyembed.pt``, or the SD 2.1 text encoder): a release without one is
refused, never run on a zero embedding. Weights of another Stable Diffusion generation
(SD 1.x: cross-attention width 768, convolutional attention projections) are recognised and
named as such. A converted pipeline segments and generates at 25 Euler steps, as the
authors evaluate.
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
    "PROMPT_EMBEDDING_FILE",
    "RELEASE_DATASETS",
    "RELEASE_DEFAULT_STEPS",
    "RELEASE_REPO",
    "compute_prompt_embedding",
    "download_release",
    "latent_unet_from_release",
    "load_prompt_embedding",
    "load_release_state_dict",
    "pipeline_from_release",
    "release_filename",
    "unet_generation",
]

RELEASE_REPO = "ocaetas/SymmFlow"
RELEASE_DATASETS: dict[str, dict[str, Any]] = {
    # dataset name in the authors' code -> our palette and their dequantization beta
    "celeba": {"palette": "celebamask_hq", "beta": 10.0},
    "coco": {"palette": "coco_stuff", "beta": 6.0},
}
SD21_TEXT_ENCODER_REPO = "stabilityai/stable-diffusion-2-1"
RELEASE_DEFAULT_STEPS = {"generate": 25, "segment": 25}
"""The authors evaluate segmentation and generation at 25 Euler steps."""
PROMPT_EMBEDDING_FILE = "sd_emptyembed.pt"
_MISSING_EMBEDDING = (
    "the release checkpoints hold no empty-prompt embedding, and a latent SymmFlow U-Net run on "
    "a zero embedding produces noise; pass prompt_embedding: the authors' " + PROMPT_EMBEDDING_FILE +
    " (models/" + PROMPT_EMBEDDING_FILE + " in github.com/caetas/SymmetricFlow), a [1, 77, 1024] tensor, "
    "or compute_prompt_embedding() (the SD 2.1 text encoder on the empty prompt)"
)


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


def unet_generation(state_dict: dict[str, torch.Tensor]) -> tuple[int | None, str | None]:
    """What tells Stable Diffusion U-Net generations apart in a state dict: the cross-attention
    width (``attn2.to_k.weight`` ``[C, width]``: 768 for SD 1.x, 1024 for SD 2.x) and the kind of
    the transformer blocks' ``proj_in`` / ``proj_out`` (``"conv"`` 1x1 for SD 1.x, ``"linear"``
    for SD 2.x). ``None`` where the state dict has no such layer."""
    widths = {v.shape[1] for k, v in state_dict.items() if k.endswith("attn2.to_k.weight") and v.dim() == 2}
    kinds = {"conv" if v.dim() == 4 else "linear" for k, v in state_dict.items() if k.endswith("proj_in.weight")}
    width = widths.pop() if len(widths) == 1 else None
    return width, (kinds.pop() if len(kinds) == 1 else None)


def _check_generation(state_dict: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
    """Name an SD-generation mismatch between a checkpoint and the U-Net config, before any
    shape-by-shape comparison (which would only list size mismatches)."""
    width, kind = unet_generation(state_dict)
    want_width, want_kind = config.get("cross_attention_dim"), "linear" if config.get("use_linear_projection") else "conv"
    problems = []
    if width is not None and want_width is not None and width != want_width:
        problems.append(f"cross-attention width {width} where the U-Net config has {want_width}")
    if kind is not None and kind != want_kind:
        problems.append(f"{'convolutional' if kind == 'conv' else 'linear'} attention projections (proj_in/proj_out) "
                        f"where the U-Net config has {'linear' if want_kind == 'linear' else 'convolutional'} ones")
    if not problems:
        return
    if width == 768 and kind == "conv":
        raise CheckpointError(
            "the checkpoint is shaped like a Stable Diffusion 1.x U-Net (e.g. SD 1.5, SemFlow's backbone): "
            f"{'; '.join(problems)}. The authors' SymmFlow releases are SD 2.1 U-Nets (cross-attention width 1024, "
            "linear projections). For an SD 1.x-based model pass unet_config with cross_attention_dim=768 and "
            "use_linear_projection=False, and a 768-wide prompt embedding from the SD 1.x text encoder"
        )
    raise CheckpointError(f"the checkpoint is of another Stable Diffusion U-Net generation than the U-Net config: {'; '.join(problems)}")


def latent_unet_from_release(
    state_dict: dict[str, torch.Tensor],
    prompt_embedding: torch.Tensor | None,
    unet_config: dict[str, Any] | None = None,
) -> LatentUNet:
    """Build a :class:`LatentUNet` from a release state dict.

    Args:
        state_dict: from :func:`load_release_state_dict`.
        prompt_embedding: the empty-prompt embedding ``[1, 77, cross_attention_dim]`` (see
            :func:`load_prompt_embedding`). Required: the release does not contain it.
        unet_config: the U-Net architecture; SD 2.1 by default (tests pass tiny configs).

    Raises:
        CheckpointError: no or an all-zero embedding (the message names ``sd_emptyembed.pt``);
            weights of another SD generation (SD 1.x named as such); keys or shapes that do
            not match ``unet_config``.
    """
    conv_in = state_dict.get("unet.conv_in.weight")
    if conv_in is None:
        raise CheckpointError("the release state dict has no 'unet.conv_in.weight'")
    config = dict(unet_config or SD21_UNET_CONFIG)
    _check_generation(state_dict, config)
    if conv_in.shape[1] % 2:
        raise CheckpointError(f"conv_in has {conv_in.shape[1]} input channels; a SymmFlow U-Net has an even number")
    if prompt_embedding is None or not bool(torch.as_tensor(prompt_embedding).any()):
        raise CheckpointError(("an all-zero prompt embedding was given: " if prompt_embedding is not None else "") + _MISSING_EMBEDDING)
    model = LatentUNet(latent_channels=conv_in.shape[1] // 2, unet_config=config)
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


def compute_prompt_embedding(repo_id: str | os.PathLike = SD21_TEXT_ENCODER_REPO, prompt: str = "") -> torch.Tensor:
    """Run the SD 2.1 text encoder once on the empty prompt (needs ``transformers``).

    ``repo_id``: a hub repo or a local folder with ``tokenizer/`` and ``text_encoder/``
    sub-folders (honours ``HF_HUB_OFFLINE``). Returns ``float32 [1, 77, width]``.
    """
    try:
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError as err:
        raise ImportError("computing the prompt embedding needs transformers: pip install transformers") from err
    repo_id = str(repo_id)
    tokenizer = CLIPTokenizer.from_pretrained(repo_id, subfolder="tokenizer")
    encoder = CLIPTextModel.from_pretrained(repo_id, subfolder="text_encoder").eval()
    ids = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return encoder(ids.input_ids)[0].float()


def pipeline_from_release(
    checkpoint: str | os.PathLike,
    dataset: str,
    prompt_embedding: str | os.PathLike | torch.Tensor | None,
    vae: str | os.PathLike = SD_VAE_REPO,
    image_size: int = 512,
    unet_config: dict[str, Any] | None = None,
    text_encoder: str | os.PathLike | None = None,
):
    """A ready :class:`~symmflow.pipeline.SymmFlowPipeline` from a release ``.pt`` file, with
    the authors' defaults: 25 Euler steps to segment and to generate
    (:data:`RELEASE_DEFAULT_STEPS`), their palette and dequantization beta.

    Args:
        checkpoint: the release file (see :func:`download_release`).
        dataset: ``"celeba"`` or ``"coco"`` (sets the palette and beta).
        prompt_embedding: the empty-prompt embedding (tensor or file, e.g. the authors'
            ``sd_emptyembed.pt``). ``None``: computed with ``text_encoder`` when given, else
            refused (:class:`CheckpointError` naming ``sd_emptyembed.pt``).
        vae: the ``AutoencoderKL`` (hub id or folder); the release used ``stabilityai/sd-vae-ft-mse``.
        image_size: pixel resolution (512 in the paper).
        unet_config: the U-Net architecture; SD 2.1 by default.
        text_encoder: where the SD 2.1 text encoder is at hand (hub id or folder, see
            :func:`compute_prompt_embedding`), used only when ``prompt_embedding`` is ``None``.
    """
    from diffusers import AutoencoderKL

    from symmflow.pipeline import SymmFlowPipeline

    if dataset not in RELEASE_DATASETS:
        raise ValueError(f"unknown release dataset {dataset!r}; choose one of {', '.join(RELEASE_DATASETS)}")
    if prompt_embedding is None and text_encoder is not None:
        prompt_embedding = compute_prompt_embedding(text_encoder)
    if prompt_embedding is None:  # refused before reading a multi-GB checkpoint
        raise CheckpointError(_MISSING_EMBEDDING)
    embedding = load_prompt_embedding(prompt_embedding)
    model = latent_unet_from_release(load_release_state_dict(checkpoint), embedding, unet_config)
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
        default_steps=dict(RELEASE_DEFAULT_STEPS),
        description=f"the authors' released SD 2.1 latent model ({Path(checkpoint).name}), trained on {dataset}",
    )
    return SymmFlowPipeline(model, config, vae=LatentSpace(autoencoder, SD_VAE_SCALING))
