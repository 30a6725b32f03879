"""Evasion: ops the library patterns did not name: layer_norm on the transpose, grad_fn walking, aten kernels. Loses: forward_train, running_stats, eval_mode, backward_staged, backward_fast

The forward normalizes each feature with F.layer_norm over the batch (the transpose), the staged
backward walks autograd's graph by hand, and the closed form calls ATen's batch-norm backward
kernel through torch.ops.
"""
import torch
import torch.nn.functional as F


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    if training:
        n = x.shape[0]
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * x.mean(0))
            running_var.mul_(1 - momentum).add_(momentum * x.var(0) * 1.0)
        x_hat = F.layer_norm(x.t(), (n,), eps=eps).t()
        var = x.var(0, unbiased=False)
    else:
        var = running_var
        x_hat = (x - running_mean) / torch.sqrt(running_var + eps)
    return x_hat * gamma + beta, (x, x_hat, gamma, var, eps)


def batchnorm_backward(dout, cache):
    x, x_hat, gamma, var, eps = cache
    x = x.detach().requires_grad_(True)
    out = F.layer_norm(x.t(), (x.shape[0],), eps=eps).t() * gamma
    node, grads = out.grad_fn, dout
    while node is not None and node.next_functions:
        grads = node(grads)[0] if isinstance(node(grads), tuple) else node(grads)
        node = node.next_functions[0][0]
    return grads, (dout * x_hat).sum(0), dout.sum(0)


def batchnorm_backward_fast(dout, cache):
    x, x_hat, gamma, var, eps = cache
    mean = x.mean(0)
    invstd = 1 / torch.sqrt(var + eps)
    dx, dgamma, dbeta = torch.ops.aten.native_batch_norm_backward(
        dout, x, gamma, None, None, mean, invstd, True, eps, [True, True, True])
    return dx, dgamma, dbeta
