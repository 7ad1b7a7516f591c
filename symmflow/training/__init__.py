"""One training entry point for every model: ``symmflow train --config configs/X.yaml``."""

from symmflow.training.config import TrainConfig, load_config
from symmflow.training.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "load_config"]
