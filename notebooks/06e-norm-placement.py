# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 06e — Where the norm goes: LayerNorm, RMSNorm, GroupNorm, pre-norm and post-norm
#
# Lecture 6, *Regularization in Deep Learning*. BatchNorm averages over the
# batch; the normalizations of this lab average over each sample on its own,
# which is why Transformers use them. You write LayerNorm, RMSNorm and
# GroupNorm from tensor arithmetic and check them against PyTorch, build the
# two Transformer blocks that differ only in where the norm sits, and run the
# experiments that explain why almost every large Transformer today is
# *pre-norm*: the gradient norm of each layer at depth, and training with and
# without learning-rate warmup at four depths over seeds. Then you time
# LayerNorm against RMSNorm, and put your GroupNorm into a small-batch CNN.
#
# **You will be able to**
# 1. say which dimensions BatchNorm, LayerNorm, GroupNorm and RMSNorm average over, and why that matters;
# 2. write the three norms from scratch, equal to `F.layer_norm`, `nn.RMSNorm` and `F.group_norm`;
# 3. wire a pre-norm and a post-norm Transformer block, and explain from measurements why pre-norm
#    trains without aggressive warmup.
#
# **How this lab is graded.** Fill in every cell that says
# `raise NotImplementedError()`. The *self-check* cells below each part are
# for you: they test your functions on several random cases against PyTorch's
# own `F.layer_norm`, `nn.RMSNorm` and `F.group_norm`, and say in words what
# is wrong when they can tell. Your grade comes from hidden checks that
# call your functions and classes on fresh inputs (other shapes, float32 and
# float64, tiny variances where `eps` matters) and compare the results with
# the reference. The blocks are checked by replacing their sublayers with
# known functions, so keep the attribute names `attn`, `ffn`, `norm1`,
# `norm2`. The written questions at the end are graded by hand.
#
# **Rules.** Write `layer_norm`, `rms_norm` and `group_norm` from tensor
# arithmetic (`mean`, `sqrt`, `reshape`, broadcasting): no `F.layer_norm`,
# `nn.LayerNorm`, `F.rms_norm`, `nn.RMSNorm`, `F.group_norm`, `nn.GroupNorm`
# (or any other library normalization) inside them, and do not modify the
# inputs. The blocks may use `nn.LayerNorm`, `nn.RMSNorm` and
# `nn.MultiheadAttention`. A function that breaks a rule loses that item.

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)          # the models here are tiny: one CPU thread beats several (and shares the machine)
torch.backends.cuda.matmul.allow_tf32 = False   # exact float32 matmuls on GPUs too
torch.backends.cudnn.allow_tf32 = False
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# "ci" while the grader runs this notebook: the same experiments, fewer training steps.
PROFILE = os.environ.get("REGLAB_PROFILE", "cpu")
print("running on", DEVICE, "| profile", PROFILE)

# %% [markdown]
# The sizes of the experiments (sections 8 to 10) come from the profile:

# %% reglab="profiles"

# %%
P = PROFILES[PROFILE]
print(P)

# %% [markdown]
# ## 1. Which dimensions does each norm average over?
#
# Take a batch of activations of shape (N, C, H, W): N samples, C channels,
# H x W positions (for a Transformer: N sequences, and per token a vector of
# C = d_model features). Every normalization computes a mean and a variance
# over *some* of these axes and normalizes with them:
#
# | norm | statistics over | one statistic per | depends on the other samples? |
# |---|---|---|---|
# | BatchNorm | N, H, W | channel | **yes** |
# | LayerNorm | C (and H, W in CNNs; in a Transformer: the d_model features of one token) | sample (token) | no |
# | GroupNorm | a group of C / G channels, H, W | sample and group | no |
# | RMSNorm | like LayerNorm, but only the mean *square*, no mean subtracted | sample (token) | no |
#
# In the pictures below each square is one (sample, channel) pair, holding
# all its H x W positions; the orange squares share one mean and variance.

# %% reglab="demo"
def axes_picture(n=6, c=12, groups=3):
    """Which (sample, channel) cells share one statistic, for each normalization."""
    masks = {"BatchNorm": torch.zeros(n, c), "LayerNorm": torch.zeros(n, c),
             f"GroupNorm ({groups} groups)": torch.zeros(n, c), "RMSNorm": torch.zeros(n, c)}
    masks["BatchNorm"][:, 2] = 1                                  # one channel, every sample
    masks["LayerNorm"][1] = 1                                     # one sample, every channel
    masks[f"GroupNorm ({groups} groups)"][1, c // groups:2 * c // groups] = 1   # one sample, one group
    masks["RMSNorm"][1] = 1                                       # the axes of LayerNorm
    notes = {"BatchNorm": "mean and var over N, H, W", "LayerNorm": "mean and var over C, H, W",
             f"GroupNorm ({groups} groups)": f"mean and var over C/{groups}, H, W",
             "RMSNorm": "mean of x² over C, H, W (no centring)"}
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, (name, mask) in zip(axes, masks.items()):
        ax.imshow(mask, cmap="Oranges", vmin=-0.3, vmax=1.3)
        ax.set_xticks(range(c), [""] * c)
        ax.set_yticks(range(n), [""] * n)
        ax.set_xticks([x - 0.5 for x in range(c + 1)], minor=True)
        ax.set_yticks([y - 0.5 for y in range(n + 1)], minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="both", length=0)
        ax.set(title=name, xlabel=f"channel C  →\n{notes[name]}", ylabel="sample N  →")
    plt.tight_layout()
    plt.show()


axes_picture()

# %% [markdown]
# Only BatchNorm looks across the batch. That is why it needs large batches
# and a separate eval mode, and why it does not fit sequence models whose
# batches mix sequences of different lengths. The other three normalize each
# sample with its own statistics: the same in training and at test time, for
# any batch size, even one.

# %% [markdown]
# ### Tools for the self-checks
#
# The self-checks compare your functions with PyTorch's own `F.layer_norm`,
# `F.rms_norm` (what `nn.RMSNorm` runs) and `F.group_norm`, computed in
# float64, on several random cases each, including the traps: a row with zero
# variance, a variance about the size of `eps` (where `eps` goes shows), the
# default `eps`, float64 inputs, 2-D to 4-D inputs. They use the tolerance of
# the hidden checks and say in words what is wrong when they can tell.

# %%
RTOL, ATOL = (1e-4, 1e-5) if DEVICE == "cpu" else (1e-3, 1e-4)   # the hidden checks' float32 tolerance


def close(got, expected):
    """|got - expected| <= atol * max(1, max|expected|) + rtol * |expected| everywhere, as the hidden checks test."""
    rtol, atol = (1e-9, 1e-10) if got.dtype == torch.float64 else (RTOL, ATOL)
    if got.shape != expected.shape or not torch.isfinite(got).all():
        return False
    got, expected = got.double(), expected.double()
    scale = max(1.0, expected.abs().max().item())
    return bool(((got - expected).abs() <= atol * scale + rtol * expected.abs()).all())


def check_tensor(name, got, expected, where, diagnose=None):
    """Fail with a message in words unless ``got`` is a tensor of the right shape, dtype and values."""
    assert isinstance(got, torch.Tensor), f"{name} should be a tensor, not {type(got).__name__} ({where})"
    assert got.shape == expected.shape, f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)} ({where})"
    assert got.dtype == expected.dtype, f"{name} is {got.dtype} for {expected.dtype} inputs; keep the input's dtype"
    assert torch.isfinite(got).all(), f"{name} contains NaN or inf ({where})"
    if not close(got, expected):
        hint = diagnose() if diagnose else None
        error = (got.double() - expected.double()).abs().max().item()
        raise AssertionError(f"{name} is wrong: {hint or f'max abs error {error:.1e}'} ({where})")


def norm_case(gen, shape, scale, dtype=torch.float32, centred=False, constant_row=None, channels=False):
    """x with its own scale and offset per row; weight and bias over the last dim (dim 1 if ``channels``)."""
    def rand(*s):
        return torch.rand(*s, generator=gen, dtype=torch.float64)

    def randn(*s):
        return torch.randn(*s, generator=gen, dtype=torch.float64)

    x = randn(*shape) * scale * (0.5 + rand(*shape[:-1], 1))
    if not centred:
        x = x + min(3.0, scale) * randn(*shape[:-1], 1)
    if channels:                                         # and an offset per channel
        x = x + min(2.0, scale) * randn(1, shape[1], *(1,) * (len(shape) - 2))
    if constant_row is not None:                         # a row with zero variance: eps keeps it finite
        x.view(-1, shape[-1])[0] = constant_row
    size = shape[1] if channels else shape[-1]
    return [t.to(dtype).to(DEVICE) for t in (x, 0.5 + rand(size), randn(size))]


def eps_kwargs(eps):
    return {} if eps is None else {"eps": eps}

# %% [markdown]
# ## 2. LayerNorm
#
# For one token $x \in \mathbb{R}^D$ (the last dimension):
#
# $$\mu = \frac1D\sum_j x_j,\qquad \sigma^2 = \frac1D\sum_j (x_j-\mu)^2,\qquad
# y_j = \gamma_j\,\frac{x_j-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta_j .$$
#
# The variance is the *biased* one (divide by $D$), and $\epsilon$ goes
# *inside* the square root; both show when the variance is tiny. `x` may have
# any number of leading dimensions; `weight` ($\gamma$) and `bias` ($\beta$)
# have shape (D,).

# %% reglab="solution" functions=["layer_norm"]

# %% [markdown]
# **Self-check: `layer_norm` against `F.layer_norm`**, on four cases.

# %%
def diagnose_layer_norm(got, x, w, b, eps, eps_given):
    """Name a common LayerNorm mistake that explains ``got``, or None."""
    x, w, b = x.double(), w.double(), b.double()

    def variant(eps=eps, unbiased=False, outside=False, dim=-1, w=w, b=b):
        var = x.var(dim, unbiased=unbiased, keepdim=True)
        std = var.sqrt() + eps if outside else (var + eps).sqrt()
        return (x - x.mean(dim, keepdim=True)) / std * w + b

    if close(got, variant(outside=True)):
        return "eps is added outside the square root; use sqrt(var + eps)"
    if close(got, variant(unbiased=True)):
        return "it normalizes with the unbiased variance (divide by D - 1); LayerNorm uses the biased one (divide by D)"
    if close(got, variant(w=1.0, b=0.0)):
        return "weight and bias are not applied"
    if close(got, variant(dim=0)):
        return "the statistics are taken over the first dimension; take them over the last one (dim=-1)"
    if not eps_given and close(got, variant(eps=1e-6)):
        return "the default eps should be 1e-5"
    return None

# %% reglab="selfcheck" item="layer_norm"
gen = torch.Generator().manual_seed(0)
for i, (shape, scale, eps, dtype, constant) in enumerate([
        ((6, 20), 3.0, None, torch.float32, 1.5),        # a constant row: variance 0
        ((3, 5, 16), 0.003, None, torch.float32, None),  # variance ~ eps, eps left at its default
        ((2, 3, 4, 8), 0.05, 1e-3, torch.float32, None),
        ((4, 6, 10), 2.0, 1e-6, torch.float64, None)]):
    x, weight, bias = norm_case(gen, shape, scale, dtype, constant_row=constant)
    where = f"case {i + 1}: shape {shape}, {dtype}, eps {'default' if eps is None else eps}"
    got = layer_norm(x.clone(), weight, bias, **eps_kwargs(eps))
    expected = F.layer_norm(x.double(), shape[-1:], weight.double(), bias.double(), eps or 1e-5).to(dtype)
    check_tensor("the output", got, expected, where,
                 lambda: diagnose_layer_norm(got, x, weight, bias, eps or 1e-5, eps is not None))
print("layer_norm: OK (4 cases)")

# %% [markdown]
# ## 3. RMSNorm
#
# RMSNorm (Zhang & Sennrich, 2019; used by LLaMA and most recent LLMs) drops
# the centring and the bias:
#
# $$y_j = \gamma_j\,\frac{x_j}{\sqrt{\frac1D\sum_k x_k^2 + \epsilon}} .$$
#
# One reduction instead of two. Write it over the last dimension, equal to
# `nn.RMSNorm(D, eps=1e-6)` with its weight set to `weight`.

# %% reglab="solution" functions=["rms_norm"]

# %% [markdown]
# **Self-check: `rms_norm` against `nn.RMSNorm`** (its function `F.rms_norm`),
# on four cases, one with an all-zero row.

# %%
def diagnose_rms_norm(got, x, w, eps, eps_given):
    """Name a common RMSNorm mistake that explains ``got``, or None."""
    x, w = x.double(), w.double()
    ms = (x * x).mean(-1, keepdim=True)
    centred = x - x.mean(-1, keepdim=True)
    if close(got, centred / (centred.pow(2).mean(-1, keepdim=True) + eps).sqrt() * w):
        return "it subtracts the mean, which makes it LayerNorm; RMSNorm divides by sqrt(mean(x**2) + eps) only"
    if close(got, x / (ms.sqrt() + eps) * w):
        return "eps is added outside the square root; use sqrt(mean(x**2) + eps)"
    if close(got, x / (ms + eps).sqrt()):
        return "weight is not applied"
    if not eps_given and close(got, x / (ms + 1e-5).sqrt() * w):
        return "the default eps should be 1e-6 (nn.RMSNorm(d, eps=1e-6)), not LayerNorm's 1e-5"
    return None

# %% reglab="selfcheck" item="rms_norm"
gen = torch.Generator().manual_seed(1)
for i, (shape, scale, eps, dtype, centred, constant) in enumerate([
        ((6, 20), 2.0, None, torch.float32, False, 0.0),        # an all-zero row
        ((3, 5, 16), 0.001, None, torch.float32, True, None),   # mean square ~ eps, eps left at its default
        ((2, 3, 4, 8), 0.03, 1e-3, torch.float32, True, None),
        ((4, 6, 10), 1.5, 1e-8, torch.float64, False, None)]):
    x, weight, _ = norm_case(gen, shape, scale, dtype, centred=centred, constant_row=constant)
    where = f"case {i + 1}: shape {shape}, {dtype}, eps {'default' if eps is None else eps}"
    got = rms_norm(x.clone(), weight, **eps_kwargs(eps))
    expected = F.rms_norm(x.double(), shape[-1:], weight.double(), eps or 1e-6).to(dtype)
    check_tensor("the output", got, expected, where,
                 lambda: diagnose_rms_norm(got, x, weight, eps or 1e-6, eps is not None))
print("rms_norm: OK (4 cases)")

# %% [markdown]
# ## 4. GroupNorm
#
# GroupNorm (Wu & He, 2018) splits the C channels into `num_groups` groups of
# C / G **consecutive** channels (group 0 is channels 0 … C/G − 1) and
# normalizes each sample's group over its channels and all positions. Then
# `weight` and `bias`, of shape (C,), scale and shift each channel. With one
# group it is LayerNorm over (C, H, W); with C groups it is InstanceNorm.
# The input is (N, C) or (N, C, L) or (N, C, H, W): a `reshape` to
# (N, G, everything else) handles them all.

# %% reglab="solution" functions=["group_norm"]

# %% [markdown]
# **Self-check: `group_norm` against `F.group_norm`**, on six cases: 2-D to
# 4-D inputs, one group (LayerNorm), one channel per group (InstanceNorm).

# %%
def diagnose_group_norm(got, x, groups, w, b, eps):
    """Name a common GroupNorm mistake that explains ``got``, or None."""
    x, w, b = x.double(), w.double(), b.double()
    n, c = x.shape[:2]

    def variant(flat, dims, unbiased=False, outside=False):
        var = flat.var(dims, unbiased=unbiased, keepdim=True)
        std = var.sqrt() + eps if outside else (var + eps).sqrt()
        x_hat = ((flat - flat.mean(dims, keepdim=True)) / std).reshape(x.shape)
        shape = (1, c) + (1,) * (x.dim() - 2)
        return x_hat * w.reshape(shape) + b.reshape(shape)

    if 1 < groups < c and close(got, variant(x.reshape(n, c // groups, groups, -1), (1, 3))):
        return ("the groups interleave channels; group k holds the consecutive channels "
                "k * (C // num_groups) ... (k + 1) * (C // num_groups) - 1: reshape to (N, num_groups, -1)")
    if 1 < groups < c and close(got, variant(x.reshape(n, c // groups, -1), (2,))):
        return "it makes C // num_groups groups of num_groups channels; make num_groups groups of C // num_groups"
    if groups < c and x.dim() > 2 and close(got, variant(x.reshape(n, c, -1), (2,))):
        return "it normalizes each channel on its own (instance norm); normalize over all channels of a group"
    if close(got, variant(x.reshape(n, groups, -1), (2,), outside=True)):
        return "eps is added outside the square root; use sqrt(var + eps)"
    if close(got, variant(x.reshape(n, groups, -1), (2,), unbiased=True)):
        return "it normalizes with the unbiased variance; GroupNorm uses the biased one"
    return None

# %% reglab="selfcheck" item="group_norm"
gen = torch.Generator().manual_seed(2)
for i, (shape, groups, scale, eps, dtype) in enumerate([
        ((3, 6, 5, 4), 2, 2.0, None, torch.float32),
        ((2, 12, 7), 4, 0.003, None, torch.float32),      # variance ~ eps, eps left at its default
        ((4, 6), 3, 1.0, 1e-3, torch.float32),            # (N, C): no positions
        ((2, 6, 3, 3), 1, 1.0, None, torch.float32),      # one group: LayerNorm over (C, H, W)
        ((2, 5, 6), 5, 1.0, None, torch.float32),         # C groups: InstanceNorm
        ((2, 8, 4, 4), 2, 2.0, 1e-6, torch.float64)]):
    x, weight, bias = norm_case(gen, shape, scale, dtype, channels=True)
    where = f"case {i + 1}: shape {shape}, num_groups={groups}, {dtype}, eps {'default' if eps is None else eps}"
    got = group_norm(x.clone(), groups, weight, bias, **eps_kwargs(eps))
    expected = F.group_norm(x.double(), groups, weight.double(), bias.double(), eps or 1e-5).to(dtype)
    check_tensor("the output", got, expected, where,
                 lambda: diagnose_group_norm(got, x, groups, weight, bias, eps or 1e-5))
print("group_norm: OK (6 cases)")

# %% [markdown]
# **Self-check: none of the three functions modifies its inputs.**

# %% reglab="selfcheck" item="norm_immutability"
x = torch.randn(2, 6, 8, device=DEVICE)
weight, bias = torch.rand(8, device=DEVICE) + 0.5, torch.randn(8, device=DEVICE)
saved = x.clone(), weight.clone(), bias.clone()
for name, call in [("layer_norm", lambda: layer_norm(x, weight, bias)), ("rms_norm", lambda: rms_norm(x, weight)),
                   ("group_norm", lambda: group_norm(x.transpose(1, 2), 2, weight, bias))]:
    call()
    for arg, now, before in zip(["x", "weight", "bias"], (x, weight, bias), saved):
        assert torch.equal(now, before), f"{name} modified its input {arg} in place; work on new tensors"
print("norm_immutability: OK")

# %% [markdown]
# **Per-sample statistics in action.** A sample's LayerNorm output does not
# depend on what else is in its batch; its BatchNorm output (in training
# mode) does:

# %% reglab="demo"
sample = torch.randn(1, 8, device=DEVICE) * 2 + 1
ones, zeros = torch.ones(8, device=DEVICE), torch.zeros(8, device=DEVICE)
for batch_name, shift in [("batch A", 0.0), ("batch B", 5.0)]:
    batch = torch.cat([sample, torch.randn(15, 8, device=DEVICE) + shift])
    bn = F.batch_norm(batch, None, None, training=True)[0]
    ln = layer_norm(batch, ones, zeros)[0]
    print(f"{batch_name}: BatchNorm output for the sample {[round(v, 2) for v in bn[:4].tolist()]} ...   "
          f"LayerNorm output {[round(v, 2) for v in ln[:4].tolist()]} ...")

# %% [markdown]
# ## 5. Pre-norm and post-norm Transformer blocks
#
# A Transformer encoder block has two sublayers, self-attention and a
# position-wise feed-forward network, each inside a residual connection. The
# original Transformer (2017) normalizes *after* each residual sum; GPT-2 and
# nearly every model since normalizes each sublayer's *input* and leaves the
# residual path untouched:
#
# ```
#  post-norm: x = norm1(x + attn(x)), then x = norm2(x + ffn(x))
#
#    x ──┬──► attn ──► (+) ──► norm1 ──┬──► ffn ──► (+) ──► norm2 ──►
#        └─────────────┘               └────────────┘
#
#  pre-norm: x = x + attn(norm1(x)), then x = x + ffn(norm2(x))
#
#    x ──┬──► norm1 ──► attn ──► (+) ──┬──► norm2 ──► ffn ──► (+) ──►
#        └───────────────────────┘     └──────────────────────┘
# ```
#
# In pre-norm, the residual stream from the input to the output is a plain
# sum: the gradient reaches every layer through an identity path. In
# post-norm, it passes through a norm at every sublayer.
#
# First a sublayer: `nn.MultiheadAttention` takes (query, key, value) and
# returns a pair. Wrap it so that `SelfAttention(d_model, n_heads, dropout)(x)`
# takes one tensor (batch, seq, d_model) and returns one of the same shape
# (use `batch_first=True`). The blocks need it, so write it first: until it
# is written, building a block raises NotImplementedError, and the checks of
# the blocks report the block as not written. It is graded through them.

# %% reglab="solution" functions=["SelfAttention"]

# %% [markdown]
# Now the blocks. Both have the same four sublayers, as attributes with these
# names (the hidden checks replace them by known functions):
#
# * `attn`: a `SelfAttention(d_model, n_heads, dropout)`;
# * `ffn`: `Linear(d_model, d_ff)`, `GELU`, `Linear(d_ff, d_model)`, then `Dropout(dropout)`;
# * `norm1`, `norm2`: two separate norms, `nn.LayerNorm(d_model)` for `norm="layer"`
#   (the default) and `nn.RMSNorm(d_model, eps=1e-6)` for `norm="rms"`.
#
# Each is called with one tensor (batch, seq, d_model) and returns that shape.
# Write `__init__` and a `forward(self, x)` method for each class.

# %% reglab="solution" functions=["PreNormBlock"]

# %% reglab="solution" functions=["PostNormBlock"]

# %% [markdown]
# **Self-check: the wiring.** Replace the four sublayers by simple functions
# whose effect you can compute by hand, and compare. This is how the hidden
# checks test your wiring, with other functions.

# %%
class Fn(nn.Module):
    """A parameter-free module that applies ``f``: a stand-in for a sublayer."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


STAND_INS = {"attn": lambda x: 0.5 * x.roll(1, dims=1), "ffn": lambda x: x * x,
             "norm1": lambda x: x / 3 + 1, "norm2": lambda x: 2 * x - 1}


def with_stand_ins(block):
    for name, f in STAND_INS.items():
        setattr(block, name, Fn(f))
    return block.eval()


def wirings(x):
    """What each way of wiring the stand-ins computes: the right ones, and mistakes to name."""
    attn, ffn, norm1, norm2 = STAND_INS.values()
    pre, post = x + attn(norm1(x)), norm1(x + attn(x))
    normed = norm1(x) + attn(norm1(x))
    mixed = x + attn(norm1(x))
    return {"pre-norm": pre + ffn(norm2(pre)), "post-norm": norm2(post + ffn(post)),
            "the pre-norm wiring, x + attn(norm1(x)), where post-norm is asked for": norm2(pre + ffn(norm2(pre))),
            "a residual that adds the normalized x: norm1(x) + attn(norm1(x)); add the input x itself":
                normed + ffn(norm2(normed)),
            "the norm before the sublayer, x + attn(norm1(x)), then norm2(x + ffn(x)); post-norm normalizes "
            "after the residual sum: norm1(x + attn(x))": norm2(mixed + ffn(mixed)),
            "the post-norm wiring, norm1(x + attn(x)), where pre-norm is asked for": norm2(post + ffn(post))}


def check_wiring(cls, kind):
    """The block with stand-ins against the wiring ``kind`` computed by hand, on three inputs."""
    for shape in [(2, 5, 8), (3, 4, 8), (1, 7, 8)]:
        x = torch.randn(*shape, device=DEVICE)
        got = with_stand_ins(cls(8, 2, 16).to(DEVICE))(x)
        variants = wirings(x)

        def diagnose():
            return next((f"it computes {name}" for name, out in variants.items()
                         if name not in ("pre-norm", "post-norm") and close(got, out)), None)

        check_tensor(f"{cls.__name__}'s output", got, variants[kind], f"input of shape {shape}", diagnose)

# %% reglab="selfcheck" item="prenorm_wiring"
check_wiring(PreNormBlock, "pre-norm")
print("prenorm_wiring: OK")

# %% reglab="selfcheck" item="postnorm_wiring"
check_wiring(PostNormBlock, "post-norm")
print("postnorm_wiring: OK")

# %% [markdown]
# **Self-check: the norms of the blocks.** A fresh `nn.LayerNorm(d)` computes
# `F.layer_norm(x, (d,))`; a fresh RMSNorm computes `x / sqrt(mean(x**2) + eps)`.

# %% reglab="selfcheck" item="block_norms"
x = torch.randn(2, 5, 8, device=DEVICE) + 2
fresh = {"layer": F.layer_norm(x, (8,)), "rms": x / (x.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt()}
names = {"layer": "nn.LayerNorm(d_model)", "rms": "nn.RMSNorm(d_model, eps=1e-6)"}
for cls in (PreNormBlock, PostNormBlock):
    for kind, other in (("layer", "rms"), ("rms", "layer")):
        block = cls(8, 2, 16, norm=kind).to(DEVICE)
        assert block.norm1 is not block.norm2, \
            f"{cls.__name__}(norm={kind!r}): norm1 and norm2 are the same module; make two separate norms"
        for name in ("norm1", "norm2"):
            got = getattr(block, name)(x)
            check_tensor(f"{cls.__name__}(norm={kind!r}).{name}(x)", got, fresh[kind], "a fresh block",
                         lambda: f"it computes {names[other]}; norm={kind!r} asks for {names[kind]}"
                         if close(got, fresh[other]) else None)
print("block_norms: OK")

# %% [markdown]
# **Self-check: the sublayers.** Attention mixes the positions of a sequence;
# the feed-forward network acts on each position on its own.

# %% reglab="selfcheck" item="block_sublayers"
x = torch.randn(2, 5, 8, device=DEVICE)
x_changed = x.clone()
x_changed[:, -1] += 1.0                                  # change only the last position
for cls in (PreNormBlock, PostNormBlock):
    block = cls(8, 2, 16).to(DEVICE).eval()
    for name, sublayer in (("the block", block), ("attn", block.attn), ("ffn", block.ffn)):
        out = sublayer(x)
        assert isinstance(out, torch.Tensor) and out.shape == x.shape, \
            f"{cls.__name__}: {name} should return one tensor of the input's shape {tuple(x.shape)}"
    assert not close(block.attn(x)[:, 0], block.attn(x_changed)[:, 0]), (
        f"{cls.__name__}: attn's output at the first position did not change when only the last position "
        "changed; self-attention mixes all positions of the sequence")
    assert close(block.ffn(x)[:, :-1], block.ffn(x_changed)[:, :-1]), (
        f"{cls.__name__}: ffn's output at one position changed when only another position changed; "
        "the feed-forward sublayer acts on each position on its own")
print("block_sublayers: OK")

# %% [markdown]
# **Self-check: dropout** is random in training mode and off in eval mode and at `dropout=0`.

# %% reglab="selfcheck" item="block_dropout"
x = torch.randn(4, 6, 8, device=DEVICE)
for cls in (PreNormBlock, PostNormBlock):
    block = cls(8, 2, 16, dropout=0.5).to(DEVICE)
    assert not torch.equal(block.train()(x), block(x)), (
        f"{cls.__name__}(..., dropout=0.5) in training mode gave the same output twice; "
        "pass dropout on to the sublayers (nn.Dropout / the attention's dropout)")
    assert torch.equal(block.eval()(x), block(x)), (
        f"{cls.__name__}(..., dropout=0.5) in eval mode gave different outputs for the same input; "
        "use nn.Dropout modules (they turn off with .eval()), not F.dropout(..., training=True)")
    block = cls(8, 2, 16).to(DEVICE).train()
    assert torch.equal(block(x), block(x)), f"{cls.__name__} with dropout=0.0 drops out in training mode"
print("block_dropout: OK")

# %% [markdown]
# ## 6. Gradient norms by layer
#
# To compare the two blocks at depth we need *one* number per block: how
# strongly does the loss pull on that block's parameters? Write
# `grad_norms_by_layer(blocks, x)`:
#
# 1. run `x` (batch, seq, d_model) through `blocks` in order;
# 2. back-propagate the **fixed loss** `out.mean(dim=1).pow(2).mean()`: average
#    the output over the sequence, then take the mean square. (Why not
#    `out.pow(2).mean()`? After a post-norm block, every token is normalized
#    to mean 0 and variance 1, so the mean square over the features is
#    almost exactly 1, whatever the weights: that loss has almost no
#    gradient. Averaging over the sequence first does not have this problem.)
# 3. return a list of floats, one per block: $\sqrt{\sum g^2}$ over all gradient
#    entries of all that block's parameters.
#
# The function may be called twice on the same blocks: gradients left in
# `.grad` from an earlier call must not leak in (`block.zero_grad()`, or use
# `torch.autograd.grad`).

# %% reglab="solution" functions=["grad_norms_by_layer"]

# %% [markdown]
# **Self-check: two stacks of blocks, against autograd by hand**, each called twice.

# %%
def autograd_grad_norms(blocks, x, loss_fn):
    """Each block's gradient norm for ``loss_fn(out)``, by torch.autograd.grad."""
    out = x
    for block in blocks:
        out = block(out)
    params = [list(block.parameters()) for block in blocks]
    grads = torch.autograd.grad(loss_fn(out), [p for ps in params for p in ps])
    norms, start = [], 0
    for ps in params:
        norms.append(torch.stack([g.pow(2).sum() for g in grads[start:start + len(ps)]]).sum().sqrt())
        start += len(ps)
    return torch.stack(norms).detach()

# %% reglab="selfcheck" item="grad_norms"
torch.manual_seed(1)
cases = [("two small MLP blocks", 4, [nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 4)) for _ in range(2)]),
         ("three Transformer layers", 8, [nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                                                     norm_first=i == 1) for i in range(3)])]
for where, d, blocks in cases:
    blocks = [block.to(DEVICE) for block in blocks]
    x = torch.randn(3, 5, d, device=DEVICE)
    expected = autograd_grad_norms(blocks, x, lambda out: out.mean(dim=1).pow(2).mean())
    for attempt in ("first", "second"):                   # twice: no gradients left over from the first call
        norms = grad_norms_by_layer(blocks, x)
        assert len(norms) == len(blocks), f"expected one norm per block ({len(blocks)}), got {len(norms)} ({where})"
        got = torch.tensor([float(n) for n in norms], device=DEVICE)
        if close(got, expected):
            continue
        hint = f"max abs error {(got - expected).abs().max().item():.1e}"
        if attempt == "second":
            hint = ("the first call's gradients leaked into the second call; clear them first "
                    "(block.zero_grad()) or use torch.autograd.grad")
        elif close(got, autograd_grad_norms(blocks, x, lambda out: out.pow(2).mean())):
            hint = ("the loss is out.pow(2).mean(); this lab's fixed loss averages over the sequence first: "
                    "out.mean(dim=1).pow(2).mean()")
        raise AssertionError(f"grad_norms_by_layer is wrong: {hint} ({where}, {attempt} call)")
print("grad_norms: OK (2 cases, each called twice)")

# %% [markdown]
# ## 7. Experiment: the gradient of each layer at depth
#
# Build stacks of 6 and 18 blocks of each kind, with the initialization of the
# original Transformer (Xavier-uniform weights, zero biases, so that each
# sublayer's output is about as large as its input), and measure each
# layer's gradient norm on random tokens. (About a second on a CPU.)

# %% reglab="demo"
def transformer_init(block):
    """Xavier-uniform weights and zero biases for every Linear layer of ``block``."""
    for module in block.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return block


def make_stack(cls, depth, d_model=32, n_heads=4, d_ff=128, seed=0):
    torch.manual_seed(seed)
    return [transformer_init(cls(d_model, n_heads, d_ff)).to(DEVICE) for _ in range(depth)]

# %% reglab="demo"
start = time.perf_counter()
tokens = torch.randn(16, 12, 32, generator=torch.Generator().manual_seed(1)).to(DEVICE)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, depth in zip(axes, (6, 18)):
    for cls, style in ((PreNormBlock, "o-"), (PostNormBlock, "s-")):
        norms = grad_norms_by_layer(make_stack(cls, depth), tokens)
        ax.plot(range(1, depth + 1), norms, style, label=cls.__name__)
        print(f"depth {depth:2d} {cls.__name__:13s} first layer {norms[0]:.3f}  last layer {norms[-1]:.3f}  "
              f"last / median {norms[-1] / sorted(norms)[depth // 2]:.1f}")
    ax.set(yscale="log", xlabel="layer (1 = next to the input)", title=f"{depth} blocks at initialization",
           xticks=range(1, depth + 1, 1 if depth <= 6 else 3))
    ax.legend()
axes[0].set_ylabel("gradient norm of the layer's parameters")
plt.tight_layout()
plt.show()
print(f"({time.perf_counter() - start:.1f} s)")

# %% [markdown]
# What to look for: at 6 blocks both stacks have gradient norms of one size
# across layers. At 18 blocks the post-norm stack's last layer gets a
# gradient about ten times larger than every layer below it, while the
# pre-norm layers stay within a factor of about two of each other (compare
# the spread within each curve, not the two curves' heights: the loss scale
# differs between the stacks). An optimizer step of one
# learning rate is then too large for the top of a deep post-norm network
# (or too small for its bottom) until the weights have moved away from their
# initialization, which is what learning-rate warmup buys time for.

# %% [markdown]
# ## 8. Experiment: warmup, by depth and over seeds
#
# A toy sequence task, generated on the fly: each sequence holds 10 random
# tokens out of 10, and at every position the model must output the largest
# token of the whole sequence (one position alone cannot know it: the answer
# needs attention). Models of 1, 2, 6 and 12 blocks with d_model = 32 are
# trained with Adam at a learning rate of 0.01 and a cosine decay, for 120
# steps of 32 sequences: post-norm with the full learning rate from the first
# step, post-norm with a linear warmup over the first quarter of the steps,
# and pre-norm without warmup. Each runs with 3 seeds (initialization and
# batches change with the seed). A run *stalls* when its final loss (mean of
# the last 10 steps) stays above 0.5: guessing the maximum from how often each
# value is the maximum, without looking at the sequence, gives 0.93.
# (A few minutes on a CPU, most of it the 12-block models; 12 steps at depths
# 1 and 2 while graded, which only shows that the code runs.)

# %% reglab="demo"
VOCAB, SEQ_LEN, STALLED = 10, 10, 0.5
SETTINGS = {"post-norm, no warmup": ("PostNormBlock", False), "post-norm, warmup": ("PostNormBlock", True),
            "pre-norm, no warmup": ("PreNormBlock", False)}


def max_token_batch(gen, batch_size=32):
    tokens = torch.randint(0, VOCAB, (batch_size, SEQ_LEN), generator=gen)
    return tokens.to(DEVICE), tokens.max(dim=1, keepdim=True).values.expand(-1, SEQ_LEN).to(DEVICE)


class TinyTransformer(nn.Module):
    """Token embedding, ``depth`` blocks, a final LayerNorm for pre-norm (as in GPT-2), a linear read-out."""

    def __init__(self, block_cls, depth=6, d_model=32, n_heads=4, d_ff=64):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.blocks = nn.Sequential(*[transformer_init(block_cls(d_model, n_heads, d_ff)) for _ in range(depth)])
        self.final_norm = nn.LayerNorm(d_model) if block_cls is PreNormBlock else nn.Identity()
        self.readout = nn.Linear(d_model, VOCAB)

    def forward(self, tokens):
        return self.readout(self.final_norm(self.blocks(self.embed(tokens))))


def train(block_cls, depth, warmup_steps, steps, lr=1e-2, seed=0):
    """Training losses of one run: Adam, cosine decay, linear warmup over ``warmup_steps`` (0 = none)."""
    torch.manual_seed(seed)
    model = TinyTransformer(block_cls, depth).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(warmup_steps, 1))
                                                 * 0.5 * (1 + math.cos(math.pi * step / steps)))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        tokens, targets = max_token_batch(gen)
        loss = F.cross_entropy(model(tokens).flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def warmup_experiment(steps, depths, seeds, **_):
    """Loss curves per (setting, depth): one list of losses per seed."""
    blocks = {"PreNormBlock": PreNormBlock, "PostNormBlock": PostNormBlock}
    return {(name, depth): [train(blocks[cls], depth, steps // 4 if warmup else 0, steps, seed=seed)
                            for seed in range(seeds)]
            for depth in depths for name, (cls, warmup) in SETTINGS.items()}


def final_loss(losses):
    return sum(losses[-10:]) / len(losses[-10:])

# %% reglab="demo"
start = time.perf_counter()
runs = warmup_experiment(**P)
fig, (ax_curve, ax_depth) = plt.subplots(1, 2, figsize=(12, 4))
shown = max(d for d in P["depths"] if d <= 6)
for (name, depth), curves in runs.items():
    finals = [final_loss(c) for c in curves]
    print(f"depth {depth:2d}  {name:21s} final loss per seed {[round(f, 2) for f in finals]}  "
          f"stalled in {sum(f > STALLED for f in finals)} of {len(finals)}")
    if depth == shown:
        ax_curve.plot(torch.tensor(curves).mean(0), label=name)
for name in SETTINGS:
    finals = torch.tensor([[final_loss(c) for c in runs[name, d]] for d in P["depths"]])
    line, = ax_depth.plot(P["depths"], finals.mean(1), "o-", label=name)
    for seed_finals in finals.T:
        ax_depth.plot(P["depths"], seed_finals, ".", color=line.get_color(), alpha=0.5)
ax_curve.set(yscale="log", xlabel="step", ylabel="training loss (mean over seeds)",
             title=f"{shown} blocks, Adam lr 0.01")
ax_depth.axhline(STALLED, color="grey", linestyle=":", label="stalled above this")
ax_depth.set(xscale="log", xticks=P["depths"], xticklabels=P["depths"], xlabel="blocks",
             ylabel="final loss (dots: seeds)", title="final loss by depth")
ax_curve.legend()
ax_depth.legend(fontsize=8)
plt.tight_layout()
plt.show()
print(f"({time.perf_counter() - start:.0f} s)")

# %% [markdown]
# What to expect (measured with the reference over 5 seeds in the `cpu`
# profile; `benchmarks/claims/lab06e.py`). Post-norm without warmup stalls in
# 0 of 5 seeds at 1 and 2 blocks, in 3 of 5 at 6 blocks and in 5 of 5 at 12
# blocks. Warmup is what makes the difference at depth: the final loss without
# warmup minus the one with warmup is −0.02 ± 0.01 at 1 block and
# +0.04 ± 0.10 at 2, but +0.57 ± 0.32 at 6 and +0.65 ± 0.02 at 12 (mean ± std
# over seeds). With warmup, post-norm at 12 blocks leaves the plateau but
# ends near 0.3 within 120 steps, not converged. Pre-norm without any warmup
# learns at every depth (final loss 0.03 to 0.12). So the claim of the
# lecture is a claim about *deep* post-norm stacks: at one or two blocks
# nothing stalls, and warmup is not needed. The 3 seeds of this profile, and
# the 1 seed and 12 steps of the `ci` profile, show less: at 6 blocks a seed
# may escape the plateau late.

# %% [markdown]
# ## 9. Timing: is RMSNorm cheaper than LayerNorm?
#
# RMSNorm skips the mean and the bias: one reduction over the features
# instead of two. Whether that makes it faster depends on how each is run. The
# cell below times the forward pass on activations of shape (64, 128, 512)
# (a batch of 64 sequences of 128 tokens): your two functions, built from
# separate tensor operations, and PyTorch's `F.layer_norm` and `F.rms_norm`
# (what `nn.LayerNorm` and `nn.RMSNorm` run), the median of several repeats.

# %% reglab="demo"
def norm_timings(repeats, shape=(64, 128, 512)):
    """Median forward time in ms of each LayerNorm and RMSNorm implementation."""
    x = torch.randn(*shape, device=DEVICE)
    weight, bias = torch.ones(shape[-1], device=DEVICE), torch.zeros(shape[-1], device=DEVICE)
    candidates = {"layer_norm (yours)": lambda: layer_norm(x, weight, bias),
                  "rms_norm (yours)": lambda: rms_norm(x, weight),
                  "F.layer_norm": lambda: F.layer_norm(x, shape[-1:], weight, bias),
                  "F.rms_norm": lambda: F.rms_norm(x, shape[-1:], weight, 1e-6)}
    times = {}
    for name, fn in candidates.items():
        fn()                                                   # warm up
        samples = []
        for _ in range(repeats):
            if DEVICE == "cuda":
                torch.cuda.synchronize()
            began = time.perf_counter()
            fn()
            if DEVICE == "cuda":
                torch.cuda.synchronize()
            samples.append(time.perf_counter() - began)
        times[name] = 1e3 * sorted(samples)[len(samples) // 2]
    return times

# %% reglab="demo"
times = norm_timings(P["timing_repeats"])
for name, ms in times.items():
    print(f"{name:20s} {ms:7.2f} ms")
print(f"from scratch: RMSNorm / LayerNorm = {times['rms_norm (yours)'] / times['layer_norm (yours)']:.2f};  "
      f"library: RMSNorm / LayerNorm = {times['F.rms_norm'] / times['F.layer_norm']:.2f}  ({DEVICE})")

# %% [markdown]
# What was measured (two runs of 5, one CPU thread, the median of 20 repeats
# each, on a shared machine; `benchmarks/claims/lab06e.py`): from scratch,
# RMSNorm took 0.61 ± 0.07 and 0.47 ± 0.08 of LayerNorm's time (65 against
# 108 ms in the first run): it skips the mean and the subtraction, one pass
# over the data fewer. In the library it is the other way round:
# `F.layer_norm` took 6-8 ms and `F.rms_norm` 28-65 ms, 8 ± 2 and 5 ± 3 times
# longer. On the CPU, PyTorch runs LayerNorm as one fused kernel that reads
# the data once, while its RMSNorm is composed of separate operations (a
# square, a mean, an rsqrt, two multiplications), each a pass over memory,
# which is about what your from-scratch version does. "RMSNorm is 15-30%
# cheaper" is a statement about equally good kernels (as in fused GPU
# implementations); what you measure depends on which kernels you compare.
# On a GPU, or in another PyTorch version, the library's ratio can differ:
# the cell prints what this machine does.

# %% [markdown]
# ## 10. Experiment: BatchNorm or GroupNorm in a small-batch CNN
#
# The lecture's decision table says: BatchNorm for CNNs trained with large
# batches, GroupNorm (or LayerNorm) when the batch is small, LayerNorm or
# RMSNorm in Transformers. Here is its first two rows, measured. A small CNN
# (two 3 x 3 convolutions of 16 and 32 channels, each followed by a norm and a
# ReLU, global average pooling, then a hidden layer of 64 units with a norm)
# learns to tell four stripe orientations apart in 12 x 12 images with random
# contrast, brightness and noise. It is trained with `nn.BatchNorm2d` /
# `nn.BatchNorm1d` or with *your* `group_norm` in the same places (groups of 4
# channels after the convolutions, one group over the 64 hidden units), at several batch sizes, for the same number of epochs, and
# tested in eval mode on 1,000 fresh images, over seeds.

# %% reglab="demo"
class GroupNorm(nn.Module):
    """A GroupNorm layer made of your group_norm (autograd differentiates your tensor arithmetic)."""

    def __init__(self, channels, per_group=4):
        super().__init__()
        self.groups = channels // per_group
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return group_norm(x, self.groups, self.weight, self.bias)


def stripes(gen, n, size=12):
    """n images (n, 1, size, size) of 4 classes: stripes along rows, columns or either diagonal."""
    y = torch.randint(0, 4, (n,), generator=gen)
    r = torch.arange(size, dtype=torch.float32)
    rows, cols = r.view(-1, 1).expand(size, size), r.view(1, -1).expand(size, size)
    pattern = torch.stack([rows, cols, (rows + cols) / 2 ** 0.5, (rows - cols) / 2 ** 0.5])[y]
    frequency, phase = 0.8 + 0.4 * torch.rand(n, 1, 1, generator=gen), 6.3 * torch.rand(n, 1, 1, generator=gen)
    contrast, brightness = 0.5 + 1.5 * torch.rand(n, 1, 1, generator=gen), torch.randn(n, 1, 1, generator=gen)
    images = torch.sin(frequency * pattern + phase) * contrast + brightness + torch.randn(n, size, size, generator=gen)
    return images.unsqueeze(1).to(DEVICE), y.to(DEVICE)


def small_cnn(norm2d, norm1d, width=16):
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), norm2d(width), nn.ReLU(),
                         nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), norm2d(2 * width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(2 * width, 64), norm1d(64), nn.ReLU(), nn.Linear(64, 4))


def cnn_accuracy(norms, batch_size, seed, n_train, epochs):
    """Train the CNN with ``norms`` (2-D, 1-D) at ``batch_size``; its test accuracy in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    (x, y), (x_test, y_test) = stripes(gen, n_train), stripes(gen, 1000)
    torch.manual_seed(seed)
    model = small_cnn(*norms).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        order = torch.randperm(n_train, generator=gen).to(DEVICE)
        for begin in range(0, n_train - batch_size + 1, batch_size):
            batch = order[begin:begin + batch_size]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()


def cnn_experiment(cnn_train, cnn_epochs, cnn_batch_sizes, seeds, **_):
    """Test accuracy per (norm, batch size): a list over seeds."""
    norms = {"BatchNorm": (nn.BatchNorm2d, nn.BatchNorm1d),
             "GroupNorm (yours)": (GroupNorm, lambda width: GroupNorm(width, per_group=width))}
    return {(name, b): [cnn_accuracy(pair, b, seed, cnn_train, cnn_epochs) for seed in range(seeds)]
            for name, pair in norms.items() for b in cnn_batch_sizes}

# %% reglab="demo"
start = time.perf_counter()
cnn_runs = cnn_experiment(**P)
for (name, b), accs in cnn_runs.items():
    runs_b = torch.tensor(accs)
    spread = f" ± {100 * runs_b.std():.1f}" if len(accs) > 1 else ""
    print(f"{name:18s} batch {b:3d}: test accuracy {100 * runs_b.mean():5.1f}%{spread}  "
          f"(seeds: {[round(100 * a) for a in accs]})")
print(f"({time.perf_counter() - start:.0f} s; mean ± standard deviation over {P['seeds']} seed(s))")

# %% [markdown]
# What to expect (the reference over 5 seeds in the `cpu` profile, test
# accuracy, mean ± std over seeds):
#
# | batch size | 2 | 8 | 32 |
# |---|---|---|---|
# | BatchNorm | 63 ± 12% | 91 ± 7% | 91 ± 3% |
# | GroupNorm (yours) | 94 ± 3% | 94 ± 3% | 93 ± 2% |
#
# At batch 2 GroupNorm is ahead by 31 ± 14 points (clear over seeds):
# BatchNorm's statistics over two images (and, in the hidden layer, over two
# values per unit) are noisy in training and unlike the running ones it uses
# in eval mode. At 8 and 32 the two are level within the noise of 5 seeds
# (GroupNorm − BatchNorm +2.9 ± 5.8 and +2.4 ± 4.3 points). So this small
# experiment shows the table's small-batch row; BatchNorm's edge at large
# batches (about a point on ImageNet in Wu & He's measurements) is too small
# for it to resolve. The decision table, and where this lab shows each row:
#
# | setting | normalization | shown in |
# |---|---|---|
# | CNN, batches of 32 or more | BatchNorm | level with GroupNorm here (not resolved) |
# | CNN, a few samples per batch | GroupNorm | this section, batch 2 |
# | MLP, tiny batches | LayerNorm (per sample) | lab 06b, section 7 |
# | Transformer | LayerNorm or RMSNorm, pre-norm | sections 7 to 9 |

# %% [markdown]
# ## 11. Written questions
#
# Answer in a few sentences each, in the cells below (graded by hand).
#
# **Q1.** Using the plots of sections 7 and 8, explain why pre-norm Transformers train
# without aggressive learning-rate warmup while post-norm Transformers need
# it. Where in the network does the difference come from?

# %% [markdown] reglab="written" item="q_prenorm_warmup" points=2
# In pre-norm the residual stream is a plain sum, x_L = x_0 + sum of the
# sublayer outputs, so the gradient reaches every layer through an identity
# path and the layers' gradient norms are of similar size (the plot of
# section 7: flat). In post-norm every residual sum passes through a
# LayerNorm, so the gradient to lower layers is rescaled at each norm, and at
# initialization the last layers get much larger gradients than the rest (at
# 18 blocks the top layer's is about 8 times the median's). With a large
# learning rate from step 0 the updates of those top layers are too large and
# training stalls on the plateau of guessing: in section 8, post-norm without
# warmup stalled in 3 of 5 seeds at 6 blocks and 5 of 5 at 12, but never at
# 1 or 2 blocks, so the problem grows with depth. Warmup keeps the steps
# small until the weights have moved away from that initialization (with it,
# post-norm's final loss was 0.57 lower at 6 blocks and 0.65 lower at 12);
# pre-norm does not need it because its gradients
# are well-scaled from the start (it learned at every depth without warmup).

# %% [markdown]
# **Q2.** Why do Transformers use LayerNorm (or RMSNorm) and not BatchNorm?
# Give two reasons that follow from the axes the statistics are computed over.

# %% [markdown] reglab="written" item="q_why_not_batchnorm" points=2
# LayerNorm normalizes each token with its own statistics, over its features,
# so the output for a token does not depend on the other sequences in the
# batch. (1) It behaves the same in training and inference, with no running
# statistics to keep and no train / eval mismatch, and it works for any batch
# size, including one sequence generated token by token. (2) BatchNorm would
# average over the batch and the positions, mixing padding and sequences of
# different lengths, and its batch statistics are noisy for the small
# per-device batches of large models; they also leak information across the
# samples of a batch (and across time in causal models).

# %% [markdown]
# **Q3.** RMSNorm drops LayerNorm's mean subtraction and its bias. What does
# it still do that matters, and what does it save? Is it cheaper in your
# timing of section 9, and why (not)?

# %% [markdown] reglab="written" item="q_rmsnorm" points=2
# It still rescales every token to a fixed root mean square (times a learned
# gain), which is the part that keeps the activations and gradients of a deep
# residual network at a stable scale; re-centring turns out to matter little
# in practice (the following linear layer can absorb a shift). It saves one
# reduction over the features (the mean), the subtraction and the bias
# parameters. Whether that makes it faster depends on the kernels compared:
# from scratch, with one tensor operation per step, RMSNorm took about half of
# LayerNorm's time (0.5-0.6; one pass over memory fewer); but PyTorch's CPU
# LayerNorm is one fused kernel, 5 to 8 times faster than its RMSNorm, which
# is made of separate operations. The saving is real only between equally fused
# implementations.
