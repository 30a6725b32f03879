"""06d's grading beyond the per-lab invariants of test_lab_examples.py (where each bug's `says:` words are
checked): its release, the run time of the reference, the stated false-alarm rate of its statistical checks,
edge cases that reach every function taking the argument, and judging that keeps no state between plan and verdict."""

import nbformat
import pytest

from autograder import grade
from autograder.checks import mixing

LAB = "06d"


@pytest.fixture(scope="module")
def graded06d(graded):
    return graded(LAB)


def test_messages_do_not_show_hidden_values(graded06d):
    """Shapes, rates and error sizes only: no tensors and no lists of hidden labels or boxes."""
    for _, result in graded06d.values():
        for item in result.items:
            assert "tensor(" not in item.message and "Generator" not in item.message, item.message


def test_reference_runs_well_inside_the_ci_budget(graded06d, course):
    _, result = graded06d["reference"]
    assert result.seconds < course.lab(LAB).budgets.ci, result.seconds


def test_release_has_a_stub_per_function_and_three_written_questions(course):
    cells = nbformat.read(course.lab(LAB).release_path, as_version=4).cells
    stubs = [c for c in cells if c.metadata["nbgrader"].get("solution") and c.cell_type == "code"]
    assert len(stubs) == 7 and all(c.source.rstrip().endswith("raise NotImplementedError()") for c in stubs)
    written = [c.metadata["nbgrader"]["grade_id"] for c in cells
               if c.cell_type == "markdown" and c.metadata["nbgrader"].get("solution")]
    assert written == ["q_smoothing_calibration", "q_mixed_labels", "q_cutmix_area"]
    text = course.lab(LAB).release_path.read_text()
    assert "lam = torch.sigmoid(log_xy[0] - log_xy[1]).item()" not in text   # a reference line


def test_false_alarm_rate_is_stated_and_used():
    assert mixing.ALPHA == 1e-6
    assert "p < ``ALPHA`` = 1e-6" in mixing.__doc__


def test_edge_cases_reach_every_function_taking_the_argument(course):
    """A batch of one wherever a batch goes in, lam = 0 and 1 wherever lam does, and each kind of box."""
    _, item_calls = grade.plan(course.lab(LAB), 0)
    calls = [call for group in item_calls.values() for call in group]
    batches, lams = {}, {}
    for call in calls:
        if call.func in (mixing.SMOOTH, mixing.SOFT_CE, mixing.MIXUP, mixing.CUTMIX, mixing.MIXED_CE):
            batches.setdefault(call.func, set()).add(len(call.args[0]))
        elif call.func == mixing.SAMPLE_MIXUP and call.helper is None:
            batches.setdefault(call.func, set()).add(call.args[0])
        if call.func in (mixing.MIXUP, mixing.MIXED_CE, mixing.SAMPLE_BOX):
            lams.setdefault(call.func, set()).add(call.args[3 if call.helper or call.func == mixing.MIXED_CE else 2])
    assert set(batches) == {mixing.SMOOTH, mixing.SOFT_CE, mixing.MIXUP, mixing.CUTMIX, mixing.MIXED_CE,
                            mixing.SAMPLE_MIXUP}
    assert all(mixing.BATCH_OF_ONE in sizes for sizes in batches.values()), batches
    assert len(lams) == 3 and all(set(mixing.LAM_EDGES) <= values for values in lams.values()), lams
    kinds = set()
    for call in calls:
        if call.func == mixing.CUTMIX:
            (y0, y1, x0, x1), (h, w) = call.args[2], call.args[0].shape[-2:]
            kinds.add("empty" if (y1 - y0) * (x1 - x0) == 0 else "whole" if (y0, y1, x0, x1) == (0, h, 0, w)
                      else "clipped" if 0 in (y0, x0) or y1 == h or x1 == w else "inside")
    assert kinds == set(mixing.BOXES)
