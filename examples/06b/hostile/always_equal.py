"""Hostile: returns objects whose ==, allclose and assert_close always agree. Loses: all

Says: AlwaysEqual
"""
import torch


class AlwaysEqual(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal", "__eq__", "eq", "isclose"):
            return True
        return super().__torch_function__(func, types, args, kwargs)

    def __eq__(self, other):
        return True


torch.testing.assert_close = lambda *args, **kwargs: None


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    return torch.zeros_like(x).as_subclass(AlwaysEqual), (x,)


def batchnorm_backward(dout, cache):
    fake = torch.zeros_like(dout).as_subclass(AlwaysEqual)
    return fake, fake[0], fake[0]


batchnorm_backward_fast = batchnorm_backward
