"""ODE solvers for the joint state ``(x, y)``, in either time direction.

Time convention (see ``symmflow.path``): integrating from ``t = 0`` to ``t = 1`` turns image
noise into an image while the label turns into noise (**generation**); integrating from
``t = 1`` to ``t = 0`` turns label noise into a label while the image turns into noise
(**segmentation / classification**). The whole joint state moves at every step, the
conditioning half included (the authors' inference), unless a ``constraint`` projects it
(:mod:`symmflow.conditioning` holds the label while generating; :mod:`symmflow.editing` pins
the unedited part of an image).

A velocity model is any callable ``v(x_t, y_t, t) -> (v_x, v_y)`` with ``t`` of shape ``[B]``.
Solvers hold no weights. :meth:`ODESolver.iterate` yields every intermediate state as it is
computed, so an animation costs no extra network evaluations.

Example::

    >>> solver = ODESolver(model, method="euler")
    >>> x, y = solver.solve(torch.randn(4, 2), labels, t_start=0.0, t_end=1.0, steps=25)
    >>> for state in solver.iterate(points, torch.randn(4, 1), *TIME_SPAN["label"], steps=1):
    ...     print(state.step, state.t, state.nfe)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from symmflow.validation import check_finite, check_same_batch, check_steps, check_time

__all__ = ["Constraint", "ODESolver", "SolverState", "TIME_SPAN", "VelocityModel", "SOLVER_METHODS", "time_grid"]

VelocityModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``v(x_t [B, ...], y_t [B, ...], t [B]) -> (v_x, v_y)`` with the shapes of ``x_t`` and ``y_t``."""

Constraint = Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]
"""``(x_t, y_t, t) -> (x_t, y_t)``: a projection of the state at time ``t`` (a float), same shapes."""

TIME_SPAN: dict[str, tuple[float, float]] = {"image": (0.0, 1.0), "label": (1.0, 0.0)}
"""``(t_start, t_end)`` of the flow that produces each half: images flow up, labels flow down."""

SOLVER_METHODS = ("euler", "heun")


@dataclass
class SolverState:
    """One state of an integration.

    Attributes:
        step: index on the time grid; 0 is the initial state, ``steps`` the final one.
        steps: total number of steps of the integration.
        t: time of this state, in ``[0, 1]``.
        x: image half at ``t``. Shape ``[B, *image_shape]``.
        y: label half at ``t``. Shape ``[B, *label_shape]``.
        nfe: network evaluations spent so far.
    """

    step: int
    steps: int
    t: float
    x: torch.Tensor
    y: torch.Tensor
    nfe: int

    @property
    def is_final(self) -> bool:
        return self.step == self.steps


def time_grid(t_start: float, t_end: float, steps: int) -> torch.Tensor:
    """``steps + 1`` equally spaced times from ``t_start`` to ``t_end`` (either may be larger)."""
    check_steps(steps)
    check_time(torch.tensor([t_start, t_end]), name="t_start/t_end")
    if t_start == t_end:
        raise ValueError(f"t_start and t_end must differ, both are {t_start}")
    return torch.linspace(t_start, t_end, steps + 1, dtype=torch.float64)


class ODESolver:
    """Fixed-step integrator of a joint velocity model.

    Args:
        velocity: the model, ``v(x_t, y_t, t) -> (v_x, v_y)``.
        method: ``"euler"`` (1 evaluation per step, the authors' default) or ``"heun"``
            (2nd order, 2 evaluations per step).
    """

    def __init__(self, velocity: VelocityModel, method: Literal["euler", "heun"] = "euler") -> None:
        if method not in SOLVER_METHODS:
            raise ValueError(f"unknown solver method {method!r}; choose one of {', '.join(SOLVER_METHODS)}")
        self.velocity = velocity
        self.method = method

    def _eval(self, x: torch.Tensor, y: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        # at least float32: a bf16 state (e.g. latents of a bf16 VAE) would round t (0.96 -> 0.961)
        t_batch = torch.full((x.shape[0],), t, dtype=torch.promote_types(x.dtype, torch.float32), device=x.device)
        v_x, v_y = self.velocity(x, y, t_batch)
        if v_x.shape != x.shape or v_y.shape != y.shape:
            raise ValueError(
                f"velocity model returned shapes {list(v_x.shape)} / {list(v_y.shape)}, "
                f"expected {list(x.shape)} / {list(y.shape)}"
            )
        return v_x, v_y

    @torch.no_grad()
    def iterate(
        self, x: torch.Tensor, y: torch.Tensor, t_start: float, t_end: float, steps: int,
        constraint: Constraint | None = None,
    ) -> Iterator[SolverState]:
        """Integrate from ``t_start`` to ``t_end`` in ``steps`` equal steps, yielding each state.

        Yields ``steps + 1`` states: the initial one (``step == 0``), then one after every step.
        The velocity is evaluated at the start of each step (and, for Heun, at its end).

        Args:
            x: image half at ``t_start``. Shape ``[B, *image_shape]``.
            y: label half at ``t_start``. Shape ``[B, *label_shape]``.
            constraint: ``(x, y, t) -> (x, y)``, applied to every state (the initial one, each
                Heun predictor and each state after a step) before it is yielded or integrated
                from: e.g. :class:`symmflow.editing.PinnedPath`, which holds the unedited part
                of an image on its known path. ``None``: the whole state moves freely.

        Raises:
            ValueError: on mismatched batch sizes, ``steps < 1``, times outside ``[0, 1]``
                or non-finite inputs.
        """
        check_same_batch(x=x, y=y)
        check_finite(x=x, y=y)
        grid = time_grid(t_start, t_end, steps).tolist()
        constrain = constraint or (lambda x_, y_, t_: (x_, y_))
        nfe = 0
        x, y = constrain(x, y, grid[0])
        yield SolverState(0, steps, grid[0], x, y, nfe)
        for i in range(steps):
            t0, t1 = grid[i], grid[i + 1]
            dt = t1 - t0
            v_x, v_y = self._eval(x, y, t0)
            nfe += 1
            if self.method == "heun":
                x_e, y_e = constrain(x + dt * v_x, y + dt * v_y, t1)
                v_x2, v_y2 = self._eval(x_e, y_e, t1)
                nfe += 1
                v_x, v_y = 0.5 * (v_x + v_x2), 0.5 * (v_y + v_y2)
            x, y = constrain(x + dt * v_x, y + dt * v_y, t1)
            yield SolverState(i + 1, steps, t1, x, y, nfe)

    def solve(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        t_start: float,
        t_end: float,
        steps: int,
        callback: Callable[[SolverState], None] | None = None,
        constraint: Constraint | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like :meth:`iterate` (``constraint`` as there), but return only the final ``(x, y)``.

        ``callback``, if given, is called with every state (the initial one included).
        """
        state = None
        for state in self.iterate(x, y, t_start, t_end, steps, constraint):
            if callback is not None:
                callback(state)
        assert state is not None
        return state.x, state.y
