"""The weekly calendar: what `reglab publish` releases on a date, what `reglab status` counts,
and nbgrader's late penalty from the due dates publish writes into the gradebook.

Every test that writes works in a temporary course folder; the real gradebook.db is never touched.
"""

import datetime as dt
import hashlib
import shutil

import nbformat
import pytest

from reglab import calendar, cli
from reglab.config import ROOT
from reglab.examples import examples
from reglab.release import nbgrader


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture
def course_dir(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    return tmp_path


@pytest.fixture
def two_labs(course):
    """06b and the lab released right after it on the calendar."""
    lab06b = course.lab("06b")
    later = min((lab for lab in course.labs if lab.release > lab06b.release), key=lambda lab: lab.release)
    return lab06b, later


def test_a_lab_is_due_for_release_from_its_release_date_on(course):
    labs = list(course.labs)
    for lab in labs:
        released, scheduled = calendar.due_labs(labs, lab.release)
        assert lab in released
        assert lab in calendar.due_labs(labs, lab.release - dt.timedelta(days=1))[1]
        assert [x.release for x in released] == sorted(x.release for x in released)
        assert all(x.release > lab.release for x in scheduled)
    assert calendar.due_labs(labs, dt.date(2000, 1, 1)) == ([], sorted(labs, key=lambda x: (x.release, x.id)))


def test_late_penalty_has_a_grace_period_a_rate_per_started_hour_and_a_cap():
    plugin = calendar.SubtractPerHour(grace_minutes=15, percent_per_hour=2, max_percent=50)
    assert plugin.late_submission_penalty("s", 20.0, 10 * 60) == 0
    assert plugin.late_submission_penalty("s", 20.0, 15 * 60 + 1) == pytest.approx(20 * 0.02)
    assert plugin.late_submission_penalty("s", 20.0, 3 * 3600) == pytest.approx(20 * 0.06)   # 2 h 45 min past grace
    assert plugin.late_submission_penalty("s", 20.0, 30 * 24 * 3600) == pytest.approx(10.0)


def test_nbgrader_config_names_the_late_penalty_plugin():
    from traitlets.config.loader import PyFileConfigLoader
    from traitlets.utils.importstring import import_item
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert import_item(config.AssignLatePenalties.plugin_class) is calendar.SubtractPerHour
    plugin = calendar.SubtractPerHour(config=config)
    assert (plugin.grace_minutes, plugin.percent_per_hour, plugin.max_percent) == (15, 2, 50)


@pytest.mark.slow
def test_publish_releases_what_is_due_sets_due_dates_and_lists_the_rest(course_dir, two_labs):
    from nbgrader.api import Gradebook
    lab06b, later = two_labs
    real_gradebook = _digest(ROOT / "gradebook.db")
    released, scheduled = calendar.publish([lab06b, later], later.release - dt.timedelta(days=1), root=course_dir)
    assert (released, scheduled) == ([lab06b], [later])
    assert lab06b.release_path_in(course_dir).read_text() == lab06b.release_path.read_text()
    assert not later.release_path_in(course_dir).exists()
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        assert [a.name for a in gradebook.assignments] == [lab06b.id]
        due = gradebook.find_assignment(lab06b.id).duedate
    assert due == lab06b.due.astimezone(dt.timezone.utc).replace(tzinfo=None)
    assert _digest(ROOT / "gradebook.db") == real_gradebook


def _submit(root, student, lab, notebook, timestamp=None):
    folder = root / "submitted" / student / lab.id
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{lab.id}.ipynb")
    if timestamp is not None:
        stamp = timestamp.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        (folder / "timestamp.txt").write_text(stamp)


def test_status_counts_submissions_late_ones_and_grades(course_dir, two_labs):
    lab06b, later = two_labs
    notebook = nbformat.v4.new_notebook()
    _submit(course_dir, "alice", lab06b, notebook, lab06b.due - dt.timedelta(hours=1))
    _submit(course_dir, "bob", lab06b, notebook, lab06b.due + dt.timedelta(hours=3))
    _submit(course_dir, "carol", lab06b, notebook)                  # no timestamp: never counted late
    (course_dir / "submitted" / "dan" / lab06b.id).mkdir(parents=True)   # an empty folder is no submission
    (course_dir / "grades" / lab06b.id).mkdir(parents=True)
    for student in ("alice", "bob"):
        (course_dir / "grades" / lab06b.id / f"{student}.json").write_text("{}")

    status = calendar.lab_status(lab06b, lab06b.release, course_dir)
    assert (status.released, status.submitted, status.late, status.graded) == (True, 3, 1, 2)
    assert calendar.lab_status(later, lab06b.release, course_dir) == calendar.LabStatus(later, False, 0, 0, 0)

    table = calendar.status_table([later, lab06b], lab06b.release, course_dir).splitlines()
    assert table[0].split() == ["lab", "released", "due", "submitted", "late", "graded"]
    assert table[1].startswith(lab06b.id) and table[1].split()[-3:] == ["3", "1", "2"]
    assert f"yes, {lab06b.release}" in table[1] and f"no, {later.release}" in table[2]


def test_cli_status_and_publish_before_the_term_change_nothing(capsys):
    real_gradebook = _digest(ROOT / "gradebook.db")
    assert cli.main(["status", "--date", "2000-01-01"]) == 0
    out = capsys.readouterr().out
    assert "no, " in out and "yes, " not in out
    assert cli.main(["publish", "--date", "2000-01-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nothing to release on 2000-01-01") and "scheduled 06b-batchnorm-by-hand" in out
    assert _digest(ROOT / "gradebook.db") == real_gradebook
    assert cli.main(["status", "--date", "13/10/2026"]) == 2
    assert "write it as YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.slow
def test_nbgrader_autograde_takes_the_late_penalty_from_the_published_due_date(course_dir, lab06b):
    """End to end in nbgrader: publish sets the due date, a submission 3 h late loses 6% of its score."""
    from nbgrader.api import Gradebook
    calendar.publish([lab06b], lab06b.release, root=course_dir)
    reference = next(e for e in examples(lab06b) if e.name == "reference").notebook
    _submit(course_dir, "bob", lab06b, reference, lab06b.due + dt.timedelta(hours=3))
    nbgrader("autograde", lab06b.id, "--force", cwd=course_dir)
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        late = gradebook.find_submission_notebook(lab06b.id, lab06b.id, "bob")
        assert late.score > 0 and late.late_submission_penalty == pytest.approx(late.score * 0.06)
