"""The paper's path at full size on this CPU, through the app's face handlers.

    python benchmarks/full_size.py

The SD 2.1-size latent pipeline (``LatentUNet``, 866M, random weights, float32) with the real
VAE architecture (``AutoencoderKL``'s SD configuration, random weights) at 512 px stands in for
the app's face model; then, as a user would: the segment tab segments a 512 px photo at 1 step
(face alignment, VAE encode, one U-Net pass, VAE decode of the mask), *Edit this mask* sends it
to the paint tab, the hair is repainted as a hat, and the paint tab regenerates one portrait at
2 steps (pinned outside the edit: :mod:`symmflow.editing`). Random weights give noise, not
faces: this measures what each stage costs, not what it draws. Per stage: seconds and the peak
resident memory of the process (sampled every 20 ms).

Writes benchmarks/results/full_size.json and a section of benchmarks/RESULTS.md. The same run is
a test, out of the default run: ``python -m pytest -m fullsize tests/test_full_size.py``.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SIZE = 512
HAIR, HAT = 13, 14


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def _stage(record: dict, name: str):
    """Time a stage and sample the process's resident memory while it runs."""
    peak = [_rss_mb()]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss_mb())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        done.set()
        thread.join()
        record[name] = {"seconds": round(seconds, 1), "peak_rss_mb": round(max(peak[0], _rss_mb()))}


def full_size_pipeline():
    """SD 2.1 latent U-Net and the SD VAE architecture, random weights, 512 px, CelebAMask-HQ palette."""
    from diffusers import AutoencoderKL

    from symmflow.models.latent import LatentUNet
    from symmflow.models.vae import SD_VAE_SCALING, LatentPreview, LatentSpace
    from symmflow.pipeline import SymmFlowPipeline
    from symmflow.pipeline_config import PipelineConfig

    torch.manual_seed(0)
    vae = AutoencoderKL(  # stabilityai/sd-vae-ft-mse's architecture
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32,
        sample_size=SIZE, scaling_factor=SD_VAE_SCALING,
    )
    preview = LatentPreview(torch.randn(3, 4) * 0.2, torch.zeros(3))  # no fitting pass: it is only for frames
    config = PipelineConfig(task="segmentation", image_size=SIZE, palette="celebamask_hq", beta=10.0,
                            default_steps={"generate": 2, "segment": 1, "classify": 1})
    return SymmFlowPipeline(LatentUNet().eval(), config, vae=LatentSpace(vae, SD_VAE_SCALING, preview))


def run(photo_path: Path = ROOT / "assets" / "faces" / "image_0.png") -> dict:
    """Build, segment (1 step), edit, regenerate (2 steps) through the app's handlers; per-stage figures."""
    import demo.models
    from demo import paint_tab, segment_tab

    torch.set_grad_enabled(False)
    record: dict = {"baseline_rss_mb": round(_rss_mb())}
    with _stage(record, "build"):
        pipe = full_size_pipeline()
    params = sum(p.numel() for p in pipe.model.parameters()) + sum(p.numel() for p in pipe.vae.vae.parameters())
    # the app's handlers ask demo.models for the face model: this one, for the run
    originals = {m: m.faces_pipeline for m in (segment_tab, paint_tab, demo.models)}
    for module in originals:
        module.faces_pipeline = lambda: pipe
    try:
        photo = np.asarray(Image.open(photo_path).convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC))
        with _stage(record, "segment_1_step"):
            *_, (_, mask, _, found, state) = segment_tab.segment_photo(photo, 1, 0)
        with _stage(record, "edit_mask"):
            value, recovered, _ = segment_tab.send_to_paint(state)
            ids = recovered["class_map"].copy()
            # random weights draw any classes: repaint the hair if there is any, else the top quarter
            ids[ids == HAIR] = HAT
            if not (ids != recovered["class_map"]).any():
                ids[: ids.shape[0] // 4] = HAT
            painted = pipe.palette.colorize(ids)
            edited = {"background": painted, "layers": [], "composite": painted}
        with _stage(record, "regenerate_2_steps"):
            *_, (live, gallery, trajectory) = paint_tab.generate_portraits(edited, 2, 0, "euler", 1, recovered)
    finally:
        for module, fn in originals.items():
            module.faces_pipeline = fn
    record.update({
        "parameters_millions": round(params / 1e6), "photo_size": list(photo.shape[:2]), "mask_shape": list(mask.shape[:2]),
        "portrait_shape": list(trajectory[-1].shape[:2]), "noise_shape": list(recovered["noise"].shape),
        "edited_share": round(float((ids != recovered["class_map"]).mean()), 3), "portraits": len(gallery),
    })
    return record


def main() -> None:
    from report import machine, write_results

    record = run()
    stages = ("build", "segment_1_step", "edit_mask", "regenerate_2_steps")
    what = {
        "build": "build the pipeline (random weights)",
        "segment_1_step": "segment tab: align, VAE encode, 1 U-Net step, VAE decode of the mask",
        "edit_mask": "edit this mask: to the paint tab, hair repainted as hat",
        "regenerate_2_steps": "paint tab: regenerate, 2 U-Net steps pinned outside the edit, VAE encode + decode",
    }
    print(f"{'stage':<90} {'seconds':>8} {'peak RSS (MB)':>14}")
    for s in stages:
        print(f"{what[s]:<90} {record[s]['seconds']:>8.1f} {record[s]['peak_rss_mb']:>14}")
    md = [
        "## The paper's path at full size on this CPU",
        "",
        f"`python benchmarks/full_size.py` on {machine()}: the SD 2.1 latent U-Net and the SD VAE architecture "
        f"({record['parameters_millions']}M parameters together, random weights, float32) at {SIZE} px, driven through "
        "the app's face handlers. Random weights draw noise: these are costs, not results. Peak resident memory of "
        f"the process during each stage (before building: {record['baseline_rss_mb']} MB).",
        "",
        "| stage | seconds | peak RSS (MB) |",
        "|---|---:|---:|",
        *[f"| {what[s]} | {record[s]['seconds']:.1f} | {record[s]['peak_rss_mb']} |" for s in stages],
    ]
    write_results("full_size", {**record, "machine": machine()}, "\n".join(md))


if __name__ == "__main__":
    main()
