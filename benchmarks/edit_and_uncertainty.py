"""Edit-and-regenerate with pinning, and segmentation uncertainty, with the shipped face model.

    python benchmarks/edit_and_uncertainty.py [--checkpoint checkpoints/faces] [--count 200] [--samples 8]

Held-out procedural faces (seeds from ``HELD_OUT_SEED``), at the model's resolution. Figures:

* ``unedited_max_abs_error``: 8 faces are segmented (the model's default steps), their hair
  repainted as a hat, and regenerated (25 steps) with :func:`symmflow.editing.regenerate`: the
  largest difference (grey levels 0..255, any channel) between portrait and photo outside the
  dilated edit region (:func:`~symmflow.editing.edit_region`). Beside it the same edit with the
  recovered noise mixed into the initial state only (fresh inside the region, no pinning: what
  the app did before), and how much of the repainted region the model then reads as a hat
  (``repainted_read_as_hat``; ``..._label_held``: regenerated holding the label, for a model
  whose config sets ``label_fade``; ``regenerate`` lets it flow by default).
* ``uncertainty_error_ratio``: on ``--count`` faces, the answer is the one-step posterior mean;
  ``--samples`` posterior samples (``--sample-steps`` steps each, batched, one seed each) give each
  pixel a disagreement (:func:`symmflow.uncertainty.disagreement`). Pixels ranked by it (ties in a
  fixed random order), the 10% most uncertain hold this many times the error rate (answer !=
  truth) of the other 90%. Also on face pixels only (truth not background).

Writes benchmarks/results/edit_uncertainty.json and a section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import time

import numpy as np
import torch
from report import ROOT, machine, write_results

from symmflow.data.procedural_faces import HELD_OUT_SEED, generate_faces
from symmflow.editing import changed_region, edit_region, regenerate
from symmflow.palettes import CELEBAMASK_HQ
from symmflow.pipeline import SymmFlowPipeline
from symmflow.uncertainty import disagreement, sample_masks

HAIR, HAT = CELEBAMASK_HQ.class_names.index("hair"), CELEBAMASK_HQ.class_names.index("hat")
TOP_SHARE = 0.10


def weights_id(checkpoint: str) -> dict:
    """Which weights: the safetensors file's SHA-256 (first 12) and the last commit that touched them."""
    path = ROOT / checkpoint / "model" / "diffusion_pytorch_model.safetensors"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else None
    try:
        commit = subprocess.run(["git", "log", "-1", "--format=%h %cI", "--", checkpoint], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"sha256_12": digest, "last_commit": commit or None}


def edit_figures(pipe: SymmFlowPipeline, count: int, steps: int) -> dict:
    images, _ = generate_faces(count, size=pipe.image_size, seed=HELD_OUT_SEED)
    seg = pipe.segment(list(images), seed=0, output_type="np")
    old = seg.class_maps
    new = [np.where(m == HAIR, HAT, m) for m in old]
    changed = np.stack([changed_region(n, o) for n, o in zip(new, old)])
    region = edit_region(changed, pipe.image_size)  # [B, 1, S, S]
    out = regenerate(pipe, new, list(images), seg.image_noise, changed, steps=steps, seed=0, output_type="np")
    # before: recovered noise outside the region at t = 0 only, fresh inside, then a free flow
    fresh = torch.randn(seg.image_noise.shape, generator=torch.Generator().manual_seed(0))
    mixed = pipe.generate(new, steps=steps, noise=torch.where(region, fresh, seg.image_noise), output_type="np",
                          hold_label=False)
    photo = images.astype(np.int64)
    outside = ~region[:, 0].numpy()
    inside = region[:, 0].numpy()

    def errors(portraits: np.ndarray) -> tuple[int, float, float]:
        diff = np.abs(portraits.astype(np.int64) - photo).max(axis=-1)  # [B, S, S], worst channel
        return int(diff[outside].max()), float(diff[outside].mean()), float(diff[inside].mean())

    pinned, unpinned = errors(out.images), errors(mixed.images)
    def read_as_hat(portraits: np.ndarray) -> float:
        reread = pipe.segment(list(portraits), steps=1, seed=0, output_type="np").class_maps
        return float(np.mean([(r == HAT)[c].mean() for r, c in zip(reread, changed) if c.any()]))

    hat_share = read_as_hat(out.images)
    held = None
    if pipe.config.label_fade is not None:  # regenerate flows freely by default; what holding the label gives
        held = read_as_hat(regenerate(pipe, new, list(images), seg.image_noise, changed, steps=steps, seed=0,
                                      output_type="np", hold_label=True).images)
    return {
        "faces": count, "faces_with_hair": int(sum(c.any() for c in changed)), "generate_steps": steps,
        "edited_share": float(inside.mean()),
        "unedited_max_abs_error": pinned[0], "unedited_mean_abs_error": round(pinned[1], 3),
        "edited_mean_abs_change": round(pinned[2], 2),
        "initial_noise_only_max_abs_error": unpinned[0], "initial_noise_only_mean_abs_error": round(unpinned[1], 2),
        "repainted_read_as_hat": round(hat_share, 4),
        "repainted_read_as_hat_label_held": None if held is None else round(held, 4),
    }


def uncertainty_figures(pipe: SymmFlowPipeline, count: int, samples: int, steps: int, chunk: int) -> dict:
    images, truth = generate_faces(count, size=pipe.image_size, seed=HELD_OUT_SEED)
    answers, spreads = [], []
    for start in range(0, count, chunk):
        batch = list(images[start : start + chunk])
        answers += pipe.segment(batch, steps=1, seed=0, output_type="np").class_maps
        drawn, _ = sample_masks(pipe, batch, samples, steps=steps, seed=0)
        spreads += [disagreement(m) for m in drawn]
    wrong = (np.stack(answers) != truth).ravel()
    spread = np.stack(spreads).ravel()
    face = (truth != CELEBAMASK_HQ.ignore_index).ravel()
    tie_break = np.random.default_rng(0).random(spread.size)

    def ratio(keep: np.ndarray) -> tuple[float, float, float]:
        u, w, r = spread[keep], wrong[keep], tie_break[keep]
        order = np.lexsort((r, -u))  # most uncertain first; ties in a fixed random order
        top = np.zeros(u.size, bool)
        top[order[: int(round(TOP_SHARE * u.size))]] = True
        return float(w[top].mean()), float(w[~top].mean()), float(w[top].mean() / max(w[~top].mean(), 1e-12))

    top_all, rest_all, ratio_all = ratio(np.ones_like(face))
    top_face, rest_face, ratio_face = ratio(face)
    levels = {f"{k}/{samples}": (round(float(wrong[np.isclose(spread, k / samples)].mean()), 4) if np.isclose(spread, k / samples).any() else None,
                                 round(float(np.isclose(spread, k / samples).mean()), 4)) for k in range(samples)}
    return {
        "faces": count, "samples": samples, "sample_steps": steps, "answer_steps": 1,
        "uncertainty_error_ratio": round(ratio_all, 2), "top_error_rate": round(top_all, 4), "rest_error_rate": round(rest_all, 4),
        "face_pixels_error_ratio": round(ratio_face, 2), "face_top_error_rate": round(top_face, 4),
        "face_rest_error_rate": round(rest_face, 4),
        "answer_error_rate": round(float(wrong.mean()), 4), "share_with_disagreement": round(float((spread > 0).mean()), 4),
        "error_rate_and_share_by_disagreement": levels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/faces", help="pipeline folder, relative to the repository")
    parser.add_argument("--edit-count", type=int, default=8, help="held-out faces to edit")
    parser.add_argument("--generate-steps", type=int, default=25)
    parser.add_argument("--count", type=int, default=200, help="held-out faces for the uncertainty figure")
    parser.add_argument("--samples", type=int, default=8, help="posterior samples per face (K)")
    parser.add_argument("--sample-steps", type=int, default=5, help="Euler steps per posterior sample")
    parser.add_argument("--chunk", type=int, default=25, help="faces per batch (x K samples)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    pipe = SymmFlowPipeline.from_pretrained(ROOT / args.checkpoint)
    weights = weights_id(args.checkpoint)
    t0 = time.perf_counter()
    edit = edit_figures(pipe, args.edit_count, args.generate_steps)
    t1 = time.perf_counter()
    unc = uncertainty_figures(pipe, args.count, args.samples, args.sample_steps, args.chunk)
    t2 = time.perf_counter()

    rows = [
        ("unedited region, max abs difference from the photo (0..255), pinned at every step", edit["unedited_max_abs_error"]),
        ("unedited region, mean abs difference, pinned", f"{edit['unedited_mean_abs_error']:.3f}"),
        ("unedited region, max / mean abs difference, recovered noise at t = 0 only (before)",
         f"{edit['initial_noise_only_max_abs_error']} / {edit['initial_noise_only_mean_abs_error']:.2f}"),
        ("edited region (dilated), mean abs change", f"{edit['edited_mean_abs_change']:.2f}"),
        ("repainted pixels read back as hat (1 step)", f"{edit['repainted_read_as_hat']:.3f}"),
        *([("the same, regenerated holding the label (the model's label_fade)", f"{edit['repainted_read_as_hat_label_held']:.3f}")]
          if edit["repainted_read_as_hat_label_held"] is not None else []),
        (f"error rate of the {TOP_SHARE:.0%} most uncertain pixels / the rest (all pixels)",
         f"{unc['top_error_rate']:.4f} / {unc['rest_error_rate']:.4f} = **{unc['uncertainty_error_ratio']:.2f}x**"),
        (f"the same on face pixels (truth not background)",
         f"{unc['face_top_error_rate']:.4f} / {unc['face_rest_error_rate']:.4f} = {unc['face_pixels_error_ratio']:.2f}x"),
        ("pixels where the samples disagree at all", f"{unc['share_with_disagreement']:.4f}"),
        ("error rate of the answer (one step)", f"{unc['answer_error_rate']:.4f}"),
    ]
    print(f"{'figure':<95} value")
    for name, value in rows:
        print(f"{name:<95} {value}")
    print(f"(edit {t1 - t0:.0f} s, uncertainty {t2 - t1:.0f} s on {machine()}; weights {weights})")
    md = [
        "## Faces: edit and regenerate (pinned), segmentation uncertainty",
        "",
        f"`python benchmarks/edit_and_uncertainty.py` on {machine()}; `{args.checkpoint}` (weights sha256 "
        f"{weights['sha256_12']}, last commit {weights['last_commit']}). Edit: {edit['faces']} held-out faces "
        f"({edit['faces_with_hair']} with hair), segmented at the model's default steps, hair repainted as hat, "
        f"regenerated at {edit['generate_steps']} steps ({edit['edited_share']:.1%} of pixels in the dilated edit region). "
        f"Uncertainty: {unc['faces']} held-out faces, the answer at 1 step, {unc['samples']} posterior samples at "
        f"{unc['sample_steps']} steps each. {t1 - t0:.0f} s + {t2 - t1:.0f} s.",
        "",
        "| figure | value |",
        "|---|---:|",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        "Error rate (share of pixels) by disagreement, all pixels: "
        + ", ".join(f"{k}: {v[0]} ({v[1]:.1%} of pixels)" for k, v in unc["error_rate_and_share_by_disagreement"].items() if v[0] is not None),
    ]
    write_results(
        "edit_uncertainty",
        {
            "unedited_max_abs_error": edit["unedited_max_abs_error"],
            "uncertainty_error_ratio": unc["uncertainty_error_ratio"],
            "edit": edit, "uncertainty": unc, "checkpoint": args.checkpoint, "weights": weights,
            "seconds": {"edit": round(t1 - t0, 1), "uncertainty": round(t2 - t1, 1)}, "machine": machine(),
        },
        "\n".join(md),
    )


if __name__ == "__main__":
    main()
