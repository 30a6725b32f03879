"""Grade a whole class: from nbgrader's ``submitted/<student>/<lab>/`` or an LMS zip, on local
workers or a Dask cluster, resumable, one result file per student.

    run = grade_class(lab, course, submissions, out_dir, workers=2)

Each student's result is ``<out_dir>/<student>.json`` (and ``.txt``, and the notebook as
it ran, ``.ipynb``, for formgrader), written atomically by this process once the grading
is done. A run that is killed at any point (SIGKILL included) loses only the gradings in
flight: started again, it skips every student whose result already matches the
submission's sha256, so each submission ends graded exactly once.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
from tqdm import tqdm

from autograder import feedback, report
from autograder import gradebook as nbgrader_gradebook
from autograder.cluster import run_on_dask
from autograder.grade import GradeResult, grade_or_refuse, grader_version, refusal
from autograder.lateness import lateness
from autograder.report import write_atomically
from autograder.submission import SubmissionError, find_notebook
from reglab.config import ROOT, CourseConfig, Lab

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MAX_NOTEBOOK_BYTES = 50 * 2**20       # a zip entry larger than this is refused (zip bombs)


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path                  # the notebook, or the student's folder when ``problem`` is set
    sha256: str                 # of the notebook (of the problem's text when there is no notebook)
    problem: str | None = None  # why there is nothing to run: graded zero, with this message
    notes: tuple[str, ...] = () # what the student hears about the folder: which file was graded, which left aside

    @property
    def folder(self) -> Path:
        """The student's ``submitted/<student>/<lab>/`` folder (where nbgrader's timestamp.txt is)."""
        return self.path if self.path.is_dir() else self.path.parent


@dataclass
class ClassRun:
    graded: list[str] = field(default_factory=list)       # students graded in this run
    skipped: list[str] = field(default_factory=list)      # already graded, unchanged
    failed: dict[str, str] = field(default_factory=dict)  # student -> why the grader itself failed


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_student_id(raw: str) -> str | None:
    """None if ``raw`` is a safe student id (letters, digits, . _ @ -), else why not."""
    if STUDENT_ID.match(raw) and raw not in (".", ".."):
        return None
    return f"student id {raw!r} is not allowed: use letters, digits, '.', '_', '@' and '-' (at most 64)"


def from_submitted(submitted: Path, lab: Lab) -> tuple[list[Submission], list[str]]:
    """Submissions in nbgrader's layout, ``<submitted>/<student>/<lab id>/<notebook>.ipynb``; returns
    (submissions, folders refused with why). A folder with no notebook, or several, is a submission
    graded zero with that reason, so the student hears of it."""
    if not submitted.is_dir():
        raise FileNotFoundError(f"{submitted}: no such folder; expected nbgrader's submitted/<student>/{lab.id}/")
    found, refused = [], []
    for folder in sorted(submitted.iterdir()):
        if not folder.is_dir() or folder.is_symlink():
            continue
        problem = check_student_id(folder.name)
        if problem:
            refused.append(f"{folder}: {problem}")
            continue
        lab_folder = folder / lab.id
        if not lab_folder.is_dir():
            continue
        try:
            notebook = find_notebook(lab_folder, lab)
            if lab_folder.is_symlink() or notebook.path.is_symlink():
                raise SubmissionError(f"{notebook.path.name} is a link, not a file; submit the notebook itself")
        except SubmissionError as exc:
            found.append(Submission(folder.name, lab_folder, _sha256(str(exc).encode()), problem=str(exc)))
            continue
        found.append(Submission(folder.name, notebook.path, _sha256(notebook.path.read_bytes()),
                                notes=tuple(notebook.notes)))
    return found, refused


def _zip_student(name: str) -> tuple[str | None, str | None]:
    """(student, None) from an LMS zip entry name, or (None, why it is refused).

    Entries in folders name the student by the first folder (``alice/06b.ipynb``);
    flat entries by the text before the first underscore (``alice_12345_06b.ipynb``).
    """
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        return None, f"zip entry {name!r}: absolute paths and '..' are not allowed"
    raw = path.parts[0] if len(path.parts) > 1 else path.name.split("_", 1)[0].removesuffix(".ipynb")
    problem = check_student_id(raw)
    return (None, f"zip entry {name!r}: {problem}") if problem else (raw, None)


def import_zip(archive: Path, lab: Lab, submitted: Path) -> tuple[list[str], list[str]]:
    """Copy the notebooks of an LMS zip into ``<submitted>/<student>/<lab id>/<lab id>.ipynb``.

    Names are never used as paths: each entry's student id is checked and the
    file is written under a name made here. A different earlier submission is
    kept as ``.previous/<sha256 prefix>.ipynb``, never overwritten. Returns
    (students imported, entries refused with why).
    """
    imported, refused, chosen = [], [], {}
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            if info.is_dir() or not info.filename.endswith(".ipynb") or "__MACOSX" in info.filename \
                    or ".ipynb_checkpoints" in info.filename:
                continue
            student, problem = _zip_student(info.filename)
            if problem:
                refused.append(problem)
            elif info.file_size > MAX_NOTEBOOK_BYTES:
                refused.append(f"zip entry {info.filename!r}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
            elif student in chosen:
                refused.append(f"zip entry {info.filename!r}: a second notebook for {student}; "
                               f"kept {chosen[student]!r}")
            else:
                chosen[student] = info.filename
        for student, name in chosen.items():
            with bundle.open(name) as handle:
                data = handle.read(MAX_NOTEBOOK_BYTES + 1)   # the header's size may lie
            if len(data) > MAX_NOTEBOOK_BYTES:
                refused.append(f"zip entry {name!r}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
                continue
            target = submitted / student / lab.id / f"{lab.id}.ipynb"
            if target.is_file() and target.read_bytes() != data:
                keep = target.parent / ".previous" / f"{_sha256(target.read_bytes())[:12]}.ipynb"
                keep.parent.mkdir(exist_ok=True)
                shutil.copy2(target, keep)
            write_atomically(target, data)
            imported.append(student)
    return imported, refused


def stored_result(out_dir: Path, student: str) -> GradeResult | None:
    """The result ``<out_dir>/<student>.json`` as the class grader wrote it; None if there is none, or
    it cannot be read (a result that cannot be read is graded again)."""
    try:
        return GradeResult.from_json(json.loads((out_dir / f"{student}.json").read_text()))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def current_result(submission: Submission, out_dir: Path, grader: str) -> GradeResult | None:
    """The student's stored result if it was made from this very submission by this grader
    (``grade.grader_version``: a change to the checks, the reference or the limits regrades), else None."""
    result = stored_result(out_dir, submission.student)
    if result is not None and result.sha256 == submission.sha256 and result.grader == grader:
        return result
    return None


def already_graded(submission: Submission, out_dir: Path, grader: str) -> bool:
    """True if a result for this student exists, made from this very submission by this grader."""
    return current_result(submission, out_dir, grader) is not None


def grade_remote(course: CourseConfig, lab_id: str, notebook: bytes, filename: str, device: str | None,
                 run_demos: bool = True) -> dict:
    """Grade one notebook given as bytes and return the result, and the notebook as it ran (its text,
    or None), as plain data. Runs in a worker (this process, a local Dask worker or a cluster's),
    which needs only the course repository. A refused notebook comes back restored all the same where
    it can be read, so formgrader shows the student's answers."""
    lab = course.lab(lab_id)
    with tempfile.TemporaryDirectory(prefix="reglab-submission-") as tmp:
        path = Path(tmp) / filename
        path.write_bytes(notebook)
        result, ran = grade_or_refuse(path, lab, course, device=device, run_demos=run_demos)
        return {"result": result.to_json(), "notebook": nbformat.writes(ran) if ran is not None else None}


def _in_this_process(jobs, func):
    for key, args in jobs:
        try:
            yield key, func(*args), None
        except Exception as exc:  # noqa: BLE001 - one failed grading must not stop the class
            yield key, None, f"{type(exc).__name__}: {str(exc)[:300]}"


def _with_folder_facts(result, submission: Submission, lab: Lab, course: CourseConfig, root: Path):
    """The result, with what only the class grader knows: which files of the folder were left aside,
    and how late the submission is for this student (extensions included)."""
    result.problems = list(submission.notes) + [p for p in result.problems if p not in submission.notes]
    result.late = lateness(lab, submission.student, submission.folder, course, root).to_json()
    return result


def _keep_notebook(out_dir: Path, student: str, text: str | None) -> None:
    """``<out_dir>/<student>.ipynb``: the notebook as it ran (or a refused one, restored), which the
    gradebook hands to formgrader; with none, an earlier submission's is removed, not shown for this one."""
    path = out_dir / f"{student}.ipynb"
    if text is None:
        path.unlink(missing_ok=True)
    else:
        write_atomically(path, text)


def grade_class(lab: Lab, course: CourseConfig, submissions: list[Submission], out_dir: Path, *,
                workers: int = 1, device: str | None = None, dask_address: str | None = None,
                progress: bool = True, run_demos: bool = True, root: Path = ROOT) -> ClassRun:
    """Grade every submission that has no result yet from its current content; see the module docstring."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for leftover in out_dir.glob("*.tmp"):        # a write cut off by a kill: its result will be redone
        leftover.unlink(missing_ok=True)
    run, grader = ClassRun(), grader_version(lab, course)
    todo = {}
    for submission in submissions:
        result = current_result(submission, out_dir, grader)
        if result is not None:
            run.skipped.append(submission.student)
            before = result.late
            if _with_folder_facts(result, submission, lab, course, root).late != before:   # an extension since
                report.write(result, out_dir, submission.student)
        elif submission.problem:
            result = refusal(submission.path, lab, course, submission.problem.encode(), submission.problem)
            _keep_notebook(out_dir, submission.student, None)
            report.write(_with_folder_facts(result, submission, lab, course, root), out_dir, submission.student)
            run.graded.append(submission.student)
        else:
            todo[f"grade-{lab.short}-{submission.student}-{submission.sha256[:12]}"] = submission
    jobs = [(key, (course, lab.id, s.path.read_bytes(), s.path.name, device, run_demos)) for key, s in todo.items()]
    gpu = (device or course.grading.device) == "cuda"
    if dask_address or workers > 1:
        finished = run_on_dask(jobs, grade_remote, address=dask_address, workers=workers, gpu=gpu)
    else:
        finished = _in_this_process(jobs, grade_remote)
    with tqdm(total=len(jobs), unit="submission", desc=f"grading {lab.short}", disable=not progress,
              file=sys.stdout) as bar:
        for key, data, error in finished:
            submission = todo[key]
            if error is None:
                result = GradeResult.from_json({**data["result"], "submission": str(submission.path)})
                _keep_notebook(out_dir, submission.student, data["notebook"])
                report.write(_with_folder_facts(result, submission, lab, course, root), out_dir, submission.student)
                run.graded.append(submission.student)
            else:
                run.failed[submission.student] = error
            bar.update(1)
    return run


def publish(lab: Lab, course: CourseConfig, submissions: list[Submission], out_dir: Path, root: Path, *,
            gradebook: bool = True) -> int:
    """Feedback pages and gradebook rows from every current result in ``out_dir`` (those graded in
    earlier runs too, so a run killed before this step loses nothing). Returns how many."""
    done, grader = [], grader_version(lab, course)
    for submission in submissions:
        result = current_result(submission, out_dir, grader)
        if result is not None:
            feedback.write(lab, submission.student, result, root)
            ran = out_dir / f"{submission.student}.ipynb"
            done.append((submission.student, result, submission.path, ran if ran.is_file() else None))
    if gradebook:
        nbgrader_gradebook.record(lab, done, root)
    return len(done)
