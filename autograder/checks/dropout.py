"""Hidden checks for lab 06c, dropout from scratch: nine items, each narrow enough that one mistake costs one item.

The edge cases (p = 0, p = 1, a batch of one) are declared once, in ``edges``; every function that takes p meets
them. Given the mask a function drew, its output is exact: ``x * mask / (1 - p)``, with the mask it returned or read
from which outputs are zero (hidden inputs never are). Masks are judged by exact tests at ``ALPHA = 1e-7``
(``check_mask_statistics``); a grading runs at most 51, so correct code loses a point with probability below 6e-6
(tests/test_checks_over_seeds.py measures it with REGLAB_SEEDS=200), and each bug of the zoo fails far below ALPHA.
"""

from __future__ import annotations

import torch
from scipy.stats import binomtest, fisher_exact

from autograder.checks import kit
from autograder.checks.base import CheckFailed, Item, LabChecks, assert_tensor_close, close, describe, unpack
from autograder.checks.kernel import dropout as helpers
from autograder.probes import Call, Gen, Ref

MASK, FORWARD, BACKWARD = "dropout_mask", "dropout_forward", "dropout_backward"
MODULE, VARIATIONAL = "Dropout", "variational_dropout"
ALPHA = 1e-7
EDGE_P = (0.0, 1.0)
LIBRARY_DROPOUT = r"(?i)dropout"       # F.dropout, nn.Dropout, torch.dropout, aten native_dropout, ...
CONVENTION = "p is the DROP probability, as in nn.Dropout: keep each element with probability 1 - p"


def edges(gen, shape) -> list[tuple[tuple, float]]:
    """The edge cases of every function that takes p, as (shape, p): p = 0 keeps everything, p = 1 drops everything
    (zeros, never NaN), and a batch of one (``shape`` with a first size of 1) at a p away from 1/2."""
    return [(tuple(shape), 0.0), (tuple(shape), 1.0), ((1, *shape[1:]), kit.uniform(gen, 0.1, 0.3, 3))]


def _nonzero(gen, shape, dtype=torch.float32):
    """Values in ±[0.5, 2]: never zero, so a zero in the output means a dropped element."""
    return (torch.where(kit.rand(gen, *shape) < 0.5, -1.0, 1.0) * (0.5 + 1.5 * kit.rand(gen, *shape))).to(dtype)


def _sizes(gen, *ranges) -> tuple:
    return tuple(kit.randint(gen, low, high) for low, high in ranges)


def _where(i, total, x, p, *details):
    """The words that place a case; ``x`` is the input, or the shape asked for."""
    shape, dtype = (x.shape, kit.dtype_name(x.dtype)) if isinstance(x, torch.Tensor) else (x, "")
    return kit.where(i, total, f"shape {tuple(shape)}", dtype, f"p = {p:g}", *details)


def _kept(name, value, shape, where, *, device=None, ctx=None, returned=True, p=None):
    """What a function kept, as float64 0/1: the mask it ``returned``, or where its output is not zero; for p = 0
    and p = 1, everything or nothing."""
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(shape):
        got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else describe(value)
        raise CheckFailed(f"{name} should be a tensor of shape {tuple(shape)}; got {got} ({where})")
    if returned and device is not None and device != ctx.device:
        raise CheckFailed(f"{name} is on {device}; make it on {ctx.device}, the device of the inputs and the "
                          f"generator ({where})")
    if not torch.isfinite(value).all():
        raise CheckFailed(f"{name} contains NaN or inf ({where})")
    kept = value.double() if returned else (value != 0).double()
    if returned and not ((kept == 0) | (kept == 1)).all():
        raise CheckFailed(f"{name} should hold only 0 (drop) and 1 (keep); it holds other values ({where})")
    if p in EDGE_P and not (kept == 1 - p).all():
        raise CheckFailed(f"with p = {p:g} {name} should {'keep' if p == 0 else 'drop'} every element "
                          f"(p = 0 keeps everything, p = 1 drops everything) ({where})")
    return kept


def check_drop(name, out, x, p, ctx, where, device, kept=None) -> torch.Tensor:
    """``out`` is ``x * kept / (1 - p)`` (the backward's ``dx``: ``dout * mask / (1 - p)``), with ``kept`` the mask
    the function returned or was given, or else read from ``out``. Returns ``kept``."""
    if p == 1 and isinstance(out, torch.Tensor) and not torch.isfinite(out).all():
        raise CheckFailed(f"{name} contains NaN or inf ({where}): with p = 1 everything is dropped; return zeros "
                          "instead of dividing by 1 - p = 0")
    kept = _kept(name, out, x.shape, where, returned=False, p=p) if kept is None else kept
    xk, scale, tol = x.double() * kept, 1.0 / (1.0 - p) if p < 1 else 0.0, ctx.tolerance(x.dtype)
    for wrong, words in [
            (xk, "kept elements are not scaled by 1 / (1 - p): inverted dropout scales them in training so that the "
                 "expected output equals the input, and the backward scales as the forward did"),
            (xk * (1 - p), "kept elements are multiplied by (1 - p); inverted dropout divides by (1 - p)"),
            (xk / max(p, 1e-9), f"kept elements are divided by p; divide by the keep probability 1 - p ({CONVENTION})"),
            (x.double() * scale, "the mask is not applied: dropped elements are 0 (their gradient too: they did not "
                                 "reach the output)")]:
        kit.known_mistake(out, wrong, xk * scale, tol, f"{name} is wrong: {words}", where)
    assert_tensor_close(f"{name} (against x * mask / (1 - p))", out, xk * scale, ctx, dtype=x.dtype, device=device,
                        where=where)
    return kept


def check_mask_statistics(kept: torch.Tensor, p: float, what: str, where: str, axes=None) -> None:
    """For 0 < p < 1: independence along every axis first (a shared mask also upsets the keep rate), by Fisher's test
    on the 2 x 2 table of disjoint neighbour pairs (kept?, kept?), which conditions on its margins (a shared mask fills
    its diagonal); then the kept count against Binomial(n, 1 - p). ``axes``: per dim, (its name, the advice)."""
    if p in EDGE_P:
        return
    for dim in range(kept.dim()):
        along, advice = axes[dim] if axes else (
            f"dim {dim}", f"draw an independent keep/drop for every element, not one shared along dim {dim}")
        moved = kept.movedim(dim, -1)
        pairs = moved.shape[-1] // 2
        first, second = moved[..., 0:2 * pairs:2].bool(), moved[..., 1:2 * pairs:2].bool()
        table = [[int((first & second).sum()), int((first & ~second).sum())],
                 [int((~first & second).sum()), int((~first & ~second).sum())]]
        if pairs and fisher_exact(table).pvalue < ALPHA:
            agree = (table[0][0] + table[1][1]) / first.numel()
            raise CheckFailed(f"{what}: neighbouring elements along {along} are kept or dropped together {agree:.0%} "
                              f"of the time, far from what independent draws give; {advice} ({where})")
    rate = kept.mean().item()
    if binomtest(int(kept.sum().item()), kept.numel(), 1 - p).pvalue < ALPHA:
        hint = f"; {CONVENTION}" if abs(rate - p) < min(0.05, abs(rate - (1 - p))) else ""
        raise CheckFailed(f"{what} keeps {rate:.1%} of the elements for p = {p:g}; about {1 - p:.1%} "
                          f"should be kept{hint} ({where})")


def _calls(item, gen, func, table, training=True, prefix=""):
    """Calls of ``func`` on fresh inputs for (shape, dtype, p, seeded) cases; unseeded ones leave the generator out."""
    calls, mode = [], "training" if training else "eval"
    for i, (shape, dtype, p, seeded) in enumerate(table):
        x, details = _nonzero(gen, shape, dtype), ("" if training else "eval mode", "" if seeded else "no generator")
        kwargs = {"training": training, **({"generator": Gen(kit.seed(gen))} if seeded else {})}
        calls.append(Call(f"{item.id}/{prefix}{i}", func, (x, p), kwargs, note=f"in {mode} mode, p = {p:g}",
                          case=(x, p, _where(i, len(table), x, p, *details))))
    return calls


class MaskSampler(kit.CaseItem):
    id, points, functions = "mask_sampler", 2, (MASK,)
    title = "dropout_mask: 0/1 mask of the right shape, keep rate 1 - p, independent elements"

    def cases(self, gen):
        table = [  # (shape, p): p away from 1/2 where the convention must show
            (torch.Size(_sizes(gen, (150, 250), (80, 120))), 0.5),
            (_sizes(gen, (48, 80), (200, 300)), kit.uniform(gen, 0.1, 0.3, 3)),
            (_sizes(gen, (8, 12), (30, 50), (40, 60)), kit.uniform(gen, 0.65, 0.9, 3)),
            (_sizes(gen, (4000, 6000)), kit.uniform(gen, 0.35, 0.45, 3)), *edges(gen, _sizes(gen, (3, 9), (30, 60)))]
        return [Call(f"{self.id}/{i}", MASK, (shape, p, Gen(kit.seed(gen))), note=f"for shape {tuple(shape)}, p={p:g}",
                     case=(shape, p, _where(i, len(table), shape, p))) for i, (shape, p) in enumerate(table)]

    def check(self, outcome, ctx):
        shape, p, where = outcome.call.case
        mask = _kept("the mask", outcome.value, shape, where, device=kit.device_of(outcome.devices), ctx=ctx, p=p)
        check_mask_statistics(mask, p, "the mask", where)


class ForwardTrain(kit.CaseItem):
    id, points, functions = "forward_train", 3, (FORWARD,)
    title = "dropout_forward in training: out = x * mask / (1 - p), mask kept with probability 1 - p"

    def cases(self, gen):
        f32, (one, p_one) = torch.float32, edges(gen, _sizes(gen, (8, 30), (60, 100)))[2]      # the batch of one
        return _calls(self, gen, FORWARD, [
            (_sizes(gen, (64, 128), (60, 100)), f32, kit.uniform(gen, 0.1, 0.3, 3), True),
            (_sizes(gen, (4, 8), (3, 6), (12, 20), (12, 20)), f32, kit.uniform(gen, 0.6, 0.9, 3), True),
            (_sizes(gen, (16, 32), (10, 20), (24, 40)), torch.float64, kit.uniform(gen, 0.3, 0.7, 3), True),
            (_sizes(gen, (40, 80), (60, 100)), f32, kit.uniform(gen, 0.2, 0.4, 3), False), (one, f32, p_one, True)])

    def check(self, outcome, ctx):
        x, p, where = outcome.call.case
        out, mask = unpack(outcome.value, 2, FORWARD)
        kept = _kept("mask", mask, x.shape, where, device=kit.device_of(outcome.devices, 1), ctx=ctx, p=p)
        check_drop("out", out, x, p, ctx, where, kit.device_of(outcome.devices, 0), kept=kept)
        check_mask_statistics(kept, p, "mask", where)


class EdgeCases(ForwardTrain):
    """p = 0 and p = 1 (the batch of one is forward_train's: a mistake for any p shows there)."""

    id, points, functions = "edge_cases", 1, (FORWARD,)
    title = "dropout_forward: p = 0 is the identity, p = 1 gives zeros without NaN"

    def cases(self, gen):
        shape = _sizes(gen, (8, 30), (60, 100))
        return _calls(self, gen, FORWARD, [(s, torch.float32, p, True) for s, p in edges(gen, shape)[:2]])


class EvalMode(kit.CaseItem):
    id, points, functions = "eval_mode", 1, (FORWARD,)
    title = "dropout_forward in eval mode: the identity, mask None"

    def cases(self, gen):
        table = [(_sizes(gen, (20, 60), (10, 40)), dtype, kit.uniform(gen, 0.2, 0.8, 3), seeded)
                 for dtype, seeded in [(torch.float32, True), (torch.float64, True), (torch.float32, False)]]
        table += [(s, torch.float32, p, True) for s, p in edges(gen, _sizes(gen, (20, 60), (10, 40)))]
        return _calls(self, gen, FORWARD, table, training=False)

    def check(self, outcome, ctx):
        x, p, where = outcome.call.case
        out, mask = unpack(outcome.value, 2, FORWARD)
        if isinstance(out, torch.Tensor) and out.shape == x.shape and (out == 0).any():
            raise CheckFailed(f"eval mode dropped elements; in eval mode dropout does nothing (training=False) "
                              f"({where})")
        kit.known_mistake(out, x.double() * (1 - p), x, ctx.tolerance(x.dtype), "eval mode scales by (1 - p): that is "
                          "the old, non-inverted dropout; inverted dropout scales in training, so eval mode is the "
                          "identity", where)
        assert_tensor_close("out", out, x, ctx, dtype=x.dtype, device=kit.device_of(outcome.devices, 0), where=where)
        if mask is not None:
            raise CheckFailed(f"in eval mode return (x, None): there is no mask; it returned {describe(mask)} "
                              f"({where})")


class Backward(kit.CaseItem):
    id, points, functions = "backward", 2, (BACKWARD,)
    title = "dropout_backward: dout * mask / (1 - p), zeros for p = 1"

    def cases(self, gen):
        table = [(shape, dtype, kit.uniform(gen, 0.1, 0.9, 3)) for shape, dtype in [
            (_sizes(gen, (16, 64), (16, 64)), torch.float32), (_sizes(gen, (2, 6), (5, 10), (8, 16)), torch.float32),
            (_sizes(gen, (2, 4), (2, 4), (5, 9), (5, 9)), torch.float32),
            (_sizes(gen, (16, 64), (16, 64)), torch.float64)]]
        table += [(shape, torch.float32, p) for shape, p in edges(gen, _sizes(gen, (8, 30), (8, 30)))]
        args = [(kit.randn(gen, *shape, dtype=dtype), (kit.rand(gen, *shape) >= p).to(dtype), p)
                for shape, dtype, p in table]
        return [Call(f"{self.id}/{i}", BACKWARD, (dout, mask, p), note=f"with p = {p:g}",
                     case=(dout, mask, p, _where(i, len(args), dout, p))) for i, (dout, mask, p) in enumerate(args)]

    def check(self, outcome, ctx):
        dout, mask, p, where = outcome.call.case
        check_drop("dx", outcome.value, dout, p, ctx, where, kit.device_of(outcome.devices), kept=mask.double())


class UsesGenerator(Item):
    """Randomness comes only from the generator argument (the layer's, for Dropout), so a run can be replayed."""

    id, points, functions = "generator", 1, (MASK, FORWARD, VARIATIONAL, MODULE)
    title = "the same generator seed replays the same mask, another seed gives another"

    def calls(self, gen):
        shape = _sizes(gen, (30, 60), (30, 60))
        x, x_seq = _nonzero(gen, shape), _nonzero(gen, _sizes(gen, (6, 12), (3, 6), (30, 50)))
        plans = {MASK: lambda g: ((shape, 0.5, g), {}),                # the call on generator g
                 FORWARD: lambda g: ((x, 0.5), {"training": True, "generator": g}),
                 VARIATIONAL: lambda g: ((x_seq, 0.5), {"training": True, "generator": g}),
                 MODULE: lambda g: ((0.5, g, x), {})}
        calls = []
        for func, plan in plans.items():
            seed, other = kit.seed(gen), kit.seed(gen)
            calls += [Call(f"{self.id}/{func}/{run}", func, *plan(Gen(s)), helper="new_run" if func == MODULE else None)
                      for run, s in (("first", seed), ("replay", seed), ("other", other))]
        return calls

    def judge(self, outcomes, ctx):
        """A constant stub fails too: generators of other seeds give it the same result."""
        got = kit.roles(self, outcomes)
        for func in self.functions:
            first, replay, other = (got[f"{func}/{run}"].value for run in ("first", "replay", "other"))
            kit.check_replay(func, first, replay)
            kit.check_independent(func, first, other)


class Module(kit.CaseItem):
    """One layer in training mode, after .eval(), after .train() and in a model put in eval mode; new layers on a
    float64 input and on the edge cases."""

    id, points, functions = "module", 2, (MODULE,)
    title = "Dropout(nn.Module): drops in training mode, the identity after model.eval(), p = 0 and p = 1 too"

    def cases(self, gen):
        p, x = kit.uniform(gen, 0.2, 0.7, 3), _nonzero(gen, _sizes(gen, (64, 128), (60, 100)))
        calls = [Call(f"{self.id}/new", MODULE, (p, Gen(kit.seed(gen))), helper="layer", note=f"as Dropout({p:g})")]
        for role, mode, when in [("train", "", "right after construction (a new module is in training mode)"),
                                 ("eval", "eval", "after .eval()"), ("train_again", "train", "after .train()"),
                                 ("parent_eval", "parent_eval", "inside nn.Sequential(...).eval()")]:
            calls.append(Call(f"{self.id}/{role}", MODULE, (Ref(f"{self.id}/new"), x), {"mode": mode}, helper="run",
                              note=when, case=(x, p, "eval" in role, f"Dropout({p:g}) {when}, input {tuple(x.shape)}")))
        fresh = [(_sizes(gen, (4, 8), (10, 20), (10, 20)), torch.float64, kit.uniform(gen, 0.2, 0.7, 3))]
        fresh += [(s, torch.float32, q) for s, q in edges(gen, x.shape)]
        for i, (shape, dtype, q) in enumerate(fresh):
            new_x = _nonzero(gen, shape, dtype)
            calls.append(Call(f"{self.id}/new/{i}", MODULE, (q, Gen(kit.seed(gen)), new_x), helper="new_run",
                              note=f"made as Dropout({q:g})", case=(new_x, q, False, _where(i, len(fresh), new_x, q))))
        return calls

    def check(self, outcome, ctx):
        if outcome.call.case is None:
            return
        (x, p, identity, where), out, device = outcome.call.case, outcome.value, kit.device_of(outcome.devices)
        if identity:
            if isinstance(out, torch.Tensor) and out.shape == x.shape and not close(out, x, ctx.tolerance(x.dtype)):
                raise CheckFailed("the output differs from the input in eval mode; with self.training False, Dropout "
                                  f"is the identity: read self.training in forward ({where})")
            assert_tensor_close("the output", out, x, ctx, dtype=x.dtype, device=device, where=where)
            return
        if p not in EDGE_P and _kept("the output", out, x.shape, where, returned=False).all():
            raise CheckFailed(f"nothing was dropped in training mode; with self.training True, Dropout must drop "
                              f"({where})")
        check_mask_statistics(check_drop("the output", out, x, p, ctx, where, device), p, "Dropout", where)

    def judge(self, outcomes, ctx):
        super().judge(outcomes, ctx)
        first, again = (kit.roles(self, outcomes)[role].value for role in ("train", "train_again"))
        if torch.equal(first != 0, again != 0):
            raise CheckFailed("Dropout dropped the same elements in two forward passes; draw a new mask on every call")


class Variational(kit.CaseItem):
    id, points, functions = "variational", 2, (VARIATIONAL,)
    title = "variational_dropout: one mask per (sequence, feature), shared by all time steps"

    def cases(self, gen):
        table = [(_sizes(gen, (40, 64), (3, 8), (60, 100)), dtype, p, True) for dtype, p in [
            (torch.float32, kit.uniform(gen, 0.1, 0.3, 3)), (torch.float64, kit.uniform(gen, 0.5, 0.8, 3))]]
        table += [(s, torch.float32, p, True) for s, p in edges(gen, _sizes(gen, (40, 64), (3, 8), (60, 100)))]
        eval_mode = [(_sizes(gen, (4, 8), (3, 8), (5, 20)), torch.float32, 0.5, True)]
        return _calls(self, gen, VARIATIONAL, table) + _calls(self, gen, VARIATIONAL, eval_mode, False, "eval/")

    def check(self, outcome, ctx):
        (x, p, where), device = outcome.call.case, kit.device_of(outcome.devices)
        if not outcome.call.kwargs["training"]:
            assert_tensor_close("out", outcome.value, x, ctx, dtype=x.dtype, device=device, where=where)
            return
        where += "; x is (batch, time, features)"
        kept = check_drop("out", outcome.value, x, p, ctx, where, device)
        if not (kept == kept[:, :1, :]).all():
            raise CheckFailed("the mask changes across time steps; variational dropout draws one mask of shape "
                              f"(batch, 1, features) and uses it at every time step ({where})")
        check_mask_statistics(kept[:, 0, :], p, "the mask", where, axes=(
            ("the batch", "every sequence needs its own mask: draw it of shape (batch, 1, features)"),
            ("the features", "draw a keep/drop per feature: a mask of shape (batch, 1, features)")))


class Immutability(kit.CaseItem):
    """Inputs unchanged after each call (values, shape and dtype), judged on outputs that look like real results:
    correctness and the from-scratch rule belong to the other items, and a stub cannot collect the point."""

    id, points, functions = "immutability", 1, (FORWARD, BACKWARD, VARIATIONAL, MODULE)
    title = "x, dout and mask are not modified"
    enforce_rules = False

    def cases(self, gen):
        x, x_seq = _nonzero(gen, _sizes(gen, (8, 32), (8, 32))), _nonzero(gen, _sizes(gen, (4, 8), (3, 6), (8, 16)))
        p = kit.uniform(gen, 0.2, 0.5, 3)
        dout, mask = kit.randn(gen, *x.shape, dtype=torch.float32), (kit.rand(gen, *x.shape) >= p).float()
        table = [  # (function, args, kwargs, the parameters' names)
            (FORWARD, (x, p), {"training": True, "generator": Gen(kit.seed(gen))}, ("x", "p")),
            (FORWARD, (x, p), {"training": False}, ("x", "p")), (BACKWARD, (dout, mask, p), {}, ("dout", "mask", "p")),
            (VARIATIONAL, (x_seq, p), {"training": True, "generator": Gen(kit.seed(gen))}, ("x", "p")),
            (MODULE, (p, Gen(kit.seed(gen)), x), {}, ("p", "generator", "x"))]
        return [Call(f"{self.id}/{i}", func, args, kwargs, helper="new_run" if func == MODULE else None, case=names)
                for i, (func, args, kwargs, names) in enumerate(table)]

    def check(self, outcome, ctx):
        func = outcome.call.func
        training = outcome.call.kwargs.get("training", func == MODULE)
        value = unpack(outcome.value, 2, FORWARD)[0] if func == FORWARD else outcome.value
        like = next(arg for arg in outcome.call.args if isinstance(arg, torch.Tensor))
        kit.require_real_result(func, "its result", value, like.shape, "its inputs are checked once it computes")
        kit.check_args_unchanged(func, outcome, outcome.call.case, context="" if func == BACKWARD else
                                 f"{'training' if training else 'eval'} mode",
                                 advice="work on new tensors (x * mask, not x.mul_(mask) or x *= mask)")


def make_checks() -> LabChecks:
    items = (MaskSampler(), ForwardTrain(), EvalMode(), EdgeCases(), Backward(), UsesGenerator(), Module(),
             Variational(), Immutability())
    forbidden = {MASK: LIBRARY_DROPOUT, FORWARD: LIBRARY_DROPOUT, MODULE: LIBRARY_DROPOUT, VARIATIONAL: LIBRARY_DROPOUT,
                 BACKWARD: f"{LIBRARY_DROPOUT}|{kit.AUTOGRAD}"}
    return LabChecks("06c-dropout", items, forbidden, helpers)
