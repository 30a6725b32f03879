"""Lab 06e: LayerNorm, RMSNorm and GroupNorm from scratch; pre-norm and post-norm Transformer blocks.

The blocks are written with ``torch.nn.*`` spelled out (no ``import torch.nn as nn``
here) so that each class is complete with only ``import torch`` around it, as
it is in a student's cell.
"""

import torch


def layer_norm(x, weight, bias, eps=1e-5):
    """LayerNorm over the last dimension of ``x``, as ``F.layer_norm(x, (D,), weight, bias, eps)``.

    Each row (the last dimension, of size D) is normalized with its own mean
    and *biased* variance (divide by D), then scaled by ``weight`` and shifted
    by ``bias`` (both of shape (D,)). Any number of leading dimensions.
    """
    ### BEGIN SOLUTION
    mean = x.mean(dim=-1, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(var + eps) * weight + bias
    ### END SOLUTION


def rms_norm(x, weight, eps=1e-6):
    """RMSNorm over the last dimension, as ``nn.RMSNorm(D, eps=eps)`` with its weight set to ``weight``.

    No mean is subtracted and there is no bias: each row is divided by its
    root mean square sqrt(mean(x**2) + eps) and scaled by ``weight``.
    """
    ### BEGIN SOLUTION
    rms = torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps)
    return x / rms * weight
    ### END SOLUTION


def group_norm(x, num_groups, weight, bias, eps=1e-5):
    """GroupNorm on ``x`` of shape (N, C, ...), as ``F.group_norm(x, num_groups, weight, bias, eps)``.

    The C channels are split into ``num_groups`` groups of C // num_groups
    *consecutive* channels; each sample's group is normalized with the mean
    and biased variance over its channels and all spatial positions. Then each
    channel is scaled by ``weight[c]`` and shifted by ``bias[c]`` (shape (C,)).
    """
    ### BEGIN SOLUTION
    n, c = x.shape[0], x.shape[1]
    if c % num_groups != 0:
        raise ValueError(f"group_norm: {c} channels cannot be split into {num_groups} equal groups")
    groups = x.reshape(n, num_groups, -1)
    mean = groups.mean(dim=-1, keepdim=True)
    centred = groups - mean
    var = (centred * centred).mean(dim=-1, keepdim=True)
    x_hat = (centred / torch.sqrt(var + eps)).reshape(x.shape)
    per_channel = (1, c) + (1,) * (x.dim() - 2)
    return x_hat * weight.reshape(per_channel) + bias.reshape(per_channel)
    ### END SOLUTION


class SelfAttention(torch.nn.Module):
    """Multi-head self-attention as a sublayer with one input and one output.

    ``nn.MultiheadAttention`` takes (query, key, value) and returns a pair
    (output, weights); a block wants ``attn(x) -> tensor`` of x's shape
    (batch, seq, d_model). Write ``__init__`` and ``forward(self, x)``; apply
    ``dropout`` to the attention weights and to the output.
    """

    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.mha = torch.nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.drop = torch.nn.Dropout(dropout)

    def forward(self, x):
        out, _ = self.mha(x, x, x, need_weights=False)
        return self.drop(out)
        ### END SOLUTION


class PreNormBlock(torch.nn.Module):
    """Pre-norm Transformer encoder block: x = x + attn(norm1(x)), then x = x + ffn(norm2(x)).

    Write ``__init__`` and ``forward(self, x)``. ``__init__`` makes four
    sublayers, each called with one tensor (batch, seq, d_model) and returning
    that shape: ``attn`` (a ``SelfAttention``), ``ffn`` (Linear d_model -> d_ff,
    GELU, Linear d_ff -> d_model, dropout on its output), and two separate
    norms ``norm1``, ``norm2``: ``nn.LayerNorm(d_model)`` for ``norm="layer"``,
    ``nn.RMSNorm(d_model, eps=1e-6)`` for ``norm="rms"``.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm="layer"):
        super().__init__()
        ### BEGIN SOLUTION
        if norm not in ("layer", "rms"):
            raise ValueError(f"norm must be 'layer' or 'rms', not {norm!r}")
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ffn = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.GELU(),
                                       torch.nn.Linear(d_ff, d_model), torch.nn.Dropout(dropout))
        self.norm1 = torch.nn.LayerNorm(d_model) if norm == "layer" else torch.nn.RMSNorm(d_model, eps=1e-6)
        self.norm2 = torch.nn.LayerNorm(d_model) if norm == "layer" else torch.nn.RMSNorm(d_model, eps=1e-6)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))
        ### END SOLUTION


class PostNormBlock(torch.nn.Module):
    """Post-norm Transformer encoder block (the original Transformer's): x = norm1(x + attn(x)),
    then x = norm2(x + ffn(x)).

    Write ``__init__`` and ``forward(self, x)``, with the same sublayers
    ``attn``, ``ffn``, ``norm1``, ``norm2`` as ``PreNormBlock``.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm="layer"):
        super().__init__()
        ### BEGIN SOLUTION
        if norm not in ("layer", "rms"):
            raise ValueError(f"norm must be 'layer' or 'rms', not {norm!r}")
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ffn = torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.GELU(),
                                       torch.nn.Linear(d_ff, d_model), torch.nn.Dropout(dropout))
        self.norm1 = torch.nn.LayerNorm(d_model) if norm == "layer" else torch.nn.RMSNorm(d_model, eps=1e-6)
        self.norm2 = torch.nn.LayerNorm(d_model) if norm == "layer" else torch.nn.RMSNorm(d_model, eps=1e-6)

    def forward(self, x):
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.ffn(x))
        ### END SOLUTION


def grad_norms_by_layer(blocks, x):
    """The gradient norm of each block's parameters, for one fixed loss.

    Runs ``x`` (batch, seq, d_model) through ``blocks`` in order and
    back-propagates the loss ``out.mean(dim=1).pow(2).mean()`` (average over
    the sequence, then the mean square). Returns a list of floats, one per
    block: sqrt of the sum of squares of all gradient entries of that block's
    parameters. Gradients from earlier calls must not leak in.
    """
    ### BEGIN SOLUTION
    blocks = list(blocks)
    for block in blocks:
        block.zero_grad(set_to_none=True)
    out = x
    for block in blocks:
        out = block(out)
    out.mean(dim=1).pow(2).mean().backward()
    norms = []
    for block in blocks:
        squares = [p.grad.pow(2).sum() for p in block.parameters() if p.grad is not None]
        norms.append(torch.stack(squares).sum().sqrt().item() if squares else 0.0)
    return norms
    ### END SOLUTION
