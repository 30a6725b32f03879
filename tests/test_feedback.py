"""Feedback pages: each item's points and message, and nothing of the hidden checks, inputs or reference outputs."""

import dataclasses
import re

import nbformat
import pytest
import torch

from autograder import feedback, harness, probes
from autograder.grade import plan
from autograder.submission import restore_given_cells
from reglab.config import ROOT


def _page(lab, result):
    return feedback.page(lab, "alice", result)


def test_each_item_shows_its_points_and_message(lab06b, graded06b):
    _, result = graded06b["biased_running_var"]
    page = _page(lab06b, result)
    for item in result.items:
        assert f"<code>{item.id}</code>" in page and f"{item.points:g}/{item.max_points:g}" in page
    running = next(i for i in result.items if i.id == "running_stats")
    assert running.points == 0 and feedback.html.escape(running.message) in page
    assert "12 of 14 points from the hidden checks" in page and "written answers (4 points)" in page
    assert page.count("<rect") == 2 * len(result.items)          # a bar per item: track and fill


def _reference_values(lab, seed, tmp_path):
    """Every number the hidden checks fed in or expected for this seed: the plan's inputs and the
    reference's outputs, run here in-process."""
    from reglab.examples import examples
    reference = next(e for e in examples(lab) if e.name == "reference")
    cell = next(c for c in reference.notebook.cells if c.metadata.get("nbgrader", {}).get("solution"))
    namespace = {}
    exec(compile(cell.source, "reference", "exec"), namespace)   # noqa: S102 - our own reference
    _, item_calls = plan(lab, seed)
    calls = [call for group in item_calls.values() for call in group]
    probes.write_plan(calls, tmp_path / "plan.pt", "cpu", 10)
    harness.run_probes(str(tmp_path / "plan.pt"), str(tmp_path), namespace)
    tensors = [arg for call in calls for arg in call.args if isinstance(arg, torch.Tensor)]
    for outcome in probes.read_outcomes(calls, tmp_path).values():
        value = outcome.value
        tensors += [v for v in (value if isinstance(value, (tuple, list)) else [value]) if isinstance(v, torch.Tensor)]
    numbers = torch.cat([t.detach().flatten()[:50].double() for t in tensors if t.is_floating_point() and t.numel()])
    return {f"{v:.4f}" for v in numbers.tolist() if abs(v) > 0.01 and abs(v - round(v)) > 0.01}


@pytest.mark.parametrize("example", ["biased_running_var", "eps_outside_sqrt", "blank", "reference"])
def test_a_page_gives_away_no_hidden_input_reference_output_or_check_code(lab06b, graded06b, tmp_path, example):
    _, result = graded06b[example]
    page = _page(lab06b, dataclasses.replace(result, printout=""))   # the student's own printout aside
    leaked = [number for number in _reference_values(lab06b, result.seed, tmp_path) if number in page]
    assert not leaked, leaked
    check_code = (ROOT / "autograder" / "checks" / "batchnorm.py").read_text().splitlines()
    assert not [line for line in check_code if len(line.strip()) > 30 and line.strip() in page]
    assert not re.search(r"tensor\(|BEGIN HIDDEN|### BEGIN", page)


def test_printout_is_truncated_and_escaped(lab06b, graded06b):
    _, result = graded06b["reference"]
    noisy = dataclasses.replace(result, printout="<script>alert(1)</script>\n" + "x" * 50_000 + "THE END")
    page = _page(lab06b, noisy)
    assert "<script>" not in page and "THE END" in page
    assert page.count("x") < feedback.PRINTOUT_SHOWN + 2000
    assert f"the last {feedback.PRINTOUT_SHOWN:,} characters" in page


def test_edited_given_cells_are_shown_as_a_diff_against_the_release(lab06b, graded06b, tmp_path):
    example, result = graded06b["reference"]
    assert result.edits == []
    nb = nbformat.from_dict(example.notebook)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "forward_train")
    cell.source = "print('forward_train: OK')  # all good, trust me"
    edits = restore_given_cells(nb, nbformat.read(lab06b.release_path, as_version=4)).edits   # as grading keeps them
    written = feedback.write(lab06b, "alice", dataclasses.replace(result, edits=edits), tmp_path)
    assert written == tmp_path / "feedback" / "alice" / lab06b.id / feedback.PAGE_NAME
    page = written.read_text()
    assert "Given cells you changed" in page and "+print(&#x27;forward_train: OK&#x27;)  # all good, trust me" in page
