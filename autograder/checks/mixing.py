"""Hidden checks for lab 06d: label smoothing, Mixup and CutMix.

Seven items, one per student function. The deterministic ones (smooth_labels,
soft_cross_entropy, mixup, cutmix, mixed_cross_entropy) are compared with
``solutions.mixing`` evaluated in float64, on fresh random inputs of several
shapes, float32 and float64, a batch of one, and they must leave their inputs
untouched. The two samplers are checked statistically and for replay (the
same seed gives the same draw, so all randomness comes from ``generator``).

False-alarm rate. Every statistical test rejects at p < ``ALPHA`` = 1e-6:

* sample_mixup: a Kolmogorov-Smirnov test of 700 lam draws against
  Beta(alpha, alpha) at each of alpha = 0.2 and 2.0, and a rank-correlation
  (Spearman) test that a permutation of 1000 does not follow its index:
  at most 3e-6 per grading for a correct sampler.
* sample_cutmix_box: a chi-square test that the centres of 800 small boxes
  are uniform over a 4 x 4 grid, and two binomial tests that the share of
  500 boxes touching the top/bottom and the left/right edges is what a
  uniform centre gives. The binomial tests are composite: any share in
  [(s - 2) / H, (s + 2) / H], s = sqrt(1 - lam) * H the box side, is accepted,
  so the pixel rounding of a correct implementation (integer or continuous
  centre, round or floor of the side) is never blamed. At most 3e-6 per grading.

So a correct submission loses a point by chance at most once in about
170,000 gradings; tests/test_checks_over_seeds.py measures it over many seeds
(REGLAB_SEEDS=200). The samples are large enough that each wrong sampler in
examples/06d fails every seed (a uniform lam, a box moved to fit inside the
image, a centre column tied to the row...). The other checks are exact.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from scipy import stats

from autograder.checks.base import (CheckFailed, Item, LabChecks, assert_tensor_close, close, describe,
                                    unpack)
from autograder.probes import Call, Gen, Outcome
from solutions import mixing as reference

SMOOTH, SOFT_CE, SAMPLE_MIXUP, MIXUP = "smooth_labels", "soft_cross_entropy", "sample_mixup", "mixup"
SAMPLE_BOX, CUTMIX, MIXED_CE = "sample_cutmix_box", "cutmix", "mixed_cross_entropy"

ALPHA = 1e-6                                   # false-alarm rate of each statistical test
MIXUP_ALPHAS = (0.2, 2.0)                      # Beta(alpha, alpha) checked at these alphas
LAM_DRAWS, PERM_SIZE = 700, 1000
CENTRE_DRAWS, SIZE_DRAWS, SIZE_LAM, EDGE_DRAWS = 800, 500, 0.64, 30
SIDE_TOLERANCE = 2.0                           # pixels a correct box side may differ from sqrt(1 - lam) * side

# What each function must not call: the library op it re-implements.
_LIBRARY_CE = r"cross_entropy|CrossEntropyLoss|nll_loss|NLLLoss|kl_div|KLDivLoss"
_LIBRARY_MIXING = r"MixUp|CutMix|_sample_dirichlet"   # torchvision.transforms.v2 draws through torch.distributions

_DRAW_LAMS = "torch.tensor([float(S['sample_mixup'](A[1], A[2], A[0])[0]) for _ in range(A[3])], dtype=torch.float64)"
_DRAW_BOXES = ("torch.tensor([[int(v) for v in S['sample_cutmix_box'](A[1], A[2], A[3], A[0])] "
               "for _ in range(A[4])], dtype=torch.int64)")


def _randint(gen, low, high):
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _uniform(gen, low, high):
    return low + (high - low) * float(torch.rand(1, generator=gen, dtype=torch.float64))


def _seed(gen):
    return _randint(gen, 0, 2**62)


def _probs(gen, n, k, dtype):
    """Random label distributions (N, K): rows of a softmax, strictly positive, summing to 1."""
    return torch.softmax(2 * torch.randn(n, k, generator=gen, dtype=torch.float64), dim=1).to(dtype)


def _labels(gen, n, k):
    return torch.randint(k, (n,), generator=gen)


def _dtype_name(dtype):
    return str(dtype).removeprefix("torch.")


def _single_device(outcome: Outcome, index: int | None = None):
    devices = outcome.devices
    if index is not None:
        devices = devices[index] if isinstance(devices, tuple) and len(devices) > index else None
    return devices if isinstance(devices, str) else None


def _require_unchanged(func, outcome, names: dict[int, str], originals: dict[int, torch.Tensor], where):
    for position, name in names.items():
        after = outcome.args_after[position] if len(outcome.args_after) > position else None
        if not isinstance(after, torch.Tensor) or not torch.equal(after, originals[position]):
            raise CheckFailed(f"{func} modified its input {name} in place; work on new tensors "
                              f"(x.clone(), a + b rather than a += b) ({where})")


def _require_scalar(func, value, where):
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{func} should return a tensor of shape (); it returned {describe(value)} ({where})")
    if value.dim() != 0:
        raise CheckFailed(f"{func} should return the batch mean, a scalar tensor of shape (); "
                          f"it returned shape {tuple(value.shape)} ({where})")


# ---------------------------------------------------------------------------------------------
# Deterministic cores

class SmoothLabels(Item):
    id, points, functions = "smooth_labels", 1, (SMOOTH,)
    title = "smooth_labels spreads eps over all K classes, like F.cross_entropy(label_smoothing=eps)"

    def calls(self, gen):
        self.cases = []
        for n_range, k_range, eps in [((2, 40), (2, 12), _uniform(gen, 0.05, 0.4)),
                                      ((2, 40), (13, 30), _uniform(gen, 0.05, 0.4)),
                                      ((2, 20), (2, 10), 0.0),           # no smoothing: one-hot
                                      ((1, 1), (3, 10), _uniform(gen, 0.05, 0.4))]:   # a batch of one
            n, k = _randint(gen, *n_range), _randint(gen, *k_range)
            self.cases.append((_labels(gen, n, k), k, eps))
        return [Call(f"{self.id}/{i}", SMOOTH, (y, k, eps), note=f"for {y.shape[0]} labels, {k} classes")
                for i, (y, k, eps) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (y, k, eps) in enumerate(self.cases):
            where = f"case {i + 1} of {len(self.cases)}: {y.shape[0]} labels, {k} classes, eps = {eps:.2f}"
            outcome = outcomes[f"{self.id}/{i}"]
            got = outcome.value
            expected = reference.smooth_labels(y, k, eps).double()
            _require_unchanged(SMOOTH, outcome, {0: "y"}, {0: y}, where)
            if isinstance(got, torch.Tensor) and got.dtype != torch.float32:
                raise CheckFailed(f"smooth_labels returned {_dtype_name(got.dtype)}; return float32, "
                                  f"torch's default float type ({where})")
            if isinstance(got, torch.Tensor) and got.shape == expected.shape and eps > 0:
                other = (1 - eps) * torch.nn.functional.one_hot(y, k).double() \
                    + eps / (k - 1) * (1 - torch.nn.functional.one_hot(y, k).double())
                if close(got, other, ctx.float32) and not close(other, expected, ctx.float32):
                    raise CheckFailed("eps is spread over the K - 1 wrong classes; spread it over all K: "
                                      f"(1 - eps) * one_hot + eps / K, so the true class keeps 1 - eps + eps / K ({where})")
            assert_tensor_close("smooth_labels(...)", got, expected, ctx, dtype=torch.float32,
                                device=_single_device(outcome), where=where)


class SoftCrossEntropy(Item):
    id, points, functions = "soft_cross_entropy", 2, (SOFT_CE,)
    title = "soft_cross_entropy: batch mean of -sum p log softmax(z), finite for large logits"

    def calls(self, gen):
        self.cases = []
        for n_range, k_range, scale, dtype, smoothed in [
                ((2, 40), (2, 12), 3.0, torch.float32, False),
                ((2, 40), (2, 12), 3.0, torch.float64, False),
                ((2, 20), (3, 12), 3.0, torch.float32, True),      # smoothed one-hot targets
                ((4, 20), (3, 12), 300.0, torch.float32, True),    # large logits: log(softmax) underflows
                ((1, 1), (2, 12), 3.0, torch.float32, False)]:     # a batch of one
            n, k = _randint(gen, *n_range), _randint(gen, *k_range)
            logits = (scale * torch.randn(n, k, generator=gen, dtype=torch.float64)).to(dtype)
            if smoothed:
                target = reference.smooth_labels(_labels(gen, n, k), k, _uniform(gen, 0.05, 0.3)).to(dtype)
            else:
                target = _probs(gen, n, k, dtype)
            self.cases.append((logits, target))
        return [Call(f"{self.id}/{i}", SOFT_CE, (logits, target), note=f"on logits of shape {tuple(logits.shape)}")
                for i, (logits, target) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (logits, target) in enumerate(self.cases):
            n, k = logits.shape
            big = logits.abs().max() > 100
            where = (f"case {i + 1} of {len(self.cases)}: {n} x {k} logits, {_dtype_name(logits.dtype)}"
                     + (", logits in the hundreds" if big else ""))
            outcome = outcomes[f"{self.id}/{i}"]
            _require_unchanged(SOFT_CE, outcome, {0: "logits", 1: "target_probs"}, {0: logits, 1: target}, where)
            got = outcome.value
            _require_scalar(SOFT_CE, got, where)
            expected = reference.soft_cross_entropy(logits.double(), target.double())
            if not torch.isfinite(got).all() and big:
                raise CheckFailed("the loss is NaN or inf for large logits: log(softmax(z)) takes the log of an "
                                  "underflowed 0; use torch.log_softmax, which subtracts the max first "
                                  f"({where})")
            tol = ctx.tolerance(logits.dtype)
            if n > 1 and close(got, expected * n, tol) and not close(expected * n, expected, tol):
                raise CheckFailed(f"the loss is summed over the batch; take the mean over the batch ({where})")
            assert_tensor_close("the loss", got, expected, ctx, dtype=logits.dtype,
                                device=_single_device(outcome), where=where)


def _mix_where(i, total, x, k):
    return f"case {i + 1} of {total}: x of shape {tuple(x.shape)}, {k} classes, {_dtype_name(x.dtype)}"


class Mixup(Item):
    id, points, functions = "mixup", 2, (MIXUP,)
    title = "mixup mixes inputs and labels with lam and the partner perm[i]"

    def calls(self, gen):
        self.cases = []
        for shape, dtype, lam in [
                ((_randint(gen, 3, 12), _randint(gen, 1, 3), _randint(gen, 4, 9), _randint(gen, 10, 14)),
                 torch.float32, _uniform(gen, 0.05, 0.45)),
                ((_randint(gen, 3, 12), _randint(gen, 2, 30)), torch.float64, _uniform(gen, 0.55, 0.95)),
                ((_randint(gen, 3, 12), 3, 5, 7), torch.float32, 1.0),          # lam = 1: nothing mixed in
                ((1, _randint(gen, 2, 3), 6, 6), torch.float32, _uniform(gen, 0.1, 0.9))]:  # a batch of one
            n, k = shape[0], _randint(gen, 2, 10)
            x = torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)
            perm = torch.randperm(n, generator=gen)
            self.cases.append((x, _probs(gen, n, k, dtype), lam, perm))
        return [Call(f"{self.id}/{i}", MIXUP, case, note=f"on x of shape {tuple(case[0].shape)}")
                for i, case in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (x, y, lam, perm) in enumerate(self.cases):
            where = _mix_where(i, len(self.cases), x, y.shape[1])
            outcome = outcomes[f"{self.id}/{i}"]
            _require_unchanged(MIXUP, outcome, {0: "x", 1: "y_probs", 3: "perm"}, {0: x, 1: y, 3: perm}, where)
            x_mix, y_mix = unpack(outcome.value, 2, MIXUP)
            expected_x, expected_y = reference.mixup(x.double(), y.double(), lam, perm)
            tol = ctx.tolerance(x.dtype)
            swapped = (1 - lam) * x.double() + lam * x.double()[perm]
            if isinstance(x_mix, torch.Tensor) and x_mix.shape == x.shape \
                    and close(x_mix, swapped, tol) and not close(swapped, expected_x, tol):
                raise CheckFailed("the weights are swapped: sample i keeps weight lam, its partner x[perm[i]] "
                                  f"gets 1 - lam ({where})")
            if isinstance(y_mix, torch.Tensor) and y_mix.shape == y.shape \
                    and close(y_mix, y.double(), tol) and not close(y.double(), expected_y, tol):
                raise CheckFailed(f"y_mix is y_probs unchanged; mix the labels with the same lam and perm as x ({where})")
            devices = outcome.devices if isinstance(outcome.devices, tuple) else (None, None)
            assert_tensor_close("x_mix", x_mix, expected_x, ctx, dtype=x.dtype, device=devices[0], where=where)
            assert_tensor_close("y_mix", y_mix, expected_y, ctx, dtype=y.dtype, device=devices[1], where=where)


def _box_where(i, total, x, box):
    y0, y1, x0, x1 = box
    return (f"case {i + 1} of {total}: x of shape {tuple(x.shape)}, {_dtype_name(x.dtype)}, "
            f"a {y1 - y0} x {x1 - x0} box")


class Cutmix(Item):
    id, points, functions = "cutmix", 2, (CUTMIX,)
    title = "cutmix pastes the box from x[perm] and mixes the labels with the area kept"

    def calls(self, gen):
        self.cases = []
        for dtype, kind in [(torch.float32, "inside"), (torch.float64, "inside"), (torch.float32, "border"),
                            (torch.float32, "empty"), (torch.float32, "whole"), (torch.float32, "one")]:
            n = 1 if kind == "one" else _randint(gen, 3, 10)
            height, width = _randint(gen, 6, 12), _randint(gen, 13, 20)       # never square: axes cannot hide
            x = torch.randn(n, _randint(gen, 1, 3), height, width, generator=gen, dtype=torch.float64).to(dtype)
            y0, x0 = _randint(gen, 1, height // 2 - 1), _randint(gen, 1, width // 2 - 1)
            y1, x1 = _randint(gen, y0 + 1, height - 1), _randint(gen, x0 + 2, width - 1)
            if y1 - y0 == x1 - x0:
                x1 += 1                                                       # a non-square box too
            box = {"inside": (y0, y1, x0, x1), "one": (y0, y1, x0, x1), "border": (0, y1, x0, width),
                   "empty": (y0, y0, x0, x1), "whole": (0, height, 0, width)}[kind]
            k = _randint(gen, 2, 10)
            self.cases.append((x, _probs(gen, n, k, dtype), box, torch.randperm(n, generator=gen)))
        return [Call(f"{self.id}/{i}", CUTMIX, case, note=f"on x of shape {tuple(case[0].shape)}")
                for i, case in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (x, y, box, perm) in enumerate(self.cases):
            where = _box_where(i, len(self.cases), x, box)
            outcome = outcomes[f"{self.id}/{i}"]
            _require_unchanged(CUTMIX, outcome, {0: "x", 1: "y_probs", 3: "perm"}, {0: x, 1: y, 3: perm}, where)
            x_mix, y_mix, lam = unpack(outcome.value, 3, CUTMIX)
            expected_x, expected_y, expected_lam = reference.cutmix(x.double(), y.double(), box, perm)
            if isinstance(x_mix, torch.Tensor) and x_mix.shape == x.shape:
                y0, y1, x0, x1 = box
                swapped = x.double().clone()
                swapped[..., x0:x1, y0:y1] = x.double()[perm][..., x0:x1, y0:y1]
                tol = ctx.tolerance(x.dtype)
                if close(x_mix, swapped, tol) and not close(swapped, expected_x, tol):
                    raise CheckFailed("the box's rows and columns are swapped: rows y0:y1 index the height "
                                      f"(dim 2), columns x0:x1 the width (dim 3) ({where})")
            if isinstance(lam, torch.Tensor) and lam.dim() == 0:
                lam = lam.item()
            if not isinstance(lam, numbers.Real) or isinstance(lam, bool):
                raise CheckFailed(f"lam_actual should be a number; cutmix returned {describe(lam)} ({where})")
            if abs(lam - (1 - expected_lam)) < 1e-6 < abs(lam - expected_lam):
                raise CheckFailed("lam_actual is the box's share of the image; it is the share each image keeps "
                                  f"of its own: 1 - box area / (H * W) ({where})")
            if abs(lam - expected_lam) > 1e-6:
                raise CheckFailed(f"lam_actual is wrong by {abs(lam - expected_lam):.3f}: it is 1 - box area / (H * W), "
                                  f"the area after clipping ({where})")
            devices = outcome.devices if isinstance(outcome.devices, tuple) and len(outcome.devices) == 3 else (None,) * 3
            assert_tensor_close("x_mix", x_mix, expected_x, ctx, dtype=x.dtype, device=devices[0], where=where)
            assert_tensor_close("y_mix", y_mix, expected_y, ctx, dtype=y.dtype, device=devices[1], where=where)


class MixedCrossEntropy(Item):
    id, points, functions = "mixed_cross_entropy", 1, (MIXED_CE,)
    title = "mixed_cross_entropy = lam * CE(y_a) + (1 - lam) * CE(y_b)"

    def calls(self, gen):
        self.cases = []
        for n_range, scale, dtype, lam in [((2, 40), 3.0, torch.float32, _uniform(gen, 0.05, 0.45)),
                                           ((2, 40), 3.0, torch.float64, _uniform(gen, 0.55, 0.95)),
                                           ((4, 20), 300.0, torch.float32, _uniform(gen, 0.1, 0.9)),
                                           ((1, 1), 3.0, torch.float32, _uniform(gen, 0.1, 0.9))]:
            n, k = _randint(gen, *n_range), _randint(gen, 2, 12)
            logits = (scale * torch.randn(n, k, generator=gen, dtype=torch.float64)).to(dtype)
            y_a = _labels(gen, n, k)
            self.cases.append((logits, y_a, y_a[torch.randperm(n, generator=gen)], lam))
        return [Call(f"{self.id}/{i}", MIXED_CE, case, note=f"on logits of shape {tuple(case[0].shape)}")
                for i, case in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (logits, y_a, y_b, lam) in enumerate(self.cases):
            n, k = logits.shape
            where = (f"case {i + 1} of {len(self.cases)}: {n} x {k} logits, {_dtype_name(logits.dtype)}"
                     + (", logits in the hundreds" if logits.abs().max() > 100 else ""))
            outcome = outcomes[f"{self.id}/{i}"]
            _require_unchanged(MIXED_CE, outcome, {0: "logits", 1: "y_a", 2: "y_b"}, {0: logits, 1: y_a, 2: y_b}, where)
            got = outcome.value
            _require_scalar(MIXED_CE, got, where)
            expected = reference.mixed_cross_entropy(logits.double(), y_a, y_b, lam)
            swapped = reference.mixed_cross_entropy(logits.double(), y_a, y_b, 1 - lam)
            tol = ctx.tolerance(logits.dtype)
            if torch.isfinite(got) and not close(swapped, expected, tol) and close(got, swapped, tol):
                raise CheckFailed(f"the weights are swapped: lam goes with y_a, 1 - lam with y_b ({where})")
            assert_tensor_close("the loss", got, expected, ctx, dtype=logits.dtype,
                                device=_single_device(outcome), where=where)


# ---------------------------------------------------------------------------------------------
# Samplers

def _check_replay(func, first, again, what):
    if not _same(first, again):
        raise CheckFailed(f"two calls of {func} with generators seeded alike gave different {what}: draw every "
                          "random number from the generator argument (generator=generator), not from torch's "
                          "global random state, numpy or random")


def _same(a, b):
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    return type(a) is type(b) and a == b


class SampleMixup(Item):
    id, points, functions = "sample_mixup", 2, (SAMPLE_MIXUP,)
    title = "sample_mixup: lam ~ Beta(alpha, alpha) as a float, perm a uniformly random permutation"

    def calls(self, gen):
        self.n = _randint(gen, 5, 40)
        self.alpha = _uniform(gen, 0.1, 3.0)
        seed, other = _seed(gen), _seed(gen)
        calls = [Call(f"{self.id}/first", SAMPLE_MIXUP, (self.n, self.alpha, Gen(seed))),
                 Call(f"{self.id}/again", SAMPLE_MIXUP, (self.n, self.alpha, Gen(seed))),
                 Call(f"{self.id}/other", SAMPLE_MIXUP, (self.n, self.alpha, Gen(other)))]
        calls += [Call(f"{self.id}/lam{a}", SAMPLE_MIXUP, (Gen(_seed(gen)), 4, a, LAM_DRAWS), expr=_DRAW_LAMS,
                       note=f"(drawing lam {LAM_DRAWS} times at alpha = {a})") for a in MIXUP_ALPHAS]
        calls.append(Call(f"{self.id}/big", SAMPLE_MIXUP, (PERM_SIZE, 0.2, Gen(_seed(gen))),
                          note=f"on a batch of {PERM_SIZE}"))
        return calls

    def judge(self, outcomes, ctx):
        first = unpack(outcomes[f"{self.id}/first"].value, 2, SAMPLE_MIXUP)
        lam, perm = first
        if not isinstance(lam, float):
            raise CheckFailed(f"lam should be a Python float (use .item() on a tensor); sample_mixup returned {describe(lam)}")
        if not 0.0 <= lam <= 1.0:
            raise CheckFailed(f"lam = {lam:.3g} is outside [0, 1]; a Beta(alpha, alpha) draw lies in [0, 1]")
        if not isinstance(perm, torch.Tensor) or perm.dtype != torch.int64 or tuple(perm.shape) != (self.n,):
            raise CheckFailed(f"perm should be a LongTensor of shape (batch_size,) = ({self.n},); "
                              f"sample_mixup returned {describe(perm)}"
                              + (f" of {_dtype_name(perm.dtype)}" if isinstance(perm, torch.Tensor) else ""))
        if not torch.equal(perm.sort().values, torch.arange(self.n)):
            raise CheckFailed(f"perm is not a permutation of 0 .. {self.n - 1}: every index must appear exactly once "
                              "(torch.randperm)")
        _check_replay(SAMPLE_MIXUP, first, unpack(outcomes[f"{self.id}/again"].value, 2, SAMPLE_MIXUP), "results")
        other = unpack(outcomes[f"{self.id}/other"].value, 2, SAMPLE_MIXUP)
        if other[0] == lam:
            raise CheckFailed("generators with different seeds gave the same lam; draw lam from the generator")
        for a in MIXUP_ALPHAS:
            self._judge_lams(outcomes[f"{self.id}/lam{a}"].value, a)
        self._judge_big_perm(unpack(outcomes[f"{self.id}/big"].value, 2, SAMPLE_MIXUP)[1])

    @staticmethod
    def _judge_lams(lams, a):
        lams = lams.numpy()
        if not np.isfinite(lams).all() or lams.min() < 0 or lams.max() > 1:
            raise CheckFailed(f"at alpha = {a}, some lam draws were NaN or outside [0, 1]")
        p = stats.kstest(lams, "beta", args=(a, a)).pvalue
        if p < ALPHA:
            var = 1 / (4 * (2 * a + 1))
            raise CheckFailed(f"lam does not follow Beta({a}, {a}): over {len(lams)} draws its mean was "
                              f"{lams.mean():.3f} and variance {lams.var():.3f} (Beta({a}, {a}) has 0.5 and {var:.3f}); "
                              f"a Kolmogorov-Smirnov test rejects it at p = {p:.1e}")

    @staticmethod
    def _judge_big_perm(perm):
        if not isinstance(perm, torch.Tensor) or tuple(perm.shape) != (PERM_SIZE,) or \
                not torch.equal(perm.sort().values, torch.arange(PERM_SIZE)):
            raise CheckFailed(f"on a batch of {PERM_SIZE}, perm was not a permutation of 0 .. {PERM_SIZE - 1}")
        rho, p = stats.spearmanr(np.arange(PERM_SIZE), perm.numpy())
        if p < ALPHA:
            raise CheckFailed(f"perm is not a uniformly random shuffle: on a batch of {PERM_SIZE}, perm[i] follows i "
                              f"(rank correlation {rho:.2f}, p = {p:.1e}); use torch.randperm(batch_size, generator=generator)")


class SampleCutmixBox(Item):
    id, points, functions = "sample_cutmix_box", 2, (SAMPLE_BOX,)
    title = "sample_cutmix_box: sides sqrt(1 - lam) of the image's, uniform centre, clipped to the image"

    def calls(self, gen):
        self.height, self.width = _randint(gen, 20, 32), _randint(gen, 36, 48)   # never square
        h, w = self.height, self.width
        self.small_lam = 1 - 1 / 64                                           # sides 1/8 of the image's
        seed, lam = _seed(gen), _uniform(gen, 0.2, 0.8)
        return [
            Call(f"{self.id}/first", SAMPLE_BOX, (h, w, lam, Gen(seed))),
            Call(f"{self.id}/again", SAMPLE_BOX, (h, w, lam, Gen(seed))),
            Call(f"{self.id}/empty", SAMPLE_BOX, (Gen(_seed(gen)), h, w, 1.0, EDGE_DRAWS), expr=_DRAW_BOXES,
                 note="(at lam = 1)"),
            Call(f"{self.id}/full", SAMPLE_BOX, (Gen(_seed(gen)), h, w, 0.0, EDGE_DRAWS), expr=_DRAW_BOXES,
                 note="(at lam = 0)"),
            Call(f"{self.id}/size", SAMPLE_BOX, (Gen(_seed(gen)), h, w, SIZE_LAM, SIZE_DRAWS), expr=_DRAW_BOXES,
                 note=f"(drawing {SIZE_DRAWS} boxes at lam = {SIZE_LAM})"),
            Call(f"{self.id}/centres", SAMPLE_BOX, (Gen(_seed(gen)), h, w, self.small_lam, CENTRE_DRAWS),
                 expr=_DRAW_BOXES, note=f"(drawing {CENTRE_DRAWS} small boxes)"),
        ]

    def judge(self, outcomes, ctx):
        h, w = self.height, self.width
        first = outcomes[f"{self.id}/first"]
        box = unpack(first.value, 4, SAMPLE_BOX)
        if not all(type(v) is int for v in box):
            kinds = ", ".join(sorted({describe(v).split(" ")[0] if not isinstance(v, torch.Tensor) else "tensor"
                                      for v in box}))
            raise CheckFailed(f"the box should be 4 Python ints (y0, y1, x0, x1); sample_cutmix_box returned {kinds} "
                              "(use int(...) or .item())")
        self._bounds(torch.tensor([box]), "")
        _check_replay(SAMPLE_BOX, box, unpack(outcomes[f"{self.id}/again"].value, 4, SAMPLE_BOX), "boxes")

        empty = outcomes[f"{self.id}/empty"].value
        self._bounds(empty, " at lam = 1")
        if ((empty[:, 1] - empty[:, 0]) * (empty[:, 3] - empty[:, 2])).any():
            raise CheckFailed("at lam = 1 the box must be empty (area 0): nothing is pasted, each image keeps all of itself")

        full = outcomes[f"{self.id}/full"].value
        self._bounds(full, " at lam = 0")
        touches = ((full[:, 0] == 0) | (full[:, 1] == h)) & ((full[:, 2] == 0) | (full[:, 3] == w))
        if not touches.all() or ((full[:, 1] - full[:, 0]) < h // 2 - 1).any() or ((full[:, 3] - full[:, 2]) < w // 2 - 1).any():
            raise CheckFailed("at lam = 0 the unclipped box is as large as the image, so once clipped it reaches an "
                              "edge on each axis and covers at least half of each side; yours did not")

        self._judge_sizes(outcomes[f"{self.id}/size"].value)
        self._judge_centres(outcomes[f"{self.id}/centres"].value)

    def _bounds(self, boxes, when):
        h, w = self.height, self.width
        y0, y1, x0, x1 = boxes.T
        if not ((0 <= y0) & (y0 <= y1) & (y1 <= h) & (0 <= x0) & (x0 <= x1) & (x1 <= w)).all():
            raise CheckFailed(f"a box{when} is not inside the image: clip it so that 0 <= y0 <= y1 <= H and "
                              "0 <= x0 <= x1 <= W")

    def _judge_sizes(self, boxes):
        h, w = self.height, self.width
        self._bounds(boxes, f" at lam = {SIZE_LAM}")
        ratio = math.sqrt(1 - SIZE_LAM)
        side_h, side_w = ratio * h, ratio * w
        y0, y1, x0, x1 = boxes.T
        heights, widths = (y1 - y0).double(), (x1 - x0).double()
        inside = (y0 > 0) & (y1 < h) & (x0 > 0) & (x1 < w)
        shape = f"on a {h} x {w} image at lam = {SIZE_LAM}"
        wanted = f"about {side_h:.1f} x {side_w:.1f}: each side sqrt(1 - lam) times the image's"
        if not inside.any():
            raise CheckFailed(f"{shape}, none of {len(boxes)} boxes lay inside the image; with a uniformly random "
                              f"centre about one in eight should. Boxes should be {wanted}")
        bad = ((heights[inside] - side_h).abs() > SIDE_TOLERANCE) | ((widths[inside] - side_w).abs() > SIDE_TOLERANCE)
        if bad.any():
            i = int(bad.nonzero()[0])
            raise CheckFailed(f"{shape}, a box inside the image was {int(heights[inside][i])} x {int(widths[inside][i])} "
                              f"pixels; it should be {wanted}")
        if (heights > side_h + SIDE_TOLERANCE).any() or (widths > side_w + SIDE_TOLERANCE).any():
            raise CheckFailed(f"{shape}, some box was larger than {wanted}")
        for axis, lo, hi, side, size in (("top or bottom", y0, y1, side_h, h), ("left or right", x0, x1, side_w, w)):
            touching = int(((lo == 0) | (hi == size)).sum())
            p_lo, p_hi = max(0.0, (side - 2) / size), min(1.0, (side + 2) / size)
            n = len(boxes)
            if stats.binom.cdf(touching, n, p_lo) < ALPHA / 2 or stats.binom.sf(touching - 1, n, p_hi) < ALPHA / 2:
                raise CheckFailed(f"{shape}, {touching} of {n} boxes reached the {axis} edge; with the centre uniform "
                                  f"over the whole image and the box clipped, about {100 * side / size:.0f}% should "
                                  "(do not keep the box inside the image by moving its centre)")

    def _judge_centres(self, boxes):
        h, w = self.height, self.width
        self._bounds(boxes, " for a small box")
        y0, y1, x0, x1 = boxes.T.double()
        rows = ((y0 + y1) / 2 * 4 / h).floor().clamp(0, 3).long()
        cols = ((x0 + x1) / 2 * 4 / w).floor().clamp(0, 3).long()
        counts = torch.bincount(rows * 4 + cols, minlength=16).numpy()
        p = stats.chisquare(counts).pvalue
        if p < ALPHA:
            by_row = counts.reshape(4, 4).sum(1).tolist()
            by_col = counts.reshape(4, 4).sum(0).tolist()
            raise CheckFailed(f"box centres are not uniform over the image: of {len(boxes)} small boxes, the four "
                              f"horizontal bands held {by_row} and the four vertical bands {by_col} "
                              f"(chi-square test over a 4 x 4 grid, p = {p:.1e}); draw the centre row from "
                              "0 .. H - 1 and the column from 0 .. W - 1, independently")


def make_checks() -> LabChecks:
    """A fresh set of items: they keep the cases they drew, so never share one between gradings."""
    return LabChecks(
        lab="06d-mixup-cutmix-label-smoothing",
        items=(SmoothLabels(), SoftCrossEntropy(), SampleMixup(), Mixup(), SampleCutmixBox(), Cutmix(),
               MixedCrossEntropy()),
        forbidden={SMOOTH: _LIBRARY_CE, SOFT_CE: _LIBRARY_CE, MIXED_CE: _LIBRARY_CE,
                   MIXUP: _LIBRARY_MIXING, CUTMIX: _LIBRARY_MIXING},
    )
