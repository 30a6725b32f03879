"""Kernel helpers of lab 06a: they build in the student's kernel what cannot travel (transforms, models,
optimizers, stoppers, loaders), call the student's code on them and send back plain data.

Self-contained (stdlib and torch). Each public function takes the notebook's names ``S`` first; ``cfg`` travels
as a dict and reaches the student as a namespace, as the notebook's Config would. The grader imports
``hidden_model`` and ``mlp`` too, so both sides build the same structures.
"""

from __future__ import annotations

import contextlib
import types

import torch
import torch.nn as nn

NOT_A_PARAMETER = "(not a parameter of the model)"
SETTINGS = ("size", "padding", "p", "num_ops", "magnitude", "dtype", "scale", "mean", "std")


@contextlib.contextmanager
def _one_thread():
    """Tiny tensors train faster on one intra-op thread, above all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- transforms

def _plain(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _flat(transform) -> list:
    inner = getattr(transform, "transforms", None)
    return [step for t in inner for step in _flat(t)] if isinstance(inner, (list, tuple)) else [transform]


def describe_pipeline(transform) -> list[dict]:
    """One dict per step, nested Compose flattened: its class name and the settings it has."""
    return [{"kind": type(step).__name__, **{a: _plain(getattr(step, a)) for a in SETTINGS if hasattr(step, a)}}
            for step in _flat(transform)]


def transform_probe(S, image, *, func, cfg, repeats=1):
    """The steps of ``S[func](cfg)`` and its outputs on ``image`` (uint8, one image or a group), ``repeats`` calls."""
    transform = S[func](types.SimpleNamespace(**cfg))
    return {"steps": describe_pipeline(transform), "outputs": [transform(image) for _ in range(repeats)]}


# ---------------------------------------------------------------- models for the weight decay groups

class Block(nn.Module):
    """A nested module: a Linear and a norm inside a Sequential, and a parameter registered on the block itself."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16))
        self.gain = nn.Parameter(torch.ones(16))


class Tied(nn.Module):
    """Two Linear layers sharing one weight, as tied input and output embeddings do."""

    def __init__(self):
        super().__init__()
        self.encode, self.decode = nn.Linear(16, 16), nn.Linear(16, 16)
        self.decode.weight = self.encode.weight


LAYERS = {
    "conv2d": lambda: nn.Conv2d(3, 8, 3), "conv2d_no_bias": lambda: nn.Conv2d(8, 8, 3, bias=False),
    "conv1d": lambda: nn.Conv1d(4, 6, 3), "linear": lambda: nn.Linear(8, 16),
    "linear_no_bias": lambda: nn.Linear(16, 8, bias=False),
    "batchnorm2d": lambda: nn.BatchNorm2d(8), "batchnorm1d": lambda: nn.BatchNorm1d(16),
    "layernorm": lambda: nn.LayerNorm(16), "groupnorm": lambda: nn.GroupNorm(2, 8), "rmsnorm": lambda: nn.RMSNorm(16),
    "instancenorm2d": lambda: nn.InstanceNorm2d(8, affine=True),
    "layernorm_no_bias": lambda: nn.LayerNorm(16, bias=False),
    "sequential": lambda: nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16)), "embedding": lambda: nn.Embedding(50, 16),
    "block": Block, "tied": Tied,
}
# The plain layers by kind (a nested Linear + LayerNorm counts as a norm), for the grader's draws.
CONVS, LINEARS = ("conv2d", "conv2d_no_bias", "conv1d"), ("linear", "linear_no_bias")
NORMS = ("batchnorm2d", "batchnorm1d", "layernorm", "groupnorm", "rmsnorm", "instancenorm2d", "layernorm_no_bias",
         "sequential")
OPTIMIZER_MODEL = (("stem", "conv2d"), ("norm", "batchnorm2d"), ("head", "linear"), ("out", "layernorm"))


def hidden_model(spec) -> nn.ModuleDict:
    """A ModuleDict of ``spec``'s ``(name, kind)`` layers; kind ``same:<name>`` registers an earlier layer again."""
    model = nn.ModuleDict()
    for name, kind in spec:
        model[name] = model[kind.removeprefix("same:")] if kind.startswith("same:") else LAYERS[kind]()
    return model


def describe_groups(model, groups) -> list[dict]:
    """Optimizer groups as plain data: the model's names of their parameters, their weight_decay and lr."""
    names = {id(p): n for n, p in model.named_parameters()}
    described = []
    for group in list(groups):
        if not isinstance(group, dict) or "params" not in group:
            described.append({"not_a_group": type(group).__name__})
            continue
        params = [group["params"]] if isinstance(group["params"], torch.Tensor) else list(group["params"])
        described.append({"names": [names.get(id(p), NOT_A_PARAMETER) for p in params],
                          "weight_decay": group.get("weight_decay"), "lr": group.get("lr")})
    return described


def groups_probe(S, spec, weight_decay):
    model = hidden_model(spec)
    return describe_groups(model, S["param_groups"](model, weight_decay))


def optimizer_probe(S, cfg, spec=OPTIMIZER_MODEL):
    """The student's optimizer (its type and groups) and, for comparison, param_groups(model, cfg.weight_decay)."""
    model, cfg = hidden_model(spec), types.SimpleNamespace(**cfg)
    optimizer = S["make_optimizer"](model, cfg)
    return {"type": type(optimizer).__name__, "module": type(optimizer).__module__,
            "groups": describe_groups(model, optimizer.param_groups),
            "param_groups": describe_groups(model, S["param_groups"](model, cfg.weight_decay))}


# ---------------------------------------------------------------- criterion and early stopping

def criterion_probe(S, logits, labels, *, cfg):
    criterion = S["make_criterion"](types.SimpleNamespace(**cfg))
    return {"module": isinstance(criterion, nn.Module), "loss": criterion(logits, labels)}


def stopping_probe(S, *, losses, patience, min_delta=None):
    """A fresh stopper stepped through ``losses`` until it says stop: its flags, best_epoch and best_loss
    (``min_delta`` None: left at the class's default)."""
    stopper = S["EarlyStopping"](patience) if min_delta is None else S["EarlyStopping"](patience, min_delta=min_delta)
    model, flags = nn.Linear(1, 1), []
    for loss in losses:
        flags.append(bool(stopper.step(loss, model)))
        if flags[-1]:
            break
    return {"flags": flags, "best_epoch": stopper.best_epoch, "best_loss": float(stopper.best_loss)}


def _fill(model, value) -> None:
    for param in model.parameters():
        param.data.fill_(value)          # in place, as an optimizer step changes the weights


def restore_probe(S, *, losses, patience):
    """Epoch e sets every weight to e before its step; after the loop -1; then restore: the weights it brings back."""
    stopper, model = S["EarlyStopping"](patience), nn.Linear(3, 2)
    for epoch, loss in enumerate(losses, start=1):
        _fill(model, epoch)
        if stopper.step(loss, model):
            break
    _fill(model, -1.0)
    stopper.restore(model)
    return {"weight": model.weight.detach().clone(), "bias": model.bias.detach().clone()}


# ---------------------------------------------------------------- the epoch loops

def mlp(state, dropout) -> nn.Sequential:
    """Linear, BatchNorm1d, ReLU, Dropout, Linear, sized from ``state`` and loaded with it, on its device."""
    hidden, inputs = state["0.weight"].shape
    model = nn.Sequential(nn.Linear(inputs, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout),
                          nn.Linear(hidden, state["4.weight"].shape[0]))
    model.load_state_dict(state, strict=False)
    return model.to(state["0.weight"].device)


def _pairs(tensors) -> list:
    return list(zip(tensors[0::2], tensors[1::2]))


def train_probe(S, *batches, state):
    """One epoch of the student's train_one_epoch (SGD with momentum, plain cross entropy) from ``state``, the model
    handed over in eval mode. ``batches``: x, y, x, y... positional, so the harness reads them back after the call."""
    model = mlp(state, 0.0).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with _one_thread():
        loss = S["train_one_epoch"](model, _pairs(batches), optimizer, nn.CrossEntropyLoss(), str(batches[0].device))
    return {"loss": loss, "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}


def evaluate_probe(S, *batches, state, smoothing):
    """The student's evaluate on a model handed over in training mode, with a smoothed criterion; and BatchNorm's
    running mean afterwards (it moves only if evaluate left training mode on)."""
    model = mlp(state, 0.5).train()
    with _one_thread():
        result = S["evaluate"](model, _pairs(batches), nn.CrossEntropyLoss(label_smoothing=smoothing),
                               str(batches[0].device))
    return {"result": result, "running_mean": model[1].running_mean.clone()}


# ---------------------------------------------------------------- the sweep

class Batches:
    """A loader as the notebook's: fresh tensors on every pass, so what a loop does to a batch does not last."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def __iter__(self):
        return ((x.clone(), y.clone()) for x, y in self.pairs)


def _restore_works(S) -> bool:
    """Whether the student's EarlyStopping brings back its best epoch's weights (early_stopping_restore says how)."""
    probe, stopper = nn.Linear(1, 1), S["EarlyStopping"](1)
    for value in (1.0, 2.0):
        _fill(probe, value)
        stopper.step(value, probe)
    _fill(probe, 3.0)
    stopper.restore(probe)
    return probe.weight.item() == 1.0


def _replay(S, cfg, losses) -> dict:
    """The student's own EarlyStopping on a row's validation losses: when it says stop, and its best epoch."""
    stopper, model = S["EarlyStopping"](cfg.patience, cfg.min_delta), nn.Linear(1, 1)
    stop = next((epoch for epoch, loss in enumerate(losses, start=1) if stopper.step(loss, model)), None)
    return {"stop": stop, "best_epoch": stopper.best_epoch}


def _row(S, row, cfg, scheduler, restore_works, val, device) -> dict:
    """A row as plain data, with what checks it: the scheduler's steps, the student's stopper replayed on the row's
    validation losses, and the student's evaluate on the returned model (plain and smoothed cross entropy)."""
    if not isinstance(row, dict):
        return {"not_a_dict": type(row).__name__}
    history, model = row.get("history"), row.get("model")
    trained = isinstance(model, nn.Module)
    return {**{k: v for k, v in row.items() if k not in ("config", "model")}, "same_config": row.get("config") is cfg,
            "restore_works": restore_works, "scheduler_steps": scheduler.last_epoch if scheduler is not None else None,
            "replay": _replay(S, cfg, list(history["val_loss"]))
            if isinstance(history, dict) and "val_loss" in history else None,
            "model_val": S["evaluate"](model, val, nn.CrossEntropyLoss(), device) if trained else None,
            "model_val_smoothed": S["evaluate"](model, val, nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
                                                device) if trained else None}


def sweep_probe(S, *, configs, x_train, y_train, x_val, y_val, max_epochs, seed):
    """The student's run_sweep on a hidden problem (a linear model, a scheduler per config that keeps the rate),
    its rows described by ``_row``; a row beyond one per config comes back as ``{"extra_row": True}``."""
    cfgs = [types.SimpleNamespace(**c) for c in configs]
    device = str(x_val.device)
    train, val, schedulers = Batches(list(zip(x_train, y_train))), Batches([(x_val, y_val)]), []

    def make_scheduler(optimizer):
        schedulers.append(torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0))
        return schedulers[-1]

    def make_model():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(x_val[0].numel(), 10)).to(device)

    data = types.SimpleNamespace(loaders=lambda train_transform, eval_transform: (train, val))
    budget = types.SimpleNamespace(max_epochs=max_epochs, device=device, make_model=make_model,
                                   make_scheduler=make_scheduler)
    with _one_thread():
        rows = S["run_sweep"](cfgs, data, budget)
        restore_works = _restore_works(S)
        described = [_row(S, row, cfg, schedulers[i] if i < len(schedulers) else None, restore_works, val, device)
                     for i, (row, cfg) in enumerate(zip(rows, cfgs))]
    return described + [{"extra_row": True}] * max(0, len(rows) - len(cfgs))
