"""06f's grading beyond the per-lab invariants of test_lab_examples.py: the messages students
read for each mistake of the bug zoo, the explicit-inverse rule, and the attacks it blocks."""

import pytest

LAB = "06f"


@pytest.fixture(scope="module")
def graded06f(graded):
    return graded(LAB)


def _messages(graded06f, name):
    _, result = graded06f[name]
    return " | ".join(item.message for item in result.items)


@pytest.mark.parametrize("name, words", [
    ("relu_wrong_side", "keeps the negative part of x @ W"),
    ("unscaled_weights", "scale randn by 1 / sqrt(D)"),
    ("global_rng", "seeded alike gave different W"),
    ("normal_equations", "min_norm_least_squares raised"),
    ("ridge_mean_loss", "lam is scaled by N"),
    ("ridge_explicit_inverse", "ridge calls torch._C._linalg.linalg_inv"),
    ("curve_row_keys", "missing width"),
    ("curve_forgets_seed_average", "average the test-set mean squared error over the seeds"),
    ("curve_ignores_lam", "fit with ridge(phi, y, lam) when lam > 0"),
    ("curve_scales_inputs_in_place", "test_error_curve modified its input x_train in place"),
    ("inverse_by_alias", "ridge calls torch._C._linalg.linalg_inv"),
    ("import_solutions", "not defined"),
    ("fake_results", "not a real result"),
])
def test_messages_say_what_to_fix(graded06f, name, words):
    assert words in _messages(graded06f, name)


def test_blank_release_says_not_written_for_every_item(graded06f):
    _, result = graded06f["blank"]
    assert all("not written yet" in item.message for item in result.items), [i.message for i in result.items]


def test_the_import_attack_was_blocked_not_ignored(graded06f):
    _, result = graded06f["import_solutions"]
    assert any("No module named 'solutions'" in p or "ModuleNotFoundError" in p for p in result.problems), result.problems


def test_fake_curve_of_zeros_earns_nothing_from_the_curve_items(graded06f):
    _, result = graded06f["fake_results"]
    curve_items = {item.id: item for item in result.items if item.id.startswith("curve_")}
    assert set(curve_items) == {"curve_rows", "curve_peak", "curve_ridge"}
    assert all(item.points == 0 for item in curve_items.values())
    assert "no peak" in curve_items["curve_ridge"].message


def test_reference_runs_within_the_ci_budget(graded06f, course):
    _, result = graded06f["reference"]
    assert result.seconds < course.lab(LAB).budgets.ci, result.seconds
