"""A correct 06c solution written differently: boolean masks from uniform_ in float64, masked_fill, the time axis repeated explicitly."""
import torch
import torch.nn as nn


def dropout_mask(shape, p, generator):
    device = None if generator is None else generator.device
    u = torch.empty(*shape, dtype=torch.float64, device=device).uniform_(0, 1, generator=generator)
    return u < 1 - p


def dropout_forward(x, p, training, generator=None):
    if training is False:
        return x, None
    if p == 1:
        return torch.zeros_like(x), torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    keep = dropout_mask(x.shape, p, generator).to(x.device)
    return x.masked_fill(~keep, 0) / (1 - p), keep


def dropout_backward(dout, mask, p):
    if p == 1:
        return torch.zeros_like(dout)
    return dout.masked_fill(mask == 0, 0) / (1 - p)


class Dropout(nn.Module):
    def __init__(self, p=0.5, generator=None):
        super().__init__()
        self.p, self.generator = float(p), generator

    def forward(self, x):
        if not self.training or self.p == 0:
            return x.clone()
        return dropout_forward(x, self.p, True, self.generator)[0]


def variational_dropout(x, p, training, generator=None):
    if not training:
        return x.clone()
    batch, steps, features = x.shape
    keep = dropout_mask((batch, 1, features), p, generator).to(x.device).repeat(1, steps, 1)
    return torch.where(keep, x * (1.0 / (1 - p) if p < 1 else 0.0), torch.zeros_like(x))
