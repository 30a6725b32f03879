"""Evasion: torch's function and dispatch modes switched off around the library op. Loses: forward_train, running_stats, eval_mode, backward_staged, backward_fast

With the modes disabled, the kernel's recorders see nothing of F.batch_norm. The review of the
code's syntax tree names the mode internals and the op.
"""
# @REFERENCE@

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import _disable_current_modes


_reference_forward = batchnorm_forward


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    with torch._C.DisableTorchFunction(), _disable_current_modes():
        out = F.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum, eps)
    cache = _reference_forward(x, gamma, beta, running_mean.clone(), running_var.clone(), training, momentum, eps)[1]
    return out, cache
