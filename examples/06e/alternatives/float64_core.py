"""A correct 06e solution written differently: the norms compute in float64 and cast back, einsum means,
nn.MultiheadAttention under another attribute name, an nn.Sequential ffn without a trailing dropout but dropout
inside attention and after it, and the gradient norms from one concatenated vector per block."""
import torch
from torch import nn


def layer_norm(x, weight, bias, eps=1e-5):
    xd = x.double()
    d = xd.shape[-1]
    mean = xd.sum(-1, keepdim=True) / d
    var = ((xd - mean) ** 2).sum(-1, keepdim=True) / d
    return ((xd - mean) / (var + eps) ** 0.5 * weight.double() + bias.double()).to(x.dtype)


def rms_norm(x, weight, eps=1e-6):
    xd = x.double()
    ms = torch.einsum("...d,...d->...", xd, xd).unsqueeze(-1) / xd.shape[-1]
    return (xd / torch.sqrt(ms + eps) * weight.double()).to(x.dtype)


def group_norm(x, num_groups, weight, bias, eps=1e-5):
    n, c = x.shape[:2]
    out = torch.empty_like(x)
    size = c // num_groups
    for g in range(num_groups):
        chunk = x[:, g * size:(g + 1) * size].double()
        dims = tuple(range(1, chunk.dim()))
        mean = chunk.mean(dim=dims, keepdim=True)
        var = ((chunk - mean) ** 2).mean(dim=dims, keepdim=True)
        out[:, g * size:(g + 1) * size] = ((chunk - mean) / torch.sqrt(var + eps)).to(x.dtype)
    shape = (1, c) + (1,) * (x.dim() - 2)
    return out * weight.view(shape) + bias.view(shape)


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        self.inner = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.after = nn.Dropout(dropout)

    def forward(self, x):
        return self.after(self.inner(x, x, x)[0])


def _norm(kind, d):
    if kind == "layer":
        return nn.LayerNorm(d)
    if kind == "rms":
        return nn.RMSNorm(d, eps=1e-6)
    raise ValueError(kind)


class PreNormBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm="layer"):
        super().__init__()
        self.norm1 = _norm(norm, d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.norm2 = _norm(norm, d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))

    def forward(self, x):
        h = self.attn(self.norm1(x))
        x = h + x
        return self.ffn(self.norm2(x)) + x


class PostNormBlock(PreNormBlock):
    def forward(self, x):
        x = self.norm1(self.attn(x) + x)
        x = self.norm2(self.ffn(x) + x)
        return x


def grad_norms_by_layer(blocks, x):
    for block in blocks:
        for p in block.parameters():
            p.grad = None
    out = x
    for block in blocks:
        out = block(out)
    loss = out.mean(dim=1).square().mean()
    loss.backward()
    return [torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in block.parameters()])).item()
            for block in blocks]
