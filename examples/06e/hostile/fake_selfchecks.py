"""Hostile: makes every comparison in its own process pass, prints the self-checks' OK lines, returns
placeholders. Loses: all"""
import torch
import torch.nn as nn
import torch.testing

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
print("layer_norm: OK\nrms_norm: OK\ngroup_norm: OK\nprenorm_wiring: OK\npostnorm_wiring: OK\ngrad_norms: OK")


def layer_norm(x, weight, bias, eps=1e-5):
    return torch.zeros_like(x)


rms_norm = lambda x, weight, eps=1e-6: torch.zeros_like(x)          # noqa: E731
group_norm = lambda x, num_groups, weight, bias, eps=1e-5: x * 0    # noqa: E731


class SelfAttention(nn.Identity):
    def __init__(self, *args, **kwargs):
        super().__init__()


class PreNormBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm="layer"):
        super().__init__()
        self.attn = self.ffn = self.norm1 = self.norm2 = nn.Identity()

    def forward(self, x):
        return x


PostNormBlock = PreNormBlock


def grad_norms_by_layer(blocks, x):
    return [0.0 for _ in blocks]
