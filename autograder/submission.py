"""A submission, read and put back into the release's shape, once per student.

    prepared = prepare(Path("submitted/alice/06b-batchnorm-by-hand"), lab, limit)
    prepared.restored.nb      # the release's cells with alice's answers: what runs, and what formgrader shows
    prepared.restored.edits   # the given cells she changed: what her feedback page lists

Finding the notebook in a student's folder, reading it under a size cap, recognising another
lab's (or an older release's) notebook and restoring the given cells all happen here, before
any code runs; the grader, the class grader, the feedback page and the similarity report take
what they need from the result instead of reading the notebook again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.text import visible
from reglab.config import Lab

DEFAULT_LIMIT = 50 * 2**20     # bytes of a notebook read when the caller names no limit


class SubmissionError(ValueError):
    """The submission cannot be graded at all (not found, not a notebook...)."""


def grade_id(cell) -> str | None:
    """The nbgrader grade id of ``cell``, or None (a cell the student added, or one with odd metadata)."""
    found = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return found if isinstance(found, str) else None


def _lab_of(path: Path, limit: int) -> str | None:
    """The lab id a notebook's metadata names (the build writes it into every release), or None."""
    try:
        if path.stat().st_size > limit:
            return None
        return json.loads(path.read_bytes()).get("metadata", {}).get("reglab", {}).get("lab")
    except (OSError, ValueError, AttributeError):
        return None


@dataclass
class Found:
    """The notebook to grade in a submission, and what was left aside, for the student to hear."""
    path: Path
    notes: list[str] = field(default_factory=list)


def find_notebook(path: Path, lab: Lab, limit: int = DEFAULT_LIMIT) -> Found:
    """The notebook to grade: ``path`` itself, or the one notebook of ``lab`` in the folder ``path``.

    In a folder, notebooks whose metadata names another lab are left aside (and said so); of the
    rest there must be exactly one, else the submission cannot be graded, with the names found."""
    if path.is_file():
        return Found(path)
    if not path.is_dir():
        raise SubmissionError(f"{path.name}: no such file or folder")
    found = sorted(p for p in path.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file())
    for link in (p for p in found if p.is_symlink()):
        raise SubmissionError(f"{link.name} is a link, not a file; submit the notebook itself")
    if not found:
        raise SubmissionError(f"no notebook was submitted (expected {lab.id}.ipynb)")
    labs = {p: _lab_of(p, limit) for p in found}
    mine = [p for p in found if labs[p] in (lab.id, None)]
    others = [p for p in found if p not in mine]
    aside = [f"{p.name} was not graded: it is lab {labs[p]}'s notebook, not {lab.id}'s" for p in others]
    if len(mine) == 1:
        ignored = f" ({', '.join(p.name for p in others)} left aside)" if others else ""
        return Found(mine[0], aside + ([f"graded {mine[0].name}{ignored}"] if others else []))
    if not mine:
        raise SubmissionError("; ".join(f"{p.name} is lab {labs[p]}'s notebook, not {lab.id}'s" for p in others) +
                              f"; submit the {lab.id} notebook")
    raise SubmissionError(f"the folder holds {len(mine)} notebooks of this lab ({', '.join(p.name for p in mine)}); "
                          f"submit exactly one, named {lab.id}.ipynb")


def read_notebook(path: Path, limit: int = DEFAULT_LIMIT) -> tuple[nbformat.NotebookNode, bytes]:
    """The notebook at ``path`` and its bytes; SubmissionError (naming the file, not where it lies)
    if it is larger than ``limit`` bytes or not a valid Jupyter notebook."""
    if path.stat().st_size > limit:
        raise SubmissionError(f"{path.name} is larger than {limit // 2**20} MB; clear the outputs "
                              "(Kernel > Restart and Clear Outputs), save, and submit again")
    data = path.read_bytes()
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except UnicodeDecodeError:
        raise SubmissionError(f"{path.name} is not a text file; submit the .ipynb notebook") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds for bad input
        detail = str(exc).splitlines()[0][:200].replace(str(path), path.name) if str(exc) else ""
        raise SubmissionError(f"{path.name} is not a valid Jupyter notebook ({type(exc).__name__}: {detail}); "
                              "re-download the release and copy your solutions into it") from None
    return nb, data


def recognise(nb: nbformat.NotebookNode, release: nbformat.NotebookNode, lab: Lab) -> list[str]:
    """Notes on whose notebook this is: another lab's is refused, an older release's is said so."""
    meta = nb.metadata.get("reglab", {}) if isinstance(nb.metadata.get("reglab"), dict) else {}
    theirs, ours = meta.get("lab"), release.metadata.get("reglab", {})
    if isinstance(theirs, str) and theirs != lab.id:
        raise SubmissionError(f"this is lab {visible(theirs[:80], newlines=False)}'s notebook, not {lab.id}'s; "
                              f"submit the {lab.id} notebook")
    if isinstance(meta.get("build"), str) and meta.get("build") != ours.get("build"):
        return ["the notebook was made from an older release of this lab; your answers were matched to the "
                "current release's cells by their ids"]
    return []


@dataclass
class Restored:
    """A submission put back into the release's shape (see ``restore_given_cells``)."""
    nb: nbformat.NotebookNode
    notes: list[str]                     # what changed, for the report
    edits: list[tuple[str, str, str]]    # (grade id, the student's text, the release's) of each given cell edited


def restore_given_cells(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> Restored:
    """The release's cells in the release's order, with the student's answers put in, as nbgrader's
    autograde does: locked cells (given code, self-checks) come from the release whatever the student
    did to them; solution and written cells come from the student, matched by grade id; cells the
    student added stay after the cell they followed."""
    release_ids = [grade_id(c) for c in release.cells]
    student: dict[str, nbformat.NotebookNode] = {}
    added: dict[str | None, list] = {}
    previous = None
    for cell in nb.cells:
        cell_id = grade_id(cell)
        if cell_id in release_ids and cell_id not in student:
            student[cell_id] = cell
            previous = cell_id
        else:
            added.setdefault(previous, []).append(cell)
    notes, edits = [], []
    merged = nbformat.from_dict({**release, "cells": []})
    merged.cells.extend(added.get(None, []))
    for cell in release.cells:
        cell_id = grade_id(cell)
        meta = cell.metadata.get("nbgrader", {})
        mine = student.get(cell_id)
        if meta.get("solution") and not meta.get("locked"):
            if mine is None:
                notes.append(f"the answer cell {cell_id!r} is missing from the submission; it was graded as unanswered")
                merged.cells.append(cell)
            else:
                merged.cells.append(nbformat.from_dict({**cell, "source": mine.get("source", "")}))
        else:
            if mine is None or mine.get("source") != cell.source:
                edits.append((cell_id or "(unnamed)", "" if mine is None else mine.get("source", ""), cell.source))
            merged.cells.append(cell)
        merged.cells.extend(added.get(cell_id, []))
    if edits:
        notes.append(f"{len(edits)} given or self-check cell(s) were changed or deleted; "
                     "the release's version was used")
    extra = sum(len(cells) for cells in added.values())
    if extra:
        notes.append(f"{extra} cell(s) you added were run too, in place")
    return Restored(merged, notes, edits)


def read_release(lab: Lab) -> nbformat.NotebookNode:
    """The lab's release notebook, the shape every submission is restored to."""
    return nbformat.read(lab.release_path, as_version=4)


def locked_ids(release: nbformat.NotebookNode) -> set[str | None]:
    """The grade ids of the release's locked cells (given code, self-checks): not the student's code."""
    return {grade_id(c) for c in release.cells if c.metadata.get("nbgrader", {}).get("locked")}


@dataclass
class Prepared:
    """A submission ready to run: where its notebook was, its bytes, the release it was restored to,
    the restoring, and every note for the student so far."""
    path: Path
    content: bytes
    release: nbformat.NotebookNode
    restored: Restored
    notes: list[str]


def prepare(submission: Path, lab: Lab, limit: int = DEFAULT_LIMIT) -> Prepared:
    """Find, read, recognise and restore the notebook of ``lab`` in ``submission`` (a notebook, or a
    folder holding one); SubmissionError if it cannot be graded at all."""
    found = find_notebook(submission, lab, limit)
    nb, content = read_notebook(found.path, limit)
    release = read_release(lab)
    notes = found.notes + recognise(nb, release, lab)
    restored = restore_given_cells(nb, release)
    return Prepared(found.path, content, release, restored, notes + restored.notes)


def salvage(content: bytes, lab: Lab) -> Restored | None:
    """For a refused submission: the notebook restored all the same, where it can be read at all
    (another lab's, one too large to grade...), so formgrader shows the student's answers and the
    feedback page their edits; None where it cannot."""
    try:
        return restore_given_cells(nbformat.reads(content.decode("utf-8"), as_version=4), read_release(lab))
    except Exception:  # noqa: BLE001 - refused already; an unreadable notebook has nothing to show
        return None
