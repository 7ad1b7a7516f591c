"""The models the app serves, loaded once per process and shared by every session.

Defaults are the small CPU models shipped in ``checkpoints/``; environment variables point
a tab at another checkpoint (a local folder or a Hugging Face hub repo id).
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import torch

from symmflow.models import ResidualMLP

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "checkpoints"

SPIRAL_ENV = "SYMMFLOW_SPIRAL_CHECKPOINT"

# Inference holds no mutable state, but PyTorch's intra-op pool is shared: one forward at a
# time per model keeps latency predictable when many sessions click at once.
MODEL_LOCK = threading.Lock()


def spiral_checkpoint() -> str:
    return os.environ.get(SPIRAL_ENV, str(CHECKPOINTS / "spiral"))


@lru_cache(maxsize=1)
def spiral_model() -> ResidualMLP:
    model = ResidualMLP.from_pretrained(spiral_checkpoint())
    model.eval().requires_grad_(False)
    return model


def set_threads() -> None:
    """Use every core the Space gives us, but never more (a free Space has 2)."""
    torch.set_num_threads(max(1, min(os.cpu_count() or 1, 8)))
