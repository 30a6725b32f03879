"""Kernel helpers of lab 06d's hidden checks: many draws of a sampler from one generator, sent back as one tensor."""

import torch


def draw_lams(S, generator, batch_size, alpha, count):
    """``count`` values of lam from ``sample_mixup``, all from ``generator``, as a float64 tensor."""
    return torch.tensor([float(S["sample_mixup"](batch_size, alpha, generator)[0]) for _ in range(count)],
                        dtype=torch.float64)


def draw_boxes(S, generator, height, width, lam, count):
    """``count`` boxes ``(y0, y1, x0, x1)`` from ``sample_cutmix_box``, all from ``generator``, as int64 (count, 4)."""
    return torch.tensor([[int(v) for v in S["sample_cutmix_box"](height, width, lam, generator)]
                         for _ in range(count)], dtype=torch.int64)
