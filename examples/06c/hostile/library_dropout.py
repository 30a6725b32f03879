"""Hostile: right answers from the library's dropout, reached by renamed aliases. Loses: mask_sampler, forward_train, eval_mode, edge_cases, generator, module, variational

The mask comes from F.dropout on ones, the forward from aten's native_dropout,
the layer wraps nn.Dropout, variational dropout drops a (batch, 1, features)
tensor of ones with F.dropout. None of them can use the generator argument.
eval_mode is lost too although its value is right: the grader's review flags the
computed-name lookups and torch.ops in dropout_forward, whatever the mode.
Says: dropout_mask calls torch.nn.functional.dropout
"""
import torch

_drop = getattr(torch.nn.functional, "drop" + "out")
_native = getattr(torch.ops.aten, "native_" + "dropout")
_Layer = getattr(torch.nn, "Drop" + "out")


def dropout_mask(shape, p, generator):
    device = generator.device if generator is not None else None
    return (_drop(torch.ones(shape, device=device), p) != 0).float()


def dropout_forward(x, p, training, generator=None):
    if not training:
        return x, None
    out, keep = _native(x, p, True)
    return out, keep.to(x.dtype)


def dropout_backward(dout, mask, p):
    return dout * mask / (1 - p) if p < 1 else torch.zeros_like(dout)


class Dropout(torch.nn.Module):
    def __init__(self, p=0.5, generator=None):
        super().__init__()
        self.inner = _Layer(p)
        self.p = p

    def forward(self, x):
        return self.inner(x)


def variational_dropout(x, p, training, generator=None):
    if not training:
        return x
    return x * _drop(x.new_ones(x.shape[0], 1, x.shape[2]), p)
