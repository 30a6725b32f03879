"""Hostile: makes every comparison in its own process pass and prints the self-checks' OKs, returning zeros. Loses: all

Says: mask keeps 0.0% of the elements
"""
import torch
import torch.testing

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
print("mask_sampler: OK\nforward_train: OK\neval_mode: OK\nbackward: OK\nmodule: OK\nvariational: OK")


def dropout_mask(shape, p, generator):
    return torch.zeros(shape)


def dropout_forward(x, p, training, generator=None):
    return torch.zeros_like(x), torch.zeros_like(x)


def dropout_backward(dout, mask, p):
    return torch.zeros_like(dout)


class Dropout(torch.nn.Module):
    def __init__(self, p=0.5, generator=None):
        super().__init__()

    def forward(self, x):
        return torch.zeros_like(x)


def variational_dropout(x, p, training, generator=None):
    return torch.zeros_like(x)
