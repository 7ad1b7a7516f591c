"""The face model on real photographs: the four official CelebAMask-HQ sample pairs, and the
public-domain portraits that ship inside Python packages.

    python benchmarks/real_faces.py [--samples DIR] [--checkpoint checkpoints/faces] [--previous DIR]

**CelebAMask-HQ samples.** The repository switchablenorms/CelebAMask-HQ holds four official pairs
in ``MaskGAN_demo/samples``: ``{0..3}.jpg`` (1024 px photos, already aligned) and ``{0..3}.png``
(512 px class-id masks in our palette's order). Their licence allows research use only and
forbids redistribution, so they are never committed here: the benchmark reads them from
``--samples`` (default: ``$SYMMFLOW_CELEBAMASK_SAMPLES`` or ``~/.cache/symmflow/celebamask_hq_samples``)
and says how to get them when they are absent. Figures (macro mIoU over the four masks at 512 px,
background ignored, as the paper):

* ``miou_1`` / ``miou_5``: the model at 1 and 5 steps on the photo aligned by
  :mod:`symmflow.alignment` (detect, align to CelebA-HQ's eye framing, segment the crop, warp
  the class map back), and ``*_whole``: the whole photo resized, without alignment; all with
  the library's default mirror averaging (:mod:`symmflow.mirroring`) and the model's
  ``min_region`` clean-up (:mod:`symmflow.regions`); ``miou_1_unmirrored`` without the
  averaging, ``miou_1_all_regions`` without the clean-up (``min_region=0``);
* ``template``: no model at all: each face "predicted" by each other face's ground truth;
* ``previous`` / ``previous_whole``: the same at 1 step with another model (``--previous``: an older one, or a candidate);
* ``invented_1`` (``invented_1_all_regions``: without the clean-up): pixels of each class
  painted (1 step, aligned) on a photo whose truth lacks it.

**Public-domain portraits.** scikit-image's ``astronaut`` and matplotlib's ``grace_hopper.jpg``
go through the whole alignment path; their overlays (faces found, eyes, class map) are saved
under ``benchmarks/results/`` to be looked at. ``faces_found`` counts the faces found in each,
``portrait_classes`` the pixels of each class painted on it.

Writes benchmarks/results/real_faces.json and a section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from report import ROOT, RESULTS_DIR, checkpoint_name, machine, write_results

from symmflow.alignment import draw_faces, segment_photo
from symmflow.evaluation import IoUAccumulator
from symmflow.palettes import CELEBAMASK_HQ
from symmflow.pipeline import SymmFlowPipeline

SAMPLES_URL = "https://github.com/switchablenorms/CelebAMask-HQ/tree/master/MaskGAN_demo/samples"
HOW_TO_GET = f"""The CelebAMask-HQ samples are not here. They are for research use only and are not
redistributed with this project. To get them (four photos and four masks, about 500 KB):

    git clone --depth 1 https://github.com/switchablenorms/CelebAMask-HQ /tmp/CelebAMask-HQ
    mkdir -p {{folder}} && cp /tmp/CelebAMask-HQ/MaskGAN_demo/samples/* {{folder}}

(or download 0.jpg .. 3.jpg and 0.png .. 3.png from {SAMPLES_URL}), then rerun, or pass
--samples FOLDER."""
EVAL_SIZE = 512  # the masks' resolution: predictions are compared there
PARTS = ("skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "hair")


def default_samples() -> Path:
    env = os.environ.get("SYMMFLOW_CELEBAMASK_SAMPLES")
    return Path(env) if env else Path.home() / ".cache" / "symmflow" / "celebamask_hq_samples"


def load_samples(folder: Path) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The four pairs as (photo uint8 [512, 512, 3], class ids int64 [512, 512]), or None."""
    pairs = []
    for k in range(4):
        photo, mask = folder / f"{k}.jpg", folder / f"{k}.png"
        if not (photo.is_file() and mask.is_file()):
            return None
        rgb = np.asarray(Image.open(photo).convert("RGB"))
        rgb = cv2.resize(rgb, (EVAL_SIZE, EVAL_SIZE), interpolation=cv2.INTER_AREA)
        pairs.append((rgb, np.asarray(Image.open(mask)).astype(np.int64)))
    return pairs


def predictor(pipe: SymmFlowPipeline, steps: int, align: str, mirror: bool | None = None, min_region: int | None = None):
    """photo -> class ids on the whole photo, as the library gives them to users (``mirror``,
    ``min_region``: as :meth:`~symmflow.pipeline.SegmentationPipeline.segment`, the model's
    defaults unless given)."""
    return lambda photo: pipe.segment_photo(photo, align=align, steps=steps, seed=0, mirror=mirror,
                                            min_region=min_region).labels


def miou(pairs, predict, invented: dict | None = None) -> tuple[float, dict[str, float | None]]:
    """Macro mIoU over the pairs and per class; ``invented``, when given, is filled with the pixels
    of each class predicted on a photo whose truth lacks that class (class name -> one count per
    photo): the false classes, which count 0 in the mean when no truth holds them."""
    acc = IoUAccumulator(CELEBAMASK_HQ.num_classes, CELEBAMASK_HQ.ignore_index)
    for i, (photo, truth) in enumerate(pairs):
        labels = predict(photo)
        acc.update(labels, truth)
        if invented is not None:
            for k in np.setdiff1d(np.unique(labels), np.unique(truth)):
                if k != CELEBAMASK_HQ.ignore_index:
                    counts = invented.setdefault(CELEBAMASK_HQ.class_names[k], [0] * len(pairs))
                    counts[i] = int((labels == k).sum())
    return acc.mean(), _per_class(acc)


def _per_class(acc: IoUAccumulator) -> dict[str, float | None]:
    """Class name -> IoU (4 decimals), None for the ignored class and classes in neither map."""
    return {name: (None if np.isnan(v) or k == CELEBAMASK_HQ.ignore_index else round(float(v), 4))
            for k, (name, v) in enumerate(zip(CELEBAMASK_HQ.class_names, acc.per_class()))}


def template(pairs) -> tuple[float, dict[str, float | None]]:
    """Each face 'predicted' by every other face's ground truth: what a fixed layout scores."""
    acc = IoUAccumulator(CELEBAMASK_HQ.num_classes, CELEBAMASK_HQ.ignore_index)
    for i, (_, truth) in enumerate(pairs):
        for j, (_, other) in enumerate(pairs):
            if i != j:
                acc.update(other, truth)
    return acc.mean(), _per_class(acc)


def portraits() -> dict[str, np.ndarray]:
    """The public-domain portraits that ship in installed packages (absent ones are skipped)."""
    found = {}
    try:
        from skimage import data

        found["astronaut"] = data.astronaut()
    except ImportError:
        print("scikit-image is not installed: astronaut skipped")
    import matplotlib

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if hopper.is_file():
        found["grace_hopper"] = np.asarray(Image.open(hopper).convert("RGB"))
    return found


def overlay(photo: np.ndarray, result) -> np.ndarray:
    """The photo with the class colours at 50 %, each face's box (green) and eyes (red)."""
    colours = CELEBAMASK_HQ.colorize(result.labels)
    out = np.where((result.labels > 0)[..., None], (0.5 * photo + 0.5 * colours).astype(np.uint8), photo)
    return draw_faces(out, result.faces)


def alignment_seconds(photo: np.ndarray, size: int, rounds: int = 5) -> float:
    """Median seconds that alignment adds: detection, warps and paste, with a segmenter that
    answers at once."""
    instant = lambda crops: np.zeros(crops.shape[:3], np.int64)  # noqa: E731
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        segment_photo(photo, instant, size=size)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=default_samples(), help="folder of 0..3.jpg / 0..3.png")
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "faces"))
    parser.add_argument("--previous", help="another face pipeline folder (an older one, or a candidate) to score beside it (1 step, aligned and whole)")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write no results or overlays")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    pipe = SymmFlowPipeline.from_pretrained(args.checkpoint)
    size = pipe.image_size
    data: dict = {"checkpoint": checkpoint_name(args.checkpoint), "machine": machine()}
    md = ["## Faces on real photos", ""]

    pairs = load_samples(args.samples)
    if pairs is None:
        print(HOW_TO_GET.format(folder=args.samples))
        data.update(miou_1=None, miou_5=None, template=None, samples="absent")
        md += ["The CelebAMask-HQ samples were absent when this ran (see the script's docstring).", ""]
    else:
        rows, invented = {}, {}
        for steps in (1, 5):
            rows[f"miou_{steps}"] = miou(pairs, predictor(pipe, steps, "align"), invented if steps == 1 else None)
            rows[f"miou_{steps}_whole"] = miou(pairs, predictor(pipe, steps, "whole"))
        if pipe.can_mirror:
            rows["miou_1_unmirrored"] = miou(pairs, predictor(pipe, 1, "align", mirror=False))
        invented_raw: dict = {}
        if pipe.config.min_region:
            rows["miou_1_all_regions"] = miou(pairs, predictor(pipe, 1, "align", min_region=0), invented_raw)
        rows["template"] = template(pairs)
        if args.previous:
            old = SymmFlowPipeline.from_pretrained(args.previous)
            rows["previous"] = miou(pairs, predictor(old, 1, "align"))
            rows["previous_whole"] = miou(pairs, predictor(old, 1, "whole"))
        for key, (value, _) in rows.items():
            data[key] = round(value, 4)
        data["per_class"] = {key: per for key, (_, per) in rows.items()}
        data["previous_checkpoint"] = Path(args.previous).name if args.previous else None
        data["invented_1"] = invented
        data["invented_1_all_regions"] = invented_raw or None
        print(f"{'':28s}" + "".join(f"{k:>9s}" for k in ("mIoU",) + PARTS))
        for key, (value, per) in rows.items():
            print(f"{key:28s}{value:9.3f}" + "".join(f"{(per[p] if per[p] is not None else float('nan')):9.3f}" for p in PARTS))
        labels = {
            "miou_1": "this model, 1 step, aligned", "miou_5": "this model, 5 steps, aligned",
            "miou_1_whole": "this model, 1 step, whole photo", "miou_5_whole": "this model, 5 steps, whole photo",
            "miou_1_unmirrored": "this model, 1 step, aligned, without mirror averaging",
            "miou_1_all_regions": f"this model, 1 step, aligned, every region kept (no `min_region` {pipe.config.min_region} clean-up)",
            "template": "constant template (another face's truth)",
            "previous": f"compared model (--previous {data['previous_checkpoint']}), 1 step, aligned",
            "previous_whole": f"compared model (--previous {data['previous_checkpoint']}), 1 step, whole photo",
        }
        md += [
            f"`python benchmarks/real_faces.py` on {machine()}: the four official CelebAMask-HQ sample "
            f"pairs (`MaskGAN_demo/samples`, research use only, not in this repository), macro mIoU at "
            f"{EVAL_SIZE} px, background ignored; the model works at {size} px.",
            "",
            "| | mIoU | " + " | ".join(PARTS) + " |",
            "|---|---:|" + "---:|" * len(PARTS),
        ]
        for key, (value, per) in rows.items():
            cells = " | ".join("-" if per[p] is None else f"{per[p]:.2f}" for p in PARTS)
            md.append(f"| {labels[key]} | **{value:.3f}** | {cells} |")
        md.append("")
        for what, counts_of in (("", invented), (", every region kept", invented_raw)):
            if what and not pipe.config.min_region:
                continue
            false = "; ".join(f"{name} {counts}" for name, counts in counts_of.items()) or "none"
            print(f"classes painted where a photo's truth has none (1 step, aligned{what}; pixels per photo): {false}")
            md += [f"Classes painted where a photo's truth has none (1 step, aligned{what}; pixels on photos 0-3): {false}.", ""]

    found = {}
    classes = {}
    timing = {}
    for name, photo in portraits().items():
        result = pipe.segment_photo(photo, align="auto", steps=1, seed=0)
        found[name] = len(result.faces)
        timing[name] = round(alignment_seconds(photo, pipe.crop_size), 3)
        ids, counts = np.unique(result.labels, return_counts=True)
        classes[name] = {CELEBAMASK_HQ.class_names[k]: int(n) for k, n in zip(ids, counts) if k != 0}
        if not args.dry_run:
            Image.fromarray(overlay(photo, result)).save(RESULTS_DIR / f"real_faces_{name}.png")
        eyes = "; ".join(f"box {f.box}, eyes from {f.eyes_from}" for f in result.faces) or "none"
        print(f"{name}: {len(result.faces)} face(s) ({eyes}); alignment adds {timing[name]:.3f} s; classes (pixels): {classes[name]}; "
              f"overlay: benchmarks/results/real_faces_{name}.png" + (f"; {' '.join(result.messages)}" if result.messages else ""))
    data["faces_found"] = found
    data["alignment_seconds"] = timing
    data["portrait_classes"] = classes
    md += [
        "Public-domain portraits through the whole alignment path (overlays: "
        + ", ".join(f"`benchmarks/results/real_faces_{n}.png`" for n in found) + "):",
        "",
        "| portrait | faces found | alignment adds (s) |",
        "|---|---:|---:|",
    ] + [f"| {n} | {found[n]} | {timing[n]:.3f} |" for n in found]
    if not args.dry_run:
        write_results("real_faces", data, "\n".join(md))


if __name__ == "__main__":
    main()
