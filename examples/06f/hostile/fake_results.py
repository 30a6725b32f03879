"""Hostile: makes every comparison in its own process pass, prints the self-checks' OK lines, returns zeros. Loses: all
Says: not a real result"""
import torch
import torch.testing

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
print("features: OK\nfeatures_sampling: OK\nmin_norm: OK\nridge: OK\ncurve_rows: OK\ncurve_peak: OK\ncurve_ridge: OK")


def random_relu_features(x, n_features, generator):
    return torch.zeros(x.shape[0], n_features), torch.zeros(x.shape[1], n_features)


def min_norm_least_squares(phi, y):
    return torch.zeros(phi.shape[1], *y.shape[1:])


def ridge(phi, y, lam):
    return min_norm_least_squares(phi, y)


def test_error_curve(widths, x_train, y_train, x_test, y_test, lam=0.0, seeds=3, generator=None):
    return [{"width": width, "train_error": 0.0, "test_error": 0.0} for width in widths]
