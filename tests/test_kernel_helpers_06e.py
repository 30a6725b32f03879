"""06e's kernel helpers, in-process: each is called as the harness calls it, with the reference's names as S."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.checks.kernel import norms as kernel
from autograder.checks.norms import PostNormWiring, PreNormWiring, _wire
from solutions import norms

S = {name: getattr(norms, name) for name in ("PreNormBlock", "PostNormBlock", "grad_norms_by_layer")}


def _x(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def test_attn_standin_mixes_positions_and_keeps_the_shape():
    x = _x(2, 5, 4)
    changed = x.clone()
    changed[:, -1] += 1
    out = kernel.attn_standin(x)
    assert out.shape == x.shape and not torch.allclose(out[:, 0], kernel.attn_standin(changed)[:, 0])
    assert not torch.allclose(out, kernel.attn_standin(x.transpose(0, 1)).transpose(0, 1))


@pytest.mark.parametrize("item", [PreNormWiring, PostNormWiring])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_standin_forward_follows_the_wiring_the_grader_computes(item, dtype):
    x = _x(1, 4, 6, dtype=dtype)
    before = x.clone()
    out = kernel.standin_forward(S, item.cls, x, 6, 2, 8)
    assert out.dtype == dtype and torch.equal(x, before)
    torch.testing.assert_close(out.double(), _wire(x.double(), *item.wiring))
    for *steps, _ in item.mistakes:         # every listed mistake is told apart from the right wiring
        assert not torch.allclose(_wire(x.double(), *steps), _wire(x.double(), *item.wiring))


@pytest.mark.parametrize("cls", ["PreNormBlock", "PostNormBlock"])
def test_block_norms_are_layer_norm_or_rms_norm_and_two_modules(cls):
    x = _x(2, 3, 8) * 0.002
    norm1, norm2, separate = kernel.block_norms(S, cls, x, 8, 2, 16)
    torch.testing.assert_close(norm1, F.layer_norm(x, (8,), eps=1e-5))
    norm1, norm2, separate = kernel.block_norms(S, cls, x, 8, 2, 16, norm="rms")
    torch.testing.assert_close(norm2, nn.RMSNorm(8, eps=1e-6)(x).detach())
    assert separate is True


def test_sublayer_outputs_and_dropout_outputs():
    x = _x(2, 4, 8)
    changed = x.clone()
    changed[:, -1] = 0
    attn, attn_changed, ffn, ffn_changed, out = kernel.sublayer_outputs(S, "PreNormBlock", x, changed, 8, 2, 16)
    assert out.shape == x.shape and torch.equal(ffn[:, :-1], ffn_changed[:, :-1])
    assert not torch.equal(attn[:, 0], attn_changed[:, 0])
    train1, train2, eval1, eval2 = kernel.dropout_outputs(S, "PostNormBlock", x, 8, 2, 16, dropout=0.5)
    assert not torch.equal(train1, train2) and torch.equal(eval1, eval2)
    train1, train2, _, _ = kernel.dropout_outputs(S, "PostNormBlock", x, 8, 2, 16)
    assert torch.equal(train1, train2)


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
def test_grad_blocks_are_rebuilt_alike_and_leave_the_random_state_alone(kind):
    state = torch.random.get_rng_state()
    like = torch.zeros((), dtype=torch.float64)
    first, again = (kernel.grad_blocks({}, kind, 7, like, 8, 2, 16, 3) for _ in range(2))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert len(first) == 3 and all(p.dtype == torch.float64 for b in first for p in b.parameters())
    assert all(torch.equal(p, q) for a, b in zip(first, again) for p, q in zip(a.parameters(), b.parameters()))
    out = _x(2, 3, 8, dtype=torch.float64)
    for block in first:
        out = block(out)
    assert out.shape[-1] == (8 if kind == "transformer" else 11)
