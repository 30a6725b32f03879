"""An nbgrader export plugin for LMS gradebooks: one row per student, one column per lab.

    nbgrader export --exporter=autograder.export.LabColumnsExport --to grades.csv
    reglab export --to grades.csv                                   (the same)

Each lab's cell is nbgrader's final score for it: auto and manual grades, less the
late penalty, never below zero (the number formgrader shows). Beside it, ``<lab> notes``
says what the number does not: written answers not yet graded by hand (the score lacks
them, it does not count them as zero) and how late the work was. A lab the student did not
submit is left empty, so an LMS import leaves that grade alone rather than entering a zero;
the ``max`` row gives each lab's points.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

from autograder.report import write_atomically


def rows(gradebook: Gradebook, assignments: list[str] | None = None,
         students: list[str] | None = None) -> list[list[str]]:
    labs = [a for a in sorted(gradebook.assignments, key=lambda a: a.name) if not assignments or a.name in assignments]
    table = [["student_id", "last_name", "first_name", "email",
              *(column for lab in labs for column in (lab.name, f"{lab.name} notes"))],
             ["max", "", "", "", *(cell for lab in labs for cell in (f"{lab.max_score:g}", ""))]]
    for student in sorted(gradebook.students, key=lambda s: s.id):
        if students and student.id not in students:
            continue
        cells = []
        for lab in labs:
            try:
                submission = gradebook.find_submission(lab.name, student.id)
            except MissingEntry:
                cells += ["", ""]
                continue
            cells += [f"{max(0.0, submission.score - submission.late_submission_penalty):g}", _notes(submission)]
        table.append([student.id, student.last_name or "", student.first_name or "", student.email or "", *cells])
    return table


def _notes(submission) -> str:
    """What a lab's score does not say: written answers still to grade by hand, and lateness."""
    notes = []
    waiting = sum(1 for notebook in submission.notebooks for grade in notebook.grades if grade.needs_manual_grade)
    if waiting:
        notes.append(f"{waiting} answer(s) not graded by hand yet; the score lacks them")
    if submission.late_submission_penalty:
        notes.append(f"late by {submission.total_seconds_late / 3600:.1f} h: "
                     f"{submission.late_submission_penalty:g} point(s) taken")
    return "; ".join(notes)


class LabColumnsExport(ExportPlugin):
    """CSV with one row per student and one column per assignment (lab)."""

    def export(self, gradebook: Gradebook) -> None:
        text = io.StringIO()
        csv.writer(text).writerows(rows(gradebook, [str(a) for a in self.assignment] or None,
                                        [str(s) for s in self.student] or None))
        write_atomically(Path(self.to or "grades.csv"), text.getvalue())
