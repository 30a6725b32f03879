"""The bundled example submissions of a lab, made from its release notebook.

``examples/<short>/`` holds, per lab: ``bugs.yml`` (the bug zoo: the
reference with one mistake each, as a text patch, and the one item it must
lose), ``alternatives/*.py`` (correct solutions written differently) and
``hostile/*.py`` (submissions that try to get points without earning them).
A bug's ``says`` (a hostile example's ``Says:`` line) holds words the message of
the item it loses must contain: what the student is told to fix.
In those files ``@COURSE_ROOT@`` stands for the course folder on the grading
host, and a line ``# @REFERENCE@`` for the reference's functions, so a
hostile example can be the reference plus one attack.
The reference and the blank release complete the set. Tests grade all of them;
``reglab demo`` grades them as a class.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from reglab.config import ROOT, Lab


@dataclass
class Example:
    name: str
    kind: str                   # reference | blank | bug | alternative | hostile
    loses: frozenset | None     # item ids it must lose; None means every item
    description: str
    notebook: nbformat.NotebookNode
    says: str | None = None     # words the message of a lost item must contain (what to fix)


def _solution_cells(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]


def fill(release: nbformat.NotebookNode, code: str, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of ``release`` with ``code`` in its first solution cell, the other solution cells
    emptied, and each written-answer cell holding ``answers[grade_id]``."""
    nb = nbformat.from_dict(release)
    cells = _solution_cells(nb)
    cells[0].source = code
    for cell in cells[1:]:
        cell.source = "# (written in the first solution cell)"
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "markdown" and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def _model_answers(lab: Lab) -> dict[str, str]:
    """The written answers of the source notebook (the model answers), by grade id."""
    source = nbformat.read(lab.source_path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
            if c.cell_type == "markdown" and c.metadata["nbgrader"].get("solution")}


def _reference_code(lab: Lab, names: list[str], patch: dict | None = None) -> str:
    """The reference's functions ``names`` as one student cell, with ``patch`` (a bug) applied if given."""
    module = importlib.import_module(lab.solutions)
    parts = ["import torch"]
    for name in names:
        text = inspect.getsource(getattr(module, name))
        if patch and patch["function"] == name:
            if text.count(patch["find"]) != 1:
                raise ValueError(f"bug {patch['name']!r}: {patch['find']!r} is not found exactly once in {name}")
            text = text.replace(patch["find"], patch["replace"])
        parts.append(text)
    return "\n\n".join(parts)


def _loses(doc: str) -> frozenset | None:
    match = re.search(r"Loses: (.+)", doc)
    if not match:
        raise ValueError("example docstring needs a 'Loses: item, item', 'Loses: all' or 'Loses: none' line: "
                         f"{doc[:80]!r}")
    value = match.group(1).strip()
    if value == "none":
        return frozenset()
    return None if value == "all" else frozenset(v.strip() for v in value.split(","))


def examples(lab: Lab) -> list[Example]:
    folder = ROOT / "examples" / lab.short
    release = nbformat.read(lab.release_path, as_version=4)
    answers = _model_answers(lab)
    names = [c.metadata["nbgrader"]["grade_id"].removeprefix("solution_") for c in _solution_cells(release)]
    found = [Example("reference", "reference", frozenset(), "the reference solution",
                     fill(release, _reference_code(lab, names), answers)),
             Example("blank", "blank", None, "the release as handed out", nbformat.from_dict(release))]
    for bug in yaml.safe_load((folder / "bugs.yml").read_text()) if (folder / "bugs.yml").is_file() else []:
        found.append(Example(bug["name"], "bug", frozenset([bug["loses"]]),
                             f"{bug['function']}: {bug['find']!r} -> {(bug['replace'].splitlines() or [''])[0]!r}",
                             fill(release, _reference_code(lab, names, bug), answers), bug.get("says")))
    for subfolder, kind in (("alternatives", "alternative"), ("hostile", "hostile")):
        for path in sorted((folder / subfolder).glob("*.py")):
            code = path.read_text().replace("@COURSE_ROOT@", str(ROOT))
            code = code.replace("# @REFERENCE@", _reference_code(lab, names))
            doc = code.split('"""')[1] if code.startswith('"""') else ""
            loses = frozenset() if kind == "alternative" else _loses(doc)
            says = re.search(r"Says: (.+)", doc)
            found.append(Example(path.stem, kind, loses, doc.strip().splitlines()[0] if doc else path.stem,
                                 fill(release, code, answers), says.group(1).strip() if says else None))
    return found


def write_submissions(lab: Lab, submitted: Path) -> list[tuple[Example, Path]]:
    """Write every example as nbgrader's ``submitted/<student>/<lab>/<lab>.ipynb``; student = example name."""
    written = []
    for example in examples(lab):
        path = submitted / example.name / lab.id / f"{lab.id}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(example.notebook, path)
        written.append((example, path))
    return written


def mismatch(example: Example, lost: set[str], all_items: set[str]) -> str | None:
    """None if a grading lost exactly the items ``example`` must lose, else what differed."""
    expected = all_items if example.loses is None else set(example.loses)
    if lost == expected:
        return None
    extra, kept = sorted(lost - expected), sorted(expected - lost)
    return "; ".join(filter(None, [f"also lost {', '.join(extra)}" if extra else "",
                                   f"kept {', '.join(kept)}" if kept else ""]))
