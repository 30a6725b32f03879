# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 06c — Dropout from scratch
#
# Lecture 6, *Regularization in Deep Learning*. In this lab you write
# inverted dropout yourself: the mask sampler, the forward and backward
# passes, a `Dropout` layer that follows `model.train()` / `model.eval()`,
# and variational dropout for sequences, which reuses one mask at every
# time step.
#
# **You will be able to**
# 1. compute inverted dropout by hand and explain why kept activations are
#    divided by the keep probability during training;
# 2. show that dropout preserves the expected activation, so that eval mode
#    can be the identity;
# 3. read the `p` of a paper or a library correctly (in PyTorch, `p` is the
#    probability to *drop*);
# 4. write a module that behaves differently in training and eval mode, and
#    a dropout for sequences that keeps its mask across time.
#
# **How this lab is graded.** Fill in every cell that says
# `raise NotImplementedError()`. The *self-check* cells below each part are
# for you: they test one fixed example. Your grade comes from hidden checks
# that call your functions on fresh inputs of other shapes, dtypes and drop
# probabilities, in training and eval mode: outputs are compared exactly
# with `x * mask / (1 - p)` for the mask your code drew, and the masks
# themselves are judged statistically (keep rate, independence). The
# written questions at the end are graded by hand.
#
# **Rules.** Write the functions from tensor arithmetic (`torch.rand`,
# `torch.bernoulli`, comparisons, `*`, broadcasting). Do not call
# `F.dropout`, `nn.Dropout`, `torch.dropout` or any other library dropout
# inside them, do not use autograd in the backward pass, and do not modify
# the inputs. Draw every random number from the `generator` argument, so a
# run can be replayed. A function that breaks a rule loses that item's points.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn as nn

torch.manual_seed(0)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print("running on", DEVICE)


def seeded(seed=0):
    """A random number generator on DEVICE: pass it as `generator=` to replay the same masks."""
    return torch.Generator(device=DEVICE).manual_seed(seed)


# %% [markdown]
# ## 1. A worked example
#
# Dropout sets each activation to zero with probability $p$ during
# training. *Inverted* dropout also divides the activations it keeps by the
# keep probability $1 - p$:
#
# $$\tilde h_i = \frac{m_i\, h_i}{1 - p},\qquad m_i \sim \text{Bernoulli}(1 - p)\ \ (1 = \text{keep}).$$
#
# The lecture's example: $h = (2.0,\ 1.5,\ 0.5,\ 3.0)$, keep probability
# $0.5$ (so $p = 0.5$), and the draw $m = (1, 0, 1, 0)$:
#
# * kept: $h_1 = 2.0$ and $h_3 = 0.5$; dropped: $h_2$ and $h_4$;
# * divided by $1 - p = 0.5$: $\tilde h = (4.0,\ 0,\ 1.0,\ 0)$.
#
# For every element, $\mathbb E[\tilde h_i] = (1 - p)\cdot\frac{h_i}{1 - p} + p\cdot 0 = h_i$:
# on average the next layer sees the same activation as without dropout. So
# at test time nothing needs to change, and eval-mode dropout is the
# identity. (The original, non-inverted dropout did not rescale in training
# and had to multiply by $1 - p$ at test time instead; same expectation, but
# every inference path has to remember it.)

# %%
h = torch.tensor([2.0, 1.5, 0.5, 3.0])
m = torch.tensor([1.0, 0.0, 1.0, 0.0])
p = 0.5
print("inverted dropout, training :", (h * m / (1 - p)).tolist(), "  eval:", h.tolist())
print("original dropout, training :", (h * m).tolist(), "  eval:", (h * (1 - p)).tolist())

# %% [markdown]
# ## 2. Which p? A warning
#
# Papers do not agree on what $p$ means. Srivastava et al. (2014), the
# paper that introduced dropout, write $p$ for the probability to **retain**
# a unit ("$p = 0.5$ for hidden units, $0.8$ for inputs"). PyTorch's
# `nn.Dropout(p)` and `F.dropout(x, p)` take the probability to **drop**.
# Port "$p = 0.8$" from the paper as `nn.Dropout(0.8)` and you drop 80% of
# your inputs instead of 20%. In this lab, as in PyTorch, `p` is always the
# **drop** probability. Here is PyTorch's own layer, measured:

# %%
library_layer = nn.Dropout(p=0.2)
ones = torch.ones(100_000)
out = library_layer(ones)
print(f"nn.Dropout(p=0.2): {(out == 0).float().mean().item():.1%} dropped, "
      f"kept values = {out[out != 0].unique().tolist()} (= 1 / (1 - 0.2))")

# %% [markdown]
# ## 3. The mask
#
# Write `dropout_mask(shape, p, generator)`: a tensor of the given shape,
# 1 (keep) with probability $1 - p$ and 0 (drop) with probability $p$,
# every element drawn independently from `generator`, on the generator's
# device (`generator.device`). Two ways: compare a uniform draw
# `torch.rand(shape, generator=generator, device=...)` with $p$ (which
# comparison holds with probability $1 - p$?), or `torch.bernoulli` of a
# tensor filled with the keep probability.

# %% reglab="solution" functions=["dropout_mask"]

# %% [markdown]
# **Self-check: the mask.** Right shape, only 0 and 1, about 70% kept for
# $p = 0.3$, and the edge cases $p = 0$ and $p = 1$.

# %% reglab="selfcheck" item="mask_sampler"
mask = dropout_mask((300, 400), 0.3, seeded(1))
assert isinstance(mask, torch.Tensor) and tuple(mask.shape) == (300, 400), "the mask should have the shape asked for"
assert mask.device.type == DEVICE, f"the mask should be on the generator's device ({DEVICE})"
assert ((mask == 0) | (mask == 1)).all(), "the mask should hold only 0 and 1"
keep_rate = mask.float().mean().item()
assert abs(keep_rate - 0.7) < 0.01, f"kept {keep_rate:.1%}, expected about 70%: p is the DROP probability"
assert (dropout_mask((5, 5), 0.0, seeded(2)) == 1).all(), "p = 0 keeps everything"
assert (dropout_mask((5, 5), 1.0, seeded(3)) == 0).all(), "p = 1 drops everything"
print(f"mask_sampler: OK (kept {keep_rate:.2%})")

# %% [markdown]
# ## 4. The forward pass
#
# Write `dropout_forward(x, p, training, generator=None) -> (out, mask)`.
# In training mode draw a keep mask of `x`'s shape (with `x`'s dtype and on
# `x`'s device) and return `x * mask / (1 - p)` together with the mask. In
# eval mode return `(x, None)`: dropout does nothing. Two edge cases:
# $p = 0$ keeps everything (the identity), and $p = 1$ drops everything —
# return zeros, not `0 / 0 = NaN`.

# %% reglab="solution" functions=["dropout_forward"]

# %% [markdown]
# **Self-check: training mode.** The output is the input times the mask it
# returned, divided by $1 - p$.

# %% reglab="selfcheck" item="forward_train"
x = torch.randn(256, 128, device=DEVICE)
out, mask = dropout_forward(x, 0.25, training=True, generator=seeded(4))
assert out.shape == x.shape and mask.shape == x.shape, "out and mask should have x's shape"
assert out.dtype == x.dtype and out.device == x.device, "keep x's dtype and device"
torch.testing.assert_close(out, x * mask / (1 - 0.25))
keep_rate = mask.float().mean().item()
assert abs(keep_rate - 0.75) < 0.01, f"kept {keep_rate:.1%}, expected about 75%: p is the DROP probability"
print("forward_train: OK")

# %% [markdown]
# **Self-check: eval mode** is the identity, with no mask.

# %% reglab="selfcheck" item="eval_mode"
x = torch.randn(64, 32, device=DEVICE)
out, mask = dropout_forward(x, 0.5, training=False)
assert mask is None, "in eval mode, return (x, None)"
assert torch.equal(out, x), "in eval mode dropout does nothing"
print("eval_mode: OK")

# %% [markdown]
# **Self-check: the edge cases** $p = 0$ and $p = 1$.

# %% reglab="selfcheck" item="edge_cases"
x = torch.randn(16, 8, device=DEVICE)
out, mask = dropout_forward(x, 0.0, training=True, generator=seeded(5))
torch.testing.assert_close(out, x, msg="p = 0 should be the identity")
out, mask = dropout_forward(x, 1.0, training=True, generator=seeded(6))
assert torch.isfinite(out).all(), "p = 1 gave NaN or inf: return zeros instead of dividing by 1 - p = 0"
assert (out == 0).all() and (mask == 0).all(), "p = 1 should drop everything"
print("edge_cases: OK")

# %% [markdown]
# ## 5. The expectation is preserved
#
# Average the worked example over many masks: each element's mean
# approaches $h_i$, while its variance grows with $p$ as
# $h_i^2\,p / (1 - p)$ (a kept value $h_i/(1-p)$ with probability $1-p$,
# else 0). Dropout is noise with mean zero around the activation — bigger
# noise for bigger $p$.

# %%
h = torch.tensor([2.0, 1.5, 0.5, 3.0], device=DEVICE)
draws = 20_000
outs = dropout_forward(h.expand(draws, 4), 0.5, training=True, generator=seeded(7))[0]
for label, values in [("h", h), (f"mean over {draws} masks", outs.mean(0)),
                      ("variance (measured)", outs.var(0)), ("variance h² p / (1 - p)", h ** 2 * 0.5 / (1 - 0.5))]:
    print(f"{label:<25}", [round(v, 3) for v in values.tolist()])

running_mean = outs.cumsum(0) / torch.arange(1, draws + 1, device=DEVICE).unsqueeze(1)
fig, ax = plt.subplots(figsize=(7, 3.2))
for i in range(4):
    ax.plot(range(1, draws + 1), running_mean[:, i].cpu(), label=f"h[{i}] = {h[i].item():g}")
    ax.axhline(h[i].item(), color="gray", lw=0.8, ls="--")
ax.set(xscale="log", xlabel="number of masks averaged", ylabel="mean of the output",
       title="inverted dropout (p = 0.5): the mean converges to h")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. The backward pass
#
# Dropout multiplies each element by a constant, $m_i / (1 - p)$, chosen in
# the forward pass. The gradient goes back through the same constant:
# $\partial L / \partial x_i = \frac{m_i}{1 - p}\,\partial L / \partial \tilde h_i$.
# Dropped elements get no gradient. Write
# `dropout_backward(dout, mask, p) -> dx` (zeros when $p = 1$).

# %% reglab="solution" functions=["dropout_backward"]

# %% [markdown]
# **Self-check: the backward against autograd.**

# %% reglab="selfcheck" item="backward"
x = torch.randn(32, 20, device=DEVICE, requires_grad=True)
mask = (torch.rand(32, 20, device=DEVICE, generator=seeded(8)) >= 0.3).float()
dout = torch.randn(32, 20, device=DEVICE)
(x * mask / (1 - 0.3) * dout).sum().backward()
torch.testing.assert_close(dropout_backward(dout, mask, 0.3), x.grad)
assert torch.isfinite(dropout_backward(dout, torch.zeros_like(mask), 1.0)).all(), "p = 1: return zeros, not NaN"
print("backward: OK")

# %% [markdown]
# ## 7. A `Dropout` layer
#
# A network switches all its layers between training and evaluation with
# `model.train()` and `model.eval()`; each only sets the attribute
# `self.training` on every submodule. Write `forward` so that the layer
# drops (inverted, with `self.p` and `self.generator`) when `self.training`
# is true and returns its input unchanged otherwise. Draw a fresh mask on
# every call.

# %% reglab="solution" functions=["Dropout"]

# %% [markdown]
# **Self-check: the layer** drops in training mode (the default for a new
# module) and is the identity after `.eval()`, also inside a bigger model.

# %% reglab="selfcheck" item="module"
layer = Dropout(0.4, generator=seeded(9))
x = torch.randn(200, 100, device=DEVICE)
out = layer(x)
kept = out != 0
assert abs(kept.float().mean().item() - 0.6) < 0.02, "training mode should keep about 1 - p = 60%"
torch.testing.assert_close(out[kept], x[kept] / 0.6)
assert not torch.equal(layer(x) != 0, kept), "draw a fresh mask on every call"
assert torch.equal(layer.eval()(x), x), "after .eval() the layer should be the identity"
model = nn.Sequential(nn.Linear(100, 100), Dropout(0.4)).to(DEVICE)
model.eval()
torch.testing.assert_close(model(x), model[0](x), msg="model.eval() should switch your Dropout off")
print("module: OK")

# %% [markdown]
# ## 8. Variational dropout for sequences
#
# In a recurrent network, plain dropout draws a new mask at every time
# step. Gal & Ghahramani (2016) showed that the Bayesian reading of dropout
# asks for the **same** mask at every time step of a sequence: each
# sequence gets one mask per feature, and a dropped feature stays dropped
# for the whole sequence. The noise then cannot average out over time, and
# the recurrent weights are regularized consistently. (`nn.LSTM(dropout=...)`
# draws a new mask at every step, between layers; AWD-LSTM's "locked
# dropout" is the variational kind.)
#
# Write `variational_dropout(x, p, training, generator=None)` for `x` of
# shape (batch, time, features): draw a mask of shape (batch, 1, features),
# broadcast it over time, and rescale by $1 / (1 - p)$. Return `out`; eval
# mode is the identity.

# %% reglab="solution" functions=["variational_dropout"]

# %% [markdown]
# **Self-check: one mask per sequence and feature, the same at every time step.**

# %% reglab="selfcheck" item="variational"
x = torch.rand(64, 10, 50, device=DEVICE) + 0.5            # no zeros, so out == 0 means dropped
out = variational_dropout(x, 0.3, training=True, generator=seeded(10))
kept = out != 0
assert out.shape == x.shape, "out should have x's shape"
assert (kept == kept[:, :1, :]).all(), "the mask should be the same at every time step"
assert not (kept[0] == kept[1]).all(), "every sequence in the batch needs its own mask"
assert abs(kept[:, 0].float().mean().item() - 0.7) < 0.03, "keep about 1 - p = 70%"
torch.testing.assert_close(out[kept], x[kept] / 0.7)
assert torch.equal(variational_dropout(x, 0.3, training=False), x), "eval mode is the identity"
print("variational: OK")

# %% [markdown]
# Standard against variational dropout on one sequence: each column is a
# time step, each row a feature, white = kept.

# %%
sequence = torch.ones(1, 40, 24, device=DEVICE)
standard = dropout_forward(sequence, 0.5, training=True, generator=seeded(11))[0][0]
locked = variational_dropout(sequence, 0.5, training=True, generator=seeded(11))[0]
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for ax, kept_map, name in [(axes[0], standard, "dropout_forward: a new mask every step"),
                           (axes[1], locked, "variational_dropout: one mask per sequence")]:
    ax.imshow((kept_map != 0).T.cpu(), cmap="gray", aspect="auto", interpolation="nearest")
    ax.set(xlabel="time step", ylabel="feature", title=name)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Self-check: replaying the generator.** The same seed gives the same
# masks, another seed other masks: every random number comes from the
# `generator` argument.

# %% reglab="selfcheck" item="generator"
x = torch.randn(30, 40, device=DEVICE)
x_seq = torch.randn(6, 5, 40, device=DEVICE)
assert torch.equal(dropout_mask((30, 40), 0.5, seeded(12)), dropout_mask((30, 40), 0.5, seeded(12))), "dropout_mask"
assert not torch.equal(dropout_mask((30, 40), 0.5, seeded(12)), dropout_mask((30, 40), 0.5, seeded(13))), "dropout_mask"
assert torch.equal(dropout_forward(x, 0.5, True, seeded(14))[0], dropout_forward(x, 0.5, True, seeded(14))[0]), "dropout_forward"
assert torch.equal(variational_dropout(x_seq, 0.5, True, seeded(15)), variational_dropout(x_seq, 0.5, True, seeded(15))), "variational_dropout"
print("generator: OK")

# %% [markdown]
# **Self-check: no function modifies its inputs.**

# %% reglab="selfcheck" item="immutability"
x, dout = torch.randn(20, 30, device=DEVICE), torch.randn(20, 30, device=DEVICE)
x_seq = torch.randn(4, 6, 30, device=DEVICE)
before = x.clone(), dout.clone(), x_seq.clone()
_, mask = dropout_forward(x, 0.3, training=True, generator=seeded(16))
mask_before = mask.clone()
dropout_backward(dout, mask, 0.3)
variational_dropout(x_seq, 0.3, training=True, generator=seeded(17))
Dropout(0.3)(x)
for name, now, then in [("x", x, before[0]), ("dout", dout, before[1]), ("x_seq", x_seq, before[2]), ("mask", mask, mask_before)]:
    assert torch.equal(now, then), f"{name} was modified in place"
print("immutability: OK")

# %% [markdown]
# ## 9. Playground
#
# Move the slider to change $p$ and switch between training and eval mode
# to see what your `Dropout` layer does to a smooth activation map. Watch
# the colours: in training the kept activations get brighter by
# $1 / (1 - p)$, so the mean stays where it was. Without `ipywidgets`
# (`pip install ipywidgets`) the cell draws a fixed grid of settings
# instead.

# %%
grid = torch.linspace(0, 3.0, 32, device=DEVICE)
PATTERN = 1.5 + torch.outer(torch.sin(2 * grid), torch.cos(grid))     # activations in [0.5, 2.5]


def draw_dropout(ax, p, training):
    """Your Dropout(p), in training or eval mode, applied to PATTERN and drawn on ``ax``."""
    out = Dropout(p, generator=seeded(18)).train(training)(PATTERN)
    ax.imshow(out.cpu(), cmap="magma", vmin=0, vmax=5.0)      # one colour scale for every panel
    ax.set_title(f"p = {p:.2f}, {'train' if training else 'eval'}: kept {(out != 0).float().mean().item():.0%}\n"
                 f"mean {out.mean().item():.2f} (input {PATTERN.mean().item():.2f})", fontsize=9)
    ax.axis("off")


def show_dropout(p=0.5, training=True):
    _, ax = plt.subplots(figsize=(4, 4))
    draw_dropout(ax, p, training)
    plt.show()


try:
    import ipywidgets as widgets
except ImportError:
    widgets = None

if widgets is not None:
    widgets.interact(show_dropout,
                     p=widgets.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.05, description="p (drop)"),
                     training=widgets.ToggleButtons(options=[("train", True), ("eval", False)], description="mode"))
else:
    print("ipywidgets is not installed: a fixed grid instead of the interactive playground")
    fig, axes = plt.subplots(2, 4, figsize=(11, 6.5), layout="constrained")
    for row, training in enumerate([True, False]):
        for col, p in enumerate([0.0, 0.2, 0.5, 0.8]):
            draw_dropout(axes[row, col], p, training)
    plt.show()

# %% [markdown]
# ## 10. Written questions
#
# Answer in a few sentences each, in the cells below (graded by hand).
#
# **Q1.** Inverted dropout divides the kept activations by $1 - p$ during
# training. Why? What would go wrong at test time if you dropped without
# rescaling and then used the network in eval mode, as usual?

# %% [markdown] reglab="written" item="q_inverted" points=2
# Dividing by the keep probability makes the expected output of the layer
# equal to its input: E[m h / (1 - p)] = (1 - p) h / (1 - p) = h. The layers
# after it are trained on activations with the same mean they will see at
# test time, where dropout is switched off, so eval mode is simply the
# identity and nothing has to change for inference. Without the rescaling,
# training sees activations shrunk to (1 - p) h on average while eval passes
# h: every downstream pre-activation is 1 / (1 - p) times too large at test
# time (twice as large for p = 0.5), which shifts the outputs and hurts
# accuracy, unless every inference path remembers to multiply by 1 - p (the
# original, non-inverted dropout).

# %% [markdown]
# **Q2.** A paper says "we apply dropout with $p = 0.8$ to the inputs". You
# write `nn.Dropout(0.8)`. What happens, and what should you have written?

# %% [markdown] reglab="written" item="q_p_convention" points=1
# The paper (like Srivastava et al., 2014) uses p for the probability to
# retain a unit; PyTorch's p is the probability to drop it. nn.Dropout(0.8)
# drops 80% of the inputs and multiplies the rest by 5, instead of dropping
# 20%: far too much noise, and the model underfits. Write nn.Dropout(0.2)
# (p_drop = 1 - p_keep).

# %% [markdown]
# **Q3.** Why does variational dropout use the same mask at every time step
# of a sequence? What goes wrong, in a recurrent network, with a fresh
# mask at every step?

# %% [markdown] reglab="written" item="q_variational" points=2
# With one mask per sequence, a dropped unit stays dropped for the whole
# sequence: the network that processes the sequence is one thinned network,
# applied consistently at every step. That is the variational (Bayesian)
# reading of dropout: one sample of the weights per input, here per
# sequence (Gal & Ghahramani, 2016). With a fresh mask at every step, the
# noise enters the recurrence anew each step and compounds through the
# hidden state, which destroys the long-range information the network
# carries (so dropout on the recurrent connections hurts training), and
# the unit is never really removed: over time it is present about a
# fraction 1 - p of the steps, so the regularization of the recurrent
# weights averages away.
