"""Build nbgrader source notebooks from the authored text (notebooks/) and the reference (solutions/).

The authored lab is a jupytext percent file. Three cell kinds carry a
``reglab`` key in their header; every other cell is given material and is
locked (read-only in the release, restored at grading):

* ``reglab="solution" functions=["f", ...]``: an empty code cell that the
  build fills with those functions from the lab's solutions module, markers
  and all; nbgrader later replaces the marked body with a stub.
* ``reglab="selfcheck" item="forward_train"``: the student's visible check of
  one hidden-check item; an nbgrader test cell worth that item's points.
* ``reglab="written" item="q_..." points=N`` (markdown): a written answer,
  graded by hand in formgrader; the cell text is the model answer.
* ``reglab="profiles"``: an empty code cell that the build fills with the
  lab's ``profiles`` from course.yml, as ``PROFILES = {...}`` (given, locked).
* ``reglab="demo"``: given code that no student function needs (a plot, an
  experiment, a timing). Grading decides points before such cells run, and
  skips them with ``--no-outputs``; the cell carries ``{"reglab": {"demo": true}}``.

Every notebook carries ``{"reglab": {"lab": <id>, "build": <digest>}}`` in its
metadata, so a grader can tell another lab's notebook, or an older release's,
from this one.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
from pathlib import Path

import jupytext
import nbformat

from autograder import checks as lab_checks
from reglab.config import ROOT, Lab

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
CELL_ID = re.compile(r"[^A-Za-z0-9_-]")


class BuildError(ValueError):
    """The authored notebook does not fit its solutions module, its checks or course.yml."""


def _nbgrader(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def _solution_source(module, names: list[str], where: str) -> str:
    parts = []
    for name in names:
        func = getattr(module, name, None)
        if func is None:
            raise BuildError(f"{where}: {module.__name__} has no {name!r}")
        text = inspect.getsource(func)
        # A class keeps its method signatures in the release: one pair per method body.
        pairs = [text.count(marker) for marker in SOLUTION_MARKERS]
        if pairs[0] != pairs[1] or pairs[0] == 0 or (pairs[0] > 1 and not inspect.isclass(func)):
            raise BuildError(f"{where}: {module.__name__}.{name} needs exactly one "
                             f"'{SOLUTION_MARKERS[0]}' / '{SOLUTION_MARKERS[1]}' pair around its body "
                             "(a class: one pair around each method's body)")
        parts.append(text.rstrip("\n"))
    return "\n\n\n".join(parts)


def _profiles_source(lab: Lab, width: int = 100) -> str:
    """The lab's course.yml profiles as a Python dict literal, so the release needs no course.yml."""
    lines = [f"# Written by the build from course.yml (labs: {lab.id}: profiles); change it there.",
             "PROFILES = {"]
    for name, settings in lab.profiles.items():
        lines.append(f"    {name!r}: {{")
        line = " " * 8
        for key, value in settings.items():
            item = f"{key!r}: {value!r}, "
            if len(line) + len(item) > width and line.strip():
                lines.append(line.rstrip())
                line = " " * 8
            line += item
        lines += [line.rstrip(), "    },"]
    return "\n".join(lines + ["}"])


def build_notebook(lab: Lab) -> nbformat.NotebookNode:
    """The nbgrader source notebook of ``lab``, checked against its solutions, checks and points."""
    if not lab.notebook.is_file():
        raise BuildError(f"{lab.id}: the authored notebook {lab.notebook.relative_to(ROOT)} does not exist")
    nb = jupytext.read(lab.notebook)
    solutions = importlib.import_module(lab.solutions)
    items = {item.id: item for item in lab_checks.load(lab.checks).items}
    seen: dict[str, int] = {}
    points = 0.0
    for index, cell in enumerate(nb.cells, start=1):
        where = f"{lab.notebook.relative_to(ROOT)}, cell {index}"
        role = cell.metadata.pop("reglab", None)
        functions = cell.metadata.pop("functions", None)
        item_id = cell.metadata.pop("item", None)
        item_points = cell.metadata.pop("points", None)
        if role == "solution":
            if cell.cell_type != "code" or not isinstance(functions, list) or not functions:
                raise BuildError(f"{where}: a solution cell is a code cell with functions=[\"name\", ...]")
            if cell.source.strip():
                raise BuildError(f"{where}: leave solution cells empty; the code comes from {lab.solutions}")
            cell.source = _solution_source(solutions, functions, where)
            grade_id = f"solution_{functions[0]}"
            cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=True)
        elif role == "selfcheck":
            if item_id not in items:
                raise BuildError(f"{where}: item {item_id!r} is not a check of {lab.checks} "
                                 f"(known: {', '.join(items)})")
            grade_id = item_id
            points += items[item_id].points
            cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=True, locked=True, points=items[item_id].points)
        elif role == "profiles":
            if cell.cell_type != "code" or cell.source.strip() or lab.profiles is None:
                raise BuildError(f"{where}: a profiles cell is an empty code cell, and course.yml gives the lab "
                                 "profiles: {ci: {...}, cpu: {...}, gpu: {...}}")
            cell.source = _profiles_source(lab)
            grade_id = f"given_{index:02d}"
            cell.metadata["nbgrader"] = _nbgrader(grade_id, locked=True)
        elif role == "written":
            if cell.cell_type != "markdown" or not item_id or not isinstance(item_points, (int, float)) \
                    or item_points <= 0:
                raise BuildError(f"{where}: a written cell is a markdown cell with item=\"q_...\" points=N")
            grade_id = item_id
            points += item_points
            cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=True, grade=True, points=item_points)
        elif role in (None, "demo"):
            grade_id = f"given_{index:02d}"
            cell.metadata["nbgrader"] = _nbgrader(grade_id, locked=True)
            if role == "demo":
                if cell.cell_type != "code":
                    raise BuildError(f"{where}: a demo cell is a code cell")
                cell.metadata["reglab"] = {"demo": True}
        else:
            raise BuildError(f"{where}: unknown reglab={role!r}; use solution, selfcheck, written, profiles or demo")
        if grade_id in seen:
            raise BuildError(f"{where}: {grade_id!r} is used twice (first in cell {seen[grade_id]})")
        seen[grade_id] = index
        cell.id = CELL_ID.sub("-", grade_id)[:64]

    unchecked = set(items) - set(seen)
    if unchecked:
        raise BuildError(f"{lab.notebook.relative_to(ROOT)}: no selfcheck cell for hidden item(s) "
                         f"{', '.join(sorted(unchecked))}; every item needs one (it carries the points in nbgrader)")
    if abs(points - lab.points) > 1e-9:
        raise BuildError(f"course.yml: labs[{lab.id}].points is {lab.points:g}, but the notebook's graded cells "
                         f"add up to {points:g}; change one of them")
    nb.metadata.pop("jupytext", None)
    nb.metadata["reglab"] = {"lab": lab.id, "build": build_digest(nb)}
    nb.metadata["language_info"] = {"name": "python"}
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


def build_digest(nb: nbformat.NotebookNode) -> str:
    """A digest of the cells' roles and text: two builds share it only if a student sees the same lab."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        digest.update(json.dumps([cell.cell_type, cell.source, cell.metadata.get("nbgrader", {})]).encode())
    return digest.hexdigest()[:12]


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The bytes a build writes, so a staleness check can compare without writing."""
    return nbformat.writes(nb) + "\n"


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook_text(nb))


def build(lab: Lab, root: Path = ROOT) -> Path:
    path = lab.source_path_in(root)
    write_notebook(build_notebook(lab), path)
    return path

