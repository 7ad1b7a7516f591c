"""How well can a plain segmenter do on the procedural faces? A reference for the face model.

    python benchmarks/faces_reference_segmenter.py [--steps 500]

Trains a 0.94M-parameter full-resolution convolutional U-Net (four levels of 24, 48, 96, 160
channels, no patches) with cross-entropy on the training faces (batch 32, AdamW, one-cycle lr
2e-3), then scores mIoU on the 200 held-out faces exactly as ``benchmarks/faces.py`` does. It is
not a SymmFlow model: it says what the data allows a small network at full resolution, which
the 4x4-patched SymmFlow face model can be compared with class by class. About 1.1 s a step on 2
CPU cores.

Writes benchmarks/results/faces_reference_segmenter.json and a section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from report import machine, write_results
from torch import nn

from symmflow.data.procedural_faces import HELD_OUT_SEED, ProceduralFaces
from symmflow.evaluation import IoUAccumulator
from symmflow.palettes import CELEBAMASK_HQ


def _block(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.SiLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(8, c_out), nn.SiLU(),
    )


class Segmenter(nn.Module):
    """``[B, 3, H, W]`` images in ``[-1, 1]`` -> ``[B, 19, H, W]`` class logits."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 160), classes: int = 19) -> None:
        super().__init__()
        self.down = nn.ModuleList([_block(3, widths[0])] + [_block(a, b) for a, b in zip(widths, widths[1:])])
        self.up = nn.ModuleList(_block(deep + skip, skip) for deep, skip in zip(widths[:0:-1], widths[-2::-1]))
        self.out = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            x = block(torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), skips.pop()], 1))
        return self.out(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--count", type=int, default=200, help="held-out faces")
    args = parser.parse_args()
    torch.manual_seed(0)

    net = Segmenter()
    train, held = ProceduralFaces(10**6, 64, 0), ProceduralFaces(args.count, 64, HELD_OUT_SEED)
    hx = torch.stack([held[i]["image"] for i in range(args.count)])
    hy = torch.stack([held[i]["class_map"] for i in range(args.count)])
    opt = torch.optim.AdamW(net.parameters(), 2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=args.steps, pct_start=0.05)
    start = time.perf_counter()
    for step in range(args.steps):
        items = [train[step * 32 + j] for j in range(32)]
        x = torch.stack([it["image"] for it in items])
        y = torch.stack([it["class_map"] for it in items])
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    seconds = time.perf_counter() - start

    net.eval()
    acc = IoUAccumulator(CELEBAMASK_HQ.num_classes, CELEBAMASK_HQ.ignore_index)
    with torch.no_grad():
        predicted = torch.cat([net(hx[i : i + 50]).argmax(1) for i in range(0, args.count, 50)])
    for p, t in zip(predicted.numpy(), hy.numpy()):
        acc.update(p, t)
    per_class = {
        name: (None if np.isnan(v) or k == CELEBAMASK_HQ.ignore_index else round(float(v), 4))
        for k, (name, v) in enumerate(zip(CELEBAMASK_HQ.class_names, acc.per_class()))
    }
    print(f"mIoU on {args.count} held-out faces after {args.steps} steps ({seconds:.0f} s): {acc.mean():.4f}")

    md = [
        "## Faces: a plain full-resolution segmenter, for reference",
        "",
        f"`python benchmarks/faces_reference_segmenter.py --steps {args.steps}` on {machine()}: "
        f"a 0.94M-parameter convolutional U-Net at full resolution, cross-entropy, batch 32, "
        f"{args.steps} steps ({seconds:.0f} s); {args.count} held-out faces. Not a SymmFlow model: "
        "what the data allows a small full-resolution network.",
        "",
        f"mIoU **{acc.mean():.4f}**; per class: " + ", ".join(f"{k} {v:.2f}" for k, v in per_class.items() if v is not None),
    ]
    write_results(
        "faces_reference_segmenter",
        {"miou": round(acc.mean(), 4), "per_class_iou": per_class, "steps": args.steps,
         "train_seconds": round(seconds, 1), "held_out_faces": args.count, "machine": machine()},
        "\n".join(md),
    )


if __name__ == "__main__":
    main()
