"""Grades into nbgrader's gradebook, so formgrader shows the hidden checks' points beside the
written answers a TA grades by hand.

    record(lab, [(student, result, submission_path, notebook_as_it_ran_or_None), ...], root)

Per student this writes what ``nbgrader autograde`` would have: the student and submission
rows (timestamp from the submission's ``timestamp.txt``), an auto score on each self-check
grade cell (one per hidden-check item, same id), written answers left for manual grading,
a comment on each solution cell with the messages of the items that check it, nbgrader's
own late penalty (``AssignLatePenalties`` with the plugin configured in nbgrader_config.py),
and the notebook formgrader opens, ``autograded/<student>/<lab>/<lab>.ipynb``. Recording
the same results again changes nothing, and a TA's manual scores are kept.
"""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from pathlib import Path

import nbformat

from autograder.grade import GradeResult
from autograder.lateness import TIMESTAMP, submission_time
from autograder.report import write_atomically
from reglab.config import ROOT, Lab


class GradebookError(RuntimeError):
    pass


def database_url(root: Path = ROOT) -> str:
    return f"sqlite:///{root / 'gradebook.db'}"


def _nbgrader_config(root: Path):
    from traitlets.config.loader import PyFileConfigLoader
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def _folder(submission: Path) -> Path:
    """The student's ``submitted/<student>/<lab>/`` folder, from the notebook (or the folder itself)."""
    return submission if submission.is_dir() else submission.parent


def _comment(result: GradeResult, function: str) -> str | None:
    lines = [f"{item.id} {item.points:g}/{item.max_points:g}: {item.message}"
             for item in result.items if function in item.functions]
    return ("Hidden checks of " + function + ":\n" + "\n".join(lines)) if lines else None


def autograded_notebook(lab: Lab, ran: Path | None) -> nbformat.NotebookNode:
    """The submission as formgrader shows it: the notebook the class grader kept (as it ran, or a
    refused one restored: the release's cells with the student's answers in), else the blank release
    (a folder with no notebook to grade, a file that is not a notebook)."""
    return nbformat.read(ran if ran is not None else lab.release_path, as_version=4)


def record(lab: Lab, graded: list[tuple[str, GradeResult, Path, Path | None]], root: Path = ROOT) -> int:
    """Write each (student, result, submission notebook, the notebook as it ran or None) into ``root``'s
    gradebook; returns how many. Formgrader shows the notebook as it ran (with the plots written
    questions refer to) where there is one."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.preprocessors import AssignLatePenalties
    from nbgrader.utils import compute_checksum
    from sqlalchemy.exc import SAWarning

    penalties = AssignLatePenalties(config=_nbgrader_config(root))
    notebook_id = lab.id
    with Gradebook(database_url(root)) as gradebook:
        try:
            assignment = gradebook.find_assignment(lab.id)
        except MissingEntry:
            raise GradebookError(f"{lab.id} is not in {root / 'gradebook.db'}: release it first "
                                 f"(reglab release --lab {lab.short}, or reglab publish)") from None
        # The due date comes from course.yml whether or not `reglab publish` ran: late work is always charged.
        gradebook.update_or_create_assignment(lab.id, duedate=lab.due)
        cells = {cell.name for notebook in assignment.notebooks for cell in notebook.grade_cells}
        comments = {cell.name for notebook in assignment.notebooks for cell in notebook.solution_cells}
        for student, result, submission, ran in graded:
            gradebook.update_or_create_student(student)
            stamp = submission_time(_folder(submission))
            extension = dt.timedelta(hours=(result.late or {}).get("extension_hours", 0.0))
            with warnings.catch_warnings():
                # nbgrader's add_submission builds its rows under autoflush; nbgrader autograde warns the same
                warnings.filterwarnings("ignore", "Object of type <Submitted", SAWarning)
                gradebook.update_or_create_submission(lab.id, student, extension=extension or None,
                                                      **({"timestamp": stamp} if stamp else {}))
            nb = autograded_notebook(lab, ran)
            scores = {item.id: item.points for item in result.items}
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                grade_id = meta.get("grade_id")
                if meta.get("grade") and grade_id in cells:
                    grade = gradebook.find_grade(grade_id, notebook_id, lab.id, student)
                    grade.auto_score = scores.get(grade_id)        # None for a written answer
                    grade.needs_manual_grade = grade.auto_score is None or grade.manual_score is not None
                if meta.get("solution") and grade_id in comments:
                    comment = gradebook.find_comment(grade_id, notebook_id, lab.id, student)
                    unanswered = meta.get("checksum") == compute_checksum(cell)
                    function = grade_id.removeprefix("solution_")
                    comment.auto_comment = "No response." if unanswered else _comment(result, function)
            gradebook.db.commit()
            write_atomically(root / "autograded" / student / lab.id / f"{notebook_id}.ipynb", nbformat.writes(nb))
            if stamp:
                shutil.copy2(_folder(submission) / TIMESTAMP, root / "autograded" / student / lab.id)
    for student, *_ in graded:        # each in a gradebook session of nbgrader's own
        resources = {"nbgrader": {"notebook": notebook_id, "assignment": lab.id, "student": student,
                                  "db_url": database_url(root)}}
        penalties.preprocess(nbformat.v4.new_notebook(), resources)
    return len(graded)
