"""Hidden checks for lab 06f, double descent with random ReLU features.

Eight items. The deterministic cores (``min_norm_least_squares``, ``ridge``) are
compared exactly with ``solutions.double_descent`` evaluated in float64, on
under- and over-parameterized, rank-deficient, float32 and float64 systems.
``random_relu_features`` is checked by the relation ``phi == relu(x @ W)`` with
the W it returned, and its sampling statistically. ``test_error_curve`` depends
on the student's own random draws, so it is checked by properties on a hidden
teacher-student regression set built here: interpolation of the training set
beyond N features, a test-error peak at width ~ N, test errors away from the
peak near the reference's, and ridge lowering the peak.

False-alarm rates (measured by tests/test_checks_over_seeds.py with
REGLAB_SEEDS=200 on the reference and the alternatives):

* ``features_sampling`` runs three tests on the 16,000 to 24,000 entries of
  one drawn W (scaled by sqrt(D)): the mean (t-test), the variance
  (chi-square) and the shape (Kolmogorov-Smirnov against N(0, 1)), each
  two-sided at alpha = 1e-5, so a correct sampler is flagged with
  probability at most 3e-5 per grading.
* ``curve_peak`` and ``curve_ridge`` compare curves averaged over 3 feature
  draws with thresholds far outside the spread of the reference over 200
  seeds (measured in-process, as tests/test_checks_over_seeds.py does): the
  peak was at width N every time (the check allows N/1.25 to 1.25 N), its
  prominence over the ends at least 10.7x (check: 3x), the ridge peak at
  most 0.076x the min-norm peak (check: 0.5x), the far-from-peak test error
  0.75x to 1.24x the reference's own draw (check: 0.5x to 2x). The smallest
  sampling p-value seen was 2e-3. No false alarm on the reference or the
  alternatives.

Library ops: ``torch.linalg.pinv`` / ``lstsq`` / ``svd`` are the tools of
minimum-norm least squares and are allowed there. ``ridge`` must solve its
linear system; forming an explicit inverse (``torch.linalg.inv``,
``torch.inverse``, ``pinv``, ``cholesky_inverse``) loses the item.
"""

from __future__ import annotations

import math

import torch
from scipy import stats

from autograder.checks.base import (
    CheckFailed,
    Item,
    LabChecks,
    assert_tensor_close,
    close,
    describe,
    unpack,
)
from autograder.probes import Call, Gen
from solutions import double_descent as reference

FEATURES, MIN_NORM, RIDGE, CURVE = "random_relu_features", "min_norm_least_squares", "ridge", "test_error_curve"
_EXPLICIT_INVERSE = r"linalg_inv|\binverse\b|cholesky_inverse|pinv"
ALPHA = 1e-5                        # per statistical test of features_sampling
ROW_KEYS = ("width", "train_error", "test_error")


def _int(gen, low, high):
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _seed(gen):
    return int(torch.randint(0, 2**31 - 1, (1,), generator=gen))


def _dtype_name(dtype):
    return str(dtype).removeprefix("torch.")


def _device(devices, index=None):
    """The device the harness saw a returned tensor on: element ``index`` of a tuple, or the value itself."""
    if index is None:
        return devices if isinstance(devices, str) else None
    return devices[index] if isinstance(devices, tuple) and len(devices) > index else None


def _require_real(func, name, value, shape):
    """A tensor of ``shape`` that is finite and not constant: a stub cannot pass an item that judges something else."""
    if not (isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(shape)
            and torch.isfinite(value).all() and value.numel() > 1 and value.double().std() > 0):
        raise CheckFailed(f"{func} returned {describe(value)} as {name}, not a real result of shape {tuple(shape)}")


# --- random_relu_features --------------------------------------------------------------------------

class Features(Item):
    id, points, functions = "features", 2, (FEATURES,)
    title = "phi = relu(x @ W) with the returned W, shapes, dtype and device"

    def calls(self, gen):
        self.cases = []
        for dtype in (torch.float32, torch.float32, torch.float64):
            n, d, p = _int(gen, 5, 40), _int(gen, 2, 30), _int(gen, 3, 80)
            x = torch.randn(n, d, generator=gen, dtype=torch.float64) * (0.5 + torch.rand(1, generator=gen, dtype=torch.float64))
            self.cases.append((x.to(dtype), p))
        return [Call(f"{self.id}/{i}", FEATURES, (x, p, Gen(_seed(gen))),
                     note=f"on x of shape {tuple(x.shape)} with n_features={p}")
                for i, (x, p) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (x, p) in enumerate(self.cases):
            (n, d), dtype = x.shape, x.dtype
            where = f"case {i + 1} of {len(self.cases)}: x of shape {(n, d)}, n_features={p}, {_dtype_name(dtype)}"
            outcome = outcomes[f"{self.id}/{i}"]
            phi, W = unpack(outcome.value, 2, FEATURES)
            if isinstance(W, torch.Tensor) and tuple(W.shape) == (p, d) and d != p:
                raise CheckFailed(f"W has shape {(p, d)}; return it as (D, n_features) = {(d, p)}, so that phi = relu(x @ W) ({where})")
            if not isinstance(W, torch.Tensor) or tuple(W.shape) != (d, p):
                raise CheckFailed(f"W should be a tensor of shape (D, n_features) = {(d, p)}; got {describe(W)} ({where})")
            if W.dtype != dtype:
                raise CheckFailed(f"W is {W.dtype} for {dtype} inputs; draw it in x's dtype ({where})")
            if not torch.isfinite(W).all() or W.double().std() == 0:
                raise CheckFailed(f"W is constant or not finite; draw it at random from the generator ({where})")
            expected = torch.relu(x.double() @ W.double())
            if isinstance(phi, torch.Tensor) and phi.shape == expected.shape and not close(phi, expected, ctx.tolerance(dtype)):
                if close(phi, x.double() @ W.double(), ctx.tolerance(dtype)):
                    raise CheckFailed(f"phi is x @ W without the ReLU ({where})")
                if close(phi, torch.clamp(x.double() @ W.double(), max=0), ctx.tolerance(dtype)):
                    raise CheckFailed(f"phi keeps the negative part of x @ W; ReLU keeps the positive part, max(x @ W, 0) ({where})")
            assert_tensor_close("phi", phi, expected, ctx, dtype=dtype, device=_device(outcome.devices, 0), where=where)
            if _device(outcome.devices, 1) not in (None, ctx.device):
                raise CheckFailed(f"W is on {_device(outcome.devices, 1)} for inputs on {ctx.device}; draw it on x's device ({where})")


class FeaturesSampling(Item):
    """W's entries are i.i.d. N(0, 1/D), drawn from the generator only (same seed, same W)."""

    id, points, functions = "features_sampling", 2, (FEATURES,)
    title = "W has i.i.d. N(0, 1/D) entries drawn from the generator (replayable)"

    def calls(self, gen):
        self.d, self.p = _int(gen, 40, 60), 400
        self.x = torch.randn(6, self.d, generator=gen)
        seed = _seed(gen)
        return [Call(f"{self.id}/first", FEATURES, (self.x, self.p, Gen(seed))),
                Call(f"{self.id}/again", FEATURES, (self.x, self.p, Gen(seed)), note="with a generator seeded alike"),
                Call(f"{self.id}/other", FEATURES, (self.x, self.p, Gen(seed + 1)), note="with another seed")]

    def judge(self, outcomes, ctx):
        draws = {}
        for key in ("first", "again", "other"):
            W = unpack(outcomes[f"{self.id}/{key}"].value, 2, FEATURES)[1]
            _require_real(FEATURES, "W", W, (self.d, self.p))
            draws[key] = W
        if not torch.equal(draws["first"], draws["again"]):
            raise CheckFailed("two calls with generators seeded alike gave different W; draw every random number "
                              "from the generator argument (torch.randn(..., generator=generator))")
        if torch.equal(draws["first"], draws["other"]):
            raise CheckFailed("generators with different seeds gave the same W; draw W from the generator argument")
        z = draws["first"].double().flatten() * math.sqrt(self.d)      # N(0, 1) if W ~ N(0, 1/D)
        where = f"W of shape {(self.d, self.p)}, {z.numel()} entries, tested at alpha = {ALPHA:g}"
        count, mean, var = z.numel(), z.mean().item(), z.var().item()
        if 2 * stats.norm.sf(abs(mean) / math.sqrt(var / count)) < ALPHA:     # the mean against its own spread
            raise CheckFailed(f"W's entries do not have mean 0 (their mean is {mean / math.sqrt(self.d):.3g}); "
                              f"draw them from a normal distribution centred at 0 ({where})")
        chi2 = (count - 1) * var
        if 2 * min(stats.chi2.cdf(chi2, count - 1), stats.chi2.sf(chi2, count - 1)) < ALPHA:
            raise CheckFailed(f"W's entries have variance {var:.3g} / D, expected 1 / D with D = {self.d} input "
                              f"features: scale randn by 1 / sqrt(D) ({where})")
        if stats.kstest(z.numpy(), "norm").pvalue < ALPHA:
            raise CheckFailed(f"W's entries have mean 0 and variance 1 / D but are not normally distributed; "
                              f"draw them with torch.randn ({where})")


# --- min_norm_least_squares and ridge --------------------------------------------------------------

def _system(gen, n, p, k, dtype, rank=None, scale=1.0):
    """phi (N, P) and y ((N,) if k is None, else (N, K)); a rank below min(N, P) also gets a dead (zero) column."""
    phi = torch.randn(n, p, generator=gen, dtype=torch.float64) * scale
    if rank is not None:
        phi = torch.randn(n, rank, generator=gen, dtype=torch.float64) @ torch.randn(rank, p, generator=gen, dtype=torch.float64) * scale / rank ** 0.5
        phi[:, _int(gen, 0, p - 1)] = 0.0
    y = torch.randn(*((n,) if k is None else (n, k)), generator=gen, dtype=torch.float64)
    return phi.to(dtype), y.to(dtype)


def _system_where(i, total, phi, y, extra=""):
    n, p = phi.shape
    regime = "over-parameterized" if p > n else "under-parameterized" if p < n else "square"
    return (f"case {i + 1} of {total}: phi of shape {(n, p)} ({regime}{extra}), y of shape {tuple(y.shape)}, "
            f"{_dtype_name(phi.dtype)}")


class MinNorm(Item):
    id, points, functions = "min_norm", 3, (MIN_NORM,)
    title = "minimum-norm least squares: OLS when under-parameterized, min-norm interpolation when over"

    def calls(self, gen):
        n_small, n_large = _int(gen, 10, 25), _int(gen, 40, 60)
        self.cases = [
            (*_system(gen, n_large, _int(gen, 5, n_large // 2), None, torch.float32), ""),
            (*_system(gen, n_small, _int(gen, 2 * n_small, 4 * n_small), _int(gen, 2, 5), torch.float32), ""),
            (*_system(gen, n_large, _int(gen, 5, n_large // 2), _int(gen, 2, 5), torch.float64), ""),
            (*_system(gen, n_small, _int(gen, 2 * n_small, 4 * n_small), None, torch.float64), ""),
            (*_system(gen, n_small, _int(gen, 2 * n_small, 4 * n_small), _int(gen, 2, 5), torch.float64,
                      rank=n_small // 2), ", rank-deficient"),
            (*_system(gen, n_large, _int(gen, 12, n_large // 2), None, torch.float64, rank=8), ", rank-deficient"),
        ]
        return [Call(f"{self.id}/{i}", MIN_NORM, (phi, y), note=f"on phi of shape {tuple(phi.shape)}{extra}")
                for i, (phi, y, extra) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (phi, y, extra) in enumerate(self.cases):
            where = _system_where(i, len(self.cases), phi, y, extra)
            outcome = outcomes[f"{self.id}/{i}"]
            w = outcome.value
            expected = reference.min_norm_least_squares(phi.double(), y.double())
            if isinstance(w, torch.Tensor) and w.shape == expected.shape and torch.isfinite(w).all() \
                    and not close(w, expected, ctx.tolerance(phi.dtype)):
                hint = _diagnose_min_norm(w, expected, phi, y, ctx)
                if hint:
                    raise CheckFailed(f"{hint} ({where})")
            assert_tensor_close("w", w, expected, ctx, dtype=phi.dtype, device=_device(outcome.devices), where=where)


def _diagnose_min_norm(w, expected, phi, y, ctx):
    phi, y, w = phi.double(), y.double(), w.double()
    if phi.shape[1] > phi.shape[0] and close(phi @ w, y, ctx.tolerance(torch.float32)) \
            and w.norm() > expected.norm() * (1 + 1e-4):
        return ("w interpolates (phi @ w == y) but its norm is not the smallest: of all solutions, "
                "take the one in the row space of phi, pinv(phi) @ y")
    return None


class Ridge(Item):
    id, points, functions = "ridge", 3, (RIDGE,)
    title = "ridge regression, n > p and p > n, against the closed form"

    def calls(self, gen):
        def lam():
            return round(float(1 + 4 * torch.rand(1, generator=gen)), 3)

        n_small, n_large = _int(gen, 8, 20), _int(gen, 30, 40)
        self.cases = [
            (*_system(gen, n_large, _int(gen, 4, n_large // 2), None, torch.float32, scale=0.5), lam()),
            (*_system(gen, n_small, _int(gen, 2 * n_small, 40), _int(gen, 2, 5), torch.float32, scale=0.5), lam()),
            (*_system(gen, n_large, _int(gen, 4, n_large // 2), _int(gen, 2, 5), torch.float64), 1e-2),
            (*_system(gen, n_small, _int(gen, 2 * n_small, 40), None, torch.float64), lam()),
            (*_system(gen, n_small, n_small, None, torch.float64), lam()),
        ]
        return [Call(f"{self.id}/{i}", RIDGE, (phi, y, lam), note=f"on phi of shape {tuple(phi.shape)}, lam={lam:g}")
                for i, (phi, y, lam) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (phi, y, lam) in enumerate(self.cases):
            where = _system_where(i, len(self.cases), phi, y, f", lam={lam:g}")
            outcome = outcomes[f"{self.id}/{i}"]
            w = outcome.value
            expected = reference.ridge(phi.double(), y.double(), lam)
            if isinstance(w, torch.Tensor) and w.shape == expected.shape and torch.isfinite(w).all() \
                    and not close(w, expected, ctx.tolerance(phi.dtype)):
                hint = _diagnose_ridge(w, phi, y, lam, ctx)
                if hint:
                    raise CheckFailed(f"{hint} ({where})")
            assert_tensor_close("w", w, expected, ctx, dtype=phi.dtype, device=_device(outcome.devices), where=where)


def _diagnose_ridge(w, phi, y, lam, ctx):
    phi, y = phi.double(), y.double()
    n, p = phi.shape
    tol = ctx.tolerance(w.dtype)
    gram = phi.T @ phi
    if close(w, torch.linalg.solve(gram + n * lam * torch.eye(p, dtype=phi.dtype), phi.T @ y), tol):
        return ("w minimizes the mean squared error plus lam ||w||^2 (lam is scaled by N); "
                "this lab's ridge minimizes the sum, ||phi w - y||^2 + lam ||w||^2")
    if close(w, torch.linalg.solve(gram + lam, phi.T @ y), tol):
        return "lam was added to every entry of phi^T phi; add it to the diagonal only (lam * I)"
    if close(w, reference.min_norm_least_squares(phi, y), tol):
        return "w is the unregularized least-squares solution; lam is not used"
    return None


# --- test_error_curve ------------------------------------------------------------------------------

def _teacher(gen, n, d, n_test, k, dtype):
    """A hidden regression set: x ~ N(0, I_D), y = tanh(2 x A) with label noise on the training targets."""
    x = torch.randn(n + n_test, d, generator=gen, dtype=torch.float64)
    y = torch.tanh(2 * x @ (torch.randn(d, k, generator=gen, dtype=torch.float64) / d ** 0.5))
    y[:n] += 0.3 * torch.randn(n, k, generator=gen, dtype=torch.float64)
    return tuple(t.to(dtype) for t in (x[:n], y[:n], x[n:], y[n:]))


def _rows(value, widths):
    """The rows as a list of dicts, or CheckFailed saying what came back instead."""
    if not isinstance(value, tuple) or not all(isinstance(row, dict) for row in value):
        raise CheckFailed(f"{CURVE} should return a list of dicts, one per width; it returned {describe(value)}")
    if len(value) != len(widths):
        raise CheckFailed(f"{CURVE} returned {len(value)} rows for {len(widths)} widths; return one row per width")
    return value


def _number(row, key):
    value = row.get(key)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CheckFailed(f"each row's {key!r} should be a finite number; got {describe(value)}")
    return float(value)


def _test_errors(value, widths):
    return [_number(row, "test_error") for row in _rows(value, widths)]


def _curve_call(call_id, widths, data, *, lam, seeds, seed, note):
    return Call(call_id, CURVE, (list(widths), *data), {"lam": lam, "seeds": seeds, "generator": Gen(seed)}, note=note)


class CurveRows(Item):
    id, points, functions = "curve_rows", 2, (CURVE,)
    title = "one row per width with width, train_error, test_error; train error ~ 0 from width N on"

    def calls(self, gen):
        n, d = _int(gen, 32, 40), _int(gen, 6, 10)     # N >= 32: no feature is dead on every sample
        self.n = n
        self.data = _teacher(gen, n, d, 100, 2, torch.float64)
        self.widths = [n // 4, n // 2, n, n + 3, 2 * n, 5 * n]
        return [_curve_call(self.id, self.widths, self.data, lam=0.0, seeds=2, seed=_seed(gen),
                            note=f"with lam=0 on {n} float64 training samples")]

    def judge(self, outcomes, ctx):
        rows = _rows(outcomes[self.id].value, self.widths)
        where = f"lam=0, {self.n} training samples, widths {self.widths}"
        for row in rows:
            missing = [key for key in ROW_KEYS if key not in row]
            if missing:
                raise CheckFailed(f"each row needs the keys {', '.join(ROW_KEYS)}; a row has {', '.join(sorted(row)) or 'none'} "
                                  f"(missing {', '.join(missing)})")
        got_widths = [_number(row, "width") for row in rows]
        if got_widths != [float(w) for w in self.widths]:
            raise CheckFailed(f"the rows' widths are {[int(w) for w in got_widths]}; they should be the widths asked for, "
                              "in the same order")
        scale = self.data[1].double().pow(2).mean().item()
        for width, row in zip(self.widths, rows):
            train_error = _number(row, "train_error")
            _number(row, "test_error")
            if width >= self.n and train_error > 1e-8 * scale:
                raise CheckFailed(f"train_error is {train_error / scale:.2e} (relative to the mean squared target) at "
                                  f"width {width} >= N = {self.n}: the minimum-norm fit should interpolate the training "
                                  f"set there ({where})")
            if width <= self.n // 2 and train_error < 1e-3 * scale:
                raise CheckFailed(f"train_error is ~0 at width {width} < N = {self.n}: with fewer features than noisy "
                                  f"training samples the fit cannot interpolate; measure it on the training set ({where})")


class CurvePeak(Item):
    id, points, functions = "curve_peak", 2, (CURVE,)
    title = "min-norm test error peaks at width ~ N; away from the peak it matches the reference"

    n, d, seeds = 40, 10, 3
    widths = (4, 10, 20, 30, 36, 40, 44, 50, 60, 80, 160, 240)
    far = (160, 240)            # widths whose test error is compared with the reference's

    def calls(self, gen):
        self.data = _teacher(gen, self.n, self.d, 300, 2, torch.float32)
        self.reference_seed = _seed(gen)
        return [_curve_call(self.id, self.widths, self.data, lam=0.0, seeds=self.seeds, seed=_seed(gen),
                            note=f"with lam=0 on {self.n} training samples")]

    def judge(self, outcomes, ctx):
        errors = _test_errors(outcomes[self.id].value, self.widths)
        where = f"lam=0, N = {self.n} training samples, {self.seeds} seeds, widths {list(self.widths)}"
        generator = torch.Generator().manual_seed(self.reference_seed)
        expected = reference.test_error_curve(self.far, *(t.double() for t in self.data), seeds=self.seeds,
                                              generator=generator)
        for width, row in zip(self.far, expected):
            got = errors[self.widths.index(width)]
            ratio = got / row["test_error"]
            if not 0.5 <= ratio <= 2.0:
                raise CheckFailed(f"test_error at width {width} is {ratio:.2f} times what min-norm random features give "
                                  f"there; average the test-set mean squared error over the seeds ({where})")
        peak = self.widths[max(range(len(errors)), key=errors.__getitem__)]
        if not self.n / 1.25 <= peak <= 1.25 * self.n:
            raise CheckFailed(f"the test error is largest at width {peak}, not near N = {self.n}, where the min-norm fit "
                              f"just interpolates ({where})")
        baseline = max(errors[0], errors[-1])
        if max(errors) < 3 * baseline:
            raise CheckFailed(f"the test error at width ~N is only {max(errors) / baseline:.1f} times its value at the "
                              f"smallest and largest widths; min-norm least squares should give a sharp peak there ({where})")


class CurveRidge(Item):
    id, points, functions = "curve_ridge", 2, (CURVE,)
    title = "ridge (lam > 0) flattens the peak"

    n, d, seeds, lam = 40, 10, 3, 1.0
    widths = (10, 30, 40, 50, 160)

    def calls(self, gen):
        data = _teacher(gen, self.n, self.d, 300, 2, torch.float32)
        seed = _seed(gen)        # the same draws for both curves: only lam differs
        return [_curve_call(f"{self.id}/min_norm", self.widths, data, lam=0.0, seeds=self.seeds, seed=seed,
                            note="with lam=0"),
                _curve_call(f"{self.id}/ridge", self.widths, data, lam=self.lam, seeds=self.seeds, seed=seed,
                            note=f"with lam={self.lam:g}")]

    def judge(self, outcomes, ctx):
        min_norm = _test_errors(outcomes[f"{self.id}/min_norm"].value, self.widths)
        ridged = _test_errors(outcomes[f"{self.id}/ridge"].value, self.widths)
        where = f"N = {self.n} training samples, widths {list(self.widths)}, the same generator seed for both curves"
        if not max(min_norm) > 3 * max(min_norm[0], min_norm[-1]):
            raise CheckFailed(f"with lam=0 the test error shows no peak at width ~N = {self.n} for ridge to flatten; "
                              f"make the min-norm curve right first ({where})")
        if max(ridged) > 0.5 * max(min_norm):
            raise CheckFailed(f"with lam={self.lam:g} the largest test error is {max(ridged) / max(min_norm):.2f} times "
                              f"the min-norm peak; fit with ridge(phi, y, lam) when lam > 0, which should flatten "
                              f"the peak ({where})")


# --- all four ----------------------------------------------------------------------------------------

class Immutability(Item):
    """Inputs unchanged after each call, judged on outputs that look like real results."""

    id, points, functions = "immutability", 1, (FEATURES, MIN_NORM, RIDGE, CURVE)
    title = "x, phi, y and the data sets are not modified"
    enforce_rules = False

    def calls(self, gen):
        self.x = torch.randn(12, 5, generator=gen) * 2 + 1
        self.phi, self.y = _system(gen, 12, 20, 2, torch.float32)
        # 30 zero-mean samples: a feature dead on all of them (a zero column of phi) has chance 2^-30.
        # Not standardized, so a fix-up in place shows.
        x_train, y_train, x_test, y_test = _teacher(gen, 30, 5, 30, 2, torch.float32)
        self.data = (x_train * 3, y_train, x_test * 3, y_test)
        return [Call(f"{self.id}/features", FEATURES, (self.x, 7, Gen(_seed(gen)))),
                Call(f"{self.id}/min_norm", MIN_NORM, (self.phi, self.y)),
                Call(f"{self.id}/ridge", RIDGE, (self.phi, self.y, 2.0)),
                Call(f"{self.id}/curve", CURVE, ([4, 64], *self.data), {"lam": 0.0, "seeds": 1, "generator": Gen(_seed(gen))})]

    def judge(self, outcomes, ctx):
        checks = [("features", FEATURES, {"x": (0, self.x)}),
                  ("min_norm", MIN_NORM, {"phi": (0, self.phi), "y": (1, self.y)}),
                  ("ridge", RIDGE, {"phi": (0, self.phi), "y": (1, self.y)}),
                  ("curve", CURVE, dict(zip(("x_train", "y_train", "x_test", "y_test"),
                                            ((i + 1, t) for i, t in enumerate(self.data)))))]
        for key, func, inputs in checks:
            outcome = outcomes[f"{self.id}/{key}"]
            if key == "features":
                _require_real(func, "phi", unpack(outcome.value, 2, func)[0], (12, 7))
            elif key == "curve":
                _test_errors(outcome.value, [4, 64])
            else:
                _require_real(func, "w", outcome.value, (20, 2))
            for name, (position, before) in inputs.items():
                after = outcome.args_after[position]
                if not isinstance(after, torch.Tensor) or not torch.equal(after, before):
                    raise CheckFailed(f"{func} modified its input {name} in place; work on new tensors "
                                      "(x = x / s, not x /= s or x.div_(s))")


def make_checks() -> LabChecks:
    """A fresh set of items: they keep the cases they drew, so never share one between gradings."""
    return LabChecks(
        lab="06f-double-descent",
        items=(Features(), FeaturesSampling(), MinNorm(), Ridge(), Immutability(),
               CurveRows(), CurvePeak(), CurveRidge()),
        forbidden={RIDGE: _EXPLICIT_INVERSE},
    )
