"""Hostile: right answers from the library norms, reached under aliases. Loses: layer_norm, rms_norm, group_norm
Says: layer_norm calls torch.nn.functional.layer_norm"""
import torch
import torch.nn as nn

_F = torch.nn.functional
_ln, _rms, _gn = (getattr(_F, name + "_norm") for name in ("layer", "rms", "group"))


def layer_norm(x, weight, bias, eps=1e-5):
    return _ln(x, x.shape[-1:], weight, bias, eps)


def rms_norm(x, weight, eps=1e-6):
    return _rms(x, x.shape[-1:], weight, eps)


def group_norm(x, num_groups, weight, bias, eps=1e-5):
    return _gn(x, num_groups, weight, bias, eps)


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        self.mha = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.mha(x, x, x, need_weights=False)[0])


class PreNormBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm="layer"):
        super().__init__()
        make = (lambda: nn.LayerNorm(d_model)) if norm == "layer" else (lambda: nn.RMSNorm(d_model, eps=1e-6))
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        self.norm1, self.norm2 = make(), make()

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class PostNormBlock(PreNormBlock):
    def forward(self, x):
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.ffn(x))


def grad_norms_by_layer(blocks, x):
    out = x
    for block in blocks:
        block.zero_grad()
    for block in blocks:
        out = block(out)
    out.mean(1).pow(2).mean().backward()
    return [sum(p.grad.pow(2).sum() for p in block.parameters()).sqrt().item() for block in blocks]
