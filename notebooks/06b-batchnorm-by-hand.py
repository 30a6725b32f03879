# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 06b — BatchNorm by hand
#
# Lecture 6, *Regularization in Deep Learning*. In this lab you write
# `BatchNorm1d` yourself: the forward pass with running statistics, the
# backward pass node by node through the computational graph, and the
# simplified closed-form backward, and you check all three against
# `nn.BatchNorm1d` and autograd.
#
# **You will be able to**
# 1. compute a batch-norm forward pass by hand, in training and in eval mode;
# 2. back-propagate through it stage by stage, and derive the one-line form;
# 3. explain what `model.eval()` changes and why small batches hurt BatchNorm.
#
# **How this lab is graded.** Fill in every cell that says
# `raise NotImplementedError()`. The *self-check* cells below each part are
# for you: they test one fixed example. Your grade comes from hidden checks
# that call your functions on fresh inputs of other shapes, in training and
# eval mode, on float32 and float64, and compare the results with the
# reference. The written questions at the end are graded by hand.
#
# **Rules.** Write the functions from tensor arithmetic (`mean`, `sum`,
# `sqrt`, broadcasting). Do not call `F.batch_norm` / `nn.BatchNorm1d` inside
# them, do not use autograd (`.backward()`, `torch.autograd.grad`) inside a
# backward pass, and do not modify the inputs (the running statistics are the
# one exception). A function that breaks a rule loses that item's points.

# %%
import time

import matplotlib.pyplot as plt
import torch
import torch.nn as nn

torch.manual_seed(0)
torch.backends.cuda.matmul.allow_tf32 = False   # exact float32 matmuls on GPUs too
torch.backends.cudnn.allow_tf32 = False
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print("running on", DEVICE)

# %% [markdown]
# ## 1. A worked example
#
# BatchNorm normalizes each feature (column) over the batch (rows), then
# scales and shifts it with learned `gamma` and `beta`:
#
# $$\mu = \frac1N\sum_i x_i,\qquad \sigma^2 = \frac1N\sum_i (x_i-\mu)^2,\qquad
# \hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\epsilon}},\qquad y_i = \gamma\,\hat x_i + \beta .$$
#
# Take a batch of $N = 4$ samples with one feature, $x = (1, 2, 3, 6)$, and
# $\gamma = 2$, $\beta = 1$, $\epsilon = 0$:
#
# * $\mu = (1 + 2 + 3 + 6) / 4 = 3$
# * $x - \mu = (-2, -1, 0, 3)$, so $\sigma^2 = (4 + 1 + 0 + 9) / 4 = 3.5$ and $\sigma \approx 1.871$
# * $\hat x \approx (-1.069, -0.535, 0, 1.604)$ — mean 0, variance 1
# * $y = 2\hat x + 1 \approx (-1.138, -0.069, 1, 4.207)$
#
# The variance divides by $N$ (the *biased* estimate). PyTorch's running
# variance, used later in eval mode, is updated with the *unbiased* estimate
# (divide by $N - 1$, here $14 / 3 \approx 4.667$). The cell below checks the
# arithmetic with plain tensor operations.

# %%
x_example = torch.tensor([[1.0], [2.0], [3.0], [6.0]])
mu = x_example.mean(dim=0)
var = ((x_example - mu) ** 2).mean(dim=0)
x_hat = (x_example - mu) / var.sqrt()
print("mu =", mu.item(), " var =", var.item(), " unbiased var =", x_example.var(dim=0).item())
print("x_hat =", x_hat.squeeze().tolist())
print("y     =", (2 * x_hat + 1).squeeze().tolist())

# %% [markdown]
# ## 2. The forward pass
#
# Write `batchnorm_forward`. In training mode it normalizes with the batch
# statistics and updates the running statistics **in place**
# (`running_mean.mul_(...)`, not `running_mean = ...`), exactly as
# `nn.BatchNorm1d` does:
#
# $$\text{running} \leftarrow (1 - \text{momentum})\cdot\text{running} + \text{momentum}\cdot\text{batch statistic},$$
#
# with the unbiased batch variance for `running_var`. In eval mode it uses the
# running statistics and changes nothing. Return `(out, cache)`, where `cache`
# is whatever your backward passes need.

# %% reglab="solution" functions=["batchnorm_forward"]

# %% [markdown]
# **Self-check: training-mode output.** Compare with `nn.BatchNorm1d` on one batch.

# %% reglab="selfcheck" item="forward_train"
x = torch.randn(16, 5, device=DEVICE) * 3 + 2
bn = nn.BatchNorm1d(5, device=DEVICE)
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5)
    bn.bias.uniform_(-1, 1)
out, cache = batchnorm_forward(x, bn.weight.detach(), bn.bias.detach(),
                               torch.zeros(5, device=DEVICE), torch.ones(5, device=DEVICE))
torch.testing.assert_close(out, bn(x).detach())
print("forward_train: OK")

# %% [markdown]
# **Self-check: running statistics.** Three steps with `momentum=0.3`.

# %% reglab="selfcheck" item="running_stats"
bn = nn.BatchNorm1d(4, momentum=0.3, device=DEVICE)
running_mean, running_var = torch.zeros(4, device=DEVICE), torch.ones(4, device=DEVICE)
for _ in range(3):
    x = torch.randn(8, 4, device=DEVICE) * 2 - 1
    batchnorm_forward(x, bn.weight.detach(), bn.bias.detach(), running_mean, running_var,
                      training=True, momentum=0.3)
    bn(x)
torch.testing.assert_close(running_mean, bn.running_mean)
torch.testing.assert_close(running_var, bn.running_var)
print("running_stats: OK")

# %% [markdown]
# **Self-check: eval mode.** Uses the running statistics and leaves them alone.

# %% reglab="selfcheck" item="eval_mode"
bn.eval()
x = torch.randn(6, 4, device=DEVICE)
saved = running_mean.clone(), running_var.clone()
out, _ = batchnorm_forward(x, bn.weight.detach(), bn.bias.detach(), running_mean, running_var,
                           training=False)
torch.testing.assert_close(out, bn(x).detach())
assert torch.equal(running_mean, saved[0]) and torch.equal(running_var, saved[1]), "eval mode changed the running stats"
print("eval_mode: OK")

# %% [markdown]
# ## 3. The computational graph and the staged backward
#
# Break the forward pass into nodes, one operation each:
#
# ```
#  x ──► mu = mean(x) ──┐
#  │                    ▼
#  └──────────────► xc = x - mu ──► var = mean(xc²) ──► std = sqrt(var + eps) ──► inv_std = 1 / std
#                       │                                                             │
#                       └──────────────────────► x_hat = xc * inv_std ◄───────────────┘
#                                                   │
#                                 gamma, beta ──► out = gamma * x_hat + beta
# ```
#
# Walk it backwards: at each node, multiply the upstream gradient by the
# local derivative, and **add** gradients where a value feeds two nodes (`x`
# feeds `mu` and `xc`; `xc` feeds `var` and `x_hat`). Reductions in the
# forward pass (`mean`, and `gamma`, `beta` broadcast over the batch) become
# sums in the backward pass, and every `mean` brings a factor `1/N`.
#
# Write `batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)` this way.

# %% reglab="solution" functions=["batchnorm_backward"]

# %% [markdown]
# **Self-check: staged backward against autograd.**

# %% reglab="selfcheck" item="backward_staged"
def autograd_reference(x, gamma, beta, dout):
    """Gradients of sum(out * dout) through nn.functional's BatchNorm, by autograd."""
    x, gamma, beta = (t.detach().clone().requires_grad_() for t in (x, gamma, beta))
    out = nn.functional.batch_norm(x, None, None, gamma, beta, training=True)
    (out * dout).sum().backward()
    return x.grad, gamma.grad, beta.grad

x = torch.randn(32, 6, device=DEVICE) * 2 + 1
gamma, beta = torch.rand(6, device=DEVICE) + 0.5, torch.randn(6, device=DEVICE)
dout = torch.randn(32, 6, device=DEVICE)
_, cache = batchnorm_forward(x, gamma, beta, torch.zeros(6, device=DEVICE), torch.ones(6, device=DEVICE))
for name, mine, expected in zip(["dx", "dgamma", "dbeta"], batchnorm_backward(dout, cache),
                                autograd_reference(x, gamma, beta, dout)):
    torch.testing.assert_close(mine, expected, msg=lambda m: f"{name}: {m}")
print("backward_staged: OK")

# %% [markdown]
# ## 4. The simplified backward
#
# Collapse the graph. With $\hat x = (x - \mu)\,/\,\sigma$ (where
# $\sigma = \sqrt{\text{var} + \epsilon}$) and upstream gradient
# $g = \partial L / \partial y$, the sums over the batch give
# $\partial L/\partial\beta = \sum_i g_i$ and
# $\partial L/\partial\gamma = \sum_i g_i \hat x_i$, and the three paths from
# $x$ (direct, through $\mu$, through $\sigma$) combine into
#
# $$\frac{\partial L}{\partial x_i} = \frac{\gamma}{N\sigma}\Big(N g_i - \sum_j g_j - \hat x_i \sum_j g_j \hat x_j\Big).$$
#
# The first term is the direct path; the second removes the mean of the
# gradient (the path through $\mu$); the third removes its projection on
# $\hat x$ (the path through $\sigma$). Write `batchnorm_backward_fast` with
# `dx` as one expression.

# %% reglab="solution" functions=["batchnorm_backward_fast"]

# %% [markdown]
# **Self-check: the fast backward agrees with the staged one and with autograd.**

# %% reglab="selfcheck" item="backward_fast"
_, cache = batchnorm_forward(x, gamma, beta, torch.zeros(6, device=DEVICE), torch.ones(6, device=DEVICE))
dx, dgamma, dbeta = batchnorm_backward_fast(dout, cache)
for name, mine, expected in zip(["dx", "dgamma", "dbeta"], (dx, dgamma, dbeta),
                                autograd_reference(x, gamma, beta, dout)):
    torch.testing.assert_close(mine, expected, msg=lambda m: f"{name}: {m}")
torch.testing.assert_close(dx, batchnorm_backward(dout, cache)[0])
print("backward_fast: OK")

# %% [markdown]
# **Self-check: none of the three functions modifies its inputs.**

# %% reglab="selfcheck" item="immutability"
x = torch.randn(10, 3, device=DEVICE)
gamma, beta = torch.rand(3, device=DEVICE), torch.randn(3, device=DEVICE)
x0, gamma0, beta0 = x.clone(), gamma.clone(), beta.clone()
out, cache = batchnorm_forward(x, gamma, beta, torch.zeros(3, device=DEVICE), torch.ones(3, device=DEVICE))
dout = torch.randn_like(out)
dout0 = dout.clone()
batchnorm_backward(dout, cache)
batchnorm_backward_fast(dout, cache)
for name, now, before in [("x", x, x0), ("gamma", gamma, gamma0), ("beta", beta, beta0), ("dout", dout, dout0)]:
    assert torch.equal(now, before), f"{name} was modified in place"
print("immutability: OK")

# %% [markdown]
# ### Why is it faster?
#
# The staged version makes one temporary `(N, D)` tensor per node and reads
# the data once per node; the closed form reuses `dbeta` and `dgamma`, which
# are needed anyway, and touches `dout` and `x_hat` in a single fused
# expression. Fewer passes over memory, fewer kernel launches. Time them:

# %%
def time_it(fn, *args, repeats=50):
    fn(*args)                                     # warm up
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn(*args)
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats

x_big = torch.randn(1024, 512, device=DEVICE)
g_big, b_big = torch.ones(512, device=DEVICE), torch.zeros(512, device=DEVICE)
_, cache_big = batchnorm_forward(x_big, g_big, b_big, torch.zeros(512, device=DEVICE), torch.ones(512, device=DEVICE))
dout_big = torch.randn_like(x_big)
t_staged = time_it(batchnorm_backward, dout_big, cache_big)
t_fast = time_it(batchnorm_backward_fast, dout_big, cache_big)
print(f"staged backward: {t_staged * 1e3:.3f} ms   fast backward: {t_fast * 1e3:.3f} ms   "
      f"speed-up: {t_staged / t_fast:.2f}x  (batch 1024 x 512 features, {DEVICE})")

# %% [markdown]
# ## 5. Training mode and eval mode
#
# In training mode the output for one sample depends on the *other* samples
# in the batch. In eval mode each sample is normalized with the running
# statistics, so the output is a fixed function of the input — the same
# sample gives the same answer whatever batch it arrives in, even a batch of
# one. Watch it:

# %%
gamma, beta = torch.ones(3, device=DEVICE), torch.zeros(3, device=DEVICE)
running_mean, running_var = torch.zeros(3, device=DEVICE), torch.ones(3, device=DEVICE)
for _ in range(200):                              # let the running stats converge
    batchnorm_forward(torch.randn(64, 3, device=DEVICE) * 2 + 5, gamma, beta, running_mean, running_var)
print("running mean ≈", running_mean.tolist(), "(data mean 5)")
print("running var  ≈", running_var.tolist(), "(data variance 4)")

sample = torch.tensor([[5.0, 7.0, 3.0]], device=DEVICE)
for batch_name, others in [("batch A", torch.randn(7, 3, device=DEVICE) * 2 + 5),
                           ("batch B", torch.randn(7, 3, device=DEVICE) * 2 + 9)]:
    batch = torch.cat([sample, others])
    train_out, _ = batchnorm_forward(batch, gamma, beta, running_mean.clone(), running_var.clone())
    eval_out, _ = batchnorm_forward(batch, gamma, beta, running_mean, running_var, training=False)
    print(f"{batch_name}: train-mode output for the sample {train_out[0].tolist()}")
    print(f"{' ' * len(batch_name)}   eval-mode output for the sample {eval_out[0].tolist()}")

# %% [markdown]
# ## 6. What BatchNorm does to activations
#
# A 10-layer tanh network with a deliberately small initialization (weights
# scaled by 0.6): without normalization the activations shrink layer by layer
# towards zero, where the network is nearly linear and the gradients vanish.
# With your `batchnorm_forward` after every linear layer, each layer starts
# from unit variance again, and the activations stay spread out.

# %%
def activations(depth=10, width=256, use_bn=False, scale=0.6):
    gen = torch.Generator().manual_seed(1)
    h = torch.randn(512, width, generator=gen).to(DEVICE)
    layers = []
    for _ in range(depth):
        w = (torch.randn(width, width, generator=gen) * scale / width ** 0.5).to(DEVICE)
        h = h @ w
        if use_bn:
            h, _ = batchnorm_forward(h, torch.ones(width, device=DEVICE), torch.zeros(width, device=DEVICE),
                                     torch.zeros(width, device=DEVICE), torch.ones(width, device=DEVICE))
        h = torch.tanh(h)
        layers.append(h.flatten().cpu())
    return layers

plain, normalized = activations(use_bn=False), activations(use_bn=True)
fig, (ax_std, ax_hist) = plt.subplots(1, 2, figsize=(11, 3.5))
depths = range(1, len(plain) + 1)
ax_std.plot(depths, [h.std().item() for h in plain], "o-", label="without normalization")
ax_std.plot(depths, [h.std().item() for h in normalized], "s-", label="with batchnorm_forward")
ax_std.set(yscale="log", xlabel="layer", ylabel="std of tanh activations", title="activation scale by depth")
ax_std.legend()
for depth in (1, 10):
    ax_hist.hist(plain[depth - 1].numpy(), bins=80, range=(-1, 1), histtype="step", density=True,
                 label=f"layer {depth}, without")
    ax_hist.hist(normalized[depth - 1].numpy(), bins=80, range=(-1, 1), histtype="stepfilled", alpha=0.3,
                 density=True, label=f"layer {depth}, with BN")
ax_hist.set(yscale="log", xlabel="tanh activation", ylabel="density", title="distribution of activations")
ax_hist.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. Written questions
#
# Answer in a few sentences each, in the cells below (graded by hand).
#
# **Q1.** BatchNorm's accuracy usually drops when the batch size falls below
# about 32, and it cannot be used in training with a batch of one. Why? What
# would you use instead for small batches?

# %% [markdown] reglab="written" item="q_small_batch" points=2
# The batch mean and variance are estimates from N samples; with small N they
# are noisy, so each sample's normalization (and the gradient) fluctuates with
# whatever else is in the batch, and the running statistics used at test time
# no longer match what the network saw in training. With N = 1 the variance
# is zero (x - mu = 0) and the unbiased running variance divides by N - 1 = 0.
# Use a per-sample normalization such as LayerNorm or GroupNorm (or
# RMSNorm), which do not average over the batch.

# %% [markdown]
# **Q2.** What exactly does `model.eval()` change in a network with
# BatchNorm layers (and dropout)? What goes wrong if you forget it when you
# evaluate?

# %% [markdown] reglab="written" item="q_eval_mode" points=2
# It sets `training = False` on every module. BatchNorm then normalizes with
# the running mean and variance instead of the batch statistics and stops
# updating them; dropout becomes the identity. Forgetting it makes
# predictions depend on the composition and size of the test batch, corrupts
# the running statistics with test data, and leaves dropout noise in the
# outputs, so the measured accuracy is lower and not reproducible.
