"""Hostile: ridge by an explicit inverse reached through a renamed alias; the rest is right.

The grader's syntax-tree review flags the computed-name lookup (``getattr(torch.linalg, "in" + "v")``)
in every function that reaches it, so test_error_curve, which calls ridge, loses its items too.
Loses: ridge, curve_rows, curve_peak, curve_ridge
Says: ridge calls torch._C._linalg.linalg_inv"""
import torch

_invert = getattr(torch.linalg, "in" + "v")


def random_relu_features(x, n_features, generator):
    d = x.shape[1]
    W = torch.randn(d, n_features, generator=generator, dtype=x.dtype, device=x.device) / d ** 0.5
    return torch.relu(x @ W), W


def min_norm_least_squares(phi, y):
    return torch.linalg.pinv(phi) @ y


def ridge(phi, y, lam):
    n, p = phi.shape
    if p <= n:
        return _invert(phi.T @ phi + lam * torch.eye(p, dtype=phi.dtype, device=phi.device)) @ (phi.T @ y)
    return phi.T @ (_invert(phi @ phi.T + lam * torch.eye(n, dtype=phi.dtype, device=phi.device)) @ y)


def test_error_curve(widths, x_train, y_train, x_test, y_test, lam=0.0, seeds=3, generator=None):
    generator = generator if generator is not None else torch.Generator(device=x_train.device).manual_seed(0)
    rows = []
    for width in widths:
        train_error = test_error = 0.0
        for _ in range(seeds):
            phi, W = random_relu_features(x_train, width, generator)
            w = ridge(phi, y_train, lam) if lam > 0 else min_norm_least_squares(phi, y_train)
            train_error += ((phi @ w - y_train) ** 2).mean().item() / seeds
            test_error += ((torch.relu(x_test @ W) @ w - y_test) ** 2).mean().item() / seeds
        rows.append({"width": width, "train_error": train_error, "test_error": test_error})
    return rows
