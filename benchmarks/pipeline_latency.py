"""Per-step latency and peak memory of the pipelines on this machine.

    python benchmarks/pipeline_latency.py              # pixel presets + one SD-size latent forward
    python benchmarks/pipeline_latency.py --no-sd      # skip the 865M-parameter U-Net (~1 min)
    python benchmarks/pipeline_latency.py --device cuda --sd-generate   # GPU: 25-step 512x512 run

Each row runs in its own process so that its peak RSS is its own. Weights are random: latency
does not depend on them. ``streaming_overhead``: extra wall time of a 25-step generation that
renders every intermediate frame (``generate_stream``) over one that renders only the result.
Writes benchmarks/results/pipeline_latency.json and a section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from report import ROOT, machine, write_results

STEPS = 25
PIXEL_ROWS = [("small32", 32, 1), ("small32", 32, 8), ("small64", 64, 1), ("small64", 64, 8)]


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, kernels, lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_pixel_row(preset: str, size: int, batch: int, repeats: int) -> dict:
    import numpy as np
    import torch

    from symmflow.models.unet import PIXEL_UNET_PRESETS, PixelUNet
    from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig

    torch.manual_seed(0)
    model = PixelUNet(sample_size=size, **PIXEL_UNET_PRESETS[preset])
    pipe = SymmFlowPipeline(model, PipelineConfig(task="segmentation", image_size=size))
    masks = [np.zeros((size, size), np.int64)] * batch

    def plain():
        pipe.generate(masks, steps=STEPS, seed=0)

    def streamed():
        for _ in pipe.generate_stream(masks, steps=STEPS, seed=0):
            pass

    # interleaved, so that a burst of load on the machine hits both alike
    plain(), streamed()
    pairs = [(_once(plain), _once(streamed)) for _ in range(repeats)]
    t_plain = statistics.median(p for p, _ in pairs)
    t_stream = statistics.median(s for _, s in pairs)
    return {
        "model": f"PixelUNet/{preset} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M)",
        "resolution": size,
        "batch": batch,
        "seconds_per_step": round(t_plain / STEPS, 4),
        "generate_25_seconds": round(t_plain, 3),
        "streaming_overhead": round(t_stream / t_plain - 1, 4),
    }


def run_sd_forward(device: str) -> dict:
    import torch

    from symmflow.models.latent import LatentUNet

    torch.manual_seed(0)
    model = LatentUNet().eval().to(device)
    z = torch.randn(1, 4, 64, 64, device=device)
    t = torch.tensor([0.5], device=device)
    with torch.no_grad():
        seconds = _timed(lambda: model(z, z, t), repeats=2)
    return {
        "model": f"LatentUNet/SD2.1 ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M), float32",
        "resolution": 512,
        "batch": 1,
        "seconds_per_step": round(seconds, 3),
        "streaming_overhead": None,
        "note": f"one forward pass at a 64x64 latent on {device}",
    }


def run_sd_generate(device: str, dtype_name: str, compile_model: bool) -> dict:
    """25-step 512x512 generation on a GPU: network in half precision, SDPA, channels_last."""
    import torch

    from symmflow.models.latent import LatentUNet
    from symmflow.solver import TIME_SPAN, ODESolver

    dtype = getattr(torch, dtype_name)
    model = LatentUNet().eval().to(device, dtype).to(memory_format=torch.channels_last)
    if compile_model:
        model.unet = torch.compile(model.unet, mode="max-autotune", fullgraph=True)
    solver = ODESolver(model)
    x = torch.randn(1, 4, 64, 64, device=device)
    y = torch.randn(1, 4, 64, 64, device=device)

    def run():
        with torch.no_grad():
            solver.solve(x, y, *TIME_SPAN["image"], steps=STEPS)
        torch.cuda.synchronize()

    seconds = _timed(run, repeats=3)
    return {
        "model": f"LatentUNet/SD2.1, {dtype_name}{', compiled' if compile_model else ''}",
        "resolution": 512,
        "batch": 1,
        "seconds_per_step": round(seconds / STEPS, 4),
        "generate_25_seconds": round(seconds, 3),
        "streaming_overhead": None,
        "note": f"{STEPS} Euler steps of the U-Net on {torch.cuda.get_device_name()} (VAE decode excluded)",
    }


def _child(argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--row", *argv], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-sd", action="store_true", help="skip the SD-size latent U-Net")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sd-generate", action="store_true", help="(GPU) time a 25-step 512x512 generation")
    args = parser.parse_args()

    if args.row:
        kind, *rest = args.row
        if kind == "pixel":
            row = run_pixel_row(rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
        elif kind == "sd":
            row = run_sd_forward(rest[0])
        else:
            row = run_sd_generate(rest[0], rest[1], rest[2] == "compile")
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(row))
        return

    rows = [_child(["pixel", p, str(s), str(b), str(args.repeats)]) for p, s, b in PIXEL_ROWS]
    if not args.no_sd:
        rows.append(_child(["sd", args.device]))
    if args.sd_generate:
        rows.append(_child(["sdgen", args.device, "float16", "eager"]))
        rows.append(_child(["sdgen", args.device, "float16", "compile"]))

    header = f"{'model':<42}{'res':>5}{'batch':>6}{'s/step':>9}{'RSS MB':>9}{'stream +%':>10}"
    print(header + "\n" + "-" * len(header))
    for r in rows:
        overhead = "-" if r["streaming_overhead"] is None else f"{100 * r['streaming_overhead']:.1f}"
        print(f"{r['model']:<42}{r['resolution']:>5}{r['batch']:>6}{r['seconds_per_step']:>9.4f}{r['peak_rss_mb']:>9.0f}{overhead:>10}")

    md = [
        "## Pipeline latency",
        "",
        f"`python benchmarks/pipeline_latency.py` on {machine()}. Random weights; median of "
        f"{args.repeats} runs after a warm-up; each row in its own process (peak RSS is the process's).",
        "`stream +%`: extra time of a 25-step generation that renders every intermediate frame.",
        "",
        "| model | resolution | batch | s / step | 25-step s | peak RSS MB | stream +% |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        overhead = "" if r["streaming_overhead"] is None else f"{100 * r['streaming_overhead']:.1f}"
        total = r.get("generate_25_seconds", "")
        md.append(f"| {r['model']} | {r['resolution']} | {r['batch']} | {r['seconds_per_step']} | {total} | {r['peak_rss_mb']:.0f} | {overhead} |")
    if not args.sd_generate:
        md += ["", "The 25-step 512x512 GPU generation is measured with `--device cuda --sd-generate` when a GPU is available."]
    write_results("pipeline_latency", rows, "\n".join(md))


if __name__ == "__main__":
    main()
