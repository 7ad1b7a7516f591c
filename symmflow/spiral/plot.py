"""Matplotlib pictures of the spiral flows (the README figure and the app's frames)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from symmflow.figures import figure_to_array, new_figure
from symmflow.solver import SolverState
from symmflow.spiral.data import arm_curves, make_spirals
from symmflow.spiral.evaluate import classify_flow, generate_flow

__all__ = ["CLASS_COLORS", "accuracy_figure", "figure_to_array", "flows_figure", "frame_figure"]

CLASS_COLORS = ("#2563eb", "#dc2626")  # class 0 (label -1) blue, class 1 (label +1) red
_LIMITS = (-1.6, 2.0, -1.6, 1.6)


def _style(ax, title: str, limits: tuple[float, float, float, float] = _LIMITS) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlim(*limits[:2])
    ax.set_ylim(*limits[2:])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_arms(ax, lw: float = 0.8, alpha: float = 0.35) -> None:
    for k, arm in enumerate(arm_curves(400).numpy()):
        ax.plot(arm[:, 0], arm[:, 1], color=CLASS_COLORS[k], lw=lw, alpha=alpha, zorder=3)


def flows_figure(model: nn.Module, steps: int = 50, n: int = 400, seed: int = 0) -> Figure:
    """Both flows of ``model`` in one figure.

    Left: forward flow ``t = 0 -> 1``, trajectories of points from Gaussian noise to the arm of
    their label. Right: reverse flow ``t = 1 -> 0``, the label value of test points travelling
    from noise to -1 or +1 (coloured by their true arm).
    """
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(2).repeat_interleave(n // 2)
    forward = list(generate_flow(model, labels, steps, generator=gen))
    points, true = make_spirals(n, generator=gen)
    reverse = list(classify_flow(model, points, steps, generator=gen))

    fig = new_figure(figsize=(11, 5))
    ax_f, ax_r = fig.subplots(1, 2)
    xs = torch.stack([s.x for s in forward]).numpy()  # [T, N, 2]
    for i in range(n):
        ax_f.plot(xs[:, i, 0], xs[:, i, 1], color=CLASS_COLORS[labels[i]], lw=0.4, alpha=0.2)
    ax_f.scatter(xs[0, :, 0], xs[0, :, 1], s=3, c="0.6", label="noise (t=0)")
    ax_f.scatter(xs[-1, :, 0], xs[-1, :, 1], s=6, c=[CLASS_COLORS[k] for k in labels], label="samples (t=1)", zorder=4)
    _draw_arms(ax_f, lw=1.5, alpha=0.6)
    _style(ax_f, f"forward flow: noise -> points of a given label ({steps} steps)", (-2.8, 3.2, -2.8, 2.8))
    ax_f.legend(loc="lower right", fontsize=8)

    ts = np.array([s.t for s in reverse])
    ys = torch.stack([s.y[:, 0] for s in reverse]).numpy()  # [T, N]
    for i in range(n):
        ax_r.plot(ts, ys[:, i], color=CLASS_COLORS[true[i]], lw=0.5, alpha=0.3)
    for level in (-1, 1):
        ax_r.axhline(level, color="0.3", lw=0.8, ls="--")
    ax_r.set_xlim(1.0, 0.0)
    ax_r.set_xlabel("t (integrated from 1 down to 0)")
    ax_r.set_ylabel("label value y_t")
    ax_r.set_title(f"reverse flow: points -> labels (-1 blue arm, +1 red arm; {steps} steps)", fontsize=10)
    fig.tight_layout()
    return fig


def frame_figure(
    forward: SolverState,
    forward_labels: torch.Tensor,
    reverse: SolverState,
    reverse_points: torch.Tensor,
    reverse_labels: torch.Tensor,
    size: tuple[float, float] = (9.0, 4.4),
) -> Figure:
    """One animation frame: the forward state (points coloured by their label) beside the
    reverse state (fixed test points coloured by their current label value, blue -1 .. red +1)."""
    fig = new_figure(figsize=size)
    ax_f, ax_r = fig.subplots(1, 2)
    x = forward.x.numpy()
    _draw_arms(ax_f)
    ax_f.scatter(x[:, 0], x[:, 1], s=3, c=[CLASS_COLORS[k] for k in forward_labels.tolist()], alpha=0.7)
    _style(ax_f, f"noise -> points   t = {forward.t:.2f}  (step {forward.step}/{forward.steps})")
    p = reverse_points.numpy()
    y = reverse.y[:, 0].numpy()
    ax_r.scatter(p[:, 0], p[:, 1], s=3, c=y, cmap="coolwarm", vmin=-1.5, vmax=1.5)
    correct = (np.sign(y) > 0).astype(int) == reverse_labels.numpy()
    _style(
        ax_r,
        f"points -> labels   t = {reverse.t:.2f}  (sign correct: {100 * correct.mean():.1f}%)",
    )
    fig.tight_layout()
    return fig


def accuracy_figure(ours: Mapping[str, float], paper: Mapping[str, float], extra: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """Classification accuracy against the number of Euler steps, ours beside the paper's row."""
    fig = new_figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    series = {"paper": paper, "this model": ours, **(extra or {})}
    for name, row in series.items():
        steps = sorted(int(s) for s in row)
        ax.plot(steps, [row[str(s)] for s in steps], marker="o", label=name, ls="--" if name == "paper" else "-")
    ax.set_xscale("log")
    ax.set_xticks([1, 2, 5, 10, 20, 50])
    ax.set_xticklabels(["1", "2", "5", "10", "20", "50"])
    ax.set_xlabel("Euler steps")
    ax.set_ylabel("accuracy %")
    ax.set_title("classification by the reverse flow", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
