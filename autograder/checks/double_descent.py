"""Hidden checks for lab 06f, double descent with random ReLU features.

``min_norm_least_squares`` and ``ridge`` are compared with ``solutions.double_descent`` in float64 on the declared
``SYSTEMS``. ``random_relu_features`` is checked by ``phi == relu(x @ W)`` with the W it returned, and its sampling
statistically. ``test_error_curve`` depends on the student's own draws, so it is checked by properties on a hidden
teacher-student set: interpolation from N features on, a test-error peak at width ~ N, far test errors near the
reference's, ridge lowering the peak. Functions taking a generator must replay a seed and follow another one;
``immutability`` checks every tensor argument of all four. ``ridge`` must solve its system: an explicit inverse
loses the item (pinv, lstsq and svd are the tools of min-norm least squares and allowed there).

False alarms (tests/test_checks_over_seeds.py, REGLAB_SEEDS=200): ``features_sampling`` tests the mean, variance
and normality of W's 16,000 to 24,000 entries, each two-sided at alpha = 1e-5 (at most 3e-5 per grading). Over 200
seeds the reference's peak was at width N every time (allowed: N/1.25 to 1.25 N) and at least 10.7x the ends
(check: 3x), its ridge peak at most 0.076x the min-norm one (check: 0.5x), its far test error 0.75x to 1.24x the
reference's own draw (check: 0.5x to 2x).
"""

from __future__ import annotations

import math

import torch
from scipy import stats

from autograder.checks import kit
from autograder.checks.base import CheckFailed, Item, LabChecks, assert_tensor_close, close, describe, unpack
from autograder.probes import Call, Gen
from solutions import double_descent as reference

FEATURES, MIN_NORM, RIDGE, CURVE = "random_relu_features", "min_norm_least_squares", "ridge", "test_error_curve"
PARAMETERS = {FEATURES: ("x", "n_features", "generator"), MIN_NORM: ("phi", "y"), RIDGE: ("phi", "y", "lam"),
              CURVE: ("widths", "x_train", "y_train", "x_test", "y_test")}
_EXPLICIT_INVERSE = r"linalg_inv|\binverse\b|cholesky_inverse|pinv"
ALPHA = 1e-5                        # per statistical test of features_sampling
ROW_KEYS = ("width", "train_error", "test_error")

# The systems both least-squares functions meet, declared once: (shape, y with K columns?, dtype, rank-deficient).
SYSTEMS = (("under", False, torch.float32, False), ("over", True, torch.float32, False),
           ("under", True, torch.float64, False), ("over", False, torch.float64, False),
           ("square", False, torch.float64, False), ("over", True, torch.float64, True),
           ("under", False, torch.float64, True), ("square", True, torch.float64, True))


def _system(gen, shape, columns, dtype, deficient, scale=1.0):
    """phi (N, P) and y ((N, K) or (N,)); a rank-deficient phi has rank min(N, P) // 2 and a dead (zero) column."""
    n = kit.randint(gen, 30, 50) if shape == "under" else kit.randint(gen, 10, 20)
    p = kit.randint(gen, 12, n // 2) if shape == "under" else kit.randint(gen, 2 * n, 3 * n) if shape == "over" else n
    rank = min(n, p) // 2
    phi = kit.randn(gen, n, rank) @ kit.randn(gen, rank, p) / rank ** 0.5 if deficient else kit.randn(gen, n, p)
    if deficient:
        phi[:, kit.randint(gen, 0, p - 1)] = 0.0
    y = kit.randn(gen, n, *((kit.randint(gen, 2, 5),) if columns else ()))
    words = [f"phi of shape {(n, p)} ({shape}{', rank-deficient' if deficient else ''})",
             f"y of shape {tuple(y.shape)}", kit.dtype_name(dtype)]
    return ((phi * scale).to(dtype), y.to(dtype)), words


def _teacher(gen, n, d, n_test, k, dtype):
    """A hidden regression set: x ~ N(0, I_D), y = tanh(2 x A) with label noise on the training targets."""
    x = kit.randn(gen, n + n_test, d)
    y = torch.tanh(2 * x @ (kit.randn(gen, d, k) / d ** 0.5))
    y[:n] += 0.3 * kit.randn(gen, n, k)
    return tuple(t.to(dtype) for t in (x[:n], y[:n], x[n:], y[n:]))


# --- random_relu_features --------------------------------------------------------------------------

class Features(kit.CaseItem):
    id, points, functions = "features", 2, (FEATURES,)
    title = "phi = relu(x @ W) with the returned W, shapes, dtype and device"

    def cases(self, gen):
        rows = []
        for dtype in (torch.float32, torch.float32, torch.float64):
            n, d, p = kit.randint(gen, 5, 40), kit.randint(gen, 2, 30), kit.randint(gen, 3, 80)
            x = (kit.randn(gen, n, d) * kit.uniform(gen, 0.5, 1.5)).to(dtype)
            rows.append(((x, p, Gen(kit.seed(gen))),
                         [f"x of shape {(n, d)}", f"n_features={p}", kit.dtype_name(dtype)]))
        return kit.case_calls(self, rows)

    def check(self, outcome, ctx):
        (x, p, _), where = outcome.call.args, outcome.call.case
        (_, d), dtype, tol = x.shape, x.dtype, ctx.tolerance(x.dtype)
        phi, W = unpack(outcome.value, 2, FEATURES)
        kit.require_real_result(FEATURES, "W", W, (d, p), f"draw W of shape (D, n_features) at random, so that phi = "
                                f"relu(x @ W) ({where})")
        if W.dtype != dtype:
            raise CheckFailed(f"W is {W.dtype} for {dtype} inputs; draw it in x's dtype ({where})")
        pre = x.double() @ W.double()
        expected = torch.relu(pre)
        kit.known_mistake(phi, pre, expected, tol, "phi is x @ W without the ReLU", where)
        kit.known_mistake(phi, pre.clamp(max=0), expected, tol,
                          "phi keeps the negative part of x @ W; ReLU keeps the positive part, max(x @ W, 0)", where)
        assert_tensor_close("phi", phi, expected, ctx, dtype=dtype, device=kit.device_of(outcome.devices, 0),
                            where=where)
        if kit.device_of(outcome.devices, 1) not in (None, ctx.device):
            raise CheckFailed(f"W is on {kit.device_of(outcome.devices, 1)} for inputs on {ctx.device}; draw it on x's "
                              f"device ({where})")


class FeaturesSampling(Item):
    id, points, functions = "features_sampling", 2, (FEATURES,)
    title = "W has i.i.d. N(0, 1/D) entries drawn from the generator (replayable)"

    def calls(self, gen):
        x, seed = kit.randn(gen, 6, kit.randint(gen, 40, 60), dtype=torch.float32), kit.seed(gen)
        return [Call(f"{self.id}/{key}", FEATURES, (x, 400, Gen(s)), note=note) for key, s, note in
                [("first", seed, ""), ("again", seed, "with a generator seeded alike"),
                 ("other", kit.seed(gen), "with another seed")]]

    def judge(self, outcomes, ctx):
        calls = kit.roles(self, outcomes)
        x, p, _ = calls["first"].call.args
        d = x.shape[1]
        W = {key: unpack(outcome.value, 2, FEATURES)[1] for key, outcome in calls.items()}
        for value in W.values():
            kit.require_real_result(FEATURES, "W", value, (d, p))
        kit.check_replay(FEATURES, W["first"], W["again"], "W")
        kit.check_independent(FEATURES, W["first"], W["other"], "W")
        z = W["first"].double().flatten() * math.sqrt(d)      # N(0, 1) if W ~ N(0, 1/D)
        where = f"W of shape {(d, p)}, {z.numel()} entries, tested at alpha = {ALPHA:g}"
        count, mean, var = z.numel(), z.mean().item(), z.var().item()
        if 2 * stats.norm.sf(abs(mean) / math.sqrt(var / count)) < ALPHA:     # the mean against its own spread
            raise CheckFailed(f"W's entries do not have mean 0 (their mean is {mean / math.sqrt(d):.3g}); "
                              f"draw them from a normal distribution centred at 0 ({where})")
        chi2 = (count - 1) * var
        if 2 * min(stats.chi2.cdf(chi2, count - 1), stats.chi2.sf(chi2, count - 1)) < ALPHA:
            raise CheckFailed(f"W's entries have variance {var:.3g} / D, expected 1 / D with D = {d} input "
                              f"features: scale randn by 1 / sqrt(D) ({where})")
        if stats.kstest(z.numpy(), "norm").pvalue < ALPHA:
            raise CheckFailed("W's entries have mean 0 and variance 1 / D but are not normally distributed; "
                              f"draw them with torch.randn ({where})")


# --- min_norm_least_squares and ridge --------------------------------------------------------------

class MinNorm(kit.CaseItem):
    id, points, functions = "min_norm", 3, (MIN_NORM,)
    title = "minimum-norm least squares: OLS when under-parameterized, min-norm interpolation when over"

    def cases(self, gen):
        return kit.case_calls(self, [_system(gen, *system) for system in SYSTEMS])

    def check(self, outcome, ctx):
        (phi, y), w, where = outcome.call.args, outcome.value, outcome.call.case
        phi64, y64 = phi.double(), y.double()
        expected = reference.min_norm_least_squares(phi64, y64)
        if phi.shape[1] > phi.shape[0] and isinstance(w, torch.Tensor) and w.shape == expected.shape \
                and close(phi64 @ w.double(), y64, ctx.float32) and w.double().norm() > expected.norm() * (1 + 1e-4):
            raise CheckFailed("w interpolates (phi @ w == y) but its norm is not the smallest: of all solutions, take "
                              f"the one in the row space of phi, pinv(phi) @ y ({where})")
        assert_tensor_close("w", w, expected, ctx, dtype=phi.dtype, device=kit.device_of(outcome.devices), where=where)


class Ridge(kit.CaseItem):
    id, points, functions = "ridge", 3, (RIDGE,)
    title = "ridge regression on the same systems, against the closed form"

    def cases(self, gen):
        rows = []
        for shape, columns, dtype, deficient in SYSTEMS:
            (phi, y), words = _system(gen, shape, columns, dtype, deficient,
                                      scale=0.5 if dtype == torch.float32 else 1.0)
            # a small lam once, on a well-posed system: nearly least squares
            lam = 1e-2 if (shape, dtype, deficient) == ("under", torch.float64, False) else kit.uniform(gen, 1, 5, 3)
            rows.append(((phi, y, lam), [*words, f"lam={lam:g}"]))
        return kit.case_calls(self, rows)

    def check(self, outcome, ctx):
        (phi, y, lam), w, where = outcome.call.args, outcome.value, outcome.call.case
        phi64, y64 = phi.double(), y.double()
        expected, tol = reference.ridge(phi64, y64, lam), ctx.tolerance(phi.dtype)
        gram, rhs, eye = phi64.T @ phi64, phi64.T @ y64, torch.eye(phi.shape[1], dtype=torch.float64)
        for wrong, message in [
                (torch.linalg.solve(gram + len(phi) * lam * eye, rhs), "w minimizes the mean squared error plus lam "
                 "||w||^2 (lam is scaled by N); this lab's ridge minimizes the sum, ||phi w - y||^2 + lam ||w||^2"),
                (torch.linalg.pinv(gram + lam) @ rhs, "lam was added to every entry of phi^T phi; add it to the "
                 "diagonal only (lam * I)"),
                (reference.min_norm_least_squares(phi64, y64), "w is the unregularized least-squares solution; lam "
                 "is not used")]:
            kit.known_mistake(w, wrong, expected, tol, message, where)
        assert_tensor_close("w", w, expected, ctx, dtype=phi.dtype, device=kit.device_of(outcome.devices), where=where)


# --- test_error_curve ------------------------------------------------------------------------------

def _rows(outcome):
    """The rows as a list of dicts, or CheckFailed saying what came back instead."""
    value, widths = outcome.value, outcome.call.args[0]
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


def _test_errors(outcome):
    return [_number(row, "test_error") for row in _rows(outcome)]


def _curve_call(item, key, widths, data, *, lam, seeds, seed, note, case=None):
    return Call(f"{item.id}/{key}", CURVE, (list(widths), *data), {"lam": lam, "seeds": seeds, "generator": Gen(seed)},
                note=note, case=case)


class CurvePeak(Item):
    id, points, functions = "curve_peak", 2, (CURVE,)
    title = "min-norm test error peaks at width ~ N; away from the peak it matches the reference"

    n, d, seeds = 40, 10, 3
    widths = (4, 10, 20, 30, 36, 40, 44, 50, 60, 80, 160, 240)
    far = (160, 240)            # widths whose test error is compared with the reference's

    def calls(self, gen):
        data = _teacher(gen, self.n, self.d, 300, 2, torch.float32)
        reference_seed = kit.seed(gen)          # the reference's own draws, for the far widths
        return [_curve_call(self, "min_norm", self.widths, data, lam=0.0, seeds=self.seeds, seed=kit.seed(gen),
                            note=f"with lam=0 on {self.n} training samples", case=reference_seed)]

    def judge(self, outcomes, ctx):
        outcome = kit.roles(self, outcomes)["min_norm"]
        errors = _test_errors(outcome)
        where = f"lam=0, N = {self.n} training samples, {self.seeds} seeds, widths {list(self.widths)}"
        expected = reference.test_error_curve(self.far, *(t.double() for t in outcome.call.args[1:]), seeds=self.seeds,
                                              generator=torch.Generator().manual_seed(outcome.call.case))
        for width, row in zip(self.far, expected):
            ratio = errors[self.widths.index(width)] / row["test_error"]
            if not 0.5 <= ratio <= 2.0:
                raise CheckFailed(f"test_error at width {width} is {ratio:.2f} times what min-norm random features "
                                  f"give there; average the test-set mean squared error over the seeds ({where})")
        peak = self.widths[max(range(len(errors)), key=errors.__getitem__)]
        if not self.n / 1.25 <= peak <= 1.25 * self.n:
            raise CheckFailed(f"the test error is largest at width {peak}, not near N = {self.n}, where the min-norm "
                              f"fit just interpolates ({where})")
        baseline = max(errors[0], errors[-1])
        if max(errors) < 3 * baseline:
            raise CheckFailed(f"the test error at width ~N is only {max(errors) / baseline:.1f} times its value at the "
                              "smallest and largest widths; min-norm least squares should give a sharp peak there "
                              f"({where})")


class CurveRidge(Item):
    id, points, functions = "curve_ridge", 2, (CURVE,)
    title = "ridge (lam > 0) flattens the peak"

    n, d, seeds, lam = 40, 10, 3, 1.0
    widths = (10, 30, 40, 50, 160)

    def calls(self, gen):
        data, seed = _teacher(gen, self.n, self.d, 300, 2, torch.float32), kit.seed(gen)   # only lam differs
        return [_curve_call(self, key, self.widths, data, lam=lam, seeds=self.seeds, seed=seed,
                            note=f"with lam={lam:g}") for key, lam in [("min_norm", 0.0), ("ridge", self.lam)]]

    def judge(self, outcomes, ctx):
        calls = kit.roles(self, outcomes)
        min_norm, ridged = _test_errors(calls["min_norm"]), _test_errors(calls["ridge"])
        where = f"N = {self.n} training samples, widths {list(self.widths)}, the same generator seed for both curves"
        if not max(min_norm) > 3 * max(min_norm[0], min_norm[-1]):
            raise CheckFailed(f"with lam=0 the test error shows no peak at width ~N = {self.n} for ridge to flatten; "
                              f"make the min-norm curve right first ({where})")
        if max(ridged) > 0.5 * max(min_norm):
            raise CheckFailed(f"with lam={self.lam:g} the largest test error is {max(ridged) / max(min_norm):.2f} "
                              "times the min-norm peak; fit with ridge(phi, y, lam) when lam > 0, which should "
                              f"flatten the peak ({where})")


class CurveRows(Item):
    id, points, functions = "curve_rows", 2, (CURVE,)
    title = ("one row per width with width, train_error, test_error, drawn from the generator; train error ~ 0 "
             "from width N on")

    def calls(self, gen):
        n, d = kit.randint(gen, 32, 40), kit.randint(gen, 6, 10)     # N >= 32: no feature is dead on every sample
        data = _teacher(gen, n, d, 100, 2, torch.float64)
        widths, seed = [n // 4, n // 2, n, n + 3, 2 * n, 5 * n], kit.seed(gen)
        note = f"with lam=0 on {n} float64 training samples"
        curves = [_curve_call(self, key, widths, data, lam=0.0, seeds=2, seed=s, note=note + more)
                  for key, s, more in [("first", seed, ""), ("again", seed, ", a generator seeded alike"),
                                       ("other", kit.seed(gen), ", another seed")]]
        # The features the curve draws, twice alike: a curve cannot replay on features that do not (that bug is
        # features_sampling's), so the curve's replay is judged only where they do.
        return curves + [Call(f"{self.id}/features_{key}", FEATURES, (data[0], 4, Gen(seed))) for key in ("a", "b")]

    def judge(self, outcomes, ctx):
        calls = kit.roles(self, outcomes)
        rows, (widths, _, y_train, *_) = _rows(calls["first"]), calls["first"].call.args
        n = len(y_train)
        where = f"lam=0, {n} training samples, widths {widths}"
        missing = [key for key in ROW_KEYS if any(key not in row for row in rows)]
        if missing:
            raise CheckFailed(f"each row needs the keys {', '.join(ROW_KEYS)}; missing {', '.join(missing)}")
        got_widths = [_number(row, "width") for row in rows]
        if got_widths != [float(w) for w in widths]:
            raise CheckFailed(f"the rows' widths are {[int(w) for w in got_widths]}; they should be the widths asked "
                              "for, in the same order")
        table = {key: [_number(row, k) for row in _rows(calls[key]) for k in ROW_KEYS]
                 for key in ("first", "again", "other")}
        if kit.same(*(unpack(calls[f"features_{key}"].value, 2, FEATURES)[1] for key in ("a", "b"))):
            kit.check_replay(CURVE, table["first"], table["again"], "rows")
        kit.check_independent(CURVE, table["first"], table["other"], "rows")
        scale = y_train.double().pow(2).mean().item()
        for width, row in zip(widths, rows):
            train_error = _number(row, "train_error")
            if width >= n and train_error > 1e-8 * scale:
                raise CheckFailed(f"train_error is {train_error / scale:.2e} (relative to the mean squared target) at "
                                  f"width {width} >= N = {n}: the minimum-norm fit should interpolate the training "
                                  f"set there ({where})")
            if width <= n // 2 and train_error < 1e-3 * scale:
                raise CheckFailed(f"train_error is ~0 at width {width} < N = {n}: with fewer features than noisy "
                                  "training samples the fit cannot interpolate; measure it on the training set "
                                  f"({where})")


# --- all four ----------------------------------------------------------------------------------------

class Immutability(kit.CaseItem):
    """Every tensor argument unchanged after each call (y in both shapes), judged on outputs that look real."""

    id, points, functions = "immutability", 1, (FEATURES, MIN_NORM, RIDGE, CURVE)
    title = "x, phi, y and the data sets are not modified"
    enforce_rules = False

    def cases(self, gen):
        x, phi = kit.randn(gen, 12, 5, dtype=torch.float32) * 2 + 1, kit.randn(gen, 12, 20, dtype=torch.float32)
        targets = [kit.randn(gen, 12, 2, dtype=torch.float32), kit.randn(gen, 12, dtype=torch.float32)]
        # 30 zero-mean samples: a feature dead on all of them (a zero column of phi) has chance 2^-30.
        # Not standardized, so a fix-up in place shows.
        x_train, y_train, x_test, y_test = _teacher(gen, 30, 5, 30, 2, torch.float32)
        data = (x_train * 3, y_train, x_test * 3, y_test)
        return [Call(f"{self.id}/features", FEATURES, (x, 7, Gen(kit.seed(gen))), case=("phi", (12, 7))),
                *[Call(f"{self.id}/{key}{y.dim()}", func, (phi, y, *extra), case=("w", (20, *y.shape[1:])))
                  for key, func, extra in [("min_norm", MIN_NORM, ()), ("ridge", RIDGE, (2.0,))] for y in targets],
                _curve_call(self, "curve", [4, 64], data, lam=0.0, seeds=1, seed=kit.seed(gen), note="")]

    def check(self, outcome, ctx):
        func, value = outcome.call.func, outcome.value
        if func == CURVE:
            _test_errors(outcome)
        else:
            name, shape = outcome.call.case
            kit.require_real_result(func, name, unpack(value, 2, func)[0] if func == FEATURES else value, shape)
        kit.check_args_unchanged(func, outcome, PARAMETERS[func], advice="work on new tensors (x = x / s, not x /= s "
                                                                         "or x.div_(s))")


def make_checks() -> LabChecks:
    return LabChecks("06f-double-descent", (Features(), FeaturesSampling(), MinNorm(), Ridge(), Immutability(),
                                            CurveRows(), CurvePeak(), CurveRidge()), {RIDGE: _EXPLICIT_INVERSE})
