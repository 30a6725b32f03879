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
# experiment that explains why almost every large Transformer today is
# *pre-norm*: the gradient norm of each layer at depth, and training with and
# without learning-rate warmup.
#
# **You will be able to**
# 1. say which dimensions BatchNorm, LayerNorm, GroupNorm and RMSNorm average over, and why that matters;
# 2. write the three norms from scratch, equal to `F.layer_norm`, `nn.RMSNorm` and `F.group_norm`;
# 3. wire a pre-norm and a post-norm Transformer block, and explain from measurements why pre-norm
#    trains without aggressive warmup.
#
# **How this lab is graded.** Fill in every cell that says
# `raise NotImplementedError()`. The *self-check* cells below each part test
# one fixed example and are for you. Your grade comes from hidden checks that
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

# %%
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
# **Self-check: `layer_norm` against `F.layer_norm`.**

# %% reglab="selfcheck" item="layer_norm"
x = torch.randn(4, 7, 10, device=DEVICE) * 3 + 1
weight, bias = torch.rand(10, device=DEVICE) + 0.5, torch.randn(10, device=DEVICE)
torch.testing.assert_close(layer_norm(x, weight, bias), F.layer_norm(x, (10,), weight, bias))
tiny = torch.randn(3, 6, device=DEVICE) * 1e-3                  # variance ~ eps: where eps goes matters
torch.testing.assert_close(layer_norm(tiny, weight[:6], bias[:6], eps=1e-5),
                           F.layer_norm(tiny, (6,), weight[:6], bias[:6], eps=1e-5))
print("layer_norm: OK")

# %% [markdown]
# ## 3. RMSNorm
#
# RMSNorm (Zhang & Sennrich, 2019; used by LLaMA and most recent LLMs) drops
# the centring and the bias:
#
# $$y_j = \gamma_j\,\frac{x_j}{\sqrt{\frac1D\sum_k x_k^2 + \epsilon}} .$$
#
# One reduction instead of two, and in practice it trains as well as
# LayerNorm. Write it over the last dimension, equal to
# `nn.RMSNorm(D, eps=1e-6)` with its weight set to `weight`.

# %% reglab="solution" functions=["rms_norm"]

# %% [markdown]
# **Self-check: `rms_norm` against `nn.RMSNorm`.**

# %% reglab="selfcheck" item="rms_norm"
x = torch.randn(4, 7, 10, device=DEVICE) * 2 + 1
rms = nn.RMSNorm(10, eps=1e-6, device=DEVICE)
with torch.no_grad():
    rms.weight.uniform_(0.5, 1.5)
torch.testing.assert_close(rms_norm(x, rms.weight.detach()), rms(x).detach())
assert torch.isfinite(rms_norm(torch.zeros(2, 10, device=DEVICE), rms.weight.detach())).all(), "a zero input gave NaN"
print("rms_norm: OK")

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
# **Self-check: `group_norm` against `F.group_norm`, and its two extremes.**

# %% reglab="selfcheck" item="group_norm"
x = torch.randn(3, 6, 5, 4, device=DEVICE) * 2 + torch.arange(6.0, device=DEVICE).view(1, 6, 1, 1)
weight, bias = torch.rand(6, device=DEVICE) + 0.5, torch.randn(6, device=DEVICE)
for groups in (1, 2, 3, 6):
    torch.testing.assert_close(group_norm(x, groups, weight, bias), F.group_norm(x, groups, weight, bias),
                               msg=lambda m: f"num_groups={groups}: {m}")
ones, zeros = torch.ones(6, device=DEVICE), torch.zeros(6, device=DEVICE)
torch.testing.assert_close(group_norm(x, 1, ones, zeros), F.layer_norm(x, x.shape[1:]))   # one group = LayerNorm
torch.testing.assert_close(group_norm(x, 6, ones, zeros), F.instance_norm(x))             # C groups = InstanceNorm
print("group_norm: OK")

# %% [markdown]
# **Self-check: none of the three functions modifies its inputs.**

# %% reglab="selfcheck" item="norm_immutability"
x = torch.randn(2, 6, 8, device=DEVICE)
weight, bias = torch.rand(8, device=DEVICE) + 0.5, torch.randn(8, device=DEVICE)
saved = x.clone(), weight.clone(), bias.clone()
layer_norm(x, weight, bias)
rms_norm(x, weight)
group_norm(x.transpose(1, 2), 2, weight, bias)
for name, now, before in zip(["x", "weight", "bias"], (x, weight, bias), saved):
    assert torch.equal(now, before), f"{name} was modified in place"
print("norm_immutability: OK")

# %% [markdown]
# **Per-sample statistics in action.** A sample's LayerNorm output does not
# depend on what else is in its batch; its BatchNorm output (in training
# mode) does:

# %%
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
#   post-norm                              pre-norm
#   x ─┬─► attn ─► (+) ─► norm1 ─┬─► ffn ─► (+) ─► norm2 ─►      x ─┬─► norm1 ─► attn ─► (+) ─┬─► norm2 ─► ffn ─► (+) ─►
#      └──────────────┘          └────────────┘                     └───────────────────────┘  └──────────────────────┘
#   x = norm1(x + attn(x))                                   x = x + attn(norm1(x))
#   x = norm2(x + ffn(x))                                    x = x + ffn(norm2(x))
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

# %% reglab="selfcheck" item="prenorm_wiring"
attn, ffn, norm1, norm2 = STAND_INS.values()
x = torch.randn(2, 5, 8, device=DEVICE)
h = x + attn(norm1(x))
torch.testing.assert_close(with_stand_ins(PreNormBlock(8, 2, 16).to(DEVICE))(x), h + ffn(norm2(h)))
print("prenorm_wiring: OK")

# %% reglab="selfcheck" item="postnorm_wiring"
attn, ffn, norm1, norm2 = STAND_INS.values()
x = torch.randn(2, 5, 8, device=DEVICE)
h = norm1(x + attn(x))
torch.testing.assert_close(with_stand_ins(PostNormBlock(8, 2, 16).to(DEVICE))(x), norm2(h + ffn(h)))
print("postnorm_wiring: OK")

# %% [markdown]
# **Self-check: the norms of the blocks.** A fresh `nn.LayerNorm(d)` computes
# `F.layer_norm(x, (d,))`; a fresh RMSNorm computes `x / sqrt(mean(x**2) + eps)`.

# %% reglab="selfcheck" item="block_norms"
x = torch.randn(2, 5, 8, device=DEVICE) + 2
for cls in (PreNormBlock, PostNormBlock):
    block = cls(8, 2, 16).to(DEVICE)
    assert block.norm1 is not block.norm2, f"{cls.__name__}: norm1 and norm2 must be two separate modules"
    torch.testing.assert_close(block.norm1(x), F.layer_norm(x, (8,)))
    block = cls(8, 2, 16, norm="rms").to(DEVICE)
    torch.testing.assert_close(block.norm2(x), x / (x.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt())
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
    assert block(x).shape == block.attn(x).shape == block.ffn(x).shape == x.shape
    assert not torch.allclose(block.attn(x)[:, 0], block.attn(x_changed)[:, 0]), "attn does not mix positions"
    torch.testing.assert_close(block.ffn(x)[:, :-1], block.ffn(x_changed)[:, :-1])
print("block_sublayers: OK")

# %% [markdown]
# **Self-check: dropout** is random in training mode and off in eval mode.

# %% reglab="selfcheck" item="block_dropout"
x = torch.randn(2, 5, 8, device=DEVICE)
for cls in (PreNormBlock, PostNormBlock):
    block = cls(8, 2, 16, dropout=0.5).to(DEVICE)
    assert not torch.equal(block.train()(x), block(x)), f"{cls.__name__}: dropout=0.5 has no effect in training"
    torch.testing.assert_close(block.eval()(x), block(x))
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
# **Self-check: two small blocks, against autograd by hand.**

# %% reglab="selfcheck" item="grad_norms"
torch.manual_seed(1)
blocks = [nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 4)).to(DEVICE) for _ in range(2)]
x = torch.randn(3, 5, 4, device=DEVICE)
loss = blocks[1](blocks[0](x)).mean(dim=1).pow(2).mean()
expected = [torch.sqrt(sum(g.pow(2).sum() for g in torch.autograd.grad(loss, list(b.parameters()), retain_graph=True))).item()
            for b in blocks]
for attempt in range(2):                                # twice: no gradients left over from the first call
    norms = grad_norms_by_layer(blocks, x)
    assert len(norms) == 2, f"expected one norm per block, got {len(norms)}"
    torch.testing.assert_close(torch.tensor([float(n) for n in norms]), torch.tensor(expected))
print("grad_norms: OK")

# %% [markdown]
# ## 7. Experiment: the gradient of each layer at depth
#
# Build stacks of 6 and 18 blocks of each kind, with the initialization of the
# original Transformer (Xavier-uniform weights, zero biases, so that each
# sublayer's output is about as large as its input), and measure each
# layer's gradient norm on random tokens. (About a second on a CPU.)

# %%
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
# ## 8. Experiment: training with and without warmup
#
# A toy sequence task, generated on the fly: each sequence holds 10 random
# tokens out of 10, and at every position the model must output the largest
# token of the whole sequence (one position alone cannot know it: the answer
# needs attention). A 6-block model with d_model = 32 is trained with Adam at
# a learning rate of 0.01 and a cosine decay, once with the full learning
# rate from the first step and once with a linear warmup over the first
# quarter of the steps. (About 10 s on a CPU; fewer steps while graded.)

# %%
VOCAB, SEQ_LEN = 10, 10


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


def train(block_cls, warmup_steps, steps, lr=1e-2, seed=1):
    """Training losses of one run: Adam, cosine decay, linear warmup over ``warmup_steps`` (0 = none)."""
    torch.manual_seed(seed)
    model = TinyTransformer(block_cls).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / max(warmup_steps, 1))
                                                 * 0.5 * (1 + math.cos(math.pi * step / steps)))
    gen = torch.Generator().manual_seed(1)                  # the same batches for every run
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


start = time.perf_counter()
steps = 16 if PROFILE == "ci" else 120
runs = {(cls.__name__, warmup): train(cls, warmup, steps)
        for cls in (PreNormBlock, PostNormBlock) for warmup in (0, steps // 4)}
smooth = 5
plt.figure(figsize=(7, 4))
for (name, warmup), losses in runs.items():
    curve = torch.tensor(losses).unfold(0, smooth, 1).mean(1)
    plt.plot(range(smooth, steps + 1), curve, "-" if name == "PreNormBlock" else "--",
             label=f"{name}, {'warmup ' + str(warmup) + ' steps' if warmup else 'no warmup'}")
    print(f"{name:13s} warmup {warmup:3d}: final loss (mean of the last 10 steps) {sum(losses[-10:]) / 10:.3f}")
plt.yscale("log")
plt.xlabel("step")
plt.ylabel(f"training loss (mean of {smooth} steps)")
plt.title("max-token task, 6 blocks, Adam lr 0.01")
plt.legend()
plt.show()
print(f"({time.perf_counter() - start:.1f} s)")

# %% [markdown]
# What to look for: both pre-norm runs learn the task, with or without
# warmup. Post-norm without warmup stays stuck near the loss of guessing
# from the token statistics for a long time (or for good); with warmup it
# learns. (Runs differ a little with the initialization; the ordering is what
# the experiment shows.)

# %% [markdown]
# ## 9. Written questions
#
# Answer in a few sentences each, in the cells below (graded by hand).
#
# **Q1.** Using your two plots, explain why pre-norm Transformers train
# without aggressive learning-rate warmup while post-norm Transformers need
# it. Where in the network does the difference come from?

# %% [markdown] reglab="written" item="q_prenorm_warmup" points=2
# In pre-norm the residual stream is a plain sum, x_L = x_0 + sum of the
# sublayer outputs, so the gradient reaches every layer through an identity
# path and the layers' gradient norms are of similar size (the first plot:
# flat). In post-norm every residual sum passes through a LayerNorm, so the
# gradient to lower layers is rescaled at each norm, and at initialization the
# last layers get much larger gradients than the rest (the post-norm curve
# rises to the top layer, more so at depth). With a large learning rate from
# step 0 the updates of those top layers are too large and training stalls or
# diverges (the second plot: post-norm without warmup stays stuck). Warmup
# keeps the steps small until the weights have moved away from that
# initialization; pre-norm does not need it because its gradients are
# well-scaled from the start.

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
# it still do that matters, and what does it save?

# %% [markdown] reglab="written" item="q_rmsnorm" points=2
# It still rescales every token to a fixed root mean square (times a learned
# gain), which is the part that keeps the activations and gradients of a deep
# residual network at a stable scale; re-centring turns out to matter little
# in practice (the following linear layer can absorb a shift). It saves one
# reduction over the features (the mean) and the bias parameters, so it is
# simpler and faster (fewer memory passes, easier to fuse), with the same
# quality in large models such as LLaMA.
