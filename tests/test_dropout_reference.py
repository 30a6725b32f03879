"""The 06c reference against torch's own dropout (F.dropout, nn.Dropout) and autograd.

torch's masks come from another random stream, so the comparisons are of
what is deterministic (the values a kept element takes, eval mode, p = 0 and
p = 1, gradients given the mask) and of the keep rate, within 6 standard
deviations of the binomial count (a false alarm about once in 10^9 runs).
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from solutions.dropout import Dropout, dropout_backward, dropout_forward, dropout_mask, variational_dropout

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SHAPES = [(1,), (7,), (64, 33), (8, 3, 16, 16), (5, 12, 40)]


def _nonzero(shape, seed, dtype=torch.float32, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    sign = torch.randint(0, 2, shape, generator=gen) * 2 - 1
    return (sign * (0.5 + torch.rand(shape, generator=gen))).to(dtype=dtype, device=device)


def _seeded(seed, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def _assert_keep_rate(kept, p):
    n, q = kept.numel(), 1 - p
    assert abs(kept.double().sum().item() - n * q) <= 6 * (n * q * (1 - q)) ** 0.5 + 1e-9, \
        f"kept {kept.double().mean().item():.3f}, expected {q:.3f}"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("device", DEVICES)
def test_mask_is_bernoulli_keep_with_probability_one_minus_p(p, device):
    mask = dropout_mask((300, 200), p, _seeded(1, device))
    assert mask.shape == (300, 200) and mask.device.type == device and mask.dtype == torch.float32
    assert ((mask == 0) | (mask == 1)).all()
    _assert_keep_rate(mask, p)
    library = F.dropout(torch.ones(300, 200, device=device), p) != 0      # torch's own convention, for comparison
    _assert_keep_rate(library, p)


def test_mask_edge_cases_and_shapes():
    assert (dropout_mask((9, 4), 0.0, _seeded(2)) == 1).all()
    assert (dropout_mask((9, 4), 1.0, _seeded(3)) == 0).all()
    assert dropout_mask(torch.Size([2, 3, 4]), 0.5, _seeded(4)).shape == (2, 3, 4)
    assert dropout_mask((5,), 0.5, None).shape == (5,)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_forward_keeps_the_values_f_dropout_keeps(shape, dtype, device):
    """Kept elements take x / (1 - p), as in F.dropout; the mask is the one that was used."""
    p, x = 0.3, _nonzero(shape, 0, dtype, device)
    out, mask = dropout_forward(x, p, training=True, generator=_seeded(5, device))
    assert out.dtype == dtype and out.device.type == device and mask.shape == x.shape
    torch.testing.assert_close(out, x * mask / (1 - p))
    library = F.dropout(x, p, training=True)
    torch.testing.assert_close(library[library != 0], x[library != 0] / (1 - p))
    kept = mask.bool()
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    assert (out[~kept] == 0).all()


def test_forward_keep_rate_matches_f_dropout():
    x = torch.ones(400, 250)
    for p in (0.2, 0.7):
        _assert_keep_rate(dropout_forward(x, p, True, _seeded(6))[1], p)
        _assert_keep_rate(F.dropout(x, p) != 0, p)


@pytest.mark.parametrize("p", [0.0, 0.4, 1.0])
def test_eval_mode_is_the_identity_like_f_dropout(p):
    x = _nonzero((20, 30), 1)
    out, mask = dropout_forward(x, p, training=False)
    assert mask is None and torch.equal(out, x)
    assert torch.equal(out, F.dropout(x, p, training=False))


def test_p_zero_and_p_one_match_f_dropout():
    x = _nonzero((50, 40), 2)
    out, mask = dropout_forward(x, 0.0, True, _seeded(7))
    assert torch.equal(out, F.dropout(x, 0.0)) and (mask == 1).all()
    out, mask = dropout_forward(x, 1.0, True, _seeded(8))
    assert torch.isfinite(out).all() and torch.equal(out, F.dropout(x, 1.0)) and (mask == 0).all()


@pytest.mark.parametrize("p", [0.0, 0.25, 0.6, 1.0])
def test_backward_matches_autograd_through_f_dropout(p):
    """The gradient of F.dropout is mask / (1 - p) for its own mask (read off its output: x has no zeros)."""
    x = _nonzero((32, 17), 3).requires_grad_()
    dout = torch.randn(32, 17, generator=torch.Generator().manual_seed(9))
    out = F.dropout(x, p, training=True)
    out.backward(dout)
    mask = (out != 0).float()
    torch.testing.assert_close(dropout_backward(dout, mask, p), x.grad)


def test_gradcheck_float64():
    mask = (torch.rand(6, 5, generator=torch.Generator().manual_seed(10), dtype=torch.float64) >= 0.4).double()

    class HandWritten(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * mask / (1 - 0.4)

        @staticmethod
        def backward(ctx, dout):
            return dropout_backward(dout, mask, 0.4)

    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(HandWritten.apply, (x,))


@pytest.mark.parametrize("device", DEVICES)
def test_module_behaves_like_nn_dropout_in_train_and_eval(device):
    p, x = 0.35, _nonzero((256, 64), 4, device=device)
    mine, library = Dropout(p, generator=_seeded(11, device)), nn.Dropout(p)
    assert mine.training and library.training                     # a new module is in training mode
    for layer in (mine, library):
        out = layer(x)
        _assert_keep_rate(out != 0, p)
        torch.testing.assert_close(out[out != 0], x[out != 0] / (1 - p))
    first, second = mine(x), mine(x)
    assert not torch.equal(first != 0, second != 0), "a fresh mask on every call"
    model = nn.Sequential(nn.Linear(64, 64), Dropout(p)).to(device).eval()
    assert torch.equal(model(x), model[0](x))
    assert torch.equal(mine.eval()(x), library.eval()(x))
    assert list(mine.parameters()) == [] and "p=0.35" in repr(mine)


def test_module_replays_from_its_generator_and_validates_p():
    x = _nonzero((30, 30), 5)
    assert torch.equal(Dropout(0.5, generator=_seeded(12))(x), Dropout(0.5, generator=_seeded(12))(x))
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(1.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_variational_mask_is_shared_over_time_only(dtype, device):
    p, x = 0.4, _nonzero((128, 7, 96), 6, dtype, device)
    out = variational_dropout(x, p, training=True, generator=_seeded(13, device))
    assert out.dtype == dtype and out.device.type == device
    kept = out != 0
    assert (kept == kept[:, :1]).all(), "the same mask at every time step"
    _assert_keep_rate(kept[:, 0], p)
    assert not (kept[0, 0] == kept[1, 0]).all() and not (kept[:, 0, 0] == kept[:, 0, 1]).all()
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    assert torch.equal(variational_dropout(x, p, training=False), x)
    assert torch.isfinite(variational_dropout(x, 1.0, training=True)).all()


def test_same_seed_replays_every_sampler():
    x, x_seq = _nonzero((20, 20), 7), _nonzero((4, 5, 20), 8)
    assert torch.equal(dropout_mask((20, 20), 0.5, _seeded(14)), dropout_mask((20, 20), 0.5, _seeded(14)))
    assert torch.equal(dropout_forward(x, 0.5, True, _seeded(15))[0], dropout_forward(x, 0.5, True, _seeded(15))[0])
    first, again = (variational_dropout(x_seq, 0.5, True, _seeded(16)) for _ in range(2))
    assert torch.equal(first, again)
    assert not torch.equal(dropout_mask((20, 20), 0.5, _seeded(14)), dropout_mask((20, 20), 0.5, _seeded(17)))


def test_inputs_are_not_modified():
    x, x_seq, dout = _nonzero((16, 8), 9), _nonzero((3, 4, 8), 10), torch.randn(16, 8)
    before = [t.clone() for t in (x, x_seq, dout)]
    _, mask = dropout_forward(x, 0.3, True, _seeded(18))
    mask_before = mask.clone()
    dropout_backward(dout, mask, 0.3)
    variational_dropout(x_seq, 0.3, True, _seeded(19))
    Dropout(0.3)(x)
    assert all(torch.equal(a, b) for a, b in zip((x, x_seq, dout, mask), (*before, mask_before)))
