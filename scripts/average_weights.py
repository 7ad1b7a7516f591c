"""Average the network weights of pipeline folders trained from the same starting weights.

Runs fine-tuned from one set of weights with different seeds (different faces, noise and
order) end in the same basin, where the mean of their weights is usually better than either
("model soup", Wortsman et al. 2022). The first folder gives everything but the weights
(pipeline.json, training.json); the others must hold the same architecture.

    python scripts/average_weights.py runs/faces-stage11/pipeline runs/faces-stage11b/pipeline --out runs/faces-stage11-mean

then ``python scripts/calibrate_decoding.py runs/faces-stage11-mean --write`` (decode_weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from symmflow.pipeline import SymmFlowPipeline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="pipeline folders, at least two")
    parser.add_argument("--out", type=Path, required=True, help="new pipeline folder (must not exist)")
    args = parser.parse_args()
    if len(args.folders) < 2:
        raise SystemExit("give at least two pipeline folders to average")
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; name a new folder")
    pipes = [SymmFlowPipeline.from_pretrained(f) for f in args.folders]
    states = [p.model.state_dict() for p in pipes]
    for folder, state in zip(args.folders[1:], states[1:]):
        if state.keys() != states[0].keys() or any(state[k].shape != states[0][k].shape for k in state):
            raise SystemExit(f"{folder} holds another architecture than {args.folders[0]}")
    mean = {k: sum(s[k].float() for s in states) / len(states) if states[0][k].is_floating_point() else states[0][k]
            for k in states[0]}
    pipes[0].model.load_state_dict(mean)
    info = json.loads((args.folders[0] / "model" / "training.json").read_text())
    info["averaged_from"] = [str(f) for f in args.folders]
    pipes[0].save_pretrained(args.out, training_info=info)
    print(f"wrote the mean of {len(states)} networks to {args.out}")


if __name__ == "__main__":
    main()
