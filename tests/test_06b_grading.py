"""06b's grading beyond the per-lab invariants of test_lab_examples.py: its kernel helper, checks that keep
nothing between planning and judging, the attacks it blocks, re-grades, the JSON result, and submissions that
are not notebooks. (What each bug and hostile example is told is in examples/06b: ``says``.)"""

import json

import pytest
import torch

from autograder import report
from autograder.checks.kernel import batchnorm as helpers
from autograder.grade import SubmissionError, grade_submission
from solutions import batchnorm as reference

LAB = "06b"


def test_backward_on_cache_returns_the_gradients_and_the_cache_before_and_after():
    x, gamma = torch.randn(6, 3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    _, cache = reference.batchnorm_forward(x, gamma, torch.zeros(3, dtype=torch.float64), torch.zeros(3), torch.ones(3))
    dout = torch.randn(6, 3, dtype=torch.float64)
    grads, before, after = helpers.backward_on_cache(vars(reference), "batchnorm_backward", dout, cache)
    assert all(torch.equal(a, b) for a, b in zip(grads, reference.batchnorm_backward(dout, cache)))
    assert len(before) == len(after) == 5 and all(torch.equal(a, b) for a, b in zip(before, after))

    def overwrites(dout, cache):
        cache["x_hat"].mul_(2)
        return dout, dout, dout
    cache = {"x_hat": x.clone(), "eps": 1e-5, "n": [x]}
    _, before, after = helpers.backward_on_cache({"f": overwrites}, "f", dout, cache)
    assert len(before) == 2 and not torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])


def test_the_import_attack_was_blocked_not_ignored(graded06b):
    _, result = graded06b["import_solutions"]
    problems = result.problems
    assert any("No module named 'solutions'" in p or "ModuleNotFoundError" in p for p in problems), problems


def test_regrade_is_deterministic_and_seed_follows_the_file(graded06b, course, lab06b, tmp_path):
    example, first = graded06b["wrong_axis"]
    path = tmp_path / "again.ipynb"
    import nbformat
    nbformat.write(example.notebook, path)
    again = grade_submission(path, lab06b, course)
    assert again.seed == first.seed and again.sha256 == first.sha256
    assert [(i.id, i.points, i.message) for i in again.items] == [(i.id, i.points, i.message) for i in first.items]
    assert graded06b["reference"][1].seed != first.seed


def test_json_result_has_per_item_fields(graded06b, tmp_path):
    _, result = graded06b["biased_running_var"]
    json_path, text_path = report.write(result, tmp_path, "alice")
    data = json.loads(json_path.read_text())
    assert data["points"] == 12 and data["max_points"] == 14
    item = next(i for i in data["items"] if i["id"] == "running_stats")
    assert item == {"id": "running_stats", "title": item["title"], "functions": ["batchnorm_forward"],
                    "points": 0.0, "max_points": 2, "message": item["message"]}
    assert "FAIL running_stats" in text_path.read_text()


@pytest.mark.parametrize("content, words", [
    (b"{not json", "not a valid Jupyter notebook"),
    (b"", "not a valid Jupyter notebook"),
    (b'{"nbformat": 3, "cells": []}', "not a valid Jupyter notebook"),
    (b"\xff\xfe\x00", "not a text file"),
])
def test_unreadable_notebook_is_refused_with_a_clear_error(course, lab06b, tmp_path, content, words):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    with pytest.raises(SubmissionError, match=words):
        grade_submission(path, lab06b, course)


def test_an_empty_folder_is_refused_without_its_path(course, lab06b, tmp_path):
    with pytest.raises(SubmissionError, match="no notebook was submitted") as refused:
        grade_submission(tmp_path, lab06b, course)
    assert str(tmp_path) not in str(refused.value)


def test_a_notebook_over_the_size_cap_is_refused_unread(course, lab06b, tmp_path):
    path = tmp_path / f"{lab06b.id}.ipynb"
    path.write_bytes(b" " * (2 * 2**20))
    small = course.model_copy(update={"grading": course.grading.model_copy(update={"max_notebook_mb": 1})})
    with pytest.raises(SubmissionError, match="larger than 1 MB"):
        grade_submission(path, lab06b, small)
