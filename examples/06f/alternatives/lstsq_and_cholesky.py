"""Alternative: W drawn transposed, lstsq (gelsd) for min-norm, the P x P ridge system by Cholesky, errors as tensors."""
import math

import torch
import torch.nn.functional as F


def random_relu_features(x, n_features, generator):
    d = x.shape[-1]
    W = (torch.randn(n_features, d, generator=generator, dtype=x.dtype, device=x.device) / math.sqrt(d)).T
    return F.relu(x @ W), W


def min_norm_least_squares(phi, y):
    column = y.dim() == 1
    target = y.unsqueeze(-1) if column else y
    if phi.device.type == "cpu":
        w = torch.linalg.lstsq(phi, target, driver="gelsd").solution
    else:                                   # CUDA's lstsq handles only full-rank tall systems
        w = torch.linalg.pinv(phi) @ target
    return w.squeeze(-1) if column else w


def ridge(phi, y, lam):
    column = y.dim() == 1
    target = y.unsqueeze(-1) if column else y
    gram = phi.mT @ phi
    gram = gram + lam * torch.eye(gram.shape[0], dtype=phi.dtype, device=phi.device)
    w = torch.cholesky_solve(phi.mT @ target, torch.linalg.cholesky(gram))
    return w.squeeze(-1) if column else w


def test_error_curve(widths, x_train, y_train, x_test, y_test, lam=0.0, seeds=3, generator=None):
    if generator is None:
        generator = torch.Generator(device=x_train.device).manual_seed(0)
    rows = []
    for width in widths:
        train, test = [], []
        for _ in range(seeds):
            phi, W = random_relu_features(x_train, width, generator)
            w = ridge(phi, y_train, lam) if lam else min_norm_least_squares(phi, y_train)
            train.append(F.mse_loss(phi @ w, y_train))
            test.append(F.mse_loss(F.relu(x_test @ W) @ w, y_test))
        rows.append({"width": width, "train_error": torch.stack(train).mean().item(),
                     "test_error": torch.stack(test).mean().item()})
    return rows
