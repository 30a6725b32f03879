"""Every lab's hidden checks, checked on its bundled examples, graded for real in the sandbox.

Per lab (examples/<short>/): the reference scores full marks, the blank
release scores zero and fails only with NotImplementedError, each bug of the
zoo loses exactly its item, each alternative correct solution keeps
everything, each hostile submission loses what it attacks, and no message
leaks a hidden input or the reference.
"""

import pytest

from autograder import report
from reglab.examples import examples, mismatch

from conftest import lab_shorts, run_with_demos, selected_labs


def _lost(result):
    return {item.id for item in result.items if item.points < item.max_points}


def _examples(kinds, told=False):
    """Examples of these kinds (only those that name the words they must be told, if ``told``)."""
    return [pytest.param(lab.short, e.name, id=f"{lab.short}-{e.name}")
            for lab in selected_labs() for e in examples(lab) if e.kind in kinds and (e.says or not told)]


@pytest.mark.parametrize("short", lab_shorts())
def test_reference_scores_full_marks_and_runs_clean(graded, short):
    _, result = graded(short)["reference"]
    assert result.points == result.max_points > 0, report.readable(result)
    assert all(item.message == "correct" for item in result.items)
    assert result.problems == [], result.problems


@pytest.mark.parametrize("short", lab_shorts())
def test_blank_release_scores_zero_and_fails_only_with_not_implemented(graded, short):
    _, result = graded(short)["blank"]
    assert result.points == 0, report.readable(result)
    assert any("not written yet" in item.message for item in result.items)
    assert result.problems and all("NotImplementedError" in p for p in result.problems), result.problems


@pytest.mark.parametrize("short, name", _examples({"bug", "alternative", "hostile"}))
def test_each_example_loses_exactly_what_it_must(graded, short, name):
    example, result = graded(short)[name]
    assert mismatch(example, _lost(result), {item.id for item in result.items}) is None, report.readable(result)


@pytest.mark.parametrize("short, name", _examples({"bug", "hostile"}, told=True))
def test_each_example_is_told_what_to_fix(graded, short, name):
    example, result = graded(short)[name]
    messages = " | ".join([item.message for item in result.items if item.points < item.max_points] + result.problems)
    assert example.says in messages, messages


@pytest.mark.parametrize("short", lab_shorts())
def test_zoo_is_big_enough(graded, short):
    kinds = [example.kind for example, _ in graded(short).values()]
    assert kinds.count("bug") >= 6 and kinds.count("alternative") >= 2, kinds


@pytest.mark.parametrize("short", lab_shorts())
def test_feedback_hides_the_hidden_inputs_and_reference(graded, short):
    """Messages give shapes, rates and error sizes, never tensors or the reference's code."""
    for _, result in graded(short).values():
        for item in result.items:
            assert "tensor(" not in item.message and "solutions" not in item.message, item.message


@pytest.mark.parametrize("short", lab_shorts())
def test_points_are_decided_before_any_demo_runs(graded, course, grading_cluster, tmp_path, short):
    """The reference, the blank and the first bug graded with the self-checks and demos skipped
    (``--no-outputs``) lose exactly what they lose with them run (the session's ``graded`` runs
    those three whole, and the lab's other bugs and alternatives points-only)."""
    import json

    import nbformat

    from autograder.classroom import from_submitted, grade_class
    from autograder.grade import GradeResult
    lab = course.lab(short)
    full = graded(short)
    chosen = ["reference", "blank", next(name for name, (e, _) in full.items() if e.kind == "bug")]
    assert set(chosen) <= run_with_demos([example for example, _ in full.values()])
    for name in chosen:
        folder = tmp_path / "submitted" / name / lab.id
        folder.mkdir(parents=True)
        nbformat.write(full[name][0].notebook, folder / f"{lab.id}.ipynb")
    found, _ = from_submitted(tmp_path / "submitted", lab)
    run = grade_class(lab, course, found, tmp_path / "grades", dask_address=grading_cluster, progress=False,
                      run_demos=False)
    assert not run.failed, run.failed
    for name in chosen:
        fast = GradeResult.from_json(json.loads((tmp_path / "grades" / f"{name}.json").read_text()))
        assert _lost(fast) == _lost(full[name][1]), (name, report.readable(fast))
