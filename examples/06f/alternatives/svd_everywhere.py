"""Alternative: W drawn with Tensor.normal_, min-norm and ridge from one SVD each, train and test featurized together."""
import torch


def random_relu_features(x, n_features, generator):
    W = torch.empty(x.shape[1], n_features, dtype=x.dtype, device=x.device)
    W.normal_(0.0, x.shape[1] ** -0.5, generator=generator)
    return torch.clamp(x @ W, min=0), W


def _svd_solve(phi, y, shrink):
    """w = V diag(shrink(s)) U^T y over the singular values s of phi that are not numerically zero."""
    U, s, Vh = torch.linalg.svd(phi, full_matrices=False)
    keep = s > s.max() * max(phi.shape) * torch.finfo(phi.dtype).eps
    factors = shrink(s[keep]).reshape(-1, *([1] * (y.dim() - 1)))
    return Vh[keep].T @ (factors * (U[:, keep].T @ y))


def min_norm_least_squares(phi, y):
    return _svd_solve(phi, y, lambda s: 1 / s)


def ridge(phi, y, lam):
    return _svd_solve(phi, y, lambda s: s / (s * s + lam))


def test_error_curve(widths, x_train, y_train, x_test, y_test, lam=0.0, seeds=3, generator=None):
    generator = generator or torch.Generator(device=x_train.device).manual_seed(0)
    n = len(x_train)
    x_both = torch.cat([x_train, x_test])
    rows = []
    for width in widths:
        errors = torch.zeros(seeds, 2, dtype=torch.float64)
        for seed in range(seeds):
            phi, _ = random_relu_features(x_both, width, generator)
            w = ridge(phi[:n], y_train, lam) if lam > 0 else min_norm_least_squares(phi[:n], y_train)
            errors[seed, 0] = (phi[:n] @ w - y_train).pow(2).mean()
            errors[seed, 1] = (phi[n:] @ w - y_test).pow(2).mean()
        train_error, test_error = errors.mean(0).tolist()
        rows.append({"width": width, "train_error": train_error, "test_error": test_error})
    return rows
