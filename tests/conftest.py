import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def tiny_patched_unet(refine_channels=None, detail_channels=None):
    """A seeded 16x16 PixelUNet on 4x4 patches whose U-Net is 8 channels wide: too narrow to
    carry a patch's 96 values, so what a full-resolution part adds shows."""
    from symmflow.models.unet import PixelUNet

    torch.manual_seed(0)
    return PixelUNet(image_channels=3, label_channels=3, sample_size=16, patch_size=4, block_out_channels=(8, 16),
                     down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                     attention_head_dim=8, norm_num_groups=4,
                     refine_channels=refine_channels, detail_channels=detail_channels)


def tiny_face_pipeline(size=16):
    """A seeded, untrained 19-class colour-mask segmentation pipeline of ``size`` px (the "tiny" PixelUNet)."""
    from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet
    from symmflow.pipeline import SymmFlowPipeline
    from symmflow.pipeline_config import PipelineConfig

    torch.manual_seed(0)
    net = PixelUNet(image_channels=3, label_channels=3, sample_size=size, **PIXEL_UNET_PRESETS["tiny"])
    return SymmFlowPipeline(net, PipelineConfig(task="segmentation", image_size=size, palette="celebamask_hq", beta=10))


DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def vectors() -> dict:
    """The release's test vectors (a copy of shared/reference/vectors.json)."""
    return json.loads((DATA / "reference_vectors.json").read_text())


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def served_app():
    """The app of app.py, served on a free loopback port for the whole test session."""
    from app import demo
    from demo.app import LAUNCH

    # without server_port gradio takes the first free port from 7860 up
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **LAUNCH)
    yield demo.local_url
    demo.close()
