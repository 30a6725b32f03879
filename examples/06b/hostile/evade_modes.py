"""Evasion: torch's function and dispatch modes switched off around the library op. Loses: forward_train, running_stats, eval_mode, backward_staged, backward_fast

With the modes disabled, the kernel's recorders see nothing of F.batch_norm. The review of the
code's syntax tree names the mode internals and the op.
"""
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import _disable_current_modes


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    with torch._C.DisableTorchFunction(), _disable_current_modes():
        out = F.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum, eps)
    var = x.var(0, unbiased=False) if training else running_var
    mu = x.mean(0) if training else running_mean
    std = torch.sqrt(var + eps)
    return out, ((x - mu) / std, gamma, std)


def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    n = dout.shape[0]
    dx_hat = dout * gamma
    dx = (n * dx_hat - dx_hat.sum(0) - x_hat * (dx_hat * x_hat).sum(0)) / (n * std)
    return dx, (dout * x_hat).sum(0), dout.sum(0)


batchnorm_backward_fast = batchnorm_backward
