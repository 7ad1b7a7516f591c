"""Choose how a face model holds the label while it generates (``label_fade``).

The authors' inference lets the label half flow into noise as the image forms; a small model
then drops the parts one or two pixels wide (glasses frames, earrings, necklaces).
:mod:`symmflow.conditioning` holds the label half noise-free at ``(1 - fade * t) y`` instead.
This script measures, for the authors' free flow and each ``fade``, the cycle mIoU (generate a
portrait from each mask in 25 steps, read it back with the same model in its default
segmentation steps, score against the mask) on **validation** procedural faces
(``VALIDATION_SEED``: neither training nor the held-out faces the benchmarks report), prints
the table, and with ``--write`` stores the best choice as ``label_fade`` in the folder's
``pipeline.json`` (removes it when the free flow wins).

    python scripts/calibrate_label_fade.py checkpoints/faces --write
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from symmflow.data.procedural_faces import VALIDATION_SEED, generate_faces  # noqa: E402
from symmflow.evaluation import evaluate_cycle  # noqa: E402
from symmflow.io import write_json_atomic  # noqa: E402
from symmflow.pipeline import SymmFlowPipeline  # noqa: E402
from symmflow.pipeline_config import PIPELINE_CONFIG_NAME, check_label_fade  # noqa: E402


def parse_fades(text: str) -> list[float | None]:
    """``"free,1,0.75"`` -> ``[None, 1.0, 0.75]`` (``free``: the authors' flow); anything else exits."""
    fades: list[float | None] = []
    for item in text.split(","):
        if item.strip() == "free":
            fades.append(None)
            continue
        try:
            fades.append(check_label_fade(float(item)))
        except ValueError:
            raise SystemExit(f"--fades takes 'free' and numbers in [0, 1], comma-separated; got {item!r} in {text!r}") from None
    return fades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="pipeline folder of a CelebAMask-HQ face model")
    # 100 faces leave enough noise to reorder fades a few thousandths apart (README, label fade)
    parser.add_argument("--count", type=int, default=300, help="validation faces (default 300)")
    parser.add_argument("--fades", default="free,0.9999,0.85,0.75,0.65,0.5", help="'free' and fades in [0, 1], comma-separated")
    parser.add_argument("--write", action="store_true", help="store the best choice as label_fade in pipeline.json")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    fades = parse_fades(args.fades)
    if args.count < 1:
        raise SystemExit(f"--count must be at least 1, got {args.count}")
    pipe = SymmFlowPipeline.from_pretrained(args.folder)
    if pipe.config.task != "segmentation" or pipe.config.palette != "celebamask_hq":
        raise SystemExit(f"{args.folder}: validation procedural faces measure CelebAMask-HQ face models")
    _, masks = generate_faces(args.count, size=pipe.image_size, seed=VALIDATION_SEED)
    read_steps = pipe.default_steps["segment"]
    rows = []
    for fade in fades:
        pipe.config.label_fade = fade  # the setting being measured: generate() holds at it, or flows for None
        t0 = time.perf_counter()
        score = evaluate_cycle(pipe, list(masks), generate_steps=25, segment_steps=read_steps)["miou"]
        rows.append((fade, score))
        name = "free (authors')" if fade is None else f"fade {fade:g}"
        print(f"{name:16s} cycle mIoU, 25 steps, read in {read_steps} ({args.count} validation faces) {score:.4f}"
              f"   {time.perf_counter() - t0:.0f} s", flush=True)
    fade, best = max(rows, key=lambda r: r[1])
    print(f"best: {'free' if fade is None else f'fade {fade:g}'} ({best:.4f})")
    if args.write:
        pipe.config.label_fade = fade
        path = args.folder / PIPELINE_CONFIG_NAME
        write_json_atomic(path, pipe.config.to_dict())
        print(f"wrote label_fade {fade} to {path}")


if __name__ == "__main__":
    main()
