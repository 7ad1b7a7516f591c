"""The face model on real photographs: the four official CelebAMask-HQ sample pairs, and the
public-domain portraits that ship inside Python packages.

    python benchmarks/real_faces.py [--samples DIR] [--checkpoint checkpoints/faces] [--previous DIR] [--pairs DIR] [--seeds 5]

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
* ``miou_1_seeds``: ``miou_1`` averaged over the label noise the flow starts from (seeds 0 to
  ``--seeds`` - 1; every other row uses seed 0), per class in ``per_class``; each seed's figure
  and the classes it invents in ``miou_1_by_seed``. The one-step readout is the network's
  estimate of the labels given the photo *and* a draw of noise, and on four photos the draw
  decides whether a few-pixel mouth or earring is painted, so a single seed's figure can be
  0.03 off the model's;
* ``invented_1`` (``invented_1_all_regions``: without the clean-up): pixels of each class
  painted (1 step, aligned) on a photo whose truth lacks it;
* ``miou_1_moved``: how much ``miou_1`` owes to where the alignment happens to fall. The model
  sees a face at its own size (64 px for the shipped one), so half a pixel of its grid is a
  real difference to it and within what any eye detector misses by. Each face's crop is moved
  by half a model pixel left, right, up and down, and scaled by 3% either way (:data:`MOVES`):
  the mean of the six (per class in ``per_class``); ``miou_1_moves``: each move's figure and
  the classes it invents;
* ``grid_ceiling``: no model either: each face's truth warped into its aligned crop, averaged
  down to the model's grid, and read back as the model's output is (bilinear up to the crop,
  argmax, pasted back): what a perfect reader at the model's size would score, so what the
  model's resolution alone costs.

**More pairs** (``--pairs DIR [--pairs-limit N]``). Four photos are a noisy judge: one invented
region on one photo moves the mean by 0.03, and the template's two eyes differ by 0.13 there.
Any folder of CelebAMask-HQ pairs, ``NAME.jpg`` beside ``NAME.png`` (class ids in our palette's
order, the layout the dataset's own ``g_mask.py`` writes), is scored too (:func:`score_folder`):
the model at 1 step (faces aligned where found, else the whole photo), ``--previous`` beside
it, and the template with each face "predicted" by the next 8 faces' truths; pooled mIoU and
per class, the photos where no face was found, and the classes painted where a photo's truth
has none. They stay outside this repository, like the samples (``pairs`` in the JSON).

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
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from report import ROOT, RESULTS_DIR, checkpoint_name, machine, write_results

from symmflow.alignment import align_photo, alignment_matrix, draw_faces, segment_photo, warp_crop
from symmflow.data.datasets import PairFolder
from symmflow.evaluation import IoUAccumulator, round_interval
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
MOVES = {"left": (-0.5, 0.0, 1.0), "right": (0.5, 0.0, 1.0), "up": (0.0, -0.5, 1.0), "down": (0.0, 0.5, 1.0),
         "smaller": (0.0, 0.0, 0.97), "larger": (0.0, 0.0, 1.03)}
"""Crop moves: name -> (dx, dy) in model pixels (the face moves the other way in the crop) and
a scale of the eye distance in the photo (above 1: a larger crop, so a smaller face)."""
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


def predictor(pipe: SymmFlowPipeline, steps: int, align: str, mirror: bool | None = None, min_region: int | None = None,
              seed: int = 0):
    """photo -> class ids on the whole photo, as the library gives them to users (``mirror``,
    ``min_region``: as :meth:`~symmflow.pipeline.SegmentationPipeline.segment`, the model's
    defaults unless given; ``seed``: the label noise the flow starts from)."""
    return lambda photo: pipe.segment_photo(photo, align=align, steps=steps, seed=seed, mirror=mirror,
                                            min_region=min_region).labels


def moved_alignment(eyes, size: int, model_size: int, dx: float, dy: float, scale: float) -> np.ndarray:
    """The photo -> crop matrix (2, 3) of :func:`~symmflow.alignment.alignment_matrix` for
    ``eyes`` (2, 2) photo pixels, moved so that the face lands ``(dx, dy)`` pixels of a
    ``model_size`` grid the other way in the ``size`` crop, with the eye distance in the photo
    taken ``scale`` times as large about the eyes' midpoint (the face comes out ``1 / scale`` as
    large)."""
    eyes = np.asarray(eyes, np.float64)
    centre = eyes.mean(axis=0)
    matrix = alignment_matrix((eyes - centre) * scale + centre, size)
    matrix[:, 2] -= np.array([dx, dy]) * size / model_size  # along the crop's axes, however the face is turned
    return matrix


def moved_predictor(pipe: SymmFlowPipeline, dx: float, dy: float, scale: float):
    """photo -> class ids as :func:`predictor` at 1 step, aligned (the same faces, found and
    kept by :func:`~symmflow.alignment.align_photo`), with each face's crop moved
    (:func:`moved_alignment`)."""
    size = pipe.crop_size

    def predict(photo: np.ndarray) -> np.ndarray:
        aligned = align_photo(photo, "align", size)
        matrices = np.stack([moved_alignment(face.eyes, size, pipe.image_size, dx, dy, scale) for face in aligned.faces])
        moved = replace(aligned, crops=np.stack([warp_crop(photo, m, size) for m in matrices]), matrices=matrices)
        ids = pipe.segment(list(moved.crops), steps=1, seed=0, output_type="np").class_maps
        return moved.paste(np.stack(ids)).labels

    return predict


def miou(pairs, predict, invented: dict | None = None, interval: list | None = None) -> tuple[float, dict[str, float | None]]:
    """Macro mIoU over the pairs and per class; ``invented``, when given, is filled with the pixels
    of each class predicted on a photo whose truth lacks that class (class name -> one count per
    photo): the false classes, which count 0 in the mean when no truth holds them; ``interval``,
    when given (a list), gets the mIoU's 95% bootstrap interval over the photos
    (:meth:`~symmflow.evaluation.IoUAccumulator.interval`)."""
    acc = IoUAccumulator(CELEBAMASK_HQ.num_classes, CELEBAMASK_HQ.ignore_index, items=len(pairs))
    for i, (photo, truth) in enumerate(pairs):
        labels = predict(photo)
        acc.update(labels, truth, item=i)
        if invented is not None:
            for k in np.setdiff1d(np.unique(labels), np.unique(truth)):
                if k != CELEBAMASK_HQ.ignore_index:
                    counts = invented.setdefault(CELEBAMASK_HQ.class_names[k], [0] * len(pairs))
                    counts[i] = int((labels == k).sum())
    if interval is not None:
        interval[:] = round_interval(acc.interval())
    return acc.mean(), _per_class(acc)


def _mean_per_class(tables: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Class name -> the mean of its IoUs over ``tables`` (those that hold it; None when none does)."""
    means = {}
    for name in tables[0]:
        held = [t[name] for t in tables if t[name] is not None]
        means[name] = round(statistics.fmean(held), 4) if held else None
    return means


def _per_class(acc: IoUAccumulator) -> dict[str, float | None]:
    """Class name -> IoU (4 decimals), None for the ignored class and classes in neither map."""
    return {name: (None if np.isnan(v) or k == CELEBAMASK_HQ.ignore_index else round(float(v), 4))
            for k, (name, v) in enumerate(zip(CELEBAMASK_HQ.class_names, acc.per_class()))}


def template(truths, others: int | None = None, interval: list | None = None) -> tuple[float, dict[str, float | None]]:
    """Each face 'predicted' by every other face's ground truth: what a fixed layout scores.
    ``truths``: class-id maps, any sequence (read by index, so a large folder can load each on
    demand). ``others``: by the next ``others`` faces only (in a ring), which keeps a large
    folder linear; ``None``: all ``n - 1``, every ordered pair. ``interval``: as :func:`miou`'s,
    over the faces predicted (each with all its predictions); narrower than it should be, since
    each face's truth is also a prediction of others, which the draws do not follow."""
    n = len(truths)
    acc = IoUAccumulator(CELEBAMASK_HQ.num_classes, CELEBAMASK_HQ.ignore_index, items=n)
    reach = n - 1 if others is None else min(others, n - 1)
    for i in range(n):
        truth = truths[i]
        for k in range(1, reach + 1):
            other = truths[(i + k) % n]
            if other.shape != truth.shape:
                other = cv2.resize(other.astype(np.uint8), truth.shape[::-1], interpolation=cv2.INTER_NEAREST)
            acc.update(other, truth, item=i)
    if interval is not None:
        interval[:] = round_interval(acc.interval())
    return acc.mean(), _per_class(acc)


class _Masks:
    """A :class:`PairFolder`'s masks as a sequence, each read when asked for (no photo decoded)."""

    def __init__(self, pairs: PairFolder) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.pairs.mask(i)


def score_folder(pairs: PairFolder, pipes: dict[str, SymmFlowPipeline], others: int = 8) -> dict:
    """The models ``pipes`` (name -> pipeline; 1 step, faces aligned where found, else the whole
    photo: ``align="auto"``) and the template (:func:`template` with ``others``) on a folder of
    pairs: pooled mIoU and per class, the photos where no face was found, and for each class
    absent from a photo's truth the photos it was painted on and its pixels."""
    out: dict = {"folder": pairs.folder.name, "pairs": len(pairs)}
    for key, pipe in pipes.items():
        no_face = 0

        def predict(photo: np.ndarray, pipe: SymmFlowPipeline = pipe) -> np.ndarray:
            nonlocal no_face
            result = pipe.segment_photo(photo, align="auto", steps=1, seed=0)
            no_face += not result.faces
            return result.labels

        invented: dict = {}
        interval: list = []
        value, per = miou(pairs, predict, invented, interval)
        out[key] = {"miou": round(value, 4), "interval": interval, "per_class": per, "no_face": no_face,
                    "invented": {k: {"photos": sum(c > 0 for c in counts), "pixels": sum(counts)}
                                 for k, counts in sorted(invented.items())}}
    interval = []
    value, per = template(_Masks(pairs), others, interval)
    out["template"] = {"miou": round(value, 4), "interval": interval, "per_class": per, "others": others}
    return out


def grid_ceiling(pairs, crop_size: int, grid: int) -> tuple[float, dict[str, float | None]]:
    """Each face's truth read through a ``grid`` x ``grid`` model as it would see it: the truth's
    one-hot channels warped (bilinear) into the ``crop_size`` crop that alignment makes of the
    photo, averaged down to ``grid`` (area), then decoded as the pipeline decodes a model's scores
    (bilinear up to the crop, argmax) and pasted back onto the photo. The faces are the ones
    :func:`~symmflow.alignment.align_photo` finds in the photo, as for the model."""
    acc = IoUAccumulator(CELEBAMASK_HQ.num_classes, CELEBAMASK_HQ.ignore_index)
    for photo, truth in pairs:
        aligned = align_photo(photo, "align", crop_size)
        crops = []
        for matrix in aligned.matrices:
            onehot = np.stack([cv2.warpAffine((truth == k).astype(np.float32), matrix, (crop_size, crop_size),
                                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                               for k in range(CELEBAMASK_HQ.num_classes)])
            scores = torch.nn.functional.interpolate(torch.from_numpy(onehot)[None], size=(grid, grid), mode="area")
            scores = torch.nn.functional.interpolate(scores, size=(crop_size, crop_size), mode="bilinear", align_corners=False)
            crops.append(scores[0].argmax(0).numpy())
        acc.update(aligned.paste(np.stack(crops)).labels, truth)
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


def _printed_row(key: str, value: float, per: dict[str, float | None]) -> str:
    """One row of the printed table: mIoU, then the IoU of each of :data:`PARTS` (nan where absent)."""
    return f"{key:28s}{value:9.3f}" + "".join(f"{(per[p] if per[p] is not None else float('nan')):9.3f}" for p in PARTS)


def _markdown_row(label: str, value: float, per: dict[str, float | None]) -> str:
    """One row of RESULTS.md's table: mIoU in bold, then the IoU of each of :data:`PARTS`."""
    return f"| {label} | **{value:.3f}** | " + " | ".join("-" if per[p] is None else f"{per[p]:.2f}" for p in PARTS) + " |"


def _with_invented(figure: str, invented) -> str:
    """``figure`` followed by the classes a run painted where no truth has them, if any."""
    return figure + (f" ({', '.join(invented)} invented)" if invented else "")


def folder_section(args, pairs: PairFolder, pipe: SymmFlowPipeline, data: dict) -> list[str]:
    """Score ``pairs`` (``--pairs``, :func:`score_folder`), print a table, put it in
    ``data["pairs"]`` and return its RESULTS.md lines."""
    pipes = {"model": pipe}
    if args.previous:
        pipes["previous"] = SymmFlowPipeline.from_pretrained(args.previous)
    t0 = time.perf_counter()
    scores = score_folder(pairs, pipes)
    data["pairs"] = scores
    names = {
        "model": f"this model ({data['checkpoint']}), 1 step",
        "previous": f"compared model ({Path(args.previous).name if args.previous else ''}), 1 step",
        "template": f"constant template (each face by the next {scores['template']['others']} faces' truths)",
    }
    rows = [k for k in ("model", "previous", "template") if k in scores]
    print(f"\n{len(pairs)} pairs from {args.pairs} ({time.perf_counter() - t0:.0f} s)")
    print(f"{'':28s}" + "".join(f"{k:>9s}" for k in ("mIoU",) + PARTS))
    for key in rows:
        print(_printed_row(key, scores[key]["miou"], scores[key]["per_class"]))
    md = [f"On {len(pairs)} CelebAMask-HQ pairs (`--pairs {args.pairs.name}`, not in this repository), pooled over "
          "the pairs, background ignored; faces aligned where found, else the whole photo:", "",
          "| | mIoU | " + " | ".join(PARTS) + " |", "|---|---:|" + "---:|" * len(PARTS)]
    md += [_markdown_row(names[key], scores[key]["miou"], scores[key]["per_class"]) for key in rows]
    spans = "; ".join(f"{key} {scores[key]['interval'][0]:.3f}-{scores[key]['interval'][1]:.3f}" for key in rows)
    print(f"95% bootstrap intervals of the mIoU over the pairs: {spans}")
    md += ["", f"95% bootstrap intervals of the mIoU over the pairs (`IoUAccumulator.interval`): {spans}."]
    for key in rows[:-1]:
        inv = ", ".join(f"{k} on {v['photos']} ({v['pixels']:,} px)" for k, v in
                        sorted(scores[key]["invented"].items(), key=lambda kv: -kv[1]["pixels"]))
        line = f"{names[key]}: no face found in {scores[key]['no_face']} photos; classes painted where a photo's truth has none: {inv or 'none'}."
        print(line)
        md += ["", line]
    return md + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=default_samples(), help="folder of 0..3.jpg / 0..3.png")
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "faces"))
    parser.add_argument("--previous", help="another face pipeline folder (an older one, or a candidate) to score beside it (1 step, aligned and whole)")
    parser.add_argument("--pairs", type=Path, help="also score a folder of CelebAMask-HQ pairs (NAME.jpg + NAME.png class ids)")
    parser.add_argument("--pairs-limit", type=int, help="score only the first N pairs of --pairs (in name order)")
    parser.add_argument("--seeds", type=int, default=5, help="label-noise seeds the samples' 1-step figure is averaged over (miou_1_seeds; default 5)")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write no results or overlays")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be a whole number of seeds, at least 1; got {args.seeds}")
    try:  # before minutes of work on the samples: a wrong folder or limit is said at once
        pair_folder = PairFolder(args.pairs, args.pairs_limit) if args.pairs else None
    except ValueError as error:
        parser.error(str(error))
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
        by_seed = [(*rows["miou_1"], sorted(invented))]  # miou_1 is seed 0's
        for seed in range(1, args.seeds):
            painted = {}
            by_seed.append((*miou(pairs, predictor(pipe, 1, "align", seed=seed), painted), sorted(painted)))
        rows["miou_1_seeds"] = (statistics.fmean(m for m, _, _ in by_seed), _mean_per_class([per for _, per, _ in by_seed]))
        if pipe.can_mirror:
            rows["miou_1_unmirrored"] = miou(pairs, predictor(pipe, 1, "align", mirror=False))
        invented_raw: dict = {}
        if pipe.config.min_region:
            rows["miou_1_all_regions"] = miou(pairs, predictor(pipe, 1, "align", min_region=0), invented_raw)
        moves = {}
        for name, move in MOVES.items():
            painted: dict = {}
            value, per = miou(pairs, moved_predictor(pipe, *move), painted)
            moves[name] = {"miou": round(value, 4), "per_class": per, "invented": painted}
        rows["miou_1_moved"] = (statistics.fmean(m["miou"] for m in moves.values()), _mean_per_class(
            [m["per_class"] for m in moves.values()]))
        rows["template"] = template([truth for _, truth in pairs])
        rows["grid_ceiling"] = grid_ceiling(pairs, pipe.crop_size, size)
        if args.previous:
            old = SymmFlowPipeline.from_pretrained(args.previous)
            rows["previous"] = miou(pairs, predictor(old, 1, "align"))
            rows["previous_whole"] = miou(pairs, predictor(old, 1, "whole"))
        for key, (value, _) in rows.items():
            data[key] = round(value, 4)
        data["per_class"] = {key: per for key, (_, per) in rows.items()}
        data["previous_checkpoint"] = Path(args.previous).name if args.previous else None
        data["invented_1"] = invented
        data["miou_1_by_seed"] = [{"seed": seed, "miou": round(m, 4), "invented": painted}
                                  for seed, (m, _, painted) in enumerate(by_seed)]
        data["invented_1_all_regions"] = invented_raw or None
        data["miou_1_moves"] = {name: {k: v for k, v in m.items() if k != "per_class"} for name, m in moves.items()}
        print(f"{'':28s}" + "".join(f"{k:>9s}" for k in ("mIoU",) + PARTS))
        for key, (value, per) in rows.items():
            print(_printed_row(key, value, per))
        labels = {
            "miou_1": "this model, 1 step, aligned", "miou_5": "this model, 5 steps, aligned",
            "miou_1_seeds": f"this model, 1 step, aligned, mean over label-noise seeds 0-{args.seeds - 1}",
            "miou_1_whole": "this model, 1 step, whole photo", "miou_5_whole": "this model, 5 steps, whole photo",
            "miou_1_unmirrored": "this model, 1 step, aligned, without mirror averaging",
            "miou_1_all_regions": f"this model, 1 step, aligned, every region kept (no `min_region` {pipe.config.min_region} clean-up)",
            "miou_1_moved": "this model, 1 step, aligned, crops moved (mean of six: half a model pixel left, right, up, down; 3% smaller, larger)",
            "template": "constant template (another face's truth)",
            "grid_ceiling": f"each face's own truth read through a {size} px grid (what the model's size allows)",
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
        md += [_markdown_row(labels[key], value, per) for key, (value, per) in rows.items()]
        md.append("")
        for what, counts_of in (("", invented), (", every region kept", invented_raw)):
            if what and not pipe.config.min_region:
                continue
            false = "; ".join(f"{name} {counts}" for name, counts in counts_of.items()) or "none"
            print(f"classes painted where a photo's truth has none (1 step, aligned{what}; pixels per photo): {false}")
            md += [f"Classes painted where a photo's truth has none (1 step, aligned{what}; pixels on photos 0-3): {false}.", ""]
        seeds = ", ".join(_with_invented(f"{s['miou']:.3f}", s["invented"]) for s in data["miou_1_by_seed"])
        print(f"1 step, aligned, by label-noise seed (0-{args.seeds - 1}): {seeds}")
        md += [f"At 1 step, aligned, by the seed of the label noise the flow starts from (0-{args.seeds - 1}; "
               f"the classes each paints where a photo's truth has none): {seeds}.", ""]
        spread = ", ".join(_with_invented(f"{name} {m['miou']:.3f}", m["invented"]) for name, m in moves.items())
        print(f"crops moved (1 step): {spread}")
        md += [f"With each face's crop moved (1 step; the moves beside the classes each invents): {spread}. "
               f"Half a pixel of the model's grid is within what an eye detector misses by, so these show how much "
               f"of `miou_1` is where the alignment happens to fall.", ""]

    if pair_folder is not None:
        md += folder_section(args, pair_folder, pipe, data)

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
