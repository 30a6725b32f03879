"""Hidden checks for lab 06a, the regularization stack: the two transform pipelines, the weight decay groups, the
optimizer, the criterion, early stopping (when it stops; what it restores), the two epoch loops, and the sweep, which
trains for a few seconds on a hidden problem and must learn it. Each call names a kernel helper (``kernel/``) that
builds the objects there and returns plain data; the reference is ``solutions.regularization_stack``, run here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from autograder.checks import kit
from autograder.checks.base import CheckFailed, LabChecks, assert_tensor_close, close, describe, unpack
from autograder.checks.kernel import regularization_stack as helpers
from autograder.probes import Call
from solutions import regularization_stack as reference

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CONFIG_DEFAULTS = {"lr": 3e-3, "weight_decay": 0.05, "randaugment": True, "num_ops": 2, "magnitude": 9,
                   "erasing": 0.25, "label_smoothing": 0.1, "patience": 3, "min_delta": 0.0}
BEST_FIRST = 1      # the loss curve's edge: the first epoch is the best (both EarlyStopping items meet it)


def _cfg(**changes) -> dict:
    return {**CONFIG_DEFAULTS, **changes}


def _ok(outcome, what: str) -> dict:
    if not isinstance(outcome.value, dict):
        raise CheckFailed(f"{what} returned {describe(outcome.value)}; see the docstring for what it returns")
    return outcome.value


class _Cases(kit.CaseItem):
    """A CaseItem whose failures (judged by ``verify``) end with their call's situation, ``call.note``."""

    def check(self, outcome, ctx):
        try:
            self.verify(outcome, ctx)
        except CheckFailed as failure:
            raise CheckFailed(f"{failure} {outcome.call.note}".rstrip()) from None


# ---------------------------------------------------------------- transforms

CROP, FLIP, RANDAUGMENT, TO_FLOAT, ERASING, NORMALIZE = "crop", "flip", "RandAugment", "to float", "RandomErasing", \
    "Normalize"
_NEUTRAL = {"ToImage", "ToPureTensor", "Identity"}
_OPTIONAL = {RANDAUGMENT: "cfg.randaugment is False", ERASING: "cfg.erasing is 0"}


def _close_to(values, expected, tol=2e-3) -> bool:
    return (isinstance(values, tuple) and len(values) == len(expected)
            and all(isinstance(v, (int, float)) and abs(v - e) <= tol for v, e in zip(values, expected)))


# Per kind of step: (the step it is, its settings are right for the cfg, what to use).
_KINDS = {
    "RandomCrop": (CROP, lambda s, c: tuple(s.get("size", ())) == (32, 32) and set(
        s.get("padding") if isinstance(s.get("padding"), tuple) else (s.get("padding"),)) == {4},
        "use RandomCrop(32, padding=4): 32 x 32 crops of the image padded by 4 pixels"),
    "RandomResizedCrop": (CROP, lambda s, c: tuple(s.get("size", ())) == (32, 32),
                          "RandomResizedCrop must give 32 x 32 images (size 32)"),
    "RandomHorizontalFlip": (FLIP, lambda s, c: s.get("p") == 0.5,
                             "flip with probability 0.5 (RandomHorizontalFlip's default)"),
    "RandAugment": (RANDAUGMENT, lambda s, c: (s.get("num_ops"), s.get("magnitude")) == (c["num_ops"], c["magnitude"]),
                    "RandAugment's num_ops and magnitude must come from cfg.num_ops and cfg.magnitude"),
    "ToDtype": (TO_FLOAT, lambda s, c: s.get("dtype") == "torch.float32" and s.get("scale") is True,
                "convert with ToDtype(torch.float32, scale=True), so pixels go from 0..255 to 0..1"),
    "ConvertImageDtype": (TO_FLOAT, lambda s, c: s.get("dtype") == "torch.float32", "convert to torch.float32"),
    "RandomErasing": (ERASING, lambda s, c: isinstance(s.get("p"), float) and abs(s["p"] - c["erasing"]) < 1e-9,
                      "RandomErasing's p must be cfg.erasing"),
    "Normalize": (NORMALIZE, lambda s, c: _close_to(s.get("mean"), CIFAR_MEAN) and _close_to(s.get("std"), CIFAR_STD),
                  "normalize with the CIFAR-10 statistics, Normalize(CIFAR_MEAN, CIFAR_STD)"),
}


class _Transform(_Cases):
    """Both pipelines: a call per cfg on the image argument's edges (one uint8 image for the first half of the cfgs,
    a group of them, as the notebook's loaders pass, for the rest); the kinds of steps and their settings; outputs
    of float32 in the image's shape, normalized, that leave the image alone."""

    def transform_calls(self, cfgs, gen, repeats=1) -> list[Call]:
        one, group = (torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
                      for shape in ((3, 32, 32), (kit.randint(gen, 2, 4), 3, 32, 32)))
        images = [one] * (len(cfgs) // 2) + [group] * (len(cfgs) - len(cfgs) // 2)
        return [Call(f"{self.id}/{i}", self.functions[0], (image,), {"func": self.functions[0], "cfg": cfg,
                     "repeats": repeats}, helper="transform_probe", case=cfg,
                     note=f"(cfg.randaugment={cfg['randaugment']}, cfg.erasing={cfg['erasing']:g}, "
                     + (f"a group of {len(image)} images)" if image is group else "one image)"))
                for i, (cfg, image) in enumerate(zip(cfgs, images))]

    def steps(self, outcome) -> tuple[list[str], list[str], tuple]:
        """(the kinds of step it has, the raw kinds, its outputs), each step's settings checked."""
        func, value = self.functions[0], outcome.value
        steps = value.get("steps") if isinstance(value, dict) else None
        if not isinstance(steps, tuple) or not all(isinstance(s, dict) and isinstance(s.get("kind"), str)
                                                   for s in steps):
            raise CheckFailed(f"{func} should return a transforms.v2.Compose of transforms; got something else")
        steps = [s for s in steps if s["kind"] not in _NEUTRAL]
        for step in steps:
            _, right, advice = _KINDS.get(step["kind"], (None, None, None))
            if right is None:
                raise CheckFailed(f"{func} uses {step['kind']}, which this pipeline does not have; use only a crop, "
                                  "the flip, RandAugment, ToDtype, RandomErasing and Normalize")
            if not right(step, outcome.call.case):
                raise CheckFailed(f"{func}: {advice}")
        outputs = value.get("outputs")
        return [_KINDS[s["kind"]][0] for s in steps], [s["kind"] for s in steps], \
            outputs if isinstance(outputs, tuple) and outputs else (None,)

    def check_output(self, outcome, out) -> None:
        func, image = self.functions[0], outcome.call.args[0]
        if not isinstance(out, torch.Tensor) or out.dtype != torch.float32 or out.shape != image.shape:
            got = describe(out) + (f" of {out.dtype}" if isinstance(out, torch.Tensor) else "")
            raise CheckFailed(f"{func} should turn uint8 images {tuple(image.shape)} into a float32 tensor of the same "
                              f"shape; it gave {got}")
        if not torch.isfinite(out).all() or out.abs().max() > 3.0:
            raise CheckFailed(f"{func} gives normalized values far outside [-2, 2.2]: scale pixels to 0..1 "
                              "(ToDtype(torch.float32, scale=True)) before Normalize")
        kit.check_unchanged(f"the transform of {func}", outcome, {"image": (0, image)},
                            advice="every step must return a new tensor and leave the image it is given alone")


class TrainTransform(_Transform):
    id, points, functions = "train_transform", 3, ("build_train_transform",)
    title = "training pipeline: kinds, order, settings"

    def cases(self, gen):
        def draw(randaugment, erasing):
            return _cfg(randaugment=randaugment, num_ops=kit.randint(gen, 1, 3), magnitude=kit.randint(gen, 4, 15),
                        erasing=kit.uniform(gen, 0.1, 0.6, 4) if erasing else 0.0)
        return self.transform_calls([draw(True, True), draw(False, False), draw(True, False), draw(False, True)], gen)

    def verify(self, outcome, ctx):
        func, cfg, (kinds, _, outputs) = self.functions[0], outcome.call.case, self.steps(outcome)
        expected = [CROP, FLIP] + ([RANDAUGMENT] if cfg["randaugment"] else []) + [TO_FLOAT] \
            + ([ERASING] if cfg["erasing"] > 0 else []) + [NORMALIZE]
        for step in dict.fromkeys(expected + kinds):
            if kinds.count(step) > expected.count(step) == 0:
                raise CheckFailed(f"{func} adds {step} when {_OPTIONAL[step]}; add it only when asked")
            if kinds.count(step) != expected.count(step):
                raise CheckFailed(f"{func}: this cfg asks for {expected.count(step)} {step} step; check it")
        if any(k in (CROP, FLIP, RANDAUGMENT) for k in kinds[kinds.index(TO_FLOAT):]):
            raise CheckFailed(f"{func}: crop, flip and RandAugment work on uint8 images; put them before the "
                              "conversion to float")
        if kinds[-1] != NORMALIZE:
            raise CheckFailed(f"{func}: Normalize must be the last step (after RandomErasing)")
        self.check_output(outcome, outputs[0])


class EvalTransform(_Transform):
    id, points, functions = "eval_transform", 1, ("build_eval_transform",)
    title = "evaluation pipeline: deterministic, to float and normalize"

    def cases(self, gen):
        cfgs = [_cfg(randaugment=True, erasing=kit.uniform(gen, 0.1, 0.6, 4)), _cfg(randaugment=False, erasing=0.0)]
        return self.transform_calls(cfgs, gen, repeats=3)

    def verify(self, outcome, ctx):
        kinds, raw, outputs = self.steps(outcome)
        random_steps = [r for r, k in zip(raw, kinds) if k not in (TO_FLOAT, NORMALIZE)]
        if random_steps:
            raise CheckFailed(f"{self.functions[0]} uses {random_steps[0]}; evaluation must be deterministic: convert "
                              "to float and normalize, no augmentation")
        expected = reference.build_eval_transform(None)(outcome.call.args[0])
        for out in outputs:
            self.check_output(outcome, out)
            assert_tensor_close("the evaluation transform's output", out, expected, ctx, dtype=torch.float32,
                                device=None)


# ---------------------------------------------------------------- weight decay and the optimizer

# Neutral names, so that a rule that looks at names ("bn", "norm") cannot pass by luck.
_WORDS = ["stem", "mixer", "proj", "head", "block", "gate", "body", "tail", "lookup", "scale", "core", "out", "front"]


def _hidden_model(gen) -> list[list[str]]:
    """A model's spec: an Embedding, a norm, a Conv, a Linear and 3 more plain layers at random, and what a stack of
    plain layers never has: a nested block with a parameter of its own, tied weights, a layer registered twice."""
    def pick(kinds):
        return kinds[kit.randint(gen, 0, len(kinds) - 1)]
    plain = (*helpers.CONVS, *helpers.LINEARS, *helpers.NORMS, "embedding")
    kinds = ["embedding", pick(helpers.NORMS), pick(helpers.CONVS), pick(helpers.LINEARS),
             *(pick(plain) for _ in range(3)), "block", "tied"]
    order, words = (torch.randperm(n, generator=gen).tolist() for n in (len(kinds), len(_WORDS)))
    spec = [[f"{_WORDS[words[k]]}{k}", kinds[i]] for k, i in enumerate(order)]
    return spec + [[f"{_WORDS[words[len(spec)]]}{len(spec)}", f"same:{spec[0][0]}"]]


def _kind_of(model, name: str) -> tuple[str, str]:
    """('the bias of a Linear', why it does not decay) for a parameter name of ``model``."""
    module_name, _, attribute = name.rpartition(".")
    kind = type(model.get_submodule(module_name)).__name__
    why = ("embeddings do not decay" if kind == "Embedding" else "biases do not decay" if attribute == "bias"
           else "normalization parameters do not decay" if "Norm" in kind
           else "only the weights of Linear and Conv layers decay")
    return f"the {attribute} of {'an' if kind[0] in 'AEIOU' else 'a'} {kind}", why


def _student_groups(value, func) -> list[dict]:
    if not isinstance(value, tuple) or any("not_a_group" in g for g in value if isinstance(g, dict)):
        raise CheckFailed(f"{func} should return a list of dicts, each with 'params' and 'weight_decay'")
    return list(value)


class ParamGroups(_Cases):
    id, points, functions = "param_groups", 3, ("param_groups",)
    title = "weight decay on Linear/Conv weights only, every parameter once"

    def cases(self, gen):
        drawn = [(_hidden_model(gen), kit.uniform(gen, 0.01, 0.3, 4)) for _ in range(2)]
        return [Call(f"{self.id}/{i}", "param_groups", (spec, wd), helper="groups_probe", note=f"(a model of "
                     f"{len(list(helpers.hidden_model(spec).parameters()))} parameters, weight_decay={wd:g})")
                for i, (spec, wd) in enumerate(drawn)]

    def verify(self, outcome, ctx):
        (spec, wd), groups = outcome.call.args, _student_groups(outcome.value, "param_groups")
        model = helpers.hidden_model(spec)
        names = {id(p): n for n, p in model.named_parameters()}
        decay, no_decay = ({names[id(p)] for p in group["params"]} for group in reference.param_groups(model, wd))
        if len(groups) != 2:
            raise CheckFailed(f"param_groups returned {len(groups)} groups; return two: the parameters that decay "
                              "and those that do not")
        listed = [n for g in groups for n in g["names"]]
        twice, missing = sorted({n for n in listed if listed.count(n) > 1}), sorted((decay | no_decay) - set(listed))
        if helpers.NOT_A_PARAMETER in listed:
            raise CheckFailed("param_groups put tensors that are not the model's parameters in a group")
        if twice:
            raise CheckFailed(f"{_kind_of(model, twice[0])[0]} appears twice (a layer may be used twice, a weight "
                              "shared by two layers); every parameter goes in exactly one group")
        if missing:
            raise CheckFailed(f"{_kind_of(model, missing[0])[0]} is in no group; every trainable parameter must be in "
                              "one, wherever in the model it is registered")
        if any(g["weight_decay"] is None for g in groups):
            raise CheckFailed("a group has no 'weight_decay' key; AdamW would give it its default decay of 0.01. "
                              "Set 'weight_decay': weight_decay on one group and 0.0 on the other")
        decaying = [g for g in groups if isinstance(g["weight_decay"], (int, float)) and g["weight_decay"] > 0]
        if len(decaying) != 1 or abs(decaying[0]["weight_decay"] - wd) > 1e-12 \
                or any(g["weight_decay"] != 0 for g in groups if g is not decaying[0]):
            raise CheckFailed("the groups' weight_decay values should be the weight_decay argument and 0.0")
        wrong = dict(_kind_of(model, n) for n in sorted(set(decaying[0]["names"]) - decay))
        if wrong:
            raise CheckFailed(f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} in the decay group; "
                              + "; ".join(dict.fromkeys(wrong.values())))
        skipped = sorted(decay - set(decaying[0]["names"]))
        if skipped:
            raise CheckFailed(f"{_kind_of(model, skipped[0])[0]} is not decayed; the weights of Linear and Conv "
                              "layers decay")


class Optimizer(_Cases):
    id, points, functions = "optimizer", 1, ("make_optimizer",)
    title = "AdamW over param_groups, at cfg.lr"

    def cases(self, gen):
        cfg = _cfg(lr=kit.uniform(gen, 1e-4, 1e-2, 4), weight_decay=kit.uniform(gen, 0.01, 0.3, 4))
        return [Call(f"{self.id}/0", "make_optimizer", (cfg,), helper="optimizer_probe")]

    def verify(self, outcome, ctx):
        value, cfg = _ok(outcome, "the optimizer check"), outcome.call.args[0]
        if value.get("type") != "AdamW" or not str(value.get("module", "")).startswith("torch.optim"):
            raise CheckFailed(f"make_optimizer returned {value.get('type')}; use torch.optim.AdamW, whose weight decay "
                              "is decoupled from the adaptive step")
        groups = _student_groups(value.get("groups"), "the optimizer's param_groups")
        if any(not isinstance(g["lr"], (int, float)) or abs(g["lr"] - cfg["lr"]) > 1e-12 for g in groups):
            raise CheckFailed("the optimizer's learning rate should be cfg.lr in every group")
        yours = _student_groups(value.get("param_groups"), "param_groups")
        expected = sorted((sorted(g["names"]), 0.01 if g["weight_decay"] is None else g["weight_decay"]) for g in yours)
        if sorted((sorted(g["names"]), g["weight_decay"]) for g in groups) != expected:
            raise CheckFailed("the optimizer's groups differ from param_groups(model, cfg.weight_decay): build AdamW "
                              "on those groups (and pass cfg.weight_decay to param_groups)")


class Criterion(_Cases):
    id, points, functions = "criterion", 1, ("make_criterion",)
    title = "cross entropy with label_smoothing=cfg.label_smoothing"

    def cases(self, gen):
        for i, eps in enumerate((0.0, kit.uniform(gen, 0.05, 0.4, 4))):
            n, k = kit.randint(gen, 5, 20), kit.randint(gen, 3, 12)
            logits, labels = kit.randn(gen, n, k, dtype=torch.float32) * 3, torch.randint(0, k, (n,), generator=gen)
            yield Call(f"{self.id}/{i}", "make_criterion", (logits, labels), {"cfg": _cfg(label_smoothing=eps)},
                       note=f"(cfg.label_smoothing={eps:g}, {k} classes)", helper="criterion_probe", case=eps)

    def verify(self, outcome, ctx):
        eps, (logits, labels), value = outcome.call.case, outcome.call.args, _ok(outcome, "the criterion check")
        if value.get("module") is not True:
            raise CheckFailed("make_criterion should return an nn.Module, e.g. nn.CrossEntropyLoss(...)")
        loss, tol = value.get("loss"), ctx.tolerance(torch.float32)
        if not isinstance(loss, torch.Tensor) or loss.shape != ():
            raise CheckFailed(f"the criterion should return a scalar loss (mean over the batch); got {describe(loss)}")
        expected = F.cross_entropy(logits.double(), labels, label_smoothing=eps)
        kit.known_mistake(loss, F.cross_entropy(logits.double(), labels), expected, tol,
                          "the loss has no label smoothing; pass label_smoothing=cfg.label_smoothing")
        if not close(loss, expected, tol):
            raise CheckFailed("the loss is wrong: use nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)")
        kit.check_unchanged("the criterion of make_criterion", outcome, {"logits": (0, logits), "labels": (1, labels)},
                            advice="compute on new tensors (y.unsqueeze(1), not y.unsqueeze_(1))")


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


_STOPPING_DIAGNOSES = {   # what the mistake is -> the variant of the rule that makes it
    "a loss equal to the best (minus min_delta) counted as an improvement; it must be strictly lower":
        {"ties_improve": True},
    "an improvement smaller than min_delta reset the patience counter; only losses below best_loss - min_delta "
    "improve": {"ignore_min_delta": True},
    "it stops one epoch late: stop once `patience` epochs in a row brought no improvement": {"patience_shift": 1},
    "it stops one epoch early: stop once `patience` epochs in a row brought no improvement": {"patience_shift": -1},
    "the count of epochs without improvement is not reset when the loss improves": {"reset": False},
}


def _noisy_curve(gen, patience, min_delta) -> list[float]:
    """A validation-loss curve: noisy descent (with a tie and, if min_delta, sub-min_delta gains), then a rise."""
    losses, loss = [], kit.uniform(gen, 1.5, 2.5, 4)
    for _ in range(kit.randint(gen, 3, 6)):
        loss -= kit.uniform(gen, 0.05, 0.3, 4)
        losses.append(round(loss, 4))
    losses.append(losses[-1])                                           # a tie with the best
    losses.append(round(losses[-1] - kit.uniform(gen, 0.05, 0.2, 4), 4))
    for _ in range(kit.randint(gen, 2, 3) if min_delta > 0 else 0):      # gains smaller than min_delta
        losses.append(round(losses[-1] - min_delta * kit.uniform(gen, 0.2, 0.7, 4), 4))
    return losses + [round(min(losses) + kit.uniform(gen, 0.0, 0.3, 4) + 0.01, 4) for _ in range(patience + 4)]


def _falling_then_rising(gen, best_at, patience) -> list[float]:
    """Strictly falling for ``best_at`` epochs, then strictly rising: every reading of the rule agrees on the best."""
    losses = sorted((kit.uniform(gen, 0.5, 2.0, 4) for _ in range(best_at)), reverse=True)
    losses = [round(v + 0.01 * (best_at - k), 4) for k, v in enumerate(losses)]
    for _ in range(patience + 3):
        losses.append(round(losses[-1] + kit.uniform(gen, 0.05, 0.2, 4), 4))
    return losses


class EarlyStoppingRule(_Cases):
    id, points, functions = "early_stopping", 2, ("EarlyStopping",)
    title = "EarlyStopping: when it stops, best_epoch and best_loss"

    def cases(self, gen):
        settings = [(kit.randint(gen, 2, 4), None), (kit.randint(gen, 2, 3), kit.uniform(gen, 0.02, 0.08, 4)),
                    (1, None)]
        cases = [{"patience": p, "min_delta": d, "losses": _noisy_curve(gen, p, d or 0.0)} for p, d in settings]
        patience = kit.randint(gen, 2, 3)
        cases.append({"patience": patience, "min_delta": None,
                      "losses": _falling_then_rising(gen, BEST_FIRST, patience)})
        return [Call(f"{self.id}/{i}", "EarlyStopping", (), case, helper="stopping_probe", case=case,
                     note=f"(patience={case['patience']}, " + ("min_delta left at its default)"
                                                             if case["min_delta"] is None
                                                             else f"min_delta={case['min_delta']:g})"))
                for i, case in enumerate(cases)]

    def verify(self, outcome, ctx):
        patience, min_delta, losses = (outcome.call.case[k] for k in ("patience", "min_delta", "losses"))
        value = _ok(outcome, "EarlyStopping")
        flags, best_epoch, best_loss = list(value.get("flags") or ()), value.get("best_epoch"), value.get("best_loss")
        expected = simulate_early_stopping(losses, patience, min_delta or 0.0)
        if flags != expected[0]:
            hint = next((words for words, variant in _STOPPING_DIAGNOSES.items()
                         if simulate_early_stopping(losses, patience, min_delta or 0.0, **variant)[0] == flags),
                        "an epoch improves when val_loss < best_loss - min_delta, and it stops after `patience` epochs "
                        "in a row without one")
            stopped = f"after {len(flags)} epochs" if flags and flags[-1] else "never, over the whole curve"
            raise CheckFailed(f"step() said stop {stopped}; {hint}")
        if best_epoch != expected[1]:
            hint = " (the first call to step is epoch 1)" if best_epoch == expected[1] - 1 else ""
            raise CheckFailed(f"best_epoch is {describe(best_epoch)}, not the epoch of the lowest loss{hint}")
        if not isinstance(best_loss, float) or abs(best_loss - expected[2]) > 1e-9:
            raise CheckFailed("best_loss is not the lowest validation loss seen so far")


class EarlyStoppingRestore(_Cases):
    id, points, functions = "early_stopping_restore", 2, ("EarlyStopping",)
    title = "EarlyStopping keeps a copy of the best weights and restores it"

    def cases(self, gen):
        for i, best_at in enumerate((kit.randint(gen, 2, 5), BEST_FIRST)):
            patience = kit.randint(gen, 2, 3)
            yield Call(f"{self.id}/{i}", "EarlyStopping", (), {"losses": _falling_then_rising(gen, best_at, patience),
                       "patience": patience}, note=f"(patience={patience}, the lowest loss at epoch {best_at})",
                       helper="restore_probe", case=best_at)

    def verify(self, outcome, ctx):
        best_at, value = outcome.call.case, _ok(outcome, "EarlyStopping")
        weight = value.get("weight")
        if not isinstance(weight, torch.Tensor) or weight.shape != (2, 3):
            raise CheckFailed(f"after restore(model) the model's weight is {describe(weight)}")
        if torch.all(weight == -1):
            raise CheckFailed("restore(model) left the model's current weights in place: keep a copy of the best "
                              "weights (clone the tensors of model.state_dict()), from the first epoch on, and load "
                              "it into the model you are given")
        if not torch.all(weight == best_at):
            raise CheckFailed("restore(model) loaded the weights of another epoch, not those of the best one; copy "
                              "the weights when the loss improves")
        if not torch.all(value.get("bias") == best_at):
            raise CheckFailed("restore(model) brought back the weights but not the biases; keep the whole state_dict")


# ---------------------------------------------------------------- the epoch loops

class _Loop(_Cases):
    """Both loops: a random MLP's state, and batches passed x, y, x, y... so the harness reads each back."""

    def loop_calls(self, gen, sizes, helper, note="", **kwargs) -> list[Call]:
        d, h, k = kit.randint(gen, 4, 10), kit.randint(gen, 6, 12), kit.randint(gen, 3, 6)

        def randn(*shape):
            return kit.randn(gen, *shape, dtype=torch.float32)
        state = {"0.weight": randn(h, d) / math.sqrt(d), "0.bias": randn(h) * 0.1, "1.weight": 1 + 0.2 * randn(h),
                 "1.bias": 0.1 * randn(h), "1.running_mean": 0.3 * randn(h),
                 "1.running_var": 0.5 + kit.rand(gen, h, dtype=torch.float32), "4.weight": randn(k, h) / math.sqrt(h),
                 "4.bias": randn(k) * 0.1}
        batches = [t for n in sizes for t in (randn(n, d) * 2, torch.randint(0, k, (n,), generator=gen))]
        return [Call(f"{self.id}/0", self.functions[0], tuple(batches), {"state": state, **kwargs}, helper=helper,
                     note=f"(batches of {', '.join(map(str, sizes))}{note})")]

    def check_batches_unchanged(self, outcome) -> None:
        kit.check_unchanged(self.functions[0], outcome, {f"{'xy'[i % 2]} (batch {i // 2 + 1})": (i, t)
                                                         for i, t in enumerate(outcome.call.args)})


def _reference_epoch(state, xs, ys, *, zero_grad=True):
    """(per-batch losses, model after one epoch of SGD with momentum), or without zero_grad."""
    model = helpers.mlp(state, 0.0).train()
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


class TrainOneEpoch(_Loop):
    id, points, functions = "train_one_epoch", 2, ("train_one_epoch",)
    title = "one epoch in training mode; mean loss per sample"

    def cases(self, gen):
        return self.loop_calls(gen, [16, 16, 16, kit.randint(gen, 3, 9)], "train_probe")

    def verify(self, outcome, ctx):
        xs, ys, start = outcome.call.args[0::2], outcome.call.args[1::2], outcome.call.kwargs["state"]
        value = _ok(outcome, "train_one_epoch")
        state = value.get("state") or {}
        if isinstance(state.get("1.running_mean"), torch.Tensor) and torch.equal(state["1.running_mean"],
                                                                                  start["1.running_mean"]):
            raise CheckFailed("BatchNorm's running statistics did not move: the model stayed in eval mode; call "
                              "model.train() at the start")
        (losses, model), piled_up = _reference_epoch(start, xs, ys), _reference_epoch(start, xs, ys, zero_grad=False)[1]
        for name, expected in model.state_dict().items():
            kit.known_mistake(state.get(name), piled_up.state_dict()[name], expected, ctx.float32,
                              "gradients pile up from batch to batch: call optimizer.zero_grad() before each backward")
            assert_tensor_close(f"the model's {name} after one epoch", state.get(name), expected.detach(), ctx,
                                dtype=expected.dtype, device=None)
        loss, sizes = kit.number(value.get("loss"), "the returned training loss"), [len(y) for y in ys]
        expected = sum(v * n for v, n in zip(losses, sizes)) / sum(sizes)
        kit.check_number(loss, expected, 1e-4, f"the returned loss is off by {abs(loss - expected):.2e}; return the "
                         "mean training loss per sample over the epoch", {
                             "the returned loss is the mean of the batch losses; weight each by its batch size, so it "
                             "is the mean per sample": sum(losses) / len(losses),
                             "the returned loss is the last batch's; return the mean over the epoch": losses[-1]})
        self.check_batches_unchanged(outcome)


class Evaluate(_Loop):
    id, points, functions = "evaluate", 2, ("evaluate",)
    title = "evaluation in eval mode: mean loss per sample, accuracy as a fraction"

    def cases(self, gen):
        sizes, smoothing = [32, 32, kit.randint(gen, 3, 12)], kit.uniform(gen, 0.05, 0.3, 4)
        return self.loop_calls(gen, sizes, "evaluate_probe", f", a criterion with label smoothing {smoothing:g}",
                               smoothing=smoothing)

    def verify(self, outcome, ctx):
        xs, ys, sizes = outcome.call.args[0::2], outcome.call.args[1::2], [len(y) for y in outcome.call.args[1::2]]
        state, smoothing = outcome.call.kwargs["state"], outcome.call.kwargs["smoothing"]
        value = _ok(outcome, "evaluate")
        loss, accuracy = unpack(value.get("result"), 2, "evaluate")
        if not torch.equal(value.get("running_mean"), state["1.running_mean"]):
            raise CheckFailed("evaluate changed BatchNorm's running statistics: call model.eval() first")
        loss, accuracy = kit.number(loss, "the returned loss"), kit.number(accuracy, "the returned accuracy")
        with torch.no_grad():
            logits = [helpers.mlp(state, 0.5).eval()(x) for x in xs]
        per_batch = [F.cross_entropy(z, y, label_smoothing=smoothing).item() for z, y in zip(logits, ys)]
        right = sum((z.argmax(1) == y).sum().item() for z, y in zip(logits, ys)) / sum(sizes)
        kit.check_number(accuracy, right, 1e-6, f"accuracy is off by {abs(accuracy - right):.3f}: count argmax(logits) "
                         "== label over all samples and divide by their number", {
                             "accuracy is a percentage; return the fraction of correct predictions, 0..1": 100 * right})
        expected = sum(v * n for v, n in zip(per_batch, sizes)) / sum(sizes)
        kit.check_number(loss, expected, 1e-4, f"the loss is off by {abs(loss - expected):.2e}; the mean loss per "
                         "sample in eval mode", {
                             "the loss is the mean of the batch losses; weight each by its batch size":
                                 sum(per_batch) / len(per_batch),
                             "the loss ignores the criterion you were given; use criterion(logits, y)":
                                 sum(F.cross_entropy(z, y).item() * n for z, y, n in zip(logits, ys, sizes))
                                 / sum(sizes)})
        self.check_batches_unchanged(outcome)


# ---------------------------------------------------------------- the sweep

_ROW_KEYS = ("best_val_accuracy", "best_epoch", "final_train_loss", "history")
LEARNED = 0.5          # best validation accuracy the easy problem must reach (chance: 0.1; the reference: ~1.0)


class RunSweep(kit.CaseItem):
    id, points, functions = "run_sweep", 2, ("run_sweep",)
    title = ("the sweep: one row per config, the schedule stepped per epoch, early stopping, restored model, and it "
             "learns")

    def cases(self, gen):
        centres = kit.randn(gen, 10, 3, 4, 4, dtype=torch.float32) * 1.5
        labels = torch.randperm(300, generator=gen) % 10
        images = centres[labels] + kit.randn(gen, 300, 3, 4, 4, dtype=torch.float32)
        lr = kit.uniform(gen, 0.05, 0.1, 4)
        configs = [_cfg(lr=lr, weight_decay=0.0, label_smoothing=0.0, randaugment=False, erasing=0.0,
                        patience=2, min_delta=10.0),                    # nothing improves by 10: stop at epoch 3
                   _cfg(lr=lr, weight_decay=0.05, label_smoothing=0.1, patience=50, min_delta=0.0)]
        return [Call(f"{self.id}/0", "run_sweep", (), {
            "configs": configs, "x_train": list(images[:200].split(50)), "y_train": list(labels[:200].split(50)),
            "x_val": images[200:], "y_val": labels[200:], "max_epochs": 4, "seed": kit.randint(gen, 0, 1000)},
            helper="sweep_probe")]

    def check(self, outcome, ctx):
        rows, configs, max_epochs = outcome.value, outcome.call.kwargs["configs"], outcome.call.kwargs["max_epochs"]
        if not isinstance(rows, tuple) or len(rows) != len(configs):
            count = f"{len(rows)} rows" if isinstance(rows, tuple) else describe(rows)
            raise CheckFailed(f"run_sweep returned {count} for {len(configs)} configs; return a list, one row per "
                              "config")
        for i, (row, cfg) in enumerate(zip(rows, configs)):
            try:
                self.check_row(row, cfg, max_epochs)
            except CheckFailed as failure:
                raise CheckFailed(f"row {i + 1} of {len(configs)}: {failure} (patience={cfg['patience']}, "
                                  f"min_delta={cfg['min_delta']:g}, max_epochs={max_epochs})") from None

    def check_row(self, row, cfg, max_epochs) -> None:
        if "not_a_dict" in row:
            raise CheckFailed(f"each row should be a dict; this one is a {row['not_a_dict']}")
        missing = [k for k in _ROW_KEYS if k not in row] + ([] if row.get("model_val") is not None else ["model"])
        if missing:
            raise CheckFailed(f"no {missing[0]!r}; each row has config, {', '.join(_ROW_KEYS)} and model")
        if not row.get("same_config"):
            raise CheckFailed("its 'config' is not the config object it was trained with, in order")
        history = row["history"]
        lengths = {len(history.get(k, ())) if isinstance(history.get(k), tuple) else -1
                   for k in ("train_loss", "val_loss", "val_accuracy")}
        if len(lengths) != 1 or lengths == {-1} or lengths == {0}:
            raise CheckFailed("the history needs lists train_loss, val_loss, val_accuracy with one entry per epoch run")
        epochs, replay = lengths.pop(), row["replay"]
        if epochs != min(max_epochs, replay["stop"] or max_epochs):
            raise CheckFailed(f"it ran {epochs} epochs where your EarlyStopping says stop after "
                              f"{min(max_epochs, replay['stop'] or max_epochs)}: call stopper.step(val_loss, model) "
                              "once per epoch, break when it returns True, and run at most budget.max_epochs")
        if row["scheduler_steps"] != epochs:
            steps = "never made" if row["scheduler_steps"] is None else f"stepped {row['scheduler_steps']} times"
            raise CheckFailed(f"the learning-rate schedule was {steps} over {epochs} epochs: make one per config with "
                              "budget.make_scheduler(optimizer) and call scheduler.step() once per epoch")
        best_epoch, accuracy = replay["best_epoch"], kit.number(row["best_val_accuracy"], "best_val_accuracy")
        if row["best_epoch"] != best_epoch:
            raise CheckFailed("best_epoch should be your EarlyStopping's best_epoch")
        if not 1 <= best_epoch <= epochs or abs(accuracy - history["val_accuracy"][best_epoch - 1]) > 1e-9:
            raise CheckFailed("best_val_accuracy should be the validation accuracy of the best epoch")
        if kit.number(row["final_train_loss"], "final_train_loss") != history["train_loss"][-1]:
            raise CheckFailed("final_train_loss should be the last epoch's training loss")
        kept = history["val_loss"][best_epoch - 1]
        plain, smoothed = (row[k][0] if isinstance(row[k], tuple) else kept
                           for k in ("model_val", "model_val_smoothed"))
        smoothing = {"the validation loss uses label smoothing; validate with a plain nn.CrossEntropyLoss() so losses "
                     "compare across configs": smoothed} if cfg["label_smoothing"] > 0 else {}
        if row.get("restore_works") is True:            # a restore that does not work is early_stopping_restore's fault
            kit.check_number(kept, plain, 1e-4, "the returned model does not have the best epoch's weights: call "
                             "stopper.restore(model) after the loop", smoothing)
        if cfg["patience"] > max_epochs and accuracy < LEARNED:
            raise CheckFailed(f"after {epochs} epochs the best validation accuracy is {accuracy:.0%} on a 10-class "
                              "problem a linear model learns easily (chance: 10%); check the training loop")


def make_checks() -> LabChecks:
    """The items; they keep nothing between planning and judging (each call carries its case)."""
    return LabChecks(
        lab="06a-regularization-stack",
        items=(TrainTransform(), EvalTransform(), ParamGroups(), Optimizer(), Criterion(), EarlyStoppingRule(),
               EarlyStoppingRestore(), TrainOneEpoch(), Evaluate(), RunSweep()),
        forbidden={},
        helpers=helpers,
    )
