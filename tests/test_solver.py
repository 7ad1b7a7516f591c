import math

import pytest
import torch

from symmflow.solver import TIME_SPAN, ODESolver, time_grid

A = 1.3  # dx/dt = A x  ->  x(t1) = x(t0) exp(A (t1 - t0))


class CountingField:
    """dx/dt = A x, dy/dt = t: a known field whose exact flow has a closed form."""

    def __init__(self):
        self.calls = 0
        self.times = []

    def __call__(self, x, y, t):
        self.calls += 1
        self.times.append(t[0].item())
        assert t.shape == (x.shape[0],)
        return A * x, t.reshape(-1, *([1] * (y.dim() - 1))).expand_as(y).to(y.dtype)


def exact(x0, y0, t0, t1):
    return x0 * math.exp(A * (t1 - t0)), y0 + (t1**2 - t0**2) / 2


def run(method, steps, t0, t1):
    x0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    y0 = torch.tensor([[0.5]], dtype=torch.float64)
    x, y = ODESolver(CountingField(), method).solve(x0, y0, t0, t1, steps)
    ex, ey = exact(x0, y0, t0, t1)
    return (x - ex).abs().max().item(), (y - ey).abs().max().item(), x, y


@pytest.mark.parametrize("t0,t1", [TIME_SPAN["image"], TIME_SPAN["label"]])
def test_euler_matches_its_closed_form_and_is_first_order(t0, t1):
    for steps in (1, 3, 10):
        _, _, x, _ = run("euler", steps, t0, t1)
        dt = (t1 - t0) / steps
        expected = torch.tensor([[1.0, -2.0]], dtype=torch.float64) * (1 + A * dt) ** steps
        torch.testing.assert_close(x, expected, rtol=1e-12, atol=1e-12)
    errors = [run("euler", n, t0, t1)[0] for n in (20, 40, 80)]
    for coarse, fine in zip(errors, errors[1:]):
        assert 1.8 < coarse / fine < 2.2  # error ~ 1/N


@pytest.mark.parametrize("t0,t1", [TIME_SPAN["image"], TIME_SPAN["label"]])
def test_heun_error_falls_as_one_over_n_squared(t0, t1):
    errors = [run("heun", n, t0, t1)[0] for n in (10, 20, 40, 80)]
    for coarse, fine in zip(errors, errors[1:]):
        assert 3.7 < coarse / fine < 4.3  # error ~ 1/N^2
    # the trapezoid rule is exact for a velocity linear in t
    assert run("heun", 1, t0, t1)[1] < 1e-12


def test_euler_is_exact_on_a_constant_field_in_one_step():
    field = lambda x, y, t: (torch.ones_like(x), -2 * torch.ones_like(y))  # noqa: E731
    x, y = ODESolver(field).solve(torch.zeros(2, 3), torch.zeros(2, 1), 1.0, 0.0, steps=1)
    torch.testing.assert_close(x, -torch.ones(2, 3))
    torch.testing.assert_close(y, 2 * torch.ones(2, 1))


@pytest.mark.parametrize("method,per_step", [("euler", 1), ("heun", 2)])
def test_iterate_yields_every_state_at_no_extra_cost(method, per_step):
    field = CountingField()
    states = list(ODESolver(field, method).iterate(torch.ones(4, 2), torch.zeros(4, 1), 1.0, 0.0, steps=5))
    assert [s.step for s in states] == list(range(6))
    assert [round(s.t, 6) for s in states] == [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    assert states[-1].is_final and not states[0].is_final
    assert field.calls == 5 * per_step == states[-1].nfe
    # velocity evaluated at the start of each step (Euler), going downwards
    if method == "euler":
        assert [round(t, 6) for t in field.times] == [1.0, 0.8, 0.6, 0.4, 0.2]


def test_solve_callback_sees_the_same_states_as_iterate():
    seen = []
    ODESolver(CountingField()).solve(torch.ones(1, 1), torch.zeros(1, 1), 0.0, 1.0, 4, callback=lambda s: seen.append(s.t))
    assert [round(t, 6) for t in seen] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_time_grid_runs_both_ways():
    assert time_grid(0.0, 1.0, 4).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert time_grid(1.0, 0.0, 2).tolist() == [1.0, 0.5, 0.0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: list(s.iterate(torch.zeros(2, 1), torch.zeros(3, 1), 0.0, 1.0, 5)), "batch sizes differ"),
        (lambda s: list(s.iterate(torch.zeros(2, 1), torch.zeros(2, 1), 0.0, 1.0, 0)), "steps must be an integer >= 1"),
        (lambda s: list(s.iterate(torch.zeros(2, 1), torch.zeros(2, 1), 0.0, 1.0, 2.5)), "steps must be an integer >= 1"),
        (lambda s: list(s.iterate(torch.zeros(2, 1), torch.zeros(2, 1), 0.0, 1.5, 5)), r"\[0, 1\]"),
        (lambda s: list(s.iterate(torch.zeros(2, 1), torch.zeros(2, 1), 0.5, 0.5, 5)), "must differ"),
        (lambda s: list(s.iterate(torch.full((2, 1), float("nan")), torch.zeros(2, 1), 0.0, 1.0, 5)), "NaN"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(ODESolver(CountingField()))


def test_unknown_method_and_wrong_velocity_shape():
    with pytest.raises(ValueError, match="euler, heun"):
        ODESolver(CountingField(), method="rk4")
    bad = lambda x, y, t: (x[:, :1], y)  # noqa: E731
    with pytest.raises(ValueError, match="velocity model returned shapes"):
        ODESolver(bad).solve(torch.zeros(2, 2), torch.zeros(2, 1), 0.0, 1.0, 1)
