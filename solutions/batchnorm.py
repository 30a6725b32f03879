"""Lab 06b: BatchNorm1d forward and backward by hand, on (N, D) inputs."""

import torch


def batchnorm_forward(x, gamma, beta, running_mean, running_var,
                      training=True, momentum=0.1, eps=1e-5):
    """BatchNorm1d forward pass on a batch ``x`` of shape (N, D).

    Training mode normalizes with the batch mean and the biased batch variance
    and updates ``running_mean`` / ``running_var`` in place, the PyTorch way:
    ``new = (1 - momentum) * old + momentum * batch_stat``, where the running
    variance takes the *unbiased* batch variance. Eval mode normalizes with the
    running statistics and changes nothing.

    Returns ``(out, cache)``; ``cache`` holds what the backward pass needs
    (it is ``None`` in eval mode, where no backward is asked for).
    """
    ### BEGIN SOLUTION
    if not training:
        x_hat = (x - running_mean) / torch.sqrt(running_var + eps)
        return gamma * x_hat + beta, None

    n = x.shape[0]
    if n < 2:
        raise ValueError("BatchNorm in training mode needs more than 1 sample per batch")
    mu = x.mean(dim=0)
    xc = x - mu
    var = (xc * xc).mean(dim=0)
    std = torch.sqrt(var + eps)
    inv_std = 1.0 / std
    x_hat = xc * inv_std
    out = gamma * x_hat + beta

    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(momentum * mu)
        running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))

    cache = (xc, std, inv_std, x_hat, gamma)
    return out, cache
    ### END SOLUTION


def batchnorm_backward(dout, cache, nodes=None):
    """Staged backward pass: walk the computational graph node by node.

    Forward graph: mu = mean(x); xc = x - mu; var = mean(xc**2);
    std = sqrt(var + eps); inv_std = 1 / std; x_hat = xc * inv_std;
    out = gamma * x_hat + beta. Returns ``(dx, dgamma, dbeta)``.

    ``nodes``: optional. When it is a dict, also store in it the gradient of
    the loss with respect to each intermediate node, under the node's name:
    ``"x_hat"``, ``"inv_std"``, ``"std"``, ``"var"``, ``"xc"`` (its full
    gradient, both paths added) and ``"mu"``. The self-check compares each one
    with autograd, to tell you which step of the walk is wrong.
    """
    ### BEGIN SOLUTION
    xc, std, inv_std, x_hat, gamma = cache
    n = dout.shape[0]

    dbeta = dout.sum(dim=0)                      # out = gamma * x_hat + beta
    dgamma = (dout * x_hat).sum(dim=0)
    dx_hat = dout * gamma

    dinv_std = (dx_hat * xc).sum(dim=0)          # x_hat = xc * inv_std
    dxc = dx_hat * inv_std

    dstd = -dinv_std / (std * std)               # inv_std = 1 / std
    dvar = 0.5 * dstd / std                      # std = sqrt(var + eps)
    dxc = dxc + 2.0 * xc * dvar / n              # var = mean(xc ** 2)

    dmu = -dxc.sum(dim=0)                        # xc = x - mu
    dx = dxc + dmu / n                           # mu = mean(x)
    if nodes is not None:
        nodes.update(x_hat=dx_hat, inv_std=dinv_std, std=dstd, var=dvar, xc=dxc, mu=dmu)
    return dx, dgamma, dbeta
    ### END SOLUTION


def batchnorm_backward_fast(dout, cache):
    """Simplified backward: the closed form for dx that you derived, in one expression.

    Returns ``(dx, dgamma, dbeta)``, as ``batchnorm_backward`` does.
    """
    ### BEGIN SOLUTION
    # dx = gamma * inv_std / N * (N * dout - sum(dout) - x_hat * sum(dout * x_hat)), sums over the batch
    _, _, inv_std, x_hat, gamma = cache
    n = dout.shape[0]
    dbeta = dout.sum(dim=0)
    dgamma = (dout * x_hat).sum(dim=0)
    dx = (gamma * inv_std / n) * (n * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
    ### END SOLUTION
