"""06a's kernel helpers, run here on the reference's functions (``S`` a plain dict): what each builds, calls and
sends back, and that the helpers' text stands on its own, as it does in the student's kernel."""

import math

import pytest
import torch
import torch.nn as nn
from torchvision.transforms import v2

from autograder.checks.kernel import regularization_stack as helpers
from autograder.checks.regularization_stack import CONFIG_DEFAULTS
from solutions import regularization_stack as reference

S = {name: getattr(reference, name) for name in ("build_train_transform", "build_eval_transform", "param_groups",
                                                  "make_optimizer", "make_criterion", "EarlyStopping",
                                                  "train_one_epoch", "evaluate", "run_sweep")}


def test_the_helpers_text_runs_on_its_own():
    namespace = {"__name__": "reglab_lab_helpers"}
    exec(compile(open(helpers.__file__).read(), "<lab helpers>", "exec"), namespace)  # noqa: S102 - our own module
    assert callable(namespace["sweep_probe"]) and set(namespace["LAYERS"]) == set(helpers.LAYERS)


def test_pipelines_are_described_step_by_step_with_nested_composes_flattened():
    transform = v2.Compose([v2.Compose([v2.ToImage(), v2.RandomCrop(32, padding=4)]),
                            v2.ToDtype(torch.float32, scale=True), v2.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))])
    steps = helpers.describe_pipeline(transform)
    assert [s["kind"] for s in steps] == ["ToImage", "RandomCrop", "ToDtype", "Normalize"]
    assert steps[1]["size"] == [32, 32] and steps[2] == {"kind": "ToDtype", "dtype": "torch.float32", "scale": True}
    assert steps[3]["mean"] == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("shape", [(3, 32, 32), (4, 3, 32, 32)])
def test_transform_probe_builds_from_a_dict_cfg_and_transforms_the_image(shape):
    image = torch.randint(0, 256, shape, dtype=torch.uint8)
    value = helpers.transform_probe(S, image, func="build_train_transform", cfg=CONFIG_DEFAULTS, repeats=2)
    assert [s["kind"] for s in value["steps"]][-1] == "Normalize" and len(value["outputs"]) == 2
    assert all(out.shape == shape and out.dtype == torch.float32 for out in value["outputs"])


def test_hidden_models_nest_tie_and_reuse():
    model = helpers.hidden_model([["a", "block"], ["b", "tied"], ["c", "embedding"], ["d", "same:a"]])
    assert model["d"] is model["a"] and model["b"].decode.weight is model["b"].encode.weight
    names = [n for n, _ in model.named_parameters()]
    assert "a.gain" in names and "a.inner.0.weight" in names and "b.decode.weight" not in names
    assert len(names) < len(list(model.named_parameters(remove_duplicate=False)))


def test_groups_are_described_by_the_models_names():
    model = helpers.hidden_model([["x", "linear"], ["y", "layernorm"]])
    groups = [{"params": [model["x"].weight, torch.zeros(1)], "weight_decay": 0.1}, {"params": model["y"].weight},
              "not a group"]
    assert helpers.describe_groups(model, groups) == [
        {"names": ["x.weight", helpers.NOT_A_PARAMETER], "weight_decay": 0.1, "lr": None},
        {"names": ["y.weight"], "weight_decay": None, "lr": None}, {"not_a_group": "str"}]


def test_groups_and_optimizer_probes_on_the_reference():
    spec = [["p", "conv2d"], ["q", "block"], ["r", "tied"]]
    groups = helpers.groups_probe(S, spec, 0.2)
    assert sorted(groups[0]["names"]) == ["p.weight", "q.inner.0.weight", "r.encode.weight"]
    assert groups[0]["weight_decay"] == 0.2 and groups[1]["weight_decay"] == 0.0
    value = helpers.optimizer_probe(S, {**CONFIG_DEFAULTS, "lr": 0.01, "weight_decay": 0.3})
    assert value["type"] == "AdamW" and value["module"].startswith("torch.optim")
    assert [g["lr"] for g in value["groups"]] == [0.01, 0.01]
    assert [sorted(g["names"]) for g in value["groups"]] == [sorted(g["names"]) for g in value["param_groups"]]


def test_criterion_probe_calls_the_criterion_on_the_arguments():
    logits, labels = torch.randn(6, 4), torch.randint(0, 4, (6,))
    value = helpers.criterion_probe(S, logits, labels, cfg={**CONFIG_DEFAULTS, "label_smoothing": 0.2})
    assert value["module"] is True
    torch.testing.assert_close(value["loss"], nn.functional.cross_entropy(logits, labels, label_smoothing=0.2))


def test_stopping_probe_steps_until_the_first_stop():
    value = helpers.stopping_probe(S, losses=[1.0, 0.5, 0.6, 0.7, 0.4], patience=2)
    assert value == {"flags": [False, False, False, True], "best_epoch": 2, "best_loss": 0.5}
    assert helpers.stopping_probe(S, losses=[1.0, 0.95, 0.9], patience=1, min_delta=0.1)["flags"] == [False, True]


class ShallowStopping(reference.EarlyStopping):
    def step(self, val_loss, model):
        stop = super().step(val_loss, model)
        self.best_state = model.state_dict()          # the live tensors, not a copy
        return stop


@pytest.mark.parametrize("stopper, expected", [(reference.EarlyStopping, 2.0), (ShallowStopping, -1.0)])
def test_restore_probe_reads_back_what_restore_brings(stopper, expected):
    value = helpers.restore_probe({"EarlyStopping": stopper}, losses=[1.0, 0.5, 0.7, 0.8, 0.9], patience=2)
    assert torch.all(value["weight"] == expected) and torch.all(value["bias"] == expected)


def _state(d=5, h=7, k=3):
    return {"0.weight": torch.randn(h, d), "0.bias": torch.randn(h), "1.weight": torch.ones(h),
            "1.bias": torch.zeros(h), "1.running_mean": torch.zeros(h), "1.running_var": torch.ones(h),
            "4.weight": torch.randn(k, h), "4.bias": torch.zeros(k)}


def test_mlp_is_sized_and_loaded_from_its_state():
    state = _state()
    model = helpers.mlp(state, 0.5)
    assert model[0].in_features == 5 and model[4].out_features == 3 and model[3].p == 0.5
    assert torch.equal(model[0].weight, state["0.weight"])


def test_loop_probes_run_the_loops_and_keep_the_thread_count():
    threads, state = torch.get_num_threads(), _state()
    batches = [torch.randn(8, 5), torch.randint(0, 3, (8,)), torch.randn(3, 5), torch.randint(0, 3, (3,))]
    trained = helpers.train_probe(S, *batches, state=state)
    assert isinstance(trained["loss"], float) and not torch.equal(trained["state"]["0.weight"], state["0.weight"])
    value = helpers.evaluate_probe(S, *batches, state=state, smoothing=0.1)
    loss, accuracy = value["result"]
    assert math.isfinite(loss) and 0 <= accuracy <= 1 and torch.equal(value["running_mean"], state["1.running_mean"])
    with pytest.raises(ZeroDivisionError):
        helpers.evaluate_probe({"evaluate": lambda *args: 1 / 0}, *batches, state=state, smoothing=0.0)
    assert torch.get_num_threads() == threads


def test_loaders_serve_fresh_tensors_on_every_pass():
    x, y = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    loader = helpers.Batches([(x, y)])
    for xb, yb in loader:
        xb.add_(1), yb.unsqueeze_(1)
    assert len(loader) == 1 and next(iter(loader))[1].shape == (2,) and torch.equal(x, torch.zeros(2, 3))


def _sweep(S, **changes):
    gen = torch.Generator().manual_seed(0)
    centres, labels = torch.randn(10, 3, 2, 2, generator=gen) * 2, torch.arange(200) % 10
    images = centres[labels] + torch.randn(200, 3, 2, 2, generator=gen) * 0.5
    configs = [{**CONFIG_DEFAULTS, "lr": 0.05, "patience": 2, "min_delta": 10.0, "randaugment": False, "erasing": 0.0},
               {**CONFIG_DEFAULTS, "lr": 0.05, "patience": 50}]
    return helpers.sweep_probe(S, **{"configs": configs, "x_train": list(images[:150].split(50)),
                                     "y_train": list(labels[:150].split(50)), "x_val": images[150:],
                                     "y_val": labels[150:], "max_epochs": 4, "seed": 1, **changes})


def test_sweep_probe_describes_each_row_with_its_cross_checks():
    first, second = _sweep(S)
    assert first["same_config"] and first["restore_works"] and first["scheduler_steps"] == 3
    assert first["replay"] == {"stop": 3, "best_epoch": 1} and len(first["history"]["val_loss"]) == 3
    assert math.isclose(first["model_val"][0], first["history"]["val_loss"][0], rel_tol=1e-5)
    assert second["scheduler_steps"] == 4 and second["model_val_smoothed"][0] != second["model_val"][0]
    assert "model" not in first and "config" not in first


def test_sweep_probe_flags_rows_that_are_not_dicts_and_rows_too_many():
    rows = _sweep({**S, "run_sweep": lambda configs, data, budget: ["a row", {}, {}]})
    assert rows[0] == {"not_a_dict": "str"} and rows[2] == {"extra_row": True}
    assert rows[1]["replay"] is None and rows[1]["model_val"] is None and rows[1]["scheduler_steps"] is None
