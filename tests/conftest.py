import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def vectors() -> dict:
    """The release's test vectors (a copy of shared/reference/vectors.json)."""
    return json.loads((DATA / "reference_vectors.json").read_text())


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
