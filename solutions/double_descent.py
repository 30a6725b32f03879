"""Lab 06f: double descent with random ReLU features and minimum-norm least squares."""

import torch


def random_relu_features(x, n_features, generator):
    """Random ReLU features of a batch ``x`` of shape (N, D).

    Draws ``W`` of shape (D, n_features) with independent N(0, 1/D) entries from
    ``generator`` (the 1/D keeps each pre-activation ``x @ W[:, j]`` at the scale
    of one input coordinate), and returns ``(phi, W)`` with ``phi = relu(x @ W)``
    of shape (N, n_features). No bias; both outputs keep x's dtype and device.
    """
    ### BEGIN SOLUTION
    d = x.shape[1]
    W = torch.randn(d, n_features, generator=generator, dtype=x.dtype, device=x.device) / d ** 0.5
    phi = torch.relu(x @ W)
    return phi, W
    ### END SOLUTION


def min_norm_least_squares(phi, y):
    """The least-squares solution of ``phi @ w ~ y`` with the smallest norm ``||w||``.

    ``phi`` is (N, P); ``y`` is (N,) or (N, K); ``w`` is (P,) or (P, K). With
    N >= P and full rank it is ordinary least squares; with P > N it is the
    interpolating solution (``phi @ w == y``) of minimum norm; with a
    rank-deficient ``phi`` it is still defined: ``w = pinv(phi) @ y``.
    """
    ### BEGIN SOLUTION
    return torch.linalg.pinv(phi) @ y
    ### END SOLUTION


def ridge(phi, y, lam):
    """The minimizer of ``||phi @ w - y||^2 + lam * ||w||^2`` for ``lam > 0``.

    ``w = (phi^T phi + lam I_P)^-1 phi^T y = phi^T (phi phi^T + lam I_N)^-1 y``;
    both forms are the same vector, so solve the smaller system. Shapes as in
    ``min_norm_least_squares``.
    """
    ### BEGIN SOLUTION
    n, p = phi.shape
    if p <= n:
        gram = phi.T @ phi + lam * torch.eye(p, dtype=phi.dtype, device=phi.device)
        return torch.linalg.solve(gram, phi.T @ y)
    gram = phi @ phi.T + lam * torch.eye(n, dtype=phi.dtype, device=phi.device)
    return phi.T @ torch.linalg.solve(gram, y)
    ### END SOLUTION


def test_error_curve(widths, x_train, y_train, x_test, y_test, lam=0.0, seeds=3, generator=None):
    """Train and test error of random-ReLU-feature regression, one row per width.

    For each ``width`` in ``widths``: ``seeds`` times, draw features of that width
    with ``random_relu_features`` (all draws from ``generator``; None means a
    generator seeded with 0 on x_train's device), fit ``min_norm_least_squares``
    when ``lam == 0`` else ``ridge(..., lam)`` on the training set, and measure
    the mean squared error (the mean over all entries of ``(prediction - y) ** 2``)
    on the training and the test set, with the same ``W`` for both. Returns a list
    of dicts ``{"width": int, "train_error": float, "test_error": float}``, in the
    order of ``widths``, the errors averaged over the seeds.
    """
    ### BEGIN SOLUTION
    if generator is None:
        generator = torch.Generator(device=x_train.device).manual_seed(0)
    rows = []
    for width in widths:
        train_error = test_error = 0.0
        for _ in range(seeds):
            phi_train, W = random_relu_features(x_train, width, generator)
            phi_test = torch.relu(x_test @ W)
            if lam == 0:
                w = min_norm_least_squares(phi_train, y_train)
            else:
                w = ridge(phi_train, y_train, lam)
            train_error += ((phi_train @ w - y_train) ** 2).mean().item()
            test_error += ((phi_test @ w - y_test) ** 2).mean().item()
        rows.append({"width": int(width), "train_error": train_error / seeds, "test_error": test_error / seeds})
    return rows
    ### END SOLUTION
