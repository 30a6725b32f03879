"""06b's grading beyond the per-lab invariants of test_lab_examples.py: its messages, the
attacks it blocks, re-grades, the JSON result, and submissions that are not notebooks."""

import json

import pytest

from autograder import report
from autograder.grade import SubmissionError, grade_submission

LAB = "06b"


@pytest.mark.parametrize("name, words", [
    ("biased_running_var", "running_var uses the biased batch variance"),
    ("eps_outside_sqrt", "eps is added outside the square root"),
    ("momentum_reversed", "momentum is the other way round"),
    ("eval_uses_batch_stats", "eval mode"),
    ("inplace_x", "modified its input x in place"),
    ("inplace_dout", "modified dout in place"),
    ("missing_dgamma_sum", "sum it over the batch"),
    ("autograd_in_backward", "autograd.grad"),
    ("library_batchnorm", "batchnorm_forward calls torch.nn.functional.batch_norm"),
    ("import_solutions", "not defined"),
    ("always_equal", "AlwaysEqual"),
])
def test_messages_say_what_to_fix(graded06b, name, words):
    _, result = graded06b[name]
    messages = " | ".join(item.message for item in result.items)
    assert words in messages, messages


def test_the_import_attack_was_blocked_not_ignored(graded06b):
    _, result = graded06b["import_solutions"]
    assert any("No module named 'solutions'" in p or "ModuleNotFoundError" in p for p in result.problems), result.problems


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
