"""The 06a reference against torch and torchvision: pipelines, groups, optimizer, criterion, early stopping, loops,
sweep."""

import math
import types

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.checks.kernel.regularization_stack import hidden_model
from autograder.checks.regularization_stack import simulate_early_stopping
from solutions.regularization_stack import (
    EarlyStopping,
    build_eval_transform,
    build_train_transform,
    evaluate,
    make_criterion,
    make_optimizer,
    param_groups,
    run_sweep,
    train_one_epoch,
)

MEAN, STD = torch.tensor([0.4914, 0.4822, 0.4465]), torch.tensor([0.2470, 0.2435, 0.2616])


def cfg(**changes):
    settings = dict(lr=3e-3, weight_decay=0.05, randaugment=True, num_ops=2, magnitude=9, erasing=0.25,
                    label_smoothing=0.1, patience=3, min_delta=0.0)
    return types.SimpleNamespace(**{**settings, **changes})


@pytest.mark.parametrize("randaugment, erasing, kinds", [
    (True, 0.3, ["RandomCrop", "RandomHorizontalFlip", "RandAugment", "ToDtype", "RandomErasing", "Normalize"]),
    (False, 0.0, ["RandomCrop", "RandomHorizontalFlip", "ToDtype", "Normalize"]),
])
def test_train_transform_kinds_and_output(randaugment, erasing, kinds):
    tf = build_train_transform(cfg(randaugment=randaugment, erasing=erasing, num_ops=3, magnitude=5))
    assert [type(t).__name__ for t in tf.transforms] == kinds
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    for group in (image, image.expand(4, 3, 32, 32)):
        out = tf(group)
        assert out.dtype == torch.float32 and out.shape == group.shape
        assert out.min() >= (0 - MEAN.max()) / STD.min() - 1e-4 and out.max() <= (1 - MEAN.min()) / STD.min() + 1e-4


def test_eval_transform_is_deterministic_normalization():
    image = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    out = build_eval_transform(cfg())(image)
    torch.testing.assert_close(out, (image.float() / 255 - MEAN[:, None, None]) / STD[:, None, None])


def test_param_groups_split_by_layer_kind():
    model = nn.ModuleDict({"e": nn.Embedding(5, 4), "c": nn.Conv1d(4, 4, 3), "n": nn.LayerNorm(4),
                           "g": nn.GroupNorm(2, 4), "l": nn.Linear(4, 2, bias=False), "shared": nn.Sequential()})
    model["shared"].append(model["l"])                          # the same Linear twice: listed once
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay = param_groups(model, 0.2)
    assert decay["weight_decay"] == 0.2 and no_decay["weight_decay"] == 0.0
    assert sorted(names[id(p)] for p in decay["params"]) == ["c.weight", "l.weight"]
    assert sorted(names[id(p)] for p in no_decay["params"]) == ["c.bias", "e.weight", "g.bias", "g.weight", "n.bias",
                                                                 "n.weight"]


def test_param_groups_on_the_hidden_models_structures():
    """A nested block with a parameter of its own, a weight tied between two Linear layers, a layer used twice."""
    model = hidden_model([["a", "block"], ["b", "tied"], ["c", "same:a"]])
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay = ([names[id(p)] for p in group["params"]] for group in param_groups(model, 0.1))
    assert sorted(decay) == ["a.inner.0.weight", "b.encode.weight"]
    assert sorted(no_decay) == ["a.gain", "a.inner.0.bias", "a.inner.1.bias", "a.inner.1.weight", "b.decode.bias",
                                "b.encode.bias"]


def test_adamw_decays_only_the_weights():
    model = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = make_optimizer(model, cfg(lr=0.1, weight_decay=0.5))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()                                             # zero gradients: only decay moves a parameter
    torch.testing.assert_close(model[0].weight, before[0] * (1 - 0.1 * 0.5))
    for after, original in zip(list(model.parameters())[1:], before[1:]):
        torch.testing.assert_close(after, original)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_criterion_is_smoothed_cross_entropy(eps):
    logits, y = torch.randn(7, 5), torch.randint(0, 5, (7,))
    target = (1 - eps) * F.one_hot(y, 5) + eps / 5
    expected = -(target * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(make_criterion(cfg(label_smoothing=eps))(logits, y), expected)


@pytest.mark.parametrize("losses, patience, min_delta, stop_at, best", [
    ([1.0, 0.9, 0.9, 0.95, 0.91], 3, 0.0, 5, 2),
    ([1.0, 0.95, 0.93, 0.92], 2, 0.1, 3, 1),
    ([1.0, 1.1], 1, 0.0, 2, 1),
    ([3.0, 2.0, 1.0, 0.5], 2, 0.0, None, 4),
])
def test_early_stopping_rule(losses, patience, min_delta, stop_at, best):
    stopper, flags = EarlyStopping(patience, min_delta), []
    for loss in losses:
        flags.append(stopper.step(loss, nn.Linear(1, 1)))
        if flags[-1]:
            break
    assert (flags.index(True) + 1 if True in flags else None) == stop_at
    assert stopper.best_epoch == best and stopper.best_loss == losses[best - 1]
    assert simulate_early_stopping(losses, patience, min_delta) == (flags, best, losses[best - 1])


def test_early_stopping_restores_a_copy_not_the_live_weights():
    model, stopper = nn.Linear(2, 2), EarlyStopping(2)
    for epoch, loss in enumerate([1.0, 0.5, 0.7], start=1):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(epoch)
        stopper.step(loss, model)
    with torch.no_grad():
        model.weight.fill_(-1)
    stopper.restore(model)
    assert torch.all(model.weight == 2) and torch.all(model.bias == 2)


def test_loops_match_a_written_out_loop():
    torch.manual_seed(0)
    xs, ys = torch.randn(11, 4), torch.randint(0, 3, (11,))
    batches = [(xs[:5], ys[:5]), (xs[5:10], ys[5:10]), (xs[10:], ys[10:])]
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    copy = nn.Sequential(nn.Linear(4, 3))
    copy.load_state_dict({"0.weight": model[0].weight.detach(), "0.bias": model[0].bias.detach()})
    torch.manual_seed(1)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    train_loss = train_one_epoch(model, batches, sgd, nn.CrossEntropyLoss(), "cpu")
    assert isinstance(train_loss, float) and model.training
    loss, accuracy = evaluate(model, batches, nn.CrossEntropyLoss(), "cpu")
    with torch.no_grad():
        logits = model[0](xs)
    assert not model.training
    assert math.isclose(loss, F.cross_entropy(logits, ys).item(), rel_tol=1e-5)
    assert math.isclose(accuracy, (logits.argmax(1) == ys).float().mean().item(), rel_tol=1e-6)


def test_sweep_rows_stop_restore_and_learn():
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 12, generator=gen) * 2
    y = torch.arange(300) % 10
    x = centres[y] + torch.randn(300, 12, generator=gen)
    data = types.SimpleNamespace(loaders=lambda train_tf, eval_tf: (list(zip(x[:200].split(50), y[:200].split(50))),
                                                                   [(x[200:], y[200:])]))
    schedules = []
    budget = types.SimpleNamespace(max_epochs=5, device="cpu", make_model=lambda: nn.Linear(12, 10),
                                   make_scheduler=lambda opt: schedules.append(
                                       torch.optim.lr_scheduler.StepLR(opt, 1, 0.9)) or schedules[-1])
    configs = [cfg(lr=0.05, patience=2, min_delta=10.0), cfg(lr=0.05, patience=10)]
    rows = run_sweep(configs, data, budget)
    assert [row["config"] for row in rows] == configs
    assert len(rows[0]["history"]["val_loss"]) == 3 and rows[0]["best_epoch"] == 1
    assert [s.last_epoch for s in schedules] == [3, 5]           # one schedule per config, stepped once per epoch
    loss, _ = evaluate(rows[0]["model"], data.loaders(None, None)[1], nn.CrossEntropyLoss(), "cpu")
    assert math.isclose(loss, rows[0]["history"]["val_loss"][0], rel_tol=1e-5)
    assert len(rows[1]["history"]["val_loss"]) == 5 and rows[1]["best_val_accuracy"] > 0.8


def test_gpu_profile_runs_on_cpu_at_tiny_size(monkeypatch):
    """The gpu profile's path (ResNet-9 in the autocast wrapper, channels-last, the design, the schedule), shrunk
    to run on generated images in seconds; the notebook's given code as built."""
    from benchmarks.lab06a_profiles import notebook_namespace

    monkeypatch.setenv("REGLAB_PROFILE", "ci")
    monkeypatch.delenv("REGLAB_DATA", raising=False)
    ns = notebook_namespace("ci")
    tiny = {**ns["PROFILES"]["gpu"], "width": 4, "batch_size": 50, "max_epochs": 2, "augment_group": 25,
            "data_on_device": False}
    splits = {name: (x[:100], y[:100]) for name, (x, y) in ns["SPLITS"].items()}
    rows = ns["run_experiment"](tiny, splits, [0])
    assert [row["augmentation"] for row in rows] == ["none", "crop_flip", "randaugment", "crop_flip", "crop_flip"]
    assert all(len(row["history"]["train_loss"]) == 2 and 0 <= row["test_accuracy"] <= 1 for row in rows)
