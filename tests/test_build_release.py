"""Build and release invariants: one truth per solution, nothing stale, nothing leaked into release/."""

import shutil

import nbformat
import pytest

from reglab import build, config
from reglab.release import stale_files
from solutions import batchnorm


def _cells(path):
    return nbformat.read(path, as_version=4).cells


def test_generated_files_are_not_stale(lab06b):
    assert stale_files(lab06b) == [], "run `reglab release` and commit source/ and release/"


def test_source_takes_solutions_from_the_reference_package(lab06b):
    solution_cells = [c for c in _cells(lab06b.source_path)
                      if c.metadata["nbgrader"]["solution"] and c.cell_type == "code"]
    import inspect
    expected = [inspect.getsource(f).rstrip("\n") for f in
                (batchnorm.batchnorm_forward, batchnorm.batchnorm_backward, batchnorm.batchnorm_backward_fast)]
    assert [c.source for c in solution_cells] == expected


def test_release_holds_stubs_not_solutions(lab06b):
    text = lab06b.release_path.read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "running_var.mul_" not in text          # a line of the reference body
    cells = _cells(lab06b.release_path)
    stubs = [c for c in cells if c.metadata["nbgrader"].get("solution") and c.cell_type == "code"]
    assert len(stubs) == 3 and all(c.source.rstrip().endswith("raise NotImplementedError()") for c in stubs)
    written = [c for c in cells if c.cell_type == "markdown" and c.metadata["nbgrader"].get("solution")]
    assert [c.metadata["nbgrader"]["grade_id"] for c in written] == ["q_small_batch", "q_eval_mode"]
    assert all(c.source == "YOUR ANSWER HERE" for c in written)


def test_graded_cells_carry_the_hidden_items_and_course_points(lab06b, course):
    from autograder import checks
    cells = _cells(lab06b.source_path)
    graded = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
              for c in cells if c.metadata["nbgrader"]["grade"]}
    items = {item.id: item.points for item in checks.load(lab06b.checks).items}
    assert {k: graded[k] for k in items} == items
    assert sum(graded.values()) == lab06b.points


def _lab_with(tmp_path, lab, text):
    notebook = tmp_path / "notebooks" / f"{lab.id}.py"
    notebook.parent.mkdir()
    notebook.write_text(text)
    return notebook


@pytest.mark.parametrize("change, words", [
    (lambda t: t.replace('reglab="selfcheck" item="eval_mode"', 'reglab="selfcheck" item="eval_mod"'),
     "'eval_mod' is not a check"),
    (lambda t: t.replace('item="q_eval_mode" points=2', 'item="q_eval_mode" points=3'), "add up to 19"),
    (lambda t: t.replace('functions=["batchnorm_backward"]', 'functions=["batchnorm_backwards"]'),
     "has no 'batchnorm_backwards'"),
    (lambda t: t.replace('reglab="selfcheck" item="immutability"', 'reglab="selfcheck" item="eval_mode"'),
     "used twice"),
    (lambda t: t.replace('reglab="written"', 'reglab="essay"'), "unknown reglab='essay'"),
])
def test_build_refuses_a_notebook_that_does_not_fit(lab06b, monkeypatch, tmp_path, change, words):
    text = change(lab06b.notebook.read_text())
    notebook = _lab_with(tmp_path, lab06b, text)
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(config, "ROOT", tmp_path)
    with pytest.raises(build.BuildError, match=words):
        build.build_notebook(lab06b)
    assert notebook.is_file()


def test_hand_edited_release_is_detected(lab06b, tmp_path):
    """A copy of the course whose release was edited by hand: the check names that file only."""
    for part in ("source", "release"):
        shutil.copytree(config.ROOT / part, tmp_path / part)
    released = lab06b.release_path_in(tmp_path)
    released.write_text(released.read_text().replace("Lab 06b", "Lab 06B"))
    assert stale_files(lab06b, tmp_path) == [f"release/{lab06b.id}/{lab06b.id}.ipynb"]
    shutil.rmtree(tmp_path / "source")
    assert stale_files(lab06b, tmp_path) == [f"source/{lab06b.id}/{lab06b.id}.ipynb",
                                             f"release/{lab06b.id}/{lab06b.id}.ipynb"]


def test_profiles_cell_holds_the_lab_profiles_and_needs_them(course, monkeypatch, tmp_path):
    lab = course.lab("06a")
    source = nbformat.read(lab.source_path, as_version=4)
    cell = next(c for c in source.cells if c.source.startswith("# Written by the build from course.yml"))
    namespace = {}
    exec(cell.source, namespace)   # noqa: S102 - our own build output
    assert namespace["PROFILES"]["ci"] == lab.profiles["ci"] and cell.metadata["nbgrader"]["locked"]
    bare = lab.model_copy(update={"profiles": None})
    with pytest.raises(build.BuildError, match="a profiles cell"):
        build.build_notebook(bare)


def test_a_class_stubs_each_method_but_a_function_has_one_pair(course):
    lab = course.lab("06a")
    release = nbformat.read(lab.release_path, as_version=4)
    stub = next(c.source for c in release.cells if c.source.startswith("class EarlyStopping"))
    assert stub.count("raise NotImplementedError()") == 3 and "def restore(self, model):" in stub

    def twice():
        ### BEGIN SOLUTION
        ### END SOLUTION
        ### BEGIN SOLUTION
        ### END SOLUTION
        pass

    module = type("module", (), {"twice": staticmethod(twice), "__name__": "fake"})
    with pytest.raises(build.BuildError, match="exactly one"):
        build._solution_source(module, ["twice"], "here")
