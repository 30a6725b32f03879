"""A correct 06c solution written differently: torch.bernoulli masks, every function built on dropout_mask, torch.where for p = 1."""
import torch


def dropout_mask(shape, p, generator):
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.bernoulli(torch.full(tuple(shape), 1.0 - p, device=device), generator=generator)


def _apply(x, mask, p):
    # Dividing by 1 - p = 0 gives inf, but torch.where never picks it: at p = 1 every mask entry is 0.
    return torch.where(mask.bool(), x / (1.0 - p), torch.zeros_like(x))


def dropout_forward(x, p, training, generator=None):
    if not training:
        return x, None
    mask = dropout_mask(x.shape, p, generator).to(device=x.device, dtype=x.dtype)
    return _apply(x, mask, p), mask


def dropout_backward(dout, mask, p):
    return _apply(dout, mask, p)


class Dropout(torch.nn.Module):
    def __init__(self, p=0.5, generator=None):
        super().__init__()
        self.p = p
        self.generator = generator

    def forward(self, x):
        return dropout_forward(x, self.p, self.training, self.generator)[0]


def variational_dropout(x, p, training, generator=None):
    if not training:
        return x
    mask = dropout_mask((x.shape[0], 1, x.shape[2]), p, generator).to(device=x.device, dtype=x.dtype)
    return _apply(x, mask.expand_as(x), p)
