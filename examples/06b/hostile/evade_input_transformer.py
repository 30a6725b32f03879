"""Evasion: an IPython input transformer that rewrites every later cell, the probes' included. Loses: forward_train, running_stats, eval_mode, backward_staged, backward_fast

The transformer strips the op recorders out of whatever cell runs next. The review of the code's
syntax tree names the transformer, and the functions use the library op besides.
"""
import torch
import torch.nn.functional as F


def _strip_recorders(lines):
    return [line.replace("_OpRecorder(seen), _KernelOpRecorder(seen)", 'open("/dev/null")') for line in lines]


get_ipython().input_transformers_cleanup.append(_strip_recorders)  # noqa: F821 - IPython's


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    out = F.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum, eps)
    return out, (x, gamma, beta, eps)


def batchnorm_backward(dout, cache):
    x, gamma, beta, eps = cache
    x = x.detach().requires_grad_(True)
    out = F.batch_norm(x, None, None, gamma, beta, True, 0.0, eps)
    dx, = torch.autograd.grad(out, x, dout)
    x_hat = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + eps)
    return dx.detach(), (dout * x_hat.detach()).sum(0), dout.sum(0)


batchnorm_backward_fast = batchnorm_backward
