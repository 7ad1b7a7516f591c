"""SymmFlow vs the Diffusion Classifier on real handwritten digits, on the SAME network.

    python benchmarks/classification.py [--checkpoint checkpoints/digits] [--subset 100]

SymmFlow classifies by the reverse flow (1, 2, 5, 25 Euler steps) on the whole test split
(scikit-learn digits, last 30% of each class by index: 539 images). The Diffusion Classifier
needs num_classes x trials network evaluations per image, so it runs on a fixed, stratified
subset of the test split (the first --subset // 10 test images of each class), and SymmFlow's
1-step accuracy is also reported on that subset for a like-for-like row. Wall times are per
image on this machine, batched. The other direction, generation, is scored by an independent
reader: an RBF SVM (C = 10) fitted on the training split classifies 30 generated digits per
class (25 steps). Writes benchmarks/results/classification.json and a section
of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from report import ROOT, checkpoint_name, machine, write_results

from symmflow.data.digits import digits_split, digits_to_tensor
from symmflow.diffusion_classifier import diffusion_classify
from symmflow.evaluation import evaluate_classification
from symmflow.pipeline import SymmFlowPipeline

STEPS = (1, 2, 5, 25)
TRIALS = (1, 5, 10, 25, 50, 100)


def generation_fidelity(pipe: SymmFlowPipeline, per_class: int = 30, steps: int = 25, seed: int = 0) -> float:
    """% of generated digits that an RBF SVM fitted on the training split reads as the class asked for."""
    from sklearn.svm import SVC

    train, train_labels = digits_split("train")
    reader = SVC(C=10.0).fit(train.reshape(len(train), -1), train_labels)
    asked = np.repeat(np.arange(pipe.num_classes), per_class)
    images = pipe.generate(list(asked), steps=steps, seed=seed, output_type="np").images  # uint8 [N, 8, 8, 3]
    digits = np.asarray(images, dtype=np.float32)[..., 0] * (16.0 / 255.0)  # back to the data's 0..16
    return round(100.0 * float((reader.predict(digits.reshape(len(digits), -1)) == asked).mean()), 2)


def stratified_subset(labels: np.ndarray, per_class: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in range(int(labels.max()) + 1)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "digits"))
    parser.add_argument("--subset", type=int, default=100, help="test images for the slow baseline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pipe = SymmFlowPipeline.from_pretrained(args.checkpoint)
    raw, labels = digits_split("test")
    images = digits_to_tensor(raw, pipe.image_size)
    torch.set_grad_enabled(False)

    evaluate_classification(pipe, images[:256], labels[:256], (1,), seed=args.seed)  # warm-up, as for the baseline
    symm = evaluate_classification(pipe, images, labels, STEPS, seed=args.seed)
    subset = stratified_subset(labels, args.subset // 10)
    sub_symm = evaluate_classification(pipe, images[subset], labels[subset], (1,), seed=args.seed)[1]

    baseline = {}
    for trials in TRIALS:
        diffusion_classify(pipe, images[subset[:10]], trials=1)  # warm-up
        start = time.perf_counter()
        out = diffusion_classify(pipe, images[subset], trials=trials, seed=args.seed)
        seconds = (time.perf_counter() - start) / len(subset)
        baseline[trials] = {
            "accuracy": round(100.0 * float((out.labels == labels[subset]).mean()), 2),
            "nfe_per_image": out.nfe,
            "seconds_per_image": seconds,
        }

    def clean(row):
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items() if k != "predictions"}

    one = symm[1]
    # the like-for-like comparison: the cheapest baseline row at least as accurate as SymmFlow's
    # 1 step on the same subset (else the most accurate row: SymmFlow beats it at any cost)
    matching = [r for r in baseline.values() if r["accuracy"] >= sub_symm["accuracy"]]
    rival = min(matching, key=lambda r: r["nfe_per_image"]) if matching else max(baseline.values(), key=lambda r: r["accuracy"])
    lines = [f"{'method':<34}{'accuracy %':>11}{'NFE/image':>11}{'ms/image':>10}"]
    for steps, row in symm.items():
        lines.append(f"{f'SymmFlow, {steps} step(s), full test':<34}{row['accuracy']:>11.2f}{row['nfe_per_image']:>11}{1e3 * row['seconds_per_image']:>10.3f}")
    lines.append(f"{'SymmFlow, 1 step, subset':<34}{sub_symm['accuracy']:>11.2f}{sub_symm['nfe_per_image']:>11}{1e3 * sub_symm['seconds_per_image']:>10.3f}")
    for trials, row in baseline.items():
        lines.append(f"{f'Diffusion Classifier, {trials} trials':<34}{row['accuracy']:>11.2f}{row['nfe_per_image']:>11}{1e3 * row['seconds_per_image']:>10.3f}")
    print("\n".join(lines))
    comparison = {
        "baseline_accuracy": rival["accuracy"],
        "baseline_nfe": rival["nfe_per_image"],
        "baseline_at_least_as_accurate": bool(matching),
        "nfe_ratio": rival["nfe_per_image"] / one["nfe_per_image"],
        "wall_time_ratio": round(rival["seconds_per_image"] / one["seconds_per_image"], 1),
    }
    verdict = "the cheapest baseline row at least as accurate as" if matching else "NO baseline row reaches; the most accurate one is below"
    summary = (
        f"SymmFlow 1 step: {sub_symm['accuracy']:.2f}% on the subset; {verdict} it: {rival['accuracy']:.2f}% at "
        f"{rival['nfe_per_image']} NFE. SymmFlow 1 step is {comparison['nfe_ratio']:.0f}x cheaper in network evaluations "
        f"and {comparison['wall_time_ratio']:.0f}x in wall time per image."
    )
    fidelity = generation_fidelity(pipe, seed=args.seed)
    summary += f" Generation: the SVM reads {fidelity:.1f}% of 300 generated digits (25 steps) as the class asked for."
    print("\n" + summary)

    md = [
        "## Classification on real digits: SymmFlow vs the Diffusion Classifier (same network)",
        "",
        f"`python benchmarks/classification.py` on {machine()}. Test split: scikit-learn digits, last 30% of each "
        f"class by index ({len(labels)} images). The Diffusion Classifier runs on a fixed stratified subset "
        f"({len(subset)} images: the first {args.subset // 10} test images of each class); SymmFlow's 1-step row on "
        "that subset is given too. Batched wall time per image.",
        "",
        "| method | images | accuracy % | NFE / image | ms / image |",
        "|---|---:|---:|---:|---:|",
    ]
    md += [f"| SymmFlow, {s} step(s) | {len(labels)} | {r['accuracy']:.2f} | {r['nfe_per_image']} | {1e3 * r['seconds_per_image']:.3f} |" for s, r in symm.items()]
    md.append(f"| SymmFlow, 1 step | {len(subset)} | {sub_symm['accuracy']:.2f} | 1 | {1e3 * sub_symm['seconds_per_image']:.3f} |")
    md += [f"| Diffusion Classifier, {t} trials/class | {len(subset)} | {r['accuracy']:.2f} | {r['nfe_per_image']} | {1e3 * r['seconds_per_image']:.3f} |" for t, r in baseline.items()]
    md += ["", summary]
    write_results(
        "classification",
        {
            "symmflow": {str(s): clean(r) for s, r in symm.items()},
            "symmflow_on_subset": {"1": clean(sub_symm)},
            "diffusion_classifier": {str(t): clean(r) for t, r in baseline.items()},
            "test_size": len(labels),
            "comparison": comparison,
            "generation_svm_agreement": fidelity,
            "baseline_subset_size": len(subset),
            "checkpoint": checkpoint_name(args.checkpoint),
            "machine": machine(),
        },
        "\n".join(md),
    )


if __name__ == "__main__":
    main()
