"""The shipped face model on held-out procedural faces: segmentation, cycle, diversity, speed.

    python benchmarks/faces.py [--checkpoint checkpoints/faces] [--count 1000] [--cycle-count 1000]

Held-out faces are generated from seeds the training never used (training draws seeds
0 .. length-1; these start at 10**9). Figures:

* ``seg_miou_5``: mIoU (macro Jaccard, background ignored) of ``segment`` at 5 steps;
  ``seg_miou_1`` the same at 1 step, which returns the posterior mean of the mask where more
  steps sample one (README, "What is SymmFlow?");
* ``cycle_miou_25``: generate a portrait from each mask (25 steps), segment it with the same
  model (5 steps), mIoU against the input mask; ``cycle_miou_25_seg1`` the same portraits read
  in one step (the shipped default), with its per-class IoU in ``cycle_per_class_iou``; both
  generated as the model's config says (the shipped one holds the label noise-free,
  :mod:`symmflow.conditioning`); ``cycle_miou_25_seg1_free`` generated with the authors' free
  joint flow instead (``hold_label=False``), for comparison, when the model holds its label;
* ``*_interval``: the 95% bootstrap interval of a figure over its faces
  (:meth:`~symmflow.evaluation.IoUAccumulator.interval`). The mean is macro, over 18 classes, and
  some are rare: the necklace class, an eighteenth of the figure, rests on 63 of the 1,000
  held-out faces and on 2 of the first 100. Hence 1,000 faces by default (README, "How many
  faces a figure needs"): the cycle's interval is 0.013 wide there, 0.06 on 100;
* ``diversity``: mean absolute pixel difference (0..1) between 4 samples of the same mask;
* ``generate_25_seconds``: one 25-step generation (batch 1), median of 5;
  ``generate_25_seconds_channels_last`` the same with the weights in ``channels_last`` memory
  format, as the app runs them (timed in alternation with the first).

Writes benchmarks/results/faces.json and a section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from report import ROOT, checkpoint_name, machine, write_results

from symmflow.data.procedural_faces import HELD_OUT_SEED, generate_faces
from symmflow.evaluation import cycle_portraits, evaluate_cycle, evaluate_segmentation, round_interval, sample_diversity
from symmflow.pipeline import SymmFlowPipeline



def generation_seconds(pipe: SymmFlowPipeline, masks: list[np.ndarray], rounds: int = 5) -> tuple[float, float]:
    """Median seconds of one 25-step generation (batch 1) with the weights as loaded, and in
    ``channels_last`` memory format (as the app runs them). The two alternate, so that a
    machine that slows down mid-run slows both alike; round 0 is a warm-up."""
    formats = (torch.contiguous_format, torch.channels_last)
    times: dict[torch.memory_format, list[float]] = {f: [] for f in formats}
    for k in range(rounds + 1):
        for memory_format in formats:
            pipe.model.to(memory_format=memory_format)
            t0 = time.perf_counter()
            pipe.generate(masks[k % len(masks)], steps=25, seed=k)
            if k:
                times[memory_format].append(time.perf_counter() - t0)
    pipe.model.to(memory_format=torch.contiguous_format)
    return statistics.median(times[formats[0]]), statistics.median(times[formats[1]])


def span(result: dict) -> str:
    """A figure's 95% interval as ``low-high``."""
    low, high = result["miou_interval"]
    return f"{low:.4f}-{high:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "faces"))
    parser.add_argument("--count", type=int, default=1000, help="held-out faces for segmentation")
    parser.add_argument("--cycle-count", type=int, default=1000, help="masks for the cycle figure (the first of the held-out faces)")
    args = parser.parse_args()
    if args.count < 1 or not 1 <= args.cycle_count <= args.count:
        parser.error(f"--count must be at least 1 and --cycle-count between 1 and --count; got {args.count} and {args.cycle_count}")
    torch.set_grad_enabled(False)

    pipe = SymmFlowPipeline.from_pretrained(args.checkpoint)
    images, masks = generate_faces(args.count, size=pipe.image_size, seed=HELD_OUT_SEED)
    start = time.perf_counter()
    seg = evaluate_segmentation(pipe, list(images), list(masks), steps=5)
    seg_1 = evaluate_segmentation(pipe, list(images), list(masks), steps=1)
    cycle_masks = list(masks[: args.cycle_count])
    portraits = cycle_portraits(pipe, cycle_masks, generate_steps=25)  # generated once, read in 5 steps and in 1
    cycle = evaluate_segmentation(pipe, portraits, cycle_masks, steps=5)
    cycle_1 = evaluate_segmentation(pipe, portraits, cycle_masks, steps=1)
    free_1 = None
    if pipe.config.label_fade is not None:
        free_1 = evaluate_cycle(pipe, cycle_masks, generate_steps=25, segment_steps=1, hold_label=False)
    diversity = sample_diversity(pipe, list(masks[:8]), samples=4, steps=25)
    gen_seconds, gen_seconds_cl = generation_seconds(pipe, list(masks[:3]))
    total = time.perf_counter() - start

    print(f"segmentation mIoU @5 steps ({args.count} faces): {seg['miou']:.4f}  (1 step: {seg_1['miou']:.4f}, 95% {span(seg_1)})")
    print(f"cycle mIoU @25 steps ({len(cycle_masks)} masks):   {cycle['miou']:.4f}  (read in 1 step: {cycle_1['miou']:.4f}, 95% {span(cycle_1)})")
    if free_1 is not None:
        print(f"  the same with the authors' free flow:  {free_1['miou']:.4f} (read in 1 step)")
    print(f"diversity (mean |a-b|, 0..1):          {diversity:.4f}")
    print(f"25-step generation, batch 1:            {gen_seconds:.2f} s  (channels_last: {gen_seconds_cl:.2f} s)")
    print(f"(benchmark ran {total:.0f} s on {machine()})")
    worst = sorted(((v, k) for k, v in seg["per_class"].items() if v is not None))[:4]
    worst_cycle = sorted(((v, k) for k, v in cycle_1["per_class"].items() if v is not None))[:5]

    md = [
        "## Faces: the shipped CPU model on held-out procedural faces",
        "",
        f"`python benchmarks/faces.py` on {machine()}; {args.count} held-out faces (seeds from {HELD_OUT_SEED}), "
        f"{pipe.image_size}x{pipe.image_size}. Portraits are generated as the model's config says"
        + (f" (label held noise-free, `label_fade` {pipe.config.label_fade:g}: `symmflow.conditioning`)." if pipe.config.label_fade is not None else "."),
        "",
        "| figure | value |",
        "|---|---:|",
        f"| segmentation mIoU, 5 steps (background ignored) | {seg['miou']:.4f} |",
        f"| segmentation mIoU, 1 step (the posterior mean) | {seg_1['miou']:.4f} (95%: {span(seg_1)}) |",
        f"| cycle mIoU: generate (25 steps) then segment (5), {len(cycle_masks)} masks | {cycle['miou']:.4f} |",
        f"| the same portraits segmented in 1 step (the shipped default) | {cycle_1['miou']:.4f} (95%: {span(cycle_1)}) |",
        *([f"| the same, portraits generated with the authors' free flow (no label hold) | {free_1['miou']:.4f} |"] if free_1 else []),
        f"| diversity: mean abs. pixel difference between seeds (0..1) | {diversity:.4f} |",
        f"| one 25-step generation, batch 1 (s) | {gen_seconds:.2f} |",
        f"| the same, `channels_last` weights as the app runs them (s) | {gen_seconds_cl:.2f} |",
        "",
        "Intervals: 95% bootstrap over the faces (`symmflow.evaluation.IoUAccumulator.interval`).",
        "",
        "Hardest classes (IoU): " + ", ".join(f"{k} {v:.2f}" for v, k in worst) + ". In the cycle (read in 1 step): "
        + ", ".join(f"{k} {v:.2f}" for v, k in worst_cycle) + ".",
    ]
    write_results(
        "faces",
        {
            "seg_miou_5": round(seg["miou"], 4),
            "seg_miou_1": round(seg_1["miou"], 4),
            "seg_miou_1_interval": round_interval(seg_1["miou_interval"]),
            "cycle_miou_25": round(cycle["miou"], 4),
            "cycle_miou_25_seg1": round(cycle_1["miou"], 4),
            "cycle_miou_25_seg1_interval": round_interval(cycle_1["miou_interval"]),
            "cycle_per_class_iou": cycle_1["per_class"],
            "cycle_miou_25_seg1_free": round(free_1["miou"], 4) if free_1 else None,
            "label_fade": pipe.config.label_fade,
            "diversity": round(diversity, 4),
            "generate_25_seconds": round(gen_seconds, 3),
            "generate_25_seconds_channels_last": round(gen_seconds_cl, 3),
            "per_class_iou": seg["per_class"],
            "held_out_faces": args.count,
            "cycle_masks": len(cycle_masks),
            "checkpoint": checkpoint_name(args.checkpoint),
            "machine": machine(),
        },
        "\n".join(md),
    )


if __name__ == "__main__":
    main()
