"""The reference, with helpers named like the grader's own (_resolve, _encode, run_probes): full marks.

The probes run in a namespace of their own, so a student's names never replace the grader's,
and the grader's never replace the student's.
"""
import torch


def _resolve(x):
    return x.mean(0), x.var(0, unbiased=False)


def _encode(x_hat, gamma, beta):
    return x_hat * gamma + beta


def run_probes(x, mu, std):
    return (x - mu) / std


_DEVICE = "not a device"


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    if training:
        mu, var = _resolve(x)
        n = x.shape[0]
        running_mean.mul_(1 - momentum).add_(momentum * mu)
        running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
    else:
        mu, var = running_mean, running_var
    std = torch.sqrt(var + eps)
    x_hat = run_probes(x, mu, std)
    return _encode(x_hat, gamma, beta), (x_hat, gamma, std)


def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    n = dout.shape[0]
    dgamma = (dout * x_hat).sum(0)
    dbeta = dout.sum(0)
    dx_hat = dout * gamma
    dx = (n * dx_hat - dx_hat.sum(0) - x_hat * (dx_hat * x_hat).sum(0)) / (n * std)
    return dx, dgamma, dbeta


batchnorm_backward_fast = batchnorm_backward
