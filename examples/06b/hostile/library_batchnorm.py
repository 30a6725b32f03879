"""Hostile: right answers from F.batch_norm (reached by a renamed alias) and autograd. Loses: forward_train, running_stats, eval_mode, backward_staged, backward_fast

Says: batchnorm_forward calls torch.nn.functional.batch_norm
"""
import torch

_bn = getattr(torch.nn.functional, "batch" + "_norm")


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    out = _bn(x, running_mean, running_var, gamma, beta, training=training, momentum=momentum, eps=eps)
    return out, (x.clone(), gamma, eps)


def batchnorm_backward(dout, cache):
    x, gamma, eps = cache
    x, gamma, beta = x.clone().requires_grad_(), gamma.clone().requires_grad_(), torch.zeros_like(gamma).requires_grad_()
    with torch.enable_grad():
        out = _bn(x, None, None, gamma, beta, training=True, eps=eps)
        out.backward(dout)
    return x.grad, gamma.grad, beta.grad


batchnorm_backward_fast = batchnorm_backward
