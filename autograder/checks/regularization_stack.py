"""Hidden checks for lab 06a, the regularization stack.

Ten items, each about one piece: the two transform pipelines, the weight
decay groups, the optimizer, the criterion, early stopping (when it stops;
what it restores), the two epoch loops, and the sweep, which trains for a
few seconds on a hidden problem and must learn it. Objects (transforms,
optimizers, models) cannot leave the kernel, so each call is an expression
that builds its inputs there and returns plain data: the kinds and settings
of a pipeline, the names of the parameters in each group, stop flags,
weights after a restore. The reference is ``solutions.regularization_stack``
run here on the same inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.checks.base import CheckFailed, Item, LabChecks, assert_tensor_close, close, describe, unpack
from autograder.probes import Call, Outcome
from solutions import regularization_stack as reference

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
NAMESPACE = "__import__('types').SimpleNamespace"
CONFIG_DEFAULTS = {"lr": 3e-3, "weight_decay": 0.05, "randaugment": True, "num_ops": 2, "magnitude": 9,
                   "erasing": 0.25, "label_smoothing": 0.1, "patience": 3, "min_delta": 0.0}


def _cfg(**changes) -> dict:
    return {**CONFIG_DEFAULTS, **changes}


def _uniform(gen, low, high) -> float:
    return round(float(low + (high - low) * torch.rand(1, generator=gen)), 4)


def _randint(gen, low, high) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _ok(outcome: Outcome, what: str) -> dict:
    if not isinstance(outcome.value, dict):
        raise CheckFailed(f"{what} returned {describe(outcome.value)}; see the docstring for what it returns")
    return outcome.value


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"{what} should be a Python float; got {describe(value)} (use .item() on a tensor)")
    return float(value)


# ---------------------------------------------------------------- transforms

# Describes a pipeline as plain data: one dict per step (nested Compose flattened) with its settings.
_DESCRIBE = ("(plain := lambda v: v.tolist() if isinstance(v, torch.Tensor) else list(v) if isinstance(v, (list, tuple))"
             " else v if v is None or isinstance(v, (bool, int, float, str)) else str(v),"
             " flat := lambda t: [s for c in t.transforms for s in flat(c)]"
             " if isinstance(getattr(t, 'transforms', None), (list, tuple)) else [t],"
             " describe := lambda tf: [{'kind': type(s).__name__, **{a: plain(getattr(s, a)) for a in"
             " ('size', 'padding', 'p', 'num_ops', 'magnitude', 'dtype', 'scale', 'mean', 'std') if hasattr(s, a)}}"
             " for s in flat(tf)])")

CROP, FLIP, RANDAUGMENT, TO_FLOAT, ERASING, NORMALIZE = "crop", "flip", "RandAugment", "to float", "RandomErasing", "Normalize"
_STEP_OF = {"RandomCrop": CROP, "RandomResizedCrop": CROP, "RandomHorizontalFlip": FLIP, "RandAugment": RANDAUGMENT,
            "ToDtype": TO_FLOAT, "ConvertImageDtype": TO_FLOAT, "RandomErasing": ERASING, "Normalize": NORMALIZE}
_NEUTRAL = {"ToImage", "ToPureTensor", "Identity"}
_UINT8_STEPS = {CROP, FLIP, RANDAUGMENT}


def _transform_call(call_id, func, cfg, image, repeats=1):
    expr = (f"({_DESCRIBE[1:-1]}, tf := S['{func}']({NAMESPACE}(**K['cfg'])),"
            f" {{'steps': describe(tf), 'outputs': [tf(A[0]) for _ in range({repeats})]}})[-1]")
    return Call(call_id, func, (image,), {"cfg": cfg}, expr=expr)


def _steps(value, func) -> list[dict]:
    steps = value.get("steps") if isinstance(value, dict) else None
    if not isinstance(steps, tuple) or not all(isinstance(s, dict) and isinstance(s.get("kind"), str) for s in steps):
        raise CheckFailed(f"{func} should return a transforms.v2.Compose of transforms; got something else")
    return [s for s in steps if s["kind"] not in _NEUTRAL]


def _close_to(values, expected, tol=2e-3) -> bool:
    return (isinstance(values, tuple) and len(values) == len(expected)
            and all(isinstance(v, (int, float)) and abs(v - e) <= tol for v, e in zip(values, expected)))


def _check_settings(step: dict, cfg: dict, func: str) -> None:
    kind = step["kind"]
    if kind == "RandomCrop":
        padding = step.get("padding")
        paddings = padding if isinstance(padding, tuple) else (padding,)
        if tuple(step.get("size", ())) != (32, 32) or any(p != 4 for p in paddings):
            raise CheckFailed(f"{func}: use RandomCrop(32, padding=4): 32 x 32 crops of the image padded by 4 pixels")
    elif kind == "RandomResizedCrop" and tuple(step.get("size", ())) != (32, 32):
        raise CheckFailed(f"{func}: RandomResizedCrop must give 32 x 32 images (size 32)")
    elif kind == "RandomHorizontalFlip" and step.get("p") != 0.5:
        raise CheckFailed(f"{func}: flip with probability 0.5 (RandomHorizontalFlip's default)")
    elif kind == "RandAugment" and (step.get("num_ops"), step.get("magnitude")) != (cfg["num_ops"], cfg["magnitude"]):
        raise CheckFailed(f"{func}: RandAugment's num_ops and magnitude must come from cfg.num_ops and cfg.magnitude")
    elif kind == "ToDtype" and (step.get("dtype") != "torch.float32" or step.get("scale") is not True):
        raise CheckFailed(f"{func}: convert with ToDtype(torch.float32, scale=True), so pixels go from 0..255 to 0..1")
    elif kind == "ConvertImageDtype" and step.get("dtype") != "torch.float32":
        raise CheckFailed(f"{func}: convert to torch.float32")
    elif kind == "RandomErasing" and not (isinstance(step.get("p"), float) and abs(step["p"] - cfg["erasing"]) < 1e-9):
        raise CheckFailed(f"{func}: RandomErasing's p must be cfg.erasing")
    elif kind == "Normalize" and not (_close_to(step.get("mean"), CIFAR_MEAN) and _close_to(step.get("std"), CIFAR_STD)):
        raise CheckFailed(f"{func}: normalize with the CIFAR-10 statistics, Normalize(CIFAR_MEAN, CIFAR_STD)")


def _check_output(out, func: str, where: str) -> None:
    if not isinstance(out, torch.Tensor) or out.dtype != torch.float32 or tuple(out.shape) != (3, 32, 32):
        raise CheckFailed(f"{func} should turn a uint8 image (3, 32, 32) into a float32 tensor of the same shape; "
                          f"it gave {describe(out)}{'' if not isinstance(out, torch.Tensor) else f' of {out.dtype}'} ({where})")
    if not torch.isfinite(out).all() or out.abs().max() > 3.0:
        raise CheckFailed(f"{func} gives normalized values far outside [-2, 2.2]: scale pixels to 0..1 "
                          f"(ToDtype(torch.float32, scale=True)) before Normalize ({where})")


def _describe_cfg(cfg):
    return (f"cfg.randaugment={cfg['randaugment']}, cfg.erasing={cfg['erasing']:g}")


class TrainTransform(Item):
    id, points, functions = "train_transform", 3, ("build_train_transform",)
    title = "training pipeline: kinds, order, settings"

    def calls(self, gen):
        def draw(randaugment, erasing):
            return _cfg(randaugment=randaugment, num_ops=_randint(gen, 1, 3), magnitude=_randint(gen, 4, 15),
                        erasing=_uniform(gen, 0.1, 0.6) if erasing else 0.0)
        self.cfgs = [draw(True, True), draw(False, False), draw(True, False), draw(False, True)]
        image = torch.randint(0, 256, (3, 32, 32), generator=gen, dtype=torch.uint8)
        return [_transform_call(f"{self.id}/{i}", "build_train_transform", cfg, image) for i, cfg in enumerate(self.cfgs)]

    def judge(self, outcomes, ctx):
        func = "build_train_transform"
        for i, cfg in enumerate(self.cfgs):
            where = _describe_cfg(cfg)
            steps = _steps(outcomes[f"{self.id}/{i}"].value, func)
            unknown = [s["kind"] for s in steps if s["kind"] not in _STEP_OF]
            if unknown:
                raise CheckFailed(f"{func} uses {unknown[0]}, which this pipeline does not have; use only a crop, "
                                  f"the flip, RandAugment, ToDtype, RandomErasing and Normalize ({where})")
            kinds = [_STEP_OF[s["kind"]] for s in steps]
            expected = [CROP, FLIP] + ([RANDAUGMENT] if cfg["randaugment"] else []) + [TO_FLOAT] \
                + ([ERASING] if cfg["erasing"] > 0 else []) + [NORMALIZE]
            for step in (RANDAUGMENT, ERASING):
                setting = "cfg.randaugment is False" if step == RANDAUGMENT else "cfg.erasing is 0"
                if step in kinds and step not in expected:
                    raise CheckFailed(f"{func} adds {step} when {setting}; add it only when asked ({where})")
                if step in expected and step not in kinds:
                    raise CheckFailed(f"{func} leaves out {step}, which this cfg asks for ({where})")
            if sorted(kinds) != sorted(expected):
                missing = sorted(set(expected) - set(kinds)) or sorted(k for k in set(kinds) if kinds.count(k) > 1)
                raise CheckFailed(f"{func}: the pipeline should have each of crop, flip, to float and Normalize once; "
                                  f"check the {', '.join(missing)} step ({where})")
            first_float = kinds.index(TO_FLOAT)
            if any(k in _UINT8_STEPS for k in kinds[first_float:]):
                raise CheckFailed(f"{func}: crop, flip and RandAugment work on uint8 images; put them before the "
                                  f"conversion to float ({where})")
            if kinds[-1] != NORMALIZE:
                raise CheckFailed(f"{func}: Normalize must be the last step (after RandomErasing) ({where})")
            for step in steps:
                _check_settings(step, cfg, func)
            outputs = outcomes[f"{self.id}/{i}"].value.get("outputs")
            _check_output(outputs[0] if isinstance(outputs, tuple) and outputs else outputs, func, where)


class EvalTransform(Item):
    id, points, functions = "eval_transform", 1, ("build_eval_transform",)
    title = "evaluation pipeline: deterministic, to float and normalize"

    def calls(self, gen):
        self.cfgs = [_cfg(randaugment=True, erasing=_uniform(gen, 0.1, 0.6)), _cfg(randaugment=False, erasing=0.0)]
        self.image = torch.randint(0, 256, (3, 32, 32), generator=gen, dtype=torch.uint8)
        return [_transform_call(f"{self.id}/{i}", "build_eval_transform", cfg, self.image, repeats=3)
                for i, cfg in enumerate(self.cfgs)]

    def judge(self, outcomes, ctx):
        func = "build_eval_transform"
        expected = reference.build_eval_transform(None)(self.image)
        for i, cfg in enumerate(self.cfgs):
            where = _describe_cfg(cfg)
            steps = _steps(outcomes[f"{self.id}/{i}"].value, func)
            random_steps = [s["kind"] for s in steps if _STEP_OF.get(s["kind"]) not in (TO_FLOAT, NORMALIZE)]
            if random_steps:
                raise CheckFailed(f"{func} uses {random_steps[0]}; evaluation must be deterministic: convert to float "
                                  f"and normalize, no augmentation ({where})")
            for step in steps:
                _check_settings(step, cfg, func)
            outputs = outcomes[f"{self.id}/{i}"].value.get("outputs")
            if not isinstance(outputs, tuple) or len(outputs) != 3:
                raise CheckFailed(f"{func}'s transform did not return an image ({where})")
            for out in outputs:
                _check_output(out, func, where)
                assert_tensor_close("the evaluation transform's output", out, expected, ctx, dtype=torch.float32,
                                    device=None, where=where)


# ---------------------------------------------------------------- weight decay and the optimizer

# Layers a hidden model is built from: (constructor, what its parameters are). Names are neutral words,
# so a rule that looks at parameter names ("bn", "norm") cannot pass by luck.
_LAYERS = ["nn.Conv2d(3, 8, 3)", "nn.Conv2d(8, 8, 3, bias=False)", "nn.Conv1d(4, 6, 3)", "nn.Linear(8, 16)",
           "nn.Linear(16, 8, bias=False)", "nn.BatchNorm2d(8)", "nn.BatchNorm1d(16)", "nn.LayerNorm(16)",
           "nn.GroupNorm(2, 8)", "nn.RMSNorm(16)", "nn.InstanceNorm2d(8, affine=True)", "nn.LayerNorm(16, bias=False)",
           "nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16))", "nn.Embedding(50, 16)"]
_WORDS = ["stem", "mixer", "proj", "head", "block", "gate", "body", "tail", "lookup", "scale", "core", "out", "front"]


def _hidden_model(gen) -> str:
    """A ModuleDict expression: an Embedding, a normalization layer, a Conv, a Linear, and 3 more layers at random."""
    picks = [13, int(torch.randint(5, 13, (1,), generator=gen)), int(torch.randint(0, 3, (1,), generator=gen)),
             int(torch.randint(3, 5, (1,), generator=gen))]
    picks += [int(i) for i in torch.randint(0, len(_LAYERS), (3,), generator=gen)]
    order = torch.randperm(len(picks), generator=gen).tolist()
    words = torch.randperm(len(_WORDS), generator=gen).tolist()
    body = ", ".join(f"'{_WORDS[words[k]]}{k}': {_LAYERS[picks[i]]}" for k, i in enumerate(order))
    return f"nn.ModuleDict({{{body}}})"


def _groups_expr(model_expr: str, call: str) -> str:
    """Build the model, call ``call`` (which sees ``m``), and describe the groups it returns by parameter names."""
    return (f"(m := {model_expr}, names := {{id(p): n for n, p in m.named_parameters()}},"
            f" groups := {call},"
            " [({'names': [names.get(id(p), '(not a parameter of the model)') for p in"
            " ([g['params']] if isinstance(g['params'], torch.Tensor) else list(g['params']))],"
            " 'weight_decay': g.get('weight_decay'), 'lr': g.get('lr')} if isinstance(g, dict) and 'params' in g"
            " else {'not_a_group': type(g).__name__}) for g in list(groups)])[-1]")


def _kind_of(model: nn.Module, name: str) -> str:
    """'the bias of a Linear', 'the weight of a LayerNorm'... for a parameter name of ``model``."""
    module_name, _, attribute = name.rpartition(".")
    module = model.get_submodule(module_name)
    return f"the {attribute} of a {type(module).__name__}"


def _decay_sets(model: nn.Module, weight_decay: float) -> tuple[set, set]:
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay = reference.param_groups(model, weight_decay)
    return {names[id(p)] for p in decay["params"]}, {names[id(p)] for p in no_decay["params"]}


def _student_groups(value, func) -> list[dict]:
    if not isinstance(value, tuple) or any("not_a_group" in g for g in value if isinstance(g, dict)):
        raise CheckFailed(f"{func} should return a list of dicts, each with 'params' and 'weight_decay'")
    return list(value)


class ParamGroups(Item):
    id, points, functions = "param_groups", 3, ("param_groups",)
    title = "weight decay on Linear/Conv weights only, every parameter once"

    def calls(self, gen):
        self.cases = [(_hidden_model(gen), _uniform(gen, 0.01, 0.3)) for _ in range(2)]
        return [Call(f"{self.id}/{i}", "param_groups", (), {"wd": wd},
                     expr=_groups_expr(model, "S['param_groups'](m, K['wd'])"))
                for i, (model, wd) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (model_expr, wd) in enumerate(self.cases):
            model = eval(model_expr, {"nn": nn})  # noqa: S307 - our own text
            decay, no_decay = _decay_sets(model, wd)
            groups = _student_groups(outcomes[f"{self.id}/{i}"].value, "param_groups")
            where = f"a model of {len(list(model.parameters()))} parameters, weight_decay={wd:g}"
            if len(groups) != 2:
                raise CheckFailed(f"param_groups returned {len(groups)} groups; return two: the parameters that decay "
                                  f"and those that do not ({where})")
            listed = [n for g in groups for n in g["names"]]
            if "(not a parameter of the model)" in listed:
                raise CheckFailed(f"param_groups put tensors that are not the model's parameters in a group ({where})")
            twice = sorted({n for n in listed if listed.count(n) > 1})
            if twice:
                raise CheckFailed(f"{_kind_of(model, twice[0])} appears twice; every parameter goes in exactly one group ({where})")
            missing = sorted((decay | no_decay) - set(listed))
            if missing:
                raise CheckFailed(f"{_kind_of(model, missing[0])} is in no group; every trainable parameter must be in one ({where})")
            decaying = [g for g in groups if isinstance(g["weight_decay"], (int, float)) and g["weight_decay"] > 0]
            if any(g["weight_decay"] is None for g in groups):
                raise CheckFailed("a group has no 'weight_decay' key; AdamW would give it its default decay of 0.01. "
                                  f"Set 'weight_decay': weight_decay on one group and 0.0 on the other ({where})")
            if len(decaying) != 1 or abs(decaying[0]["weight_decay"] - wd) > 1e-12 \
                    or any(g["weight_decay"] != 0 for g in groups if g is not decaying[0]):
                raise CheckFailed(f"the groups' weight_decay values should be the weight_decay argument and 0.0 ({where})")
            got = set(decaying[0]["names"])
            wrong = sorted(got - decay)
            if wrong:
                kind = _kind_of(model, wrong[0])
                why = ("embeddings do not decay" if "Embedding" in kind else "biases do not decay" if "bias" in kind
                       else "normalization parameters do not decay")
                raise CheckFailed(f"{kind} is in the decay group; {why} ({where})")
            skipped = sorted(decay - got)
            if skipped:
                raise CheckFailed(f"{_kind_of(model, skipped[0])} is not decayed; the weights of Linear and Conv "
                                  f"layers decay ({where})")


class Optimizer(Item):
    id, points, functions = "optimizer", 1, ("make_optimizer",)
    title = "AdamW over param_groups, at cfg.lr"

    def calls(self, gen):
        self.cfg = _cfg(lr=_uniform(gen, 1e-4, 1e-2), weight_decay=_uniform(gen, 0.01, 0.3))
        model = "nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 5), nn.LayerNorm(5))"
        cfg = f"{NAMESPACE}(**K['cfg'])"
        return [Call(f"{self.id}/groups", "param_groups", (), {"cfg": self.cfg},
                     expr=_groups_expr(model, f"S['param_groups'](m, {cfg}.weight_decay)")),
                Call(f"{self.id}/optimizer", "make_optimizer", (), {"cfg": self.cfg},
                     expr="(" + _groups_expr(model, "(o := S['make_optimizer'](m, " + cfg + ")).param_groups")
                          + ", {'type': type(o).__name__, 'module': type(o).__module__})")]

    def judge(self, outcomes, ctx):
        groups, kind = unpack(outcomes[f"{self.id}/optimizer"].value, 2, "the optimizer check")
        if kind.get("type") != "AdamW" or not str(kind.get("module", "")).startswith("torch.optim"):
            raise CheckFailed(f"make_optimizer returned {kind.get('type')}; use torch.optim.AdamW, whose weight decay "
                              "is decoupled from the adaptive step")
        groups = _student_groups(groups, "the optimizer's param_groups")
        if any(not isinstance(g["lr"], (int, float)) or abs(g["lr"] - self.cfg["lr"]) > 1e-12 for g in groups):
            raise CheckFailed("the optimizer's learning rate should be cfg.lr in every group")
        yours = _student_groups(outcomes[f"{self.id}/groups"].value, "param_groups")
        expected = sorted((sorted(g["names"]), 0.01 if g["weight_decay"] is None else g["weight_decay"]) for g in yours)
        got = sorted((sorted(g["names"]), g["weight_decay"]) for g in groups)
        if got != expected:
            raise CheckFailed("the optimizer's groups differ from param_groups(model, cfg.weight_decay): build AdamW "
                              "on those groups (and pass cfg.weight_decay to param_groups)")


class Criterion(Item):
    id, points, functions = "criterion", 1, ("make_criterion",)
    title = "cross entropy with label_smoothing=cfg.label_smoothing"

    def calls(self, gen):
        self.cases = []
        for eps in (0.0, _uniform(gen, 0.05, 0.4)):
            n, k = _randint(gen, 5, 20), _randint(gen, 3, 12)
            self.cases.append((eps, torch.randn(n, k, generator=gen) * 3, torch.randint(0, k, (n,), generator=gen)))
        expr = (f"(c := S['make_criterion']({NAMESPACE}(**K['cfg'])),"
                " {'module': isinstance(c, nn.Module), 'loss': c(A[0], A[1])})[-1]")
        return [Call(f"{self.id}/{i}", "make_criterion", (logits, labels), {"cfg": _cfg(label_smoothing=eps)}, expr=expr)
                for i, (eps, logits, labels) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (eps, logits, labels) in enumerate(self.cases):
            where = f"cfg.label_smoothing={eps:g}, {logits.shape[1]} classes"
            value = _ok(outcomes[f"{self.id}/{i}"], "the criterion check")
            if value.get("module") is not True:
                raise CheckFailed("make_criterion should return an nn.Module, e.g. nn.CrossEntropyLoss(...)")
            loss = value.get("loss")
            if not isinstance(loss, torch.Tensor) or loss.shape != ():
                raise CheckFailed(f"the criterion should return a scalar loss (mean over the batch); got {describe(loss)} ({where})")
            expected = F.cross_entropy(logits.double(), labels, label_smoothing=eps)
            if not close(loss, expected, ctx.tolerance(torch.float32)):
                if eps > 0 and close(loss, F.cross_entropy(logits.double(), labels), ctx.tolerance(torch.float32)):
                    raise CheckFailed(f"the loss has no label smoothing; pass label_smoothing=cfg.label_smoothing ({where})")
                raise CheckFailed(f"the loss is wrong: use nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing) ({where})")


# ---------------------------------------------------------------- early stopping

def simulate_early_stopping(losses, patience, min_delta=0.0, *, ties_improve=False, ignore_min_delta=False,
                            patience_shift=0, reset=True):
    """(stop flags until the first True, best_epoch, best_loss) of the rule, or of a known wrong variant of it."""
    best, best_epoch, bad, flags = math.inf, 0, 0, []
    delta = 0.0 if ignore_min_delta else min_delta
    for epoch, loss in enumerate(losses, start=1):
        if loss < best - delta or (ties_improve and loss <= best - delta):
            best, best_epoch = loss, epoch
            bad = 0 if reset else bad
        else:
            bad += 1
        flags.append(bad >= patience + patience_shift)
        if flags[-1]:
            break
    return flags, best_epoch, best


_STOPPING_DIAGNOSES = [
    ({"ties_improve": True}, "a loss equal to the best (minus min_delta) counted as an improvement; it must be strictly lower"),
    ({"ignore_min_delta": True}, "an improvement smaller than min_delta reset the patience counter; "
                                 "only losses below best_loss - min_delta improve"),
    ({"patience_shift": 1}, "it stops one epoch late: stop once `patience` epochs in a row brought no improvement"),
    ({"patience_shift": -1}, "it stops one epoch early: stop once `patience` epochs in a row brought no improvement"),
    ({"reset": False}, "the count of epochs without improvement is not reset when the loss improves"),
]


def _stopping_sequence(gen, patience, min_delta):
    """A validation-loss curve: noisy descent (with a tie and, if min_delta, sub-min_delta gains), then a rise."""
    losses, loss = [], _uniform(gen, 1.5, 2.5)
    for _ in range(_randint(gen, 3, 6)):
        loss -= _uniform(gen, 0.05, 0.3)
        losses.append(round(loss, 4))
    losses.append(losses[-1])                                   # a tie with the best
    losses.append(round(losses[-1] - _uniform(gen, 0.05, 0.2), 4))
    if min_delta > 0:
        for _ in range(_randint(gen, 2, 3)):                    # gains smaller than min_delta
            losses.append(round(losses[-1] - min_delta * _uniform(gen, 0.2, 0.7), 4))
    best = min(losses)
    for _ in range(patience + 4):
        losses.append(round(best + _uniform(gen, 0.0, 0.3) + 0.01, 4))
    return losses


def _stopping_expr(min_delta_kwarg: bool, restore: bool) -> str:
    make = "S['EarlyStopping'](K['patience']" + (", min_delta=K['min_delta'])" if min_delta_kwarg else ")")
    if not restore:
        return (f"(es := {make}, m := nn.Linear(1, 1), flags := [],"
                " [flags.append(bool(es.step(v, m))) for v in K['losses'] if not any(flags)],"
                " {'flags': flags, 'best_epoch': es.best_epoch, 'best_loss': float(es.best_loss)})[-1]")
    # Epoch e sets every weight to e, in place, as an optimizer does; after the loop, -1; then restore.
    return (f"(es := {make}, m := nn.Linear(3, 2), flags := [],"
            " [flags.append(bool((m.weight.data.fill_(e), m.bias.data.fill_(e), es.step(v, m))[-1]))"
            " for e, v in enumerate(K['losses'], start=1) if not any(flags)],"
            " m.weight.data.fill_(-1.0), m.bias.data.fill_(-1.0), es.restore(m),"
            " {'weight': m.weight.detach().clone(), 'bias': m.bias.detach().clone()})[-1]")


class EarlyStoppingRule(Item):
    id, points, functions = "early_stopping", 2, ("EarlyStopping",)
    title = "EarlyStopping: when it stops, best_epoch and best_loss"

    def calls(self, gen):
        self.cases = [(_randint(gen, 2, 4), 0.0), (_randint(gen, 2, 3), _uniform(gen, 0.02, 0.08)), (1, 0.0)]
        self.cases = [(p, d, _stopping_sequence(gen, p, d)) for p, d in self.cases]
        return [Call(f"{self.id}/{i}", "EarlyStopping", (), {"patience": p, "min_delta": d, "losses": losses},
                     expr=_stopping_expr(min_delta_kwarg=i == 1, restore=False))
                for i, (p, d, losses) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (patience, min_delta, losses) in enumerate(self.cases):
            where = f"patience={patience}" + (f", min_delta={min_delta:g}" if i == 1 else ", min_delta left at its default")
            value = _ok(outcomes[f"{self.id}/{i}"], "EarlyStopping")
            flags, best_epoch, best_loss = value.get("flags"), value.get("best_epoch"), value.get("best_loss")
            expected = simulate_early_stopping(losses, patience, min_delta)
            if isinstance(flags, tuple):
                flags = list(flags)
            if flags != expected[0]:
                hint = next((words for variant, words in _STOPPING_DIAGNOSES
                             if simulate_early_stopping(losses, patience, min_delta, **variant)[0] == flags), None)
                stopped = f"after {len(flags)} epochs" if flags and flags[-1] else "never, over the whole curve"
                raise CheckFailed(f"step() said stop {stopped}; " + (hint or "an epoch improves when val_loss < "
                                  "best_loss - min_delta, and it stops after `patience` epochs in a row without one")
                                  + f" ({where})")
            if best_epoch != expected[1]:
                hint = " (the first call to step is epoch 1)" if best_epoch == expected[1] - 1 else ""
                raise CheckFailed(f"best_epoch is {describe(best_epoch)}, not the epoch of the lowest loss{hint} ({where})")
            if not isinstance(best_loss, float) or abs(best_loss - expected[2]) > 1e-9:
                raise CheckFailed(f"best_loss is not the lowest validation loss seen so far ({where})")


class EarlyStoppingRestore(Item):
    id, points, functions = "early_stopping_restore", 2, ("EarlyStopping",)
    title = "EarlyStopping keeps a copy of the best weights and restores it"

    def calls(self, gen):
        self.cases = []
        for _ in range(2):
            patience, best_at = _randint(gen, 2, 3), _randint(gen, 2, 5)
            losses = sorted((_uniform(gen, 0.5, 2.0) for _ in range(best_at)), reverse=True)
            losses = [round(v + 0.01 * (best_at - k), 4) for k, v in enumerate(losses)]      # strictly falling
            for _ in range(patience + 3):
                losses.append(round(losses[-1] + _uniform(gen, 0.05, 0.2), 4))                  # strictly rising
            self.cases.append((patience, best_at, losses))
        return [Call(f"{self.id}/{i}", "EarlyStopping", (), {"patience": p, "losses": losses},
                     expr=_stopping_expr(min_delta_kwarg=False, restore=True))
                for i, (p, _, losses) in enumerate(self.cases)]

    def judge(self, outcomes, ctx):
        for i, (patience, best_at, _) in enumerate(self.cases):
            value = _ok(outcomes[f"{self.id}/{i}"], "EarlyStopping")
            where = f"patience={patience}, the lowest loss at epoch {best_at}"
            weight = value.get("weight")
            if not isinstance(weight, torch.Tensor) or weight.shape != (2, 3):
                raise CheckFailed(f"after restore(model) the model's weight is {describe(weight)} ({where})")
            if torch.all(weight == -1):
                raise CheckFailed("restore(model) left the model's current weights in place: keep a copy of the best "
                                  "weights (clone the tensors of model.state_dict()) and load it into the model you "
                                  f"are given ({where})")
            if not torch.all(weight == best_at):
                raise CheckFailed(f"restore(model) loaded the weights of another epoch, not those of the best one; "
                                  f"copy the weights when the loss improves ({where})")
            if not torch.all(value.get("bias") == best_at):
                raise CheckFailed(f"restore(model) brought back the weights but not the biases; keep the whole state_dict ({where})")


# ---------------------------------------------------------------- the epoch loops

def _single_threaded(expr: str) -> str:
    """``expr`` on one intra-op thread: tiny tensors train faster so, above all on a busy machine."""
    return (f"(threads := torch.get_num_threads(), torch.set_num_threads(1), value := {expr},"
            " torch.set_num_threads(threads), value)[-1]")


def _mlp_state(gen, d, h, k, dropout):
    state = {"0.weight": torch.randn(h, d, generator=gen) / math.sqrt(d), "0.bias": torch.randn(h, generator=gen) * 0.1,
             "1.weight": 1 + 0.2 * torch.randn(h, generator=gen), "1.bias": 0.1 * torch.randn(h, generator=gen),
             "1.running_mean": 0.3 * torch.randn(h, generator=gen), "1.running_var": 0.5 + torch.rand(h, generator=gen),
             "4.weight": torch.randn(k, h, generator=gen) / math.sqrt(h), "4.bias": torch.randn(k, generator=gen) * 0.1}
    return state, dropout


def _mlp(state, dropout):
    h, d = state["0.weight"].shape
    k = state["4.weight"].shape[0]
    model = nn.Sequential(nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout), nn.Linear(h, k))
    model.load_state_dict(state, strict=False)
    return model


_MLP_EXPR = ("m := nn.Sequential(nn.Linear(K['d'], K['h']), nn.BatchNorm1d(K['h']), nn.ReLU(), nn.Dropout(K['dropout']),"
             " nn.Linear(K['h'], K['k'])), m.load_state_dict(K['state'], strict=False),"
             " batches := list(zip(K['xs'], K['ys']))")


def _batches(gen, d, k, sizes):
    xs = [torch.randn(n, d, generator=gen) * 2 for n in sizes]
    return xs, [torch.randint(0, k, (n,), generator=gen) for n in sizes]


def _reference_epoch(state, xs, ys, *, zero_grad=True, train_mode=True):
    """(per-batch losses, model after one epoch of SGD with momentum), optionally with a known mistake."""
    model = _mlp(state, 0.0)
    model.train(train_mode)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for x, y in zip(xs, ys):
        if zero_grad:
            sgd.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        sgd.step()
        losses.append(loss.item())
    return losses, model


class TrainOneEpoch(Item):
    id, points, functions = "train_one_epoch", 2, ("train_one_epoch",)
    title = "one epoch in training mode; mean loss per sample"

    def calls(self, gen):
        d, h, k = _randint(gen, 4, 10), _randint(gen, 6, 12), _randint(gen, 3, 6)
        self.sizes = [16, 16, 16, _randint(gen, 3, 9)]
        self.state, _ = _mlp_state(gen, d, h, k, 0.0)
        self.xs, self.ys = _batches(gen, d, k, self.sizes)
        expr = (f"({_MLP_EXPR}, m.eval(),"
                " loss := S['train_one_epoch'](m, batches, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),"
                " nn.CrossEntropyLoss(), str(K['xs'][0].device)),"
                " {'loss': loss, 'state': {k: v.detach().clone() for k, v in m.state_dict().items()}})[-1]")
        return [Call(f"{self.id}/0", "train_one_epoch", (), {"d": d, "h": h, "k": k, "dropout": 0.0, "state": self.state,
                                                            "xs": self.xs, "ys": self.ys}, expr=_single_threaded(expr))]

    def judge(self, outcomes, ctx):
        where = f"batches of {', '.join(map(str, self.sizes))}"
        value = _ok(outcomes[f"{self.id}/0"], "train_one_epoch")
        losses, model = _reference_epoch(self.state, self.xs, self.ys)
        state = value.get("state") or {}
        if isinstance(state.get("0.weight"), torch.Tensor) and torch.equal(state["0.weight"], self.state["0.weight"]):
            raise CheckFailed("the weights did not change: call loss.backward() and optimizer.step() for every batch")
        if isinstance(state.get("1.running_mean"), torch.Tensor) and torch.equal(state["1.running_mean"], self.state["1.running_mean"]):
            raise CheckFailed("BatchNorm's running statistics did not move: the model stayed in eval mode; call "
                              f"model.train() at the start ({where})")
        for name, expected in model.state_dict().items():
            got = state.get(name)
            if isinstance(got, torch.Tensor) and got.shape == expected.shape and not close(got, expected, ctx.float32):
                if close(got, _reference_epoch(self.state, self.xs, self.ys, zero_grad=False)[1].state_dict()[name], ctx.float32):
                    raise CheckFailed(f"gradients pile up from batch to batch: call optimizer.zero_grad() before each backward ({where})")
            assert_tensor_close(f"the model's {name} after one epoch", got, expected.detach(), ctx, dtype=expected.dtype,
                                device=None, where=where)
        loss = _number(value.get("loss"), "the returned training loss")
        expected = sum(v * n for v, n in zip(losses, self.sizes)) / sum(self.sizes)
        if abs(loss - expected) > 1e-4 * max(1.0, abs(expected)):
            if abs(loss - sum(losses) / len(losses)) < 1e-5:
                raise CheckFailed(f"the returned loss is the mean of the batch losses; weight each by its batch size, "
                                  f"so it is the mean per sample ({where})")
            if abs(loss - losses[-1]) < 1e-5:
                raise CheckFailed(f"the returned loss is the last batch's; return the mean over the epoch ({where})")
            raise CheckFailed(f"the returned loss is off by {abs(loss - expected):.2e}; return the mean training loss per "
                              f"sample over the epoch ({where})")


class Evaluate(Item):
    id, points, functions = "evaluate", 2, ("evaluate",)
    title = "evaluation in eval mode: mean loss per sample, accuracy as a fraction"

    def calls(self, gen):
        d, h, k = _randint(gen, 4, 10), _randint(gen, 6, 12), _randint(gen, 3, 6)
        self.sizes = [32, 32, _randint(gen, 3, 12)]
        self.state, _ = _mlp_state(gen, d, h, k, 0.5)
        self.xs, self.ys = _batches(gen, d, k, self.sizes)
        self.smoothing = _uniform(gen, 0.05, 0.3)
        expr = (f"({_MLP_EXPR}, m.train(),"
                " result := S['evaluate'](m, batches, nn.CrossEntropyLoss(label_smoothing=K['smoothing']), str(K['xs'][0].device)),"
                " {'result': result, 'running_mean': m[1].running_mean.clone()})[-1]")
        return [Call(f"{self.id}/0", "evaluate", (), {"d": d, "h": h, "k": k, "dropout": 0.5, "state": self.state,
                                                     "xs": self.xs, "ys": self.ys, "smoothing": self.smoothing},
                     expr=_single_threaded(expr))]

    def judge(self, outcomes, ctx):
        where = f"batches of {', '.join(map(str, self.sizes))}, a criterion with label smoothing {self.smoothing:g}"
        value = _ok(outcomes[f"{self.id}/0"], "evaluate")
        loss, accuracy = unpack(value.get("result"), 2, "evaluate")
        if not torch.equal(value.get("running_mean"), self.state["1.running_mean"]):
            raise CheckFailed(f"evaluate changed BatchNorm's running statistics: call model.eval() first ({where})")
        loss, accuracy = _number(loss, "the returned loss"), _number(accuracy, "the returned accuracy")
        model = _mlp(self.state, 0.5).eval()
        with torch.no_grad():
            logits = [model(x) for x in self.xs]
        per_batch = [F.cross_entropy(z, y, label_smoothing=self.smoothing).item() for z, y in zip(logits, self.ys)]
        expected_loss = sum(v * n for v, n in zip(per_batch, self.sizes)) / sum(self.sizes)
        expected_accuracy = sum((z.argmax(1) == y).sum().item() for z, y in zip(logits, self.ys)) / sum(self.sizes)
        if abs(accuracy - expected_accuracy) > 1e-6:
            if abs(accuracy - 100 * expected_accuracy) < 1e-4:
                raise CheckFailed(f"accuracy is a percentage; return the fraction of correct predictions, 0..1 ({where})")
            raise CheckFailed(f"accuracy is off by {abs(accuracy - expected_accuracy):.3f}: count argmax(logits) == label "
                              f"over all samples and divide by their number ({where})")
        if abs(loss - expected_loss) > 1e-4 * max(1.0, expected_loss):
            plain = sum(F.cross_entropy(z, y).item() * n for z, y, n in zip(logits, self.ys, self.sizes)) / sum(self.sizes)
            if abs(loss - sum(per_batch) / len(per_batch)) < 1e-5:
                raise CheckFailed(f"the loss is the mean of the batch losses; weight each by its batch size ({where})")
            if abs(loss - plain) < 1e-5:
                raise CheckFailed(f"the loss ignores the criterion you were given; use criterion(logits, y) ({where})")
            raise CheckFailed(f"the loss is off by {abs(loss - expected_loss):.2e}; the mean loss per sample in eval "
                              f"mode ({where})")


# ---------------------------------------------------------------- the sweep

def _sweep_expr() -> str:
    """Run the student's sweep on a hidden problem; return its rows as plain data, plus cross-checks per row:
    the student's own EarlyStopping replayed on the row's validation losses, whether its restore works, the
    student's evaluate on the returned model (with plain and with smoothed cross entropy), and how often the
    row's learning-rate scheduler (one per config, from budget.make_scheduler) was stepped."""
    return (
        "(ns := __import__('types').SimpleNamespace, cfgs := [ns(**c) for c in K['configs']],"
        " train := list(zip(K['x_train'], K['y_train'])), val := [(K['x_val'], K['y_val'])],"
        " dev := str(K['x_val'].device),"
        " data := ns(loaders=lambda train_transform, eval_transform: (train, val)),"
        " scheds := [],"
        " budget := ns(max_epochs=K['max_epochs'], device=dev,"
        "   make_scheduler=lambda opt: (s := torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0), scheds.append(s), s)[-1],"
        "   make_model=lambda: (torch.manual_seed(K['seed']), nn.Sequential(nn.Flatten(), nn.Linear(K['x_val'][0].numel(), 10)).to(dev))[1]),"
        " rows := S['run_sweep'](cfgs, data, budget),"
        " probe := nn.Linear(1, 1), es := S['EarlyStopping'](1), probe.weight.data.fill_(1.0), es.step(1.0, probe),"
        " probe.weight.data.fill_(2.0), es.step(2.0, probe), probe.weight.data.fill_(3.0), es.restore(probe),"
        " restore_works := probe.weight.item() == 1.0,"
        " replay := lambda c, losses: (es := S['EarlyStopping'](c.patience, c.min_delta), m := nn.Linear(1, 1),"
        "   stop := next((i for i, v in enumerate(losses, start=1) if es.step(v, m)), None), {'stop': stop, 'best_epoch': es.best_epoch})[-1],"
        " [("
        "   {**{k: v for k, v in r.items() if k not in ('config', 'model')}, 'same_config': r.get('config') is c,"
        "    'restore_works': restore_works, 'scheduler_steps': scheds[i].last_epoch if i < len(scheds) else None,"
        "    'replay': replay(c, list(r['history']['val_loss'])) if isinstance(r.get('history'), dict) and 'val_loss' in r['history'] else None,"
        "    'model_val': S['evaluate'](r['model'], val, nn.CrossEntropyLoss(), dev) if isinstance(r.get('model'), nn.Module) else None,"
        "    'model_val_smoothed': S['evaluate'](r['model'], val, nn.CrossEntropyLoss(label_smoothing=c.label_smoothing), dev)"
        "       if isinstance(r.get('model'), nn.Module) else None}"
        "   if isinstance(r, dict) else {'not_a_dict': type(r).__name__}) for i, (r, c) in enumerate(zip(rows, cfgs))]"
        " + [{'extra_row': True}] * max(0, len(rows) - len(cfgs)))[-1]")


_ROW_KEYS = ("best_val_accuracy", "best_epoch", "final_train_loss", "history")
LEARNED = 0.5          # best validation accuracy the easy problem must reach (chance: 0.1; the reference: ~1.0)


class RunSweep(Item):
    id, points, functions = "run_sweep", 2, ("run_sweep",)
    title = "the sweep: one row per config, the schedule stepped per epoch, early stopping, restored model, and it learns"

    def calls(self, gen):
        centres = torch.randn(10, 3, 4, 4, generator=gen) * 1.5
        labels = torch.randperm(300, generator=gen) % 10
        images = centres[labels] + torch.randn(300, 3, 4, 4, generator=gen)
        self.max_epochs = 4
        lr = _uniform(gen, 0.05, 0.1)
        self.configs = [_cfg(lr=lr, weight_decay=0.0, label_smoothing=0.0, randaugment=False, erasing=0.0,
                             patience=2, min_delta=10.0),                    # nothing improves by 10: stop at epoch 3
                        _cfg(lr=lr, weight_decay=0.05, label_smoothing=0.1, patience=50, min_delta=0.0)]
        kwargs = {"configs": self.configs, "x_train": list(images[:200].split(50)), "y_train": list(labels[:200].split(50)),
                  "x_val": images[200:], "y_val": labels[200:], "max_epochs": self.max_epochs,
                  "seed": _randint(gen, 0, 1000)}
        return [Call(f"{self.id}/0", "run_sweep", (), kwargs, expr=_single_threaded(_sweep_expr()))]

    def judge(self, outcomes, ctx):
        rows = outcomes[f"{self.id}/0"].value
        if not isinstance(rows, tuple) or len(rows) != len(self.configs):
            count = f"{len(rows)} rows" if isinstance(rows, tuple) else describe(rows)
            raise CheckFailed(f"run_sweep returned {count} for {len(self.configs)} configs; return a list, one row per config")
        for i, (row, cfg) in enumerate(zip(rows, self.configs)):
            where = f"config {i + 1} of {len(self.configs)}: patience={cfg['patience']}, min_delta={cfg['min_delta']:g}, " \
                    f"max_epochs={self.max_epochs}"
            if "not_a_dict" in row:
                raise CheckFailed(f"each row should be a dict; row {i + 1} is a {row['not_a_dict']}")
            missing = [k for k in _ROW_KEYS if k not in row] + ([] if row.get("model_val") is not None else ["model"])
            if missing:
                raise CheckFailed(f"row {i + 1} has no {missing[0]!r}; each row has config, {', '.join(_ROW_KEYS)} and model")
            if not row.get("same_config"):
                raise CheckFailed(f"row {i + 1}'s 'config' is not the config object it was trained with, in order")
            history = row["history"]
            lengths = {len(history.get(k, ())) if isinstance(history.get(k), tuple) else -1
                       for k in ("train_loss", "val_loss", "val_accuracy")}
            if len(lengths) != 1 or lengths == {-1} or lengths == {0}:
                raise CheckFailed(f"row {i + 1}'s history needs lists train_loss, val_loss, val_accuracy with one "
                                  f"entry per epoch run ({where})")
            epochs = lengths.pop()
            replay = row["replay"]
            expected_epochs = min(self.max_epochs, replay["stop"] or self.max_epochs)
            if epochs != expected_epochs:
                raise CheckFailed(f"it ran {epochs} epochs where your EarlyStopping says stop after {expected_epochs}: "
                                  f"call stopper.step(val_loss, model) once per epoch, break when it returns True, and "
                                  f"run at most budget.max_epochs ({where})")
            if row["scheduler_steps"] != epochs:
                steps = "never made" if row["scheduler_steps"] is None else f"stepped {row['scheduler_steps']} times"
                raise CheckFailed(f"the learning-rate schedule was {steps} over {epochs} epochs: make one per config "
                                  f"with budget.make_scheduler(optimizer) and call scheduler.step() once per epoch ({where})")
            if row["best_epoch"] != replay["best_epoch"]:
                raise CheckFailed(f"best_epoch should be your EarlyStopping's best_epoch ({where})")
            best_epoch = replay["best_epoch"]
            accuracy = _number(row["best_val_accuracy"], "best_val_accuracy")
            if not 1 <= best_epoch <= epochs or abs(accuracy - history["val_accuracy"][best_epoch - 1]) > 1e-9:
                raise CheckFailed(f"best_val_accuracy should be the validation accuracy of the best epoch ({where})")
            if _number(row["final_train_loss"], "final_train_loss") != history["train_loss"][-1]:
                raise CheckFailed(f"final_train_loss should be the last epoch's training loss ({where})")
            kept = history["val_loss"][best_epoch - 1]
            plain, smoothed = (row[k][0] if isinstance(row[k], tuple) else math.nan for k in ("model_val", "model_val_smoothed"))
            # A restore that does not work is early_stopping_restore's fault, judged there.
            if row.get("restore_works") is True and abs(plain - kept) > 1e-4 * max(1.0, abs(kept)):
                if cfg["label_smoothing"] > 0 and abs(smoothed - kept) <= 1e-4 * max(1.0, abs(kept)):
                    raise CheckFailed(f"the validation loss uses label smoothing; validate with a plain "
                                      f"nn.CrossEntropyLoss() so losses compare across configs ({where})")
                raise CheckFailed(f"the returned model does not have the best epoch's weights: call "
                                  f"stopper.restore(model) after the loop ({where})")
            if cfg["patience"] > self.max_epochs and accuracy < LEARNED:
                raise CheckFailed(f"after {epochs} epochs the best validation accuracy is {accuracy:.0%} on a 10-class "
                                  f"problem a linear model learns easily (chance: 10%); check the training loop ({where})")


def make_checks() -> LabChecks:
    """A fresh set of items: they keep the cases they drew, so never share one between gradings."""
    return LabChecks(
        lab="06a-regularization-stack",
        items=(TrainTransform(), EvalTransform(), ParamGroups(), Optimizer(), Criterion(), EarlyStoppingRule(),
               EarlyStoppingRestore(), TrainOneEpoch(), Evaluate(), RunSweep()),
        forbidden={},
    )
