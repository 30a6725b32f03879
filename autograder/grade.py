"""Grade one submission: run it confined, probe it on fresh hidden inputs, score it here.

    result = grade_submission(Path("alice.ipynb"), lab, course)

The student's process only ever sees the notebook and the hidden *inputs*;
the reference outputs and the verdicts are computed in this process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import torch

from autograder import checks as lab_checks
from autograder import execute, probes, review, sandbox
from autograder.checks.base import CheckFailed, Context, Item, LabChecks
from autograder.submission import Prepared, Restored, SubmissionError, locked_ids, prepare, salvage
from autograder.workspace import Workspace, open_records
from reglab.config import ROOT, CourseConfig, Lab


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
    flags: list[str] = field(default_factory=list)      # for a TA's look: constructs the code review found
    late: dict | None = None  # lateness.Lateness as data, set by the class grader (it knows the folder and the student)
    grader: str = ""          # grader_version() of what graded it: a result is stale once that changes
    # (grade id, the student's text, the release's) of each given cell the student changed: the
    # feedback page shows them as diffs (submission.Restored.edits, kept so nothing restores again)
    edits: list[tuple[str, str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> GradeResult:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{**{k: v for k, v in data.items() if k in known},
                      "items": [ItemResult(**item) for item in data["items"]]})


# Engine modules that take no part in a grade: a change to them must not regrade a class.
NOT_GRADING = {"similarity.py", "export.py", "feedback.py", "gradebook.py", "report.py", "lateness.py"}


def grader_version(lab: Lab, course: CourseConfig) -> str:
    """A digest of everything that decides a grade besides the submission: the engine, the lab's
    checks, reference and release, and course.yml's seed and grading settings."""
    digest = hashlib.sha256(json.dumps([course.course.seed, course.grading.model_dump(mode="json")]).encode())
    engine = sorted(p for p in Path(__file__).parent.glob("*.py") if p.name not in NOT_GRADING)
    checks = lab_checks.load(lab.checks)
    lab_files = [Path(importlib.util.find_spec(name).origin) for name in (lab.checks, lab.solutions)]
    lab_files += [Path(checks.helpers.__file__)] if checks.helpers else []
    for path in [*engine, Path(lab_checks.__file__).parent / "base.py", *lab_files, lab.release_path]:
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


def _failure(call: probes.Call, outcome: probes.Outcome, item: Item, checks: LabChecks,
             stopped: str | None) -> str | None:
    """Why an item cannot pass from how its calls went, before comparing any values."""
    under_test = call.func in item.functions
    if not outcome.ran:
        return f"{call.func} did not finish: {outcome.error or stopped or 'no result came back'}"
    if not outcome.ok:
        error, kind = outcome.error or "it raised an error", outcome.error_type
        if not under_test:
            return f"not tested: {call.func}, which this item needs first, failed ({error})"
        if kind in ("Hung", "NotCalled"):
            return f"{call.func} {error}"
        if kind == "ProbeTimeout":
            return f"{call.func} {error.removeprefix('ProbeTimeout: ')} (an endless loop?)"
        if kind == "NotImplementedError":
            return f"{call.func} is not written yet (it raises NotImplementedError)"
        if kind == "NameError" and "is not defined" in error and call.func in error:
            return f"{call.func} is not defined: keep the function's name and run the cell that defines it"
        return f"{call.func} raised {error}" + (f" {call.note}" if call.note else "")
    if under_test and item.enforce_rules:
        hit = checks.forbidden_use(call.func, outcome.ops)
        if hit:
            return (f"{call.func} calls {hit}; this lab asks you to write it from tensor arithmetic, "
                    "without the library op or autograd")
    return None


def score_item(item: Item, calls: list[probes.Call], outcomes: dict, checks: LabChecks, ctx: Context,
               stopped: str | None, code: review.Review | None = None) -> ItemResult:
    message = None
    for call in calls:
        message = _failure(call, outcomes[call.id], item, checks, stopped)
        if message:
            break
    breaks = review.rule_breaks(code, checks, item.functions) if code is not None and item.enforce_rules else []
    if message is None and breaks:
        message = (f"{', '.join(item.functions)} uses {'; '.join(breaks)}. This lab asks you to write it from tensor "
                   "arithmetic; these constructs are not allowed (flagged for your TA)")
    if message is None:
        try:
            item.judge(outcomes, ctx)
            message = "correct"
        except CheckFailed as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - malformed student output must not crash the grader
            message = (f"the results of your functions could not be checked ({type(exc).__name__}); "
                       "check what they return")
    passed = message == "correct"
    return ItemResult(item.id, item.title, list(item.functions), item.points if passed else 0.0, item.points, message)


def plan(lab: Lab, seed: int) -> tuple[LabChecks, dict[str, list[probes.Call]]]:
    """Fresh checks for ``lab`` and, per item, the calls it makes on inputs drawn from ``seed``."""
    checks = lab_checks.load(lab.checks)
    gen = torch.Generator().manual_seed(seed)
    return checks, {item.id: item.calls(gen) for item in checks.items}


def score(checks: LabChecks, item_calls: dict, outcomes: dict, ctx: Context, stopped: str | None = None,
          code: review.Review | None = None) -> list[ItemResult]:
    """Each item's result. The gradings pass ``checks`` fresh from the lab's module, not the instance
    that planned: what an item needs to judge rides in its calls (``Call.case``), never on the item."""
    return [score_item(item, item_calls[item.id], outcomes, checks, ctx, stopped, code) for item in checks.items]


def grade_in_process(namespace: dict, lab: Lab, course: CourseConfig, seed: int, folder: Path) -> list[ItemResult]:
    """Plan, probe and score functions defined here, in ``namespace``: the whole protocol without a
    kernel, for tests and benchmarks of the checks (never for student code)."""
    checks, item_calls = plan(lab, seed)
    calls = [call for group in item_calls.values() for call in group]
    outcomes = probes.run_in_process(calls, namespace, folder, timeout=60, helpers=checks.helpers_source)
    return score(lab_checks.load(lab.checks), item_calls, outcomes, Context("cpu", course.grading.tolerances["cpu"]))


def refusal(path: Path, lab: Lab, course: CourseConfig, content: bytes, why: str,
            restored: Restored | None = None) -> GradeResult:
    """The result of a submission that cannot be graded at all: zero on every item, and why (once);
    with the given cells the student edited, where the notebook could be ``restored`` all the same."""
    checks = lab_checks.load(lab.checks)
    items = [ItemResult(item.id, item.title, list(item.functions), 0.0, item.points, "not graded (see above)")
             for item in checks.items]
    return GradeResult(lab=lab.id, submission=str(path), sha256=hashlib.sha256(content).hexdigest(),
                       seed=submission_seed(course, lab, content), device="", sandbox="not run", items=items,
                       points=0.0, max_points=sum(i.max_points for i in items), seconds=0.0,
                       problems=[f"not graded: {why}"], grader=grader_version(lab, course),
                       edits=list(restored.edits) if restored else [])


def _beside_the_verdict(problem: str, items: list[ItemResult]) -> str:
    """A failed self-check, said beside what the hidden checks found of the same item."""
    for item in items:
        if problem.startswith(f"the self-check of {item.id}:"):
            verdict = ("the hidden checks found this item correct" if item.points == item.max_points
                       else "the hidden checks did not pass this item either")
            return f"{problem} ({verdict})"
    return problem


def _read_records(ws: Workspace, run: execute.Execution, calls: list[probes.Call], max_bytes: int) -> dict:
    """The outcomes of ``calls``: from the records the kernel wrote (opened through descriptors, never
    by name) and, for calls the grader gave up on, from the grader's own memory."""
    try:
        fd = open_records(ws, run.records) if run.records else None
    except OSError:
        fd = None
    try:
        return probes.read_outcomes(calls, fd if fd is not None else -1, max_bytes=max_bytes, hung=run.hung)
    finally:
        if fd is not None:
            os.close(fd)


def grade_submission(submission: Path, lab: Lab, course: CourseConfig, *, device: str | None = None,
                     seed: int | None = None, run_demos: bool = True) -> GradeResult:
    """Grade one notebook (or a folder holding one) of ``lab``; raises SubmissionError only if unreadable."""
    return grade_with_outputs(submission, lab, course, device=device, seed=seed, run_demos=run_demos)[0]


def grade_with_outputs(submission: Path, lab: Lab, course: CourseConfig, *, device: str | None = None,
                       seed: int | None = None, run_demos: bool = True) -> tuple[GradeResult, nbformat.NotebookNode]:
    """The result, and the notebook as it ran (the release's cells with the student's answers, and the
    outputs kept within the printout budget) for formgrader."""
    start = time.perf_counter()
    prepared = prepare(submission, lab, course.grading.max_notebook_mb * 2**20)
    return _grade_prepared(prepared, lab, course, start, device=device, seed=seed, run_demos=run_demos)


def grade_or_refuse(path: Path, lab: Lab, course: CourseConfig, *, device: str | None = None,
                    run_demos: bool = True) -> tuple[GradeResult, nbformat.NotebookNode | None]:
    """Grade the notebook file at ``path`` as ``grade_with_outputs`` does, or, where it cannot be graded,
    refuse it (``refusal``) with the notebook restored as well as it can be (None if unreadable), for
    formgrader; never raises SubmissionError. The notebook is restored once either way."""
    start = time.perf_counter()
    prepared = None
    try:
        prepared = prepare(path, lab, course.grading.max_notebook_mb * 2**20)
        return _grade_prepared(prepared, lab, course, start, device=device, run_demos=run_demos)
    except SubmissionError as exc:
        content = prepared.content if prepared else path.read_bytes()
        restored = prepared.restored if prepared else salvage(content, lab)
        return refusal(path, lab, course, content, str(exc), restored), restored.nb if restored else None


def _grade_prepared(prepared: Prepared, lab: Lab, course: CourseConfig, start: float, *, device: str | None,
                    seed: int | None = None, run_demos: bool = True) -> tuple[GradeResult, nbformat.NotebookNode]:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    nb, notes, content = prepared.restored.nb, prepared.notes, prepared.content
    code = review.review(nb, locked_ids(prepared.release))
    device = resolve_device(device or course.grading.device)
    seed = submission_seed(course, lab, content) if seed is None else seed
    ctx = Context(device=device, float32=course.grading.tolerances[device])

    checks, item_calls = plan(lab, seed)
    all_calls = [call for calls in item_calls.values() for call in calls]

    grading = course.grading
    with Workspace.create(grading, uid=sandbox.kernel_user(grading)) as ws:
        probes.write_plan(all_calls, ws.plan, device, grading.probe_timeout_s, checks.helpers_source)
        command = sandbox.kernel_command(ws, grading, device, hidden=[str(ROOT)])
        run = execute.KernelRun(nb, command, ws, execute.Limits.from_grading(grading), [c.func for c in all_calls],
                                run_demos=run_demos).run()
        outcomes = _read_records(ws, run, all_calls, grading.max_record_mb * 2**20)

    items = score(lab_checks.load(lab.checks), item_calls, outcomes, ctx, run.stopped, code)
    problems = notes + ([f"execution stopped early: {run.stopped}"] if run.stopped else []) + \
        [_beside_the_verdict(problem, items) for problem in run.cell_errors]
    return GradeResult(
        lab=lab.id, submission=str(prepared.path), sha256=hashlib.sha256(content).hexdigest(), seed=seed,
        device=device, sandbox=command.note, items=items, points=sum(i.points for i in items),
        max_points=sum(i.max_points for i in items), seconds=round(time.perf_counter() - start, 2),
        problems=problems, printout=run.printout, grader=grader_version(lab, course), flags=code.flags(),
        edits=list(prepared.restored.edits)), run.notebook
