"""Hidden checks for lab 06c, dropout from scratch.

Nine items, each narrow enough that one mistake costs one item: the mask
sampler, the training-mode forward, eval mode, the forward's p = 0 / p = 1
edge cases, the backward (its own p = 0 / p = 1 included), replay from the
generator, the ``Dropout`` module, variational dropout, and immutability of
the inputs.

What is exact and what is statistical. Given the mask a function drew, its
output is deterministic and is compared with ``x * mask / (1 - p)`` to the
course's float tolerance (the mask is read back from the returned mask, or
from which outputs are zero: every hidden ``x`` is bounded away from zero).
The masks themselves are random and are judged by two exact tests:

* keep rate: a two-sided binomial test of the number of kept elements
  against Binomial(n, 1 - p);
* independence: along each axis, Fisher's exact test on the 2 x 2 table of
  disjoint neighbour pairs (kept or not, kept or not); a mask shared along
  that axis fills only the diagonal. It runs before the keep-rate test, since
  a shared mask also makes the kept count swing more than a binomial one.

False-alarm rate: every test rejects at ``ALPHA = 1e-7``, and one grading
runs at most 40 of them, so correct code loses a point with probability at
most 4e-6 per submission (tests/test_checks_over_seeds.py measures it over
REGLAB_SEEDS=200 seeds of the reference and the alternatives). The sample
sizes (thousands of draws per test, p kept away from 1/2 where the
convention matters) make every bug of examples/06c/bugs.yml fail with a
p-value far below ALPHA on every seed.
"""

from __future__ import annotations

import torch
from scipy.stats import binomtest, fisher_exact

from autograder.checks.base import CheckFailed, Item, LabChecks, assert_tensor_close, close, describe, unpack
from autograder.probes import Call, Gen
from solutions import dropout as reference

MASK, FORWARD, BACKWARD = "dropout_mask", "dropout_forward", "dropout_backward"
MODULE, VARIATIONAL = "Dropout", "variational_dropout"
ALPHA = 1e-7
_LIBRARY_DROPOUT = r"(?i)dropout"       # F.dropout, nn.Dropout, torch.dropout, aten native_dropout, ...
_AUTOGRAD = r"Tensor\.backward|autograd\.grad$|autograd\.backward$|run_backward"
_CONVENTION = "p is the DROP probability, as in nn.Dropout: keep each element with probability 1 - p"


# ---------------------------------------------------------------- inputs

def _seed(gen) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=gen))


def _uniform(gen, low, high) -> float:
    return round(float(low + (high - low) * torch.rand(1, generator=gen)), 3)


def _size(gen, low, high) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _nonzero(gen, shape, dtype=torch.float32):
    """Values in ±[0.5, 2]: never zero, so a zero in the output means a dropped element."""
    sign = torch.randint(0, 2, shape, generator=gen, dtype=torch.float64) * 2 - 1
    return (sign * (0.5 + 1.5 * torch.rand(shape, generator=gen, dtype=torch.float64))).to(dtype)


def _float_mask(gen, shape, p, dtype):
    return (torch.rand(shape, generator=gen, dtype=torch.float64) >= p).to(dtype)


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _where(index, total, shape, dtype=None, p=None) -> str:
    parts = [f"case {index + 1} of {total}: shape {tuple(shape)}"]
    if dtype is not None:
        parts.append(_dtype_name(dtype))
    if p is not None:
        parts.append(f"p = {p:g}")
    return ", ".join(parts)


# ---------------------------------------------------------------- what came back

def _device(devices, index=None):
    if index is None:
        return devices if isinstance(devices, str) else None
    return devices[index] if isinstance(devices, tuple) and len(devices) > index else None


def _mask_values(name, mask, shape, device, ctx, where):
    """The returned mask as float64 0/1, or CheckFailed saying what is wrong with it."""
    if not isinstance(mask, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor; got {describe(mask)} ({where})")
    if tuple(mask.shape) != tuple(shape):
        raise CheckFailed(f"{name} has shape {tuple(mask.shape)}, expected {tuple(shape)} ({where})")
    if device is not None and device != ctx.device:
        raise CheckFailed(f"{name} is on {device}; make it on {ctx.device}, the device of the inputs and "
                          f"the generator ({where})")
    values = mask.double()
    if not ((values == 0) | (values == 1)).all():
        raise CheckFailed(f"{name} should hold only 0 (drop) and 1 (keep); it holds other values ({where})")
    return values


def _kept_from_output(name, out, x, where):
    """1.0 where ``out`` is non-zero: the kept elements (hidden inputs are never zero)."""
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor; got {describe(out)} ({where})")
    if tuple(out.shape) != tuple(x.shape):
        raise CheckFailed(f"{name} has shape {tuple(out.shape)}, expected {tuple(x.shape)} ({where})")
    if not torch.isfinite(out).all():
        raise CheckFailed(f"{name} contains NaN or inf ({where})")
    return (out.double() != 0).double()


def _scale(p: float) -> float:
    return 1.0 / (1.0 - p) if p < 1 else 0.0


def _diagnose_scaling(out, x, kept, p, ctx):
    """Why out is not x * kept / (1 - p), when the reason is a common one."""
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        return None
    tol = ctx.tolerance(out.dtype)
    x = x.double()
    if close(out, x * kept * _scale(p), tol):
        return None
    if close(out, x * kept, tol):
        return ("kept elements are not scaled: inverted dropout multiplies them by 1 / (1 - p) in training, "
                "so that the expected output equals the input")
    if close(out, x * kept * (1 - p), tol):
        return "kept elements are multiplied by (1 - p); inverted dropout divides by (1 - p)"
    if p > 0 and close(out, x * kept / p, tol):
        return f"kept elements are divided by p; divide by the keep probability 1 - p ({_CONVENTION})"
    return None


# ---------------------------------------------------------------- statistics

def check_keep_rate(kept: torch.Tensor, p: float, what: str, where: str) -> None:
    """Two-sided binomial test of the number of kept elements against Binomial(n, 1 - p)."""
    n, k = kept.numel(), int(kept.sum().item())
    if binomtest(k, n, 1 - p).pvalue >= ALPHA:
        return
    rate = k / n
    hint = f"; {_CONVENTION}" if abs(rate - p) < min(0.05, abs(rate - (1 - p))) else ""
    raise CheckFailed(f"{what} keeps {rate:.1%} of the elements for p = {p:g}; about {1 - p:.1%} "
                      f"should be kept{hint} ({where})")


def check_independent(kept: torch.Tensor, dim: int, what: str, along: str, advice: str, where: str) -> None:
    """Fisher's exact test of independence on disjoint neighbour pairs along ``dim``.

    The 2 x 2 table counts (first kept?, second kept?) over the pairs; the test
    conditions on its margins, so it does not depend on the keep rate (that
    has its own test) and is exact. A mask shared along ``dim`` fills only the
    diagonal and fails with an astronomically small p-value.
    """
    moved = kept.movedim(dim, -1)
    pairs = moved.shape[-1] // 2
    if pairs == 0:
        return
    first, second = moved[..., 0:2 * pairs:2].bool(), moved[..., 1:2 * pairs:2].bool()
    table = [[int((first & second).sum()), int((first & ~second).sum())],
             [int((~first & second).sum()), int((~first & ~second).sum())]]
    if fisher_exact(table).pvalue < ALPHA:
        agree = (table[0][0] + table[1][1]) / first.numel()
        raise CheckFailed(f"{what}: neighbouring elements along {along} are kept or dropped together {agree:.0%} of "
                          f"the time, far from what independent draws give; {advice} ({where})")


def check_mask_statistics(kept: torch.Tensor, p: float, what: str, where: str, axes=None) -> None:
    """Independence along every axis first (a shared mask also upsets the keep rate), then the keep rate.

    ``axes``: per dim, (its name, what to do when elements along it are not independent).
    """
    for dim in range(kept.dim()):
        default = (f"dim {dim}", f"draw an independent keep/drop for every element, not one shared along dim {dim}")
        along, advice = axes[dim] if axes else default
        check_independent(kept, dim, what, along, advice, where)
    check_keep_rate(kept, p, what, where)


# ---------------------------------------------------------------- items

class MaskSampler(Item):
    id, points, functions = "mask_sampler", 2, (MASK,)
    title = "dropout_mask: 0/1 mask of the right shape, keep rate 1 - p, independent elements"

    def calls(self, gen):
        self.cases = [  # (shape, p): p away from 1/2 where the convention must show
            (torch.Size([_size(gen, 150, 250), _size(gen, 80, 120)]), 0.5),
            ((_size(gen, 48, 80), _size(gen, 200, 300)), _uniform(gen, 0.1, 0.3)),
            ((_size(gen, 8, 12), _size(gen, 30, 50), _size(gen, 40, 60)), _uniform(gen, 0.65, 0.9)),
            ((_size(gen, 4000, 6000),), _uniform(gen, 0.35, 0.45)),
            ((_size(gen, 3, 9), _size(gen, 3, 9)), 0.0),
            ((_size(gen, 3, 9), _size(gen, 3, 9)), 1.0),
        ]
        return [Call(f"{self.id}/{i}", MASK, (shape, p, Gen(_seed(gen))), note=f"for shape {tuple(shape)}, p = {p:g}")
                for i, (shape, p) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (shape, p) in enumerate(self.cases):
            where = _where(i, len(self.cases), shape, p=p)
            outcome = outcomes[f"{self.id}/{i}"]
            mask = _mask_values("the mask", outcome.value, shape, _device(outcome.devices), ctx, where)
            if p in (0.0, 1.0):
                if not (mask == 1 - p).all():
                    raise CheckFailed(f"with p = {p:g} the mask should be all {'ones' if p == 0 else 'zeros'} "
                                      f"(p = 0 keeps everything, p = 1 drops everything) ({where})")
                continue
            check_mask_statistics(mask, p, "the mask", where)


class ForwardTrain(Item):
    id, points, functions = "forward_train", 3, (FORWARD,)
    title = "dropout_forward in training: out = x * mask / (1 - p), mask kept with probability 1 - p"

    def calls(self, gen):
        self.cases = [(_nonzero(gen, shape, dtype), p, seeded) for shape, dtype, p, seeded in [
            ((_size(gen, 64, 128), _size(gen, 60, 100)), torch.float32, _uniform(gen, 0.1, 0.3), True),
            ((_size(gen, 4, 8), _size(gen, 3, 6), _size(gen, 12, 20), _size(gen, 12, 20)), torch.float32,
             _uniform(gen, 0.6, 0.9), True),
            ((_size(gen, 16, 32), _size(gen, 10, 20), _size(gen, 24, 40)), torch.float64, _uniform(gen, 0.3, 0.7), True),
            ((_size(gen, 40, 80), _size(gen, 60, 100)), torch.float32, _uniform(gen, 0.2, 0.4), False),  # default generator
        ]]
        return [Call(f"{self.id}/{i}", FORWARD, (x, p), {"training": True, **({"generator": Gen(_seed(gen))} if seeded else {})},
                     note=f"in training mode, p = {p:g}" + ("" if seeded else ", generator left out"))
                for i, (x, p, seeded) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (x, p, seeded) in enumerate(self.cases):
            where = _where(i, len(self.cases), x.shape, x.dtype, p) + ("" if seeded else ", generator left out")
            outcome = outcomes[f"{self.id}/{i}"]
            out, mask = unpack(outcome.value, 2, FORWARD)
            mask = _mask_values("mask", mask, x.shape, _device(outcome.devices, 1), ctx, where)
            hint = _diagnose_scaling(out, x, mask, p, ctx)
            if hint:
                raise CheckFailed(f"out is wrong: {hint} ({where})")
            assert_tensor_close("out (against x * mask / (1 - p) with the mask it returned)", out,
                                x.double() * mask * _scale(p), ctx, dtype=x.dtype, device=_device(outcome.devices, 0),
                                where=where)
            check_mask_statistics(mask, p, "mask", where)


class EvalMode(Item):
    id, points, functions = "eval_mode", 1, (FORWARD,)
    title = "dropout_forward in eval mode: the identity, mask None"

    def calls(self, gen):
        self.cases = [(_nonzero(gen, (_size(gen, 20, 60), _size(gen, 10, 40)), dtype), _uniform(gen, 0.2, 0.8), seeded)
                      for dtype, seeded in [(torch.float32, True), (torch.float64, True), (torch.float32, False)]]
        return [Call(f"{self.id}/{i}", FORWARD, (x, p), {"training": False, **({"generator": Gen(_seed(gen))} if seeded else {})},
                     note="in eval mode") for i, (x, p, seeded) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (x, p, _) in enumerate(self.cases):
            where = _where(i, len(self.cases), x.shape, x.dtype, p)
            outcome = outcomes[f"{self.id}/{i}"]
            out, mask = unpack(outcome.value, 2, FORWARD)
            if isinstance(out, torch.Tensor) and out.shape == x.shape and (out == 0).any():
                raise CheckFailed(f"eval mode dropped elements; in eval mode dropout does nothing (training=False) ({where})")
            if isinstance(out, torch.Tensor) and out.shape == x.shape and close(out, x.double() * (1 - p), ctx.tolerance(x.dtype)):
                raise CheckFailed("eval mode scales by (1 - p): that is the old, non-inverted dropout; inverted dropout "
                                  f"scales in training, so eval mode is the identity ({where})")
            assert_tensor_close("out", out, x, ctx, dtype=x.dtype, device=_device(outcome.devices, 0), where=where)
            if mask is not None:
                raise CheckFailed(f"in eval mode return (x, None): there is no mask; it returned {describe(mask)} ({where})")


class EdgeCases(Item):
    id, points, functions = "edge_cases", 1, (FORWARD,)
    title = "dropout_forward: p = 0 is the identity, p = 1 gives zeros without NaN"

    def calls(self, gen):
        self.x = _nonzero(gen, (_size(gen, 8, 30), _size(gen, 8, 30)))
        return [Call(f"{self.id}/{p:g}", FORWARD, (self.x, p), {"training": True, "generator": Gen(_seed(gen))},
                     note=f"in training mode with p = {p:g}") for p in (0.0, 1.0)]

    def judge(self, outcomes, ctx):
        for p in (0.0, 1.0):
            where = f"training mode with p = {p:g}, shape {tuple(self.x.shape)}"
            outcome = outcomes[f"{self.id}/{p:g}"]
            out, mask = unpack(outcome.value, 2, FORWARD)
            if isinstance(out, torch.Tensor) and not torch.isfinite(out).all():
                raise CheckFailed(f"out contains NaN or inf ({where}): with p = 1 everything is dropped; "
                                  "return zeros instead of dividing by 1 - p = 0")
            expected = self.x if p == 0 else torch.zeros_like(self.x)
            assert_tensor_close("out", out, expected, ctx, dtype=self.x.dtype, device=_device(outcome.devices, 0), where=where)
            mask = _mask_values("mask", mask, self.x.shape, _device(outcome.devices, 1), ctx, where)
            if not (mask == 1 - p).all():
                raise CheckFailed(f"mask should be all {'ones' if p == 0 else 'zeros'} ({where})")


class Backward(Item):
    id, points, functions = "backward", 2, (BACKWARD,)
    title = "dropout_backward: dout * mask / (1 - p), zeros for p = 1"

    def calls(self, gen):
        self.cases = []
        for shape, dtype in [((_size(gen, 16, 64), _size(gen, 16, 64)), torch.float32),
                             ((_size(gen, 2, 6), _size(gen, 5, 10), _size(gen, 8, 16)), torch.float32),
                             ((_size(gen, 2, 4), _size(gen, 2, 4), _size(gen, 5, 9), _size(gen, 5, 9)), torch.float32),
                             ((_size(gen, 16, 64), _size(gen, 16, 64)), torch.float64)]:
            p = _uniform(gen, 0.1, 0.9)
            dout = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
            self.cases.append((dout, _float_mask(gen, shape, p, dtype), p))
        shape = (_size(gen, 8, 30), _size(gen, 8, 30))
        for p in (0.0, 1.0):                # the edge cases: everything kept, everything dropped
            self.cases.append((torch.randn(shape, generator=gen), torch.full(shape, 1.0 - p), p))
        return [Call(f"{self.id}/{i}", BACKWARD, (dout, mask, p), note=f"with p = {p:g}")
                for i, (dout, mask, p) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (dout, mask, p) in enumerate(self.cases):
            where = _where(i, len(self.cases), dout.shape, dout.dtype, p)
            outcome = outcomes[f"{self.id}/{i}"]
            dx = outcome.value
            expected = reference.dropout_backward(dout.double(), mask.double(), p)
            if isinstance(dx, torch.Tensor) and not torch.isfinite(dx).all() and p == 1:
                raise CheckFailed(f"dx contains NaN or inf ({where}): with p = 1 nothing reached the output, so the "
                                  "gradient is zero; return zeros instead of dividing by 1 - p = 0")
            if isinstance(dx, torch.Tensor) and dx.shape == dout.shape and 0 < p < 1:
                tol = ctx.tolerance(dout.dtype)
                if close(dx, dout.double() * mask, tol):
                    raise CheckFailed(f"dx is missing the 1 / (1 - p) scale: the backward scales exactly as the forward did ({where})")
                if close(dx, dout.double() * _scale(p), tol):
                    raise CheckFailed(f"dx ignores the mask: dropped elements did not reach the output, so their gradient is 0 ({where})")
            assert_tensor_close("dx", dx, expected, ctx, dtype=dout.dtype, device=_device(outcome.devices), where=where)


class UsesGenerator(Item):
    """Randomness comes only from the generator argument, so a run can be replayed."""

    id, points, functions = "generator", 1, (MASK, FORWARD, VARIATIONAL)
    title = "the same generator seed replays the same mask, another seed gives another"

    def calls(self, gen):
        shape, seq = (_size(gen, 30, 60), _size(gen, 30, 60)), (_size(gen, 6, 12), _size(gen, 3, 6), _size(gen, 30, 50))
        x, x_seq = _nonzero(gen, shape), _nonzero(gen, seq)
        calls = []
        for func, args, kwargs in [(MASK, (shape, 0.5), {}), (FORWARD, (x, 0.5), {"training": True}),
                                   (VARIATIONAL, (x_seq, 0.5), {"training": True})]:
            seed, other = _seed(gen), _seed(gen)
            for run, s in (("first", seed), ("replay", seed), ("other", other)):
                if func == MASK:
                    calls.append(Call(f"{self.id}/{func}/{run}", func, (*args, Gen(s))))
                else:
                    calls.append(Call(f"{self.id}/{func}/{run}", func, args, {**kwargs, "generator": Gen(s)}))
        return calls

    def judge(self, outcomes, ctx):
        for func in (MASK, FORWARD, VARIATIONAL):
            runs = {}
            for run in ("first", "replay", "other"):
                value = outcomes[f"{self.id}/{func}/{run}"].value
                if func == FORWARD:
                    value = unpack(value, 2, FORWARD)[0]
                if not isinstance(value, torch.Tensor):
                    raise CheckFailed(f"{func} returned {describe(value)}, not a tensor")
                runs[run] = value
            if not torch.equal(runs["first"], runs["replay"]):
                raise CheckFailed(f"{func} gave different results for two generators with the same seed: draw every "
                                  "random number from the generator argument (torch.rand(..., generator=generator))")
            if torch.equal(runs["first"], runs["other"]):
                raise CheckFailed(f"{func} gave the same result for generators with different seeds; "
                                  "the mask must be random, drawn from the generator")


class Module(Item):
    id, points, functions = "module", 2, (MODULE,)
    title = "Dropout(nn.Module): drops in training mode, the identity after model.eval()"

    def calls(self, gen):
        self.p = _uniform(gen, 0.2, 0.7)
        self.x = _nonzero(gen, (_size(gen, 64, 128), _size(gen, 60, 100)))
        self.x64 = _nonzero(gen, (_size(gen, 4, 8), _size(gen, 10, 20), _size(gen, 10, 20)), torch.float64)
        layer, replay_seed = f"{self.id}/new", _seed(gen)
        make = "S['Dropout'](A[0], generator=A[1])"
        return [
            Call(layer, MODULE, (self.p, Gen(_seed(gen))), expr=make, note=f"constructed as Dropout({self.p:g})"),
            Call(f"{self.id}/is_module", MODULE, expr=f"isinstance(R['{layer}'], nn.Module)"),
            Call(f"{self.id}/train", MODULE, (self.x,), expr=f"R['{layer}'](A[0])", note="right after construction"),
            Call(f"{self.id}/eval", MODULE, (self.x,), expr=f"R['{layer}'].eval()(A[0])", note="after .eval()"),
            Call(f"{self.id}/train_again", MODULE, (self.x,), expr=f"R['{layer}'].train()(A[0])", note="after .train()"),
            Call(f"{self.id}/parent_eval", MODULE, (self.x,), expr=f"nn.Sequential(R['{layer}']).eval()(A[0])",
                 note="inside nn.Sequential(...).eval()"),
            Call(f"{self.id}/float64", MODULE, (self.p, Gen(_seed(gen)), self.x64), expr=f"{make}(A[2])",
                 note="on a float64 input"),
            *[Call(f"{self.id}/replay/{run}", MODULE, (self.p, Gen(replay_seed), self.x), expr=f"{make}(A[2])")
              for run in ("first", "second")],
        ]

    def judge(self, outcomes, ctx):
        p, x = self.p, self.x

        def value(name):
            return outcomes[f"{self.id}/{name}"].value

        def device(name):
            return _device(outcomes[f"{self.id}/{name}"].devices)

        if value("is_module") is not True:
            raise CheckFailed("Dropout must be a subclass of nn.Module (class Dropout(nn.Module))")
        masks = {}
        for name, when in [("train", "right after construction (a new module is in training mode)"),
                           ("train_again", "after .train()")]:
            where = f"Dropout({p:g}) {when}, input shape {tuple(x.shape)}"
            kept = _kept_from_output("the output", value(name), x, where)
            if kept.all():
                raise CheckFailed(f"nothing was dropped in training mode; with self.training True, Dropout must drop ({where})")
            assert_tensor_close("the output (against x * kept / (1 - p))", value(name), x.double() * kept * _scale(p),
                                ctx, dtype=x.dtype, device=device(name), where=where)
            check_mask_statistics(kept, p, "Dropout", where)
            masks[name] = kept
        if torch.equal(masks["train"], masks["train_again"]):
            raise CheckFailed("Dropout dropped the same elements in two forward passes; draw a fresh mask on every call")
        for name, when in [("eval", "after .eval()"), ("parent_eval", "inside nn.Sequential(...).eval()")]:
            where = f"Dropout({p:g}) {when}, input shape {tuple(x.shape)}"
            out = value(name)
            if isinstance(out, torch.Tensor) and out.shape == x.shape and not close(out, x, ctx.tolerance(x.dtype)):
                raise CheckFailed("the output differs from the input in eval mode; with self.training False, Dropout "
                                  f"is the identity: read self.training in forward ({where})")
            assert_tensor_close("the output", out, x, ctx, dtype=x.dtype, device=device(name), where=where)
        where = f"Dropout({p:g}) on a float64 input of shape {tuple(self.x64.shape)}"
        kept = _kept_from_output("the output", value("float64"), self.x64, where)
        assert_tensor_close("the output", value("float64"), self.x64.double() * kept * _scale(p), ctx,
                            dtype=torch.float64, device=device("float64"), where=where)
        first, second = value("replay/first"), value("replay/second")
        if not (isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor) and torch.equal(first, second)):
            raise CheckFailed("two Dropout layers made with generators of the same seed dropped different elements; "
                              "draw the mask from self.generator")


class Variational(Item):
    id, points, functions = "variational", 2, (VARIATIONAL,)
    title = "variational_dropout: one mask per (sequence, feature), shared by all time steps"

    def calls(self, gen):
        self.cases = [(_nonzero(gen, (_size(gen, 40, 64), _size(gen, 3, 8), _size(gen, 60, 100)), dtype), p)
                      for dtype, p in [(torch.float32, _uniform(gen, 0.1, 0.3)), (torch.float64, _uniform(gen, 0.5, 0.8))]]
        self.eval_x = _nonzero(gen, (_size(gen, 4, 8), _size(gen, 3, 8), _size(gen, 5, 20)))
        calls = [Call(f"{self.id}/{i}", VARIATIONAL, (x, p), {"training": True, "generator": Gen(_seed(gen))},
                      note=f"in training mode, p = {p:g}") for i, (x, p) in enumerate(self.cases)]
        calls.append(Call(f"{self.id}/eval", VARIATIONAL, (self.eval_x, 0.5), {"training": False, "generator": Gen(_seed(gen))},
                          note="in eval mode"))
        return calls

    def judge(self, outcomes, ctx):
        for i, (x, p) in enumerate(self.cases):
            where = _where(i, len(self.cases), x.shape, x.dtype, p) + "; x is (batch, time, features)"
            outcome = outcomes[f"{self.id}/{i}"]
            kept = _kept_from_output("out", outcome.value, x, where)
            hint = _diagnose_scaling(outcome.value, x, kept, p, ctx)
            if hint:
                raise CheckFailed(f"out is wrong: {hint} ({where})")
            assert_tensor_close("out (against x * kept / (1 - p))", outcome.value, x.double() * kept * _scale(p), ctx,
                                dtype=x.dtype, device=_device(outcome.devices), where=where)
            if not (kept == kept[:, :1, :]).all():
                raise CheckFailed("the mask changes across time steps; variational dropout draws one mask of shape "
                                  f"(batch, 1, features) and uses it at every time step ({where})")
            check_mask_statistics(kept[:, 0, :], p, "the mask", where, axes=(
                ("the batch", "every sequence needs its own mask: draw it of shape (batch, 1, features)"),
                ("the features", "draw a keep/drop per feature: a mask of shape (batch, 1, features)")))
        outcome = outcomes[f"{self.id}/eval"]
        where = f"eval mode, shape {tuple(self.eval_x.shape)}"
        assert_tensor_close("out", outcome.value, self.eval_x, ctx, dtype=self.eval_x.dtype,
                            device=_device(outcome.devices), where=where)


class Immutability(Item):
    """Inputs unchanged after each call, judged on outputs that look like real results.

    Correctness and the from-scratch rule belong to the other items; here an
    output that is not a non-constant finite tensor fails, so a stub cannot
    collect the point.
    """

    id, points, functions = "immutability", 1, (FORWARD, BACKWARD, VARIATIONAL, MODULE)
    title = "x, dout and mask are not modified"
    enforce_rules = False

    def calls(self, gen):
        self.x = _nonzero(gen, (_size(gen, 8, 32), _size(gen, 8, 32)))
        self.x_seq = _nonzero(gen, (_size(gen, 4, 8), _size(gen, 3, 6), _size(gen, 8, 16)))
        self.p = _uniform(gen, 0.2, 0.5)
        self.dout = torch.randn(self.x.shape, generator=gen)
        self.mask = _float_mask(gen, self.x.shape, self.p, torch.float32)
        forward_kwargs = {"training": True, "generator": Gen(_seed(gen))}
        return [Call(f"{self.id}/forward", FORWARD, (self.x, self.p), forward_kwargs),
                Call(f"{self.id}/forward_eval", FORWARD, (self.x, self.p), {"training": False}),
                Call(f"{self.id}/backward", BACKWARD, (self.dout, self.mask, self.p)),
                Call(f"{self.id}/variational", VARIATIONAL, (self.x_seq, self.p), {**forward_kwargs, "generator": Gen(_seed(gen))}),
                Call(f"{self.id}/module", MODULE, (self.p, Gen(_seed(gen)), self.x),
                     expr="S['Dropout'](A[0], generator=A[1])(A[2])")]

    def judge(self, outcomes, ctx):
        checks = [("forward", FORWARD, "out", "training mode", {0: ("x", self.x)}),
                  ("forward_eval", FORWARD, "out", "eval mode", {0: ("x", self.x)}),
                  ("backward", BACKWARD, "dx", "", {0: ("dout", self.dout), 1: ("mask", self.mask)}),
                  ("variational", VARIATIONAL, "out", "training mode", {0: ("x", self.x_seq)}),
                  ("module", MODULE, "the output", "training mode", {2: ("x", self.x)})]
        for key, func, name, mode, inputs in checks:
            outcome = outcomes[f"{self.id}/{key}"]
            value = unpack(outcome.value, 2, FORWARD)[0] if func == FORWARD else outcome.value
            _require_real_result(func, name, value, next(iter(inputs.values()))[1])
            for position, (arg, original) in inputs.items():
                if not torch.equal(outcome.args_after[position], original):
                    raise CheckFailed(f"{func} modified its input {arg} in place{f' ({mode})' if mode else ''}; "
                                      "work on new tensors (x * mask, not x.mul_(mask) or x *= mask)")


def _require_real_result(func, name, value, like):
    if isinstance(value, torch.Tensor) and value.shape == like.shape:
        if torch.isfinite(value).all() and value.double().std() > 0:
            return
        got = "a constant tensor or one with NaN/inf"
    else:
        got = describe(value)
    raise CheckFailed(f"{func} returned {got} as {name}, not a real result of shape {tuple(like.shape)}; "
                      "immutability is checked once the function computes something")


def make_checks() -> LabChecks:
    """A fresh set of items: they keep the cases they drew, so never share one between gradings."""
    return LabChecks(
        lab="06c-dropout",
        items=(MaskSampler(), ForwardTrain(), EvalMode(), EdgeCases(), Backward(), UsesGenerator(), Module(),
               Variational(), Immutability()),
        forbidden={MASK: _LIBRARY_DROPOUT, FORWARD: _LIBRARY_DROPOUT, MODULE: _LIBRARY_DROPOUT,
                   VARIATIONAL: _LIBRARY_DROPOUT, BACKWARD: f"{_LIBRARY_DROPOUT}|{_AUTOGRAD}"},
    )
