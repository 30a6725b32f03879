"""Layering: the grading engine depends on the course package only through ``reglab.config``.

``autograder`` reads course.yml (and the lab paths it defines) from ``reglab.config``; it never
imports the build, the release, the calendar, the examples or the command line, and it imports
no module of the project inside a function (an import hidden there to dodge a cycle is a cycle).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from reglab.config import ROOT

PROJECT = ("autograder", "reglab", "solutions")
ALLOWED_REGLAB = {"reglab.config"}
ENGINE = sorted((ROOT / "autograder").rglob("*.py"))
PROBE = ROOT / "autograder" / "_layering_probe.py"      # never written: the tests of the check parse text as if there


def _imports(tree: ast.AST, package: str):
    """(module, line, inside a function) of every import in ``tree``; relative imports resolved
    against ``package``, ``from a import b`` counted as ``a.b`` (b may be a module)."""
    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, in_function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in child.names:
                    yield f"{base}.{alias.name}" if alias.name != "*" else base, child.lineno, in_function
            elif isinstance(child, ast.Call) and isinstance(child.args[0] if child.args else None, ast.Constant):
                name = child.func.attr if isinstance(child.func, ast.Attribute) else getattr(child.func, "id", "")
                if name in ("import_module", "__import__") and isinstance(child.args[0].value, str):
                    yield child.args[0].value, child.lineno, in_function
            yield from visit(child, nested)
    yield from visit(tree, False)


def _package(path: Path) -> str:
    """The package a module file lies in (``autograder.checks`` for autograder/checks/base.py and its __init__)."""
    return ".".join(path.relative_to(ROOT).parts[:-1])


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT


def _reglab_allowed(module: str) -> bool:
    """``reglab.config`` and what it holds (``from reglab.config import Lab`` is ``reglab.config.Lab``)."""
    return any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED_REGLAB)


def _findings(path: Path, source: str | None = None) -> list[str]:
    where = path.relative_to(ROOT)
    found = []
    tree = ast.parse(path.read_text() if source is None else source, str(path))
    for module, line, in_function in _imports(tree, _package(path)):
        if module.split(".")[0] == "reglab" and not _reglab_allowed(module):
            found.append(f"{where}:{line}: imports {module}; autograder may import only reglab.config")
        if in_function and _is_project(module):
            found.append(f"{where}:{line}: imports {module} inside a function; import it at the top of the module")
    return found


def test_the_engine_is_found():
    assert ROOT / "autograder" / "grade.py" in ENGINE and ROOT / "autograder" / "checks" / "base.py" in ENGINE


def test_autograder_imports_only_reglab_config_and_nothing_lazily():
    findings = [finding for path in ENGINE for finding in _findings(path)]
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("code, finding", [
    ("from reglab.build import release_path", "imports reglab.build.release_path"),
    ("from reglab import build", "imports reglab.build"),
    ("import reglab.calendar", "imports reglab.calendar"),
    ("def f():\n    from autograder import grade", "inside a function"),
    ("def f():\n    from . import grade", "imports autograder.grade inside a function"),
    ("def f():\n    importlib.import_module('reglab.cli')", "imports reglab.cli"),
])
def test_the_check_finds_what_it_forbids(code, finding):
    found = _findings(PROBE, code)
    assert any(finding in line for line in found), found


@pytest.mark.parametrize("code", [
    "from reglab.config import ROOT, Lab",
    "from reglab import config",
    "import reglab.config",
    "def f():\n    import json\n    from nbgrader.api import Gradebook",
])
def test_the_check_allows_config_and_lazy_third_party_imports(code):
    assert _findings(PROBE, code) == []


def test_importing_every_engine_module_loads_no_other_reglab_module():
    """The same, as Python sees it: every module of autograder imported, and of reglab only config loaded."""
    modules = [_package(p) + ("" if p.name == "__init__.py" else f".{p.stem}") for p in ENGINE]
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'reglab'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(["reglab", "reglab.config"])
