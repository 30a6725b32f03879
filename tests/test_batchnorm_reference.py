"""The 06b reference against torch's own BatchNorm1d and autograd, over many shapes and seeds."""

import pytest
import torch
import torch.nn as nn

from solutions.batchnorm import batchnorm_backward, batchnorm_backward_fast, batchnorm_forward

SHAPES = [(2, 1), (2, 7), (3, 3), (8, 5), (16, 64), (64, 3), (128, 33), (5, 200)]
CASES = [(seed, n, d) for seed, (n, d) in enumerate(SHAPES)]


def _inputs(seed, n, d, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, d, generator=gen, dtype=torch.float64) * 3 + 2).to(dtype)
    gamma = (torch.rand(d, generator=gen, dtype=torch.float64) + 0.5).to(dtype)
    beta = torch.randn(d, generator=gen, dtype=torch.float64).to(dtype)
    return x, gamma, beta


def _torch_bn(d, gamma, beta, momentum):
    bn = nn.BatchNorm1d(d, momentum=momentum)
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
    return bn


@pytest.mark.parametrize("seed, n, d", CASES)
@pytest.mark.parametrize("momentum", [0.1, 0.37])
def test_forward_and_running_stats_match_batchnorm1d(seed, n, d, momentum):
    x, gamma, beta = _inputs(seed, n, d)
    bn = _torch_bn(d, gamma, beta, momentum)
    running_mean, running_var = torch.zeros(d), torch.ones(d)
    for step in range(3):
        batch = x + step
        out, _ = batchnorm_forward(batch, gamma, beta, running_mean, running_var, momentum=momentum)
        torch.testing.assert_close(out, bn(batch).detach())
    torch.testing.assert_close(running_mean, bn.running_mean)
    torch.testing.assert_close(running_var, bn.running_var)

    bn.eval()
    saved = running_mean.clone(), running_var.clone()
    out, cache = batchnorm_forward(x[:1], gamma, beta, running_mean, running_var, training=False)
    torch.testing.assert_close(out, bn(x[:1]).detach())
    assert cache is None
    assert torch.equal(running_mean, saved[0]) and torch.equal(running_var, saved[1])


@pytest.mark.parametrize("seed, n, d", CASES)
@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_fast])
def test_backward_matches_autograd(seed, n, d, backward):
    x, gamma, beta = _inputs(seed, n, d)
    dout = torch.randn(n, d, generator=torch.Generator().manual_seed(seed + 100))
    _, cache = batchnorm_forward(x, gamma, beta, torch.zeros(d), torch.ones(d))
    leaves = [t.clone().requires_grad_() for t in (x, gamma, beta)]
    (nn.functional.batch_norm(leaves[0], None, None, leaves[1], leaves[2], training=True) * dout).sum().backward()
    for mine, leaf in zip(backward(dout, cache), leaves):
        torch.testing.assert_close(mine, leaf.grad, rtol=1e-4, atol=1e-5)


def test_inputs_are_not_modified():
    x, gamma, beta = _inputs(0, 16, 4)
    dout = torch.randn(16, 4)
    before = [t.clone() for t in (x, gamma, beta, dout)]
    _, cache = batchnorm_forward(x, gamma, beta, torch.zeros(4), torch.ones(4))
    batchnorm_backward(dout, cache)
    batchnorm_backward_fast(dout, cache)
    batchnorm_forward(x, gamma, beta, torch.zeros(4), torch.ones(4), training=False)
    assert all(torch.equal(a, b) for a, b in zip((x, gamma, beta, dout), before))


def test_training_with_one_sample_is_refused_like_pytorch():
    with pytest.raises(ValueError, match="more than 1"):
        batchnorm_forward(torch.randn(1, 3), torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3))


@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_fast])
def test_gradcheck_float64(backward):
    """torch.autograd.gradcheck of the hand-written backward, wrapped as an autograd Function."""
    class HandWritten(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, gamma, beta):
            out, ctx.cache = batchnorm_forward(x, gamma, beta, torch.zeros_like(gamma), torch.ones_like(gamma))
            return out

        @staticmethod
        def backward(ctx, dout):
            return backward(dout, ctx.cache)

    x, gamma, beta = (t.requires_grad_() for t in _inputs(3, 6, 4, torch.float64))
    assert torch.autograd.gradcheck(HandWritten.apply, (x, gamma, beta))


def test_float64_and_devices_preserved():
    x, gamma, beta = _inputs(1, 8, 3, torch.float64)
    zeros, ones = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    out, cache = batchnorm_forward(x, gamma, beta, zeros, ones)
    assert out.dtype == torch.float64
    assert all(g.dtype == torch.float64 for g in batchnorm_backward_fast(torch.ones_like(out), cache))


@pytest.mark.parametrize("seed, n, d", CASES[1:6])
def test_staged_backward_reports_every_node_like_autograd(seed, n, d):
    """The optional ``nodes`` dict holds each intermediate gradient, equal to retain_grad() on the same graph."""
    x, gamma, beta = _inputs(seed, n, d, torch.float64)
    dout = torch.randn(n, d, generator=torch.Generator().manual_seed(seed + 100), dtype=torch.float64)
    _, cache = batchnorm_forward(x, gamma, beta, torch.zeros(d, dtype=torch.float64), torch.ones(d).double())
    nodes = {}
    batchnorm_backward(dout, cache, nodes=nodes)
    leaf = x.clone().requires_grad_()
    mu = leaf.mean(0)
    xc = leaf - mu
    var = (xc ** 2).mean(0)
    std = torch.sqrt(var + 1e-5)
    inv_std = 1 / std
    x_hat = xc * inv_std
    graph = {"mu": mu, "xc": xc, "var": var, "std": std, "inv_std": inv_std, "x_hat": x_hat}
    for node in graph.values():
        node.retain_grad()
    ((gamma * x_hat + beta) * dout).sum().backward()
    assert set(nodes) == set(graph)
    for name, node in graph.items():
        torch.testing.assert_close(nodes[name], node.grad, msg=lambda m, name=name: f"{name}: {m}")
