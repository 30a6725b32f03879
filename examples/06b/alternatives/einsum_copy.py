"""A correct 06b solution written differently: einsum reductions, copy_ for the running stats, tuple cache."""
import torch


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    if not training:
        scale = gamma / torch.sqrt(running_var + eps)
        return x * scale + (beta - running_mean * scale), ()
    n = x.shape[0]
    ones = torch.ones(n, dtype=x.dtype, device=x.device)
    mu = torch.einsum("n,nd->d", ones, x) / n
    centred = x - mu
    var = torch.einsum("nd,nd->d", centred, centred) / n
    inv = (var + eps) ** -0.5
    running_mean.copy_((1 - momentum) * running_mean + momentum * mu)
    running_var.copy_((1 - momentum) * running_var + momentum * var * (n / (n - 1.0)))
    return gamma * centred * inv + beta, (centred, inv, gamma)


def batchnorm_backward(dout, cache):
    centred, inv, gamma = cache
    n = dout.shape[0]
    x_hat = centred * inv
    dgamma = torch.einsum("nd,nd->d", dout, x_hat)
    dbeta = torch.einsum("nd->d", dout)
    g = dout * gamma
    dvar = torch.einsum("nd,nd->d", g, centred) * -0.5 * inv ** 3
    dmu = -torch.einsum("nd->d", g) * inv - 2.0 * dvar * torch.einsum("nd->d", centred) / n
    dx = g * inv + dvar * 2.0 * centred / n + dmu / n
    return dx, dgamma, dbeta


def batchnorm_backward_fast(dout, cache):
    centred, inv, gamma = cache
    n = dout.shape[0]
    x_hat = centred * inv
    dgamma = torch.einsum("nd,nd->d", dout, x_hat)
    dbeta = dout.sum(0)
    return (gamma * inv / n) * (n * dout - dbeta - x_hat * dgamma), dgamma, dbeta
