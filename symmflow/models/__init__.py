"""Velocity networks. Each is a diffusers model: its constructor arguments are its config."""

from symmflow.models.base import CheckpointError, SymmFlowModel
from symmflow.models.mlp import ResidualMLP

__all__ = ["CheckpointError", "ResidualMLP", "SymmFlowModel"]
