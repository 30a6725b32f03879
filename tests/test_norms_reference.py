"""The 06e reference against torch's own norms and blocks, over many shapes, dtypes and seeds."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from solutions.norms import (
    PostNormBlock,
    PreNormBlock,
    SelfAttention,
    grad_norms_by_layer,
    group_norm,
    layer_norm,
    rms_norm,
)

SHAPES = [(1, 1), (3, 5), (2, 4, 7), (2, 3, 4, 6), (8, 64)]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale, eps", [(3.0, 1e-5), (1e-3, 1e-5), (0.05, 1e-3)])
def test_layer_norm_matches_torch(shape, dtype, scale, eps):
    gen = _gen(sum(shape))
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * scale + min(scale, 2.0)).to(dtype)
    w = (torch.rand(shape[-1], generator=gen, dtype=torch.float64) + 0.5).to(dtype)
    b = torch.randn(shape[-1], generator=gen, dtype=torch.float64).to(dtype)
    out = layer_norm(x, w, b, eps=eps)
    assert out.dtype == dtype
    torch.testing.assert_close(out, F.layer_norm(x, shape[-1:], w, b, eps))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale, eps", [(2.0, 1e-6), (1e-3, 1e-6), (0.05, 1e-3)])
def test_rms_norm_matches_nn_rmsnorm(shape, dtype, scale, eps):
    gen = _gen(sum(shape) + 1)
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)
    module = nn.RMSNorm(shape[-1], eps=eps, dtype=dtype)
    with torch.no_grad():
        module.weight.uniform_(0.5, 1.5)
    torch.testing.assert_close(rms_norm(x, module.weight.detach(), eps=eps), module(x).detach())


def test_norm_defaults_match_torch_defaults():
    x = torch.randn(4, 6) * 1e-3
    w, b = torch.ones(6), torch.zeros(6)
    torch.testing.assert_close(layer_norm(x, w, b), F.layer_norm(x, (6,)))
    torch.testing.assert_close(rms_norm(x, w), nn.RMSNorm(6, eps=1e-6)(x).detach())
    torch.testing.assert_close(group_norm(x.view(2, 6, 2), 3, w, b), F.group_norm(x.view(2, 6, 2), 3))


GROUPINGS = [(shape, groups) for shape in [(2, 6), (3, 6, 5), (2, 12, 3, 4), (1, 4, 2, 2, 2)]
             for groups in [1, 2, 3, 6] if shape[1] % groups == 0]


@pytest.mark.parametrize("shape, groups", GROUPINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_group_norm_matches_torch(shape, groups, dtype):
    gen = _gen(sum(shape) + groups)
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 2 + 1).to(dtype)
    w = (torch.rand(shape[1], generator=gen, dtype=torch.float64) + 0.5).to(dtype)
    b = torch.randn(shape[1], generator=gen, dtype=torch.float64).to(dtype)
    # torch's float32 kernel computes var as E[x^2] - E[x]^2: off by ~1e-5 on one-element groups; compare in float64.
    expected = F.group_norm(x.double(), groups, w.double(), b.double()).to(dtype)
    torch.testing.assert_close(group_norm(x, groups, w, b), expected)


def test_group_norm_refuses_uneven_groups():
    with pytest.raises(ValueError, match="equal groups"):
        group_norm(torch.randn(2, 6, 3), 4, torch.ones(6), torch.zeros(6))


def test_norms_leave_inputs_alone():
    x, w, b = torch.randn(3, 4, 8), torch.rand(8), torch.randn(8)
    saved = [t.clone() for t in (x, w, b)]
    layer_norm(x, w, b)
    rms_norm(x, w)
    group_norm(x.transpose(1, 2), 4, w, b)
    assert all(torch.equal(a, s) for a, s in zip((x, w, b), saved))


@pytest.mark.parametrize("norm_first", [True, False])
def test_blocks_equal_torch_encoder_layer_with_copied_weights(norm_first):
    """With nn.TransformerEncoderLayer's weights (GELU, same eps), the blocks compute what it computes."""
    torch.manual_seed(0)
    d, h, ff = 16, 4, 32
    layer = nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=norm_first).eval()
    block = (PreNormBlock if norm_first else PostNormBlock)(d, h, ff).eval()
    block.attn.mha.load_state_dict(layer.self_attn.state_dict())
    block.ffn[0].load_state_dict(layer.linear1.state_dict())
    block.ffn[2].load_state_dict(layer.linear2.state_dict())
    block.norm1.load_state_dict(layer.norm1.state_dict())
    block.norm2.load_state_dict(layer.norm2.state_dict())
    x = torch.randn(3, 7, d)
    with torch.no_grad():
        torch.testing.assert_close(block(x), layer(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [PreNormBlock, PostNormBlock])
def test_block_options(cls):
    rms = cls(8, 2, 16, norm="rms")
    assert isinstance(rms.norm1, nn.RMSNorm) and isinstance(rms.norm2, nn.RMSNorm) and rms.norm1 is not rms.norm2
    assert isinstance(cls(8, 2, 16).norm1, nn.LayerNorm)
    with pytest.raises(ValueError, match="norm must be"):
        cls(8, 2, 16, norm="batch")
    x = torch.randn(2, 5, 8)
    noisy = cls(8, 2, 16, dropout=0.5)
    assert not torch.equal(noisy(x), noisy(x))
    noisy.eval()
    assert torch.equal(noisy(x), noisy(x))


def test_self_attention_keeps_shape_and_mixes_positions():
    attn = SelfAttention(8, 2).eval()
    x = torch.randn(2, 5, 8)
    changed = x.clone()
    changed[:, -1] += 1
    assert attn(x).shape == x.shape
    assert not torch.allclose(attn(x)[:, 0], attn(changed)[:, 0])


def test_grad_norms_match_autograd_and_ignore_old_gradients():
    torch.manual_seed(0)
    blocks = [nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True) for _ in range(3)]
    x = torch.randn(2, 4, 8)
    out = x
    for block in blocks:
        out = block(out)
    loss = out.mean(dim=1).pow(2).mean()
    grads = [torch.autograd.grad(loss, list(b.parameters()), retain_graph=True) for b in blocks]
    expected = [torch.sqrt(sum(g.pow(2).sum() for g in block_grads)).item() for block_grads in grads]
    first = grad_norms_by_layer(blocks, x)
    assert all(isinstance(v, float) for v in first)
    torch.testing.assert_close(torch.tensor(first), torch.tensor(expected))
    torch.testing.assert_close(torch.tensor(grad_norms_by_layer(blocks, x)), torch.tensor(expected))


def test_post_norm_top_layer_gradient_stands_out_at_depth():
    """The notebook's first experiment, in numbers: at 18 blocks the post-norm top layer's gradient is
    several times the median layer's; pre-norm's is not."""
    x = torch.randn(16, 12, 32, generator=_gen(1))

    def ratio(cls):
        torch.manual_seed(0)
        blocks = [cls(32, 4, 128) for _ in range(18)]
        for block in blocks:
            for m in block.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        norms = grad_norms_by_layer(blocks, x)
        return norms[-1] / sorted(norms)[9]

    assert ratio(PostNormBlock) > 3
    assert ratio(PreNormBlock) < 1.5
