"""Command-line interface: ``symmflow <command>`` (or ``python -m symmflow <command>``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["main"]

DEFAULT_SPIRAL_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "spiral"


def _spiral_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from symmflow.models import ResidualMLP
    from symmflow.spiral import accuracy_by_steps, train_spiral
    from symmflow.spiral.presets import SPIRAL_PRESETS

    preset = SPIRAL_PRESETS[args.preset]
    overrides = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    config = replace(preset.train, **overrides)
    torch.manual_seed(config.seed)
    model = ResidualMLP(**preset.model)
    print(f"training spiral preset {args.preset!r}: {preset.description}")
    info = train_spiral(model, config, progress=not args.quiet)
    info["preset"] = args.preset
    info["parameters"] = sum(p.numel() for p in model.parameters())
    info["accuracy_1_step"] = round(accuracy_by_steps(model, steps_list=(1,))["classification"][1], 2)
    model.save_pretrained(args.out, training_info=info)
    print(
        f"saved {args.out}: {info['parameters']} parameters, {info['train_seconds']:.1f} s, "
        f"final loss {info['final_loss']:.4f}, 1-step accuracy {info['accuracy_1_step']:.2f}%"
    )
    return 0


def _spiral_eval(args: argparse.Namespace) -> int:
    from symmflow.models import ResidualMLP
    from symmflow.spiral import accuracy_by_steps

    model = ResidualMLP.from_pretrained(args.checkpoint)
    result = accuracy_by_steps(model, args.steps, test_size=args.test_size, seed=args.seed, method=args.solver)
    print(f"{'steps':>6} {'classification %':>17} {'generation %':>13}")
    for steps in args.steps:
        print(f"{steps:>6} {result['classification'][steps]:>17.2f} {result['generation'][steps]:>13.2f}")
    return 0


def _spiral_plot(args: argparse.Namespace) -> int:
    from symmflow.models import ResidualMLP
    from symmflow.spiral.plot import flows_figure

    model = ResidualMLP.from_pretrained(args.checkpoint)
    fig = flows_figure(model, steps=args.steps, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=args.dpi, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symmflow", description="Symmetrical Flow Matching tools")
    commands = parser.add_subparsers(dest="command", required=True)

    spiral = commands.add_parser("spiral", help="the paper's 2-D spiral toy").add_subparsers(
        dest="action", required=True
    )
    from symmflow.spiral.presets import SPIRAL_PRESETS

    train = spiral.add_parser("train", help="train a spiral model and save it as a checkpoint")
    train.add_argument("--preset", choices=sorted(SPIRAL_PRESETS), default="fast")
    train.add_argument("--out", type=Path, default=DEFAULT_SPIRAL_CHECKPOINT)
    train.add_argument("--steps", type=int, help="override the preset's number of training steps")
    train.add_argument("--seed", type=int, help="override the preset's seed")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_spiral_train)

    evaluate = spiral.add_parser("eval", help="accuracy of both flows on a fresh test set")
    evaluate.add_argument("--checkpoint", default=str(DEFAULT_SPIRAL_CHECKPOINT))
    evaluate.add_argument("--steps", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50])
    evaluate.add_argument("--test-size", type=int, default=10_000)
    evaluate.add_argument("--seed", type=int, default=1234)
    evaluate.add_argument("--solver", choices=["euler", "heun"], default="euler")
    evaluate.set_defaults(func=_spiral_eval)

    plot = spiral.add_parser("plot", help="draw both flows (matplotlib) to an image file")
    plot.add_argument("--checkpoint", default=str(DEFAULT_SPIRAL_CHECKPOINT))
    plot.add_argument("--out", type=Path, default=Path("assets/spiral_flows.png"))
    plot.add_argument("--steps", type=int, default=50)
    plot.add_argument("--seed", type=int, default=0)
    plot.add_argument("--dpi", type=int, default=120)
    plot.set_defaults(func=_spiral_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # bad input or checkpoint: one readable line, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
