"""Run a lab's own notebook code for a claims benchmark, so what is measured is what students see.

``notebook_namespace`` executes the built source notebook (reference solutions filled in) in a
profile: every given and solution cell, and of the demo cells only those that define the names a
benchmark asks for; self-checks and the demo cells that run experiments and plot are skipped, so
the benchmark can call the notebook's experiment functions once per seed itself.
"""

from __future__ import annotations

import ast
import os

import matplotlib
import nbformat

from reglab import config

matplotlib.use("Agg")


def _defines(source: str, names: set[str]) -> bool:
    tree = ast.parse(source)
    return any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names for node in tree.body)


def notebook_namespace(short: str, profile: str, names: set[str]) -> dict:
    """The globals of lab ``short``'s source notebook run in ``profile``, with the demo cells defining ``names``."""
    os.environ["REGLAB_PROFILE"] = profile
    namespace = {"__name__": "__main__"}
    nb = nbformat.read(config.load().lab(short).source_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        if cell.metadata.get("reglab", {}).get("demo") and not _defines(cell.source, names):
            continue
        exec(compile(cell.source, f"{short} {cell.metadata['nbgrader']['grade_id']}", "exec"), namespace)  # noqa: S102
    return namespace
