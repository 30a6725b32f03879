"""A real class of 06b, graded as a TA would: one student submits another lab's notebook, one has two
notebooks, one is 3 hours late with an extension and one without, one has a function that never
returns. Nobody stops the class, everybody else's grade is what it would be alone, and each of
them hears what happened, in the report, the class table, the feedback page, the gradebook and the
export.
"""

import csv
import datetime as dt
import json
import re

import nbformat
import pytest

from autograder import report
from autograder.classroom import from_submitted, grade_class, publish
from autograder.execute import PROBE_SLACK_S
from autograder.grade import GradeResult
from reglab import config
from reglab.examples import examples

LIMITS = {"probe_timeout_s": 10, "cell_timeout_s": 60, "submission_timeout_s": 300}


@pytest.fixture(scope="module")
def graded_class(course, lab06b, tmp_path_factory):
    import shutil

    from reglab.release import nbgrader
    root = tmp_path_factory.mktemp("course")
    shutil.copy(config.ROOT / "nbgrader_config.py", root)
    shutil.copytree(config.ROOT / "source" / lab06b.id, root / "source" / lab06b.id)
    nbgrader("generate_assignment", lab06b.id, "--force", cwd=root)      # no `reglab publish`: no due date set
    grading = course.grading.model_copy(update=LIMITS)
    extension = config.Extension(student="dave", lab="06b", hours=72, why="accommodation")
    course = course.model_copy(update={"grading": grading, "extensions": [extension]})

    by_name = {e.name: e.notebook for e in examples(lab06b)}
    other_lab = examples(course.lab("06c"))[0].notebook                  # 06c's reference
    looping = nbformat.from_dict(by_name["reference"])
    for cell in looping.cells:
        cell.source = re.sub(r"(def batchnorm_backward\(.*?\):\n)", r"\1    while True:\n        pass\n", cell.source,
                             count=1)
    folders = {"alice": {f"{lab06b.id}.ipynb": by_name["reference"]},
               "bob": {f"{lab06b.id}.ipynb": other_lab},
               "carol": {f"{lab06b.id}.ipynb": by_name["blank"], f"{lab06b.id} (1).ipynb": by_name["reference"]},
               "dave": {f"{lab06b.id}.ipynb": by_name["reference"]},
               "erin": {f"{lab06b.id}.ipynb": by_name["reference"]},
               "frank": {f"{lab06b.id}.ipynb": looping}}
    for student, files in folders.items():
        folder = root / "submitted" / student / lab06b.id
        folder.mkdir(parents=True)
        for name, notebook in files.items():
            nbformat.write(notebook, folder / name)
        hours = 3 if student in ("dave", "erin") else -1
        stamp = (lab06b.due + dt.timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        (folder / "timestamp.txt").write_text(stamp)
    found, refused = from_submitted(root / "submitted", lab06b)
    assert not refused
    out = root / "grades" / lab06b.id
    run = grade_class(lab06b, course, found, out, progress=False, root=root)
    assert not run.failed, run.failed
    assert publish(lab06b, course, found, out, root) == len(folders)
    nbgrader("export", "--exporter=autograder.export.LabColumnsExport", f"--to={root / 'grades.csv'}", cwd=root)
    results = {s.student: GradeResult.from_json(json.loads((out / f"{s.student}.json").read_text())) for s in found}
    rows = [(student, result, "; ".join(result.problems[:1])) for student, result in results.items()]
    with open(root / "grades.csv") as handle:
        exported = {row["student_id"]: row for row in csv.DictReader(handle)}
    return root, results, report.table(rows), exported


def test_everyone_else_is_graded_as_if_alone(graded_class):
    _, results, table, _ = graded_class
    for student in ("alice", "dave", "erin"):
        assert results[student].points == results[student].max_points, results[student].items
    assert "alice" in table and "frank" in table and "bob" in table


def test_another_labs_notebook_is_named_as_such(graded_class):
    _, results, table, _ = graded_class
    bob = results["bob"]
    assert bob.points == 0 and bob.sandbox == "not run"
    assert "06c-dropout's notebook" in bob.problems[0], bob.problems
    assert sum("06c-dropout" in item.message for item in bob.items) == 0      # said once, not per item
    assert "none" not in report.readable(bob)


def test_two_notebooks_of_the_lab_are_refused_naming_both(graded_class):
    carol = graded_class[1]["carol"]
    assert carol.points == 0
    assert "(1).ipynb" in carol.problems[0] and "submit exactly one" in carol.problems[0]
    assert "/" not in carol.problems[0]                                        # no server path


def test_lateness_is_decided_by_the_class_grader_with_extensions(graded_class):
    root, results, table, exported = graded_class
    dave, erin = results["dave"].late, results["erin"].late
    assert dave["hours_late"] == 0 and dave["extension_hours"] == 72
    assert erin["hours_late"] == pytest.approx(3.0, abs=0.01) and erin["penalty_percent"] == 6
    assert "late 3.0 h (-6%)" in table
    assert "3.0 h late" in report.readable(results["erin"])
    page = (root / "feedback" / "erin" / "06b-batchnorm-by-hand" / "hidden-checks.html").read_text()
    assert "3.0 h late" in page
    lab = "06b-batchnorm-by-hand"
    assert float(exported["erin"][lab]) < float(exported["dave"][lab])          # nbgrader charged the late work
    assert "late by 3.0 h" in exported["erin"][f"{lab} notes"]
    assert "not graded by hand yet" in exported["alice"][f"{lab} notes"]


def test_a_function_that_never_returns_costs_one_probe_timeout(graded_class):
    _, results, _, _ = graded_class
    frank, alice = results["frank"], results["alice"]
    lost = {item.id for item in frank.items if item.points < item.max_points}
    assert "backward_staged" in lost and "forward_train" not in lost
    assert any("did not return" in item.message for item in frank.items)
    budget = LIMITS["probe_timeout_s"] + PROBE_SLACK_S + 10
    assert frank.seconds - alice.seconds <= budget + 30, (frank.seconds, alice.seconds)   # 30 s: a new kernel
