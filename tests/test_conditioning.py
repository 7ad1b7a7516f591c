"""Holding the label during generation (symmflow.conditioning): the held values, the checks,
and how a pipeline chooses to hold."""

import json

import numpy as np
import pytest
import torch

from symmflow.conditioning import HeldLabel, chain
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig, check_label_fade
from symmflow.solver import TIME_SPAN, ODESolver

from conftest import tiny_face_pipeline


def _coupled(x, y, t):
    """A stand-in network whose image velocity reads the label half, as a real one does."""
    return torch.tanh(y[:, :3]) + t[:, None, None, None], torch.sin(y) - x.mean()


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_every_state_holds_the_label_and_the_network_sees_only_held_labels(method):
    x0, y0 = torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4)
    fade, steps = 0.65, 4
    states = list(ODESolver(_coupled, method).iterate(x0, y0, *TIME_SPAN["image"], steps=steps, constraint=HeldLabel(fade)))
    held = lambda t: (1 - fade * t) * y0  # noqa: E731
    x = x0
    for i, state in enumerate(states):  # by hand: each step's velocities read the held label only
        torch.testing.assert_close(state.y, held(state.t), rtol=0, atol=1e-6)
        torch.testing.assert_close(state.x, x, rtol=1e-5, atol=1e-6)
        if i == steps:
            break
        t0, t1 = i / steps, (i + 1) / steps
        v = _coupled(x, held(t0), torch.full((2,), t0))[0]
        if method == "heun":  # the predictor's label is held too
            v = 0.5 * (v + _coupled(x + (t1 - t0) * v, held(t1), torch.full((2,), t1))[0])
        x = x + (t1 - t0) * v
    free = ODESolver(_coupled, method).solve(x0, y0, *TIME_SPAN["image"], steps=steps)
    assert not torch.allclose(free[0], states[-1].x)


def test_one_hold_serves_one_generation_after_another():
    held = HeldLabel(0.5)
    solver = ODESolver(_coupled)
    for value in (1.0, 7.0):
        _, y = solver.solve(torch.zeros(1, 3, 2, 2), torch.full((1, 5, 2, 2), value), 0.0, 1.0, steps=2, constraint=held)
        torch.testing.assert_close(y, torch.full_like(y, value * 0.5))


def test_the_mean_path_fade_ends_at_almost_nothing():
    y0 = torch.full((1, 2, 2, 2), 3.0)
    held = HeldLabel(1 - 1e-4)
    held(torch.zeros(1), y0, 0.0)
    _, y = held(torch.zeros(1), y0 * 100, 1.0)  # the state's own label half is ignored after the start
    torch.testing.assert_close(y, torch.full_like(y0, 3e-4))


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), True, "0.5", None])
def test_a_fade_outside_zero_to_one_is_refused_naming_the_range(bad):
    with pytest.raises(ValueError, match=r"label_fade must be a number in \[0, 1\]"):
        HeldLabel(bad)
    with pytest.raises(ValueError, match="label_fade"):
        PipelineConfig(task="segmentation", image_size=16, label_fade=bad) if bad is not None else check_label_fade(bad)


def test_the_hold_reads_its_label_at_the_start_and_refuses_another_shape():
    with pytest.raises(ValueError, match="must first see the generation's start"):
        HeldLabel(0.5)(torch.zeros(1), torch.zeros(1, 2), 0.5)
    held = HeldLabel(0.5)
    held(torch.zeros(1), torch.zeros(1, 2), 0.0)
    with pytest.raises(ValueError, match=r"shape \[1, 3\], the held label \[1, 2\]"):
        held(torch.zeros(1), torch.zeros(1, 3), 0.5)


def test_chain_applies_each_constraint_in_turn_and_skips_none():
    add = lambda x, y, t: (x + 1, y)  # noqa: E731
    double = lambda x, y, t: (x * 2, y + t)  # noqa: E731
    x, y = chain(add, None, double)(torch.tensor(1.0), torch.tensor(0.0), 0.5)
    assert (x.item(), y.item()) == (4.0, 0.5)
    assert chain(None, None) is None and chain(None, add) is add


def test_the_fade_is_saved_with_the_pipeline_and_absent_when_unset(tmp_path):
    pipe = tiny_face_pipeline()
    pipe.save_pretrained(tmp_path / "free")
    assert "label_fade" not in json.loads((tmp_path / "free" / "pipeline.json").read_text())
    pipe.config.label_fade = 0.65
    pipe.save_pretrained(tmp_path / "held")
    assert json.loads((tmp_path / "held" / "pipeline.json").read_text())["label_fade"] == 0.65
    assert SymmFlowPipeline.from_pretrained(tmp_path / "held").config.label_fade == 0.65


def test_a_pipeline_holds_the_label_only_when_its_config_or_the_call_says_so():
    pipe = tiny_face_pipeline()
    mask = np.zeros((16, 16), np.int64)
    mask[4:12, 4:12] = 1
    run = lambda **kw: pipe.generate(mask, steps=3, seed=0, output_type="np", **kw).images[0]  # noqa: E731
    assert pipe.held_label() is None  # the authors' free flow by default
    free = run()
    np.testing.assert_array_equal(run(hold_label=False), free)
    assert pipe.held_label(True).fade == pytest.approx(1 - pipe.config.sigma_min)  # no fade set: the path's mean
    assert np.abs(run(hold_label=True).astype(int) - free).max() > 0

    pipe.config.label_fade = 0.5
    assert pipe.held_label().fade == 0.5
    held = run()
    assert np.abs(held.astype(int) - free).max() > 0
    np.testing.assert_array_equal(run(hold_label=False), free)
    with pytest.raises(ValueError, match="hold_label must be True, False or None"):
        run(hold_label="yes")
