"""Hidden checks for lab 06d: label smoothing, Mixup and CutMix.

One item per student function. The deterministic ones are compared with ``solutions.mixing`` in float64 on fresh
inputs (several shapes, float32 and float64) and must leave every tensor argument as it was; edge cases are declared
once (``BATCH_OF_ONE``, ``LAM_EDGES``, ``BOXES``) and met by every function taking the argument. The samplers are
tested statistically, and for their generator: seeded alike, the same draws; seeded differently, other ones.

False-alarm rate. Every statistical test rejects at p < ``ALPHA`` = 1e-6: for sample_mixup a Kolmogorov-Smirnov
test of 700 lams against Beta(alpha, alpha) at alpha = 0.2 and 2.0 and a rank-correlation test that a permutation
of 1000 does not follow its index; for sample_cutmix_box a chi-square test that the centres of 800 small boxes are
uniform over a 4 x 4 grid and two binomial tests that the share of 500 boxes touching each pair of edges is what a
uniform centre gives. The binomial tests accept any share in [(s - 2) / H, (s + 2) / H], s = sqrt(1 - lam) * H the
box side, so a correct implementation's rounding (integer or continuous centre, round or floor) is never blamed.
A correct submission loses a point by chance at most once in about 170,000 gradings (tests/test_checks_over_seeds.py,
REGLAB_SEEDS=200); each wrong sampler of examples/06d fails every seed. Two perms of 20 or more agree by chance with
probability below 1e-18, eight boxes in a row less still; the rest is exact.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from autograder.checks import kit
from autograder.checks.base import CheckFailed, Item, LabChecks, assert_tensor_close, describe, unpack
from autograder.checks.kernel import mixing as helpers
from autograder.probes import Call, Gen
from solutions import mixing as reference

SMOOTH, SOFT_CE, SAMPLE_MIXUP, MIXUP = "smooth_labels", "soft_cross_entropy", "sample_mixup", "mixup"
SAMPLE_BOX, CUTMIX, MIXED_CE = "sample_cutmix_box", "cutmix", "mixed_cross_entropy"
PARAMETERS = {SMOOTH: ("y", "num_classes", "eps"), SOFT_CE: ("logits", "target_probs"),
              MIXUP: ("x", "y_probs", "lam", "perm"), CUTMIX: ("x", "y_probs", "box", "perm"),
              MIXED_CE: ("logits", "y_a", "y_b", "lam")}

BATCH_OF_ONE = 1                               # a batch (y, logits, x, batch_size) of one sample
LAM_EDGES = (0.0, 1.0)                         # lam = 0: all of the partner; lam = 1: nothing mixed in
BOXES = ("inside", "clipped", "empty", "whole")   # cutmix's box: clipped at the border, area 0, the whole image

ALPHA = 1e-6                                   # false-alarm rate of each statistical test
MIXUP_ALPHAS = (0.2, 2.0)                      # Beta(alpha, alpha) checked at these alphas
LAM_DRAWS, PERM_SIZE, REPLAY_BOXES = 700, 1000, 8
CENTRE_DRAWS, SIZE_DRAWS, SIZE_LAM, EDGE_DRAWS = 800, 500, 0.64, 30
SMALL_LAM = 1 - 1 / 64                         # boxes with sides 1/8 of the image's
SIDE_TOLERANCE = 2.0                           # pixels a correct box side may differ from sqrt(1 - lam) * side

LIBRARY_CE = r"cross_entropy|CrossEntropyLoss|nll_loss|NLLLoss|kl_div|KLDivLoss"
LIBRARY_MIXING = r"MixUp|CutMix|_sample_dirichlet"   # torchvision.transforms.v2 draws through torch.distributions


def _probs(gen, n, k, dtype):
    """Random label distributions (N, K): rows of a softmax, strictly positive, summing to 1."""
    return torch.softmax(2 * kit.randn(gen, n, k), dim=1).to(dtype)


def _labels(gen, n, k):
    return torch.randint(k, (n,), generator=gen)


def _perm(gen, n):
    """A random permutation that moves some sample (when there are two), so x[perm] differs from x."""
    perm = torch.randperm(n, generator=gen)
    return perm.roll(1) if n > 1 and torch.equal(perm, torch.arange(n)) else perm


def _scalar(func, value, where):
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        raise CheckFailed(f"{func} should return the batch mean, a scalar tensor of shape (); it returned "
                          f"{describe(value)} ({where})")
    return value


def _logit_words(logits):
    big = ["logits in the hundreds"] if logits.abs().max() > 100 else []
    return [f"{logits.shape[0]} x {logits.shape[1]} logits", kit.dtype_name(logits.dtype), *big]


# --- deterministic functions: one call per case, compared with the reference -----------------------------------

class Exact(kit.CaseItem):
    """Cases of one deterministic function: ``table(gen)`` yields each case's arguments and the words that place it
    in a message; ``compare(value, ctx, where, *args)`` judges one, after its tensor arguments are checked, and
    returns (name, got, expected, dtype) for each returned tensor, compared with the reference last."""

    def cases(self, gen):
        return kit.case_calls(self, self.table(gen))

    def check(self, outcome, ctx):
        func, where = self.functions[0], outcome.call.case
        kit.check_args_unchanged(func, outcome, PARAMETERS[func], context=where,
                                 advice="work on new tensors (x.clone(), a + b rather than a += b)")
        tensors = self.compare(outcome.value, ctx, where, *outcome.call.args)
        for i, (name, got, expected, dtype) in enumerate(tensors):
            assert_tensor_close(name, got, expected, ctx, dtype=dtype, where=where,
                                device=kit.device_of(outcome.devices, i if len(tensors) > 1 else None))


class SmoothLabels(Exact):
    id, points, functions = SMOOTH, 1, (SMOOTH,)
    title = "smooth_labels spreads eps over all K classes, like F.cross_entropy(label_smoothing=eps)"

    def table(self, gen):
        rows = [(kit.randint(gen, 2, 40), kit.randint(gen, 2, 12), kit.uniform(gen, 0.05, 0.4)),
                (kit.randint(gen, 2, 40), kit.randint(gen, 13, 30), kit.uniform(gen, 0.05, 0.4)),
                (kit.randint(gen, 2, 20), kit.randint(gen, 2, 10), 0.0),                  # no smoothing: one-hot
                (BATCH_OF_ONE, kit.randint(gen, 3, 10), kit.uniform(gen, 0.05, 0.4))]
        return [((_labels(gen, n, k), k, eps), [f"{n} labels", f"{k} classes", f"eps = {eps:.2f}"])
                for n, k, eps in rows]

    def compare(self, got, ctx, where, y, k, eps):
        expected = reference.smooth_labels(y, k, eps).double()
        if isinstance(got, torch.Tensor) and got.dtype != torch.float32:
            raise CheckFailed(f"smooth_labels returned {kit.dtype_name(got.dtype)}; return float32, "
                              f"torch's default float type ({where})")
        one_hot = F.one_hot(y, k).double()
        kit.known_mistake(got, (1 - eps) * one_hot + eps / (k - 1) * (1 - one_hot), expected, ctx.float32,
                          "eps is spread over the K - 1 wrong classes; spread it over all K: (1 - eps) * one_hot + "
                          "eps / K, so the true class keeps 1 - eps + eps / K", where)
        return [("smooth_labels(...)", got, expected, torch.float32)]


class SoftCrossEntropy(Exact):
    id, points, functions = SOFT_CE, 2, (SOFT_CE,)
    title = "soft_cross_entropy: batch mean of -sum p log softmax(z), finite for large logits"

    def table(self, gen):
        for n, k, scale, dtype, smoothed in [
                (kit.randint(gen, 2, 40), kit.randint(gen, 2, 12), 3.0, torch.float32, False),
                (kit.randint(gen, 2, 40), kit.randint(gen, 2, 12), 3.0, torch.float64, False),
                (kit.randint(gen, 2, 20), kit.randint(gen, 3, 12), 3.0, torch.float32, True),    # smoothed one-hot
                (kit.randint(gen, 4, 20), kit.randint(gen, 3, 12), 300.0, torch.float32, True),  # log(softmax) = -inf
                (BATCH_OF_ONE, kit.randint(gen, 2, 12), 3.0, torch.float32, False)]:
            logits = (scale * kit.randn(gen, n, k)).to(dtype)
            target = (reference.smooth_labels(_labels(gen, n, k), k, kit.uniform(gen, 0.05, 0.3)).to(dtype)
                      if smoothed else _probs(gen, n, k, dtype))
            yield (logits, target), _logit_words(logits)

    def compare(self, value, ctx, where, logits, target):
        got, expected = _scalar(SOFT_CE, value, where), reference.soft_cross_entropy(logits.double(), target.double())
        if len(logits) > 1:
            kit.known_mistake(got, expected * len(logits), expected, ctx.tolerance(logits.dtype),
                              "the loss is summed over the batch; take the mean over the batch", where)
        if not torch.isfinite(got).all() and logits.abs().max() > 100:
            raise CheckFailed("the loss is NaN or inf for large logits: log(softmax(z)) takes the log of an "
                              f"underflowed 0; use torch.log_softmax, which subtracts the max first ({where})")
        return [("the loss", got, expected, logits.dtype)]


class Mixup(Exact):
    id, points, functions = MIXUP, 2, (MIXUP,)
    title = "mixup mixes inputs and labels with lam and the partner perm[i]"

    def table(self, gen):
        for shape, dtype, lam in [
                ((kit.randint(gen, 3, 12), kit.randint(gen, 1, 3), kit.randint(gen, 4, 9), kit.randint(gen, 10, 14)),
                 torch.float32, kit.uniform(gen, 0.05, 0.45)),
                ((kit.randint(gen, 3, 12), kit.randint(gen, 2, 30)), torch.float64, kit.uniform(gen, 0.55, 0.95)),
                *[((kit.randint(gen, 3, 12), 3, 5, 7), torch.float32, lam) for lam in LAM_EDGES],
                ((BATCH_OF_ONE, kit.randint(gen, 2, 3), 6, 6), torch.float32, kit.uniform(gen, 0.1, 0.9))]:
            n, k = shape[0], kit.randint(gen, 2, 10)
            x = kit.randn(gen, *shape, dtype=dtype)
            yield ((x, _probs(gen, n, k, dtype), lam, _perm(gen, n)),
                   [f"x of shape {shape}", f"{k} classes", kit.dtype_name(dtype), f"lam = {lam:.2f}"])

    def compare(self, value, ctx, where, x, y, lam, perm):
        x_mix, y_mix = unpack(value, 2, MIXUP)
        expected_x, expected_y = reference.mixup(x.double(), y.double(), lam, perm)
        tol = ctx.tolerance(x.dtype)
        if lam == 0:
            kit.known_mistake(x_mix, x.double(), expected_x, tol, "at lam = 0 x_mix is x unchanged; lam = 0 keeps "
                              "nothing of sample i: x_mix[i] = x[perm[i]], all of its partner", where)
        kit.known_mistake(x_mix, (1 - lam) * x.double() + lam * x.double()[perm], expected_x, tol, "the weights are "
                          "swapped: sample i keeps weight lam, its partner x[perm[i]] gets 1 - lam", where)
        kit.known_mistake(y_mix, y.double(), expected_y, tol,
                          "y_mix is y_probs unchanged; mix the labels with the same lam and perm as x", where)
        return [("x_mix", x_mix, expected_x, x.dtype), ("y_mix", y_mix, expected_y, y.dtype)]


class Cutmix(Exact):
    id, points, functions = CUTMIX, 2, (CUTMIX,)
    title = "cutmix pastes the box from x[perm] and mixes the labels with the area kept"

    def table(self, gen):
        for dtype, kind, n in [(torch.float32, "inside", kit.randint(gen, 3, 10)),
                               (torch.float64, "inside", kit.randint(gen, 3, 10)),
                               *[(torch.float32, kind, kit.randint(gen, 3, 10)) for kind in BOXES[1:]],
                               (torch.float32, "inside", BATCH_OF_ONE)]:
            height, width = kit.randint(gen, 6, 12), kit.randint(gen, 13, 20)   # never square: axes cannot hide
            x = kit.randn(gen, n, kit.randint(gen, 1, 3), height, width, dtype=dtype)
            y0, x0 = kit.randint(gen, 1, height // 2 - 1), kit.randint(gen, 1, width // 2 - 1)
            y1, x1 = kit.randint(gen, y0 + 1, height - 1), kit.randint(gen, x0 + 2, width - 1)
            if y1 - y0 == x1 - x0:
                x1 += 1                                                           # a non-square box too
            box = {"inside": (y0, y1, x0, x1), "clipped": (0, y1, x0, width), "empty": (y0, y0, x0, x1),
                   "whole": (0, height, 0, width)}[kind]
            yield ((x, _probs(gen, n, kit.randint(gen, 2, 10), dtype), box, _perm(gen, n)),
                   [f"x of shape {tuple(x.shape)}", kit.dtype_name(dtype),
                    f"a {box[1] - box[0]} x {box[3] - box[2]} box"])

    def compare(self, value, ctx, where, x, y, box, perm):
        x_mix, y_mix, lam = unpack(value, 3, CUTMIX)
        expected_x, expected_y, expected_lam = reference.cutmix(x.double(), y.double(), box, perm)
        y0, y1, x0, x1 = box
        swapped = x.double().clone()
        swapped[..., x0:x1, y0:y1] = x.double()[perm][..., x0:x1, y0:y1]
        kit.known_mistake(x_mix, swapped, expected_x, ctx.tolerance(x.dtype), "the box's rows and columns are swapped: "
                          "rows y0:y1 index the height (dim 2), columns x0:x1 the width (dim 3)", where)
        lam = lam.item() if isinstance(lam, torch.Tensor) and lam.dim() == 0 else lam
        if not isinstance(lam, numbers.Real) or isinstance(lam, bool):
            raise CheckFailed(f"lam_actual should be a number; cutmix returned {describe(lam)} ({where})")
        share = "lam_actual is the box's share of the image; it is the share each image keeps of its own"
        kit.check_number(lam, expected_lam, 1e-6, f"lam_actual is wrong by {abs(lam - expected_lam):.3f}: it is "
                         f"1 - box area / (H * W), the area after clipping ({where})",
                         {f"{share}: 1 - box area / (H * W) ({where})": 1 - expected_lam})
        return [("x_mix", x_mix, expected_x, x.dtype), ("y_mix", y_mix, expected_y, y.dtype)]


class MixedCrossEntropy(Exact):
    id, points, functions = MIXED_CE, 1, (MIXED_CE,)
    title = "mixed_cross_entropy = lam * CE(y_a) + (1 - lam) * CE(y_b)"

    def table(self, gen):
        for n, scale, dtype, lam in [(kit.randint(gen, 2, 40), 3.0, torch.float32, kit.uniform(gen, 0.05, 0.45)),
                                     (kit.randint(gen, 2, 40), 3.0, torch.float64, kit.uniform(gen, 0.55, 0.95)),
                                     (kit.randint(gen, 4, 20), 300.0, torch.float32, kit.uniform(gen, 0.1, 0.9)),
                                     (BATCH_OF_ONE, 3.0, torch.float32, kit.uniform(gen, 0.1, 0.9)),
                                     *[(kit.randint(gen, 2, 20), 3.0, torch.float32, lam) for lam in LAM_EDGES]]:
            k = kit.randint(gen, 2, 12)
            logits, y_a = (scale * kit.randn(gen, n, k)).to(dtype), _labels(gen, n, k)
            yield (logits, y_a, y_a[_perm(gen, n)], lam), [*_logit_words(logits), f"lam = {lam:.2f}"]

    def compare(self, value, ctx, where, logits, y_a, y_b, lam):
        got, expected = _scalar(MIXED_CE, value, where), reference.mixed_cross_entropy(logits.double(), y_a, y_b, lam)
        kit.known_mistake(got, reference.mixed_cross_entropy(logits.double(), y_a, y_b, 1 - lam), expected,
                          ctx.tolerance(logits.dtype), "the weights are swapped: lam goes with y_a, 1 - lam with y_b",
                          where)
        return [("the loss", got, expected, logits.dtype)]


# --- samplers: statistics of many draws, and the generator (same seed, same draws; another seed, others) -------

class SampleMixup(Item):
    id, points, functions = SAMPLE_MIXUP, 2, (SAMPLE_MIXUP,)
    title = "sample_mixup: lam ~ Beta(alpha, alpha) as a float, perm a uniformly random permutation"

    def calls(self, gen):
        n, alpha, seed = kit.randint(gen, 20, 40), kit.uniform(gen, 0.1, 3.0), kit.seed(gen)
        calls = [Call(f"{self.id}/{key}", SAMPLE_MIXUP, (size, alpha, Gen(s)), note=note)
                 for key, size, s, note in [("first", n, seed, ""), ("again", n, seed, "with a generator seeded alike"),
                                            ("other", n, kit.seed(gen), "with another seed"),
                                            ("one", BATCH_OF_ONE, kit.seed(gen), "on a batch of one"),
                                            ("big", PERM_SIZE, kit.seed(gen), f"on a batch of {PERM_SIZE}")]]
        return calls + [Call(f"{self.id}/lam{a}", SAMPLE_MIXUP, (Gen(kit.seed(gen)), 4, a, LAM_DRAWS),
                             helper="draw_lams", note=f"(drawing lam {LAM_DRAWS} times at alpha = {a})")
                        for a in MIXUP_ALPHAS]

    def judge(self, outcomes, ctx):
        calls = kit.roles(self, outcomes)
        draw = {key: unpack(calls[key].value, 2, SAMPLE_MIXUP) for key in ("first", "again", "other", "one", "big")}
        for (lam, perm), n in ((draw[key], calls[key].call.args[0]) for key in ("first", "one", "big")):
            if not isinstance(lam, float) or not 0.0 <= lam <= 1.0:
                raise CheckFailed("lam should be a Python float in [0, 1], a Beta(alpha, alpha) draw (use .item() on "
                                  f"a tensor); sample_mixup returned {describe(lam)}")
            if not isinstance(perm, torch.Tensor) or perm.dtype != torch.int64 or \
                    not torch.equal(perm.sort().values, torch.arange(n)):
                raise CheckFailed(f"perm should be a LongTensor of shape (batch_size,) = ({n},) holding each of 0 .. "
                                  f"{n - 1} once (torch.randperm); sample_mixup returned {describe(perm)}"
                                  + (f" of {kit.dtype_name(perm.dtype)}" if isinstance(perm, torch.Tensor) else ""))
        kit.check_replay(SAMPLE_MIXUP, draw["first"], draw["again"])
        kit.check_independent(SAMPLE_MIXUP, draw["first"][0], draw["other"][0], "lam")
        kit.check_independent(SAMPLE_MIXUP, draw["first"][1], draw["other"][1], "perm")
        for a in MIXUP_ALPHAS:
            lams = calls[f"lam{a}"].value.numpy()
            if not np.isfinite(lams).all() or lams.min() < 0 or lams.max() > 1:
                raise CheckFailed(f"at alpha = {a}, some lam draws were NaN or outside [0, 1]")
            p = stats.kstest(lams, "beta", args=(a, a)).pvalue
            if p < ALPHA:
                raise CheckFailed(f"lam does not follow Beta({a}, {a}): over {len(lams)} draws its mean was "
                                  f"{lams.mean():.3f} and variance {lams.var():.3f} (Beta({a}, {a}) has 0.5 and "
                                  f"{1 / (4 * (2 * a + 1)):.3f}); a Kolmogorov-Smirnov test rejects it at p = {p:.1e}")
        rho, p = stats.spearmanr(np.arange(PERM_SIZE), draw["big"][1].numpy())
        if p < ALPHA:
            raise CheckFailed(f"perm is not a uniformly random shuffle: on a batch of {PERM_SIZE}, perm[i] follows i "
                              f"(rank correlation {rho:.2f}, p = {p:.1e}); use torch.randperm(batch_size, "
                              "generator=generator)")


class SampleCutmixBox(Item):
    id, points, functions = SAMPLE_BOX, 2, (SAMPLE_BOX,)
    title = "sample_cutmix_box: sides sqrt(1 - lam) of the image's, uniform centre, clipped to the image"

    def calls(self, gen):
        h, w = kit.randint(gen, 20, 32), kit.randint(gen, 36, 48)               # never square
        lam, seed = kit.uniform(gen, 0.2, 0.8), kit.seed(gen)

        def boxes(key, seed, lam, count, note):
            return Call(f"{self.id}/{key}", SAMPLE_BOX, (Gen(seed), h, w, lam, count), helper="draw_boxes", note=note)

        return [Call(f"{self.id}/first", SAMPLE_BOX, (h, w, lam, Gen(seed))),
                boxes("seeded", seed, lam, REPLAY_BOXES, f"(drawing {REPLAY_BOXES} boxes)"),
                boxes("alike", seed, lam, REPLAY_BOXES, f"(drawing {REPLAY_BOXES} boxes, a generator seeded alike)"),
                boxes("other", kit.seed(gen), lam, REPLAY_BOXES, f"(drawing {REPLAY_BOXES} boxes, another seed)"),
                *[boxes(f"lam{edge:g}", kit.seed(gen), edge, EDGE_DRAWS, f"(at lam = {edge:g})") for edge in LAM_EDGES],
                boxes("size", kit.seed(gen), SIZE_LAM, SIZE_DRAWS, f"(drawing {SIZE_DRAWS} boxes at lam = {SIZE_LAM})"),
                boxes("centres", kit.seed(gen), SMALL_LAM, CENTRE_DRAWS, f"(drawing {CENTRE_DRAWS} small boxes)")]

    def judge(self, outcomes, ctx):
        calls = kit.roles(self, outcomes)
        h, w = calls["first"].call.args[:2]
        box = unpack(calls["first"].value, 4, SAMPLE_BOX)
        if not all(type(v) is int for v in box):
            raise CheckFailed("the box should be 4 Python ints (y0, y1, x0, x1); sample_cutmix_box returned "
                              f"{', '.join(sorted({type(v).__name__ for v in box}))} (use int(...) or .item())")
        _bounds(torch.tensor([box]), h, w, "")
        kit.check_replay(SAMPLE_BOX, calls["seeded"].value, calls["alike"].value, "boxes")
        kit.check_independent(SAMPLE_BOX, calls["seeded"].value, calls["other"].value, "boxes")
        for edge in LAM_EDGES:
            boxes = calls[f"lam{edge:g}"].value
            _bounds(boxes, h, w, f" at lam = {edge:g}")
            y0, y1, x0, x1 = boxes.T
            if edge == 1 and ((y1 - y0) * (x1 - x0)).any():
                raise CheckFailed("at lam = 1 the box must be empty (area 0): nothing is pasted, each image keeps "
                                  "all of itself")
            touches = ((y0 == 0) | (y1 == h)) & ((x0 == 0) | (x1 == w))
            if edge == 0 and (not touches.all() or (y1 - y0 < h // 2 - 1).any() or (x1 - x0 < w // 2 - 1).any()):
                raise CheckFailed("at lam = 0 the unclipped box is as large as the image, so once clipped it reaches "
                                  "an edge on each axis and covers at least half of each side; yours did not")
        _check_sizes(calls["size"].value, h, w)
        _check_centres(calls["centres"].value, h, w)


def _bounds(boxes, h, w, when):
    y0, y1, x0, x1 = boxes.T
    if not ((0 <= y0) & (y0 <= y1) & (y1 <= h) & (0 <= x0) & (x0 <= x1) & (x1 <= w)).all():
        raise CheckFailed(f"a box{when} is not inside the image: clip it so that 0 <= y0 <= y1 <= H and "
                          "0 <= x0 <= x1 <= W")


def _check_sizes(boxes, h, w):
    _bounds(boxes, h, w, f" at lam = {SIZE_LAM}")
    side_h, side_w = math.sqrt(1 - SIZE_LAM) * h, math.sqrt(1 - SIZE_LAM) * w
    y0, y1, x0, x1 = boxes.T
    sizes = torch.stack([y1 - y0, x1 - x0], 1).double()
    inside = (y0 > 0) & (y1 < h) & (x0 > 0) & (x1 < w)
    sides = torch.tensor([side_h, side_w])
    wrong = ((sizes - sides).abs() > SIDE_TOLERANCE).any(1) & inside | (sizes > sides + SIDE_TOLERANCE).any(1)
    shape = f"on a {h} x {w} image at lam = {SIZE_LAM}"
    if wrong.any() or not inside.any():
        seen = (f"one was {int(sizes[wrong][0, 0])} x {int(sizes[wrong][0, 1])} pixels" if wrong.any() else
                "none lay inside the image (with a uniformly random centre about one in eight should)")
        raise CheckFailed(f"{shape}, boxes should be about {side_h:.1f} x {side_w:.1f}: each side sqrt(1 - lam) times "
                          f"the image's; of {len(boxes)} boxes {seen}")
    for axis, lo, hi, side, size in (("top or bottom", y0, y1, side_h, h), ("left or right", x0, x1, side_w, w)):
        touching, n = int(((lo == 0) | (hi == size)).sum()), len(boxes)
        p_lo, p_hi = max(0.0, (side - 2) / size), min(1.0, (side + 2) / size)
        if stats.binom.cdf(touching, n, p_lo) < ALPHA / 2 or stats.binom.sf(touching - 1, n, p_hi) < ALPHA / 2:
            raise CheckFailed(f"{shape}, {touching} of {n} boxes reached the {axis} edge; with the centre uniform "
                              f"over the whole image and the box clipped, about {100 * side / size:.0f}% should "
                              "(do not keep the box inside the image by moving its centre)")


def _check_centres(boxes, h, w):
    _bounds(boxes, h, w, " for a small box")
    y0, y1, x0, x1 = boxes.T.double()
    rows = ((y0 + y1) / 2 * 4 / h).floor().clamp(0, 3).long()
    cols = ((x0 + x1) / 2 * 4 / w).floor().clamp(0, 3).long()
    counts = torch.bincount(rows * 4 + cols, minlength=16).numpy()
    p = stats.chisquare(counts).pvalue
    if p < ALPHA:
        raise CheckFailed(f"box centres are not uniform over the image: of {len(boxes)} small boxes, the four "
                          f"horizontal bands held {counts.reshape(4, 4).sum(1).tolist()} and the four vertical bands "
                          f"{counts.reshape(4, 4).sum(0).tolist()} (chi-square test over a 4 x 4 grid, p = {p:.1e}); "
                          "draw the centre row from 0 .. H - 1 and the column from 0 .. W - 1, independently")


def make_checks() -> LabChecks:
    items = (SmoothLabels(), SoftCrossEntropy(), SampleMixup(), Mixup(), SampleCutmixBox(), Cutmix(),
             MixedCrossEntropy())
    return LabChecks("06d-mixup-cutmix-label-smoothing", items, helpers=helpers, forbidden={
        SMOOTH: LIBRARY_CE, SOFT_CE: LIBRARY_CE, MIXED_CE: LIBRARY_CE, MIXUP: LIBRARY_MIXING, CUTMIX: LIBRARY_MIXING})
