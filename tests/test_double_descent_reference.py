"""The 06f reference against numpy's least squares, the ridge closed form, and the double-descent curve's properties."""

import numpy as np
import pytest
import torch

# The module, not its names: pytest would collect an imported test_error_curve as a test.
from solutions import double_descent as dd

SHAPES = [(30, 5), (5, 30), (12, 12), (50, 49), (3, 200), (200, 3)]


def _system(seed, n, p, k=None, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    phi = torch.randn(n, p, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randn(*((n,) if k is None else (n, k)), generator=gen, dtype=torch.float64).to(dtype)
    return phi, y


@pytest.mark.parametrize("n, p", SHAPES)
@pytest.mark.parametrize("k", [None, 3])
def test_min_norm_matches_numpy_lstsq(n, p, k):
    phi, y = _system(n * p, n, p, k)
    expected = np.linalg.lstsq(phi.numpy(), y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(dd.min_norm_least_squares(phi, y).numpy(), expected, rtol=1e-7, atol=1e-9)


def test_min_norm_is_the_smallest_interpolating_solution():
    phi, y = _system(1, 8, 40, 2)
    w = dd.min_norm_least_squares(phi, y)
    torch.testing.assert_close(phi @ w, y)
    null_space = torch.eye(40, dtype=torch.float64) - torch.linalg.pinv(phi) @ phi
    for column in range(5):
        other = w + null_space[:, column:column + 2]
        torch.testing.assert_close(phi @ other, y)
        assert other.norm() > w.norm()


def test_min_norm_on_rank_deficient_features_matches_numpy():
    gen = torch.Generator().manual_seed(2)
    left = torch.randn(20, 4, generator=gen, dtype=torch.float64)
    phi = left @ torch.randn(4, 30, generator=gen, dtype=torch.float64)
    phi[:, 7] = 0.0                                   # a dead ReLU feature
    y = torch.randn(20, generator=gen, dtype=torch.float64)
    expected = np.linalg.lstsq(phi.numpy(), y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(dd.min_norm_least_squares(phi, y).numpy(), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("n, p", SHAPES)
@pytest.mark.parametrize("lam", [1e-3, 0.5, 10.0])
def test_ridge_matches_both_closed_forms(n, p, lam):
    phi, y = _system(n + p, n, p, 2)
    primal = np.linalg.solve(phi.numpy().T @ phi.numpy() + lam * np.eye(p), phi.numpy().T @ y.numpy())
    dual = phi.numpy().T @ np.linalg.solve(phi.numpy() @ phi.numpy().T + lam * np.eye(n), y.numpy())
    w = dd.ridge(phi, y, lam).numpy()
    np.testing.assert_allclose(w, primal, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(w, dual, rtol=1e-6, atol=1e-9)


def test_ridge_tends_to_min_norm_as_lam_vanishes():
    for n, p in [(30, 6), (6, 30)]:
        phi, y = _system(3, n, p)
        torch.testing.assert_close(dd.ridge(phi, y, 1e-9), dd.min_norm_least_squares(phi, y), rtol=1e-6, atol=1e-7)


def test_least_squares_keep_dtype_and_shape():
    phi, y = _system(4, 10, 20, dtype=torch.float32)
    assert dd.min_norm_least_squares(phi, y).dtype == torch.float32
    assert dd.ridge(phi, y, 1.0).shape == (20,)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_features_relation_statistics_and_replay(dtype):
    x = torch.randn(7, 64, dtype=dtype)
    phi, W = dd.random_relu_features(x, 3000, torch.Generator().manual_seed(0))
    assert phi.shape == (7, 3000) and W.shape == (64, 3000) and phi.dtype == W.dtype == dtype
    torch.testing.assert_close(phi, torch.relu(x @ W))
    z = W.double().flatten() * 8                       # W ~ N(0, 1/64)
    assert abs(z.mean().item()) < 4 / z.numel() ** 0.5 and abs(z.var().item() - 1) < 0.01
    again, W_again = dd.random_relu_features(x, 3000, torch.Generator().manual_seed(0))
    assert torch.equal(W, W_again) and torch.equal(phi, again)
    assert not torch.equal(W, dd.random_relu_features(x, 3000, torch.Generator().manual_seed(1))[1])


def _teacher(seed, n=40, d=10, n_test=400):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_test, d, generator=gen, dtype=torch.float64)
    y = torch.tanh(2 * x @ torch.randn(d, 2, generator=gen, dtype=torch.float64) / d ** 0.5)
    y[:n] += 0.3 * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return x[:n], y[:n], x[n:], y[n:]


WIDTHS = [4, 10, 20, 30, 40, 50, 80, 160, 400]


@pytest.mark.parametrize("seed", range(4))
def test_curve_peaks_at_n_interpolates_beyond_and_ridge_flattens(seed):
    data = _teacher(seed)
    rows = dd.test_error_curve(WIDTHS, *data, generator=torch.Generator().manual_seed(seed))
    assert [row["width"] for row in rows] == WIDTHS
    assert all(set(row) == {"width", "train_error", "test_error"} for row in rows)
    test = [row["test_error"] for row in rows]
    assert WIDTHS[test.index(max(test))] == 40
    assert max(test) > 10 * max(test[0], test[-1])
    assert all(row["train_error"] < 1e-20 for row in rows if row["width"] >= 40)
    assert all(row["train_error"] > 1e-2 for row in rows if row["width"] <= 20)
    ridged = dd.test_error_curve(WIDTHS, *data, lam=1.0, generator=torch.Generator().manual_seed(seed))
    assert max(row["test_error"] for row in ridged) < 0.2 * max(test)


def test_curve_default_generator_is_deterministic_and_inputs_unchanged():
    data = _teacher(9, n=20, n_test=50)
    before = [t.clone() for t in data]
    first = dd.test_error_curve([5, 40], *data, seeds=2)
    assert first == dd.test_error_curve([5, 40], *data, seeds=2)
    assert all(torch.equal(a, b) for a, b in zip(data, before))
