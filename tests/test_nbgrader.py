"""nbgrader's own tools work on the course directory as an nbgrader user expects."""

import shutil

import nbformat
import pytest

from reglab.examples import examples
from reglab.release import nbgrader


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory, lab06b):
    """A copy of the course with two submissions, autograded by nbgrader itself."""
    from reglab.config import ROOT
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source" / lab06b.id, root / "source" / lab06b.id)
    nbgrader("generate_assignment", lab06b.id, "--force", cwd=root)
    by_name = {e.name: e for e in examples(lab06b)}
    for student, example in (("alice", "reference"), ("bob", "blank")):
        path = root / "submitted" / student / lab06b.id / f"{lab06b.id}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(by_name[example].notebook, path)
    nbgrader("autograde", lab06b.id, "--force", cwd=root)
    return root


def test_generate_assignment_output_equals_the_committed_release(course_dir, lab06b):
    assert lab06b.release_path_in(course_dir).read_text() == lab06b.release_path.read_text()


def test_autograde_fills_the_gradebook_and_leaves_written_answers_for_manual_grading(course_dir, lab06b):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        alice = gradebook.find_submission_notebook(lab06b.id, lab06b.id, "alice")
        bob = gradebook.find_submission_notebook(lab06b.id, lab06b.id, "bob")
        written = {g.name: g for g in alice.grades if g.name.startswith("q_")}
        assert set(written) == {"q_small_batch", "q_eval_mode"}
        assert all(g.needs_manual_grade and g.auto_score is None for g in written.values())
        auto = lambda nb: sum(g.auto_score or 0 for g in nb.grades if not g.name.startswith("q_"))  # noqa: E731
        assert auto(alice) == 14 and auto(bob) == 0
        assert alice.max_score == 18


@pytest.mark.parametrize("student, passes", [("alice", True), ("bob", False)])
def test_validate(course_dir, lab06b, student, passes):
    path = course_dir / "submitted" / student / lab06b.id / f"{lab06b.id}.ipynb"
    output = nbgrader("validate", str(path), cwd=course_dir).stdout
    assert ("Success! Your notebook passes all the tests." in output) == passes, output[-1500:]
