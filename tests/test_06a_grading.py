"""06a's grading beyond the per-lab invariants of test_lab_examples.py: the messages students read,
the profiles reaching the notebook, and the attacks it blocks."""

import nbformat
import pytest
import yaml

from autograder import harness, probes
from autograder.checks.base import Context
from autograder.grade import plan, score
from reglab import build
from reglab.config import ROOT
from reglab.examples import _reference_code

LAB = "06a"


@pytest.fixture(scope="module")
def graded06a(graded):
    return graded(LAB)


MESSAGES = {
    "randaugment_after_to_float": "put them before the conversion to float",
    "eval_with_flip": "evaluation must be deterministic",
    "decay_by_ndim": "embeddings do not decay",
    "adam_not_adamw": "use torch.optim.AdamW",
    "smoothing_fixed": "label_smoothing=cfg.label_smoothing",
    "patience_off_by_one": "one epoch late",
    "shallow_state_copy": "left the model's current weights",
    "no_zero_grad": "optimizer.zero_grad()",
    "evaluate_in_train_mode": "call model.eval()",
    "sweep_without_restore": "stopper.restore(model)",
    "schedule_never_stepped": "call scheduler.step() once per epoch",
    # extra_bugs.yml, graded in-process
    "erasing_always_on": "adds RandomErasing when cfg.erasing is 0",
    "unscaled_to_float": "ToDtype(torch.float32, scale=True)",
    "randaugment_fixed_settings": "cfg.num_ops and cfg.magnitude",
    "decay_everything_but_biases": "normalization parameters do not decay",
    "no_decay_group_without_key": "default decay of 0.01",
    "optimizer_ignores_groups": "differ from param_groups",
    "tie_counts_as_improvement": "strictly lower",
    "train_loss_mean_of_batches": "weight each by its batch size",
    "accuracy_in_percent": "fraction of correct predictions",
    "sweep_validates_with_smoothing": "plain nn.CrossEntropyLoss()",
}
EXTRA = yaml.safe_load((ROOT / "examples" / LAB / "extra_bugs.yml").read_text())


@pytest.mark.parametrize("name", [b["name"] for b in yaml.safe_load((ROOT / "examples" / LAB / "bugs.yml").read_text())])
def test_messages_say_what_to_fix(graded06a, name):
    _, result = graded06a[name]
    messages = " | ".join(item.message for item in result.items)
    assert MESSAGES[name] in messages, messages


@pytest.mark.parametrize("bug", EXTRA, ids=[b["name"] for b in EXTRA])
def test_extra_bugs_lose_their_item_with_a_message_that_says_what_to_fix(course, bug, tmp_path):
    """More mistakes than the kernel-graded zoo, each graded in-process on three seeds."""
    lab = course.lab(LAB)
    names = ["build_train_transform", "build_eval_transform", "param_groups", "make_optimizer", "make_criterion",
             "EarlyStopping", "train_one_epoch", "evaluate", "run_sweep"]
    namespace = {}
    exec(compile(_reference_code(lab, names, bug), bug["name"], "exec"), namespace)  # noqa: S102 - our own examples
    for seed in range(3):
        checks, item_calls = plan(lab, seed)
        calls = [call for group in item_calls.values() for call in group]
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        probes.write_plan(calls, folder / "plan.pt", "cpu", 10)
        harness.run_probes(str(folder / "plan.pt"), str(folder), namespace)
        results = score(checks, item_calls, probes.read_outcomes(calls, folder),
                        Context("cpu", course.grading.tolerances["cpu"]))
        lost = {r.id: r.message for r in results if r.points < r.max_points}
        assert set(lost) == {bug["loses"]}, lost
        assert MESSAGES[bug["name"]] in lost[bug["loses"]], lost


def test_the_import_attack_was_blocked_not_ignored(graded06a):
    _, result = graded06a["import_solutions"]
    assert any("No module named 'solutions'" in p or "ModuleNotFoundError" in p for p in result.problems), result.problems


def test_reference_runs_in_the_ci_profile_on_generated_images(graded06a):
    _, result = graded06a["reference"]
    assert "profile ci: " in result.printout and "generated images" in result.printout, result.printout[:500]
    assert "run_sweep: OK" in result.printout


def test_the_release_carries_the_profiles_of_course_yml(course):
    lab = course.lab(LAB)
    cells = nbformat.read(build.release_path(lab), as_version=4).cells
    namespace = {}
    exec(next(c.source for c in cells if c.source.lstrip().startswith("# Written by the build")), namespace)  # noqa: S102
    assert namespace["PROFILES"] == {name: dict(settings) for name, settings in lab.profiles.items()}
