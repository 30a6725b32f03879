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
def graded(course, tmp_path_factory):
    """graded("06c") -> {example name: (Example, GradeResult)}: every bundled example of that lab,
    graded for real in the sandbox, once per session."""
    import nbformat

    from autograder.grade import grade_submission
    from reglab.examples import examples

    cache = {}

    def grade(short):
        if short not in cache:
            lab = course.lab(short)
            folder = tmp_path_factory.mktemp(f"submissions{short}")
            cache[short] = {}
            for example in examples(lab):
                path = folder / f"{example.name}.ipynb"
                nbformat.write(example.notebook, path)
                cache[short][example.name] = (example, grade_submission(path, lab, course))
        return cache[short]

    return grade


@pytest.fixture(scope="session")
def graded06b(graded):
    return graded("06b")
