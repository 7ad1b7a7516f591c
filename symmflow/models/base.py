"""Common base of every SymmFlow network: a diffusers model with atomic, checked checkpoints.

A checkpoint is a folder in the diffusers layout: ``config.json`` (the constructor arguments)
beside ``diffusion_pytorch_model.safetensors``, plus an optional ``training.json`` with how it
was trained. ``from_pretrained`` accepts a local folder or a Hugging Face hub repo id.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from diffusers import ConfigMixin, ModelMixin
from diffusers.utils import is_accelerate_available

from symmflow.io import atomic_directory, write_json_atomic

__all__ = ["CheckpointError", "SymmFlowModel", "TRAINING_INFO_NAME"]

TRAINING_INFO_NAME = "training.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or was written for a different model."""


class SymmFlowModel(ModelMixin, ConfigMixin):
    """Base class: subclasses declare their config with ``@register_to_config`` on ``__init__``.

    ``_retired_config``: settings a class no longer has, with the value that meant "off";
    older checkpoints that hold that value load silently, others are refused.
    """

    _retired_config: dict[str, Any] = {}

    @classmethod
    def extract_init_dict(cls, config_dict: dict[str, Any], **kwargs: Any):  # type: ignore[override]
        config_dict = {k: v for k, v in config_dict.items() if k not in cls._retired_config}
        return super().extract_init_dict(config_dict, **kwargs)

    def save_pretrained(  # type: ignore[override]
        self,
        save_directory: str | os.PathLike,
        training_info: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Write ``config.json`` + safetensors (and ``training.json``) atomically.

        The folder is assembled beside ``save_directory`` and renamed into place, so a kill
        mid-write leaves the previous checkpoint intact.
        """
        kwargs.setdefault("safe_serialization", True)
        with atomic_directory(save_directory) as tmp:
            super().save_pretrained(tmp, **kwargs)
            if training_info is not None:
                write_json_atomic(Path(tmp) / TRAINING_INFO_NAME, training_info)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):  # type: ignore[override]
        """Load from a local folder or a hub repo id, checking the checkpoint is one of ``cls``.

        Raises:
            CheckpointError: the folder/repo is missing, its files are corrupt, or its config
                names a different model class.
        """
        source = str(pretrained_model_name_or_path)
        if not Path(source).is_dir() and (Path(source).exists() or looks_local(source)):
            raise CheckpointError(f"no readable {cls.__name__} checkpoint at {source!r}: no such folder (expected a folder "
                                  "holding config.json and diffusion_pytorch_model.safetensors, or a hub repo id like 'user/name')")
        # diffusers loads with low_cpu_mem_usage through accelerate, and warns on every load where
        # accelerate is not installed (the app's requirements): ask for it only where it is there
        kwargs.setdefault("low_cpu_mem_usage", is_accelerate_available())
        try:
            config = cls.load_config(source, **{k: v for k, v in kwargs.items() if k in _CONFIG_KWARGS})
        except (OSError, ValueError, json.JSONDecodeError) as err:
            raise CheckpointError(f"no readable {cls.__name__} checkpoint at {source!r}: {err}") from err
        found = config.get("_class_name")
        if found != cls.__name__:
            raise CheckpointError(
                f"checkpoint at {source!r} holds a {found or 'unknown'} model, expected {cls.__name__}"
            )
        for key, off in cls._retired_config.items():
            if config.get(key, off) != off:
                raise CheckpointError(
                    f"checkpoint at {source!r} uses {key}={config[key]!r}, a setting {cls.__name__} no longer has "
                    f"(accepted: {key} absent or {off!r})"
                )
        try:
            return super().from_pretrained(source, **kwargs)
        except (OSError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"could not load {cls.__name__} weights from {source!r}: {err}") from err

    @staticmethod
    def training_info(path: str | os.PathLike) -> dict[str, Any]:
        """The ``training.json`` of a local checkpoint folder, or ``{}`` if it has none."""
        info = Path(path) / TRAINING_INFO_NAME
        return json.loads(info.read_text()) if info.is_file() else {}


def looks_local(source: str) -> bool:
    """Whether ``source`` names a local path rather than a hub repo id (``user/name``)."""
    return source.startswith((".", "/", "~")) or source.count("/") != 1 or "\\" in source or os.path.isabs(source)


_CONFIG_KWARGS = {"cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder"}
