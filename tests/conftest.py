"""Shared fixtures: the course, its labs, and each lab's example submissions graded once per session."""

import os

import pytest

from reglab import config


def selected_labs() -> list[config.Lab]:
    """The labs of course.yml that per-lab tests run over: all of them, or those named in
    REGLAB_LABS (e.g. ``REGLAB_LABS=06c,06d``) while working on one lab."""
    labs = config.load().labs
    wanted = [name.strip() for name in os.environ.get("REGLAB_LABS", "").split(",") if name.strip()]
    return [lab for lab in labs if not wanted or lab.short in wanted or lab.id in wanted]


def lab_shorts() -> list[str]:
    return [lab.short for lab in selected_labs()]


@pytest.fixture(scope="session")
def course():
    return config.load()


@pytest.fixture(scope="session")
def lab06b(course):
    return course.lab("06b")


@pytest.fixture(scope="session")
def grading_cluster():
    """One Dask LocalCluster for the session's class gradings: a worker per core."""
    from autograder.cluster import local_cluster
    with local_cluster(os.cpu_count() or 2) as address:
        yield address


@pytest.fixture(scope="session")
def graded_folders():
    """{lab short: the folder ``graded`` wrote that lab's results into} (its <example>.json, .txt, .ipynb)."""
    return {}


def run_with_demos(examples) -> set[str]:
    """The examples ``graded`` runs whole, self-checks and demos included, as ``reglab grade-class``
    does by default: the reference, the blank, the first bug and every hostile example. The other
    bugs and alternatives, most of a lab's grading time, are graded with ``--no-outputs``: no demo
    can change a point, which test_points_are_decided_before_any_demo_runs shows on the first three."""
    first_bug = next(e.name for e in examples if e.kind == "bug")
    return {e.name for e in examples if e.kind in ("reference", "blank", "hostile") or e.name == first_bug}


@pytest.fixture(scope="session")
def graded(course, tmp_path_factory, grading_cluster, graded_folders):
    """graded("06c") -> {example name: (Example, GradeResult)}: every bundled example of that lab,
    graded for real in the sandbox, once per session, as a class (each example a student) on the
    session's grading cluster; ``run_with_demos`` says which run their self-checks and demos too."""
    from autograder.classroom import from_submitted, grade_class, stored_result
    from reglab.examples import write_submissions

    cache = {}

    def grade(short):
        if short not in cache:
            lab = course.lab(short)
            submitted, out = tmp_path_factory.mktemp(f"submitted{short}"), tmp_path_factory.mktemp(f"grades{short}")
            written = write_submissions(lab, submitted)
            found, refused = from_submitted(submitted, lab)
            assert not refused, refused
            whole = run_with_demos([example for example, _ in written])
            for run_demos in (True, False):
                run = grade_class(lab, course, [s for s in found if (s.student in whole) == run_demos], out,
                                  dask_address=grading_cluster, progress=False, run_demos=run_demos)
                assert not run.failed, run.failed
            graded_folders[short] = out
            cache[short] = {example.name: (example, stored_result(out, example.name)) for example, _ in written}
        return cache[short]

    return grade


@pytest.fixture(scope="session")
def graded06b(graded):
    return graded("06b")


@pytest.fixture(scope="session")
def graded_course(course, lab06b, graded06b, graded_folders):
    """graded_course(root) -> root: a course directory with 06b released into its gradebook and three
    submissions graded and published into it (results, feedback, gradebook, autograded/): alice the
    reference, bob the blank release, carol a bug, 5 hours late."""
    import dataclasses
    import datetime as dt
    import shutil

    import nbformat

    from autograder.classroom import from_submitted, publish
    from autograder.grade import grader_version
    from autograder.report import write
    from reglab.calendar import set_due_date
    from reglab.release import nbgrader

    def make(root):
        shutil.copy(config.ROOT / "nbgrader_config.py", root)
        shutil.copytree(config.ROOT / "source" / lab06b.id, root / "source" / lab06b.id)
        nbgrader("generate_assignment", lab06b.id, "--force", cwd=root)
        set_due_date(lab06b, root)
        students = {"alice": "reference", "bob": "blank", "carol": "biased_running_var"}
        for student, example in students.items():
            folder = root / "submitted" / student / lab06b.id
            folder.mkdir(parents=True)
            nbformat.write(graded06b[example][0].notebook, folder / f"{lab06b.id}.ipynb")
            late = dt.timedelta(hours=5 if student == "carol" else -1)
            (folder / "timestamp.txt").write_text((lab06b.due + late).strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
        found, _ = from_submitted(root / "submitted", lab06b)
        out = root / "grades" / lab06b.id
        grader = grader_version(lab06b, course)   # as of now: checks edited since the session graded stay current
        for submission in found:              # the results and notebooks as grade_class writes them
            result = graded06b[students[submission.student]][1]
            write(dataclasses.replace(result, sha256=submission.sha256, grader=grader), out, submission.student)
            shutil.copy(graded_folders["06b"] / f"{students[submission.student]}.ipynb",
                        out / f"{submission.student}.ipynb")
        assert publish(lab06b, course, found, out, root) == 3
        return root

    return make
