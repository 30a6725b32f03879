"""Results into the tools TAs use: nbgrader's gradebook (formgrader), the LMS CSV export."""

import csv
import shutil

import nbformat
import pytest

from autograder import gradebook
from autograder.classroom import from_submitted, publish
from reglab.config import ROOT
from reglab.release import nbgrader

STUDENTS = ("alice", "bob", "carol")

@pytest.fixture(scope="module")
def course_dir(tmp_path_factory, graded_course):
    return graded_course(tmp_path_factory.mktemp("course"))


def _notebook(root, lab, student):
    from nbgrader.api import Gradebook
    with Gradebook(gradebook.database_url(root)) as book:
        nb = book.find_submission_notebook(lab.id, lab.id, student)
        grades = {g.name: (g.auto_score, g.manual_score, g.needs_manual_grade) for g in nb.grades}
        comments = {c.name: c.auto_comment for c in nb.comments}
        return grades, comments, nb.late_submission_penalty, nb.score


def test_auto_scores_land_on_the_self_check_cells_and_written_answers_wait_for_a_ta(course_dir, lab06b):
    grades, comments, _, score = _notebook(course_dir, lab06b, "alice")
    assert grades["forward_train"] == (3, None, False) and grades["backward_fast"] == (3, None, False)
    assert grades["q_small_batch"] == (None, None, True) and grades["q_eval_mode"] == (None, None, True)
    assert score == 14
    assert "forward_train 3/3: correct" in comments["solution_batchnorm_forward"]
    grades, comments, _, score = _notebook(course_dir, lab06b, "bob")
    assert score == 0 and all(auto in (0, None) for auto, _, _ in grades.values())
    assert comments["solution_batchnorm_forward"] == "No response."
    assert comments["q_small_batch"] == "No response."


def test_the_late_submission_loses_what_nbgrader_config_says(course_dir, lab06b):
    _, _, penalty, score = _notebook(course_dir, lab06b, "carol")
    assert score == 12
    assert penalty == pytest.approx(12 * 0.10)    # 5 started hours after the 15-minute grace, 2% each
    assert not _notebook(course_dir, lab06b, "alice")[2]            # on time: no penalty (nbgrader writes None)


def test_formgrader_has_each_autograded_notebook_with_the_students_answers(course_dir, lab06b):
    for student in STUDENTS:
        path = course_dir / "autograded" / student / lab06b.id / f"{lab06b.id}.ipynb"
        nb = nbformat.read(path, as_version=4)
        assert (path.parent / "timestamp.txt").is_file()
        sources = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
        if student == "alice":
            assert "running_mean.mul_(1 - momentum)" in sources["solution_batchnorm_forward"]
        else:
            assert "YOUR ANSWER HERE" in sources["q_small_batch"] or student == "carol"


def test_lms_export_has_one_row_per_student_and_one_column_per_lab(course_dir, lab06b, tmp_path):
    to = tmp_path / "grades.csv"
    nbgrader("export", "--exporter=autograder.export.LabColumnsExport", f"--to={to}", cwd=course_dir)
    rows = list(csv.reader(to.open()))
    assert rows[0] == ["student_id", "last_name", "first_name", "email", lab06b.id, f"{lab06b.id} notes"]
    assert rows[1] == ["max", "", "", "", "18", ""]
    by_student = {row[0]: row[4] for row in rows[2:]}
    assert by_student == {"alice": "14", "bob": "0", "carol": f"{12 - 1.2:g}"}
    notes = {row[0]: row[5] for row in rows[2:]}
    assert "late by 5.0 h" in notes["carol"] and "late" not in notes["alice"]
    assert all("2 answer(s) not graded by hand yet" in note for note in notes.values())


def test_recording_again_keeps_a_tas_manual_score(course_dir, course, lab06b):
    from nbgrader.api import Gradebook
    with Gradebook(gradebook.database_url(course_dir)) as book:
        book.find_grade("q_small_batch", lab06b.id, lab06b.id, "alice").manual_score = 2
        book.db.commit()
    found, _ = from_submitted(course_dir / "submitted", lab06b)
    publish(lab06b, course, found, course_dir / "grades" / lab06b.id, course_dir)
    grades, _, _, score = _notebook(course_dir, lab06b, "alice")
    assert grades["q_small_batch"][1] == 2 and score == 16


def test_a_lab_missing_from_the_gradebook_says_how_to_release_it(tmp_path, lab06b):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    with pytest.raises(gradebook.GradebookError, match="reglab release --lab 06b"):
        gradebook.record(lab06b, [], tmp_path)
