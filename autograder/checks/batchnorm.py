"""Hidden checks for lab 06b, BatchNorm1d by hand.

Six items, each narrow enough that one mistake costs one item: the forward
output, the running statistics, eval mode, immutability of the inputs, the
staged backward and the fast backward. Every case is drawn fresh from the
generator; the reference is ``solutions.batchnorm`` evaluated in float64.
"""

from __future__ import annotations

import torch

from autograder.checks.base import (CheckFailed, Item, LabChecks, assert_tensor_close, close,
                                    describe, unpack)
from autograder.probes import Call, Outcome, Ref
from solutions import batchnorm as reference

FORWARD, BACKWARD, FAST = "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_fast"
_AUTOGRAD = r"Tensor\.backward|autograd\.grad$|autograd\.backward$|run_backward"
# BatchNorm itself, and the other norms that compute it when applied to the transpose (layer_norm over
# the batch axis normalizes each feature over the batch), however they are reached.
_LIBRARY_BN = r"(batch|layer|group|instance|rms)_norm|(Batch|Layer|Group|Instance|RMS)Norm"


def _case(gen, n, d, *, scale, shift=4.0, dtype=torch.float32, eps=1e-5, momentum=0.1):
    """Inputs for one forward call: x with per-feature shift and scale, gamma, beta, running stats.

    Keep ``shift`` small against ``scale`` for tiny scales: float32 cannot
    resolve a 0.01 spread around 4 well enough for a fair comparison.
    """
    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    x = randn(n, d) * scale * (0.5 + rand(d)) + shift * randn(d)
    return {"x": x.to(dtype), "gamma": (0.5 + rand(d)).to(dtype), "beta": randn(d).to(dtype),
            "running_mean": randn(d).to(dtype), "running_var": (0.5 + rand(d)).to(dtype),
            "eps": eps, "momentum": momentum}


def _shape(gen, n_range, d_range):
    """A random (N, D) with N != D, so a reduction over the wrong axis cannot hide."""
    while True:
        n = int(torch.randint(n_range[0], n_range[1] + 1, (1,), generator=gen))
        d = int(torch.randint(d_range[0], d_range[1] + 1, (1,), generator=gen))
        if n != d:
            return n, d


def _forward_call(call_id, case, training=True, momentum=True):
    kwargs = {"training": training, "eps": case["eps"]}
    if momentum:
        kwargs["momentum"] = case["momentum"]
    n = case["x"].shape[0]
    note = f"in {'training' if training else 'eval'} mode on a batch of {n}"
    return Call(call_id, FORWARD, (case["x"], case["gamma"], case["beta"],
                                   case["running_mean"], case["running_var"]), kwargs, note=note)


def _reference_forward(case, training=True):
    """(out, running_mean, running_var) of the reference, in float64."""
    rm, rv = case["running_mean"].double().clone(), case["running_var"].double().clone()
    out, _ = reference.batchnorm_forward(case["x"].double(), case["gamma"].double(), case["beta"].double(),
                                         rm, rv, training=training, momentum=case["momentum"], eps=case["eps"])
    return out, rm, rv


def _where(case, index, total):
    n, d = case["x"].shape
    return f"case {index + 1} of {total}: batch {n} x {d} features, {str(case['x'].dtype).removeprefix('torch.')}"


def _returned_out(outcome: Outcome):
    out, _ = unpack(outcome.value, 2, f"{FORWARD}")
    device = outcome.devices[0] if isinstance(outcome.devices, tuple) else None
    return out, device


class ForwardTrain(Item):
    id, points, functions = "forward_train", 3, (FORWARD,)
    title = "training-mode output matches nn.BatchNorm1d"

    def calls(self, gen):
        self.cases = [_case(gen, *shape, scale=s, shift=min(4.0, s), eps=eps, dtype=dt) for shape, s, eps, dt in [
            (_shape(gen, (8, 64), (3, 40)), 3.0, 1e-5, torch.float32),
            (_shape(gen, (8, 64), (3, 40)), 0.01, 1e-5, torch.float32),      # var ~ eps: eps placement shows
            (_shape(gen, (8, 32), (3, 16)), 0.05, 1e-3, torch.float32),
            (_shape(gen, (2, 2), (3, 8)), 1.0, 1e-5, torch.float32),          # the smallest batch
            (_shape(gen, (8, 32), (3, 16)), 2.0, 1e-5, torch.float64),
        ]]
        return [_forward_call(f"{self.id}/{i}", case) for i, case in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, case in enumerate(self.cases):
            where = _where(case, i, len(self.cases))
            out, device = _returned_out(outcomes[f"{self.id}/{i}"])
            expected, _, _ = _reference_forward(case)
            if isinstance(out, torch.Tensor) and out.shape == expected.shape and not close(out, expected, ctx.tolerance(out.dtype)):
                hint = _diagnose_forward(out, case, ctx)
                if hint:
                    raise CheckFailed(f"out is wrong: {hint} ({where})")
            assert_tensor_close("out", out, expected, ctx, dtype=case["x"].dtype, device=device, where=where)


def _diagnose_forward(out, case, ctx):
    x, g, b, eps = case["x"].double(), case["gamma"].double(), case["beta"].double(), case["eps"]
    n = x.shape[0]
    mu, var = x.mean(0), x.var(0, unbiased=False)
    tol = ctx.tolerance(out.dtype)
    if close(out, g * (x - mu) / (var.sqrt() + eps) + b, tol):
        return "eps is added outside the square root; use sqrt(var + eps)"
    if close(out, g * (x - mu) / (var * n / (n - 1) + eps).sqrt() + b, tol):
        return "it normalizes with the unbiased variance (divide by N - 1); BatchNorm normalizes with the biased one (divide by N)"
    if close(out, (x - mu) / (var + eps).sqrt(), tol):
        return "gamma and beta are not applied"
    if close(out, g * (x - x.mean(1, keepdim=True)) / (x.var(1, unbiased=False, keepdim=True) + eps).sqrt() + b, tol):
        return "the statistics are taken over the features (dim 1); take them per feature, over the batch (dim 0)"
    return None


class RunningStats(Item):
    id, points, functions = "running_stats", 2, (FORWARD,)
    title = "running_mean / running_var updated in place, the PyTorch way"

    def calls(self, gen):
        momenta = [0.1, float(0.05 + 0.4 * torch.rand(1, generator=gen)), 0.1]
        self.cases = [_case(gen, *_shape(gen, (4, 48), (2, 24)), scale=2.0, momentum=m) for m in momenta]
        # The last case leaves momentum out: the default must be 0.1.
        return [_forward_call(f"{self.id}/{i}", case, momentum=i < 2) for i, case in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, case in enumerate(self.cases):
            where = _where(case, i, len(self.cases)) + (", momentum left at its default" if i == 2 else "")
            outcome = outcomes[f"{self.id}/{i}"]
            _, expected_mean, expected_var = _reference_forward(case)
            got_mean, got_var = outcome.args_after[3], outcome.args_after[4]
            if torch.equal(got_mean, case["running_mean"]) and torch.equal(got_var, case["running_var"]):
                raise CheckFailed("running_mean and running_var did not change in training mode; update them in place "
                                  f"(running_mean.mul_(1 - momentum).add_(...), or .copy_(...)) ({where})")
            hint = _diagnose_running(got_mean, got_var, case, ctx)
            if hint:
                raise CheckFailed(f"{hint} ({where})")
            assert_tensor_close("running_mean", got_mean, expected_mean, ctx, dtype=case["x"].dtype, device=None, where=where)
            assert_tensor_close("running_var", got_var, expected_var, ctx, dtype=case["x"].dtype, device=None, where=where)


def _diagnose_running(got_mean, got_var, case, ctx):
    x, m = case["x"].double(), case["momentum"]
    rm, rv = case["running_mean"].double(), case["running_var"].double()
    tol = ctx.tolerance(got_var.dtype)
    mean, biased = x.mean(0), x.var(0, unbiased=False)
    if close(got_var, (1 - m) * rv + m * biased, tol):
        return "running_var uses the biased batch variance; PyTorch updates it with the unbiased one (divide by N - 1)"
    if close(got_mean, m * rm + (1 - m) * mean, tol):
        return "momentum is the other way round: new = (1 - momentum) * old + momentum * batch statistic"
    if close(got_mean, mean, tol):
        return "running_mean was replaced by the batch mean; blend it: (1 - momentum) * old + momentum * batch mean"
    return None


class EvalMode(Item):
    id, points, functions = "eval_mode", 2, (FORWARD,)
    title = "eval mode uses the running statistics and changes nothing"

    def calls(self, gen):
        self.cases = [_case(gen, *shape, scale=2.0, eps=eps) for shape, eps in [
            (_shape(gen, (4, 48), (2, 24)), 1e-5), (_shape(gen, (4, 48), (2, 24)), 1e-3),
            (_shape(gen, (1, 1), (2, 24)), 1e-5)]]                            # eval works on a batch of one
        return [_forward_call(f"{self.id}/{i}", case, training=False) for i, case in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, case in enumerate(self.cases):
            where = _where(case, i, len(self.cases))
            outcome = outcomes[f"{self.id}/{i}"]
            out, device = _returned_out(outcome)
            if not (torch.equal(outcome.args_after[3], case["running_mean"])
                    and torch.equal(outcome.args_after[4], case["running_var"])):
                raise CheckFailed(f"eval mode changed running_mean / running_var; it must leave them as they are ({where})")
            expected, _, _ = _reference_forward(case, training=False)
            x = case["x"].double()
            if x.shape[0] > 1 and isinstance(out, torch.Tensor) and close(out, _reference_forward(case)[0], ctx.tolerance(out.dtype)):
                raise CheckFailed(f"eval mode normalizes with the batch statistics; it must use running_mean and running_var ({where})")
            assert_tensor_close("out", out, expected, ctx, dtype=case["x"].dtype, device=device, where=where)


class Immutability(Item):
    """Inputs unchanged after each call, judged on outputs that look like real results.

    Correctness and the from-scratch rule belong to the other items; here a
    constant or non-tensor output fails, so a stub cannot collect the point.
    """

    id, points, functions = "immutability", 1, (FORWARD, BACKWARD, FAST)
    title = "x, gamma, beta and dout are not modified"
    enforce_rules = False

    def calls(self, gen):
        self.case = _case(gen, *_shape(gen, (4, 32), (2, 16)), scale=2.0)
        self.dout = torch.randn(self.case["x"].shape, generator=gen)
        return [_forward_call(f"{self.id}/train", self.case),
                _forward_call(f"{self.id}/eval", self.case, training=False),
                Call(f"{self.id}/backward", BACKWARD, (self.dout, Ref(f"{self.id}/train", 1))),
                Call(f"{self.id}/fast", FAST, (self.dout, Ref(f"{self.id}/train", 1)))]

    def judge(self, outcomes, ctx):
        inputs = {"x": 0, "gamma": 1, "beta": 2}
        for mode in ("train", "eval"):
            outcome = outcomes[f"{self.id}/{mode}"]
            _require_real_result(FORWARD, "out", unpack(outcome.value, 2, FORWARD)[0], self.case["x"])
            for name, position in inputs.items():
                if not torch.equal(outcome.args_after[position], self.case[name]):
                    raise CheckFailed(f"{FORWARD} modified its input {name} in place ({mode} mode); "
                                      "work on new tensors (x - mu, not x.sub_(mu) or x -= mu)")
        for key, func in (("backward", BACKWARD), ("fast", FAST)):
            outcome = outcomes[f"{self.id}/{key}"]
            _require_real_result(func, "dx", unpack(outcome.value, 3, func)[0], self.case["x"])
            if not torch.equal(outcome.args_after[0], self.dout):
                raise CheckFailed(f"{func} modified dout in place; work on new tensors")


def _require_real_result(func, name, value, x):
    if not (isinstance(value, torch.Tensor) and value.shape == x.shape and torch.isfinite(value).all()
            and value.double().std() > 0):
        raise CheckFailed(f"{func} returned {describe(value)} as {name}, not a real result of shape "
                          f"{tuple(x.shape)}; immutability is checked once the function computes something")


class _Backward(Item):
    """Gradients of one backward function against the reference, on the student's own forward cache."""

    func: str

    def calls(self, gen):
        self.cases = []
        for dtype in (torch.float32, torch.float32, torch.float32, torch.float64):
            # A tiny eps, so a forward that puts eps outside the sqrt is not blamed here.
            case = _case(gen, *_shape(gen, (8, 64), (3, 40)), scale=float(2 + 3 * torch.rand(1, generator=gen)),
                         dtype=dtype, eps=1e-10)
            case["dout"] = torch.randn(case["x"].shape, generator=gen, dtype=torch.float64).to(dtype)
            self.cases.append(case)
        calls = []
        for i, case in enumerate(self.cases):
            calls.append(_forward_call(f"{self.id}/{i}/forward", case))
            calls.append(Call(f"{self.id}/{i}", self.func, (case["dout"], Ref(f"{self.id}/{i}/forward", 1))))
        return calls

    def judge(self, outcomes, ctx):
        for i, case in enumerate(self.cases):
            where = _where(case, i, len(self.cases))
            outcome = outcomes[f"{self.id}/{i}"]
            grads = unpack(outcome.value, 3, self.func)
            devices = outcome.devices if isinstance(outcome.devices, tuple) else (None,) * 3
            x, g, b = (case[k].double() for k in ("x", "gamma", "beta"))
            _, cache = reference.batchnorm_forward(x, g, b, torch.zeros_like(g), torch.ones_like(g), eps=case["eps"])
            expected = reference.batchnorm_backward_fast(case["dout"].double(), cache)
            hint = _diagnose_backward(grads, expected, case)
            if hint:
                raise CheckFailed(f"{hint} ({where})")
            for name, got, want, device in zip(("dx", "dgamma", "dbeta"), grads, expected, devices):
                assert_tensor_close(name, got, want, ctx, dtype=case["x"].dtype, device=device, where=where)


def _diagnose_backward(grads, expected, case):
    dx, dgamma, dbeta = grads
    d = case["x"].shape[1]
    n = case["x"].shape[0]
    for name, got in (("dgamma", dgamma), ("dbeta", dbeta)):
        if isinstance(got, torch.Tensor) and tuple(got.shape) == (n, d):
            return f"{name} has shape {(n, d)}: sum it over the batch (dim 0) to get shape ({d},)"
        if isinstance(got, torch.Tensor) and tuple(got.shape) == (n,):
            return f"{name} is summed over the features (dim 1); sum over the batch (dim 0)"
    return None


class BackwardStaged(_Backward):
    id, points, functions, func = "backward_staged", 3, (BACKWARD,), BACKWARD
    title = "staged backward matches autograd"


class BackwardFast(_Backward):
    id, points, functions, func = "backward_fast", 3, (FAST,), FAST
    title = "closed-form backward matches autograd"


def make_checks() -> LabChecks:
    """A fresh set of items: they keep the cases they drew, so never share one between gradings."""
    return LabChecks(
        lab="06b-batchnorm-by-hand",
        items=(ForwardTrain(), RunningStats(), EvalMode(), Immutability(), BackwardStaged(), BackwardFast()),
        forbidden={FORWARD: _LIBRARY_BN, BACKWARD: f"{_LIBRARY_BN}|{_AUTOGRAD}", FAST: f"{_LIBRARY_BN}|{_AUTOGRAD}"},
    )
