"""Face detection and CelebA-HQ alignment in front of segmentation, and the way back to the photo.

A model trained on CelebA-HQ / CelebAMask-HQ reads a face only in that dataset's framing. This
module finds the faces of any photo, crops each one to that framing, lets a caller-supplied
``segment_fn`` label the crops and pastes the labels back onto the whole photo. It imports
neither torch nor the pipeline: the caller brings the model.

Conventions
-----------
- Photos are RGB uint8 (H, W, 3); a grey (H, W) or (H, W, 1) photo is repeated to three
  channels, an RGBA (H, W, 4) one loses its alpha.
- Pixel coordinates: x right, y down, pixel centres on integers, so an image of side S spans
  [-0.5, S - 0.5]. A fraction ``f`` of the crop side is the pixel coordinate ``f * S - 0.5``.
- Affine matrices are (2, 3) float64 and map photo pixels to crop pixels:
  ``[u, v] = M @ [x, y, 1]``. ``Face.inverse`` maps crop pixels back to the photo.
- Eyes are (2, 2) float64 ``[[x, y] of the subject's right eye, [x, y] of the left eye]``: for
  an upright face the one on the IMAGE's left first (CelebAMask-HQ ``r_eye``), ``l_eye`` second.

Canonical framing (``CANONICAL_EYES``): measured on the four official CelebAMask-HQ sample
masks as fractions of the square side: ``r_eye`` centre x 0.374-0.381, ``l_eye`` x 0.620-0.626
(inter-ocular distance 0.238-0.252), eye line y 0.475-0.481, mouth centre (0.495-0.502,
0.724-0.766), which the eyes alone place well. A crop puts the eyes' midpoint at (0.5, 0.478),
the eyes 0.245 of the side apart, on a horizontal line: a similarity transform (rotation,
uniform scale, translation), never a shear.

Detection (``detect_faces``): OpenCV's Haar cascades (``haarcascade_frontalface_alt2``, then
``haarcascade_eye``) as ``opencv-python-headless`` 4.x ships them in ``cv2.data.haarcascades``
(OpenCV 5 moved ``CascadeClassifier`` out of the main package, hence the ``<5`` pin), loaded
once on first use, no download. Faces are searched in a grey copy whose longest side is at
most ``DETECT_MAX_SIDE`` pixels, scaled down or up to twofold (fast whatever the photo's size;
it sets the smallest face found: the cascade's 20 px window there, e.g. 64 px in a 1024 px
photo, 10 px in a 160 px one, so that faces under ``MIN_FACE`` are seen and reported as too
small). Eyes are then searched in the photo's own pixels of the upper part of each face box
(resized to ``_EYE_ROI_WIDTH``). Eyes are trusted when one is found in each half of the box at
plausible heights and spacing; with one eye the other is its mirror image about the box's
centre line; with none the eyes come from the box alone (``BOX_EYES``). When no upright face
is found, the photo padded at its borders (a face cut by the border), then turned by a quarter
turn either way (a face lying on its side, aligned upright) is searched too.

Padding: pixels a crop takes from outside the photo (a face cut by the border) are filled by
reflection about the border pixel (OpenCV's BORDER_REFLECT_101), as CelebA-HQ itself was padded
(Karras et al. 2018 pad with reflections); edge replication would paint stripes that no training
image has. Those pixels never return to the photo: only the crop's footprint inside the photo
is pasted back.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import cv2
import numpy as np

CANONICAL_EYES = np.array([[0.3775, 0.478], [0.6225, 0.478]])  # fractions of the crop side
# Where the eyes of an upright frontal face lie in a ``haarcascade_frontalface_alt2`` box, as
# fractions of the box (x, y): the mean of the eye-cascade centres found in the boxes of
# scikit-image's astronaut (0.271, 0.367) and (0.742, 0.388), and of matplotlib's Grace Hopper
# (0.692, 0.371; her other eye is not found), made symmetric about the box's centre line.
BOX_EYES = np.array([[0.286, 0.375], [0.714, 0.375]])
# 320: a 1024 px photo costs ~60 ms with a face, ~110 ms without (four searches) on 2 loaded
# cores; 480 px costs 2x, 640 px 3.4x (faces from 43 / 32 px instead of 64 px in such a photo).
DETECT_MAX_SIDE = 320
DETECT_SCALE_FACTOR = 1.15  # pyramid step: 1.2 missed 1-2 of ten 40 px faces, 1.1 costs 1.4x
# Pyramid step of the fallback searches (padded, turned), which only run when the first found
# nothing: 1.25 costs 0.6x of 1.15 there (a 1024 px photo without a face: ~170 -> ~110 ms) and
# finds the same quarter-turned and border-cut astronaut faces, eyes as close.
DETECT_FALLBACK_SCALE_FACTOR = 1.25
DETECT_MIN_NEIGHBORS = 3
MIN_FACE = 24  # px: the smallest face box (in the photo) that is aligned
MIN_CROP = 256
"""px: the smallest side of the aligned face crops a pipeline segments (its own image size when
larger, ``SegmentationPipeline.crop_size``): labels are decoded at the crop's size, so borders
pasted back onto a large photo stay smooth."""
MAX_FACES = 10
MODES = ("auto", "align", "whole")
_EYE_ROI_WIDTH = 120  # px: face boxes are resized to this width to search their eyes


class NoFaceError(ValueError):
    """``mode="align"`` was asked but the photo has no face large enough to align. ``detail``: what
    was searched for, without the advice on modes (callers with their own names for the modes,
    such as the app's buttons, give their own)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{detail}; use mode 'auto' or 'whole'")


@dataclass
class Face:
    """One face found in a photo and the crop that aligns it.

    ``box``: (x, y, w, h) int, photo pixels, axis-aligned (for a face found in the turned photo,
    the turned box mapped back). ``eyes``: (2, 2) float64 photo pixels, subject's right eye first.
    ``eyes_from``: "eyes" (both found), "one eye" (the other mirrored) or "box" (``BOX_EYES``).
    ``score``: int, the detector's neighbour count (more is surer). ``turn``: 0, 90 or -90, the
    quarter turn (degrees, counter-clockwise positive) of the photo in which it was found.
    ``matrix``/``inverse``: (2, 3) float64 photo -> crop and crop -> photo. ``size``: crop side.
    """

    box: tuple[int, int, int, int]
    eyes: np.ndarray
    eyes_from: str
    score: int
    turn: int
    matrix: np.ndarray
    inverse: np.ndarray
    size: int


@dataclass
class PhotoSegmentation:
    """What ``segment_photo`` returns.

    ``labels``: (H, W) int64 class ids on the whole photo, 0 (background) outside every crop.
    ``faces``: the faces aligned and segmented (empty in whole-image mode). ``too_small``: boxes
    (x, y, w, h) of faces found but under ``MIN_FACE`` px, not aligned. ``mode``: "aligned" or
    "whole", what was done. ``crops``: (N, S, S, 3) uint8 what ``segment_fn`` saw; ``crop_labels``:
    (N, S, S) int64 what it answered; ``matrices``: (N, 2, 3) photo -> crop, one per crop.
    ``messages``: sentences for the user (no face found, faces too small or over the cap).
    """

    labels: np.ndarray
    faces: list[Face]
    too_small: list[tuple[int, int, int, int]]
    mode: str
    crops: np.ndarray
    crop_labels: np.ndarray
    matrices: np.ndarray
    messages: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- input


def to_rgb(photo) -> np.ndarray:
    """The photo as contiguous RGB uint8 (H, W, 3).

    Accepts uint8 arrays (H, W), (H, W, 1) (grey, repeated), (H, W, 3) and (H, W, 4) (alpha
    dropped). Anything else raises ValueError/TypeError naming what was given.
    """
    a = np.asarray(photo)
    if a.dtype != np.uint8:
        raise TypeError(
            f"photo must be a uint8 array (values 0-255), got dtype {a.dtype}; "
            "convert floats in [0, 1] with (x * 255).round().astype(np.uint8)"
        )
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(
            f"photo must be (H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, got shape {a.shape}"
        )
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"photo must be at least 2x2 pixels, got {a.shape[1]}x{a.shape[0]}")
    return np.ascontiguousarray(a)


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"crop size must be an integer >= 8 pixels, got {size!r}")
    return int(size)


# ----------------------------------------------------------------------------- geometry


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a (2, 3) affine map, as (2, 3) float64."""
    m = np.asarray(matrix, np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"an affine matrix is (2, 3), got {m.shape}")
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The (2, 3) map ``a after b``: x -> a(b(x))."""
    return (np.vstack([a, [0, 0, 1]]) @ np.vstack([b, [0, 0, 1]]))[:2]


def apply_affine(matrix: np.ndarray, points) -> np.ndarray:
    """Points (N, 2) float mapped by a (2, 3) matrix, as (N, 2) float64."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return p @ np.asarray(matrix, np.float64)[:, :2].T + np.asarray(matrix, np.float64)[:, 2]


def alignment_matrix(eyes, size: int) -> np.ndarray:
    """The (2, 3) similarity mapping photo pixels to a ``size`` crop that puts ``eyes`` (2, 2)
    photo pixels, subject's right eye (image-left when upright) first, on ``CANONICAL_EYES``."""
    size = _check_size(size)
    e = np.asarray(eyes, np.float64)
    if e.shape != (2, 2) or not np.all(np.isfinite(e)):
        raise ValueError(f"eyes must be a finite (2, 2) array [[x, y], [x, y]], got {e!r}")
    p = e[:, 0] + 1j * e[:, 1]
    if abs(p[1] - p[0]) < 1e-6:
        raise ValueError(f"the two eyes coincide at {e[0].tolist()}: no alignment defined")
    q = CANONICAL_EYES * size - 0.5
    q = q[:, 0] + 1j * q[:, 1]
    a = (q[1] - q[0]) / (p[1] - p[0])
    b = q[0] - a * p[0]
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def whole_matrix(shape, size: int) -> np.ndarray:
    """The (2, 3) map that fits a whole (H, W) photo into a ``size`` square, centred, keeping its
    aspect ratio (the short side is padded by reflection, see the module's docstring)."""
    size = _check_size(size)
    h, w = shape[:2]
    s = size / max(h, w)
    # Centre to centre: the photo's centre ((w-1)/2, (h-1)/2) goes to the square's.
    return np.array([[s, 0, (size - 1) / 2 - s * (w - 1) / 2], [0, s, (size - 1) / 2 - s * (h - 1) / 2]])


def warp_crop(photo: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The (size, size, 3) uint8 crop of an RGB uint8 photo under a photo -> crop ``matrix``.

    Bilinear, with reflection padding outside the photo. A crop that shrinks the photo more than
    twofold is taken from an area-averaged copy first, so that it does not alias.
    """
    size = _check_size(size)
    m = np.asarray(matrix, np.float64)
    scale = np.sqrt(abs(np.linalg.det(m[:, :2])))
    src = photo
    k = int(np.floor(1.0 / scale)) if scale > 0 else 1
    if k >= 2:
        h, w = photo.shape[:2]
        hs, ws = max(1, round(h / k)), max(1, round(w / k))
        src = cv2.resize(photo, (ws, hs), interpolation=cv2.INTER_AREA)
        # small pixel (xs, ys) is photo pixel ((xs + .5) * w / ws - .5, ...)
        up = np.array([[w / ws, 0, 0.5 * w / ws - 0.5], [0, h / hs, 0.5 * h / hs - 0.5]])
        m = _compose(m, up)
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _nearest_source(matrix: np.ndarray, out_shape, in_shape):
    """For every pixel of an ``out_shape`` image, the nearest ``in_shape`` pixel under the
    out -> in ``matrix``: rows, cols (int) and an inside mask. Rounds half up, exactly."""
    h, w = out_shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    u = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    v = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    # A tiny tolerance so that an exact half-pixel lands the same way on both trips.
    iu = np.floor(u + 0.5 + 1e-9).astype(np.int64)
    iv = np.floor(v + 0.5 + 1e-9).astype(np.int64)
    inside = (iu >= 0) & (iu < in_shape[1]) & (iv >= 0) & (iv < in_shape[0])
    return iv, iu, inside


def warp_labels(labels: np.ndarray, matrix: np.ndarray, size: int, fill: int = 0) -> np.ndarray:
    """A photo's class-id map (H, W) int cut to a (size, size) crop by nearest neighbour under
    the photo -> crop ``matrix`` (e.g. a ground-truth mask to compare with a crop's labels).
    Crop pixels from outside the photo get ``fill``."""
    size = _check_size(size)
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be a 2-D (H, W) class-id map, got shape {lab.shape}")
    iv, iu, inside = _nearest_source(invert_affine(matrix), (size, size), lab.shape)
    out = np.full((size, size), fill, dtype=lab.dtype)
    out[inside] = lab[iv[inside], iu[inside]]
    return out


def _footprint_box(matrix: np.ndarray, size: int, shape) -> tuple[int, int, int, int]:
    """Photo pixel range (y0, y1, x0, x1) covering the crop of a photo -> crop ``matrix``."""
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    p = apply_affine(invert_affine(matrix), corners)
    x0, y0 = np.floor(p.min(0)).astype(int) - 1
    x1, y1 = np.ceil(p.max(0)).astype(int) + 2
    h, w = shape[:2]
    return max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)


def paste_labels(crop_labels: np.ndarray, matrices: np.ndarray, shape) -> np.ndarray:
    """Class maps of crops (N, S, S) int put back on a photo of ``shape`` (H, W, ...).

    Each photo pixel inside a crop's footprint takes, by nearest neighbour, the label of the crop
    pixel it maps to under that crop's photo -> crop matrix (``matrices`` (N, 2, 3)). Where
    footprints overlap, the crop in which the pixel lies most centrally (smallest Chebyshev
    distance to the crop's centre, in fractions of its side) wins: a face's own crop is centred on
    it; on a tie the earlier crop (``segment_photo`` puts the larger faces first) keeps it.
    Pixels outside every footprint are 0 (background). Returns (H, W) int64. Exact inverse of
    ``warp_labels`` wherever the crop does not shrink the photo (a photo pixel exactly on the
    crop's edge may fall either side). Class ids must lie in 0..32767.
    """
    labs = np.asarray(crop_labels)
    mats = np.asarray(matrices, np.float64)
    if labs.ndim != 3 or labs.shape[1] != labs.shape[2]:
        raise ValueError(f"crop labels must be (N, S, S), got shape {labs.shape}")
    if mats.shape != (labs.shape[0], 2, 3):
        raise ValueError(f"matrices must be (N, 2, 3) with N = {labs.shape[0]}, got shape {mats.shape}")
    h, w = shape[:2]
    size = labs.shape[1]
    if labs.size and (labs.min() < 0 or labs.max() > 32767):
        raise ValueError(f"class ids must lie in 0..32767, got {labs.min()}..{labs.max()}")
    out = np.zeros((h, w), np.int64)
    best = np.full((h, w), np.inf, np.float32)
    # Each crop pixel's Chebyshev distance to the crop's centre, in fractions of the side; +1
    # so that 0 in a warped map means "outside the crop".
    c = np.abs(np.arange(size, dtype=np.float32) - (size - 1) / 2)
    central = 1.0 + np.maximum(c[:, None], c[None, :]) / size
    for lab, m in zip(labs, mats):
        y0, y1, x0, x1 = _footprint_box(m, size, (h, w))
        if y0 >= y1 or x0 >= x1:
            continue
        # The sub-image's pixel (x, y) is the photo's (x + x0, y + y0). OpenCV's nearest
        # neighbour rounds the source position half up, as ``warp_labels`` does.
        sub = _compose(m, np.array([[1.0, 0, x0], [0, 1.0, y0]]))
        flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        got = cv2.warpAffine(lab.astype(np.int16), sub, (x1 - x0, y1 - y0), flags=flags, borderValue=0)
        dist = cv2.warpAffine(central, sub, (x1 - x0, y1 - y0), flags=flags, borderValue=0)
        win = (dist > 0) & (dist < best[y0:y1, x0:x1])
        best[y0:y1, x0:x1][win] = dist[win]
        out[y0:y1, x0:x1][win] = got[win]
    return out


# ----------------------------------------------------------------------------- detection

_FACE_CASCADE = "haarcascade_frontalface_alt2.xml"
_EYE_CASCADE = "haarcascade_eye.xml"
# One CascadeClassifier is not safe to run from two threads at once (it keeps the image being
# searched in its feature evaluator), and the app may serve requests in parallel.
_CASCADE_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _cascade(name: str):
    """OpenCV's bundled cascade ``name``, loaded once."""
    classifier = getattr(cv2, "CascadeClassifier", None)
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if classifier is None or folder is None:
        raise RuntimeError(
            f"face detection needs cv2.CascadeClassifier and cv2.data.haarcascades, which OpenCV "
            f"{cv2.__version__} does not have; install opencv-python-headless>=4.10,<5"
        )
    c = classifier(folder + name)
    if c.empty():
        raise RuntimeError(f"could not load OpenCV's cascade {folder + name}")
    return c


def _detect(name: str, gray: np.ndarray, scale_factor: float, min_neighbors: int, max_size: int = 0):
    """Boxes (M, 4) int (x, y, w, h) and neighbour counts (M,) int of a cascade on a grey image."""
    cascade = _cascade(name)
    with _CASCADE_LOCK:
        boxes, counts = cascade.detectMultiScale2(
            gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, maxSize=(max_size, max_size)
        )
    return np.asarray(boxes, np.int64).reshape(-1, 4), np.asarray(counts, np.int64).reshape(-1)


# Quarter turns: np.rot90(photo, k) and the (2, 3) map from the turned photo's pixels back.
def _turn_back(k: int, shape) -> np.ndarray:
    h, w = shape[:2]
    if k == 1:  # turned[i, j] = photo[j, w - 1 - i]
        return np.array([[0.0, -1.0, w - 1.0], [1.0, 0.0, 0.0]])
    if k == 3:  # turned[i, j] = photo[h - 1 - j, i]
        return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, h - 1.0]])
    return np.array([[1.0, 0, 0], [0, 1.0, 0]])


def _find_eyes(gray: np.ndarray, box) -> tuple[np.ndarray, str]:
    """Eyes (2, 2) in ``gray``'s pixels for a face ``box`` found in it, and where they came from."""
    x, y, w, h = box
    fallback = np.array([x, y]) + BOX_EYES * np.array([w, h]) - 0.5
    y0, y1 = max(y + int(0.15 * h), 0), min(y + int(0.62 * h), gray.shape[0])
    x0, x1 = max(x, 0), min(x + w, gray.shape[1])
    if y1 - y0 < 4 or x1 - x0 < 4:
        return fallback, "box"
    s = _EYE_ROI_WIDTH / w
    roi = cv2.resize(gray[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    boxes, counts = _detect(_EYE_CASCADE, roi, 1.1, 2, max_size=int(0.45 * _EYE_ROI_WIDTH))
    best = {}
    for (bx, by, bw, bh), n in zip(boxes, counts):
        cx = (bx + bw / 2) / s + x0 - 0.5
        cy = (by + bh / 2) / s + y0 - 0.5
        fx, fy = (cx + 0.5 - x) / w, (cy + 0.5 - y) / h
        # Plausible: an eye-sized box in the upper middle of the face, one per half.
        if not (0.1 <= fx <= 0.9 and 0.2 <= fy <= 0.55 and 0.1 <= bw / s / w <= 0.45):
            continue
        side = 0 if fx < 0.5 else 1
        if side not in best or n > best[side][1]:
            best[side] = (np.array([cx, cy]), n)
    if len(best) == 2:
        e = np.stack([best[0][0], best[1][0]])
        d = e[1] - e[0]
        if 0.25 * w <= np.hypot(*d) <= 0.65 * w and abs(d[1]) <= 0.5 * abs(d[0]):
            return e, "eyes"
        best = {k: best[k] for k in best if best[k][1] == max(b[1] for b in best.values())}
    if len(best) == 1:
        side, (p, _) = next(iter(best.items()))
        mirror = np.array([2 * (x + w / 2 - 0.5) - p[0], p[1]])
        e = np.stack([p, mirror]) if side == 0 else np.stack([mirror, p])
        if 0.25 * w <= e[1, 0] - e[0, 0] <= 0.65 * w:
            return e, "one eye"
    return fallback, "box"


@dataclass
class Detection:
    """A face found by ``detect_faces``: box (x, y, w, h) int, eyes (2, 2) float (photo pixels,
    subject's right eye first: the image-left one when the face is upright), eyes_from, score
    (neighbour count), turn (0, 90, -90 degrees: ``np.rot90(photo, 1)`` / ``(photo, 3)``)."""

    box: tuple[int, int, int, int]
    eyes: np.ndarray
    eyes_from: str
    score: int
    turn: int


def _detect_upright(
    gray: np.ndarray, max_side: int, pad: bool, scale_factor: float = DETECT_SCALE_FACTOR
) -> list[tuple[tuple[int, int, int, int], int]]:
    """Upright face boxes (photo pixels) and neighbour counts in a grey photo, searched in a copy
    scaled to ``max_side`` (at most twofold up, so that faces under ``MIN_FACE`` are still seen
    and reported). ``pad``: extend the copy by an eighth of its side with replicated border
    pixels, so that a face cut by the border (by up to about a fifth of its box) is still found."""
    h, w = gray.shape
    s = min(2.0, max_side / max(h, w))
    small = gray if s == 1.0 else cv2.resize(
        gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    )
    p = max(small.shape) // 8 if pad else 0
    if p:
        small = cv2.copyMakeBorder(small, p, p, p, p, cv2.BORDER_REPLICATE)
    boxes, counts = _detect(_FACE_CASCADE, small, scale_factor, DETECT_MIN_NEIGHBORS)
    sx, sy = w / (small.shape[1] - 2 * p), h / (small.shape[0] - 2 * p)
    return [
        ((int(round((bx - p) * sx)), int(round((by - p) * sy)), int(round(bw * sx)), int(round(bh * sy))), int(n))
        for (bx, by, bw, bh), n in zip(boxes, counts)
    ]


def detect_faces(photo, max_side: int = DETECT_MAX_SIDE, try_turns: bool = True) -> list[Detection]:
    """Every face of an RGB/grey uint8 photo, largest first, with its eyes.

    Searches a copy scaled to ``max_side`` px (down, or up to twofold); when it holds no face,
    that copy padded at its borders, then (``try_turns``) the padded copy turned 90 degrees
    either way (the turn with the surest face wins). A photo with a face costs one search, one
    without costs four. Sizes are not filtered here: ``segment_photo`` sets faces under
    ``MIN_FACE`` aside. Boxes of faces cut by the border reach outside the photo.
    """
    rgb = to_rgb(photo)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # Fallbacks, each only when everything before found nothing: the padded photo (a face cut
    # by the border), then the photo turned a quarter turn either way (a face on its side).
    turns = {0: _detect_upright(gray, max_side, pad=False)}
    if not turns[0]:
        turns[0] = _detect_upright(gray, max_side, pad=True, scale_factor=DETECT_FALLBACK_SCALE_FACTOR)
    if not turns[0] and try_turns:
        for k in (1, 3):
            turned = np.ascontiguousarray(np.rot90(gray, k))
            turns[k] = _detect_upright(turned, max_side, pad=True, scale_factor=DETECT_FALLBACK_SCALE_FACTOR)
    # The quarter turn holding the surest face (upright whenever it holds any).
    k = max(turns, key=lambda t: (max((n for _, n in turns[t]), default=-1), t == 0))
    g = np.ascontiguousarray(np.rot90(gray, k)) if k else gray
    back = _turn_back(k, gray.shape)
    found = []
    for (x, y, bw, bh), n in turns[k]:
        # Eyes are searched where the face is upright; their order (subject's right eye first)
        # holds in any frame.
        eyes, src = _find_eyes(g, (x, y, bw, bh))
        corners = apply_affine(back, [[x - 0.5, y - 0.5], [x + bw - 0.5, y + bh - 0.5]])
        lo = np.round(corners.min(0) + 0.5).astype(int)
        hi = np.round(corners.max(0) + 0.5).astype(int)
        box = (int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1]))
        found.append(Detection(box, apply_affine(back, eyes), src, n, {0: 0, 1: 90, 3: -90}[k]))
    found.sort(key=lambda d: -d.box[2] * d.box[3])
    return found


# ----------------------------------------------------------------------------- the whole path


@dataclass
class AlignedPhoto:
    """What ``align_photo`` returns: the crops to segment and how to put their labels back.

    ``shape``: (H, W) of the photo. ``faces``, ``too_small``, ``mode``, ``crops``, ``matrices``,
    ``messages``: as in :class:`PhotoSegmentation`.
    """

    shape: tuple[int, int]
    faces: list[Face]
    too_small: list[tuple[int, int, int, int]]
    mode: str
    crops: np.ndarray
    matrices: np.ndarray
    messages: list[str] = field(default_factory=list)

    def paste(self, crop_labels: np.ndarray, what: str = "crop labels") -> PhotoSegmentation:
        """The crops' class ids (N, S, S) int -> the whole photo's segmentation (``what``
        names the labels in the error when their shape or type is wrong)."""
        ids = np.asarray(crop_labels)
        want = self.crops.shape[:3]
        if ids.shape != want or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{what} must be integer class ids of shape {want}, got {ids.dtype} {ids.shape}")
        ids = ids.astype(np.int64)
        labels = paste_labels(ids, self.matrices, self.shape)
        return PhotoSegmentation(labels, self.faces, self.too_small, self.mode, self.crops, ids, self.matrices,
                                 self.messages)


def segment_photo(
    photo,
    segment_fn: Callable[[np.ndarray], np.ndarray],
    mode: str = "auto",
    size: int = 64,
    max_faces: int = MAX_FACES,
    min_face: int = MIN_FACE,
) -> PhotoSegmentation:
    """Segment a whole photo through aligned face crops: :func:`align_photo`, then
    ``segment_fn`` once on all crops (N, size, size, 3) uint8 RGB, which returns class ids
    (N, size, size) int, pasted back by :meth:`AlignedPhoto.paste`."""
    if not callable(segment_fn):
        raise TypeError(f"segment_fn must be callable (crops (N, S, S, 3) uint8 -> ids (N, S, S)), got {type(segment_fn).__name__}")
    aligned = align_photo(photo, mode, size, max_faces, min_face)
    return aligned.paste(segment_fn(aligned.crops), what="the labels segment_fn returns")


def align_photo(
    photo, mode: str = "auto", size: int = 64, max_faces: int = MAX_FACES, min_face: int = MIN_FACE,
) -> AlignedPhoto:
    """Find the faces of a photo and crop each aligned to CelebA-HQ's framing.

    ``photo``: uint8 RGB (H, W, 3), grey (H, W)/(H, W, 1) or RGBA. ``mode``: "auto" aligns every
    face found and, with none, says so in ``messages`` (and a warning) and crops the whole photo
    resized into the square; "align" raises ``NoFaceError`` when there is no face to align;
    "whole" never aligns. Faces under ``min_face`` px are listed in ``too_small`` and not
    aligned; beyond the ``max_faces`` largest, faces are left out with a message. The crops are
    (N, size, size, 3) uint8.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    size = _check_size(size)
    rgb = to_rgb(photo)
    h, w = rgb.shape[:2]
    messages: list[str] = []
    faces: list[Face] = []
    too_small: list[tuple[int, int, int, int]] = []
    if mode != "whole":
        found = detect_faces(rgb)
        for d in found:
            if min(d.box[2], d.box[3]) < min_face:
                too_small.append(d.box)
                continue
            m = alignment_matrix(d.eyes, size)
            faces.append(Face(d.box, d.eyes, d.eyes_from, d.score, d.turn, m, invert_affine(m), size))
        if too_small:
            messages.append(
                f"{len(too_small)} face(s) smaller than {min_face} px were found but not aligned "
                f"(face too small: the minimum is {min_face} px; largest was {max(min(b[2], b[3]) for b in too_small)} px)."
            )
        if len(faces) > max_faces:
            messages.append(f"{len(faces)} faces found: only the {max_faces} largest were segmented.")
            faces = faces[:max_faces]
        if not faces:
            # The cascade's 20 px window in the searched copy, in photo pixels.
            smallest = int(np.ceil(20 / min(2.0, DETECT_MAX_SIDE / max(h, w))))
            if mode == "align":
                raise NoFaceError(
                    f"no face to align in this {w}x{h} photo (faces are found from about {smallest} px "
                    f"and aligned from {min_face} px, upright or turned 90 degrees)"
                )
            what = "No face large enough to align" if too_small else "No face found"
            msg = (
                f"{what} (faces are found from about {smallest} px, upright or turned 90 degrees): "
                "the whole photo was segmented as it is, resized."
            )
            messages.append(msg)
            warnings.warn(msg, stacklevel=2)
    if faces:
        mats = np.stack([f.matrix for f in faces])
        done = "aligned"
    else:
        mats = whole_matrix(rgb.shape, size)[None]
        done = "whole"
    crops = np.stack([warp_crop(rgb, m, size) for m in mats])
    return AlignedPhoto((h, w), faces, too_small, done, crops, mats, messages)


def draw_faces(image: np.ndarray, faces: list[Face], thickness: int | None = None) -> np.ndarray:
    """A copy of ``image`` (uint8 RGB (H, W, 3), the photo's pixel grid) with each face's box in
    green and its eyes in red, for showing what was found; the line width scales with the photo."""
    out = np.ascontiguousarray(to_rgb(image).copy())
    width = thickness or max(1, round(max(out.shape[:2]) / 300))
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 255, 0), width)
        for ex, ey in face.eyes:
            cv2.circle(out, (round(ex), round(ey)), 2 * width + 1, (255, 0, 0), -1)
    return out
