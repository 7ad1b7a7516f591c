"""Command-line interface: ``symmflow <command>`` (or ``python -m symmflow <command>``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from symmflow.palettes import DECODINGS
from symmflow.pipeline_folder import default_checkpoint
from symmflow.solver import SOLVER_METHODS
from symmflow.validation import MAX_SEED

__all__ = ["main"]

DEFAULT_SPIRAL_CHECKPOINT = default_checkpoint("spiral")
DEFAULT_FACES_CHECKPOINT = default_checkpoint("faces")
DEFAULT_DIGITS_CHECKPOINT = default_checkpoint("digits")

TRACEBACK_ENV = "SYMMFLOW_TRACEBACK"
"""Set to 1 to see the traceback of a failure instead of its one-line message."""


def _seed(text: str) -> int:
    """A seed, in the app's range: a whole number in ``[0, MAX_SEED]``."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is a whole number between 0 and {MAX_SEED}, got {text!r}")
    return value


def _whole(low: int, high: int | None = None, why: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number ``>= low`` (and ``<= high`` if given); the refusal names
    the range (and ``why``, if given)."""
    span = f">= {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {span}{why}, got {text!r}")
        return value

    parse.__name__ = f"whole number {span}"
    return parse


_positive, _count = _whole(1), _whole(0)


def _check_device(device: str | None) -> str | None:
    """The ``--device`` value if this machine has it, else ``ValueError`` naming what it has."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device {device!r}; accepted: cpu, cuda, cuda:N, mps") from None
    if dev.type == "cuda":
        if torch.version.cuda is None:
            raise ValueError(f"--device {device}: this torch build ({torch.__version__}) has no CUDA support; use --device cpu")
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: no CUDA GPU is visible; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to "
                             f"cuda:{torch.cuda.device_count() - 1}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device}: MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {device}: not supported; accepted: cpu, cuda, cuda:N, mps")
    return device


def _check_stems(stems: Sequence[str], inputs: Sequence, out: Path) -> None:
    """Refuse, before any work, inputs whose outputs would have the same names in ``out``
    (``a/face.png`` and ``b/face.jpg`` both write ``face_*``): the second would overwrite the first."""
    first: dict[str, int] = {}
    for k, stem in enumerate(stems):
        if stem in first:
            j = first[stem]
            raise ValueError(f"inputs {j + 1} ({inputs[j]}) and {k + 1} ({inputs[k]}) would both write {stem}* in {out}: "
                             "rename one, or run them with different --out folders")
        first[stem] = k


def _read_inputs(paths: Sequence, read: Callable[[Any], object], what: str = "input") -> list:
    """``read`` every input before anything is written; a failure names its position on the
    command line (``input 3 of 4 (name)``)."""
    items = []
    for k, path in enumerate(paths, 1):
        try:
            items.append(read(path))
        except (ValueError, OSError) as err:
            raise type(err)(f"{what} {k} of {len(paths)} ({path}): {err}") from None
    return items


def _spiral_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from symmflow.models import ResidualMLP
    from symmflow.spiral import accuracy_by_steps, train_spiral
    from symmflow.spiral.presets import SPIRAL_PRESETS

    preset = SPIRAL_PRESETS[args.preset]
    args.out = args.out or Path("runs") / f"spiral-{args.preset}"
    if (args.out / "config.json").exists() and not args.overwrite:
        raise ValueError(f"{args.out} already holds a checkpoint; pass --overwrite to replace it, or another --out")
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


def _load_pipeline(args: argparse.Namespace):
    from symmflow.pipeline import SymmFlowPipeline

    device = _check_device(args.device)
    if device is None and torch.cuda.is_available() and torch.distributed.is_initialized():
        device = f"cuda:{torch.cuda.current_device()}"  # one GPU per process under accelerate launch
    return SymmFlowPipeline.from_pretrained(args.checkpoint, device=device)


def _progress(total: int, desc: str, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=quiet, unit="step")


def _generate(args: argparse.Namespace) -> int:
    from symmflow.animation import save_gif, tile

    pipe = _load_pipeline(args)
    if pipe.task == "classification":
        labels = [[int(label) if label.isdigit() else label] for label in args.inputs]
        stems = [f"class_{label}" for label in args.inputs]
        _check_stems(stems, args.inputs, args.out)
        _read_inputs(args.inputs, lambda label: pipe.processor.class_ids(int(label) if label.isdigit() else label), "label")
        jobs = list(zip(stems, labels))
    else:  # masks read (and refused) before anything is written
        stems = [Path(p).stem for p in args.inputs]
        _check_stems(stems, args.inputs, args.out)
        jobs = list(zip(stems, _read_inputs(args.inputs, pipe.processor.read_mask, "mask")))
    args.out.mkdir(parents=True, exist_ok=True)
    steps = args.steps or pipe.default_steps["generate"]
    for stem, labels in jobs:
        frames = []
        bar = _progress(steps + 1, stem, args.quiet)
        for frame in pipe.generate_stream(
            labels, steps=steps, seed=args.seed, solver=args.solver, num_images_per_label=args.num_images,
            hold_label=args.hold_label,
        ):
            frames.append(tile(frame.images))
            bar.update()
        bar.close()
        for k, image in enumerate(frame.output.images):
            image.save(args.out / f"{stem}_{k}.png")
        if args.gif:
            save_gif(frames, args.out / f"{stem}.gif")
        print(f"{stem}: {len(frame.output.images)} image(s), {frame.nfe} network evaluations -> {args.out}")
    return 0


def _segment(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from symmflow.animation import save_gif, tile

    pipe = _load_pipeline(args)
    if pipe.task != "segmentation":
        raise ValueError(f"symmflow segment needs a segmentation model; {args.checkpoint} classifies (use symmflow classify)")
    pipe.label_velocity(args.mirror)  # --mirror on a model that cannot: refused before anything is read or written
    from dataclasses import replace

    from symmflow.alignment import align_photo, draw_faces, to_rgb, warp_crop
    from symmflow.processing import read_rgb

    def stamp(path) -> tuple[int, int]:
        info = os.stat(path)
        return info.st_size, info.st_mtime_ns

    def read_and_align(path):
        # only where the faces are and the photo -> crop matrices are kept (with the file's size and
        # time, to see it unchanged): the crops are cut again from the photo read again below, so
        # many large photos' crops never sit in memory at once
        first = stamp(path)
        return first, replace(align_photo(read_rgb(path, pipe.processor.max_pixels), args.align, size=pipe.crop_size), crops=None)

    _check_stems([Path(p).stem for p in args.inputs], args.inputs, args.out)
    # every photo read and its faces found before anything is written: a later photo without a face
    # under --align align is refused (exit 2, named by its position) with nothing half-written
    photos = _read_inputs(args.inputs, read_and_align, "photo")
    args.out.mkdir(parents=True, exist_ok=True)
    steps = args.steps or pipe.default_steps["segment"]
    for number, (path, (first, found_faces)) in enumerate(zip(args.inputs, photos), 1):
        stem = Path(path).stem
        # read again and cut at the matrices found above: the same pixels align_photo cropped, as
        # long as the file is the one read then (earlier photos are written by now, so a failure
        # here is one while running: exit 1)
        try:
            changed = stamp(path) != first
            photo = None if changed else to_rgb(read_rgb(path, pipe.processor.max_pixels))
        except (ValueError, OSError) as err:
            raise RuntimeError(f"photo {number} of {len(photos)} ({path}) could not be read again: {err}") from None
        if changed or photo.shape[:2] != found_faces.shape:
            raise RuntimeError(f"photo {number} of {len(photos)} ({path}) changed on disk while the photos were segmented; "
                               "its faces were found in the file as it was: run the command again")
        aligned = replace(found_faces, crops=np.stack([warp_crop(photo, m, pipe.crop_size) for m in found_faces.matrices]))
        frames = []
        bar = _progress(steps + 1, stem, args.quiet)
        # the faces' masks emerge side by side in the GIF
        for frame in pipe.segment_stream(list(aligned.crops), steps=steps, seed=args.seed, solver=args.solver,
                                         mirror=args.mirror, min_region=args.min_region):
            frames.append(tile(frame.images))
            bar.update()
        result = aligned.paste(np.stack(frame.output.class_maps))
        bar.close()
        Image.fromarray(pipe.palette.colorize(result.labels)).save(args.out / f"{stem}_mask.png")
        Image.fromarray(result.labels.astype("uint8")).save(args.out / f"{stem}_labels.png")
        if result.faces:
            Image.fromarray(draw_faces(photo, result.faces)).save(args.out / f"{stem}_faces.png")
        if args.gif:
            save_gif(frames, args.out / f"{stem}.gif")
        areas = np.bincount(result.labels.ravel(), minlength=pipe.num_classes)
        found = [f"{pipe.class_names[k]} {100 * a / areas.sum():.1f}%" for k, a in enumerate(areas.tolist()) if a]
        how = f"{len(result.faces)} face(s) aligned" if result.mode == "aligned" else "whole image"
        print(f"{stem} ({how}): " + ", ".join(found))
        for message in result.messages:
            print(f"{stem}: {message}")
        if args.uncertainty:
            _write_uncertainty(args, pipe, result, steps, args.out / f"{stem}_uncertainty.png")
    return 0


def _write_uncertainty(args: argparse.Namespace, pipe, result, steps: int, path: Path) -> None:
    """``--uncertainty K``: K posterior samples of each crop; their disagreement as a heat map."""
    from PIL import Image

    from symmflow.uncertainty import SAMPLE_STEPS, heat_map, photo_uncertainty

    k, sample_steps = args.uncertainty, steps if steps > 1 else SAMPLE_STEPS  # 1 step is the mean, not a sample
    spread = photo_uncertainty(pipe, result.crops, result.matrices, result.labels.shape, k, steps=sample_steps, seed=args.seed,
                               solver=args.solver, mirror=args.mirror, min_region=args.min_region)
    Image.fromarray(heat_map(spread, k)).save(path)
    print(f"{path.stem}: {k} samples at {sample_steps} steps disagree on {100 * (spread > 0).mean():.1f}% of the photo")


def _classify(args: argparse.Namespace) -> int:
    pipe = _load_pipeline(args)
    if pipe.task != "classification":
        raise ValueError(f"symmflow classify needs a classification model; {args.checkpoint} segments (use symmflow segment)")
    drawing = pipe.image_channels == 1 if args.drawing is None else args.drawing
    # drawings go through the app's digit preprocessing (crop, centre, 8x8 counts as in training)
    read = (lambda p: pipe.processor.preprocess_drawings(p)[0]) if drawing else (lambda p: pipe.processor.preprocess(p)[0])
    images = torch.cat(_read_inputs(args.inputs, read, "image"))
    out = pipe.classify(images, steps=args.steps, seed=args.seed, solver=args.solver)
    for path, label, scores in zip(args.inputs, out.labels, out.scores):
        print(f"{path}: {out.class_names[label]} (score {scores[label]:.3f})")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from symmflow.evaluation import processes

    with processes() as (rank, _):
        pipe = _load_pipeline(args)
        if pipe.task == "segmentation":
            return _eval_segmentation(args, pipe, main_process=rank == 0)
        if args.decoding is not None:
            raise ValueError("--decoding applies to segmentation models (how colour masks become class ids); this model classifies")
        if args.min_region is not None:
            raise ValueError("--min-region applies to segmentation models (the regions removed from a class map); this model classifies")
        if rank != 0:  # the digits test split takes a second: one process does it all
            return 0
        return _eval_classification(args, pipe)


def _eval_classification(args: argparse.Namespace, pipe) -> int:
    from symmflow.evaluation import confusion_matrix, evaluate_digits, plot_confusion

    split, steps_list = args.split or "test", args.steps or [1, 2, 5, 25]
    results, labels = evaluate_digits(pipe, split, steps_list, seed=args.seed)
    print(f"{len(labels)} {split} images")
    for steps, row in results.items():
        print(f"{steps:>3} step(s): accuracy {row['accuracy']:.2f}%  ({row['nfe_per_image']} NFE per image)")
    first = steps_list[0]
    cm = confusion_matrix(results[first]["predictions"], labels, pipe.num_classes)
    width = max(len(n) for n in pipe.class_names) + 1
    print(f"\nconfusion matrix at {first} step(s) (rows: true, columns: predicted)")
    print(" " * width + "".join(f"{n:>5}" for n in pipe.class_names))
    for name, row in zip(pipe.class_names, cm):
        print(f"{name:>{width}}" + "".join(f"{v:>5}" for v in row))
    if args.confusion:
        fig = plot_confusion(cm, pipe.class_names, f"{split}: {results[first]['accuracy']:.2f}% at {first} step(s)")
        args.confusion.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.confusion, dpi=120)
        print(f"wrote {args.confusion}")
    if args.json:
        _write_json(args.json, {
            "test_size": len(labels), "split": split,
            "accuracy": {str(s): r["accuracy"] for s, r in results.items()},
        })
    return 0


def _eval_segmentation(args: argparse.Namespace, pipe, main_process: bool) -> int:
    from symmflow.evaluation import segmentation_data, segmentation_report

    if args.min_region is not None:
        from dataclasses import replace

        pipe.config = replace(pipe.config, min_region=args.min_region)
    images, maps = segmentation_data(pipe, args.data, root=args.root, split=args.split, count=args.count)
    steps = args.steps or [pipe.default_steps["segment"]]
    decoding = args.decoding or "classes"
    report = segmentation_report(pipe, images, maps, steps, seed=args.seed, cycle=args.cycle,
                                 diversity=args.diversity, diversity_distance=args.diversity_distance, decoding=decoding)
    report["data"] = args.data
    if main_process:
        for s, seg in report["segmentation"].items():
            print(f"segmentation mIoU at {s} step(s), {len(images)} images, {decoding} decoding, "
                  f"min_region {report['min_region']}: {seg['miou']:.4f} (95% interval {_span(seg['miou_interval'])})")
            print("  " + ", ".join(f"{k} {v:.2f}" for k, v in seg["per_class"].items() if v is not None))
        if "cycle_miou" in report:
            print(f"cycle mIoU (generate {pipe.default_steps['generate']} steps, segment {steps[0]}, {decoding} decoding), "
                  f"{min(args.cycle, len(maps))} masks: {report['cycle_miou']:.4f} (95% interval {_span(report['cycle_miou_interval'])})")
        if "diversity" in report:
            what = "mean |a - b|, 0..1" if args.diversity_distance == "l1" else "mean LPIPS"
            print(f"diversity ({what}, between 4 samples), {min(args.diversity, len(maps))} masks: {report['diversity']:.4f}")
    if args.json and main_process:
        _write_json(args.json, report)
    return 0


def _span(interval: Sequence[float]) -> str:
    return f"{interval[0]:.4f}-{interval[1]:.4f}"


def _write_json(path: Path, data: dict) -> None:
    from symmflow.io import write_json_atomic

    write_json_atomic(path, data)
    print(f"wrote {path}")


def _sample(args: argparse.Namespace) -> int:
    """The FID protocol: ``--per-mask`` portraits of every mask, one PNG each, resumable."""
    from symmflow.evaluation import processes

    with processes() as (rank, world):
        return _sample_on(args, rank, world)


def _sample_on(args: argparse.Namespace, rank: int, world: int) -> int:
    import numpy as np
    from PIL import Image

    from symmflow.evaluation import process_batches

    pipe = _load_pipeline(args)
    if pipe.task != "segmentation":
        raise ValueError("symmflow sample draws portraits from masks: it needs a segmentation pipeline")
    from symmflow.evaluation import segmentation_data

    _, maps = segmentation_data(pipe, args.data, root=args.root, split=args.split, count=args.count)
    jobs = [(i, k) for i in range(len(maps)) for k in range(args.per_mask)]
    todo = [(i, k) for i, k in jobs if not (args.out / f"{i:05d}_{k:02d}.png").exists()]
    args.out.mkdir(parents=True, exist_ok=True)
    if world > 1:  # every process must see the same to-do list before anyone writes
        torch.distributed.barrier()
    mine = [todo[j : j + args.batch_size] for j in process_batches(len(todo), args.batch_size)]
    bar = _progress(sum(len(b) for b in mine), "sampling", args.quiet or rank != 0)
    for batch in mine:
        # one generator per image, seeded by (seed, mask, sample): the same PNG whatever the
        # batch size, the number of processes, or where a previous run stopped
        gens = [torch.Generator().manual_seed((args.seed * 1_000_003 + i) * 1009 + k) for i, k in batch]
        out = pipe.generate([maps[i] for i, _ in batch], steps=args.steps, generator=gens, output_type="np",
                            hold_label=args.hold_label)
        for (i, k), image in zip(batch, out.images):
            path = args.out / f"{i:05d}_{k:02d}.png"
            tmp = path.with_name(f".{path.name}.tmp")
            Image.fromarray(np.asarray(image)).save(tmp, format="PNG")
            tmp.replace(path)
        bar.update(len(batch))
    bar.close()
    if rank == 0:
        print(f"{len(jobs) - len(todo)} samples were already there; wrote {len(todo)} to {args.out}")
    return 0


def _add_segmentation_data_args(parser: argparse.ArgumentParser) -> None:
    from symmflow.data import DATASETS

    parser.add_argument("--data", choices=[d for d in DATASETS if d != "digits"], default="procedural_faces",
                        help="segmentation data (default: held-out procedural faces)")
    parser.add_argument("--root", type=Path, help="the data set's folder (real data sets)")
    parser.add_argument("--count", type=_positive, default=None,
                        help="at most this many images / masks (default: all; 200 procedural faces)")


def _convert_release(args: argparse.Namespace) -> int:
    import json

    from symmflow.release import download_release, pipeline_from_release

    checkpoint = args.checkpoint or download_release(args.dataset)
    unet_config = json.loads(Path(args.unet_config).read_text()) if args.unet_config else None
    vae = {"vae": args.vae} if args.vae else {}
    pipe = pipeline_from_release(
        checkpoint, args.dataset, args.prompt_embedding, image_size=args.image_size, unet_config=unet_config, **vae
    )
    pipe.save_pretrained(args.out, training_info={"source": str(checkpoint), "converted_by": "symmflow convert-release"})
    print(f"wrote {args.out} ({pipe.description})")
    return 0


def _parse_override(text: str) -> tuple[str, object]:
    import yaml

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects key=value (e.g. train.steps=100), got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def _train(args: argparse.Namespace) -> int:
    from symmflow.training import Trainer, load_config

    overrides = dict(args.set or [])
    if args.output_dir:
        overrides["output_dir"] = str(args.output_dir)
    config = load_config(args.config, overrides)
    trainer = Trainer(config)
    info = trainer.fit(max_minutes=args.max_minutes, progress=not args.quiet, resume=not args.restart)
    done = info["steps_done"] == config.train.steps
    trainer.accelerator.print(
        f"{'finished' if done else 'paused'} at step {info['steps_done']}/{config.train.steps} "
        f"({info['train_seconds']:.0f} s of training); pipeline in {config.output_dir}/pipeline"
    )
    return 0


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("outputs"))
    parser.add_argument("--gif", action="store_true", help="also write the trajectory as an animated GIF")


def _add_inference_options(parser: argparse.ArgumentParser, checkpoint: Path) -> None:
    parser.add_argument("--checkpoint", default=str(checkpoint), help="pipeline folder or hub repo id")
    parser.add_argument("--steps", type=_positive, default=None, help="ODE steps (default: the model's default_steps)")
    parser.add_argument("--seed", type=_seed, default=0, help=f"0 to {MAX_SEED}, as in the app")
    parser.add_argument("--solver", choices=SOLVER_METHODS, default=SOLVER_METHODS[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps; default: CPU")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_hold_label_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--hold-label", action=argparse.BooleanOptionalAction, default=None,
                         help="hold the label half noise-free at every step (symmflow.conditioning); --no-hold-label: "
                              "the authors' free joint flow; default: as the model's label_fade says")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symmflow", description="Symmetrical Flow Matching tools")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="label -> image: masks (or class labels) to new images")
    generate.add_argument("inputs", nargs="+", help="mask files (colour or class-id PNGs), or class ids/names")
    _add_inference_options(generate, DEFAULT_FACES_CHECKPOINT)
    generate.add_argument("--num-images", type=_positive, default=1, help="samples per input")
    _add_hold_label_option(generate)
    _add_output_options(generate)
    generate.set_defaults(func=_generate)

    from symmflow.alignment import MODES
    from symmflow.uncertainty import MAX_SAMPLES

    segment = commands.add_parser("segment", help="image -> class-id map and colour mask")
    segment.add_argument("inputs", nargs="+", type=Path, help="image files")
    segment.add_argument("--align", choices=MODES, default="auto",
                         help="auto: find the faces, align each to the model's framing and segment it, or the whole "
                              "image when none is found; align: refuse photos without a face; whole: never align")
    segment.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                         help="average the flow with the photo's mirror image (left and right parts swapped); "
                              "default: wherever the model's label half allows it (one-hot pixel models)")
    segment.add_argument("--min-region", default=None, metavar="N", type=_whole(0),
                         help="give regions of one class smaller than N pixels at the model's size to the class "
                              "around them (0 keeps every region); default: the model's min_region")
    segment.add_argument("--uncertainty", default=None, metavar="K",
                         type=_whole(2, MAX_SAMPLES, " (one sample cannot disagree with itself)"),
                         help=f"also write <stem>_uncertainty.png: where K (2 to {MAX_SAMPLES}) posterior samples of the "
                              "mask (at --steps, or 5 if 1) disagree; the mask stays the usual answer")
    _add_inference_options(segment, DEFAULT_FACES_CHECKPOINT)
    _add_output_options(segment)
    segment.set_defaults(func=_segment)

    classify = commands.add_parser("classify", help="image -> class, by the reverse flow")
    classify.add_argument("inputs", nargs="+", type=Path, help="image files")
    _add_inference_options(classify, DEFAULT_DIGITS_CHECKPOINT)
    classify.add_argument("--drawing", action=argparse.BooleanOptionalAction, default=None,
                          help="read the images as drawn digits, cropped and centred like the training digits, as the "
                               "app does (default: on for grey-image classifiers such as the digits model)")
    classify.set_defaults(func=_classify)

    evaluate = commands.add_parser(
        "eval", help="a classifier: accuracy + confusion matrix on the digits; a segmentation model: mIoU, "
        "cycle mIoU, diversity (accelerate launch works too)")
    evaluate.add_argument("--checkpoint", default=str(DEFAULT_DIGITS_CHECKPOINT))
    evaluate.add_argument("--split", default=None, help="digits: train, test (default) or all; data sets: their "
                          "split (default: CelebAMask-HQ val, COCO-Stuff val2017)")
    evaluate.add_argument("--steps", type=_positive, nargs="+", default=None,
                          help="step counts (default: 1 2 5 25 for classifiers, the model's segment steps)")
    evaluate.add_argument("--seed", type=_seed, default=0)
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument("--confusion", type=Path, help="classifiers: also save the confusion matrix as a PNG")
    evaluate.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    _add_segmentation_data_args(evaluate)
    evaluate.add_argument("--cycle", type=_count, default=0, metavar="N", help="cycle mIoU on the first N masks")
    evaluate.add_argument("--diversity", type=_count, default=0, metavar="N", help="sample diversity on the first N masks")
    evaluate.add_argument("--diversity-distance", choices=("l1", "lpips"), default="l1",
                          help="pixel L1 (default) or LPIPS (needs pip install lpips and its AlexNet weights)")
    evaluate.add_argument("--min-region", default=None, metavar="N", type=_whole(0),
                          help="segmentation: remove regions under N pixels on the model's grid (0 keeps every region); "
                               "default: the model's min_region")
    evaluate.add_argument("--decoding", choices=DECODINGS, default=None,
                          help="segmentation: predicted colours -> the nearest class (classes, default) or the nearest "
                          "of the authors' evaluation colours (authors: COCO-Stuff's mIoU comparable with the paper's; "
                          "CelebAMask-HQ is the same either way)")
    evaluate.set_defaults(func=_eval)

    sample = commands.add_parser("sample", help="K portraits of every mask of a data set, as PNGs (the FID protocol)")
    sample.add_argument("--checkpoint", default=str(DEFAULT_FACES_CHECKPOINT))
    sample.add_argument("--out", type=Path, required=True, help="folder of <mask>_<k>.png; rerun to resume")
    sample.add_argument("--per-mask", type=_positive, default=17, help="samples per mask (paper: CelebA 17, COCO 10)")
    sample.add_argument("--steps", type=_positive, default=None)
    sample.add_argument("--seed", type=_seed, default=0)
    sample.add_argument("--batch-size", type=_positive, default=16)
    sample.add_argument("--device", default=None)
    sample.add_argument("--split", default=None, help="the data set's split (default: CelebAMask-HQ val, COCO-Stuff val2017)")
    sample.add_argument("--quiet", action="store_true")
    _add_hold_label_option(sample)
    _add_segmentation_data_args(sample)
    sample.set_defaults(func=_sample)

    train = commands.add_parser("train", help="train a model from a YAML config (accelerate launch works too)")
    train.add_argument("--config", type=Path, required=True, help="e.g. configs/digits.yaml")
    train.add_argument("--output-dir", type=Path, help="override the config's output_dir")
    train.add_argument("--set", action="append", type=_parse_override, metavar="KEY=VALUE",
                       help="override a setting, e.g. --set train.steps=200 (repeatable)")
    train.add_argument("--max-minutes", type=float, help="checkpoint and stop after this much wall time")
    train.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in output_dir")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    convert = commands.add_parser("convert-release", help="the authors' LatFM_*.pt -> a pipeline folder")
    convert.add_argument("checkpoint", nargs="?", help="the .pt file; omitted: download it from ocaetas/SymmFlow")
    convert.add_argument("--dataset", choices=["celeba", "coco"], required=True, help="the release's data set (sets palette and beta)")
    convert.add_argument("--prompt-embedding", required=True, help="empty-prompt embedding (.pt or .safetensors)")
    convert.add_argument("--vae", default=None, help="AutoencoderKL hub id or folder (default: stabilityai/sd-vae-ft-mse)")
    convert.add_argument("--image-size", type=int, default=512)
    convert.add_argument("--unet-config", help="JSON file of UNet2DConditionModel arguments (default: SD 2.1)")
    convert.add_argument("--out", type=Path, required=True)
    convert.set_defaults(func=_convert_release)

    spiral = commands.add_parser("spiral", help="the paper's 2-D spiral toy").add_subparsers(
        dest="action", required=True
    )
    from symmflow.spiral.presets import SPIRAL_PRESETS

    train = spiral.add_parser("train", help="train a spiral model and save it as a checkpoint")
    train.add_argument("--preset", choices=sorted(SPIRAL_PRESETS), default="fast")
    train.add_argument("--out", type=Path, default=None,
                       help="checkpoint folder (default: runs/spiral-PRESET; the shipped one is only replaced with --overwrite)")
    train.add_argument("--overwrite", action="store_true", help="replace a checkpoint already at --out")
    train.add_argument("--steps", type=_positive, help="override the preset's number of training steps")
    train.add_argument("--seed", type=_seed, help="override the preset's seed")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_spiral_train)

    evaluate = spiral.add_parser("eval", help="accuracy of both flows on a fresh test set")
    evaluate.add_argument("--checkpoint", default=str(DEFAULT_SPIRAL_CHECKPOINT))
    evaluate.add_argument("--steps", type=_positive, nargs="+", default=[1, 2, 5, 10, 20, 50])
    evaluate.add_argument("--test-size", type=_positive, default=10_000)
    evaluate.add_argument("--seed", type=_seed, default=1234)
    evaluate.add_argument("--solver", choices=SOLVER_METHODS, default=SOLVER_METHODS[0])
    evaluate.set_defaults(func=_spiral_eval)

    plot = spiral.add_parser("plot", help="draw both flows (matplotlib) to an image file")
    plot.add_argument("--checkpoint", default=str(DEFAULT_SPIRAL_CHECKPOINT))
    plot.add_argument("--out", type=Path, default=Path("assets/spiral_flows.png"))
    plot.add_argument("--steps", type=_positive, default=50)
    plot.add_argument("--seed", type=_seed, default=0)
    plot.add_argument("--dpi", type=_positive, default=120)
    plot.set_defaults(func=_spiral_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. Exit codes: 0 done; 2 refused (arguments, input files, checkpoint,
    device: nothing was written); 1 failed while running. Errors are one line on stderr
    (``SYMMFLOW_TRACEBACK=1`` shows the traceback instead)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse: usage and exit code 2 for a malformed command line
    if getattr(args, "device", None) is not None:
        try:
            _check_device(args.device)
        except ValueError as err:
            parser.error(str(err))
    try:
        return args.func(args)
    except (ValueError, OSError, ImportError) as err:  # bad input, file or checkpoint: one readable line, not a traceback
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - anything else failed while running: still one line
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        print(f"error: {type(err).__name__}: {err} (set {TRACEBACK_ENV}=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
