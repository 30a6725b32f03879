# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 06f — Double descent
#
# Lecture 6, *Regularization in Deep Learning*. The classical picture says
# that test error is U-shaped in model size: too small underfits, too large
# overfits. Modern networks are far past "too large" and still generalize. In
# this lab you reproduce the curve that reconciles the two, **double
# descent**, in the simplest model that shows it: a linear fit on random ReLU
# features. As the number of features $P$ grows, the test error first falls
# and rises (the classical U), shoots up to a sharp peak at $P \approx N$, the
# number of training samples, and then falls again, here to well below the
# bottom of the U; a tuned ridge penalty removes the peak.
#
# **You will be able to**
# 1. build random-feature regression and explain why the minimum-norm
#    solution is the natural fit when $P > N$;
# 2. produce the double-descent curve and explain the peak at $P \approx N$
#    (the interpolation threshold);
# 3. show how ridge regularization flattens the peak, contrast it with L1
#    (shrinkage against sparsity), and connect both to the weight decay and
#    early stopping of the lecture.
#
# **How this lab is graded.** Fill in every cell that says
# `raise NotImplementedError()`. The *self-check* cells below each part are
# for you: they test a few random cases against PyTorch's own ops and tell
# you in words what is wrong. Your grade comes from hidden checks that call
# your functions on fresh inputs of other shapes (under- and
# over-parameterized, rank-deficient, float32 and float64) and compare the
# results with the reference; your `test_error_curve` is run on a hidden data
# set. The written questions at the end are graded by hand.
#
# **Rules.** Randomness comes only from the `generator` argument, so a check
# can replay it. `torch.linalg.pinv` and `torch.linalg.lstsq` are the tools
# for minimum-norm least squares: use them there. `ridge` solves its linear
# system (`torch.linalg.solve`, or a Cholesky factorization); it must not form
# an explicit inverse (`torch.linalg.inv`, `torch.inverse`, `pinv`). Do not
# modify the inputs. A function that breaks a rule loses that item's points.
#
# **Profiles.** The experiments of sections 6 and 7 read their sizes from
# `PROFILES` below. `REGLAB_PROFILE=cpu` (the default) is the one the figures
# quoted in this notebook come from: about a minute on one laptop core. The
# grader runs the lab in its small `ci` profile, whose curves are noisier.

# %%
import os
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.backends.cuda.matmul.allow_tf32 = False   # exact float32 matmuls on GPUs too
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    torch.set_num_threads(1)    # small matrices (at most 500 x 5000): threads fighting over the cores cost more than they bring
PROFILE = os.environ.get("REGLAB_PROFILE", "cpu")   # the grader runs the lab in its ci profile
print("running on", DEVICE, "in profile", PROFILE)

# %% reglab="profiles"

# %%
CONFIG = PROFILES[PROFILE]
print(PROFILE, CONFIG)

# %% [markdown]
# ## 1. The data: MNIST-1D
#
# MNIST-1D (Greydanus, *Scaling down deep learning*, 2020,
# [arXiv:2011.14439](https://arxiv.org/abs/2011.14439)) is a procedurally
# generated stand-in for MNIST: ten fixed 1-D "digit" templates of 12 points,
# each turned into a 40-point signal by random padding, scaling, a circular
# shift, correlated noise in the padding, white noise everywhere and a random
# shear. The cell below is the paper's recipe, written in torch with an
# explicit generator, so the data set is the same on every machine and
# nothing is downloaded.
#
# **One change from the paper: no circular shift** (`max_translation = 0` in
# the profiles). The shift is what makes MNIST-1D hard for models without
# convolutions: a linear read-out of random features of the raw positions
# cannot learn that a digit moved by 20 points is the same digit from a few
# hundred examples. With the paper's shift the over-parameterized model of
# this lab never gets below the predict-the-mean baseline (test MSE about
# 0.15 at P = 10 N against 0.09, at N = 200), and the second descent has
# nothing to show. Without it, the digits are still dilated, scaled,
# sheared and noisy, and random features reach about 94% test accuracy.
#
# To try the original data afterwards, in a cell of your own: with
# `pip install mnist1d`,
#
# ```python
# from mnist1d.data import get_dataset_args, make_dataset
# data = make_dataset(get_dataset_args())
# x_all = torch.tensor(data["x"], dtype=torch.float32); labels_all = torch.tensor(data["y"])
# x_all = (x_all - x_all.mean()) / x_all.std()
# ```
#
# or scikit-learn's 8x8 digits (64 inputs, 1797 samples):
# `from sklearn.datasets import load_digits; digits = load_digits()`, then
# `x_all = torch.tensor(digits.data, dtype=torch.float32)`, standardized the
# same way, and `labels_all = torch.tensor(digits.target)`, and split them as
# `make_split` below does.

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


start = time.perf_counter()
x_all, labels_all = make_mnist1d(1000, torch.Generator().manual_seed(2020), max_translation=CONFIG["max_translation"])
print(f"{len(x_all)} signals of {x_all.shape[1]} points in {time.perf_counter() - start:.2f} s")

fig, axes = plt.subplots(1, 10, figsize=(14, 1.8), sharey=True)
for digit, ax in enumerate(axes):
    ax.plot(x_all[(labels_all == digit).nonzero()[0, 0]].numpy())
    ax.set(title=str(digit), xticks=[], yticks=[])
plt.suptitle("one MNIST-1D signal per class", y=1.08)
plt.show()

# %% [markdown]
# **The regression task.** We fit the one-hot label vectors by least squares
# (10 outputs) and measure the mean squared error (MSE) over all entries, and
# the accuracy of the largest output. The profile sets $N$ = `n_train`
# training signals (500 in `cpu`), a validation set (to tune ridge's
# $\lambda$) and a test set. Each seed of the experiment draws a new data set
# and new features. The yardstick is the **trivial baseline**: predict the
# mean training target for every input. Its test MSE is about 0.09 (ten
# classes: $0.1 \cdot 0.9$ per output), at 10% accuracy.
#
# There is no label noise by default (`label_noise` in the profiles): the
# data's own noise (random dilation, scale, shear, noise) is enough to make a
# peak. Label noise would raise the peak and, for this small $N$, keep the
# second descent above the bottom of the U: try `label_noise = 0.2`.

# %% reglab="demo"
N_TRAIN, N_VAL, N_TEST = CONFIG["n_train"], CONFIG["n_val"], CONFIG["n_test"]


def make_split(seed):
    """One data set: the training, validation and test parts of a fresh MNIST-1D draw, on DEVICE.

    Targets are one-hot rows; a fraction ``label_noise`` of the training labels is replaced at random."""
    generator = torch.Generator().manual_seed(seed)
    x, labels = make_mnist1d(N_TRAIN + N_VAL + N_TEST, generator, max_translation=CONFIG["max_translation"])
    labels_train = labels[:N_TRAIN].clone()
    flip = torch.rand(N_TRAIN, generator=generator) < CONFIG["label_noise"]
    labels_train[flip] = torch.randint(10, (int(flip.sum()),), generator=generator)
    labels = {"train": labels_train, "val": labels[N_TRAIN:N_TRAIN + N_VAL], "test": labels[N_TRAIN + N_VAL:]}
    x = {"train": x[:N_TRAIN], "val": x[N_TRAIN:N_TRAIN + N_VAL], "test": x[N_TRAIN + N_VAL:]}
    split = {}
    for part in ("train", "val", "test"):
        split[f"x_{part}"] = x[part].to(DEVICE)
        split[f"y_{part}"] = F.one_hot(labels[part], 10).float().to(DEVICE)
        split[f"labels_{part}"] = labels[part].to(DEVICE)
    return split


split = make_split(0)
print(", ".join(f"{name} {tuple(value.shape)}" for name, value in split.items() if name.startswith("x_")))


# %% [markdown]
# ## 2. Random ReLU features
#
# A two-layer network $f(x) = \mathrm{relu}(x W)\, w$ whose first layer $W$
# is drawn at random and **frozen**: only the output weights $w$ are fitted,
# so fitting is linear least squares on the features
# $\phi = \mathrm{relu}(x W) \in \mathbb{R}^{N \times P}$. The number of
# features $P$ is the model size.
#
# Write `random_relu_features(x, n_features, generator) -> (phi, W)`: draw
# $W \in \mathbb{R}^{D \times P}$ with independent $\mathcal N(0, 1/D)$ entries
# **from `generator`** (`torch.randn(..., generator=generator)`; the $1/D$
# keeps $x W$ at the scale of one input coordinate), on `x`'s device and in
# its dtype, and return $\phi = \mathrm{relu}(x W)$ together with $W$. No bias.

# %% reglab="solution" functions=["random_relu_features"]

# %% [markdown]
# **Self-check: phi is relu(x @ W) for the W returned**, on three random cases
# (float32 and float64, a batch of one), against `torch.nn.functional.relu`.

# %% reglab="selfcheck" item="features"
def close(a, b):
    """The course's float32 tolerance (the hidden checks use the same)."""
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5)

gen = torch.Generator().manual_seed(0)
for n, d, p, dtype in [(8, 5, 12, torch.float32), (1, 20, 7, torch.float64), (30, 3, 40, torch.float32)]:
    x = torch.randn(n, d, generator=gen, dtype=dtype).to(DEVICE)
    phi, W = random_relu_features(x, p, torch.Generator(device=DEVICE).manual_seed(n))
    where = f"x of shape {(n, d)}, n_features={p}, {dtype}"
    assert tuple(W.shape) == (d, p), f"W has shape {tuple(W.shape)}; return it as (D, n_features) = {(d, p)} ({where})"
    assert tuple(phi.shape) == (n, p), f"phi has shape {tuple(phi.shape)}, expected (N, n_features) = {(n, p)} ({where})"
    assert phi.dtype == W.dtype == dtype, f"phi is {phi.dtype} and W is {W.dtype}; keep x's dtype ({where})"
    assert phi.device == W.device == x.device, f"phi is on {phi.device}, W on {W.device}; keep x's device ({where})"
    if not close(phi, F.relu(x @ W)):
        assert not close(phi, x @ W), f"phi is x @ W without the ReLU ({where})"
        assert not close(phi, (x @ W).clamp(max=0)), f"phi keeps the negative part of x @ W; ReLU keeps the positive part ({where})"
        raise AssertionError(f"phi differs from relu(x @ W) by up to {(phi - F.relu(x @ W)).abs().max():.2e} ({where})")
print("features: OK")

# %% [markdown]
# **Self-check: W ~ N(0, 1/D), replayable from the generator** (100,000 draws with D = 50).

# %% reglab="selfcheck" item="features_sampling"
x = torch.randn(4, 50, device=DEVICE)
_, W1 = random_relu_features(x, 2000, torch.Generator(device=DEVICE).manual_seed(1))
_, W2 = random_relu_features(x, 2000, torch.Generator(device=DEVICE).manual_seed(1))
_, W3 = random_relu_features(x, 2000, torch.Generator(device=DEVICE).manual_seed(2))
assert torch.equal(W1, W2), "two generators seeded alike gave different W: draw W from the generator argument (torch.randn(..., generator=generator))"
assert not torch.equal(W1, W3), "generators with different seeds gave the same W: draw W from the generator argument"
z = W1.flatten().double() * 50 ** 0.5                   # N(0, 1) if W ~ N(0, 1/D)
mean, variance = z.mean().item(), z.var().item()
print(f"sqrt(D) W: mean {mean:+.4f} (want 0 +- 0.013), variance {variance:.4f} (want 1 +- 0.02)")
assert abs(mean) < 0.013, f"W's entries have mean {mean / 50 ** 0.5:.3g}, expected 0: draw them from a normal centred at 0"
assert abs(variance - 1) < 0.02, f"W's entries have variance {variance:.3g} / D, expected 1 / D with D = 50: scale torch.randn by 1 / sqrt(D)"
print("features_sampling: OK")

# %% [markdown]
# ## 3. Minimum-norm least squares
#
# With $P < N$ features (under-parameterized) the least-squares problem
# $\min_w \|\phi w - y\|^2$ has one solution, $w = (\phi^\top\phi)^{-1}\phi^\top y$.
# With $P > N$ (over-parameterized) there are infinitely many $w$ with
# $\phi w = y$ exactly: every solution plus anything in the null space of
# $\phi$. The natural choice is the one of **minimum norm**,
# $w = \phi^\top(\phi\phi^\top)^{-1} y$, which lies in the row space of $\phi$.
# Both cases, and rank-deficient $\phi$ (a dead ReLU feature is a zero
# column), are one formula: $w = \phi^{+} y$ with the pseudo-inverse
# $\phi^{+}$.
#
# Why minimum norm? It is what gradient descent on $\|\phi w - y\|^2$ from
# $w = 0$ converges to: each gradient $2\phi^\top(\phi w - y)$ lies in the row
# space of $\phi$, so $w$ never leaves it. That is the *implicit
# regularization* of the optimizer the lecture mentioned.
#
# Write `min_norm_least_squares(phi, y) -> w` for `y` of shape (N,) or
# (N, K). `torch.linalg.pinv` or `torch.linalg.lstsq(..., driver="gelsd")`
# are the tools (on a GPU, `lstsq` handles only full-rank tall systems; `pinv`
# works everywhere).

# %% reglab="solution" functions=["min_norm_least_squares"]

# %% [markdown]
# **Self-check: ordinary least squares below, minimum-norm interpolation above**,
# against `torch.linalg.pinv`, on six random float64 systems: tall, wide, square, and three
# with a dead feature (a zero column, as a ReLU that never fires gives), where $\phi^\top\phi$
# is singular (and, for the square one, $\phi$ itself).

# %% reglab="selfcheck" item="min_norm"
gen = torch.Generator().manual_seed(3)
for n, p, k, dead in [(30, 6, None, False), (6, 30, 2, False), (20, 20, 3, False), (12, 40, None, True), (40, 12, 2, True),
                     (20, 20, 2, True)]:
    phi = torch.randn(n, p, generator=gen, dtype=torch.float64)
    if dead:
        phi[:, 3] = 0.0
    y = torch.randn(n, *(() if k is None else (k,)), generator=gen, dtype=torch.float64)
    phi, y = phi.to(DEVICE), y.to(DEVICE)
    where = f"phi of shape {(n, p)}{' with a dead feature' if dead else ''}, y of shape {tuple(y.shape)}"
    expected = torch.linalg.pinv(phi) @ y
    try:
        w = min_norm_least_squares(phi.clone(), y.clone())
    except torch.linalg.LinAlgError as error:
        raise AssertionError(f"min_norm_least_squares raised {type(error).__name__} on {where}: with a dead feature "
                             "phi^T phi, phi phi^T (and a square phi itself) are singular; use torch.linalg.pinv or lstsq") from error
    assert w.shape == expected.shape, f"w has shape {tuple(w.shape)}, expected {tuple(expected.shape)} ({where})"
    gradient = phi.T @ (phi @ w - y)              # zero at every least-squares solution
    assert torch.allclose(gradient, torch.zeros_like(gradient), atol=1e-8), \
        f"w is not a least-squares solution: phi^T (phi w - y) is up to {gradient.abs().max():.2e} ({where})"
    assert torch.allclose(w, expected, rtol=1e-6, atol=1e-8), \
        f"w fits, but ||w|| = {w.norm():.4f} while the minimum-norm solution has {expected.norm():.4f}: remove the null-space part (pinv) ({where})"
print("min_norm: OK (six systems, three of them rank-deficient)")

# %% [markdown]
# ## 4. Ridge regression
#
# Ridge adds $\lambda\|w\|^2$ to the loss, the weight decay of the lecture:
#
# $$w_\lambda = \arg\min_w \|\phi w - y\|^2 + \lambda\|w\|^2
#   = (\phi^\top\phi + \lambda I_P)^{-1}\phi^\top y
#   = \phi^\top(\phi\phi^\top + \lambda I_N)^{-1} y .$$
#
# The two forms are equal (push-through identity), so solve whichever system
# is smaller: $P \times P$ or $N \times N$. As $\lambda \to 0$, $w_\lambda$
# tends to the minimum-norm solution. Write `ridge(phi, y, lam) -> w` for
# `lam > 0`, with `torch.linalg.solve` (not an explicit inverse).

# %% reglab="solution" functions=["ridge"]

# %% [markdown]
# **Self-check: ridge against `torch.linalg.solve` of $(\phi^\top\phi + \lambda I)\,w = \phi^\top y$**,
# on six random float64 systems (N > P, P > N, square, one with a dead feature; lam from 0.01
# to 5), without an explicit inverse, and the limit lam -> 0.

# %% reglab="selfcheck" item="ridge"
import re

from torch.overrides import TorchFunctionMode


class TorchCalls(TorchFunctionMode):
    """Inside `with TorchCalls() as calls:`, calls.names holds the name of every torch function called."""

    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(f"{getattr(func, '__module__', None) or 'torch'}.{getattr(func, '__qualname__', None) or getattr(func, '__name__', func)}")
        return func(*args, **(kwargs or {}))


gen = torch.Generator().manual_seed(4)
for n, p, k, lam in [(30, 6, None, 0.5), (6, 30, 2, 0.5), (15, 15, 3, 2.0), (40, 25, None, 0.01), (10, 50, 4, 5.0),
                     (12, 36, None, 1.0)]:
    phi_case = torch.randn(n, p, generator=gen, dtype=torch.float64).to(DEVICE)
    if p == 36:
        phi_case[:, 5] = 0.0                              # a dead feature: phi^T phi is singular, phi^T phi + lam I is not
    y_case = torch.randn(n, *(() if k is None else (k,)), generator=gen, dtype=torch.float64).to(DEVICE)
    where = f"phi of shape {(n, p)}{' with a dead feature' if p == 36 else ''}, y of shape {tuple(y_case.shape)}, lam = {lam}"
    with TorchCalls() as calls:
        w = ridge(phi_case.clone(), y_case.clone(), lam)
    inverse = sorted(name for name in calls.names if re.search(r"linalg_inv|\binverse\b|cholesky_inverse|pinv", name))
    assert not inverse, (f"ridge calls {inverse[0]}: solve the system with torch.linalg.solve (or a Cholesky solve) "
                         f"instead of forming an inverse ({where})")
    eye = torch.eye(p, dtype=torch.float64, device=DEVICE)
    expected = torch.linalg.solve(phi_case.T @ phi_case + lam * eye, phi_case.T @ y_case)
    assert w.shape == expected.shape, f"w has shape {tuple(w.shape)}, expected {tuple(expected.shape)} ({where})"
    mean_loss = torch.linalg.solve(phi_case.T @ phi_case + lam * n * eye, phi_case.T @ y_case)
    assert not torch.allclose(w, mean_loss), f"w minimizes the mean squared error plus lam ||w||^2 (lam is scaled by N); this lab's ridge minimizes ||phi w - y||^2 + lam ||w||^2 ({where})"
    assert torch.allclose(w, expected, rtol=1e-6, atol=1e-9), f"w differs from the ridge solution by up to {(w - expected).abs().max():.2e} ({where})"
w_small = ridge(phi_case, y_case, 1e-6)
assert torch.allclose(w_small, torch.linalg.pinv(phi_case) @ y_case, rtol=1e-4, atol=1e-5), \
    "ridge with lam = 1e-6 should be close to the minimum-norm solution"
print("ridge: OK (five systems, and lam -> 0 gives the minimum-norm solution)")

# %% [markdown]
# ## 5. The test-error curve
#
# Write `test_error_curve(widths, x_train, y_train, x_test, y_test, lam=0.0,
# seeds=3, generator=None) -> list[dict]`. For each width $P$ in `widths`,
# `seeds` times: draw features with `random_relu_features(x_train, P,
# generator)`, fit $w$ on the training set (`min_norm_least_squares` when
# `lam == 0`, else `ridge`), and compute the mean squared error
# `((prediction - y) ** 2).mean()` on the training set and on the test set,
# where the test features use **the same** $W$: `relu(x_test @ W)`. Return one
# row per width, in order, with the errors averaged over the seeds:
#
# ```python
# {"width": 40, "train_error": 0.012, "test_error": 0.31}
# ```
#
# With `generator=None`, use `torch.Generator(device=x_train.device).manual_seed(0)`.

# %% reglab="solution" functions=["test_error_curve"]

# %% [markdown]
# **Self-check: a small teacher-student problem.** $N = 30$ noisy training
# samples in 8 dimensions.

# %% reglab="selfcheck" item="curve_rows"
def teacher_data(n_train=30, n_test=300, d=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, d, generator=gen, dtype=torch.float64)
    y = torch.tanh(2 * x @ torch.randn(d, 2, generator=gen, dtype=torch.float64) / d ** 0.5)
    y[:n_train] += 0.3 * torch.randn(n_train, 2, generator=gen, dtype=torch.float64)
    return [t.to(DEVICE) for t in (x[:n_train], y[:n_train], x[n_train:], y[n_train:])]

small_widths = [5, 10, 20, 30, 40, 60, 150]
data = teacher_data()
rows = test_error_curve(small_widths, *data, generator=torch.Generator(device=DEVICE).manual_seed(0))
assert isinstance(rows, list) and len(rows) == len(small_widths), f"expected a list of {len(small_widths)} rows, one per width; got {type(rows).__name__}"
for row in rows:
    missing = {"width", "train_error", "test_error"} - set(row)
    assert not missing, f"each row needs the keys width, train_error, test_error (missing {', '.join(sorted(missing))})"
assert [row["width"] for row in rows] == small_widths, f"rows are for widths {[row['width'] for row in rows]}, expected {small_widths} in that order"
for row in rows:
    print(f"width {row['width']:4d}: train {row['train_error']:.2e}  test {row['test_error']:.3f}")
scale = (data[1] ** 2).mean().item()
for row in rows:
    if row["width"] >= 30:
        assert row["train_error"] < 1e-8 * scale, f"train error {row['train_error']:.2e} at width {row['width']} >= N = 30: min-norm should interpolate"
    if row["width"] <= 10:
        assert row["train_error"] > 1e-3, f"train error {row['train_error']:.2e} at width {row['width']} < N: a fit with fewer features than samples cannot interpolate noisy data; are the errors measured on the training set?"


def curve_table(seed):
    rows = test_error_curve(small_widths, *data, seeds=2, generator=torch.Generator(device=DEVICE).manual_seed(seed))
    return [float(row[key]) for row in rows for key in ("width", "train_error", "test_error")]


first = curve_table(1)
# A curve replays only if the features it draws do (that is the features_sampling self-check's business).
features_replay = torch.equal(*(random_relu_features(data[0], 4, torch.Generator(device=DEVICE).manual_seed(1))[1] for _ in range(2)))
if features_replay:
    assert curve_table(1) == first, ("two calls of test_error_curve with generators seeded alike gave different rows: "
                                     "draw the features from the generator argument")
assert curve_table(2) != first, ("generators with different seeds gave test_error_curve the same rows: pass the generator "
                                 "argument on to random_relu_features (make one of your own only when generator is None)")
print("curve_rows: OK")

# %% [markdown]
# **Self-check: the peak sits at width = N.**

# %% reglab="selfcheck" item="curve_peak"
rows = test_error_curve(small_widths, *teacher_data(), generator=torch.Generator(device=DEVICE).manual_seed(0))
test_errors = [row["test_error"] for row in rows]
peak_width = small_widths[test_errors.index(max(test_errors))]
assert peak_width == 30, f"the test error peaks at width {peak_width}, expected N = 30"
assert max(test_errors) > 3 * max(test_errors[0], test_errors[-1]), "the peak at N = 30 should be at least 3 times the test error at the ends: average the test errors over the seeds"
one_draw = test_error_curve([150], *teacher_data(), seeds=1, generator=torch.Generator(device=DEVICE).manual_seed(1))[0]["test_error"]
three_draws = test_error_curve([150], *teacher_data(), seeds=3, generator=torch.Generator(device=DEVICE).manual_seed(1))[0]["test_error"]
assert 0.5 < three_draws / one_draw < 2, f"at width 150 the test error with seeds=3 is {three_draws / one_draw:.2f} times the one with seeds=1: average the errors over the seeds, do not sum them"
print(f"curve_peak: OK (peak {max(test_errors):.2f} at width {peak_width})")

# %% [markdown]
# **Self-check: ridge flattens the peak.** The same random draws, only `lam` differs.

# %% reglab="selfcheck" item="curve_ridge"
plain = test_error_curve(small_widths, *data, lam=0.0, generator=torch.Generator(device=DEVICE).manual_seed(5))
ridged = test_error_curve(small_widths, *data, lam=1.0, generator=torch.Generator(device=DEVICE).manual_seed(5))
peak_plain, peak_ridge = max(r["test_error"] for r in plain), max(r["test_error"] for r in ridged)
assert peak_ridge < 0.5 * peak_plain, f"with lam = 1 the largest test error is {peak_ridge / peak_plain:.2f} times the min-norm peak: fit with ridge(phi, y, lam) when lam > 0"
print(f"curve_ridge: OK (largest test error {peak_plain:.2f} without ridge, {peak_ridge:.3f} with lam = 1)")

# %% [markdown]
# **Self-check: no function modifies its inputs.**

# %% reglab="selfcheck" item="immutability"
def unchanged(func, names, *args, **kwargs):
    """Call func(*args, **kwargs); fail if it changed a tensor argument's values or shape."""
    saved = [arg.clone() if isinstance(arg, torch.Tensor) else None for arg in args]
    func(*args, **kwargs)
    for name, now, before in zip(names, args, saved):
        if before is None:
            continue
        assert now.shape == before.shape, (f"{func.__name__} changed the shape of its input {name} in place, from "
                                           f"{tuple(before.shape)} to {tuple(now.shape)}: work on new tensors (y[:, None] or "
                                           "y.unsqueeze(1), not y.unsqueeze_(1))")
        assert torch.equal(now, before), (f"{func.__name__} modified its input {name} in place: work on new tensors "
                                          "(x = x / s, not x /= s or x.div_(s))")

x_train_small, y_train_small, x_test_small, y_test_small = (t * 2 + 1 for t in teacher_data(seed=1))
phi_small = torch.randn(12, 20, generator=torch.Generator().manual_seed(6), dtype=torch.float64).to(DEVICE)
unchanged(random_relu_features, ["x"], x_train_small, 7, torch.Generator(device=DEVICE).manual_seed(0))
for y in (y_train_small[:12], y_train_small[:12, 0].contiguous()):          # y of shape (N, K) and (N,)
    unchanged(min_norm_least_squares, ["phi", "y"], phi_small, y)
    unchanged(min_norm_least_squares, ["phi", "y"], x_train_small[:12], y)
    unchanged(ridge, ["phi", "y"], phi_small, y, 2.0)
unchanged(test_error_curve, ["widths", "x_train", "y_train", "x_test", "y_test"], [4, 40],
          x_train_small, y_train_small, x_test_small, y_test_small, seeds=1)
print("immutability: OK")

# %% [markdown]
# ## 6. Double descent on MNIST-1D
#
# Widths from $0.01N$ to $10N$. For each seed: a fresh data set
# (`make_split(seed)`), one feature draw per width, and the fits with
# minimum-norm least squares and with ridge for several $\lambda$ (the same
# features for every $\lambda$). `fit_and_score` is your `test_error_curve`
# for one width and one draw, keeping the predictions to score the accuracy
# too. The **tuned** $\lambda$ is the one with the smallest validation error
# (averaged over widths and seeds); the test set is never used to choose it.
#
# The left panel is the test MSE (mean over seeds, band: smallest to largest
# seed), the middle one the test accuracy. The right panel shows why the
# peak happens: the smallest singular value of the training features $\phi$
# (the size of the smallest direction the fit has to invert) collapses at
# $P = N$, and the norm of the minimum-norm solution explodes with it.

# %% reglab="demo"
WIDTH_RATIOS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5, 2, 4, 10]
RIDGE_LAMS = [0.01, 0.1, 1.0, 10.0, 100.0]
widths = sorted({max(1, round(ratio * N_TRAIN)) for ratio in WIDTH_RATIOS})


def fit_and_score(split, width, lam, generator):
    """One feature draw of ``width``, the min-norm (lam = 0) or ridge fit, and its MSE and accuracy on each part."""
    phi, W = random_relu_features(split["x_train"], width, generator)
    w = min_norm_least_squares(phi, split["y_train"]) if lam == 0 else ridge(phi, split["y_train"], lam)
    scores = {}
    for part in ("train", "val", "test"):
        prediction = torch.relu(split[f"x_{part}"] @ W) @ w
        scores[f"{part}_error"] = ((prediction - split[f"y_{part}"]) ** 2).mean().item()
        scores[f"{part}_accuracy"] = (prediction.argmax(1) == split[f"labels_{part}"]).float().mean().item()
    return scores


def run_seed(seed):
    """Every width and lam on the data set of ``seed``: ``scores[lam][i]`` is for ``widths[i]``.

    Every lam sees the same feature draws; ``baseline`` is the test MSE of predicting the mean training target."""
    split = make_split(seed)
    scores = {}
    for lam in [0.0, *RIDGE_LAMS]:
        generator = torch.Generator(device=DEVICE).manual_seed(1000 + seed)
        scores[lam] = [fit_and_score(split, width, lam, generator) for width in widths]
    baseline = ((split["y_test"] - split["y_train"].mean(0)) ** 2).mean().item()
    return {"scores": scores, "baseline": baseline}


def per_seed(results, lam, key):
    """A (seeds, widths) tensor of one score."""
    return torch.tensor([[row[key] for row in result["scores"][lam]] for result in results])


def tuned_lam_of(results):
    """The ridge lam with the smallest validation MSE, averaged over widths and seeds."""
    return min(RIDGE_LAMS, key=lambda lam: per_seed(results, lam, "val_error").mean().item())


def summary(result):
    """The figures the text below quotes, for one seed's min-norm curve."""
    test = torch.tensor([row["test_error"] for row in result["scores"][0.0]])
    accuracy = torch.tensor([row["test_accuracy"] for row in result["scores"][0.0]])
    under = torch.tensor(widths) < N_TRAIN
    best = int(torch.where(under, test, torch.inf).argmin())          # the bottom of the classical U
    peak = int(test.argmax())
    return {"baseline": result["baseline"], "optimum_width": widths[best], "optimum_error": test[best].item(),
            "optimum_accuracy": accuracy[best].item(), "peak_width": widths[peak], "peak_error": test[peak].item(),
            "peak_accuracy": accuracy[peak].item(), "largest_error": test[-1].item(),
            "largest_accuracy": accuracy[-1].item()}


# %% reglab="demo"
start = time.perf_counter()
results = [run_seed(seed) for seed in range(CONFIG["seeds"])]
tuned_lam = tuned_lam_of(results)
print(f"{len(RIDGE_LAMS) + 1} fits x {len(widths)} widths x {CONFIG['seeds']} seeds in {time.perf_counter() - start:.1f} s; "
      f"tuned lam (validation) = {tuned_lam:g}")

phi_generator = torch.Generator(device=DEVICE).manual_seed(1000)
smallest_singular, solution_norm = [], []
for width in widths:
    phi, _ = random_relu_features(split["x_train"], width, phi_generator)
    smallest_singular.append(torch.linalg.svdvals(phi)[min(width, N_TRAIN) - 1].item())
    solution_norm.append(min_norm_least_squares(phi, split["y_train"]).norm().item())

fig, (ax_error, ax_accuracy, ax_why) = plt.subplots(1, 3, figsize=(17, 4.4))
for lam in [0.0, tuned_lam]:
    label = "min-norm (lam = 0)" if lam == 0 else f"ridge, tuned lam = {lam:g}"
    for ax, key in ((ax_error, "test_error"), (ax_accuracy, "test_accuracy")):
        values = per_seed(results, lam, key)
        line, = ax.plot(widths, values.mean(0), "o-" if lam == 0 else "s-", ms=3, label=label)
        ax.fill_between(widths, values.min(0).values, values.max(0).values, color=line.get_color(), alpha=0.25)
for lam in RIDGE_LAMS:
    if lam != tuned_lam:
        ax_error.plot(widths, per_seed(results, lam, "test_error").mean(0), "--", lw=0.8, label=f"ridge, lam = {lam:g}")
baseline = sum(result["baseline"] for result in results) / len(results)
ax_error.axhline(baseline, color="black", ls=":", label=f"predict the mean ({baseline:.3f})")
ax_accuracy.axhline(0.1, color="black", ls=":", label="chance (10%)")
ax_error.set(yscale="log", ylabel="test mean squared error", title=f"double descent on MNIST-1D (N = {N_TRAIN})")
ax_accuracy.set(ylabel="test accuracy", title="accuracy of the same fits")
ax_why.plot(widths, smallest_singular, "o-", ms=3, label="smallest singular value of phi")
ax_why.plot(widths, solution_norm, "s-", ms=3, label="||w|| of the min-norm fit")
ax_why.set(yscale="log", title="why the peak: phi is nearly singular at P = N (seed 0)")
for ax in (ax_error, ax_accuracy, ax_why):
    ax.axvline(N_TRAIN, color="grey", lw=0.8, label="P = N")
    ax.set(xscale="log", xlabel="number of random features P")
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

print("seed  baseline  classical optimum (P, MSE, acc)  peak (P, MSE, acc)      largest P (MSE, acc)")
for seed, result in enumerate(results):
    s = summary(result)
    print(f"{seed:4d}  {s['baseline']:.4f}    P = {s['optimum_width']:4d}: {s['optimum_error']:.4f}, {s['optimum_accuracy']:.0%}"
          f"      P = {s['peak_width']:4d}: {s['peak_error']:7.3f}, {s['peak_accuracy']:.0%}"
          f"   {s['largest_error']:.4f}, {s['largest_accuracy']:.0%}")
train_at_n = per_seed(results, 0.0, "train_error")[:, widths.index(N_TRAIN):]
print(f"largest min-norm train MSE from P = N on: {train_at_n.max():.1e} (interpolation); "
      f"largest test MSE of tuned ridge over all widths: {per_seed(results, tuned_lam, 'test_error').mean(0).max():.4f}")

# %% [markdown]
# **What to expect** (`cpu` profile, N = 500, 5 seeds; `benchmarks/lab_claims.py --lab 06f`):
#
# - **Three regimes.** Under-parameterized, the test MSE falls from the
#   trivial baseline (0.090, 10% accuracy) to the bottom of the classical U at
#   P = 100-150 (0.2-0.3 N): 0.048 +- 0.001, 84 +- 1% accuracy (mean +- std
#   over the 5 seeds). It then rises to the **peak at P = N = 500, on every
#   seed**: 3.4 +- 1.2 (from 1.7 to 4.8, 38 times the baseline), 21 +- 4%
#   accuracy, while the training MSE reaches zero (below 1e-4 in float32)
#   from P = N on. Over-parameterized, it falls again, to **0.032 +- 0.001 at
#   P = 10 N** with 94 +- 1% accuracy: 0.016 below the classical optimum,
#   10 points more accurate, and 0.35 times the baseline.
# - **Ridge.** Validation picks lam = 10. Its curve has no peak: it falls
#   from 0.083 at P = 5 to 0.033 at P = N (92% accuracy) and 0.029 at
#   P = 10 N, up to wiggles of at most 0.0014 +- 0.0002 from the single
#   feature draw per width. Smaller lam only lowers the peak: 0.26, 0.093 and
#   0.045 at P = N for lam = 0.01, 0.1, 1. Far past the threshold all lam
#   give nearly the same error, since the minimum-norm fit is already well
#   conditioned there.
# - The `ci` profile (N = 200, 2 seeds) shows the same shape with a smaller,
#   noisier curve.
#
# ## 7. L1 beside L2: sparsity against shrinkage
#
# The lecture's table: an L2 penalty (ridge, weight decay) shrinks every
# weight toward zero and sets none of them to zero; an L1 penalty
# $\alpha\|w\|_1$ (the lasso) sets many weights **exactly** to zero, a
# sparse model that selects features. Both remove the peak at $P = N$. L1 has
# no closed form; the cell below minimizes $\|\phi w - y\|^2 + \alpha\|w\|_1$
# by ISTA (proximal gradient descent): a gradient step on the squared error,
# then *soft thresholding*, which moves every weight toward zero by a fixed
# amount and stops it at zero. The fits use the features of width $P = N$ of
# each seed; ridge's $\lambda$ is the one with the smallest validation error
# at this width, $\alpha$ comes from the profile.

# %% reglab="demo"
def lasso_ista(phi, y, alpha, steps):
    """Minimizes ||phi w - y||^2 + alpha * ||w||_1 by ISTA (proximal gradient descent), from w = 0.

    The step 1 / L, with L = 2 ||phi||_2^2 the Lipschitz constant of the squared error's gradient, makes
    every step decrease the objective; soft thresholding by step * alpha is the proximal map of the L1 term."""
    step = 1 / (2 * torch.linalg.matrix_norm(phi, ord=2) ** 2)
    w = phi.new_zeros(phi.shape[1], *y.shape[1:])
    for _ in range(steps):
        w = w - step * 2 * phi.T @ (phi @ w - y)
        w = torch.sign(w) * (w.abs() - step * alpha).clamp(min=0)
    return w


def compare_penalties(seed, alpha, steps):
    """Min-norm, ridge and lasso fits at P = N on the data set of ``seed``: test MSE, accuracy, share of zero weights.

    Ridge's lam is the one of RIDGE_LAMS with the smallest validation MSE at this width."""
    data = make_split(seed)
    phi, W = random_relu_features(data["x_train"], N_TRAIN, torch.Generator(device=DEVICE).manual_seed(1000 + seed))

    def val_error(w):
        return ((torch.relu(data["x_val"] @ W) @ w - data["y_val"]) ** 2).mean().item()

    lam = min(RIDGE_LAMS, key=lambda lam: val_error(ridge(phi, data["y_train"], lam)))
    fits = {"min-norm": (min_norm_least_squares(phi, data["y_train"]), 0.0),
            "L2 (ridge)": (ridge(phi, data["y_train"], lam), lam),
            "L1 (lasso)": (lasso_ista(phi, data["y_train"], alpha, steps), alpha)}
    phi_test = torch.relu(data["x_test"] @ W)
    rows = {}
    for name, (w, strength) in fits.items():
        prediction = phi_test @ w
        rows[name] = {"strength": strength, "test_error": ((prediction - data["y_test"]) ** 2).mean().item(),
                      "test_accuracy": (prediction.argmax(1) == data["labels_test"]).float().mean().item(),
                      "zero_fraction": (w == 0).float().mean().item(), "weights": w}
    return rows


# %% reglab="demo"
start = time.perf_counter()
penalties = [compare_penalties(seed, CONFIG["l1_alpha"], CONFIG["l1_steps"]) for seed in range(CONFIG["seeds"])]
print(f"{CONFIG['seeds']} seeds at P = N = {N_TRAIN} in {time.perf_counter() - start:.1f} s")
print("ridge lam per seed (validation):", [rows["L2 (ridge)"]["strength"] for rows in penalties], "| L1 alpha:", CONFIG["l1_alpha"])
print(f"{'fit':20s} {'test MSE':>18s} {'test accuracy':>16s} {'weights exactly 0':>20s}")
for name in penalties[0]:
    column = {key: torch.tensor([rows[name][key] for rows in penalties]) for key in ("test_error", "test_accuracy", "zero_fraction")}
    print(f"{name:20s} {column['test_error'].mean():9.4f} +- {column['test_error'].std():.4f}"
          f" {column['test_accuracy'].mean():9.1%} +- {column['test_accuracy'].std():.1%}"
          f" {column['zero_fraction'].mean():12.1%} +- {column['zero_fraction'].std():.1%}")

fig, ax = plt.subplots(figsize=(7, 3.6))
for name, rows in penalties[0].items():
    if not name.startswith("min-norm"):
        magnitudes = rows["weights"].abs().flatten().sort(descending=True).values
        ax.plot(torch.arange(1, len(magnitudes) + 1), magnitudes.clamp(min=1e-6), label=name)
ax.set(xscale="log", yscale="log", xlabel="rank", ylabel="|weight| (zeros drawn at 1e-6)",
       title=f"the {N_TRAIN * 10} weights at P = N, sorted (seed 0)")
ax.legend()
plt.show()

# %% [markdown]
# **What to expect** (`cpu`, 5 seeds, P = N = 500): min-norm 1.7 +- 0.4
# test MSE (24% accuracy); L2 with lam = 10: 0.033 +- 0.0004 (92%), no weight
# exactly zero; L1 with alpha = 3 after 500 ISTA steps: 0.041 +- 0.0003
# (84%), with 63% of the weights exactly zero. Both remove the peak; here
# the tuned L2 is more accurate, because every random feature carries a
# little of the signal, which shrinkage keeps and selection throws away. L1
# is the tool when few inputs matter; its sparse model is cheaper to store
# and to read. In the plot, the L2 weights decay smoothly over all 5,000;
# the L1 weights end in a cliff where the exact zeros begin.
#
# ## 8. Written questions
#
# Answer in a few sentences each, in the cells below (graded by hand).
#
# **Q1.** Why does the test error of the minimum-norm fit peak when the
# number of features equals the number of training samples, and why does it
# come down again when there are many more features than samples?

# %% [markdown] reglab="written" item="q_peak" points=2
# At P = N the feature matrix phi is square and, being random, nearly
# singular: its smallest singular value collapses (right panel). The
# minimum-norm fit must interpolate the training targets exactly, including
# their noise (here the data's own random dilation, scale, shear and noise:
# the targets are not a function the features can represent), and w =
# phi^+ y divides that noise by the tiny singular values, so ||w|| explodes
# and the test error with it: 3.4 on average in the cpu profile, 38 times
# the predict-the-mean baseline, 21% accuracy. Below N the least-squares fit
# averages the noise over more samples than parameters (the classical U,
# best at P = 100-150 with MSE 0.048). Above N there are many interpolating
# solutions; the minimum-norm one spreads the fit over many directions, the
# smallest nonzero singular value of the wide random phi grows again, ||w||
# shrinks, and the test error falls: 0.032 and 94% accuracy at P = 10 N,
# better than the best under-parameterized model. That is the second
# descent.

# %% [markdown]
# **Q2.** Why does ridge regression remove the peak? How do the minimum-norm
# solution and gradient descent from zero relate to ridge?

# %% [markdown] reglab="written" item="q_ridge" points=2
# Ridge solves (phi^T phi + lam I) w = phi^T y: each singular direction of
# phi is scaled by s / (s^2 + lam) instead of 1 / s, so tiny singular values
# no longer blow up the weights (the factor is at most 1 / (2 sqrt(lam))).
# Near P = N the fit stops interpolating the noise and ||w|| stays bounded,
# so the peak goes: with the validation-tuned lam = 10 the test MSE at P = N
# is 0.033 instead of 3.4, and the curve falls with P (from 0.083 to 0.029)
# with no peak, up to small wiggles from the random feature draws. Too small
# a lam only lowers the peak (0.26 at lam = 0.01). The minimum-norm
# solution is the limit of ridge as lam -> 0, and it is also where gradient
# descent from w = 0 converges (its iterates stay in the row space of phi),
# so the optimizer itself acts as a weak regularizer; stopping gradient
# descent early acts like a larger lam.

# %% [markdown]
# **Q3.** What does double descent say about the advice "more parameters
# than data points means overfitting"? Relate it to how deep networks are
# regularized in the lecture (weight decay, early stopping, label noise).

# %% [markdown] reglab="written" item="q_overparam" points=2
# The advice describes only the approach to the interpolation threshold:
# the worst model size is the one that can just barely fit the training
# data (P = N here), not the largest. Far beyond it, a model with many more
# parameters than samples and a bias toward small-norm solutions (implicit
# from gradient descent, explicit from weight decay) generalizes better
# again: at P = 10 N the min-norm fit beats the best small model (MSE 0.032
# against 0.048, 94% against 84%). Large vision networks trained for many
# epochs on a fixed data set sit in this regime: they fit their training set
# exactly. Large language models do not: they are trained on more tokens
# than they have parameters, usually for about one pass, and do not
# interpolate their data, so this curve is not their story. Label noise
# makes the peak higher and the second descent worse, because interpolating
# wrong labels needs large weights; weight decay (ridge) and early stopping
# remove or soften the peak, which is why networks trained with them rarely
# show it; the same curve also appears over training epochs (epoch-wise
# double descent), where stopping at the first rise could stop too early.
