"""Hidden checks for lab 06e, norm placement: LayerNorm, RMSNorm, GroupNorm, pre- and post-norm blocks.

The norm functions meet the float64 reference on fresh shapes and on every edge case of x (``X_EDGES``). The blocks
are built in the kernel (``kernel/norms.py``) and judged whatever their initialization: with known stand-ins for
their sublayers (attn's mixes positions), their norms alone, attn and ffn on inputs that differ in one position,
dropout in both modes; ``grad_norms_by_layer`` on seeded torch.nn blocks that the same helper rebuilds here. Only
``block_dropout`` is random (a false alarm needs two equal dropout masks of >= 192 entries).
"""

from __future__ import annotations

from functools import reduce
from itertools import product

import torch
import torch.nn.functional as F

from autograder.checks import kit
from autograder.checks.base import CheckFailed, LabChecks, assert_tensor_close, close, describe
from autograder.checks.kernel import norms as kernel
from autograder.probes import Call, Ref
from solutions import norms as reference

LAYER, RMS, GROUP = "layer_norm", "rms_norm", "group_norm"
PRE, POST, GRADS = "PreNormBlock", "PostNormBlock", "grad_norms_by_layer"
_LIBRARY_NORMS = r"(layer|rms|group|batch|instance)_norm|(Layer|RMS|Group|Batch|Instance)Norm"
ARGS = {LAYER: ("x", "weight", "bias"), RMS: ("x", "weight"), GROUP: ("x", "groups", "weight", "bias")}

_TINY = 0.002      # an input scale whose variance is about the size of eps, so that eps placement shows
# Edge cases of a norm's x, declared once and checked in every norm function: words for messages, how x is drawn.
X_EDGES = [
    ("a constant row", dict(scale=2.0, constant=True)),
    ("a variance about the size of eps", dict(scale=_TINY, centred=True)),
    ("a variance about the size of eps=1e-3", dict(scale=0.03, centred=True, eps=1e-3)),
    ("a batch of one", dict(scale=2.0, batch=1)),
]


def _where(i, total, x, *details):
    return kit.where(i, total, f"input of shape {tuple(x.shape)}", kit.dtype_name(x.dtype), *details)


# ---------------------------------------------------------------- the norm functions

def _norm_case(gen, func, *, scale, dims=3, dtype=torch.float32, eps=None, groups=None, batch=None,
               constant=False, centred=False, words=""):
    """x with a per-row shift and scale (and per-channel shifts for group_norm), with weight and bias over the
    normalized features; ``constant``: the first row (group of channels) is all zeros, so eps keeps it finite.
    group_norm's C holds G groups of C // G channels, G != C // G so that the two cannot be confused."""
    n = batch or kit.randint(gen, 2, 4)
    if func == GROUP:
        g, per_group = kit.randint(gen, 2, 5), kit.randint(gen, 2, 3)
        c = g * (per_group + (per_group >= g))
        g = {"one": 1, "each": c}.get(groups, g)                  # G = 1: all of C; G = C: one channel each
        shape = (n, c, *(kit.randint(gen, 2, 5) for _ in range(dims - 2)))
    else:
        g, shape = None, (n, *(kit.randint(gen, 2, 6) for _ in range(dims - 2)), kit.randint(gen, 5, 30))
    shift = 0.0 if centred else min(3.0, scale)
    x = kit.randn(gen, *shape) * scale * (0.5 + kit.rand(gen, *shape[:-1], 1)) + shift * kit.randn(gen, *shape[:-1], 1)
    if func == GROUP:
        x = x + min(2.0, scale) * kit.randn(gen, 1, shape[1], *(1,) * (dims - 2))
    if constant:
        (x.reshape(n, g, -1)[0, 0] if func == GROUP else x.reshape(-1, shape[-1])[0]).zero_()
    size = shape[1] if func == GROUP else shape[-1]
    return {"func": func, "x": x.to(dtype), "groups": g, "weight": (0.5 + kit.rand(gen, size)).to(dtype),
            "bias": kit.randn(gen, size).to(dtype), "eps": eps, "words": words}


def _norm_call(key, case, **extra):
    kwargs = {} if case["eps"] is None else {"eps": case["eps"]}
    return Call(key, case["func"], tuple(case[name] for name in ARGS[case["func"]]), kwargs,
                note=f"on an input of shape {tuple(case['x'].shape)}", case={**case, **extra})


def _layer_norm_variant(x, w, b, eps, *, unbiased=False, eps_outside=False, dim=-1):
    mean, var = x.mean(dim, keepdim=True), x.var(dim, unbiased=unbiased, keepdim=True)
    return (x - mean) / (var.sqrt() + eps if eps_outside else (var + eps).sqrt()) * w + b


def _group_norm_variant(x, g, w, b, eps, *, interleaved=False, per_channel=False, unbiased=False, eps_outside=False):
    n, c = x.shape[:2]
    flat, dims = ((x.reshape(n, c, -1), (2,)) if per_channel else
                  (x.reshape(n, c // g, g, -1), (1, 3)) if interleaved else (x.reshape(n, g, -1), (2,)))
    mean, var = flat.mean(dims, keepdim=True), flat.var(dims, unbiased=unbiased, keepdim=True)
    x_hat = ((flat - mean) / (var.sqrt() + eps if eps_outside else (var + eps).sqrt())).reshape(x.shape)
    shape = (1, c) + (1,) * (x.dim() - 2)
    return x_hat * w.reshape(shape) + b.reshape(shape)


def _layer_mistakes(x, w, b, eps, default):
    """(message, what the mistake gives) for layer_norm's common mistakes."""
    e = eps or 1e-5
    return [("eps is added outside the square root; use sqrt(var + eps)",
             _layer_norm_variant(x, w, b, e, eps_outside=True)),
            ("it normalizes with the unbiased variance (divide by D - 1); LayerNorm uses the biased one (divide by D)",
             _layer_norm_variant(x, w, b, e, unbiased=True)),
            ("weight and bias are not applied", _layer_norm_variant(x, 1.0, 0.0, e)),
            ("the statistics are taken over the first dimension; take them over the last one (dim=-1)",
             _layer_norm_variant(x, w, b, e, dim=0)),
            ("the default eps should be 1e-5", _layer_norm_variant(x, w, b, 1e-6) if default else None)]


def _rms_mistakes(x, w, eps, default):
    e, ms = eps or 1e-6, (x * x).mean(-1, keepdim=True)
    return [("it subtracts the mean, which makes it LayerNorm; RMSNorm divides by sqrt(mean(x**2) + eps) only",
             _layer_norm_variant(x, w, 0.0, e)),
            ("eps is added outside the square root; use sqrt(mean(x**2) + eps)", x / (ms.sqrt() + e) * w),
            ("weight is not applied", x / (ms + e).sqrt()),
            ("the default eps should be 1e-6 (nn.RMSNorm(d, eps=1e-6)), not LayerNorm's 1e-5",
             x / (ms + 1e-5).sqrt() * w if default else None)]


def _group_mistakes(x, g, w, b, eps, default):
    e, channels = eps or 1e-5, x.shape[1]
    return [("the groups interleave channels; group k holds the consecutive channels k * (C // num_groups) ... "
             "(k + 1) * (C // num_groups) - 1: reshape to (N, num_groups, -1)",
             _group_norm_variant(x, g, w, b, e, interleaved=True) if 1 < g < channels else None),
            ("it makes C // num_groups groups of num_groups channels; make num_groups groups of C // num_groups",
             _group_norm_variant(x, channels // g, w, b, e) if 1 < g < channels else None),
            ("it normalizes each channel on its own (instance norm); normalize over all channels of a group",
             _group_norm_variant(x, g, w, b, e, per_channel=True) if g < channels and x.dim() > 2 else None),
            ("eps is added outside the square root; use sqrt(var + eps)",
             _group_norm_variant(x, g, w, b, e, eps_outside=True)),
            ("it normalizes with the unbiased variance; GroupNorm uses the biased one",
             _group_norm_variant(x, g, w, b, e, unbiased=True))]


class _NormItem(kit.CaseItem):
    """One norm function against its float64 reference on its own cases and every edge case of x, naming mistakes."""

    def __init__(self, func, points, title, table, mistakes):
        self.id, self.func, self.functions, self.points, self.title = func, func, (func,), points, title
        self.table, self.mistakes = table, mistakes

    def cases(self, gen):
        drawn = [_norm_case(gen, self.func, **spec) for spec in self.table] + \
                [_norm_case(gen, self.func, words=words, **spec) for words, spec in X_EDGES]
        eps = [f"eps={case['eps']:g}" if case["eps"] else "eps left at its default" for case in drawn]
        return [_norm_call(f"{self.id}/{i}", case, where=_where(i, len(drawn), case["x"], eps[i], case["words"]))
                for i, case in enumerate(drawn)]

    def check(self, outcome, ctx):
        case, kwargs = outcome.call.case, outcome.call.kwargs
        args = [a.double() if isinstance(a, torch.Tensor) else a for a in outcome.call.args]
        expected, dtype, where = getattr(reference, self.func)(*args, **kwargs), case["x"].dtype, case["where"]
        kit.diagnose(outcome.value, self.mistakes(*args, kwargs.get("eps"), "eps" not in kwargs), expected,
                     ctx.tolerance(dtype), where, f"{self.func} is wrong: ")
        assert_tensor_close("the output", outcome.value, expected, ctx, dtype=dtype,
                            device=kit.device_of(outcome.devices), where=where)


class NormImmutability(kit.CaseItem):
    """x, weight and bias unchanged (values, shape, dtype) after each norm function, judged on real results."""

    id, points, functions = "norm_immutability", 1, (LAYER, RMS, GROUP)
    title = "the norm functions do not modify x, weight or bias"
    enforce_rules = False

    def cases(self, gen):
        return [_norm_call(f"{self.id}/{func}", _norm_case(gen, func, scale=2.0, eps=eps))
                for func, eps in ((LAYER, 1e-5), (RMS, 1e-6), (GROUP, 1e-5))]

    def check(self, outcome, ctx):
        func, x = outcome.call.case["func"], outcome.call.case["x"]
        kit.require_real_result(func, "its output", outcome.value, x.shape,
                                "immutability is checked once the function computes something")
        kit.check_args_unchanged(func, outcome, ARGS[func])


# ---------------------------------------------------------------- the blocks

def _block_case(gen, *, batch=None, seq=None, scale=1.5, dtype=torch.float32):
    """d_model, n_heads, d_ff, an input (batch, seq, d_model) with per-row offsets (so LayerNorm != RMSNorm), words."""
    h = kit.randint(gen, 1, 4)
    d, ff = h * kit.randint(gen, 2, 6), kit.randint(gen, 4, 24)
    rows = (batch or kit.randint(gen, 2, 4), seq or kit.randint(gen, 3, 7))
    x = (kit.randn(gen, *rows, d) * scale + scale * kit.randn(gen, *rows, 1)).to(dtype)
    return d, h, ff, x, f"(d_model={d}, n_heads={h}, d_ff={ff})"


def _outputs(who, value, names, shape):
    """The returned tensors named ``names``, each finite and of ``shape``; CheckFailed names the first that is not."""
    if not (isinstance(value, tuple) and len(value) >= len(names)):
        raise CheckFailed(f"could not read what {who} returned")
    for name, got in zip(names, value):
        if not isinstance(got, torch.Tensor) or got.shape != shape:
            raise CheckFailed(f"{who}: {name} returned {describe(got)} for an input of shape {tuple(shape)}; it should "
                              "return one tensor of that shape")
        if not torch.isfinite(got).all():
            raise CheckFailed(f"{who}: {name} returned NaN or inf")
    return value


# Two-step wirings over the stand-ins, each step "mode sublayer norm"; the modes:
_MODES = {
    "pre": lambda x, s, n: x + s(n(x)),
    "post": lambda x, s, n: n(x + s(x)),
    "bare": lambda x, s, n: s(n(x)),                             # pre-norm without the residual
    "barepost": lambda x, s, n: n(s(x)),                         # post-norm without the residual
    "out": lambda x, s, n: x + n(s(x)),                          # the norm on the sublayer's output
    "normres": lambda x, s, n: n(x) + s(n(x)),                   # the residual adds the normalized x
    "plain": lambda x, s, n: x + s(x),                           # no norm
    "prebatch": lambda x, s, n: x + s(n(x).transpose(0, 1)).transpose(0, 1),    # the sublayer sees (seq, batch, d)
    "postbatch": lambda x, s, n: n(x + s(x.transpose(0, 1)).transpose(0, 1)),
}


def _wire(x, *steps):
    for step in steps:
        mode, sub, norm = step.split()
        x = _MODES[mode](x, kernel.STANDINS[sub], kernel.STANDINS[norm])
    return x


# Per block: the mode of its two steps, the side of its sublayers its norms stand on, the formula, then its wrong
# wirings: modes of the whole block (-> message), modes of one step (-> template).
_WIRINGS = {
    PRE: ("pre", "before", "x = x + attn(norm1(x)); x = x + ffn(norm2(x))", {
        "post": "this is the post-norm wiring; pre-norm normalizes the sublayer inputs",
        "out": "the norms are applied to the sublayers' outputs; pre-norm applies them to the inputs"}, {
        "bare": "the residual connection around {sub} is missing",
        "normres": "the residual around {sub} adds the normalized x; add the un-normalized input",
        "out": "{norm} is applied to {sub}'s output; pre-norm applies it to {sub}'s input"}),
    POST: ("post", "after", "x = norm1(x + attn(x)); x = norm2(x + ffn(x))", {
        "pre": "this is the pre-norm wiring; post-norm normalizes the residual sums",
        "out": "the norms are applied to the sublayers' outputs before the residual sums; apply them to the sums"}, {
        "barepost": "the residual connection around {sub} is missing",
        "out": "{norm} is applied to {sub}'s output before the residual sum; apply it to the sum",
        "plain": "{norm} is not applied after the residual sum",
        "pre": "{norm} is applied to {sub}'s input; post-norm applies it after the residual sum"}),
}


def _mistakes(wiring, side, whole, per_step):
    """Wrong wirings (step, step, message): the ``whole`` blocks, the ``per_step`` modes in each step, shared ones."""
    mode, found = wiring[0].split()[0], [(f"{w} attn norm1", f"{w} ffn norm2", message) for w, message in whole.items()]
    for k, step in enumerate(wiring):
        _, sub, norm = step.split()
        for wrong, template in per_step.items():
            steps = list(wiring)
            steps[k] = f"{wrong} {sub} {norm}"
            found.append((*steps, template.format(sub=sub, norm=norm)))
    return found + [
        (f"{mode} attn norm2", f"{mode} ffn norm1", f"norm1 and norm2 are swapped: norm1 goes {side} attn"),
        (f"{mode} attn norm1", f"{mode} ffn norm1", f"the ffn sublayer uses norm1; use its own norm2 {side} ffn"),
        (f"{mode} attn norm2", f"{mode} ffn norm2", f"the attn sublayer uses norm2; use its own norm1 {side} attn"),
        (f"{mode} ffn norm1", f"{mode} attn norm2", "ffn runs before attn; attention comes first"),
        (f"{mode}batch attn norm1", f"{mode} ffn norm2",
         "attn runs along the batch dimension, not the sequence; call it on x as (batch, seq, d_model)")]


class _Wiring(kit.CaseItem):
    """The block's forward with its four sublayers replaced by known functions, in eval mode; its input unchanged.
    A subclass names its block (``block=PRE``), whose entry of ``_WIRINGS`` gives the rest."""

    points = 2

    def __init_subclass__(item, block: str, **kwargs):
        super().__init_subclass__(**kwargs)
        mode, side, item.formula, whole, per_step = _WIRINGS[block]
        item.functions, item.cls, item.wiring = (block,), block, (f"{mode} attn norm1", f"{mode} ffn norm2")
        item.mistakes = _mistakes(item.wiring, side, whole, per_step)

    def cases(self, gen):
        blocks = [_block_case(gen, batch=batch, seq=kit.randint(gen, 2, 7), dtype=dtype)
                  for dtype, batch in ((torch.float32, 1), (torch.float32, None), (torch.float64, None))]
        return [Call(f"{self.id}/{i}", self.cls, (self.cls, x, d, h, ff), helper="standin_forward",
                     note=f"{note} on an input of shape {tuple(x.shape)}", case=(x, _where(i, 3, x, f"d_model={d}")))
                for i, (d, h, ff, x, note) in enumerate(blocks)]

    def check(self, outcome, ctx):
        x, where = outcome.call.case
        got, x64, tol = outcome.value, x.double(), ctx.tolerance(x.dtype)
        expected = _wire(x64, *self.wiring)
        if isinstance(got, torch.Tensor) and got.shape == expected.shape and not close(got, expected, tol):
            kit.diagnose(got, [(f"{message}; it should compute {self.formula}", _wire(x64, *steps))
                               for *steps, message in self.mistakes], expected, tol, where, f"{self.cls}: ")
            error = (got.double() - expected).abs().max().item() if torch.isfinite(got).all() else float("nan")
            raise CheckFailed(f"{self.cls}: with attn, ffn, norm1 and norm2 replaced by known functions, the output "
                              f"does not follow {self.formula} (max abs error {error:.2e}); forward must call exactly "
                              f"these four attributes, each on one tensor ({where})")
        assert_tensor_close("the output", got, expected, ctx, dtype=x.dtype, device=kit.device_of(outcome.devices),
                            where=where)
        kit.check_unchanged(self.cls, outcome, {"x": (1, x)}, context=where,
                            advice="write x = x + attn(...), not x += attn(...) or other in-place updates")


class PreNormWiring(_Wiring, block=PRE):
    id, title = "prenorm_wiring", "PreNormBlock computes x + attn(norm1(x)), then x + ffn(norm2(x))"


class PostNormWiring(_Wiring, block=POST):
    id, title = "postnorm_wiring", "PostNormBlock computes norm1(x + attn(x)), then norm2(x + ffn(x))"


class BlockNorms(kit.CaseItem):
    """norm1 and norm2: LayerNorm or RMSNorm(eps=1e-6), two modules, also on a variance about the size of eps."""

    id, points, functions = "block_norms", 2, (PRE, POST)
    title = "norm='layer' gives LayerNorm(d_model), norm='rms' gives RMSNorm, norm1 and norm2 are separate"

    def cases(self, gen):
        for i, (cls, norm, scale) in enumerate(product((PRE, POST), (None, "rms"), (1.5, _TINY))):
            d, h, ff, x, note = _block_case(gen, scale=scale)
            yield Call(f"{self.id}/{i}", cls, (cls, x, d, h, ff), {"norm": norm} if norm else {}, helper="block_norms",
                       note=note + (f" with norm={norm!r}" if norm else ""), case=(cls, norm, x, scale < 1))

    def check(self, outcome, ctx):
        cls, norm, x, tiny = outcome.call.case
        made = f"{cls}({'norm=' + repr(norm) if norm else 'default norm'})"
        value = _outputs(made, outcome.value, ("norm1", "norm2"), x.shape)
        x64, tol = x.double(), ctx.tolerance(x.dtype)
        layer, rms = F.layer_norm(x64, x.shape[-1:], eps=1e-5), x64 / (x64.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt()
        expected, other, kind = (rms, layer, "RMSNorm(d_model, eps=1e-6)") if norm == "rms" else \
            (layer, rms, "LayerNorm(d_model)")
        for name, got in zip(("norm1", "norm2"), value):
            if close(got, expected, tol):
                continue
            if close(got, other, tol):
                raise CheckFailed(f"{made}.{name} behaves like {'LayerNorm' if norm == 'rms' else 'RMSNorm'}; "
                                  f"it should be {kind}")
            eps = ", on an input whose variance is about the size of eps: check its eps" if tiny else ""
            raise CheckFailed(f"{made}.{name} does not behave like a freshly made {kind} over the last dimension "
                              f"(max abs error {(got.double() - expected).abs().max().item():.2e}{eps})")
        if len(value) != 3 or value[2] is not True:
            raise CheckFailed(f"{made}: norm1 and norm2 are the same module; each sublayer needs its own norm "
                              "(its own weight and bias)")


class BlockSublayers(kit.CaseItem):
    """attn and ffn of both blocks: one tensor in, its shape out; attn mixes positions, ffn works on each alone."""

    id, points, functions = "block_sublayers", 1, (PRE, POST)
    title = "attn mixes sequence positions, ffn acts on each position, both keep the shape"

    def cases(self, gen):
        for cls in (PRE, POST):
            d, h, ff, x, note = _block_case(gen)
            changed = x.clone()
            changed[:, -1] = kit.randn(gen, x.shape[0], d, dtype=x.dtype) * 2      # only the last position differs
            yield Call(f"{self.id}/{cls}", cls, (cls, x, changed, d, h, ff), helper="sublayer_outputs",
                       note=f"{note} in eval mode", case=(cls, x))

    def check(self, outcome, ctx):
        cls, x = outcome.call.case
        value = _outputs(cls, outcome.value, ("attn", "attn", "ffn", "ffn", "the block"), x.shape)
        attn, attn_changed, ffn, ffn_changed = (v.double() for v in value[:4])
        if torch.allclose(attn[:, 0], attn_changed[:, 0], rtol=1e-6, atol=1e-7):
            raise CheckFailed(f"{cls}: attn's output at the first position did not change when only the last "
                              "position of the input changed; self-attention mixes all positions of the sequence")
        if not torch.allclose(ffn[:, :-1], ffn_changed[:, :-1], rtol=1e-5, atol=1e-6):
            raise CheckFailed(f"{cls}: ffn's output at one position changed when only another position of the "
                              "input changed; the feed-forward sublayer acts on each position on its own")
        if torch.allclose(ffn[:, -1], ffn_changed[:, -1], rtol=1e-6, atol=1e-7):
            raise CheckFailed(f"{cls}: ffn's output does not depend on its input")


class BlockDropout(kit.CaseItem):
    """Random in training, off in eval mode and at dropout=0 (>= 192 entries per mask: a false alarm < 2**-192)."""

    id, points, functions = "block_dropout", 1, (PRE, POST)
    title = "dropout is active in training mode only, and off at dropout=0"

    def cases(self, gen):
        for cls in (PRE, POST):
            h = kit.randint(gen, 1, 4)
            d, ff = h * kit.randint(gen, 8, 12), kit.randint(gen, 8, 24)
            x = (kit.randn(gen, 4, 6, d) * 1.5).float()
            for rate in (0.5, 0.0):
                yield Call(f"{self.id}/{cls}/{rate}", cls, (cls, x, d, h, ff), {"dropout": 0.5} if rate else {},
                           helper="dropout_outputs", case=(cls, x, rate),
                           note="with dropout=0.5" if rate else "with dropout=0.0 in training mode")

    def check(self, outcome, ctx):
        cls, x, rate = outcome.call.case
        train1, train2, eval1, eval2 = _outputs(cls, outcome.value, ("forward",) * 4, x.shape)[:4]
        if not rate and not torch.equal(train1, train2):
            raise CheckFailed(f"{cls} with dropout=0.0 in training mode gave different outputs for the same "
                              "input; it drops out even when dropout is 0")
        if rate and torch.equal(train1, train2):
            raise CheckFailed(f"{cls}(..., dropout=0.5) in training mode gave the same output twice; "
                              "pass dropout on to the sublayers (nn.Dropout / the attention's dropout)")
        if rate and not torch.equal(eval1, eval2):
            raise CheckFailed(f"{cls}(..., dropout=0.5) in eval mode gave different outputs for the same input; "
                              "use nn.Dropout modules (they turn off with .eval()), not F.dropout(..., training=True)")


# ---------------------------------------------------------------- grad_norms_by_layer

def _grad_norm_variants(blocks, x):
    """Per block: right, loss out.pow(2).mean(), loss out.sum(), and the sum of per-parameter norms."""
    losses = {"right": lambda o: o.mean(dim=1).pow(2).mean(), "pow2": lambda o: o.pow(2).mean(), "sum": torch.sum}
    params, result, float64 = [list(block.parameters()) for block in blocks], {}, torch.float64
    for name, loss_fn in losses.items():
        out = reduce(lambda out, block: block(out), blocks, x)
        grads = iter(torch.autograd.grad(loss_fn(out), [p for ps in params for p in ps]))
        per_block = [[next(grads) for _ in ps] for ps in params]
        result[name] = torch.tensor([sum(g.pow(2).sum().item() for g in gs) ** 0.5 for gs in per_block], dtype=float64)
        result.setdefault("sum_of_norms", torch.tensor([sum(g.norm().item() for g in gs) for gs in per_block],
                                                       dtype=float64))
    return result


def _as_norms(value):
    """The returned gradient norms as a float64 vector, or None if they are not a list of numbers."""
    if isinstance(value, torch.Tensor) and value.dim() == 1:
        return value.double()
    numbers = isinstance(value, tuple) and all(type(v) in (int, float) or isinstance(v, torch.Tensor) and v.numel() == 1
                                               for v in value)
    return torch.tensor([float(v) for v in value], dtype=torch.float64) if numbers else None


_GRAD_HINTS = {"pow2": "the loss is out.pow(2).mean(); this lab's fixed loss averages over the sequence first: "
                       "out.mean(dim=1).pow(2).mean()",
               "sum": "the loss is out.sum(); this lab's fixed loss is out.mean(dim=1).pow(2).mean()",
               "sum_of_norms": "it adds up the norms of the parameters; a block's gradient norm is the square root of "
                               "the sum of squares of all its gradient entries"}


class GradNorms(kit.CaseItem):
    """Twice on fresh blocks (leaked gradients show): encoder layers, MLP blocks that widen, a single block."""

    id, points, functions = "grad_norms", 3, (GRADS,)
    title = "grad_norms_by_layer: per-block gradient norms of out.mean(dim=1).pow(2).mean()"

    def cases(self, gen):
        table = [("transformer", torch.float32, None), ("mlp", torch.float32, None),
                 ("transformer", torch.float64, None), ("transformer", torch.float32, 1)]
        for i, (kind, dtype, depth) in enumerate(table):
            d, h, ff, x, _ = _block_case(gen, dtype=dtype)
            build = (kind, kit.seed(gen), x, d, h, ff, depth or kit.randint(gen, 3, 5))
            what = "Transformer encoder layer(s)" if kind == "transformer" else "MLP blocks that widen the features"
            case = (build, _where(i, len(table), x, f"{build[-1]} {what}"))
            yield Call(f"{self.id}/{i}/blocks", GRADS, build, helper="grad_blocks", note="building test blocks")
            yield from (Call(f"{self.id}/{i}/{call}", GRADS, (Ref(f"{self.id}/{i}/blocks"), x), case=case,
                             note=f"on {build[-1]} blocks and an input of shape {tuple(x.shape)}") for call in "12")

    def judge(self, outcomes, ctx):
        calls = kit.roles(self, outcomes)
        for key in (key for key in calls if key.endswith("/1")):
            self.check(calls[key], calls[key[:-1] + "2"], ctx)

    def check(self, outcome, again, ctx):
        (kind, seed, x, *sizes), where = outcome.call.case
        variants = _grad_norm_variants(kernel.grad_blocks({}, kind, seed, x.double(), *sizes), x.double())
        expected, tol, first = variants["right"], ctx.tolerance(x.dtype), _as_norms(outcome.value)
        if first is None or first.shape != expected.shape:
            raise CheckFailed(f"{GRADS} returned {describe(outcome.value)} for {sizes[-1]} blocks; return a list of "
                              f"floats, one per block ({where})")
        for name, hint in _GRAD_HINTS.items():
            kit.known_mistake(first, variants[name], expected, tol, f"{GRADS}: {hint}", where)
        if not close(first, expected, tol):
            error = (first - expected).abs().max().item()
            raise CheckFailed(f"{GRADS} gave wrong gradient norms (max abs error {error:.2e}) ({where})")
        if (second := _as_norms(again.value)) is None or not close(second, expected, tol):
            raise CheckFailed(f"{GRADS} gave different norms when called a second time on the same blocks: the first "
                              "call's gradients leaked into the second; clear them first (block.zero_grad()) or use "
                              f"torch.autograd.grad ({where})")
        for call in (outcome, again):
            kit.check_unchanged(GRADS, call, {"x": (1, x)}, context=where)


def make_checks() -> LabChecks:
    return LabChecks(
        lab="06e-norm-placement",
        items=(_NormItem(LAYER, 3, "layer_norm matches F.layer_norm over the last dimension", [
                   dict(dims=2, scale=3.0), dict(dims=4, scale=0.05, eps=1e-3),
                   dict(dims=3, scale=2.0, dtype=torch.float64, eps=1e-6)], _layer_mistakes),
               _NormItem(RMS, 2, "rms_norm matches nn.RMSNorm over the last dimension", [
                   dict(dims=2, scale=2.0), dict(dims=4, scale=0.03, eps=1e-3, centred=True),
                   dict(dims=3, scale=1.5, dtype=torch.float64, eps=1e-8)], _rms_mistakes),
               _NormItem(GROUP, 3, "group_norm matches F.group_norm on (N, C, ...) inputs", [
                   dict(dims=4, scale=2.0), dict(dims=2, scale=1.0, eps=1e-3),     # (N, C): no spatial dimensions
                   dict(dims=4, scale=1.0, groups="one"), dict(dims=3, scale=1.0, groups="each"),
                   dict(dims=4, scale=2.0, dtype=torch.float64, eps=1e-6)], _group_mistakes),
               NormImmutability(), PreNormWiring(), PostNormWiring(), BlockNorms(), BlockSublayers(), BlockDropout(),
               GradNorms()),
        forbidden={LAYER: _LIBRARY_NORMS, RMS: _LIBRARY_NORMS, GROUP: _LIBRARY_NORMS},
        helpers=kernel,
    )
