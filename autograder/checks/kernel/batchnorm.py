"""Kernel helpers of lab 06b: a backward called on the student's own cache, which it must leave as it was."""

import torch


def _tensors(value):
    """The tensors of a cache however the student built it: a tensor, or tuples, lists and dicts of them."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [t for v in value for t in _tensors(v)] if isinstance(value, (tuple, list)) else []


def backward_on_cache(S, name, dout, cache):
    """``(S[name](dout, cache), the cache's tensors before the call, the same tensors after it)``."""
    tensors = _tensors(cache)
    before = [t.detach().clone() for t in tensors]
    grads = S[name](dout, cache)
    return grads, before, [t.detach().clone() for t in tensors]
