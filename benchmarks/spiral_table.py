"""The paper's spiral table: classification accuracy by the reverse flow vs Euler steps.

    python benchmarks/spiral_table.py            # evaluate the shipped checkpoints (< 60 s)
    python benchmarks/spiral_table.py --train    # retrain both from scratch first, timed

Evaluates on a fresh, seeded 10,000-point test set (never seen in training: training draws
its batches from another seed) and writes benchmarks/results/spiral.json and a section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

from report import ROOT, machine, write_results

from symmflow.cli import main as cli_main
from symmflow.models import ResidualMLP
from symmflow.spiral import accuracy_by_steps
from symmflow.spiral.presets import SPIRAL_PRESETS

PAPER = {"1": 100.0, "2": 92.0, "5": 87.0, "10": 83.6, "20": 82.6, "50": 82.0}
STEPS = (1, 2, 5, 10, 20, 50)
CHECKPOINTS = {"faithful": ROOT / "checkpoints" / "spiral-faithful", "fast": ROOT / "checkpoints" / "spiral"}
DEFAULT_MODEL = "fast"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true", help="retrain the checkpoints from scratch first")
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1234, help="seed of the test set and the noise")
    args = parser.parse_args()

    if args.train:
        for name, path in CHECKPOINTS.items():
            cli_main(["spiral", "train", "--preset", name, "--out", str(path), "--quiet"])

    models = {}
    start = time.perf_counter()
    for name, path in CHECKPOINTS.items():
        model = ResidualMLP.from_pretrained(path)
        info = ResidualMLP.training_info(path)
        acc = accuracy_by_steps(model, STEPS, test_size=args.test_size, seed=args.seed)
        models[name] = {
            "checkpoint": str(path.relative_to(ROOT)),
            "description": SPIRAL_PRESETS[name].description,
            "parameters": sum(p.numel() for p in model.parameters()),
            "accuracy": {str(k): round(v, 2) for k, v in acc["classification"].items()},
            "generation_on_arm": {str(k): round(v, 2) for k, v in acc["generation"].items()},
            "train_seconds": info.get("train_seconds"),
            "trained_with_threads": info.get("torch_threads"),
        }
    eval_seconds = time.perf_counter() - start

    rows = [("paper", PAPER, None)] + [(n, m["accuracy"], m["train_seconds"]) for n, m in models.items()]
    header = f"{'model':<10}" + "".join(f"{s:>8}" for s in STEPS) + f"{'train s':>10}"
    lines = [header, "-" * len(header)]
    for name, row, seconds in rows:
        cells = "".join(f"{row[str(s)]:>8.2f}" for s in STEPS)
        lines.append(f"{name:<10}{cells}{(f'{seconds:.0f}' if seconds else '-'):>10}")
    print("\n".join(lines))
    print(f"\ntest set: {args.test_size} fresh points (seed {args.seed}); evaluated in {eval_seconds:.1f} s on {machine()}")

    md = [
        "## Spiral toy: accuracy (%) of classification by the reverse flow",
        "",
        f"`python benchmarks/spiral_table.py` on {machine()}; {args.test_size} fresh test points "
        f"(seed {args.seed}), Euler steps. `train s`: wall time of `symmflow spiral train` for that checkpoint.",
        "",
        "| model | " + " | ".join(str(s) for s in STEPS) + " | params | train s |",
        "|---|" + "---:|" * (len(STEPS) + 2),
        "| paper | " + " | ".join(f"{PAPER[str(s)]:.1f}" for s in STEPS) + " | ~1.6k | |",
    ]
    for name, m in models.items():
        tag = f"{name} (default)" if name == DEFAULT_MODEL else name
        md.append(
            f"| {tag} | " + " | ".join(f"{m['accuracy'][str(s)]:.2f}" for s in STEPS)
            + f" | {m['parameters']:,} | {m['train_seconds'] or 0:.0f} |"
        )
    md += [
        "",
        "Generated points that land nearest the arm of their label (%): "
        + "; ".join(f"{n}: " + ", ".join(f"{s} steps {m['generation_on_arm'][str(s)]:.1f}" for s in (1, 5, 50))
                    for n, m in models.items()),
    ]
    write_results(
        "spiral",
        {
            "paper": PAPER,
            # per-model figures under "models": the faithful one reproduces the paper's table,
            # the app runs the default
            "reproduces_paper": "faithful",
            "default_model": DEFAULT_MODEL,
            "models": models,
            "test_size": args.test_size,
            "seed": args.seed,
            "eval_seconds": round(eval_seconds, 2),
            "machine": machine(),
        },
        "\n".join(md),
    )


if __name__ == "__main__":
    main()
