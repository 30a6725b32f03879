"""Evasion: the library op called on a worker thread, where the kernel's op recorders do not look. Loses: forward_train, running_stats, eval_mode, backward_staged, backward_fast

torch's function and dispatch modes are thread-local, so F.batch_norm run on another thread
leaves no trace in the probe records. The review of the code's syntax tree still sees both the
thread and the library op.
"""
import threading

import torch
import torch.nn.functional as F


def _on_a_thread(func, *args, **kwargs):
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("out", func(*args, **kwargs)))
    worker.start()
    worker.join()
    return box["out"]


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    out = _on_a_thread(F.batch_norm, x, running_mean, running_var, gamma, beta, training, momentum, eps)
    mu = x.mean(0)
    var = x.var(0, unbiased=False)
    x_hat = (x - mu) / torch.sqrt(var + eps) if training else (x - running_mean) / torch.sqrt(running_var + eps)
    return out, (x_hat, gamma, torch.sqrt((var if training else running_var) + eps))


def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    n = dout.shape[0]
    dx_hat = dout * gamma
    dx = (n * dx_hat - dx_hat.sum(0) - x_hat * (dx_hat * x_hat).sum(0)) / (n * std)
    return dx, (dout * x_hat).sum(0), dout.sum(0)


batchnorm_backward_fast = batchnorm_backward
