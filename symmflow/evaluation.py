"""Metrics as the paper computes them: accuracy and confusion for classification, macro mIoU
for segmentation, plus timing helpers used by the benchmarks and ``symmflow eval``.

The segmentation and generation metrics run data-parallel when started by ``accelerate
launch`` (or ``torchrun``): each process takes every N-th batch, with the seed of that batch,
and the sums behind each figure are added over the processes, so 1 or N processes give the
same numbers (timings aside: ``seconds_per_image`` is this process's wall time over all images).
"""

from __future__ import annotations

import contextlib
import operator
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from symmflow.codecs import PaletteCodec
from symmflow.palettes import Palette, decoding_palette, recode_class_map

__all__ = [
    "EVAL_SPLITS",
    "IoUAccumulator",
    "confusion_matrix",
    "evaluate_classification",
    "cycle_portraits",
    "evaluate_cycle",
    "evaluate_digits",
    "evaluate_segmentation",
    "fid",
    "frechet_distance",
    "inception_features",
    "segmentation_data",
    "segmentation_report",
    "plot_confusion",
    "processes",
    "process_batches",
    "round_interval",
    "sample_diversity",
    "sum_over_processes",
]


@contextlib.contextmanager
def processes() -> Iterator[tuple[int, int]]:
    """Join the process group that ``accelerate launch`` / ``torchrun`` describe in the
    environment (``WORLD_SIZE``, ``RANK``, ...) for the ``with`` block, and leave it after;
    nothing to do for one process.

    Yields ``(rank, world size)``. GPU processes take the GPU of their ``LOCAL_RANK``.
    Leaving matters: a process that exits still in a gloo group can abort in the group's
    destructor ("terminate called without an active exception") after its work is done.
    """
    import os

    import torch.distributed as dist

    joined = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized()
    if joined:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    try:
        yield _process()
    finally:
        if joined and dist.is_initialized():
            dist.destroy_process_group()


def _process() -> tuple[int, int]:
    """``(rank, world size)`` of this process: (0, 1) unless torch.distributed is running."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def process_batches(n: int, batch_size: int) -> range:
    """Start indices of the batches of ``n`` items that this process evaluates (every N-th)."""
    rank, world = _process()
    return range(0, n, batch_size)[rank::world]


def sum_over_processes(*arrays: np.ndarray) -> list[np.ndarray]:
    """Element-wise sums of each array over all processes (the arrays themselves on one)."""
    rank, world = _process()
    if world == 1:
        return list(arrays)
    import torch.distributed as dist

    out = []
    for a in arrays:
        t = torch.as_tensor(np.asarray(a, dtype=np.float64))
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        out.append(t.cpu().numpy().astype(np.asarray(a).dtype))
    return out


def confusion_matrix(predicted: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """``[K, K]`` counts; row = true class, column = predicted class."""
    predicted, true = np.asarray(predicted).ravel(), np.asarray(true).ravel()
    if predicted.shape != true.shape:
        raise ValueError(f"{predicted.size} predictions for {true.size} labels")
    for name, ids in (("predicted", predicted), ("true", true)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"{name} class ids must lie in [0, {num_classes - 1}], got [{ids.min()}, {ids.max()}]")
    return np.bincount(true * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], title: str = ""):
    """A matplotlib figure of a confusion matrix (counts in the cells)."""
    from symmflow.figures import new_figure

    k = len(class_names)
    fig = new_figure(figsize=(0.5 * k + 2.5, 0.5 * k + 2))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(k), class_names)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


class IoUAccumulator:
    """Macro Jaccard index over all pixels of a data set (the paper's mIoU).

    Intersections and unions are summed per class over every image first, then averaged over
    the classes that occur (in the truth or the prediction). As in the authors' evaluation,
    pixels whose truth is ``ignore_index`` (CelebAMask-HQ: background; COCO-Stuff: unlabeled)
    are left out entirely, and so is that class.

    With ``items`` (the number of images), each image's sums are kept as well (``update`` then
    names the image), for :meth:`interval`: how far the figure could move on another draw of as
    many images. A class on a few images only (a necklace on 2 faces of 100) moves a macro mean
    by far more than its pixels suggest.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, items: int | None = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.intersection = np.zeros(num_classes, dtype=np.int64)
        self.union = np.zeros(num_classes, dtype=np.int64)
        if items is not None:
            if isinstance(items, bool) or not hasattr(type(items), "__index__") or operator.index(items) < 0:
                raise ValueError(f"items must be the number of images, an integer >= 0, or None; got {items!r}")
            items = operator.index(items)  # numpy integers too
        self.item_intersection = None if items is None else np.zeros((items, num_classes), dtype=np.int64)
        self.item_union = None if items is None else np.zeros((items, num_classes), dtype=np.int64)

    def update(self, predicted: np.ndarray, true: np.ndarray, item: int | None = None) -> None:
        """Add one image (``predicted`` and ``true``: class ids of one shape); ``item``: its index
        in ``[0, items)``, required when the accumulator keeps per-image sums, else not allowed."""
        predicted, true = np.asarray(predicted), np.asarray(true)
        if predicted.shape != true.shape:
            raise ValueError(f"prediction shape {predicted.shape} differs from the truth's {true.shape}")
        keeps_items = self.item_intersection is not None
        if keeps_items != (item is not None):
            raise ValueError("name each image (item=) exactly when the accumulator was made with items=")
        if keeps_items and not 0 <= item < len(self.item_intersection):
            raise ValueError(f"item must lie in [0, {len(self.item_intersection)}), got {item}")
        if self.ignore_index is not None:
            keep = true != self.ignore_index
            predicted, true = predicted[keep], true[keep]
        cm = confusion_matrix(predicted.astype(np.int64), true.astype(np.int64), self.num_classes)
        inter = np.diag(cm)
        union = cm.sum(0) + cm.sum(1) - inter
        self.intersection += inter
        self.union += union
        if keeps_items:
            self.item_intersection[item] += inter
            self.item_union[item] += union

    def sum_over_processes(self) -> None:
        """Replace every sum by its total over the processes (:func:`sum_over_processes`); each
        process has filled the rows of its own images, so the per-image rows add up too."""
        arrays = [self.intersection, self.union]
        if self.item_intersection is not None:
            arrays += [self.item_intersection, self.item_union]
        summed = sum_over_processes(*arrays)
        self.intersection, self.union = summed[:2]
        if self.item_intersection is not None:
            self.item_intersection, self.item_union = summed[2:]

    def per_class(self) -> np.ndarray:
        """IoU of each class (NaN where the class never occurs)."""
        return _iou(self.intersection, self.union)

    def mean(self) -> float:
        iou = self.per_class()
        keep = self._counted(iou)
        return float(iou[keep].mean()) if keep.any() else float("nan")

    def _counted(self, iou: np.ndarray) -> np.ndarray:
        """Which classes of ``iou`` ``[..., K]`` count in the macro mean: those that occur (not
        NaN), ``ignore_index`` aside."""
        counted = ~np.isnan(iou)
        if self.ignore_index is not None:
            counted[..., self.ignore_index] = False
        return counted

    def interval(self, level: float = 0.95, rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
        """Bootstrap percentile interval of :meth:`mean` over the images: ``rounds`` draws of as
        many images with replacement, each scored as the whole set is (sums first, then the macro
        mean over the classes that occur in the draw); the central ``level`` of those means
        (a percentile interval). A draw that leaves out every image holding a rare class scores
        without it, so a class on a few images widens the interval on the side its IoU pulls
        from: a necklace missed on 2 faces of 100 (IoU 0) drops out of 13% of the draws, which
        then read higher. Draws holding no class at all are left out. Needs the per-image sums
        (``items``)."""
        if self.item_intersection is None:
            raise ValueError("an interval needs the per-image sums: make the accumulator with items=")
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
        n = len(self.item_intersection)
        if n == 0:
            return float("nan"), float("nan")
        rng = np.random.default_rng(seed)
        inter, union = self.item_intersection.astype(np.float64), self.item_union.astype(np.float64)  # exact below 2**53
        means = []
        for start in range(0, rounds, 250):  # 250 draws at a time: [250, n] counts, whatever n is
            counts = rng.multinomial(n, np.full(n, 1 / n), size=min(250, rounds - start)).astype(np.float64)
            iou = _iou(counts @ inter, counts @ union)  # [draws, K]
            counted = self._counted(iou)
            with np.errstate(invalid="ignore"):
                means.append(np.where(counted, iou, 0).sum(axis=1) / counted.sum(axis=1))  # NaN: no class drawn
        means = np.concatenate(means)
        means = means[~np.isnan(means)]
        if not len(means):
            return float("nan"), float("nan")
        low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
        return float(low), float(high)


def round_interval(interval: Sequence[float], digits: int = 4) -> list[float]:
    """``(low, high)`` rounded, as a list (as reports store it in JSON)."""
    return [round(float(v), digits) for v in interval]


def _iou(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """``intersection / union`` element-wise, NaN where the union is 0 (a class that never occurs)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / np.maximum(union, 1), np.nan)


def evaluate_classification(
    pipe: Any,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps_list: Iterable[int] = (1, 2, 5, 25),
    seed: int = 0,
    batch_size: int = 256,
) -> dict[int, dict[str, Any]]:
    """Accuracy of ``pipe.classify`` at several step counts, with cost per image.

    Returns ``{steps: {accuracy (%), nfe_per_image, seconds_per_image, predictions}}``.
    """
    results = {}
    for steps in steps_list:
        predictions = []
        start = time.perf_counter()
        nfe = 0
        for i in range(0, len(images), batch_size):
            out = pipe.classify(images[i : i + batch_size], steps=steps, seed=seed + i)
            predictions.append(out.labels)
            nfe = out.nfe
        seconds = time.perf_counter() - start
        pred = np.concatenate(predictions)
        results[steps] = {
            "accuracy": round(100.0 * float((pred == np.asarray(labels)).mean()), 2),
            "nfe_per_image": nfe,
            "seconds_per_image": seconds / len(images),
            "predictions": pred,
        }
    return results


# -- segmentation and generation ----------------------------------------------------------------


def _decoded(pipe: Any, decoding: str) -> tuple[Callable[[list[Any], int, int], list[np.ndarray]], Palette]:
    """How to score ``pipe``'s segmentations in ``decoding`` (:data:`~symmflow.palettes.DECODINGS`):
    ``(segment, palette)``, where ``segment(images, steps, seed)`` returns class maps ``int64
    [H, W]`` that are ids of ``palette`` (:func:`~symmflow.palettes.decoding_palette`), and the
    ground truth is taken there by :func:`~symmflow.palettes.recode_class_map`.

    Where the decoding colours are the palette's own (``"classes"``; CelebAMask-HQ either way)
    that is ``pipe.segment``. COCO-Stuff ``"authors"`` decodes the predicted colour mask itself
    to the authors' evaluation colours, as their ``masks.py`` does, not the class it was snapped
    to (a colour nearest an unannotated thing's colour is that row, which no truth holds): the same
    flow, through a pipeline sharing the network whose codec decodes to those colours (its colour
    masks are not used). A one-hot model predicts classes, not colours: their colours are recoded.

    Raises:
        ValueError: an unknown decoding, naming the accepted ones.
    """
    target = decoding_palette(pipe.palette, decoding)
    view = pipe
    if target is not pipe.palette and isinstance(pipe.codec, PaletteCodec):
        view = type(pipe)(pipe.model, pipe.config, pipe.vae)
        view.codec, view.processor = PaletteCodec(target, pipe.beta), pipe.processor

    def segment(images: list[Any], steps: int, seed: int) -> list[np.ndarray]:
        maps = view.segment(images, steps=steps, seed=seed, output_type="np").class_maps
        # the view's maps are ids of the target already; pipe's are recoded (identity in its own palette)
        return maps if view is not pipe else [recode_class_map(m, pipe.palette, decoding) for m in maps]

    return segment, target


def evaluate_segmentation(
    pipe: Any,
    images: Sequence[Any],
    class_maps: Sequence[np.ndarray],
    steps: int = 5,
    seed: int = 0,
    batch_size: int = 16,
    decoding: str = "classes",
) -> dict[str, Any]:
    """mIoU of ``pipe.segment`` against ``class_maps`` (the paper's macro Jaccard, ignoring the
    palette's ``ignore_index``).

    ``decoding``: how predicted colour masks become ids, one of :data:`~symmflow.palettes.DECODINGS`:
    ``"classes"`` (the palette's classes) or ``"authors"`` (the authors' evaluation colours: for
    COCO-Stuff the figure comparable with the paper's; predictions and ``class_maps`` are then
    both rows of :data:`~symmflow.palettes.COCO_STUFF_AUTHORS_EVAL`; CelebAMask-HQ is unchanged).

    Returns ``{miou, miou_interval, per_class, decoding, seconds_per_image}``; ``miou_interval`` is
    the 95% bootstrap interval of ``miou`` over the images (:meth:`IoUAccumulator.interval`),
    ``per_class`` is keyed by the decoding palette's class names.
    """
    if len(images) != len(class_maps):
        raise ValueError(f"one class map per image: got {len(images)} images and {len(class_maps)} class maps")
    segment, palette = _decoded(pipe, decoding)
    acc = IoUAccumulator(palette.num_classes, palette.ignore_index, items=len(images))
    start = time.perf_counter()
    for i in process_batches(len(images), batch_size):
        predicted_maps = segment(list(images[i : i + batch_size]), steps, seed + i)
        for j, (predicted, true) in enumerate(zip(predicted_maps, class_maps[i : i + batch_size])):
            acc.update(predicted, recode_class_map(np.asarray(true), pipe.palette, decoding), item=i + j)
    acc.sum_over_processes()
    return {
        "miou": acc.mean(),
        "miou_interval": acc.interval(),
        "per_class": _per_class(acc, palette),
        "decoding": decoding,
        "seconds_per_image": (time.perf_counter() - start) / max(len(images), 1),
    }


def _per_class(acc: IoUAccumulator, palette: Palette) -> dict[str, float | None]:
    """IoU per class name, rounded; ``None`` for a class no map holds and for the ignored class
    (CelebA: background), which has no figure of its own."""
    return {
        name: (None if np.isnan(v) or k == palette.ignore_index else round(float(v), 4))
        for k, (name, v) in enumerate(zip(palette.class_names, acc.per_class()))
    }


def cycle_portraits(
    pipe: Any, class_maps: Sequence[np.ndarray], generate_steps: int = 25, seed: int = 0, batch_size: int = 16,
    hold_label: bool | None = None,
) -> list[np.ndarray]:
    """The first half of the cycle: one portrait (``uint8`` ``[S, S, 3]``) generated from each
    mask, batch ``i`` (of ``batch_size``) seeded ``seed + i``, as the model's config says
    (:meth:`~symmflow.pipeline.SymmFlowPipeline.generate`'s defaults, its label hold included;
    ``hold_label`` as there). All of them, in every process. Scored by :func:`evaluate_segmentation` with the same
    ``seed`` and ``batch_size``, at any number of steps, they give what :func:`evaluate_cycle`
    returns, without generating them again."""
    portraits: list[np.ndarray] = []
    for i in range(0, len(class_maps), batch_size):
        masks = [np.asarray(m) for m in class_maps[i : i + batch_size]]
        out = pipe.generate(masks, steps=generate_steps, seed=seed + i, output_type="np", hold_label=hold_label)
        portraits += list(out.images)
    return portraits


def evaluate_cycle(
    pipe: Any,
    class_maps: Sequence[np.ndarray],
    generate_steps: int = 25,
    segment_steps: int = 5,
    seed: int = 0,
    batch_size: int = 16,
    decoding: str = "classes",
    hold_label: bool | None = None,
) -> dict[str, Any]:
    """Cycle consistency of generation: generate from each mask (:func:`cycle_portraits`, ``hold_label`` as there),
    segment the result with the same model, and score the recovered mask against the input
    (mIoU; ``decoding`` as in :func:`evaluate_segmentation`). Each process takes its share of
    the batches. Returns ``{miou, miou_interval, per_class, decoding}`` (``miou_interval``: the 95%
    bootstrap interval over the masks, :meth:`IoUAccumulator.interval`)."""
    segment, palette = _decoded(pipe, decoding)
    acc = IoUAccumulator(palette.num_classes, palette.ignore_index, items=len(class_maps))
    for i in process_batches(len(class_maps), batch_size):
        masks = [np.asarray(m) for m in class_maps[i : i + batch_size]]
        portraits = cycle_portraits(pipe, masks, generate_steps, seed + i, batch_size, hold_label)
        recovered = segment(portraits, segment_steps, seed + i)
        for j, (predicted, true) in enumerate(zip(recovered, masks)):
            acc.update(predicted, recode_class_map(true, pipe.palette, decoding), item=i + j)
    acc.sum_over_processes()
    return {"miou": acc.mean(), "miou_interval": acc.interval(), "per_class": _per_class(acc, palette), "decoding": decoding}


def sample_diversity(
    pipe: Any,
    class_maps: Sequence[np.ndarray],
    samples: int = 4,
    steps: int = 25,
    seed: int = 0,
    distance: str = "l1",
    hold_label: bool | None = None,
) -> float:
    """Mean distance between samples of the same mask drawn with different noise, averaged over
    masks and sample pairs. 0 means no diversity. ``hold_label``: as in ``generate``.

    ``distance``: ``"l1"``, the mean absolute pixel difference on a 0..1 scale; or ``"lpips"``,
    the LPIPS distance (AlexNet), which needs the optional ``lpips`` package and its weights.
    """
    if samples < 2:
        raise ValueError(f"diversity needs at least 2 samples per mask, got {samples}")
    if distance not in ("l1", "lpips"):
        raise ValueError(f"unknown diversity distance {distance!r}; choose 'l1' or 'lpips'")
    metric = lpips_model() if distance == "lpips" else None
    pairs = torch.triu_indices(samples, samples, 1)
    total = np.zeros(2)  # sum of per-mask distances, number of masks
    for i in process_batches(len(class_maps), 1):
        out = pipe.generate(np.asarray(class_maps[i]), steps=steps, seed=seed + 1000 * i, num_images_per_label=samples, output_type="pt",
                           hold_label=hold_label).images
        out = out.float().cpu()  # [samples, 3, H, W] in [-1, 1]
        if metric is None:
            flat = (out.flatten(1) + 1) / 2
            d = (torch.cdist(flat, flat, p=1) / flat.shape[1])[pairs.unbind()]
        else:
            with torch.no_grad():
                d = metric(out[pairs[0]], out[pairs[1]]).flatten()
        total += (d.mean().item(), 1)
    (total,) = sum_over_processes(total)
    return float(total[0] / max(total[1], 1))


def lpips_model() -> torch.nn.Module:
    """The LPIPS (AlexNet) distance of images in ``[-1, 1]``, from the optional ``lpips`` package.

    Its AlexNet weights come from torchvision's download (or the torch hub cache); nothing here
    fakes them.
    """
    try:
        import lpips
    except ImportError as err:
        raise ImportError("LPIPS diversity needs the lpips package: pip install lpips") from err
    return lpips.LPIPS(net="alex", verbose=False).eval()


# -- FID (optional dependency) ------------------------------------------------------------------


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``, the FID between two Gaussians.

    ``tr((S1 S2)^(1/2))`` is the sum of the square roots of the eigenvalues of ``S1 S2``
    (real and non-negative for covariance matrices, up to round-off)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    eig = np.linalg.eigvals(s1 @ s2)
    tr_sqrt = np.sqrt(np.clip(eig.real, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def inception_features(images: torch.Tensor, batch_size: int = 50, device: str = "cpu") -> np.ndarray:
    """pytorch-fid's 2048-d pool features of images ``[N, 3, H, W]`` in ``[-1, 1]``.

    Needs ``pip install pytorch-fid`` and its Inception weights (downloaded once by
    pytorch-fid, or already in the torch hub cache); nothing here fakes them.
    """
    try:
        from pytorch_fid.inception import InceptionV3
    except ImportError as err:
        raise ImportError("FID needs pytorch-fid: pip install pytorch-fid") from err
    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval().to(device)
    feats = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            batch = ((images[i : i + batch_size] + 1) / 2).to(device)  # pytorch-fid wants [0, 1]
            feats.append(model(batch)[0].squeeze(-1).squeeze(-1).cpu().numpy())
    return np.concatenate(feats)


def fid(real: torch.Tensor, generated: torch.Tensor, **kwargs: Any) -> float:
    """FID between two image sets ``[N, 3, H, W]`` in ``[-1, 1]`` with pytorch-fid's Inception."""
    a, b = inception_features(real, **kwargs), inception_features(generated, **kwargs)
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


EVAL_SPLITS = {"celebamask_hq": "val", "coco_stuff": "val2017"}
"""The held-out split ``eval`` and ``sample`` use unless ``--split`` names another (the paper's)."""


def segmentation_data(
    pipe, data: str, root: str | None = None, split: str | None = None, count: int | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(images ``uint8 [S, S, 3]``, class maps ``int64 [S, S]``) to evaluate ``pipe`` on, at its
    size: 200 held-out procedural faces (``data="procedural_faces"``; ``count`` others), or a
    data set on disk (``root``; its held-out ``split``, by default :data:`EVAL_SPLITS`)."""
    if data in ("procedural_faces", "folder") and split:
        raise ValueError(f"--split does not apply to --data {data}")
    if data == "procedural_faces":
        from symmflow.data.procedural_faces import HELD_OUT_SEED, generate_faces

        if pipe.palette.name != "celebamask_hq":
            raise ValueError(f"procedural faces carry CelebAMask-HQ labels; this model's palette is {pipe.palette.name!r}")
        images, maps = generate_faces(200 if count is None else count, size=pipe.image_size, seed=HELD_OUT_SEED)
        return list(images), list(maps)
    from symmflow.data import open_dataset

    if root is None:
        raise ValueError(f"--data {data} needs --root, the data set's folder")
    kwargs = {"root": root, "size": pipe.image_size, "limit": count}
    if data == "folder":
        kwargs["palette"] = pipe.palette
    else:
        split = split or EVAL_SPLITS.get(data)
        if split is None:
            raise ValueError(f"--data {data} needs --split (the held-out split's folder name)")
        kwargs["split"] = split
    dataset = open_dataset(data, **kwargs)
    if dataset.palette.name != pipe.palette.name:
        raise ValueError(f"the data set's palette {dataset.palette.name!r} differs from the model's {pipe.palette.name!r}")
    from symmflow.data.images import to_uint8

    images, maps = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        images.append(to_uint8(item["image"]))  # a quarter of float32's memory, for large sets
        maps.append(item["class_map"].numpy())
    if not images:
        raise ValueError("no images to evaluate")
    return images, maps


def evaluate_digits(pipe, split: str, steps_list: Sequence[int], seed: int = 0) -> tuple[dict[int, dict[str, Any]], np.ndarray]:
    """:func:`evaluate_classification` on a split of scikit-learn's digits (``"test"``: the 539
    held-out digits); returns ``(results, true labels [N])``."""
    from symmflow.data.digits import digits_split, digits_to_tensor

    raw, labels = digits_split(split)
    return evaluate_classification(pipe, digits_to_tensor(raw, pipe.image_size), labels, steps_list, seed=seed), labels


def segmentation_report(
    pipe, images: Sequence[np.ndarray], class_maps: Sequence[np.ndarray], steps: Sequence[int], seed: int = 0,
    cycle: int = 0, diversity: int = 0, diversity_distance: str = "l1", decoding: str = "classes",
) -> dict[str, Any]:
    """What ``symmflow eval`` reports for a segmentation model: mIoU and per-class IoU at each
    step count, each mIoU with its 95% bootstrap interval over the images
    (:meth:`IoUAccumulator.interval`); cycle mIoU and its interval on the first ``cycle`` masks
    (generated at the model's default steps, segmented at ``steps[0]``); sample diversity on the first ``diversity`` masks. Both
    mIoUs decode predictions by ``decoding`` (:func:`evaluate_segmentation`) and remove regions
    under the config's ``min_region``, both named in the report."""
    decoding_palette(pipe.palette, decoding)  # an unknown decoding is refused before any work
    report: dict[str, Any] = {"images": len(images), "decoding": decoding, "min_region": pipe.config.min_region,
                              "segmentation": {}}
    for s in steps:
        seg = evaluate_segmentation(pipe, images, class_maps, steps=s, seed=seed, decoding=decoding)
        report["segmentation"][str(s)] = {"miou": round(seg["miou"], 4), "miou_interval": round_interval(seg["miou_interval"]),
                                          "per_class": seg["per_class"]}
    if cycle:
        result = evaluate_cycle(pipe, class_maps[:cycle], generate_steps=pipe.default_steps["generate"], segment_steps=steps[0],
                                seed=seed, decoding=decoding)
        report["cycle_miou"] = round(result["miou"], 4)
        report["cycle_miou_interval"] = round_interval(result["miou_interval"])
    if diversity:
        value = sample_diversity(pipe, class_maps[:diversity], samples=4, steps=pipe.default_steps["generate"], seed=seed, distance=diversity_distance)
        report["diversity"], report["diversity_distance"] = round(value, 4), diversity_distance
    return report
