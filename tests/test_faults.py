"""Faults a student's notebook can cause while graded: each one is contained, reported in words
the student can act on, and costs only what it breaks.

Each case is the 06b reference with one fault added, graded for real under
tight limits. A fault in a cell the student added leaves the functions graded
(full marks, plus a problem line); a fault that kills the kernel before the
probes costs every item, with the reason on every item.
"""

import json

import nbformat
import pytest

from autograder.grade import grade_submission
from reglab.examples import examples

# Tight, but with room for a fresh kernel's `import torch` on a busy 2-core machine.
LIMITS = {"cell_timeout_s": 15, "probe_timeout_s": 5, "submission_timeout_s": 120, "max_processes": 64,
          "max_disk_mb": 64, "max_output_kb": 8}


def _with(course, **grading):
    return course.model_copy(update={"grading": course.grading.model_copy(update=grading)})


@pytest.fixture(scope="module")
def tight(course):
    return _with(course, **LIMITS)


@pytest.fixture(scope="module")
def reference(lab06b):
    return next(e for e in examples(lab06b) if e.name == "reference").notebook


def _grade(notebook, lab, course, tmp_path, extra_cell=None, change=None):
    nb = nbformat.from_dict(notebook)
    if change:
        change(nb)
    if extra_cell:
        solution = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
        nb.cells.insert(solution + 1, nbformat.v4.new_code_cell(extra_cell))
    path = tmp_path / "submission.ipynb"
    nbformat.write(nb, path)
    return grade_submission(path, lab, course)


def _problems(result):
    return " | ".join(result.problems)


def _items_calling(lab, function):
    """The items that check ``function``: what breaking only that function may cost."""
    from autograder import checks
    return {item.id for item in checks.load(lab.checks).items if function in item.functions}


# (name, code of a cell the student added after the solution cell, words the report must contain)
CONTAINED = [
    ("infinite_loop", "while True:\n    pass", "ran past its time limit of 15 s and was interrupted"),
    ("memory_bomb", "hoard = []\nwhile True:\n    hoard.append(bytearray(2**29))", "more memory than grading allows"),
    ("fork_bomb", "import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(20)\n        os._exit(0)",
     "more processes or threads than grading allows"),
    ("print_megabytes", "for _ in range(2000):\n    print('x' * 5000)", "more than the printout limit"),
    ("fill_the_disk",
     "block = b'0' * 2**20\nfor i in range(1000):\n    with open(f'junk{i}', 'wb') as f:\n        f.write(block * 8)",
     "filled its disk budget (64 MB"),
]


@pytest.mark.parametrize("name, code, words", CONTAINED, ids=[c[0] for c in CONTAINED])
def test_a_fault_in_an_added_cell_is_contained_and_reported(reference, lab06b, tight, tmp_path, name, code, words):
    result = _grade(reference, lab06b, tight, tmp_path, extra_cell=code)
    assert result.points == result.max_points, [i.message for i in result.items]
    assert words in _problems(result), result.problems
    assert len(result.printout) <= 8 * 1024 + 100


# Faults that stop the kernel before the probes: every item is lost, and says why.
FATAL = [
    ("os_exit", "import os\nos._exit(3)", "the kernel died"),
    ("segfault", "import ctypes\nctypes.string_at(0)", "the kernel died of a segmentation fault"),
]


@pytest.mark.parametrize("name, code, words", FATAL, ids=[c[0] for c in FATAL])
def test_a_fault_that_kills_the_kernel_costs_every_item_with_the_reason(reference, lab06b, tight, tmp_path, name, code,
                                                                        words):
    result = _grade(reference, lab06b, tight, tmp_path, extra_cell=code)
    assert result.points == 0
    assert words in _problems(result), result.problems
    assert all("did not finish" in item.message for item in result.items), [i.message for i in result.items]


def test_a_notebook_over_its_cpu_time_loses_every_item_and_is_told_which_limit(reference, lab06b, tight, tmp_path):
    busy = _with(tight, cpu_time_s=12, cell_timeout_s=90, submission_timeout_s=150)
    result = _grade(reference, lab06b, busy, tmp_path, extra_cell="while True:\n    pass")
    assert result.points == 0
    assert "more than its 12 s of CPU time" in _problems(result), result.problems


def test_a_file_over_the_size_limit_fails_only_the_cell_that_wrote_it(reference, lab06b, tight, tmp_path):
    small_files = _with(tight, max_file_mb=1)
    result = _grade(reference, lab06b, small_files, tmp_path,
                    extra_cell="with open('big.bin', 'wb') as f:\n    f.write(b'0' * 2**21)")
    assert result.points == result.max_points
    assert "a file larger than grading allows (1 MB)" in _problems(result), result.problems


def _solution_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]


def _replace_in_solution(find, replace):
    def change(nb):
        cell = _solution_cells(nb)[0]
        assert find in cell.source
        cell.source = cell.source.replace(find, replace)
    return change


def test_a_probe_that_never_returns_costs_only_its_items(reference, lab06b, tight, tmp_path):
    hang = _replace_in_solution("def batchnorm_backward_fast(dout, cache):\n",
                                "def batchnorm_backward_fast(dout, cache):\n    while True:\n        pass\n")
    result = _grade(reference, lab06b, tight, tmp_path, change=hang)
    lost = {i.id: i.message for i in result.items if i.points < i.max_points}
    assert set(lost) == _items_calling(lab06b, "batchnorm_backward_fast"), lost
    assert any("did not return within 5 s" in message for message in lost.values()), lost


def test_a_function_that_swallows_interrupts_costs_restarts_and_its_items_only(reference, lab06b, tight, tmp_path):
    """Its probe ignores its time limit: that costs one restart without the call, and the other
    functions are still graded. The self-checks that call it run after the probes, when it raises
    at once, so none of them waits on it."""
    stubborn = _replace_in_solution("def batchnorm_backward_fast(dout, cache):\n", (
        "def batchnorm_backward_fast(dout, cache):\n    while True:\n        try:\n            while True:\n"
        "                pass\n        except BaseException:\n            pass\n"))
    stingy = _with(tight, probe_timeout_s=2, submission_timeout_s=300)
    result = _grade(reference, lab06b, stingy, tmp_path, change=stubborn)
    lost = {i.id: i.message for i in result.items if i.points < i.max_points}
    assert set(lost) == _items_calling(lab06b, "batchnorm_backward_fast"), lost
    assert all("went on running after" in message for message in lost.values()), lost
    assert "did not return when it was graded" in _problems(result)
    assert "went on after the interrupt" not in _problems(result)


def test_a_renamed_function_loses_its_items_and_says_keep_the_name(reference, lab06b, course, tmp_path):
    result = _grade(reference, lab06b, course, tmp_path,
                    change=_replace_in_solution("def batchnorm_backward_fast(", "def bn_backward_fast("))
    lost = {i.id: i.message for i in result.items if i.points < i.max_points}
    assert set(lost) == _items_calling(lab06b, "batchnorm_backward_fast"), lost
    assert "keep the function's name" in lost["backward_fast"], lost


def test_a_deleted_solution_cell_is_graded_as_unanswered(reference, lab06b, course, tmp_path):
    def delete_first_solution(nb):
        nb.cells.remove(_solution_cells(nb)[0])
    result = _grade(reference, lab06b, course, tmp_path, change=delete_first_solution)
    assert result.points == 0
    assert "is missing from the submission" in _problems(result)


def test_edited_given_and_self_check_cells_are_restored_and_added_cells_kept(reference, lab06b, course, tmp_path):
    def tamper(nb):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") == "forward_train":
                cell.source = "print('all tests passed')"          # a self-check edited to pass
            elif meta.get("locked") and "import torch" in cell.source:
                cell.source = "raise SystemExit('nope')"          # the imports cell broken
        nb.cells.append(nbformat.v4.new_code_cell("helper = 1"))
    result = _grade(reference, lab06b, course, tmp_path, change=tamper)
    assert result.points == result.max_points, result.problems
    assert "2 given or self-check cell(s) were changed" in _problems(result)
    assert "1 cell(s) you added were run too" in _problems(result)


def test_faults_in_a_class_touch_no_one_elses_grade(reference, lab06b, tight, tmp_path):
    """A class graded two at a time, where one student fork-bombs, one kills the kernel and one
    fills the disk: the others are graded as if alone, and the run goes on."""
    from autograder.classroom import from_submitted, grade_class
    faults = {name: code for name, code, _ in CONTAINED + FATAL}
    class_of = {"ann": None, "ben": faults["fork_bomb"], "cat": faults["os_exit"], "dev": None,
                "eli": faults["fill_the_disk"], "fay": None}
    for student, code in class_of.items():
        nb = nbformat.from_dict(reference)
        nb.cells.append(nbformat.v4.new_markdown_cell(f"by {student}"))
        if code:
            nb.cells.insert(next(i for i, c in enumerate(nb.cells) if c in _solution_cells(nb)) + 1,
                            nbformat.v4.new_code_cell(code))
        folder = tmp_path / "submitted" / student / lab06b.id
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab06b.id}.ipynb")
    found, _ = from_submitted(tmp_path / "submitted", lab06b)
    # two kernels share the cores
    roomy = _with(tight, cell_timeout_s=60, probe_timeout_s=20, submission_timeout_s=300)
    run = grade_class(lab06b, roomy, found, tmp_path / "grades", workers=2, progress=False)
    assert sorted(run.graded) == sorted(class_of) and not run.failed
    points = {s: json.loads((tmp_path / "grades" / f"{s}.json").read_text())["points"] for s in class_of}
    assert points == {"ann": 14, "ben": 14, "cat": 0, "dev": 14, "eli": 14, "fay": 14}
