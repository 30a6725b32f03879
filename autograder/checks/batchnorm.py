"""Hidden checks for lab 06b, BatchNorm1d by hand: six items, each narrow enough that one mistake costs one item.

Every case is drawn fresh from the generator; the reference is ``solutions.batchnorm`` in float64. The edge cases
(a variance near eps, the smallest batch, float64) are declared once, in ``EDGES``, and every function meets them.
"""

from __future__ import annotations

from collections import namedtuple

import torch

from autograder.checks import kit
from autograder.checks.base import CheckFailed, Item, LabChecks, assert_tensor_close, close, unpack
from autograder.checks.kernel import batchnorm as helpers
from autograder.probes import Call, Ref
from solutions import batchnorm as reference

FORWARD, BACKWARD, FAST = "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_fast"
# BatchNorm itself, and the other norms that compute it when applied to the transpose (layer_norm over
# the batch axis normalizes each feature over the batch), however they are reached.
LIBRARY_BN = r"(batch|layer|group|instance|rms)_norm|(Batch|Layer|Group|Instance|RMS)Norm"
REAL = "immutability is checked once the function computes something"


# How a case is drawn: ranges of the batch size and the feature count, the spread of x, eps, dtype, and its name.
Draw = namedtuple("Draw", "n d scale eps dtype label", defaults=(2.0, 1e-5, torch.float32, ""))

NEAR_EPS = (Draw((8, 64), (3, 40), scale=0.01, label="variance near eps"),   # where eps goes shows
            Draw((8, 32), (3, 16), scale=0.05, eps=1e-3, label="variance near eps"))
SMALLEST = Draw((2, 2), (3, 8), scale=1.0)                                       # the smallest batch training takes
EDGES = (*NEAR_EPS, SMALLEST, Draw((8, 32), (3, 16), dtype=torch.float64))
ONE = Draw((1, 1), (2, 24))                                                       # eval mode only: training refuses it


def _case(gen, draw: Draw, momentum=0.1) -> dict:
    """x with a per-feature shift and scale (N != D, so a reduction over the wrong axis cannot hide), gamma, beta
    and running statistics (a running variance near eps where the batch's is)."""
    n = d = 0
    while n == d:
        n, d = kit.randint(gen, *draw.n), kit.randint(gen, *draw.d)
    shift = min(4.0, draw.scale)        # float32 cannot resolve a 0.01 spread around 4 well enough
    x = kit.randn(gen, n, d) * draw.scale * (0.5 + kit.rand(gen, d)) + shift * kit.randn(gen, d)
    tensors = {"x": x, "gamma": 0.5 + kit.rand(gen, d), "beta": kit.randn(gen, d), "running_mean": kit.randn(gen, d),
               "running_var": (0.5 + kit.rand(gen, d)) * min(1.0, draw.scale) ** 2}
    return {**{k: v.to(draw.dtype) for k, v in tensors.items()}, "eps": draw.eps, "momentum": momentum,
            "label": draw.label}


def _forward_call(call_id, case, i, total, training=True, default_momentum=False, **extra):
    """A forward call on ``case``, which it carries with the words that place it in a message."""
    n, d = case["x"].shape
    where = kit.where(i, total, f"batch {n} x {d} features", kit.dtype_name(case["x"].dtype), case["label"],
                      "momentum left at its default" if default_momentum else "")
    kwargs = {"training": training, "eps": case["eps"], **({} if default_momentum else {"momentum": case["momentum"]})}
    args = tuple(case[k] for k in ("x", "gamma", "beta", "running_mean", "running_var"))
    return Call(call_id, FORWARD, args, kwargs, note=f"in {'training' if training else 'eval'} mode on a batch of {n}",
                case={**case, **extra, "where": where})


def _reference(case, training=True):
    """(out, running_mean, running_var, cache) of the reference, in float64."""
    x, g, b, rm, rv = (case[k].double().clone() for k in ("x", "gamma", "beta", "running_mean", "running_var"))
    out, cache = reference.batchnorm_forward(x, g, b, rm, rv, training, momentum=case["momentum"], eps=case["eps"])
    return out, rm, rv, cache


def _out(outcome):
    return unpack(outcome.value, 2, FORWARD)[0], kit.device_of(outcome.devices, 0)


def _forward_calls(item, gen, draws, training=True):
    return [_forward_call(f"{item.id}/{i}", _case(gen, draw), i, len(draws), training) for i, draw in enumerate(draws)]


class ForwardTrain(kit.CaseItem):
    id, points, functions = "forward_train", 3, (FORWARD,)
    title = "training-mode output matches nn.BatchNorm1d"

    def cases(self, gen):
        return _forward_calls(self, gen, (Draw((8, 64), (3, 40), scale=3.0), *EDGES))

    def check(self, outcome, ctx):
        case, (out, device) = outcome.call.case, _out(outcome)
        expected, tol = _reference(case)[0], ctx.tolerance(case["x"].dtype)
        x, g, b, eps = case["x"].double(), case["gamma"].double(), case["beta"].double(), case["eps"]
        n, mu, var = x.shape[0], x.mean(0), x.var(0, unbiased=False)
        kit.diagnose(out, [
            ("eps is added outside the square root; use sqrt(var + eps)", g * (x - mu) / (var.sqrt() + eps) + b),
            ("it normalizes with the unbiased variance (divide by N - 1); BatchNorm normalizes with the biased one "
             "(divide by N)", g * (x - mu) / (var * n / (n - 1) + eps).sqrt() + b),
            ("gamma and beta are not applied", (x - mu) / (var + eps).sqrt()),
            ("the statistics are taken over the features (dim 1); take them per feature, over the batch (dim 0)",
             g * (x - x.mean(1, keepdim=True)) / (x.var(1, unbiased=False, keepdim=True) + eps).sqrt() + b)],
            expected, tol, case["where"], "out is wrong: ")
        assert_tensor_close("out", out, expected, ctx, dtype=case["x"].dtype, device=device, where=case["where"])


class RunningStats(kit.CaseItem):
    id, points, functions = "running_stats", 2, (FORWARD,)
    title = "running_mean / running_var updated in place, the PyTorch way"

    def cases(self, gen):
        base = Draw((4, 48), (2, 24))
        table = [(base, 0.1), (base, kit.uniform(gen, 0.05, 0.45)), (base, None), *((draw, 0.1) for draw in EDGES)]
        return [_forward_call(f"{self.id}/{i}", _case(gen, draw, momentum or 0.1), i, len(table),
                              default_momentum=momentum is None) for i, (draw, momentum) in enumerate(table)]

    def check(self, outcome, ctx):
        case, (got_mean, got_var) = outcome.call.case, outcome.args_after[3:5]
        if torch.equal(got_mean, case["running_mean"]) and torch.equal(got_var, case["running_var"]):
            raise CheckFailed("running_mean and running_var did not change in training mode; update them in place "
                              f"(running_mean.mul_(1 - momentum).add_(...), or .copy_(...)) ({case['where']})")
        _, expected_mean, expected_var, _ = _reference(case)
        x, m, tol = case["x"].double(), case["momentum"], ctx.tolerance(case["x"].dtype)
        rm, rv = case["running_mean"].double(), case["running_var"].double()
        kit.diagnose(got_var, [("running_var uses the biased batch variance; PyTorch updates it with the unbiased one "
                                "(divide by N - 1)", (1 - m) * rv + m * x.var(0, unbiased=False))],
                     expected_var, tol, case["where"])
        kit.diagnose(got_mean, [
            ("momentum is the other way round: new = (1 - momentum) * old + momentum * batch statistic",
             m * rm + (1 - m) * x.mean(0)),
            ("running_mean was replaced by the batch mean; blend it: (1 - momentum) * old + momentum * batch mean",
             x.mean(0))], expected_mean, tol, case["where"])
        for name, got, want in (("running_mean", got_mean, expected_mean), ("running_var", got_var, expected_var)):
            assert_tensor_close(name, got, want, ctx, dtype=case["x"].dtype, device=None, where=case["where"])


class EvalMode(kit.CaseItem):
    id, points, functions = "eval_mode", 2, (FORWARD,)
    title = "eval mode uses the running statistics and changes nothing"

    def cases(self, gen):
        return _forward_calls(self, gen, (Draw((4, 48), (2, 24)), ONE, *EDGES), training=False)

    def check(self, outcome, ctx):
        case, (out, device) = outcome.call.case, _out(outcome)
        kit.check_unchanged(FORWARD, outcome, {k: (i, case[k]) for i, k in ((3, "running_mean"), (4, "running_var"))},
                            context=f"eval mode, {case['where']}", advice="eval mode must leave them as they are")
        expected, tol = _reference(case, training=False)[0], ctx.tolerance(case["x"].dtype)
        x, g, b, rm, rv = (case[k].double() for k in ("x", "gamma", "beta", "running_mean", "running_var"))
        kit.diagnose(out, [
            ("eval mode normalizes with the batch statistics; it must use running_mean and running_var",
             _reference(case)[0] if len(x) > 1 else expected),
            ("out is wrong: eps is added outside the square root; use sqrt(running_var + eps)",
             g * (x - rm) / (rv.sqrt() + case["eps"]) + b)], expected, tol, case["where"])
        assert_tensor_close("out", out, expected, ctx, dtype=case["x"].dtype, device=device, where=case["where"])


class Immutability(Item):
    """Inputs unchanged after each call, and the cache after a backward, judged on outputs that look like real results:
    correctness and the from-scratch rule belong to the other items, and a stub cannot collect the point."""

    id, points, functions = "immutability", 1, (FORWARD, BACKWARD, FAST)
    title = "x, gamma, beta, dout and the cache are not modified"
    enforce_rules = False

    def calls(self, gen):
        case = _case(gen, Draw((4, 32), (2, 16)))
        dout, cache = kit.randn(gen, *case["x"].shape, dtype=torch.float32), Ref(f"{self.id}/training", 1)
        return [*(_forward_call(f"{self.id}/{mode}", case, 0, 1, mode == "training") for mode in ("training", "eval")),
                *(Call(f"{self.id}/{f}", f, (f, dout, cache), helper="backward_on_cache") for f in (BACKWARD, FAST))]

    def judge(self, outcomes, ctx):
        got = kit.roles(self, outcomes)
        shape = got["training"].call.case["x"].shape
        for mode in ("training", "eval"):
            kit.require_real_result(FORWARD, "out", _out(got[mode])[0], shape, REAL)
            kit.check_args_unchanged(FORWARD, got[mode], ("x", "gamma", "beta"), context=f"{mode} mode")
        for func in (BACKWARD, FAST):
            grads, before, after = unpack(got[func].value, 3, func)
            kit.require_real_result(func, "dx", unpack(grads, 3, func)[0], shape, REAL)
            kit.check_args_unchanged(func, got[func], ("name", "dout"))
            if not kit.same(before, after):
                raise CheckFailed(f"{func} modified the cache in place, so a second backward on it gives other "
                                  "gradients; work on new tensors (dxc = dx_hat * inv_std, not x_hat.mul_(...))")


class _Backward(kit.CaseItem):
    """Gradients of one backward function against the reference, on the student's own forward cache. eps is tiny
    but where it is the point (a variance near eps), and there the backward is judged only where the forward is
    right: a forward that puts eps in the wrong place is the forward's item to lose. A batch of two is left out: its
    dx vanishes, and only float32 rounding would be compared."""

    func: str

    def cases(self, gen):
        draws = [Draw((8, 64), (3, 40), scale=kit.uniform(gen, 2, 5), eps=1e-10, dtype=dtype)
                 for dtype in (torch.float32, torch.float32, torch.float32, torch.float64)]
        draws += [draw if draw in NEAR_EPS else draw._replace(eps=1e-10) for draw in EDGES if draw != SMALLEST]
        for i, draw in enumerate(draws):
            case = _case(gen, draw)
            dout = kit.randn(gen, *case["x"].shape, dtype=draw.dtype)
            yield _forward_call(f"{self.id}/{i}/forward", case, i, len(draws), dout=dout, gated=draw in NEAR_EPS)
            yield Call(f"{self.id}/{i}", self.func, (dout, Ref(f"{self.id}/{i}/forward", 1)))

    def judge(self, outcomes, ctx):
        got = kit.roles(self, outcomes)
        for i in range(len(got) // 2):
            case, forward, outcome = got[f"{i}/forward"].call.case, got[f"{i}/forward"].value, got[str(i)]
            out = forward[0] if isinstance(forward, tuple) and forward else None
            if case["gated"] and not (isinstance(out, torch.Tensor) and
                                      close(out, _reference(case)[0], ctx.tolerance(case["x"].dtype))):
                continue
            grads = unpack(outcome.value, 3, self.func)
            devices = outcome.devices if isinstance(outcome.devices, tuple) else (None,) * 3
            expected = reference.batchnorm_backward_fast(case["dout"].double(), _reference(case)[3])
            n, d = case["x"].shape
            for name, value in zip(("dgamma", "dbeta"), grads[1:]):
                if isinstance(value, torch.Tensor) and tuple(value.shape) in ((n, d), (n,)):
                    raise CheckFailed((f"{name} has shape {(n, d)}: sum it over the batch (dim 0) to get shape ({d},)"
                                       if value.dim() == 2 else f"{name} is summed over the features (dim 1); sum over "
                                       "the batch (dim 0)") + f" ({case['where']})")
            for name, value, want, device in zip(("dx", "dgamma", "dbeta"), grads, expected, devices):
                assert_tensor_close(name, value, want, ctx, dtype=case["x"].dtype, device=device, where=case["where"])


class BackwardStaged(_Backward):
    id, points, functions, func = "backward_staged", 3, (BACKWARD,), BACKWARD
    title = "staged backward matches autograd"


class BackwardFast(_Backward):
    id, points, functions, func = "backward_fast", 3, (FAST,), FAST
    title = "closed-form backward matches autograd"


def make_checks() -> LabChecks:
    return LabChecks(
        lab="06b-batchnorm-by-hand",
        items=(ForwardTrain(), RunningStats(), EvalMode(), Immutability(), BackwardStaged(), BackwardFast()),
        forbidden={FORWARD: LIBRARY_BN, BACKWARD: f"{LIBRARY_BN}|{kit.AUTOGRAD}", FAST: f"{LIBRARY_BN}|{kit.AUTOGRAD}"},
        helpers=helpers,
    )
