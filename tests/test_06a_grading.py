"""06a's grading beyond the per-lab invariants of test_lab_examples.py: more mistakes graded in-process, items
that keep nothing between planning and judging, the hidden models' structures, the profiles reaching the
notebook, and the attacks it blocks."""

import nbformat
import pytest
import yaml

from autograder.checks.kernel import regularization_stack as helpers
from autograder.grade import grade_in_process, plan
from reglab.config import ROOT
from reglab.examples import _reference_code

LAB = "06a"
NAMES = ["build_train_transform", "build_eval_transform", "param_groups", "make_optimizer", "make_criterion",
         "EarlyStopping", "train_one_epoch", "evaluate", "run_sweep"]


EXTRA = yaml.safe_load((ROOT / "examples" / LAB / "extra_bugs.yml").read_text())
BUGS = yaml.safe_load((ROOT / "examples" / LAB / "bugs.yml").read_text())


@pytest.fixture(scope="module")
def graded06a(graded):
    return graded(LAB)


def _functions(course, bug=None) -> dict:
    """The reference's functions, with ``bug``'s patch applied if given, defined in a fresh namespace."""
    import torchvision.transforms.v2  # noqa: F401 - imported here, not inside the first probe's time limit

    namespace = {}
    code = _reference_code(course.lab(LAB), NAMES, bug)
    exec(compile(code, bug["name"] if bug else "reference", "exec"), namespace)  # noqa: S102 - our own examples
    return namespace


@pytest.mark.parametrize("bug", EXTRA, ids=[b["name"] for b in EXTRA])
def test_extra_bugs_lose_their_item_with_a_message_that_says_what_to_fix(course, bug, tmp_path):
    """More mistakes than the kernel-graded zoo, each graded in-process on three seeds."""
    for seed in range(3):
        results = grade_in_process(_functions(course, bug), course.lab(LAB), course, seed, tmp_path / f"seed{seed}")
        lost = {r.id: r.message for r in results if r.points < r.max_points}
        assert set(lost) == {bug["loses"]}, lost
        assert bug["says"] in lost[bug["loses"]], lost


def test_hidden_models_have_the_structures_plain_stacks_lack(course):
    """Each param_groups model holds an embedding, a nested block with a parameter of its own, a weight tied
    between two layers and a layer registered twice."""
    _, item_calls = plan(course.lab(LAB), 0)
    for call in item_calls["param_groups"]:
        spec, _ = call.args
        kinds = [kind for _, kind in spec]
        assert {"block", "tied", "embedding"} <= set(kinds) and any(k.startswith("same:") for k in kinds), kinds
        model = helpers.hidden_model(spec)
        assert len(list(model.named_parameters())) < len(list(model.named_parameters(remove_duplicate=False)))


def test_the_import_attack_was_blocked_not_ignored(graded06a):
    _, result = graded06a["import_solutions"]
    assert any("No module named 'solutions'" in p or "ModuleNotFoundError" in p
               for p in result.problems), result.problems


def test_reference_runs_in_the_ci_profile_on_generated_images(graded06a):
    _, result = graded06a["reference"]
    assert "profile ci: " in result.printout and "generated images" in result.printout, result.printout[:500]
    assert "run_sweep: OK" in result.printout


def test_the_release_carries_the_profiles_of_course_yml(course):
    lab = course.lab(LAB)
    cells = nbformat.read(lab.release_path, as_version=4).cells
    namespace = {}
    cell = next(c.source for c in cells if c.source.lstrip().startswith("# Written by the build"))
    exec(cell, namespace)  # noqa: S102 - the release's own cell
    assert namespace["PROFILES"] == {name: dict(settings) for name, settings in lab.profiles.items()}
