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
# features. As the number of features $P$ grows past the number of training
# samples $N$, the test error rises to a sharp peak at $P \approx N$ and then
# falls again; a little ridge regularization removes the peak.
#
# **You will be able to**
# 1. build random-feature regression and explain why the minimum-norm
#    solution is the natural fit when $P > N$;
# 2. produce the double-descent curve and explain the peak at $P \approx N$
#    (the interpolation threshold);
# 3. show how ridge regularization flattens the peak, and connect it to the
#    weight decay and early stopping of the lecture.
#
# **How this lab is graded.** Fill in every cell that says
# `raise NotImplementedError()`. The *self-check* cells below each part are
# for you: they test one fixed example. Your grade comes from hidden checks
# that call your functions on fresh inputs of other shapes (under- and
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
    torch.set_num_threads(1)    # small matrices (at most 200 x 2000): threads fighting over the cores cost more than they bring
PROFILE = os.environ.get("REGLAB_PROFILE", "cpu")   # the grader runs the lab in its ci profile
print("running on", DEVICE, "in profile", PROFILE)

# %% [markdown]
# ## 1. The data: MNIST-1D
#
# MNIST-1D (Greydanus, *Scaling down deep learning*, 2020,
# [arXiv:2011.14439](https://arxiv.org/abs/2011.14439)) is a procedurally
# generated stand-in for MNIST: ten fixed 1-D "digit" templates of 12 points,
# each turned into a 40-point signal by random padding, scaling, a circular
# shift, correlated noise in the padding, white noise everywhere and a random
# shear. It is small enough for seconds of CPU, and hard enough that model
# size matters. The cell below is the paper's recipe, written in torch with
# an explicit generator, so the data set is the same on every machine.
#
# The lab always uses this generator (no download, the same data on every
# machine). To try the original data afterwards, in a cell of your own: with
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
# same way, and `labels_all = torch.tensor(digits.target)`. Then rerun the
# cells from section 1's regression task on.

# %%
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

    The defaults are the paper's. ``generator`` is a CPU torch.Generator.
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
        x = torch.roll(x, int(torch.randint(max_translation, (), generator=generator)))   # shift
        noise = gaussian_smooth(corr_noise_scale * torch.randn(long_length, generator=generator, dtype=torch.float64))
        x = torch.where(x != 0, x, noise)                             # correlated noise in the padding
        x = x + iid_noise_scale * torch.randn(long_length, generator=generator, dtype=torch.float64)
        x = x - shear_scale * (uniform() - 0.5) * torch.linspace(-0.5, 0.5, long_length, dtype=torch.float64)
        signals.append(resample(x, length))
    x = torch.stack(signals)
    return ((x - x.mean()) / x.std()).float(), labels


data_generator = torch.Generator().manual_seed(2020)
start = time.perf_counter()
x_all, labels_all = make_mnist1d(1200, data_generator)
print(f"{len(x_all)} signals of {x_all.shape[1]} points in {time.perf_counter() - start:.2f} s")

fig, axes = plt.subplots(1, 10, figsize=(14, 1.8), sharey=True)
for digit, ax in enumerate(axes):
    ax.plot(x_all[(labels_all == digit).nonzero()[0, 0]].numpy())
    ax.set(title=str(digit), xticks=[], yticks=[])
plt.suptitle("one MNIST-1D signal per class", y=1.08)
plt.show()

# %% [markdown]
# **The regression task.** We fit the one-hot label vectors by least squares
# (10 outputs) and measure the mean squared error. $N = 200$ training
# samples, 1000 test samples. To make the peak unmistakable, 20% of the
# training labels are replaced by random ones (label noise, as in the
# lecture's double-descent experiments); the test labels are clean.

# %%
N_TRAIN, N_TEST, LABEL_NOISE = 200, 1000, 0.2
noisy_labels = labels_all[:N_TRAIN].clone()
flip = torch.rand(N_TRAIN, generator=data_generator) < LABEL_NOISE
noisy_labels[flip] = torch.randint(10, (int(flip.sum()),), generator=data_generator)
x_train, x_test = x_all[:N_TRAIN].to(DEVICE), x_all[N_TRAIN:N_TRAIN + N_TEST].to(DEVICE)
y_train = F.one_hot(noisy_labels, 10).float().to(DEVICE)
y_test = F.one_hot(labels_all[N_TRAIN:N_TRAIN + N_TEST], 10).float().to(DEVICE)
print(f"x_train {tuple(x_train.shape)}, y_train {tuple(y_train.shape)}, {int(flip.sum())} noisy training labels")

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
# **Self-check: phi is relu(x @ W) for the W returned.**

# %% reglab="selfcheck" item="features"
x = torch.randn(8, 5, device=DEVICE)
phi, W = random_relu_features(x, 12, torch.Generator(device=DEVICE).manual_seed(0))
assert phi.shape == (8, 12) and W.shape == (5, 12), (phi.shape, W.shape)
torch.testing.assert_close(phi, torch.relu(x @ W))
assert phi.dtype == W.dtype == x.dtype and phi.device == x.device
print("features: OK")

# %% [markdown]
# **Self-check: W ~ N(0, 1/D), replayable from the generator.**

# %% reglab="selfcheck" item="features_sampling"
x = torch.randn(4, 50, device=DEVICE)
_, W1 = random_relu_features(x, 2000, torch.Generator(device=DEVICE).manual_seed(1))
_, W2 = random_relu_features(x, 2000, torch.Generator(device=DEVICE).manual_seed(1))
assert torch.equal(W1, W2), "the same seed must give the same W: draw from the generator argument"
z = W1.flatten() * 50 ** 0.5                          # should be N(0, 1): 100,000 draws
print(f"mean {z.mean().item():+.4f} (want 0 +- 0.013), variance {z.var().item():.4f} (want 1 +- 0.02)")
assert abs(z.mean().item()) < 0.013 and abs(z.var().item() - 1) < 0.02
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
# **Self-check: ordinary least squares below, minimum-norm interpolation above.**

# %% reglab="selfcheck" item="min_norm"
gen = torch.Generator().manual_seed(3)
phi_tall = torch.randn(30, 6, generator=gen, dtype=torch.float64).to(DEVICE)
y_tall = torch.randn(30, generator=gen, dtype=torch.float64).to(DEVICE)
w = min_norm_least_squares(phi_tall, y_tall)
torch.testing.assert_close(phi_tall.T @ (phi_tall @ w - y_tall), torch.zeros(6, dtype=torch.float64, device=DEVICE))   # normal equations

phi_wide = torch.randn(6, 30, generator=gen, dtype=torch.float64).to(DEVICE)
y_wide = torch.randn(6, 2, generator=gen, dtype=torch.float64).to(DEVICE)
w = min_norm_least_squares(phi_wide, y_wide)
torch.testing.assert_close(phi_wide @ w, y_wide)                                      # interpolates
other = w + (torch.eye(30, dtype=torch.float64, device=DEVICE) - torch.linalg.pinv(phi_wide) @ phi_wide)[:, :2]
assert w.norm() < other.norm(), "another interpolating solution has a smaller norm"
print(f"min_norm: OK (||w|| = {w.norm():.3f}; adding a null-space direction gives {other.norm():.3f})")

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
# **Self-check: the gradient of the ridge loss vanishes, in both regimes.**

# %% reglab="selfcheck" item="ridge"
gen = torch.Generator().manual_seed(4)
for n, p, outputs in [(30, 6, ()), (6, 30, (2,))]:           # n > p, then p > n
    phi_case = torch.randn(n, p, generator=gen, dtype=torch.float64).to(DEVICE)
    y_case = torch.randn(n, *outputs, generator=gen, dtype=torch.float64).to(DEVICE)
    w = ridge(phi_case, y_case, 0.5)
    gradient = phi_case.T @ (phi_case @ w - y_case) + 0.5 * w
    torch.testing.assert_close(gradient, torch.zeros_like(w))
w_small = ridge(phi_case, y_case, 1e-6)
torch.testing.assert_close(w_small, min_norm_least_squares(phi_case, y_case), rtol=1e-4, atol=1e-5)
print("ridge: OK (and lam -> 0 gives the minimum-norm solution)")

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
rows = test_error_curve(small_widths, *teacher_data(), generator=torch.Generator(device=DEVICE).manual_seed(0))
assert [row["width"] for row in rows] == small_widths and all({"width", "train_error", "test_error"} <= set(row) for row in rows)
for row in rows:
    print(f"width {row['width']:4d}: train {row['train_error']:.2e}  test {row['test_error']:.3f}")
assert all(row["train_error"] < 1e-10 for row in rows if row["width"] >= 30), "min-norm should interpolate from width N on"
assert all(row["train_error"] > 1e-3 for row in rows if row["width"] <= 10)
print("curve_rows: OK")

# %% [markdown]
# **Self-check: the peak sits at width = N.**

# %% reglab="selfcheck" item="curve_peak"
rows = test_error_curve(small_widths, *teacher_data(), generator=torch.Generator(device=DEVICE).manual_seed(0))
test_errors = [row["test_error"] for row in rows]
peak_width = small_widths[test_errors.index(max(test_errors))]
assert peak_width == 30, f"the test error peaks at width {peak_width}, expected N = 30"
assert max(test_errors) > 3 * max(test_errors[0], test_errors[-1])
print(f"curve_peak: OK (peak {max(test_errors):.2f} at width {peak_width})")

# %% [markdown]
# **Self-check: ridge flattens the peak.** The same random draws, only `lam` differs.

# %% reglab="selfcheck" item="curve_ridge"
data = teacher_data()
plain = test_error_curve(small_widths, *data, lam=0.0, generator=torch.Generator(device=DEVICE).manual_seed(5))
ridged = test_error_curve(small_widths, *data, lam=1.0, generator=torch.Generator(device=DEVICE).manual_seed(5))
peak_plain, peak_ridge = max(r["test_error"] for r in plain), max(r["test_error"] for r in ridged)
assert peak_ridge < 0.5 * peak_plain, (peak_ridge, peak_plain)
print(f"curve_ridge: OK (largest test error {peak_plain:.2f} without ridge, {peak_ridge:.3f} with lam = 1)")

# %% [markdown]
# **Self-check: no function modifies its inputs.**

# %% reglab="selfcheck" item="immutability"
x_train_small, y_train_small, x_test_small, y_test_small = (t * 2 + 1 for t in teacher_data(seed=1))
inputs = [x_train_small, y_train_small, x_test_small, y_test_small]
saved = [t.clone() for t in inputs]
random_relu_features(x_train_small, 7, torch.Generator(device=DEVICE).manual_seed(0))
min_norm_least_squares(x_train_small, y_train_small)
ridge(x_train_small, y_train_small, 1.0)
test_error_curve([4, 40], *inputs, seeds=1)
for name, now, before in zip(["x_train", "y_train", "x_test", "y_test"], inputs, saved):
    assert torch.equal(now, before), f"{name} was modified in place"
print("immutability: OK")

# %% [markdown]
# ## 6. Double descent on MNIST-1D
#
# Widths from 10 to 10 N, three feature draws each, with minimum-norm least
# squares and with ridge for a few values of $\lambda$. The right panel shows
# why the peak happens: the smallest singular value of the training features
# $\phi$ (the size of the smallest nonzero direction the fit has to invert)
# collapses at $P = N$, and the norm of the minimum-norm solution explodes
# with it.

# %%
SEEDS = 3 if PROFILE == "ci" else 5
fractions = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.4, 1.7, 2, 3, 5, 7, 10]
widths = sorted({max(1, round(f * N_TRAIN)) for f in fractions})
lams = [0.0, 1e-2, 1e-1, 1.0]

start = time.perf_counter()
curves = {lam: test_error_curve(widths, x_train, y_train, x_test, y_test, lam=lam, seeds=SEEDS,
                                generator=torch.Generator(device=DEVICE).manual_seed(0)) for lam in lams}
smallest_singular, solution_norm = [], []
feature_generator = torch.Generator(device=DEVICE).manual_seed(1)
for width in widths:
    phi, _ = random_relu_features(x_train, width, feature_generator)
    singular_values = torch.linalg.svdvals(phi)
    smallest_singular.append(singular_values[min(width, N_TRAIN) - 1].item())
    solution_norm.append(min_norm_least_squares(phi, y_train).norm().item())
print(f"{len(lams)} curves of {len(widths)} widths x {SEEDS} seeds in {time.perf_counter() - start:.1f} s on {DEVICE}")

fig, (ax_test, ax_train, ax_why) = plt.subplots(1, 3, figsize=(16, 4.2))
for lam, rows in curves.items():
    label = "min-norm (lam = 0)" if lam == 0 else f"ridge, lam = {lam:g}"
    ax_test.plot(widths, [r["test_error"] for r in rows], "o-" if lam == 0 else ".-", label=label)
    ax_train.plot(widths, [r["train_error"] for r in rows], "o-" if lam == 0 else ".-", label=label)
ax_test.set(yscale="log", ylabel="test mean squared error",
            title=f"double descent on MNIST-1D (N = {N_TRAIN}, {int(LABEL_NOISE * 100)}% label noise)")
ax_train.set(ylabel="train mean squared error", title="the training set is interpolated from P = N on")
ax_why.plot(widths, smallest_singular, "o-", label="smallest singular value of phi")
ax_why.plot(widths, solution_norm, "s-", label="||w|| of the min-norm fit")
ax_why.set(yscale="log", title="why the peak: phi is nearly singular at P = N")
for ax in (ax_test, ax_train, ax_why):
    ax.axvline(N_TRAIN, color="grey", lw=0.8, label="P = N")
    ax.set(xscale="log", xlabel="number of random features P")
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

peak = max(curves[0.0], key=lambda r: r["test_error"])
print(f"min-norm test error peaks at width {peak['width']} (N = {N_TRAIN}): {peak['test_error']:.2f}; "
      f"at width {widths[-1]}: {curves[0.0][-1]['test_error']:.3f}; "
      f"with lam = 1 the largest is {max(r['test_error'] for r in curves[1.0]):.3f}")

# %% [markdown]
# ## 7. Written questions
#
# Answer in a few sentences each, in the cells below (graded by hand).
#
# **Q1.** Why does the test error of the minimum-norm fit peak when the
# number of features equals the number of training samples, and why does it
# come down again when there are many more features than samples?

# %% [markdown] reglab="written" item="q_peak" points=2
# At P = N the feature matrix phi is square and, being random, nearly
# singular: its smallest singular value is close to 0. Interpolating the
# (noisy) training targets exactly then requires huge weights along that
# direction, w = phi^+ y divides the noise by the tiny singular value, so the
# norm of w explodes and the noise is amplified at test time (the variance
# term blows up). Below N the fit averages the noise; above N there are many
# interpolating solutions and the minimum-norm one can spread the fit over
# many directions, the smallest singular value of phi grows again (a wide
# random matrix is well conditioned), ||w|| shrinks and the test error falls:
# the second descent.

# %% [markdown]
# **Q2.** Why does ridge regression remove the peak? How do the minimum-norm
# solution and gradient descent from zero relate to ridge?

# %% [markdown] reglab="written" item="q_ridge" points=2
# Ridge solves (phi^T phi + lam I) w = phi^T y: each singular direction is
# scaled by s / (s^2 + lam) instead of 1 / s, so tiny singular values no
# longer blow up the weights (at most 1 / (2 sqrt(lam))). The fit stops
# interpolating the noise near P = N and the norm of w stays bounded, so the
# peak flattens; a well-tuned lam gives a test error that decreases
# monotonically with P. The minimum-norm solution is the limit of ridge as
# lam -> 0, and it is also where gradient descent from w = 0 converges (its
# iterates stay in the row space of phi), so the optimizer itself acts as a
# weak regularizer; stopping gradient descent early acts like a larger lam.

# %% [markdown]
# **Q3.** What does double descent say about the advice "more parameters
# than data points means overfitting"? Relate it to how deep networks are
# regularized in the lecture (weight decay, early stopping, label noise).

# %% [markdown] reglab="written" item="q_overparam" points=2
# The advice holds only near the interpolation threshold: the worst model
# size is the one that can just barely fit the training data, not the
# largest. Far beyond it, a model with many more parameters than samples and
# a bias toward small-norm solutions (implicit from SGD, explicit from weight
# decay) generalizes better again, which is the regime deep networks live in.
# Label noise makes the peak much higher, because interpolating the wrong
# labels needs large weights; weight decay (ridge) and early stopping remove
# or soften the peak, which is why deep networks trained with them rarely
# show it; the same curve also appears over training epochs (epoch-wise
# double descent), where early stopping near the peak would be misleading.
