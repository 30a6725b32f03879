"""Hostile: makes every comparison in its own process pass, and returns zeros. Loses: all"""
import torch
import torch.testing

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
print("forward_train: OK\nrunning_stats: OK\neval_mode: OK\nbackward_staged: OK\nbackward_fast: OK")


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    return torch.zeros_like(x), None


def batchnorm_backward(dout, cache):
    return torch.zeros_like(dout), torch.zeros(dout.shape[1]), torch.zeros(dout.shape[1])


batchnorm_backward_fast = batchnorm_backward
