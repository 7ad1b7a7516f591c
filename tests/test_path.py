import pytest
import torch

from symmflow.path import SymmetricPath, symmetric_loss


@pytest.mark.parametrize("case_index", range(9))
def test_matches_reference_vectors(vectors, case_index):
    case = vectors["path_cases"][case_index]
    as_batch = lambda key: torch.tensor(case[key], dtype=torch.float64)[None]  # noqa: E731
    path = SymmetricPath(sigma_min=vectors["sigma_min"])
    s = path.sample(as_batch("x"), as_batch("y"), torch.tensor(case["t"]),
                    noise_x=as_batch("noise_x"), noise_y=as_batch("noise_y"))
    for key in ("x_t", "y_t", "v_x", "v_y"):
        torch.testing.assert_close(getattr(s, key), as_batch(key), rtol=0, atol=1e-7, msg=f"{case['what']}: {key}")


def test_endpoints_and_velocity_is_time_derivative():
    path = SymmetricPath(sigma_min=0.0)
    x, y = torch.randn(5, 3, 4, 4, dtype=torch.float64), torch.randn(5, 1, 4, 4, dtype=torch.float64)
    nx, ny = torch.randn_like(x), torch.randn_like(y)
    at = lambda t: path.sample(x, y, torch.full((5,), t, dtype=torch.float64), nx, ny)  # noqa: E731
    s0, s1 = at(0.0), at(1.0)
    torch.testing.assert_close(s0.x_t, nx)   # image: noise at t=0
    torch.testing.assert_close(s1.x_t, x)    # image: data at t=1
    torch.testing.assert_close(s0.y_t, y)    # label: data at t=0
    torch.testing.assert_close(s1.y_t, ny)   # label: noise at t=1
    # straight paths: the finite difference is the target velocity everywhere
    a, b = at(0.3), at(0.7)
    torch.testing.assert_close((b.x_t - a.x_t) / 0.4, a.v_x)
    torch.testing.assert_close((b.y_t - a.y_t) / 0.4, a.v_y)


def test_image_and_label_shapes_are_independent():
    path = SymmetricPath()
    for y_shape in [(6, 1), (6, 1, 8, 8), (6, 3, 8, 8)]:
        s = path.sample(torch.randn(6, 3, 8, 8), torch.randn(*y_shape), torch.rand(6))
        assert s.x_t.shape == (6, 3, 8, 8) and s.y_t.shape == y_shape and s.v_y.shape == y_shape


def test_sigma_min_shrinks_noise_at_data_end():
    path = SymmetricPath(sigma_min=0.1)
    x, y = torch.zeros(1, 2), torch.zeros(1, 1)
    s = path.sample(x, y, torch.tensor([1.0]), noise_x=torch.ones(1, 2), noise_y=torch.ones(1, 1))
    torch.testing.assert_close(s.x_t, torch.full((1, 2), 0.1))  # sigma_min of the noise survives


def test_loss_weights_the_two_halves():
    vx, vy = torch.zeros(4, 2), torch.zeros(4, 1)
    loss = symmetric_loss(torch.ones(4, 2), torch.full((4, 1), 2.0), vx, vy, image_weight=0.9)
    assert loss.item() == pytest.approx(0.9 * 1.0 + 0.1 * 4.0)


def test_sampling_is_seeded():
    path = SymmetricPath()
    x, y, t = torch.randn(3, 2), torch.randn(3, 1), torch.rand(3)
    a = path.sample(x, y, t, generator=torch.Generator().manual_seed(7))
    b = path.sample(x, y, t, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.x_t, b.x_t) and torch.equal(a.y_t, b.y_t)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(x=torch.zeros(3, 2), y=torch.zeros(4, 1), t=torch.rand(3)), "batch sizes differ"),
        (dict(x=torch.zeros(3, 2), y=torch.zeros(3, 1), t=torch.tensor([0.1, 1.5, 0.2])), r"\[0, 1\]"),
        (dict(x=torch.zeros(3, 2), y=torch.zeros(3, 1), t=torch.tensor([-0.1, 0.5, 0.2])), r"\[0, 1\]"),
        (dict(x=torch.tensor([[float("nan"), 0.0]]), y=torch.zeros(1, 1), t=torch.rand(1)), "NaN"),
        (dict(x=torch.zeros(3, 2), y=torch.zeros(3, 1), t=torch.rand(2)), "shape"),
        (dict(x=torch.zeros(3, 2), y=torch.zeros(3, 1), t=torch.rand(3), noise_x=torch.zeros(3, 3)), "noise_x"),
    ],
)
def test_bad_input_raises_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SymmetricPath().sample(**kwargs)


def test_bad_settings():
    with pytest.raises(ValueError, match="sigma_min"):
        SymmetricPath(sigma_min=1.0)
    with pytest.raises(ValueError, match="image_weight"):
        symmetric_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1), image_weight=1.5)
