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
def graded(course, tmp_path_factory, grading_cluster):
    """graded("06c") -> {example name: (Example, GradeResult)}: every bundled example of that lab,
    graded for real in the sandbox, once per session, as a class (each example a student) on the
    session's grading cluster."""
    import json

    from autograder.classroom import from_submitted, grade_class
    from autograder.grade import GradeResult
    from reglab.examples import write_submissions

    cache = {}

    def grade(short):
        if short not in cache:
            lab = course.lab(short)
            submitted, out = tmp_path_factory.mktemp(f"submitted{short}"), tmp_path_factory.mktemp(f"grades{short}")
            written = write_submissions(lab, submitted)
            found, refused = from_submitted(submitted, lab)
            assert not refused, refused
            run = grade_class(lab, course, found, out, dask_address=grading_cluster, progress=False)
            assert not run.failed, run.failed
            cache[short] = {example.name: (example, GradeResult.from_json(json.loads(
                (out / f"{example.name}.json").read_text()))) for example, _ in written}
        return cache[short]

    return grade


@pytest.fixture(scope="session")
def graded06b(graded):
    return graded("06b")
