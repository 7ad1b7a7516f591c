"""Viola-Jones Haar cascades evaluated with numpy: face and eye detection without downloads.

OpenCV 5 (the ``opencv-python-headless`` this project installs) no longer has
``cv2.CascadeClassifier`` nor the ``cv2.data`` cascade files that OpenCV 4 shipped. The
cascades themselves are small trained tables (Intel License, BSD-like: redistribution with the
notice, which each file's header carries), so this module ships two of them, gzipped, in
``symmflow/cascades/`` and evaluates them itself:

- ``haarcascade_frontalface_alt2`` (Lienhart, 20 stages of 2-node trees, 20x20 window) finds
  upright frontal faces;
- ``haarcascade_eye`` (Shameem Hameed, 24 stages of stumps, 20x20 window) finds eyes inside a face.

The evaluation follows OpenCV 4's ``CascadeClassifier::detectMultiScale`` for the new-format
(``opencv-cascade-classifier``) HAAR cascades: an image pyramid with linear resizing, a window
stride of 2 pixels while the pyramid factor is <= 2 and 1 pixel beyond, the window's standard
deviation over its inner (w-2)x(h-2) rectangle as the feature normaliser (flat windows are
rejected), each stage summing its trees' leaves and rejecting below its threshold, and
``groupRectangles`` (eps 0.2) merging the hits. The tests check it against OpenCV 4's output
on a fixed photo where OpenCV 4 is importable.

Coordinates: boxes are ``(x, y, w, h)`` in pixels of the image given, x right, y down, the box
covering columns ``x .. x+w-1``.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

CASCADE_DIR = Path(__file__).resolve().parent / "cascades"
CASCADES = ("haarcascade_frontalface_alt2", "haarcascade_eye")


@dataclass(frozen=True)
class _Stage:
    threshold: float
    feature: np.ndarray  # (T, K) int: feature index of each tree node
    node_threshold: np.ndarray  # (T, K) float
    left: np.ndarray  # (T, K) int: OpenCV encoding, > 0 internal node, <= 0 leaf -value
    right: np.ndarray  # (T, K) int
    used: np.ndarray  # (U,) int: the distinct features the stage reads
    column: np.ndarray  # (T, K) int: each node's feature as a column of ``used``
    code_base: np.ndarray  # (T,) int: t * 2**K, where tree t's outcomes start in ``outcome``
    outcome: np.ndarray  # (T, 2**K) float: the leaf each tree reaches for each packed test


@dataclass(frozen=True)
class Cascade:
    """A parsed boosted Haar cascade: a ``window`` (w, h) and its stages and features."""

    name: str
    window: tuple[int, int]
    stages: tuple[_Stage, ...]
    rects: np.ndarray  # (F, 3, 5) float: x, y, w, h, weight; unused third rects weigh 0


def _numbers(text: str | None) -> list[float]:
    return [float(t) for t in (text or "").split()]


@lru_cache(maxsize=None)
def load_cascade(name: str) -> Cascade:
    """Parse one of the shipped cascades (``CASCADES``), cached after the first call."""
    if name not in CASCADES:
        raise ValueError(f"unknown cascade {name!r}: the shipped ones are {', '.join(CASCADES)}")
    path = CASCADE_DIR / f"{name}.xml.gz"
    if not path.is_file():
        raise FileNotFoundError(f"cascade file {path} is missing: reinstall symmflow (it ships in the package)")
    with gzip.open(path, "rb") as f:
        root = ET.parse(f).getroot().find("cascade")
    if root is None or root.findtext("featureType", "").strip() != "HAAR":
        raise ValueError(f"{path} is not a new-format OpenCV HAAR cascade")
    window = (int(root.findtext("width")), int(root.findtext("height")))
    feats = root.find("features")
    rects = np.zeros((len(feats), 3, 5))
    for i, feat in enumerate(feats):
        if feat.findtext("tilted", "0").strip() not in ("0", ""):
            raise ValueError(f"{path}: tilted Haar features are not supported")
        for j, r in enumerate(feat.find("rects")):
            rects[i, j] = _numbers(r.text)
    stages = []
    for st in root.find("stages"):
        trees = []
        for wc in st.find("weakClassifiers"):
            nodes = np.array(_numbers(wc.findtext("internalNodes"))).reshape(-1, 4)
            trees.append((nodes, _numbers(wc.findtext("leafValues"))))
        k = max(len(n) for n, _ in trees)
        t = len(trees)
        left = np.zeros((t, k), np.int64)
        right = np.zeros((t, k), np.int64)
        feature = np.zeros((t, k), np.int64)
        node_thr = np.zeros((t, k))
        leaves = np.zeros((t, k + 1))
        for i, (nodes, leaf) in enumerate(trees):
            n = len(nodes)
            left[i, :n], right[i, :n] = nodes[:, 0], nodes[:, 1]
            feature[i, :n], node_thr[i, :n] = nodes[:, 2], nodes[:, 3]
            leaves[i, : len(leaf)] = leaf
        # A tree's leaf is a function of its K node tests (true: go left): tabulate it once for
        # all 2**K outcomes so that evaluation is one gather, whatever the tree's shape.
        outcome = np.zeros((t, 2**k))
        for i in range(t):
            for code in range(2**k):
                node = 0
                while True:
                    child = left[i, node] if (code >> node) & 1 else right[i, node]
                    if child <= 0:
                        outcome[i, code] = leaves[i, -child]
                        break
                    node = child
        used = np.unique(feature)
        stages.append(
            _Stage(
                float(st.findtext("stageThreshold")), feature, node_thr, left, right, used,
                np.searchsorted(used, feature), np.arange(t) * 2**k, outcome,
            )
        )
    return Cascade(name, window, tuple(stages), rects)


def _scan(cascade: Cascade, gray: np.ndarray, step: int, dense_stages: int = 3) -> np.ndarray:
    """Windows (x, y) of ``gray`` (uint8, one pyramid level) that pass every stage.

    The first ``dense_stages`` stages run on every window at once with strided slices of the
    integral image (cheap, and most windows die there); the rest gather the few survivors.
    """
    ww, wh = cascade.window
    h, w = gray.shape
    if h < wh or w < ww:
        return np.zeros((0, 2), np.int64)
    # int32 sums are exact up to 8.4 M pixels of 255; squares need float64.
    s2, sq2 = cv2.integral2(gray, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
    ny, nx = (h - wh) // step + 1, (w - ww) // step + 1

    def grid(table, x, y, bw, bh):
        """Box sums of the rectangle (x, y, bw, bh) of every window, shape (ny, nx)."""
        def at(dx, dy):
            return table[y + dy : y + dy + (ny - 1) * step + 1 : step, x + dx : x + dx + (nx - 1) * step + 1 : step]
        return at(0, 0) - at(bw, 0) - at(0, bh) + at(bw, bh)

    # Normaliser: the standard deviation over the inner (w-2)x(h-2) rectangle, times its area.
    area = (ww - 2) * (wh - 2)
    vs = grid(s2, 1, 1, ww - 2, wh - 2).astype(np.float64)
    nf = area * grid(sq2, 1, 1, ww - 2, wh - 2) - vs * vs
    good = nf > 0
    inv = np.where(good, 1.0 / np.sqrt(np.where(good, nf, 1.0)), 1.0)
    alive = (good & (area * inv < 0.1)).ravel()  # OpenCV rejects near-flat windows outright
    inv = inv.ravel()

    r = cascade.rects
    ri = r[..., :4].astype(np.int64)
    rwt = r[..., 4]
    stages = cascade.stages
    for st in stages[:dense_stages]:
        val = np.empty((ny * nx, len(st.used)))
        for col, f in enumerate(st.used):
            acc = np.zeros((ny, nx))
            for j in range(3):
                if rwt[f, j] != 0:
                    acc += rwt[f, j] * grid(s2, *ri[f, j])
            val[:, col] = acc.ravel()
        val *= inv[:, None]
        alive &= _stage_passes(st, val)
    idx = np.nonzero(alive)[0]
    ys, xs = idx // nx * step, idx % nx * step
    inv = inv[idx]
    s, w1 = s2.ravel(), w + 1
    base = ys * w1 + xs
    corner = ri[..., 1] * w1 + ri[..., 0]  # (F, 3)
    rh = ri[..., 3] * w1
    offs = np.stack([corner, corner + ri[..., 2], corner + rh, corner + rh + ri[..., 2]], -1)
    for st in stages[dense_stages:]:
        if base.size == 0:
            break
        u = st.used
        g = s[base[:, None] + offs[u].reshape(-1)[None, :]].reshape(base.size, len(u), 3, 4)
        box = (g[..., 0] - g[..., 1] - g[..., 2] + g[..., 3]).astype(np.float64)
        val = (box * rwt[u]).sum(-1) * inv[:, None]
        passed = _stage_passes(st, val)
        base, inv = base[passed], inv[passed]
    return np.stack([base % w1, base // w1], -1)


def _stage_passes(st: _Stage, val: np.ndarray) -> np.ndarray:
    """(N,) bool: the windows whose stage sum reaches the threshold; ``val`` (N, U) features."""
    c = val[:, st.column] < st.node_threshold  # (N, T, K) each node's test
    code = st.code_base + c[..., 0]  # (N, T): tree t's outcome row, plus the tests as bits
    for k in range(1, c.shape[2]):
        code += c[..., k].astype(np.int64) << k
    return st.outcome.ravel()[code].sum(1) >= st.threshold


def group_rectangles(rects: np.ndarray, min_neighbors: int, eps: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's ``groupRectangles``: cluster similar boxes, average them, keep clusters of more
    than ``min_neighbors`` members and drop clusters inside a stronger one.

    ``rects``: (N, 4) int boxes (x, y, w, h). Returns (M, 4) int boxes and (M,) int member counts.
    """
    n = len(rects)
    if n == 0:
        return np.zeros((0, 4), np.int64), np.zeros(0, np.int64)
    rects = np.asarray(rects, np.float64)
    label = np.arange(n)

    def find(i):
        while label[i] != i:
            label[i] = label[label[i]]
            i = label[i]
        return i

    x, y, w, h = rects.T
    for i in range(n):
        delta = eps * (np.minimum(w[i], w) + np.minimum(h[i], h)) * 0.5
        sim = (
            (np.abs(x[i] - x) <= delta) & (np.abs(y[i] - y) <= delta)
            & (np.abs(x[i] + w[i] - x - w) <= delta) & (np.abs(y[i] + h[i] - y - h) <= delta)
        )
        for j in np.nonzero(sim[:i])[0]:
            a, b = find(i), find(int(j))
            if a != b:
                label[a] = b
    roots = np.array([find(i) for i in range(n)])
    classes, inverse, counts = np.unique(roots, return_inverse=True, return_counts=True)
    sums = np.zeros((len(classes), 4))
    np.add.at(sums, inverse, rects)
    avg = np.round(sums / counts[:, None]).astype(np.int64)  # OpenCV rounds the mean box
    out, weights = [], []
    for i in range(len(classes)):
        n1 = counts[i]
        if n1 <= min_neighbors:
            continue
        r1 = avg[i]
        inside = False
        for j in range(len(classes)):
            n2 = counts[j]
            if j == i or n2 <= min_neighbors:
                continue
            r2 = avg[j]
            dx, dy = int(round(r2[2] * eps)), int(round(r2[3] * eps))
            if (
                r1[0] >= r2[0] - dx and r1[1] >= r2[1] - dy
                and r1[0] + r1[2] <= r2[0] + r2[2] + dx and r1[1] + r1[3] <= r2[1] + r2[3] + dy
                and (n2 > max(3, n1) or n1 < 3)
            ):
                inside = True
                break
        if not inside:
            out.append(r1)
            weights.append(n1)
    if not out:
        return np.zeros((0, 4), np.int64), np.zeros(0, np.int64)
    return np.array(out, np.int64), np.array(weights, np.int64)


def detect(
    cascade: Cascade | str,
    gray: np.ndarray,
    scale_factor: float = 1.1,
    min_neighbors: int = 3,
    min_size: int = 0,
    max_size: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-scale detection, as OpenCV 4's ``detectMultiScale`` with ``outputRejectLevels`` off.

    ``gray``: (H, W) uint8. ``min_size``/``max_size``: the smallest/largest box side searched, in
    pixels of ``gray`` (0: no bound; the cascade's window is the floor). Returns boxes (M, 4)
    int ``(x, y, w, h)`` and their neighbour counts (M,) int, a confidence: the more, the surer.
    """
    if isinstance(cascade, str):
        cascade = load_cascade(cascade)
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"detect needs a 2-D uint8 grey image, got shape {gray.shape} dtype {gray.dtype}")
    if scale_factor <= 1.0:
        raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
    ww, wh = cascade.window
    hits = []
    factor = 1.0
    while True:
        win_w, win_h = int(round(ww * factor)), int(round(wh * factor))
        sw, sh = int(round(gray.shape[1] / factor)), int(round(gray.shape[0] / factor))
        if sw < ww or sh < wh:
            break
        if max_size and (win_w > max_size or win_h > max_size):
            break
        if win_w >= min_size and win_h >= min_size:
            level = gray if factor == 1.0 else cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_LINEAR)
            xy = _scan(cascade, level, 2 if factor <= 2 else 1)
            for px, py in xy:
                hits.append((int(round(px * factor)), int(round(py * factor)), win_w, win_h))
        factor *= scale_factor
    return group_rectangles(np.array(hits, np.int64).reshape(-1, 4), min_neighbors)
