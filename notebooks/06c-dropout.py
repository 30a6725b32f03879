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
#    a dropout for sequences that keeps its mask across time;
# 5. measure dropout regularizing a network (the gap between training and
#    validation accuracy closes as p grows) and read eval mode as the
#    average of an ensemble of thinned networks (MC dropout).
#
# **How this lab is graded.** Fill in every cell that says
# `raise NotImplementedError()`. The *self-check* cells below each part are
# for you: they try a few random cases (several p, not only 0.5) against
# PyTorch's own ops and say in words what is wrong. Your grade comes from hidden checks
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
#
# **Profiles.** The experiment of section 8 reads its sizes from `PROFILES`
# below. `REGLAB_PROFILE=cpu` (the default) is the one the figures quoted in
# this notebook come from: about a minute on one laptop core. The grader runs
# the lab in its small `ci` profile, whose numbers are noisier.

# %%
import os
import time

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    torch.set_num_threads(1)    # small networks: threads fighting over the cores cost more than they bring
PROFILE = os.environ.get("REGLAB_PROFILE", "cpu")   # the grader runs the lab in its ci profile
print("running on", DEVICE, "in profile", PROFILE)


def seeded(seed=0):
    """A random number generator on DEVICE: pass it as `generator=` to replay the same masks."""
    return torch.Generator(device=DEVICE).manual_seed(seed)


def explain_dropout_output(out, x, mask, p, name):
    """Fails with a sentence naming the mistake when ``out`` is not inverted dropout of ``x`` with ``mask``.

    The scale comes from PyTorch itself: F.dropout keeps an element as x / (1 - p)."""
    keep_scale = F.dropout(torch.ones(1000, dtype=torch.float64), p=p, training=True).max().item()
    mask = mask.to(x.dtype)
    expected = x * mask * keep_scale
    if torch.allclose(out, expected, rtol=1e-4, atol=1e-5):
        return
    where = f"{name}, p = {p}, x of shape {tuple(x.shape)}"
    for wrong, words in [(x * mask, "kept elements are not scaled: inverted dropout multiplies them by 1 / (1 - p)"),
                         (x * mask / p, "kept elements are divided by p; p is the DROP probability, so divide by the keep probability 1 - p"),
                         (x * mask * (1 - p), "kept elements are multiplied by 1 - p; inverted dropout divides by it"),
                         (x * (1 - mask) / (1 - p), "the mask is used the wrong way round: 1 means keep")]:
        if torch.allclose(out, wrong, rtol=1e-4, atol=1e-5):
            raise AssertionError(f"{words} ({where})")
    raise AssertionError(f"out differs from x * mask / (1 - p) by up to {(out - expected).abs().max().item():.3g} ({where})")


# %% reglab="profiles"

# %%
CONFIG = PROFILES[PROFILE]
print(PROFILE, CONFIG)

# %% [markdown]
# ## 1. Two worked examples
#
# Dropout sets each activation to zero with probability $p$ during
# training. *Inverted* dropout also divides the activations it keeps by the
# keep probability $1 - p$:
#
# $$\tilde h_i = \frac{m_i\, h_i}{1 - p},\qquad m_i \sim \text{Bernoulli}(1 - p)\ \ (1 = \text{keep}).$$
#
# **Two conventions for the same operation.** The lecture's slides write $p$
# for the probability to **keep** a unit and scale the kept ones by $1/p$.
# PyTorch, and this lab, write $p$ for the probability to **drop** and scale
# by $1/(1 - p)$. They are one operation under the renaming
# $p_{\text{keep}} = 1 - p_{\text{drop}}$:
#
# | | slides | PyTorch / this lab |
# |---|---|---|
# | $p$ means | keep probability | drop probability |
# | mask $m_i = 1$ with probability | $p$ | $1 - p$ |
# | kept values scaled by | $1 / p$ | $1 / (1 - p)$ |
# | keep 80% of the units | $p = 0.8$ | `nn.Dropout(p=0.2)` |
#
# **Example 1**, the lecture's: $h = (2.0,\ 1.5,\ 0.5,\ 3.0)$, keep
# probability $0.5$ (so $p = 0.5$ in both conventions: this example cannot
# tell them apart), and the draw $m = (1, 0, 1, 0)$:
#
# * kept: $h_1 = 2.0$ and $h_3 = 0.5$; dropped: $h_2$ and $h_4$;
# * divided by $1 - p = 0.5$: $\tilde h = (4.0,\ 0,\ 1.0,\ 0)$.
#
# **Example 2**, where the conventions differ: keep 80%, drop 20%; the same
# $h$ and the draw $m = (1, 1, 0, 1)$. The slides write $p = 0.8$ and divide
# by $p$; PyTorch writes `nn.Dropout(p=0.2)` and divides by $1 - p$; both
# divide by $0.8$: $\tilde h = (2.5,\ 1.875,\ 0,\ 3.75)$. Read the slides'
# $p = 0.8$ as PyTorch's and you get `nn.Dropout(p=0.8)`: 80% of the units
# dropped and the survivors multiplied by $1/0.2 = 5$, e.g.
# $(10.0,\ 0,\ 0,\ 0)$ for $m = (1, 0, 0, 0)$.
#
# For every element, $\mathbb E[\tilde h_i] = (1 - p)\cdot\frac{h_i}{1 - p} + p\cdot 0 = h_i$:
# on average the next layer sees the same activation as without dropout. So
# at test time nothing needs to change, and eval-mode dropout is the
# identity. (The original, non-inverted dropout did not rescale in training
# and had to multiply by $1 - p$ at test time instead; same expectation, but
# every inference path has to remember it.)

# %% reglab="demo"
h = torch.tensor([2.0, 1.5, 0.5, 3.0])
m = torch.tensor([1.0, 0.0, 1.0, 0.0])
p = 0.5
print("example 1, keep = drop = 0.5")
print("  inverted dropout, training :", (h * m / (1 - p)).tolist(), "  eval:", h.tolist())
print("  original dropout, training :", (h * m).tolist(), "  eval:", (h * (1 - p)).tolist())

keep, drop = 0.8, 0.2
m = torch.tensor([1.0, 1.0, 0.0, 1.0])
slides = h * m / keep                   # the slides: p = keep probability, scale by 1 / p
this_lab = h * m / (1 - drop)           # PyTorch and this lab: p = drop probability, scale by 1 / (1 - p)
torch_scale = F.dropout(torch.ones(10_000), p=drop, training=True).max().item()   # what PyTorch multiplies kept units by
print(f"example 2, keep {keep} / drop {drop}")
print("  slides, p = 0.8, h * m / p        :", slides.tolist())
print("  PyTorch, p = 0.2, h * m / (1 - p) :", this_lab.tolist())
print(f"  F.dropout(p=0.2) scales kept units by {torch_scale:.4f} = 1 / 0.8")
print("  PyTorch given the slides' p = 0.8 :", (h * torch.tensor([1.0, 0.0, 0.0, 0.0]) / (1 - keep)).tolist(),
      "(mask 1, 0, 0, 0: 80% dropped, survivors x 5)")

# %% [markdown]
# ## 2. Which p? A warning
#
# Papers do not agree on what $p$ means. Srivastava et al. (2014), the
# paper that introduced dropout, write $p$ for the probability to **retain**
# a unit ("$p = 0.5$ for hidden units, $0.8$ for inputs"), as the lecture's
# slides do. PyTorch's
# `nn.Dropout(p)` and `F.dropout(x, p)` take the probability to **drop**.
# Port "$p = 0.8$" from the paper as `nn.Dropout(0.8)` and you drop 80% of
# your inputs instead of 20%. In this lab, as in PyTorch, `p` is always the
# **drop** probability. Here is PyTorch's own layer, measured:

# %% reglab="demo"
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
# **Self-check: the mask.** Right shape (2-D, 3-D, a `torch.Size`), only 0
# and 1, about $1 - p$ kept for $p$ = 0.3 and 0.8 (where keeping with
# probability $p$ by mistake shows), and the edge cases $p = 0$ and $p = 1$.

# %% reglab="selfcheck" item="mask_sampler"
for shape, p in [((300, 400), 0.3), ((20, 50, 120), 0.8), (torch.Size([1000, 100]), 0.55)]:
    mask = dropout_mask(shape, p, seeded(1))
    assert isinstance(mask, torch.Tensor) and tuple(mask.shape) == tuple(shape), f"the mask should have the shape asked for, {tuple(shape)}"
    assert mask.device.type == DEVICE, f"the mask should be on the generator's device ({DEVICE})"
    assert ((mask == 0) | (mask == 1)).all(), "the mask should hold only 0 and 1"
    assert not (mask == mask[:1]).all(), "every row has the same mask: draw one number per element of the shape asked for"
    keep_rate = mask.float().mean().item()
    if abs(keep_rate - p) < 0.01 and abs(p - 0.5) > 0.05:
        raise AssertionError(f"kept {keep_rate:.1%} with p = {p}: you keep with probability p, but p is the DROP probability (keep 1 - p)")
    assert abs(keep_rate - (1 - p)) < 0.01, f"kept {keep_rate:.1%} with p = {p}, expected about {1 - p:.0%}"
assert (dropout_mask((5, 5), 0.0, seeded(2)) == 1).all(), "p = 0 keeps everything"
assert (dropout_mask((5, 5), 1.0, seeded(3)) == 0).all(), "p = 1 drops everything"
print("mask_sampler: OK (p = 0.3, 0.8, 0.55, 0 and 1)")

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
# **Self-check: training mode.** On four random cases (p = 0.1, 0.25, 0.6
# and 0.9, float32 and float64, 2-D to 4-D), the output is the input times
# the mask it returned, times the scale PyTorch's own `F.dropout` gives kept
# elements, $1/(1 - p)$; a wrong scale is named.

# %% reglab="selfcheck" item="forward_train"
gen = torch.Generator().manual_seed(4)
for shape, p, dtype in [((256, 128), 0.25, torch.float32), ((64, 8, 30), 0.6, torch.float64),
                        ((16, 3, 10, 10), 0.1, torch.float32), ((500, 40), 0.9, torch.float64)]:
    x = torch.randn(shape, generator=gen, dtype=dtype).to(DEVICE)
    x_before = x.clone()                  # judged against the input as it was (the immutability check is separate)
    out, mask = dropout_forward(x, p, training=True, generator=seeded(int(p * 100)))
    assert out.shape == x.shape and mask.shape == x.shape, f"out and mask should have x's shape {tuple(x.shape)}"
    assert out.dtype == x.dtype and out.device == x.device, f"keep x's dtype ({dtype}) and device"
    assert ((mask == 0) | (mask == 1)).all(), "the mask should hold only 0 and 1"
    explain_dropout_output(out, x_before, mask, p, "dropout_forward")
    keep_rate = mask.float().mean().item()
    assert abs(keep_rate - (1 - p)) < 0.02, f"kept {keep_rate:.1%} with p = {p}, expected about {1 - p:.0%}: p is the DROP probability"
print("forward_train: OK (p = 0.25, 0.6, 0.1, 0.9)")

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

# %% reglab="demo"
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
# **Self-check: the backward against autograd** through `x * mask / (1 - p)`,
# for p = 0.3, 0.5 and 0.8, and $p = 1$ (zeros, not NaN).

# %% reglab="selfcheck" item="backward"
for p in (0.3, 0.5, 0.8):
    x = torch.randn(32, 20, device=DEVICE, requires_grad=True)
    mask = (torch.rand(32, 20, device=DEVICE, generator=seeded(8)) >= p).float()
    dout = torch.randn(32, 20, device=DEVICE)
    (x * mask / (1 - p) * dout).sum().backward()
    dx = dropout_backward(dout, mask, p)
    assert dx.shape == dout.shape, f"dx should have dout's shape {tuple(dout.shape)}"
    if not torch.allclose(dx, x.grad, rtol=1e-4, atol=1e-5):
        if torch.allclose(dx, dout * mask):
            raise AssertionError(f"dx is missing the 1 / (1 - p) scale of the forward pass (p = {p})")
        raise AssertionError(f"dx differs from autograd's gradient by up to {(dx - x.grad).abs().max().item():.3g} (p = {p})")
dx = dropout_backward(dout, torch.zeros_like(mask), 1.0)
assert torch.isfinite(dx).all() and (dx == 0).all(), "p = 1: return zeros, not NaN"
print("backward: OK (p = 0.3, 0.5, 0.8 and 1)")

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
# module) with the right scale for p = 0.4 and 0.2, and is the identity after
# `.eval()`, also inside a bigger model.

# %% reglab="selfcheck" item="module"
x = torch.randn(200, 100, device=DEVICE)
for p in (0.4, 0.2):
    layer = Dropout(p, generator=seeded(9))
    out = layer(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.02, f"training mode should keep about 1 - p = {1 - p:.0%} (p = {p}); did you read self.p?"
    explain_dropout_output(out, x, kept, p, "Dropout.forward")
    assert not torch.equal(layer(x) != 0, kept), "draw a fresh mask on every call"
    assert torch.equal(layer.eval()(x), x), "after .eval() the layer should be the identity: read self.training in forward"
model = nn.Sequential(nn.Linear(100, 100), Dropout(0.4)).to(DEVICE)
model.eval()
torch.testing.assert_close(model(x), model[0](x), msg="model.eval() should switch your Dropout off: read self.training in forward")
print("module: OK")

# %% [markdown]
# ## 8. Does dropout regularize? An MLP on MNIST-1D
#
# Dropout is meant to keep a network from memorizing its training set. To
# see it, train the same network with your `Dropout` at $p$ = 0, 0.2 and 0.5
# and compare its accuracy on the training set with its accuracy on held-out
# data: the difference, the **generalization gap**, is what a regularizer
# should shrink.
#
# The data is MNIST-1D (Greydanus, *Scaling down deep learning*, 2020,
# [arXiv:2011.14439](https://arxiv.org/abs/2011.14439)): ten 1-D "digit"
# templates turned into 40-point signals by random padding, scaling, a
# circular shift, correlated and white noise and a shear. The cell below is
# the paper's recipe with its default settings, written in torch with an
# explicit generator, so nothing is downloaded and every machine draws the
# same data. It is small, and hard for a network without convolutions: an
# MLP memorizes 1,000 training signals long before it generalizes well,
# which is where a regularizer has something to do. (With `pip install
# mnist1d`, `mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())`
# makes the original data.)
#
# The network: 40 → `hidden` → `hidden` → 10 with ReLU and your
# `Dropout(p)` after each hidden layer, Adam, cross entropy, `epochs` passes
# over `n_train` signals (see the profile). Each seed draws a new data set, a
# new initialization and new masks. Accuracies are measured in eval mode
# (dropout off), on the training set and on `n_val` validation signals.

# %% reglab="demo"
MNIST1D_TEMPLATES = [            # the ten 1-D digits of the MNIST-1D paper, 12 points each
    [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
    [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
    [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
    [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
    [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
    [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
    [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
    [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
]


def resample(signal, length):
    """Linear interpolation of a 1-D signal onto ``length`` evenly spaced points of the same span."""
    position = torch.linspace(0, len(signal) - 1, length, dtype=signal.dtype)
    left = position.floor().long().clamp(max=len(signal) - 2)
    frac = position - left
    return signal[left] * (1 - frac) + signal[left + 1] * frac


def gaussian_smooth(signal, sigma=2.0):
    """Gaussian filter with reflected edges (scipy.ndimage.gaussian_filter's default), by a 1-D convolution."""
    radius = int(4 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=signal.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    padded = F.pad(signal[None, None], (radius, radius), mode="reflect")
    return F.conv1d(padded, (kernel / kernel.sum())[None, None])[0, 0]


def make_mnist1d(n_samples, generator, length=40, padding=(36, 60), scale_coeff=0.4, max_translation=48,
                 corr_noise_scale=0.25, iid_noise_scale=0.02, shear_scale=0.75):
    """(x, labels): ``n_samples`` MNIST-1D signals of ``length`` points, standardized, balanced classes.

    The defaults are the paper's; ``max_translation=0`` switches the circular shift off.
    ``generator`` is a CPU torch.Generator.
    """
    templates = torch.tensor(MNIST1D_TEMPLATES, dtype=torch.float64)
    templates = (templates - templates.mean(1, keepdim=True)) / templates.std(1, unbiased=False, keepdim=True)
    templates = (templates - templates[:, :1]) / 6                  # each digit starts and ends at 0
    labels = (torch.arange(n_samples) % 10)[torch.randperm(n_samples, generator=generator)]
    long_length = templates.shape[1] + padding[1]

    def uniform():
        return torch.rand((), generator=generator, dtype=torch.float64).item()

    signals = []
    for label in labels.tolist():
        pad = padding[0] + int(torch.randint(padding[1] - padding[0] + 1, (), generator=generator))
        x = torch.cat([templates[label] + 1e-8, torch.zeros(pad, dtype=torch.float64)])
        x = resample(x, long_length)                                  # padding dilates the digit
        x = x * (1 + scale_coeff * (uniform() - 0.5))                 # scale
        if max_translation:                                           # shift (the paper's default: < 48)
            x = torch.roll(x, int(torch.randint(max_translation, (), generator=generator)))
        noise = gaussian_smooth(corr_noise_scale * torch.randn(long_length, generator=generator, dtype=torch.float64))
        x = torch.where(x != 0, x, noise)                             # correlated noise in the padding
        x = x + iid_noise_scale * torch.randn(long_length, generator=generator, dtype=torch.float64)
        x = x - shear_scale * (uniform() - 0.5) * torch.linspace(-0.5, 0.5, long_length, dtype=torch.float64)
        signals.append(resample(x, length))
    x = torch.stack(signals)
    return ((x - x.mean()) / x.std()).float(), labels


def make_classification_split(seed):
    """(x_train, labels_train, x_val, labels_val) of a fresh MNIST-1D draw with the paper's settings, on DEVICE."""
    x, labels = make_mnist1d(CONFIG["n_train"] + CONFIG["n_val"], torch.Generator().manual_seed(seed))
    n = CONFIG["n_train"]
    return x[:n].to(DEVICE), labels[:n].to(DEVICE), x[n:].to(DEVICE), labels[n:].to(DEVICE)


def make_mlp(p, generator):
    """40 -> hidden -> hidden -> 10 with ReLU and your Dropout(p) after each hidden layer."""
    width = CONFIG["hidden"]
    return nn.Sequential(nn.Linear(40, width), nn.ReLU(), Dropout(p, generator),
                         nn.Linear(width, width), nn.ReLU(), Dropout(p, generator),
                         nn.Linear(width, 10)).to(DEVICE)


def accuracy(model, x, labels):
    """The share of ``x`` that ``model`` classifies right, in eval mode (dropout off)."""
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == labels).float().mean().item()


def train_mlp(p, seed):
    """make_mlp(p) trained on the data set of ``seed``: {"model", "val": (x, labels), "history": [...]}.

    The history holds the train and validation accuracy every ``eval_every`` epochs."""
    x_train, labels_train, x_val, labels_val = make_classification_split(seed)
    torch.manual_seed(seed)                                        # the initial weights
    model = make_mlp(p, seeded(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=CONFIG["lr"])
    order = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, CONFIG["epochs"] + 1):
        model.train()
        for batch in torch.randperm(len(x_train), generator=order).split(CONFIG["batch_size"]):
            loss = F.cross_entropy(model(x_train[batch]), labels_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % CONFIG["eval_every"] == 0 or epoch == CONFIG["epochs"]:
            history.append({"epoch": epoch, "train": accuracy(model, x_train, labels_train),
                            "val": accuracy(model, x_val, labels_val)})
    return {"model": model, "val": (x_val, labels_val), "history": history}


def mc_dropout_accuracies(model, x, labels, samples):
    """Accuracy of the mean softmax over the first 1, 2, ..., ``samples`` dropout masks (train mode)."""
    model.train()
    total, accuracies = 0, []
    with torch.no_grad():
        for _ in range(samples):
            total = total + F.softmax(model(x), dim=1)
            accuracies.append((total.argmax(1) == labels).float().mean().item())
    model.eval()
    return accuracies


TRAINED = {}


def trained(p):
    """The CONFIG["seeds"] networks of ``train_mlp(p, seed)``, trained on first use and then kept."""
    if p not in TRAINED:
        TRAINED[p] = [train_mlp(p, seed) for seed in range(CONFIG["seeds"])]
    return TRAINED[p]


def final(p, key):
    """The last recorded accuracy (``key`` = "train" or "val") of each seed, as a tensor."""
    return torch.tensor([run["history"][-1][key] for run in trained(p)])


# %% reglab="demo"
start = time.perf_counter()
runs = {p: trained(p) for p in CONFIG["ps"]}
print(f"{len(CONFIG['ps'])} dropout rates x {CONFIG['seeds']} seeds trained in {time.perf_counter() - start:.1f} s")

fig, (ax_curves, ax_gap) = plt.subplots(1, 2, figsize=(13, 4.2))
for p in CONFIG["ps"]:
    epochs = [row["epoch"] for row in runs[p][0]["history"]]
    train = torch.tensor([[row["train"] for row in run["history"]] for run in runs[p]]).mean(0)
    val = torch.tensor([[row["val"] for row in run["history"]] for run in runs[p]]).mean(0)
    line, = ax_curves.plot(epochs, train, "--", label=f"p = {p}: train")
    ax_curves.plot(epochs, val, "-", color=line.get_color(), label=f"p = {p}: validation")
    gaps = final(p, "train") - final(p, "val")
    ax_gap.scatter([p] * len(gaps), gaps, color=line.get_color(), alpha=0.5)
    ax_gap.errorbar(p, gaps.mean(), yerr=gaps.std() if len(gaps) > 1 else 0, fmt="o", color="black", capsize=4)
ax_curves.set(xlabel="epoch", ylabel="accuracy (eval mode)", title=f"MNIST-1D, {CONFIG['n_train']} training signals (mean of {CONFIG['seeds']} seeds)")
ax_curves.legend(fontsize=8)
ax_gap.set(xlabel="p (drop probability)", ylabel="train accuracy - validation accuracy",
           title="the generalization gap at the end (dots: seeds; black: mean +- std)")
plt.tight_layout()
plt.show()

print(f"{'p':>4}  {'train accuracy':>16}  {'validation accuracy':>20}  {'gap':>16}")
for p in CONFIG["ps"]:
    train, val = final(p, "train"), final(p, "val")
    print(f"{p:4.1f}  {train.mean():9.1%} +- {train.std():.1%}  {val.mean():13.1%} +- {val.std():.1%}"
          f"  {(train - val).mean():9.1%} +- {(train - val).std():.1%}")

# %% [markdown]
# **What to expect** (`cpu` profile, 5 seeds, mean +- std;
# `benchmarks/lab_claims.py --lab 06c`): without dropout the network
# memorizes the training set (100.0% train accuracy) and reaches 47.6 +-
# 1.8% on validation, a gap of 52.4 +- 1.8 points. With p = 0.2 training is
# still memorized (100.0%) but validation rises to 49.9 +- 1.5%: gap 50.1 +-
# 1.5. With p = 0.5 the network can no longer memorize (94.1 +- 0.8% train)
# and generalizes better (51.7 +- 1.8% validation): gap 42.4 +- 1.4. The
# gap closes by 10.0 +- 1.5 points from p = 0 to p = 0.5 (2.3 +- 1.2 at
# p = 0.2), on every seed; validation accuracy gains 4.1 +- 1.0 points. It
# does not close entirely: MNIST-1D's shifted digits are hard for an MLP
# with 1,000 examples (the paper reports about 68% for an MLP trained on
# 4,000), and
# dropout makes memorizing harder, not translation easier. The `ci` profile
# (10 epochs, 500 signals) stops before the network has memorized its data,
# so its gaps are smaller (about 23, 18 and 13 points for the three p) and
# noisier.
#
# ### The ensemble view: eval mode against MC dropout
#
# Every mask picks a *thinned* network, a subnetwork of the full one; a
# network with $n$ droppable units trains an ensemble of $2^n$ of them that
# share weights. The right prediction would average the whole ensemble. Eval
# mode, with the full network and inverted dropout's scaling, is a one-pass
# approximation of that average (for a single linear layer it is exactly
# the ensemble's mean output; through nonlinearities it is an
# approximation). **MC dropout** (Gal & Ghahramani, 2016) computes the average
# instead: keep dropout on at test time and average the softmax outputs of
# $T$ masks. The cell compares the two on the $p = 0.5$ networks above.

# %% reglab="demo"
p_ensemble = max(CONFIG["ps"])
mc = torch.tensor([mc_dropout_accuracies(run["model"], *run["val"], CONFIG["mc_samples"]) for run in trained(p_ensemble)])
eval_mode = final(p_ensemble, "val")
counts = range(1, CONFIG["mc_samples"] + 1)
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(counts, mc.mean(0), "o-", ms=3, label="MC dropout: mean softmax of T masks")
ax.fill_between(counts, mc.min(0).values, mc.max(0).values, alpha=0.25)
ax.axhline(eval_mode.mean(), color="black", ls="--", label="eval mode (one pass, no masks)")
ax.set(xscale="log", xlabel="number of masks averaged T", ylabel="validation accuracy",
       title=f"the ensemble view, p = {p_ensemble} (mean and range over {CONFIG['seeds']} seeds)")
ax.legend()
plt.show()
print(f"one mask: {mc[:, 0].mean():.1%}, {CONFIG['mc_samples']} masks averaged: {mc[:, -1].mean():.1%}, "
      f"eval mode: {eval_mode.mean():.1%} (means over {CONFIG['seeds']} seeds)")

# %% [markdown]
# **What to expect** (`cpu`, p = 0.5, 5 seeds): one mask gives 43.1 +- 1.1%
# validation accuracy, a single thinned network; averaging 5 masks gives
# 49.3%, 30 masks 50.8 +- 1.6%, and eval mode 51.7 +- 1.8%: the one-pass
# approximation is as good as the 30-member average here (0.8 +- 0.8 points
# better, within 2 points on every seed), at a thirtieth of the cost. What
# MC dropout adds is the spread of the members' predictions, a measure of
# the model's uncertainty that eval mode cannot give.
#
# %% [markdown]
# ## 9. Variational dropout for sequences
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
assert abs(kept[:, 0].float().mean().item() - 0.7) < 0.03, "keep about 1 - p = 70%: p is the DROP probability"
explain_dropout_output(out, x, kept, 0.3, "variational_dropout")
assert torch.equal(variational_dropout(x, 0.3, training=False), x), "eval mode is the identity"
print("variational: OK")

# %% [markdown]
# Standard against variational dropout on one sequence: each column is a
# time step, each row a feature, white = kept.

# %% reglab="demo"
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
replay = "gave different results for two generators seeded alike: draw every random number from the generator argument"
assert torch.equal(dropout_mask((30, 40), 0.3, seeded(12)), dropout_mask((30, 40), 0.3, seeded(12))), f"dropout_mask {replay}"
assert not torch.equal(dropout_mask((30, 40), 0.3, seeded(12)), dropout_mask((30, 40), 0.3, seeded(13))), \
    "dropout_mask gave the same mask for generators with different seeds: draw from the generator argument"
assert torch.equal(dropout_forward(x, 0.3, True, seeded(14))[0], dropout_forward(x, 0.3, True, seeded(14))[0]), f"dropout_forward {replay}"
assert torch.equal(variational_dropout(x_seq, 0.3, True, seeded(15)), variational_dropout(x_seq, 0.3, True, seeded(15))), f"variational_dropout {replay}"
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
# ## 10. Playground
#
# Move the slider to change $p$ and switch between training and eval mode
# to see what your `Dropout` layer does to a smooth activation map. Watch
# the colours: in training the kept activations get brighter by
# $1 / (1 - p)$, so the mean stays where it was. Without `ipywidgets`
# (`pip install ipywidgets`) the cell draws a fixed grid of settings
# instead.

# %% reglab="demo"
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
# ## 11. Written questions
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
# The paper (like Srivastava et al., 2014, and the lecture's slides) uses p
# for the probability to retain a unit and scales kept units by 1 / p;
# PyTorch's p is the probability to drop it, and it scales by 1 / (1 - p).
# nn.Dropout(0.8) drops 80% of the inputs and multiplies the rest by 5,
# instead of dropping 20% and multiplying by 1.25: far too much noise, and
# the model underfits. Write nn.Dropout(0.2) (p_drop = 1 - p_keep); both
# then divide the kept units by 0.8, as in the second worked example.

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
