"""Grade one submission: run it confined, probe it on fresh hidden inputs, score it here.

    result = grade_submission(Path("alice.ipynb"), lab, course)

The student's process only ever sees the notebook and the hidden *inputs*;
the reference outputs and the verdicts are computed in this process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import torch

from autograder import checks as lab_checks
from autograder import execute, probes, sandbox
from autograder.checks.base import CheckFailed, Context, Item, LabChecks
from reglab.build import release_path
from reglab.config import ROOT, CourseConfig, Lab


class SubmissionError(ValueError):
    """The submission cannot be graded at all (not found, not a notebook...)."""


@dataclass
class ItemResult:
    id: str
    title: str
    functions: list[str]
    points: float
    max_points: float
    message: str


@dataclass
class GradeResult:
    lab: str
    submission: str
    sha256: str
    seed: int
    device: str
    sandbox: str
    items: list[ItemResult]
    points: float
    max_points: float
    seconds: float
    problems: list[str] = field(default_factory=list)   # submission-level: cell errors, a dead kernel...
    printout: str = ""
    grader: str = ""          # grader_version() of what graded it: a result is stale once that changes

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> GradeResult:
        return cls(**{**data, "items": [ItemResult(**item) for item in data["items"]]})


def find_notebook(path: Path, lab: Lab) -> Path:
    """The notebook to grade: ``path`` itself, or the one notebook in the folder ``path``."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise SubmissionError(f"{path}: no such file or folder")
    named = path / f"{lab.id}.ipynb"
    if named.is_file():
        return named
    found = sorted(p for p in path.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if len(found) != 1:
        listing = ", ".join(p.name for p in found) or "none"
        raise SubmissionError(f"{path}: expected one notebook (ideally {lab.id}.ipynb), found {listing}")
    return found[0]


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode, bytes]:
    data = path.read_bytes()
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except UnicodeDecodeError:
        raise SubmissionError(f"{path}: not a text file; submit the .ipynb notebook") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds for bad input
        raise SubmissionError(f"{path}: not a valid Jupyter notebook ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); "
                              "re-download the release and copy your solutions into it") from None
    return nb, data


def _grade_id(cell) -> str | None:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return grade_id if isinstance(grade_id, str) else None


@dataclass
class Restored:
    """A submission put back into the release's shape (see ``restore_given_cells``)."""
    nb: nbformat.NotebookNode
    notes: list[str]                     # what changed, for the report
    edits: list[tuple[str, str, str]]    # (grade id, the student's text, the release's) of each given cell edited


def restore_given_cells(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> Restored:
    """The release's cells in the release's order, with the student's answers put in, as nbgrader's
    autograde does: locked cells (given code, self-checks) come from the release whatever the student
    did to them; solution and written cells come from the student, matched by grade id; cells the
    student added stay after the cell they followed."""
    release_ids = [_grade_id(c) for c in release.cells]
    student: dict[str, nbformat.NotebookNode] = {}
    added: dict[str | None, list] = {}
    previous = None
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if grade_id in release_ids and grade_id not in student:
            student[grade_id] = cell
            previous = grade_id
        else:
            added.setdefault(previous, []).append(cell)
    notes, edits = [], []
    merged = nbformat.from_dict({**release, "cells": []})
    merged.cells.extend(added.get(None, []))
    for cell in release.cells:
        grade_id = _grade_id(cell)
        meta = cell.metadata.get("nbgrader", {})
        mine = student.get(grade_id)
        if meta.get("solution") and not meta.get("locked"):
            if mine is None:
                notes.append(f"the answer cell {grade_id!r} is missing from the submission; it was graded as unanswered")
                merged.cells.append(cell)
            else:
                merged.cells.append(nbformat.from_dict({**cell, "source": mine.get("source", "")}))
        else:
            if mine is None or mine.get("source") != cell.source:
                edits.append((grade_id or "(unnamed)", "" if mine is None else mine.get("source", ""), cell.source))
            merged.cells.append(cell)
        merged.cells.extend(added.get(grade_id, []))
    if edits:
        notes.append(f"{len(edits)} given or self-check cell(s) were changed or deleted; the release's version was used")
    extra = sum(len(cells) for cells in added.values())
    if extra:
        notes.append(f"{extra} cell(s) you added were run too, in place")
    return Restored(merged, notes, edits)


def grader_version(lab: Lab, course: CourseConfig) -> str:
    """A digest of everything that decides a grade besides the submission: the engine, the lab's
    checks, reference and release, and course.yml's seed and grading settings."""
    digest = hashlib.sha256(json.dumps([course.course.seed, course.grading.model_dump(mode="json")]).encode())
    engine = sorted(Path(__file__).parent.glob("*.py"))
    lab_files = [Path(importlib.util.find_spec(name).origin) for name in (lab.checks, lab.solutions)]
    for path in [*engine, Path(lab_checks.__file__).parent / "base.py", *lab_files, release_path(lab)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def submission_seed(course: CourseConfig, lab: Lab, content: bytes) -> int:
    digest = hashlib.sha256(f"{course.course.seed}:{lab.id}:".encode() + content).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SubmissionError("--device cuda was asked for, but this grader has no CUDA device")
    return device


def _failure(call: probes.Call, outcome: probes.Outcome, item: Item, checks: LabChecks, stopped: str | None) -> str | None:
    """Why an item cannot pass from how its calls went, before comparing any values."""
    under_test = call.func in item.functions
    if not outcome.ran:
        return f"{call.func} did not finish: {outcome.error or stopped or 'no result came back'}"
    if not outcome.ok:
        error = outcome.error or "it raised an error"
        if not under_test:
            return f"not tested: {call.func}, which this item needs first, failed ({error})"
        if error.startswith("ProbeTimeout: "):
            return f"{call.func} {error.removeprefix('ProbeTimeout: ')}"
        if error.startswith("NotImplementedError"):
            return f"{call.func} is not written yet (it raises NotImplementedError)"
        if error.startswith("NameError") and "is not defined" in error and call.func in error:
            return f"{call.func} is not defined: keep the function's name and run the cell that defines it"
        return f"{call.func} raised {error}" + (f" {call.note}" if call.note else "")
    if under_test and item.enforce_rules:
        hit = checks.forbidden_use(call.func, outcome.ops)
        if hit:
            return (f"{call.func} calls {hit}; this lab asks you to write it from tensor arithmetic, "
                    "without the library op or autograd")
    return None


def score_item(item: Item, calls: list[probes.Call], outcomes: dict, checks: LabChecks, ctx: Context,
               stopped: str | None) -> ItemResult:
    message = None
    for call in calls:
        message = _failure(call, outcomes[call.id], item, checks, stopped)
        if message:
            break
    if message is None:
        try:
            item.judge(outcomes, ctx)
            message = "correct"
        except CheckFailed as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - malformed student output must not crash the grader
            message = f"the results of your functions could not be checked ({type(exc).__name__}); check what they return"
    passed = message == "correct"
    return ItemResult(item.id, item.title, list(item.functions), item.points if passed else 0.0, item.points, message)


def plan(lab: Lab, seed: int) -> tuple[LabChecks, dict[str, list[probes.Call]]]:
    """Fresh checks for ``lab`` and, per item, the calls it makes on inputs drawn from ``seed``."""
    checks = lab_checks.load(lab.checks)
    gen = torch.Generator().manual_seed(seed)
    return checks, {item.id: item.calls(gen) for item in checks.items}


def score(checks: LabChecks, item_calls: dict, outcomes: dict, ctx: Context, stopped: str | None = None) -> list[ItemResult]:
    return [score_item(item, item_calls[item.id], outcomes, checks, ctx, stopped) for item in checks.items]


def refusal(path: Path, lab: Lab, course: CourseConfig, content: bytes, why: str) -> GradeResult:
    """The result of a submission that cannot be graded at all: zero on every item, and why."""
    checks = lab_checks.load(lab.checks)
    items = [ItemResult(item.id, item.title, list(item.functions), 0.0, item.points, f"not graded: {why}")
             for item in checks.items]
    return GradeResult(lab=lab.id, submission=str(path), sha256=hashlib.sha256(content).hexdigest(),
                       seed=submission_seed(course, lab, content), device="none", sandbox="not run", items=items,
                       points=0.0, max_points=sum(i.max_points for i in items), seconds=0.0, problems=[why],
                       grader=grader_version(lab, course))


def grade_submission(submission: Path, lab: Lab, course: CourseConfig, *, device: str | None = None,
                     seed: int | None = None) -> GradeResult:
    """Grade one notebook (or a folder holding one) of ``lab``; raises SubmissionError only if unreadable."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    start = time.perf_counter()
    path = find_notebook(submission, lab)
    nb, content = read_notebook(path)
    release = nbformat.read(release_path(lab), as_version=4)
    restored = restore_given_cells(nb, release)
    nb, notes = restored.nb, restored.notes
    device = resolve_device(device or course.grading.device)
    seed = submission_seed(course, lab, content) if seed is None else seed
    ctx = Context(device=device, float32=course.grading.tolerances[device])

    checks, item_calls = plan(lab, seed)
    all_calls = [call for calls in item_calls.values() for call in calls]

    with tempfile.TemporaryDirectory(prefix="reglab-") as tmp:
        scratch = Path(tmp) / "scratch"
        results_dir = scratch / ".probe-results"
        results_dir.mkdir(parents=True)
        plan_path = scratch / ".probe-plan.pt"
        probes.write_plan(all_calls, plan_path, device, course.grading.probe_timeout_s)
        command = sandbox.kernel_command(scratch, course.grading, device, hidden=[str(ROOT)])
        grading = course.grading
        run = execute.run(nb, command, scratch, plan_path, results_dir, execute.Limits(
            cell_timeout=grading.cell_timeout_s, probe_timeout=grading.probe_timeout_s,
            total_timeout=grading.submission_timeout_s, max_output_chars=grading.max_output_kb * 1024,
            max_disk_bytes=grading.max_disk_mb * 2**20, cpu_time=grading.cpu_time_s,
            max_file_bytes=grading.max_file_mb * 2**20))
        outcomes = probes.read_outcomes(all_calls, results_dir)

    items = score(checks, item_calls, outcomes, ctx, run.stopped)
    problems = notes + ([f"execution stopped early: {run.stopped}"] if run.stopped else []) + run.cell_errors
    return GradeResult(
        lab=lab.id, submission=str(path), sha256=hashlib.sha256(content).hexdigest(), seed=seed, device=device,
        sandbox=command.note, items=items, points=sum(i.points for i in items),
        max_points=sum(i.max_points for i in items), seconds=round(time.perf_counter() - start, 2),
        problems=problems, printout=run.printout, grader=grader_version(lab, course))
