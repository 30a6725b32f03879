"""Shared fixtures: the course, lab 06b, and the example submissions graded once per session."""

import pytest

from reglab import config


@pytest.fixture(scope="session")
def course():
    return config.load()


@pytest.fixture(scope="session")
def lab06b(course):
    return course.lab("06b")


@pytest.fixture(scope="session")
def graded06b(course, lab06b, tmp_path_factory):
    """{example name: (Example, GradeResult)} for every bundled 06b example, graded in the sandbox."""
    import nbformat

    from autograder.grade import grade_submission
    from reglab.examples import examples

    folder = tmp_path_factory.mktemp("submissions06b")
    graded = {}
    for example in examples(lab06b):
        path = folder / f"{example.name}.ipynb"
        nbformat.write(example.notebook, path)
        graded[example.name] = (example, grade_submission(path, lab06b, course))
    return graded
