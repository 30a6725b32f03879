"""Whole-class grading: nbgrader's submitted/ layout, LMS zips, hostile names, resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import nbformat
import pytest

from autograder.classroom import already_graded, from_submitted, grade_class, import_zip
from autograder.grade import grader_version
from reglab import config
from reglab.config import ROOT
from reglab.examples import examples


@pytest.fixture(scope="module")
def notebooks(lab06b):
    """name -> notebook text of the 06b examples used here."""
    by_name = {e.name: e for e in examples(lab06b)}
    return {name: nbformat.writes(by_name[name].notebook) for name in ("reference", "blank", "biased_running_var")}


def _submit(submitted, student, lab, text, name=None):
    folder = submitted / student / lab.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (name or f"{lab.id}.ipynb")).write_text(text)
    return folder


def test_submitted_layout_refuses_odd_ids_and_links_and_grades_empty_folders_as_zero(tmp_path, lab06b, notebooks):
    submitted = tmp_path / "submitted"
    _submit(submitted, "alice", lab06b, notebooks["reference"])
    _submit(submitted, "bob.smith@uni", lab06b, notebooks["blank"], name="my work.ipynb")
    (submitted / "carol" / lab06b.id).mkdir(parents=True)                          # no notebook at all
    _submit(submitted, "dan", lab06b, notebooks["blank"], name="draft.ipynb")      # two, neither named for the lab
    _submit(submitted, "dan", lab06b, notebooks["blank"], name="copy.ipynb")
    _submit(submitted, "eve smith", lab06b, notebooks["reference"])                # a space
    _submit(submitted, "-rf", lab06b, notebooks["reference"])                      # starts like an option
    (submitted / "mallory" / lab06b.id).mkdir(parents=True)
    alices = submitted / "alice" / lab06b.id / f"{lab06b.id}.ipynb"
    (submitted / "mallory" / lab06b.id / f"{lab06b.id}.ipynb").symlink_to(alices)
    (submitted / "frank").mkdir()                                                  # submitted other labs only

    found, refused = from_submitted(submitted, lab06b)
    by_student = {s.student: s for s in found}
    assert set(by_student) == {"alice", "bob.smith@uni", "carol", "dan", "mallory"}
    assert by_student["alice"].problem is None and by_student["bob.smith@uni"].path.name == "my work.ipynb"
    assert "no notebook was submitted" in by_student["carol"].problem
    assert "copy.ipynb, draft.ipynb" in by_student["dan"].problem
    assert "a link, not a file" in by_student["mallory"].problem
    assert len(refused) == 2 and all("is not allowed" in why for why in refused), refused


def test_lms_zip_entries_never_become_paths(tmp_path, lab06b, notebooks):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("alice/06b-batchnorm-by-hand.ipynb", notebooks["reference"])
        bundle.writestr("bob_12345_batchnorm.ipynb", notebooks["blank"])             # Canvas-style flat name
        bundle.writestr("alice/second.ipynb", notebooks["blank"])                    # a second notebook for alice
        bundle.writestr("../../escape.ipynb", notebooks["blank"])
        bundle.writestr("/etc/absolute.ipynb", notebooks["blank"])
        bundle.writestr("C:\\Users\\x.ipynb", notebooks["blank"])
        bundle.writestr("we$ird/06b.ipynb", notebooks["blank"])
        bundle.writestr("__MACOSX/alice/._06b.ipynb", "junk")
        bundle.writestr("carol/readme.txt", "not a notebook")
    submitted = tmp_path / "course" / "submitted"
    imported, refused = import_zip(archive, lab06b, submitted)
    assert sorted(imported) == ["alice", "bob"]
    assert len(refused) == 5, refused
    assert sum("absolute paths and '..'" in why for why in refused) == 3
    assert any("a second notebook for alice" in why for why in refused)
    assert any("'we$ird'" in why and "is not allowed" in why for why in refused)
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["course/submitted/alice/06b-batchnorm-by-hand/06b-batchnorm-by-hand.ipynb",
                       "course/submitted/bob/06b-batchnorm-by-hand/06b-batchnorm-by-hand.ipynb", "export.zip"]
    # A new export with a changed notebook keeps the earlier one, never overwrites it.
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("alice/06b.ipynb", notebooks["biased_running_var"])
    import_zip(archive, lab06b, submitted)
    kept = list((submitted / "alice" / lab06b.id / ".previous").glob("*.ipynb"))
    assert len(kept) == 1 and kept[0].read_text() == notebooks["reference"]


@pytest.mark.slow
def test_a_class_is_graded_once_and_regraded_only_where_a_notebook_changed(tmp_path, course, lab06b, notebooks):
    submitted, out = tmp_path / "submitted", tmp_path / "grades"
    for student, name in (("alice", "reference"), ("bob", "blank")):
        _submit(submitted, student, lab06b, notebooks[name])
    (submitted / "carol" / lab06b.id).mkdir(parents=True)
    found, _ = from_submitted(submitted, lab06b)
    first = grade_class(lab06b, course, found, out, progress=False)
    assert sorted(first.graded) == ["alice", "bob", "carol"] and not first.failed
    points = {s: json.loads((out / f"{s}.json").read_text())["points"] for s in first.graded}
    assert points == {"alice": 14, "bob": 0, "carol": 0}
    assert "no notebook was submitted" in (out / "carol.txt").read_text()

    second = grade_class(lab06b, course, found, out, progress=False)
    assert second.graded == [] and sorted(second.skipped) == ["alice", "bob", "carol"]

    _submit(submitted, "bob", lab06b, notebooks["biased_running_var"])            # bob resubmits
    found, _ = from_submitted(submitted, lab06b)
    third = grade_class(lab06b, course, found, out, progress=False)
    assert third.graded == ["bob"] and json.loads((out / "bob.json").read_text())["points"] == 12

    stricter = course.model_copy(update={"grading": course.grading.model_copy(update={"max_output_kb": 32})})
    carol = [s for s in found if s.student == "carol"]
    assert grade_class(lab06b, stricter, carol, out, progress=False).graded == ["carol"], \
        "a result made under other grading settings is stale"


@pytest.mark.slow
def test_a_regrade_of_an_unchanged_submission_gives_the_same_result(tmp_path, course, lab06b, notebooks):
    _submit(tmp_path / "submitted", "alice", lab06b, notebooks["biased_running_var"])
    found, _ = from_submitted(tmp_path / "submitted", lab06b)
    results = []
    for attempt in ("first", "again"):
        grade_class(lab06b, course, found, tmp_path / attempt, progress=False)
        results.append(json.loads((tmp_path / attempt / "alice.json").read_text()))

    def verdict(result):
        return result["seed"], result["points"], [(i["id"], i["points"], i["message"]) for i in result["items"]]
    assert verdict(results[0]) == verdict(results[1])
    assert results[0]["points"] == 12


def _own_copy(text, student):
    """The notebook with a note of the student's own added: distinct content, so its own seed."""
    nb = nbformat.reads(text, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(f"submitted by {student}"))
    return nbformat.writes(nb)


DRIVER = """
import json, sys
from pathlib import Path
from autograder.classroom import from_submitted, grade_class
from reglab import config
course = config.load(); lab = course.lab("06b")
found, _ = from_submitted(Path(sys.argv[1]), lab)
run = grade_class(lab, course, found, Path(sys.argv[2]), workers=int(sys.argv[3]), progress=False)
print(json.dumps({"graded": run.graded, "skipped": run.skipped, "failed": run.failed}))
"""


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_grades_every_submission_exactly_once(tmp_path, lab06b, notebooks):
    submitted, out = tmp_path / "submitted", tmp_path / "grades"
    students = [f"s{i:02d}" for i in range(6)]
    for index, student in enumerate(students):
        _submit(submitted, student, lab06b, _own_copy(notebooks["reference" if index % 2 else "blank"], student))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", DRIVER, str(submitted), str(out), "2"]
    run = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(list(out.glob("*.json"))) < 2:
        assert run.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.2)
    os.kill(run.pid, signal.SIGKILL)             # the grader itself; its workers are left to notice
    run.wait()
    before = {p.stem for p in out.glob("*.json")}
    assert 2 <= len(before) < len(students)
    for path in out.glob("*.json"):              # what landed is whole, never half-written
        json.loads(path.read_text())

    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads(again.stdout.strip().splitlines()[-1])
    assert set(second["skipped"]) == before and not second["failed"]
    assert set(second["graded"]) == set(students) - before            # no result lost, none done twice
    after = sorted(p.stem for p in out.glob("*.json"))
    assert after == students and not list(out.glob("*.tmp"))
    found, _ = from_submitted(submitted, lab06b)
    assert all(already_graded(s, out, grader_version(lab06b, config.load())) for s in found)
