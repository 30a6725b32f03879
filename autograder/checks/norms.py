"""Hidden checks for lab 06e, norm placement: LayerNorm, RMSNorm, GroupNorm, pre- and post-norm blocks.

Ten items. The three norm functions are compared exactly with the float64
reference on fresh shapes (2-D to 4-D, float32 and float64, a variance about
the size of eps so that eps placement shows). The blocks are checked without
depending on the student's initialization: the wiring items build the
student's block in the kernel, replace ``attn``, ``ffn``, ``norm1`` and
``norm2`` by four known parameter-free functions (tanh, softplus, sigmoid,
softsign) and compare the output with the same wiring computed here. Other
items ask what the norm modules compute, whether ``attn`` mixes positions and
``ffn`` does not, and whether ``dropout`` follows train / eval mode.
``grad_norms_by_layer`` is graded on blocks built from ``torch.nn`` in the
kernel with a seed drawn here, which this process rebuilds identically.

Nothing here is statistical except ``block_dropout``: with ``dropout=0.5``
two training-mode forward passes of a block must differ. Both passes are
equal only if every dropout mask of both passes drew the same entries, a
chance below 1e-50 for the sizes used, so the false-alarm rate is 0 for
practical purposes (tests/test_checks_over_seeds.py measures it anyway).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.checks.base import (
    CheckFailed,
    Item,
    LabChecks,
    assert_tensor_close,
    close,
    describe,
)
from autograder.probes import Call, Ref
from solutions import norms as reference

LAYER, RMS, GROUP = "layer_norm", "rms_norm", "group_norm"
PRE, POST, GRADS = "PreNormBlock", "PostNormBlock", "grad_norms_by_layer"
_LIBRARY_NORMS = r"(layer|rms|group|batch|instance)_norm|(Layer|RMS|Group|Batch|Instance)Norm"


# ---------------------------------------------------------------- the norm functions

def _randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _rand(gen, *shape):
    return torch.rand(*shape, generator=gen, dtype=torch.float64)


def _randint(gen, low, high):
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _where(x, index, total, extra=""):
    dtype = str(x.dtype).removeprefix("torch.")
    return f"case {index + 1} of {total}: input of shape {tuple(x.shape)}, {dtype}{extra}"


def _norm_case(gen, shape, *, scale, dtype, eps=None, affine=True, constant_row=None, centred=False):
    """x with a per-row shift and scale, weight and bias over the last dim (or dim 1 when ``affine='channel'``)."""
    shift = 0.0 if centred else min(3.0, scale)
    x = _randn(gen, *shape) * scale * (0.5 + _rand(gen, *shape[:-1], 1)) + shift * _randn(gen, *shape[:-1], 1)
    if constant_row is not None:           # a row with zero variance (or zero mean square): eps keeps it finite
        x.view(-1, shape[-1])[0] = constant_row
    size = shape[1] if affine == "channel" else shape[-1]
    return {"x": x.to(dtype), "weight": (0.5 + _rand(gen, size)).to(dtype), "bias": _randn(gen, size).to(dtype),
            "eps": eps}


def _kwargs(case):
    return {} if case["eps"] is None else {"eps": case["eps"]}


class _NormItem(Item):
    """One norm function against its float64 reference on several cases; ``_diagnose`` names common mistakes."""

    func: str

    def _args(self, case):
        raise NotImplementedError

    def _expected(self, case, **changes):
        raise NotImplementedError

    def _diagnose(self, got, case, tol):
        return None

    def calls(self, gen):
        self.cases = self._cases(gen)
        return [Call(f"{self.id}/{i}", self.func, self._args(case), _kwargs(case),
                     note=f"on an input of shape {tuple(case['x'].shape)}")
                for i, case in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, case in enumerate(self.cases):
            outcome = outcomes[f"{self.id}/{i}"]
            extra = ", eps left at its default" if case["eps"] is None else f", eps={case['eps']:g}"
            where = _where(case["x"], i, len(self.cases), extra)
            expected = self._expected(case)
            got = outcome.value
            tol = ctx.tolerance(case["x"].dtype)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape and not close(got, expected, tol):
                hint = self._diagnose(got, case, tol)
                if hint:
                    raise CheckFailed(f"{self.func} is wrong: {hint} ({where})")
            device = outcome.devices if isinstance(outcome.devices, str) else None
            assert_tensor_close("the output", got, expected, ctx, dtype=case["x"].dtype, device=device, where=where)


def _double(case):
    return {k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in case.items()}


def _layer_norm_variant(x, w, b, eps, *, unbiased=False, eps_outside=False, dim=-1):
    mean = x.mean(dim, keepdim=True)
    var = x.var(dim, unbiased=unbiased, keepdim=True)
    std = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return (x - mean) / std * w + b


class LayerNorm(_NormItem):
    id, points, functions, func = "layer_norm", 3, (LAYER,), LAYER
    title = "layer_norm matches F.layer_norm over the last dimension"

    def _cases(self, gen):
        return [
            _norm_case(gen, (_randint(gen, 3, 12), _randint(gen, 5, 40)), scale=3.0, dtype=torch.float32,
                       constant_row=1.5),
            _norm_case(gen, (_randint(gen, 2, 5), _randint(gen, 3, 9), _randint(gen, 5, 24)), scale=0.003,
                       dtype=torch.float32),                                  # var ~ eps: eps placement shows
            _norm_case(gen, (2, _randint(gen, 2, 4), _randint(gen, 2, 5), _randint(gen, 4, 16)), scale=0.05,
                       dtype=torch.float32, eps=1e-3),
            _norm_case(gen, (_randint(gen, 2, 6), _randint(gen, 2, 7), _randint(gen, 5, 30)), scale=2.0,
                       dtype=torch.float64, eps=1e-6),
        ]

    def _args(self, case):
        return (case["x"], case["weight"], case["bias"])

    def _expected(self, case):
        c = _double(case)
        return reference.layer_norm(c["x"], c["weight"], c["bias"], **_kwargs(c))

    def _diagnose(self, got, case, tol):
        c = _double(case)
        x, w, b, eps = c["x"], c["weight"], c["bias"], c["eps"] or 1e-5
        if close(got, _layer_norm_variant(x, w, b, eps, eps_outside=True), tol):
            return "eps is added outside the square root; use sqrt(var + eps)"
        if x.shape[-1] > 1 and close(got, _layer_norm_variant(x, w, b, eps, unbiased=True), tol):
            return "it normalizes with the unbiased variance (divide by D - 1); LayerNorm uses the biased one (divide by D)"
        if close(got, _layer_norm_variant(x, 1.0, 0.0, eps), tol):
            return "weight and bias are not applied"
        if close(got, _layer_norm_variant(x, w, b, eps, dim=0), tol):
            return "the statistics are taken over the first dimension; take them over the last one (dim=-1)"
        if case["eps"] is None and close(got, _layer_norm_variant(x, w, b, 1e-6), tol):
            return "the default eps should be 1e-5"
        return None


class RMSNorm(_NormItem):
    id, points, functions, func = "rms_norm", 2, (RMS,), RMS
    title = "rms_norm matches nn.RMSNorm over the last dimension"

    def _cases(self, gen):
        return [
            _norm_case(gen, (_randint(gen, 3, 12), _randint(gen, 5, 40)), scale=2.0, dtype=torch.float32,
                       constant_row=0.0),
            _norm_case(gen, (_randint(gen, 2, 5), _randint(gen, 3, 9), _randint(gen, 5, 24)), scale=0.001,
                       dtype=torch.float32, centred=True),                    # mean square ~ eps
            _norm_case(gen, (2, _randint(gen, 2, 4), _randint(gen, 2, 5), _randint(gen, 4, 16)), scale=0.03,
                       dtype=torch.float32, eps=1e-3, centred=True),
            _norm_case(gen, (_randint(gen, 2, 6), _randint(gen, 2, 7), _randint(gen, 5, 30)), scale=1.5,
                       dtype=torch.float64, eps=1e-8),
        ]

    def _args(self, case):
        return (case["x"], case["weight"])

    def _expected(self, case):
        c = _double(case)
        return reference.rms_norm(c["x"], c["weight"], **_kwargs(c))

    def _diagnose(self, got, case, tol):
        c = _double(case)
        x, w, eps = c["x"], c["weight"], c["eps"] or 1e-6
        ms = (x * x).mean(-1, keepdim=True)
        if close(got, _layer_norm_variant(x, w, 0.0, eps), tol):
            return "it subtracts the mean, which makes it LayerNorm; RMSNorm divides by sqrt(mean(x**2) + eps) only"
        if close(got, x / (ms.sqrt() + eps) * w, tol):
            return "eps is added outside the square root; use sqrt(mean(x**2) + eps)"
        if close(got, x / (ms + eps).sqrt(), tol):
            return "weight is not applied"
        if case["eps"] is None and close(got, x / (ms + 1e-5).sqrt() * w, tol):
            return "the default eps should be 1e-6 (nn.RMSNorm(d, eps=1e-6)), not LayerNorm's 1e-5"
        return None


def _group_shape(gen):
    """(C, G) with G groups of C // G channels, G != C // G so that the two cannot be confused."""
    while True:
        groups, per_group = _randint(gen, 2, 5), _randint(gen, 2, 4)
        if groups != per_group:
            return groups * per_group, groups


def _group_norm_variant(x, g, w, b, eps, *, interleaved=False, per_channel=False, unbiased=False, eps_outside=False):
    n, c = x.shape[:2]
    if per_channel:
        flat = x.reshape(n, c, -1)
        dims = (2,)
    elif interleaved:
        flat = x.reshape(n, c // g, g, -1)
        dims = (1, 3)
    else:
        flat = x.reshape(n, g, -1)
        dims = (2,)
    mean = flat.mean(dims, keepdim=True)
    var = flat.var(dims, unbiased=unbiased, keepdim=True)
    std = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    x_hat = ((flat - mean) / std).reshape(x.shape)
    shape = (1, c) + (1,) * (x.dim() - 2)
    return x_hat * w.reshape(shape) + b.reshape(shape)


class GroupNorm(_NormItem):
    id, points, functions, func = "group_norm", 3, (GROUP,), GROUP
    title = "group_norm matches F.group_norm on (N, C, ...) inputs"

    def _cases(self, gen):
        cases = []
        for spatial, scale, dtype, eps, groups in [
            ((_randint(gen, 2, 5), _randint(gen, 2, 5)), 2.0, torch.float32, None, None),
            ((_randint(gen, 3, 9),), 0.003, torch.float32, None, None),       # var ~ eps: eps placement shows
            ((), 1.0, torch.float32, 1e-3, None),                             # (N, C): no spatial dimensions
            ((_randint(gen, 2, 4), _randint(gen, 2, 4)), 1.0, torch.float32, None, "one"),     # one group: all of C
            ((_randint(gen, 3, 6),), 1.0, torch.float32, None, "each"),       # C groups: one channel each
            ((_randint(gen, 2, 4), _randint(gen, 2, 4)), 2.0, torch.float64, 1e-6, None),
        ]:
            c, g = _group_shape(gen)
            g = {"one": 1, "each": c}.get(groups, g)
            n = _randint(gen, 2, 4)
            case = _norm_case(gen, (n, c, *spatial), scale=scale, dtype=dtype, eps=eps, affine="channel")
            # The per-row scale of _norm_case varies along the last dim here; add per-channel offsets too.
            shift = min(2.0, scale) * _randn(gen, 1, c, *(1,) * len(spatial))
            case["x"] = (case["x"].double() + shift).to(dtype)
            case["groups"] = g
            cases.append(case)
        return cases

    def _args(self, case):
        return (case["x"], case["groups"], case["weight"], case["bias"])

    def _expected(self, case):
        c = _double(case)
        return reference.group_norm(c["x"], c["groups"], c["weight"], c["bias"], **_kwargs(c))

    def _diagnose(self, got, case, tol):
        c = _double(case)
        x, g, w, b, eps = c["x"], c["groups"], c["weight"], c["bias"], c["eps"] or 1e-5
        channels = x.shape[1]
        if 1 < g < channels and close(got, _group_norm_variant(x, g, w, b, eps, interleaved=True), tol):
            return ("the groups interleave channels; group k holds the consecutive channels "
                    "k * (C // num_groups) ... (k + 1) * (C // num_groups) - 1: reshape to (N, num_groups, -1)")
        if 1 < g < channels and close(got, _group_norm_variant(x, channels // g, w, b, eps), tol):
            return "it makes C // num_groups groups of num_groups channels; make num_groups groups of C // num_groups"
        if g < channels and x.dim() > 2 and close(got, _group_norm_variant(x, g, w, b, eps, per_channel=True), tol):
            return "it normalizes each channel on its own (instance norm); normalize over all channels of a group"
        if close(got, _group_norm_variant(x, g, w, b, eps, eps_outside=True), tol):
            return "eps is added outside the square root; use sqrt(var + eps)"
        if close(got, _group_norm_variant(x, g, w, b, eps, unbiased=True), tol):
            return "it normalizes with the unbiased variance; GroupNorm uses the biased one"
        return None


class NormImmutability(Item):
    """Inputs unchanged after each call, judged on outputs that look like real results."""

    id, points, functions = "norm_immutability", 1, (LAYER, RMS, GROUP)
    title = "the norm functions do not modify x, weight or bias"
    enforce_rules = False

    def calls(self, gen):
        c, g = _group_shape(gen)
        self.cases = {
            LAYER: _norm_case(gen, (3, _randint(gen, 3, 6), _randint(gen, 4, 12)), scale=2.0, dtype=torch.float32, eps=1e-5),
            RMS: _norm_case(gen, (3, _randint(gen, 3, 6), _randint(gen, 4, 12)), scale=2.0, dtype=torch.float32, eps=1e-6),
            GROUP: _norm_case(gen, (3, c, _randint(gen, 2, 5)), scale=2.0, dtype=torch.float32, eps=1e-5, affine="channel"),
        }
        self.cases[GROUP]["groups"] = g
        args = {LAYER: lambda k: (k["x"], k["weight"], k["bias"]), RMS: lambda k: (k["x"], k["weight"]),
                GROUP: lambda k: (k["x"], k["groups"], k["weight"], k["bias"])}
        self.names = {LAYER: ("x", "weight", "bias"), RMS: ("x", "weight"), GROUP: ("x", None, "weight", "bias")}
        return [Call(f"{self.id}/{func}", func, args[func](case), {"eps": case["eps"]}) for func, case in self.cases.items()]

    def judge(self, outcomes, ctx):
        for func, case in self.cases.items():
            outcome = outcomes[f"{self.id}/{func}"]
            value, x = outcome.value, case["x"]
            if not (isinstance(value, torch.Tensor) and value.shape == x.shape and torch.isfinite(value).all()
                    and value.double().std() > 0):
                raise CheckFailed(f"{func} returned {describe(value)}, not a real result of shape {tuple(x.shape)}; "
                                  "immutability is checked once the function computes something")
            for name, after in zip(self.names[func], outcome.args_after):
                if name and not torch.equal(after, case[name]):
                    raise CheckFailed(f"{func} modified its input {name} in place; work on new tensors "
                                      "(x - mean, not x.sub_(mean) or x -= mean)")


# ---------------------------------------------------------------- the blocks

# Known stand-ins for the four sublayers: parameter-free, different from each other and nonlinear,
# so that every other wiring of them gives a different output.
_STANDINS = "(('attn', nn.Tanh()), ('ffn', nn.Softplus()), ('norm1', nn.Sigmoid()), ('norm2', nn.Softsign()))"
_SWAP = f"(lambda b: ([setattr(b, k, m) for k, m in {_STANDINS}], b)[1])"
_ATTN, _FFN, _NORM1, _NORM2 = torch.tanh, F.softplus, torch.sigmoid, F.softsign


def _block_shape(gen):
    heads = _randint(gen, 1, 4)
    return heads * _randint(gen, 2, 6), heads, _randint(gen, 4, 24)   # d_model, n_heads, d_ff


def _pre(x, attn=_ATTN, ffn=_FFN, n1=_NORM1, n2=_NORM2):
    x = x + attn(n1(x))
    return x + ffn(n2(x))


def _post(x, attn=_ATTN, ffn=_FFN, n1=_NORM1, n2=_NORM2):
    x = n1(x + attn(x))
    return n2(x + ffn(x))


# Wrong wirings a student writes, each as (first step x -> h, second step h -> output, message).
_PRE_MISTAKES = [
    (lambda x: _NORM1(x + _ATTN(x)), lambda h: _NORM2(h + _FFN(h)),
     "this is the post-norm wiring; PreNormBlock normalizes each sublayer's input: x + attn(norm1(x))"),
    (lambda x: _ATTN(_NORM1(x)), lambda h: h + _FFN(_NORM2(h)),
     "the residual connection around attn is missing: x = x + attn(norm1(x))"),
    (lambda x: x + _ATTN(_NORM1(x)), lambda h: _FFN(_NORM2(h)),
     "the residual connection around ffn is missing: x = x + ffn(norm2(x))"),
    (lambda x: _NORM1(x) + _ATTN(_NORM1(x)), lambda h: h + _FFN(_NORM2(h)),
     "the residual adds the normalized x; add the un-normalized input: x + attn(norm1(x))"),
    (lambda x: x + _ATTN(_NORM1(x)), lambda h: _NORM2(h) + _FFN(_NORM2(h)),
     "the second residual adds the normalized x; add the un-normalized input: x + ffn(norm2(x))"),
    (lambda x: x + _NORM1(_ATTN(x)), lambda h: h + _NORM2(_FFN(h)),
     "the norms are applied to the sublayers' outputs; pre-norm applies them to the inputs: x + attn(norm1(x))"),
    (lambda x: x + _NORM1(_ATTN(x)), lambda h: h + _FFN(_NORM2(h)),
     "norm1 is applied to attn's output; pre-norm applies it to attn's input: x + attn(norm1(x))"),
    (lambda x: x + _ATTN(_NORM1(x)), lambda h: h + _NORM2(_FFN(h)),
     "norm2 is applied to ffn's output; pre-norm applies it to ffn's input: x + ffn(norm2(x))"),
    (lambda x: x + _ATTN(_NORM2(x)), lambda h: h + _FFN(_NORM1(h)),
     "norm1 and norm2 are swapped: norm1 goes before attn, norm2 before ffn"),
    (lambda x: x + _ATTN(_NORM1(x)), lambda h: h + _FFN(_NORM1(h)),
     "the ffn sublayer uses norm1; each sublayer has its own norm (norm2 before ffn)"),
    (lambda x: x + _ATTN(_NORM2(x)), lambda h: h + _FFN(_NORM2(h)),
     "the attn sublayer uses norm2; each sublayer has its own norm (norm1 before attn)"),
    (lambda x: x + _FFN(_NORM1(x)), lambda h: h + _ATTN(_NORM2(h)), "ffn runs before attn; attention comes first"),
]

_POST_MISTAKES = [
    (lambda x: x + _ATTN(_NORM1(x)), lambda h: h + _FFN(_NORM2(h)),
     "this is the pre-norm wiring; PostNormBlock normalizes after each residual sum: norm1(x + attn(x))"),
    (lambda x: _NORM1(_ATTN(x)), lambda h: _NORM2(h + _FFN(h)),
     "the residual connection around attn is missing: x = norm1(x + attn(x))"),
    (lambda x: _NORM1(x + _ATTN(x)), lambda h: _NORM2(_FFN(h)),
     "the residual connection around ffn is missing: x = norm2(x + ffn(x))"),
    (lambda x: x + _NORM1(_ATTN(x)), lambda h: h + _NORM2(_FFN(h)),
     ("the norms are applied to the sublayers' outputs before the residual sums; apply them to the sums: "
      "norm1(x + attn(x)), norm2(x + ffn(x))")),
    (lambda x: x + _NORM1(_ATTN(x)), lambda h: _NORM2(h + _FFN(h)),
     "norm1 is applied to attn's output before the residual sum; apply it to the sum: norm1(x + attn(x))"),
    (lambda x: _NORM1(x + _ATTN(x)), lambda h: h + _NORM2(_FFN(h)),
     "norm2 is applied to ffn's output before the residual sum; apply it to the sum: norm2(x + ffn(x))"),
    (lambda x: _NORM1(x + _ATTN(x)), lambda h: h + _FFN(h),
     "norm2 is not applied after the second residual sum: x = norm2(x + ffn(x))"),
    (lambda x: _NORM2(x + _ATTN(x)), lambda h: _NORM1(h + _FFN(h)),
     "norm1 and norm2 are swapped: norm1 follows attn, norm2 follows ffn"),
    (lambda x: _NORM1(x + _ATTN(x)), lambda h: _NORM1(h + _FFN(h)),
     "the ffn sublayer uses norm1; each sublayer has its own norm (norm2 after ffn)"),
    (lambda x: _NORM2(x + _ATTN(x)), lambda h: _NORM2(h + _FFN(h)),
     "the attn sublayer uses norm2; each sublayer has its own norm (norm1 after attn)"),
    (lambda x: _NORM1(x + _FFN(x)), lambda h: _NORM2(h + _ATTN(h)), "ffn runs before attn; attention comes first"),
]


def _block_expr(cls, body, **kwargs):
    args = ", ".join(["A[1]", "A[2]", "A[3]"] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"{body.replace('BLOCK', f'S[{cls!r}]({args})')}"


class _Wiring(Item):
    """The block's forward with its four sublayers replaced by known functions, in eval mode."""

    cls: str
    wiring: staticmethod
    mistakes: list
    formula: str

    def calls(self, gen):
        self.cases = []
        for dtype in (torch.float32, torch.float32, torch.float64):
            d, h, ff = _block_shape(gen)
            x = (_randn(gen, _randint(gen, 1, 4), _randint(gen, 2, 7), d) * 1.5 + 0.5 * _randn(gen, d)).to(dtype)
            self.cases.append((x, d, h, ff))
        expr = _block_expr(self.cls, f"{_SWAP}(BLOCK).to(A[0]).eval()(A[0])")
        return [Call(f"{self.id}/{i}", self.cls, (x, d, h, ff), expr=expr,
                     note=f"(d_model={d}, n_heads={h}, d_ff={ff}) on an input of shape {tuple(x.shape)}")
                for i, (x, d, h, ff) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (x, d, h, ff) in enumerate(self.cases):
            outcome = outcomes[f"{self.id}/{i}"]
            where = _where(x, i, len(self.cases), f", d_model={d}")
            got, x64 = outcome.value, x.double()
            expected = self.wiring(x64)
            tol = ctx.tolerance(x.dtype)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape and not close(got, expected, tol):
                for first, second, message in self.mistakes:
                    if close(got, second(first(x64)), tol):
                        raise CheckFailed(f"{self.cls}: {message} ({where})")
                error = (got.double() - expected).abs().max().item() if torch.isfinite(got).all() else float("nan")
                raise CheckFailed(f"{self.cls}: with attn, ffn, norm1 and norm2 replaced by known functions, the "
                                  f"output does not follow {self.formula} (max abs error {error:.2e}); forward must "
                                  f"call exactly these four attributes, each on one tensor ({where})")
            device = outcome.devices if isinstance(outcome.devices, str) else None
            assert_tensor_close("the output", got, expected, ctx, dtype=x.dtype, device=device, where=where)


class PreNormWiring(_Wiring):
    id, points, functions, cls = "prenorm_wiring", 2, (PRE,), PRE
    title = "PreNormBlock computes x + attn(norm1(x)), then x + ffn(norm2(x))"
    wiring, mistakes = staticmethod(_pre), _PRE_MISTAKES
    formula = "x = x + attn(norm1(x)); x = x + ffn(norm2(x))"


class PostNormWiring(_Wiring):
    id, points, functions, cls = "postnorm_wiring", 2, (POST,), POST
    title = "PostNormBlock computes norm1(x + attn(x)), then norm2(x + ffn(x))"
    wiring, mistakes = staticmethod(_post), _POST_MISTAKES
    formula = "x = norm1(x + attn(x)); x = norm2(x + ffn(x))"


def _block_input(gen, d, dtype=torch.float32):
    """(batch, seq, d) with a per-row offset, so that LayerNorm and RMSNorm give clearly different results."""
    batch, seq = _randint(gen, 2, 4), _randint(gen, 3, 7)
    return (_randn(gen, batch, seq, d) * 1.5 + 1.5 * _randn(gen, batch, seq, 1)).to(dtype)


class BlockNorms(Item):
    """norm1 and norm2 of both blocks: LayerNorm(d_model) by default, RMSNorm for norm='rms', two separate modules."""

    id, points, functions = "block_norms", 2, (PRE, POST)
    title = "norm='layer' gives LayerNorm(d_model), norm='rms' gives RMSNorm, norm1 and norm2 are separate"

    def calls(self, gen):
        self.cases = []
        calls = []
        body = "(lambda b: [b.norm1(A[0]), b.norm2(A[0]), b.norm1 is not b.norm2])(BLOCK.to(A[0]).eval())"
        for cls in (PRE, POST):
            for norm in (None, "rms"):
                d, h, ff = _block_shape(gen)
                x = _block_input(gen, d)
                kwargs = {} if norm is None else {"norm": norm}
                key = f"{self.id}/{cls}/{norm or 'default'}"
                self.cases.append((key, cls, norm, x))
                calls.append(Call(key, cls, (x, d, h, ff), expr=_block_expr(cls, body, **kwargs),
                                  note=f"(d_model={d}, n_heads={h}, d_ff={ff}{', norm=' + repr(norm) if norm else ''})"))
        return calls

    def judge(self, outcomes, ctx):
        for key, cls, norm, x in self.cases:
            value = outcomes[key].value
            made = f"{cls}({'norm=' + repr(norm) if norm else 'default norm'})"
            if not (isinstance(value, tuple) and len(value) == 3):
                raise CheckFailed(f"could not read norm1 and norm2 of {made}")
            x64 = x.double()
            layer = F.layer_norm(x64, x.shape[-1:], eps=1e-5)
            rms = x64 / (x64.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt()
            expected, other, kind = (rms, layer, "RMSNorm(d_model)") if norm == "rms" else (layer, rms, "LayerNorm(d_model)")
            tol = ctx.tolerance(x.dtype)
            for name, got in zip(("norm1", "norm2"), value[:2]):
                if not isinstance(got, torch.Tensor) or got.shape != x.shape:
                    raise CheckFailed(f"{made}.{name} returned {describe(got)} for an input of shape {tuple(x.shape)}; "
                                      "it should return the input's shape")
                if close(got, expected, tol):
                    continue
                if close(got, other, tol):
                    wrong = "LayerNorm" if norm == "rms" else "RMSNorm"
                    raise CheckFailed(f"{made}.{name} behaves like {wrong}; it should be {kind}")
                error = (got.double() - expected).abs().max().item()
                raise CheckFailed(f"{made}.{name} does not behave like a freshly made {kind} over the last dimension "
                                  f"(max abs error {error:.2e})")
            if value[2] is not True:
                raise CheckFailed(f"{made}: norm1 and norm2 are the same module; each sublayer needs its own norm "
                                  "(its own weight and bias)")


class BlockSublayers(Item):
    """attn and ffn of both blocks: one tensor in, its shape out; attn mixes positions, ffn works position by position."""

    id, points, functions = "block_sublayers", 1, (PRE, POST)
    title = "attn mixes sequence positions, ffn acts on each position, both keep the shape"

    def calls(self, gen):
        self.cases = []
        calls = []
        body = "(lambda b: [b.attn(A[0]), b.attn(A[4]), b.ffn(A[0]), b.ffn(A[4]), b(A[0])])(BLOCK.to(A[0]).eval())"
        for cls in (PRE, POST):
            d, h, ff = _block_shape(gen)
            x = _block_input(gen, d)
            changed = x.clone()
            changed[:, -1] = _randn(gen, x.shape[0], d).float() * 2      # only the last position differs
            self.cases.append((cls, x))
            calls.append(Call(f"{self.id}/{cls}", cls, (x, d, h, ff, changed), expr=_block_expr(cls, body),
                              note=f"(d_model={d}, n_heads={h}, d_ff={ff}) in eval mode"))
        return calls

    def judge(self, outcomes, ctx):
        for cls, x in self.cases:
            value = outcomes[f"{self.id}/{cls}"].value
            if not (isinstance(value, tuple) and len(value) == 5):
                raise CheckFailed(f"could not read the sublayers of {cls}")
            names = ("attn", "attn", "ffn", "ffn", "the block")
            for name, got in zip(names, value):
                if not isinstance(got, torch.Tensor) or got.shape != x.shape:
                    raise CheckFailed(f"{cls}: {name} returned {describe(got)} for one input of shape "
                                      f"{tuple(x.shape)}; it should return one tensor of that shape")
                if not torch.isfinite(got).all():
                    raise CheckFailed(f"{cls}: {name} returned NaN or inf")
            attn, attn_changed, ffn, ffn_changed, _ = (v.double() for v in value)
            if torch.allclose(attn[:, 0], attn_changed[:, 0], rtol=1e-6, atol=1e-7):
                raise CheckFailed(f"{cls}: attn's output at the first position did not change when only the last "
                                  "position of the input changed; self-attention mixes all positions of the sequence")
            if not torch.allclose(ffn[:, :-1], ffn_changed[:, :-1], rtol=1e-5, atol=1e-6):
                raise CheckFailed(f"{cls}: ffn's output at one position changed when only another position of the "
                                  "input changed; the feed-forward sublayer acts on each position on its own")
            if torch.allclose(ffn[:, -1], ffn_changed[:, -1], rtol=1e-6, atol=1e-7):
                raise CheckFailed(f"{cls}: ffn's output does not depend on its input")


class BlockDropout(Item):
    """Dropout follows the module's mode: random in training, off in eval mode and at dropout=0.

    With dropout=0.5 two training passes agree only if every dropout mask drew
    the same entries twice: probability below 2**-192 for these sizes.
    """

    id, points, functions = "block_dropout", 1, (PRE, POST)
    title = "dropout is active in training mode only, and off at dropout=0"

    def calls(self, gen):
        self.cases = []
        calls = []
        for cls in (PRE, POST):
            h = _randint(gen, 1, 4)
            d, ff = h * _randint(gen, 8, 12), _randint(gen, 8, 24)
            x = (_randn(gen, 4, 6, d) * 1.5).float()                          # >= 192 entries per dropout mask
            self.cases.append((cls, x))
            calls.append(Call(f"{self.id}/{cls}/0.5", cls, (x, d, h, ff), note="with dropout=0.5",
                              expr=_block_expr(cls, "(lambda b: [b(A[0]), b(A[0]), b.eval()(A[0]), b(A[0])])"
                                               "(BLOCK.to(A[0]).train())", dropout=0.5)))
            calls.append(Call(f"{self.id}/{cls}/0", cls, (x, d, h, ff), note="with dropout=0.0 in training mode",
                              expr=_block_expr(cls, "(lambda b: [b(A[0]), b(A[0])])(BLOCK.to(A[0]).train())")))
        return calls

    def judge(self, outcomes, ctx):
        for cls, x in self.cases:
            noisy, plain = outcomes[f"{self.id}/{cls}/0.5"].value, outcomes[f"{self.id}/{cls}/0"].value
            if not (isinstance(noisy, tuple) and len(noisy) == 4 and isinstance(plain, tuple) and len(plain) == 2
                    and all(isinstance(v, torch.Tensor) and v.shape == x.shape for v in noisy + plain)):
                raise CheckFailed(f"{cls} should return one tensor of the input's shape {tuple(x.shape)}")
            train1, train2, eval1, eval2 = noisy
            if torch.equal(train1, train2):
                raise CheckFailed(f"{cls}(..., dropout=0.5) in training mode gave the same output twice; "
                                  "pass dropout on to the sublayers (nn.Dropout / the attention's dropout)")
            if not torch.equal(eval1, eval2):
                raise CheckFailed(f"{cls}(..., dropout=0.5) in eval mode gave different outputs for the same input; "
                                  "use nn.Dropout modules (they turn off with .eval()), not F.dropout(..., training=True)")
            if not torch.equal(*plain):
                raise CheckFailed(f"{cls} with dropout=0.0 in training mode gave different outputs for the same "
                                  "input; it drops out even when dropout is 0")


# ---------------------------------------------------------------- grad_norms_by_layer

def _grad_blocks_expr(kind):
    """Blocks made from torch.nn alone (so both processes can rebuild them), seeded, on the input's device and dtype."""
    if kind == "transformer":
        block = "nn.TransformerEncoderLayer(A[2], A[3], A[4], dropout=0.0, batch_first=True, norm_first=i % 2 == 1)"
    else:
        block = "nn.Sequential(nn.Linear(A[2], A[4] + i), nn.Tanh(), nn.Linear(A[4] + i, A[2]))"
    return f"[m.to(A[1]) for m in (torch.manual_seed(A[0]), [{block} for i in range(A[5])])[1]]"


def _rebuild(kind, seed, d, h, ff, depth):
    """The blocks of ``_grad_blocks_expr``, here, in float64; the caller's random state is left alone."""
    env = {"torch": torch, "nn": torch.nn, "A": (seed, torch.zeros((), dtype=torch.float64), d, h, ff, depth)}
    with torch.random.fork_rng(devices=[]):
        return eval(_grad_blocks_expr(kind), env)   # our own text, never a student's


def _grad_norm_variants(blocks, x):
    """Per block: (right, loss out.pow(2).mean(), loss out.sum(), sum of per-parameter norms)."""
    losses = {"right": lambda o: o.mean(dim=1).pow(2).mean(), "pow2": lambda o: o.pow(2).mean(), "sum": lambda o: o.sum()}
    result = {}
    for name, loss_fn in losses.items():
        out = x
        for block in blocks:
            out = block(out)
        params = [list(block.parameters()) for block in blocks]
        grads = torch.autograd.grad(loss_fn(out), [p for ps in params for p in ps])
        per_block, start = [], 0
        for ps in params:
            per_block.append(grads[start:start + len(ps)])
            start += len(ps)
        result[name] = torch.tensor([torch.stack([g.pow(2).sum() for g in gs]).sum().sqrt().item() for gs in per_block],
                                    dtype=torch.float64)
        if name == "right":
            result["sum_of_norms"] = torch.tensor([sum(g.norm().item() for g in gs) for gs in per_block],
                                                  dtype=torch.float64)
    return result


def _as_norms(value):
    """The returned gradient norms as a float64 vector, or None if they are not a list of numbers."""
    if isinstance(value, torch.Tensor) and value.dim() == 1:
        return value.double()
    if not isinstance(value, tuple):
        return None
    numbers = []
    for v in value:
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, float)):
            numbers.append(float(v))
        elif isinstance(v, torch.Tensor) and v.numel() == 1:
            numbers.append(float(v.double().reshape(())))
        else:
            return None
    return torch.tensor(numbers, dtype=torch.float64)


class GradNorms(Item):
    id, points, functions = "grad_norms", 3, (GRADS,)
    title = "grad_norms_by_layer: per-block gradient norms of out.mean(dim=1).pow(2).mean()"

    def calls(self, gen):
        self.cases = []
        calls = []
        for kind, dtype in (("transformer", torch.float32), ("mlp", torch.float32), ("transformer", torch.float64)):
            d, h, ff = _block_shape(gen)
            depth, seed = _randint(gen, 3, 5), _randint(gen, 0, 2**31 - 1)
            x = _randn(gen, _randint(gen, 2, 4), _randint(gen, 3, 6), d).to(dtype)
            key = f"{self.id}/{len(self.cases)}"
            self.cases.append((key, kind, seed, x, d, h, ff, depth))
            calls.append(Call(f"{key}/blocks", GRADS, (seed, x, d, h, ff, depth), expr=_grad_blocks_expr(kind),
                              note="while building the test blocks"))
            for attempt in ("first", "again"):
                calls.append(Call(f"{key}/{attempt}", GRADS, (Ref(f"{key}/blocks"), x),
                                  note=f"on {depth} blocks and an input of shape {tuple(x.shape)}"))
        return calls

    def judge(self, outcomes, ctx):
        for i, (key, kind, seed, x, d, h, ff, depth) in enumerate(self.cases):
            what = "Transformer encoder layers" if kind == "transformer" else "small MLP blocks"
            where = _where(x, i, len(self.cases), f", {depth} {what}")
            variants = _grad_norm_variants(_rebuild(kind, seed, d, h, ff, depth), x.double())
            expected = variants["right"]
            tol = ctx.tolerance(x.dtype)
            first = _as_norms(outcomes[f"{key}/first"].value)
            if first is None:
                raise CheckFailed(f"{GRADS} returned {describe(outcomes[f'{key}/first'].value)}; return a list of "
                                  f"floats, one per block ({where})")
            if first.shape != expected.shape:
                raise CheckFailed(f"{GRADS} returned {first.numel()} numbers for {depth} blocks; return one per block ({where})")
            if not close(first, expected, tol):
                hints = {"pow2": "the loss is out.pow(2).mean(); this lab's fixed loss averages over the sequence "
                                 "first: out.mean(dim=1).pow(2).mean()",
                         "sum": "the loss is out.sum(); this lab's fixed loss is out.mean(dim=1).pow(2).mean()",
                         "sum_of_norms": "it adds up the norms of the parameters; a block's gradient norm is the square "
                                         "root of the sum of squares of all its gradient entries"}
                for name, hint in hints.items():
                    if close(first, variants[name], tol):
                        raise CheckFailed(f"{GRADS}: {hint} ({where})")
                error = (first - expected).abs().max().item()
                raise CheckFailed(f"{GRADS} gave wrong gradient norms (max abs error {error:.2e}) ({where})")
            again = _as_norms(outcomes[f"{key}/again"].value)
            if again is None or again.shape != first.shape or not close(again, expected, tol):
                raise CheckFailed(f"{GRADS} gave different norms when called a second time on the same blocks: the "
                                  "first call's gradients leaked into the second; clear them first "
                                  f"(block.zero_grad()) or use torch.autograd.grad ({where})")
            for attempt in ("first", "again"):
                after = outcomes[f"{key}/{attempt}"].args_after
                if len(after) > 1 and isinstance(after[1], torch.Tensor) and not torch.equal(after[1], x):
                    raise CheckFailed(f"{GRADS} modified its input x in place ({where})")


def make_checks() -> LabChecks:
    """A fresh set of items: they keep the cases they drew, so never share one between gradings."""
    return LabChecks(
        lab="06e-norm-placement",
        items=(LayerNorm(), RMSNorm(), GroupNorm(), NormImmutability(), PreNormWiring(), PostNormWiring(),
               BlockNorms(), BlockSublayers(), BlockDropout(), GradNorms()),
        forbidden={LAYER: _LIBRARY_NORMS, RMS: _LIBRARY_NORMS, GROUP: _LIBRARY_NORMS},
    )
