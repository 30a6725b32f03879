"""06f's grading beyond the per-lab invariants of test_lab_examples.py (where each bug's `says:` words are
checked): the attacks the rules block, the systems both least-squares functions meet, and judging that keeps no
state between plan and verdict."""

import pytest
import torch

from autograder import grade
from autograder.checks import double_descent

LAB = "06f"


@pytest.fixture(scope="module")
def graded06f(graded):
    return graded(LAB)


def test_blank_release_says_not_written_for_every_item(graded06f):
    _, result = graded06f["blank"]
    assert all("not written yet" in item.message for item in result.items), [i.message for i in result.items]


def test_the_import_attack_was_blocked_not_ignored(graded06f):
    _, result = graded06f["import_solutions"]
    blocked = ("No module named 'solutions'", "ModuleNotFoundError")
    assert any(words in p for p in result.problems for words in blocked), result.problems


def test_fake_curve_of_zeros_earns_nothing_from_the_curve_items(graded06f):
    _, result = graded06f["fake_results"]
    curve_items = {item.id: item for item in result.items if item.id.startswith("curve_")}
    assert set(curve_items) == {"curve_rows", "curve_peak", "curve_ridge"}
    assert all(item.points == 0 for item in curve_items.values())
    assert "no peak" in curve_items["curve_ridge"].message


def test_reference_runs_within_the_ci_budget(graded06f, course):
    _, result = graded06f["reference"]
    assert result.seconds < course.lab(LAB).budgets.ci, result.seconds


def _kind(phi, y):
    n, p = phi.shape
    shape = "under" if p < n else "over" if p > n else "square"
    deficient = int(torch.linalg.matrix_rank(phi.double())) < min(n, p)
    return shape, y.dim() == 2, phi.dtype, deficient


def test_both_least_squares_functions_meet_every_declared_system(course):
    _, item_calls = grade.plan(course.lab(LAB), 0)
    for item in ("min_norm", "ridge"):
        assert [_kind(*call.args[:2]) for call in item_calls[item]] == list(double_descent.SYSTEMS), item
    immutability = [call.args[1].dim() for call in item_calls["immutability"]
                    if call.func in (double_descent.MIN_NORM, double_descent.RIDGE)]
    assert sorted(immutability) == [1, 1, 2, 2]            # y of shape (N,) and (N, K), in both functions
