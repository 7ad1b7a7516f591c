"""Choose how far a class-balanced one-hot model's readout is shifted back to the plain prior.

A model trained with ``train.class_balance`` (each pixel's label error weighted by
``w_k = f_k ** -exponent`` of its true class) reads out scores proportional to
``p(k | image) w_k``: rare classes are over-predicted, which costs precision where they are
absent. Decoding the argmax of ``q_k / w_k ** gamma`` (:class:`symmflow.codecs.OneHotCodec`'s
``decode_weights``) moves part of the way back; ``gamma = 1`` undoes the weighting entirely.

This script rebuilds ``w`` exactly as the trainer did (the class frequencies of the training
data named in ``model/training.json``), measures segmentation mIoU at 1 step on held-out
procedural faces (``HELD_OUT_SEED``, never training data, never real photos) for each
``gamma``, prints the table, and with ``--write`` stores the best ``w ** gamma`` as
``decode_weights`` in the folder's ``pipeline.json``.

    python scripts/calibrate_decoding.py checkpoints/faces --write

Procedural faces wear what photographs rarely show in the same way: the renderer hangs earrings
and necklaces on far more faces than CelebAMask-HQ's photos label them, and a model taught there
reads a lit ear lobe or a bright band across a neck as jewellery. With ``--photos`` the script
then divides the readout of ``--photo-classes`` further (their decode weights times each of
``--factors``), measures mIoU on the first ``--photo-limit`` real CelebAMask-HQ pairs of that folder
(``NAME.jpg`` beside ``NAME.png``, read as users get them: faces found and aligned, 1 step, seed 0)
and keeps the best factor. Judge the result on other photos than the ones it was chosen on.

    python scripts/calibrate_decoding.py checkpoints/faces --gammas 0.5 --photos PAIRS --write
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from symmflow.data.datasets import PairFolder  # noqa: E402
from symmflow.data.procedural_faces import HELD_OUT_SEED, generate_faces  # noqa: E402
from symmflow.evaluation import IoUAccumulator, evaluate_segmentation  # noqa: E402
from symmflow.pipeline import SymmFlowPipeline  # noqa: E402
from symmflow.pipeline_config import PIPELINE_CONFIG_NAME  # noqa: E402
from symmflow.training.balance import class_balance_weights, class_frequencies  # noqa: E402
from symmflow.training.config import DataConfig  # noqa: E402
from symmflow.training.trainer import build_dataset  # noqa: E402


def trained_class_weights(folder: Path, num_classes: int) -> torch.Tensor:
    """The ``w_k`` ``[K]`` the trainer weighted the label loss with: as ``model/training.json``
    recorded them, or (runs older than that record) recounted on the data its config names, with a
    warning, since the renderer may have changed since the model was trained."""
    info = json.loads((folder / "model" / "training.json").read_text())
    config = info["config"]
    exponent = config["train"].get("class_balance", 0.0)
    if not exponent:
        raise SystemExit(f"{folder} was trained without class balancing: there is no prior shift to undo")
    if info.get("class_weights") is not None:
        weights = torch.tensor(info["class_weights"], dtype=torch.float32)
        if weights.shape != (num_classes,):
            raise SystemExit(f"{folder}/model/training.json records {len(weights)} class weights for a {num_classes}-class model")
        return weights
    print(
        f"warning: {folder}/model/training.json does not record its class weights; recounting them on "
        "the data its config names, as the renderer draws it today", file=sys.stderr,
    )
    dataset = build_dataset(DataConfig(**config["data"]))
    return class_balance_weights(class_frequencies(dataset, num_classes), exponent)


PHOTO_LIMIT, PHOTO_CLASSES, FACTORS = 500, "ear_r,neck_l", "1,2,3,4"
"""Defaults of ``--photo-limit``, ``--photo-classes`` and ``--factors`` (which need ``--photos``)."""


def parse_gammas(text: str) -> list[float]:
    """``"0,0.5,1"`` -> ``[0.0, 0.5, 1.0]``; anything else, or a value outside [0, 1], exits."""
    try:
        gammas = [float(g) for g in text.split(",")]
    except ValueError:
        raise SystemExit(f"--gammas takes comma-separated numbers in [0, 1], e.g. 0,0.5,1; got {text!r}") from None
    if not all(0 <= g <= 1 for g in gammas):
        raise SystemExit(f"--gammas must lie in [0, 1] (0: plain argmax, 1: the weighting undone); got {text!r}")
    return gammas


def parse_factors(text: str) -> list[float]:
    """``"1,2,4"`` -> ``[1.0, 2.0, 4.0]``; anything else, or a factor under 1 or infinite, exits."""
    try:
        factors = [float(f) for f in text.split(",")]
    except ValueError:
        raise SystemExit(f"--factors takes comma-separated numbers of at least 1, e.g. 1,2,4; got {text!r}") from None
    if not all(math.isfinite(f) and f >= 1 for f in factors):
        raise SystemExit(f"--factors must be finite and at least 1 (1: the readout as it is, 2: divided by 2); got {text!r}")
    return factors


def photo_class_ids(pipe: SymmFlowPipeline, text: str) -> list[int]:
    """``"ear_r,neck_l"`` -> their class ids in the pipeline's palette; an unknown name exits."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in pipe.palette.class_names]
    if not names or unknown:
        raise SystemExit(f"--photo-classes takes class names of the {pipe.palette.name} palette "
                         f"({', '.join(pipe.palette.class_names)}); got {text!r}")
    return [pipe.palette.class_names.index(n) for n in names]


def photo_miou(pipe: SymmFlowPipeline, pairs: PairFolder) -> float:
    """Macro mIoU (background ignored) of 1-step readouts of ``pairs``' photos, faces aligned."""
    palette = pipe.palette
    acc = IoUAccumulator(palette.num_classes, palette.ignore_index)
    for photo, truth in pairs:
        acc.update(pipe.segment_photo(photo, align="auto", steps=1, seed=0).labels, truth)
    return acc.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="pipeline folder of a one-hot segmentation model")
    parser.add_argument("--count", type=int, default=200, help="held-out procedural faces")
    parser.add_argument("--gammas", default="0,0.25,0.5,0.75,1", help="comma-separated exponents in [0, 1]")
    parser.add_argument("--photos", type=Path, help="folder of real CelebAMask-HQ pairs (NAME.jpg beside NAME.png): "
                        "choose a further division of --photo-classes on them")
    parser.add_argument("--photo-limit", type=int, help=f"the first pairs by name to choose on (default {PHOTO_LIMIT})")
    parser.add_argument("--photo-classes", help=f"comma-separated class names (default {PHOTO_CLASSES})")
    parser.add_argument("--factors", help=f"comma-separated divisions of those classes' readout (default {FACTORS})")
    parser.add_argument("--write", action="store_true", help="store the best decode_weights in pipeline.json")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    gammas = parse_gammas(args.gammas)
    given = [f"--{name.replace('_', '-')}" for name in ("photo_limit", "photo_classes", "factors") if getattr(args, name) is not None]
    if args.photos is None and given:
        raise SystemExit(f"{', '.join(given)} choose(s) the readout division on real photos: name them with --photos DIR")
    factors = parse_factors(args.factors or FACTORS)
    photo_classes = args.photo_classes or PHOTO_CLASSES
    if args.count < 1:
        raise SystemExit(f"--count must be at least 1, got {args.count}")
    pipe = SymmFlowPipeline.from_pretrained(args.folder)
    if pipe.config.label_encoding != "onehot":
        raise SystemExit(f"{args.folder}: decode_weights apply to one-hot models, this one is {pipe.config.label_encoding!r}")
    if pipe.config.palette != "celebamask_hq":
        raise SystemExit(f"{args.folder}: held-out procedural faces measure CelebAMask-HQ face models, this one's palette is {pipe.config.palette!r}")
    pairs = classes = None
    if args.photos is not None:  # checked before any measuring, every mask included
        classes = photo_class_ids(pipe, photo_classes)
        try:
            pairs = PairFolder(args.photos, PHOTO_LIMIT if args.photo_limit is None else args.photo_limit)
            for i in range(len(pairs)):
                pairs.mask(i)
        except ValueError as error:
            raise SystemExit(f"--photos: {error}") from None
    weights = trained_class_weights(args.folder, pipe.num_classes)
    # the renderer draws faces mirror-symmetrically, so a class and its mirror class (l_eye and
    # r_eye, ...) differ in frequency only by chance: one weight for both keeps the decoding of a
    # mirror-averaged readout exactly symmetric
    weights = (weights + weights[pipe.palette.mirror_permutation()]) / 2
    images, masks = generate_faces(args.count, size=pipe.image_size, seed=HELD_OUT_SEED)
    rows = []
    for gamma in gammas:
        pipe.codec.decode_weights = weights**gamma
        rows.append((gamma, evaluate_segmentation(pipe, list(images), list(masks), steps=1)["miou"]))
        print(f"gamma {gamma:4.2f}   mIoU at 1 step ({args.count} held-out faces) {rows[-1][1]:.4f}", flush=True)
    gamma, best = max(rows, key=lambda r: r[1])
    plain = f"; plain argmax {dict(rows)[0.0]:.4f}" if 0.0 in dict(rows) else ""  # only when gamma 0 was run
    print(f"best: gamma {gamma:g} ({best:.4f}{plain})")
    decode = weights**gamma
    factor = 1.0
    if pairs is not None:
        photo_rows = []
        for factor in factors:
            scaled = decode.clone()
            scaled[classes] *= factor
            pipe.codec.decode_weights = scaled
            photo_rows.append((factor, photo_miou(pipe, pairs)))
            print(f"{photo_classes} readout / {factor:g}   mIoU at 1 step ({len(pairs)} photos) {photo_rows[-1][1]:.4f}",
                  flush=True)
        factor, best = max(photo_rows, key=lambda r: r[1])
        print(f"best on the photos: {photo_classes} readout / {factor:g} ({best:.4f})")
        decode[classes] *= factor
    if args.write:
        path = args.folder / PIPELINE_CONFIG_NAME
        data = json.loads(path.read_text())
        data["decode_weights"] = [round(float(v), 5) for v in decode] if gamma or factor != 1 else None
        data = {k: v for k, v in data.items() if v is not None}
        path.write_text(json.dumps(data, indent=2) + "\n")
        further = f", {photo_classes} divided by {factor:g} more" if factor != 1 else ""
        print(f"wrote decode_weights (gamma {gamma:g}{further}) to {path}")


if __name__ == "__main__":
    main()
