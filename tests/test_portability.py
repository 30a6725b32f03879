"""Every release notebook runs unchanged in JupyterLab, classic Notebook, VS Code and Colab.

Read statically, per lab of course.yml: valid nbformat 4 with a python3
kernelspec; imports only the standard library and what every one of those
front ends already has (torch, torchvision, numpy, matplotlib, tqdm), with
ipywidgets only inside ``try/except ImportError``; installs nothing; and reads
no local file it did not write itself (a data root that a
``torchvision.datasets`` call fills with ``download=True`` counts as written).
"""

from __future__ import annotations

import ast
import re
import sys

import nbformat
import pytest

from conftest import selected_labs

ALLOWED_IMPORTS = {"torch", "torchvision", "numpy", "matplotlib", "tqdm"}
OPTIONAL_IMPORTS = {"ipywidgets"}             # only inside try/except ImportError, with a fallback
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}

# Calls that read a file named by their first argument, and calls that write one.
READ_CALLS = {"open", "load", "loadtxt", "genfromtxt", "imread", "read_text", "read_bytes", "read_file",
              "read_image", "read_csv", "fromfile"}
WRITE_CALLS = {"save", "savez", "savefig", "imsave", "write_text", "write_bytes", "savetxt", "to_csv"}
# A string that names a file: has a folder or an extension ("data/x.csv", "weights.pt").
FILE_PATH = re.compile(r"[\w.~-]+(/[\w.-]+)+/?|[\w-]+\.[A-Za-z]\w{0,5}")
# Line magics and shell escapes a plain Python kernel elsewhere may lack, or that read local files.
BAD_MAGIC = re.compile(r"^\s*(%+|!)\s*(pip|conda|mamba|apt|apt-get|wget|curl|run|load|cd|git)\b")


def _labs():
    return [pytest.param(lab, id=lab.short) for lab in selected_labs()]


def _code_cells(notebook) -> list[tuple[int, str]]:
    return [(index, cell.source) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]


def _python(source: str) -> str:
    """A cell's Python with IPython magics and shell escapes blanked out (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _module(index: int, source: str) -> ast.Module:
    try:
        return ast.parse(_python(source))
    except SyntaxError as exc:
        pytest.fail(f"code cell {index} is not valid Python (line {exc.lineno}): {exc.msg}")


def _optional_imports(tree: ast.AST) -> set[int]:
    """ids of the import nodes guarded by ``try: ... except ImportError``."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            caught = set()
            for handler in node.handlers:
                types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                caught |= {t.id for t in types if isinstance(t, ast.Name)}
                caught |= {"BaseException"} if handler.type is None else set()
            if caught & IMPORT_ERRORS:
                guarded |= {id(n) for statement in node.body for n in ast.walk(statement)
                            if isinstance(n, (ast.Import, ast.ImportFrom))}
    return guarded


def _imported_modules(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node, node.module.split(".")[0]


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _literals(node: ast.AST | None, names: dict[str, ast.AST], seen=()) -> set[str]:
    """The string constants a path expression is built from, following simple ``NAME = ...`` assignments."""
    found = set()
    for sub in ast.walk(node) if node is not None else ():
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found.add(sub.value)
        elif isinstance(sub, ast.Name) and sub.id in names and sub.id not in seen:
            found |= _literals(names[sub.id], names, (*seen, sub.id))
    return found


def _path_argument(call: ast.Call) -> ast.AST | None:
    """The path of a read or write call: ``open(path)``, ``torch.save(obj, path)``, ``Path(...).read_text()``."""
    name = _call_name(call)
    if name in {"read_text", "read_bytes", "write_text", "write_bytes", "to_csv"} \
            and isinstance(call.func, ast.Attribute):
        return call.func.value if name != "to_csv" else (call.args[0] if call.args else None)
    if name in {"save", "savez", "savetxt", "imsave"} and len(call.args) >= 2 and name != "savefig":
        return call.args[1] if name == "save" and _owner(call) == "torch" else call.args[0]
    keyword = next((k.value for k in call.keywords if k.arg in {"file", "f", "fname", "path", "filepath"}), None)
    return call.args[0] if call.args else keyword


def _owner(call: ast.Call) -> str | None:
    value = call.func.value if isinstance(call.func, ast.Attribute) else None
    return value.id if isinstance(value, ast.Name) else None


def _opens_for_writing(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and bool(set(mode.value) & set("wax"))


def _downloads(call: ast.Call) -> bool:
    return any(k.arg == "download" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
               for k in call.keywords)


@pytest.fixture(params=_labs())
def release(request):
    lab = request.param
    path = lab.release_path
    assert path.is_file(), f"{lab.id} is in course.yml but {path} is missing: run `reglab release --lab {lab.short}`"
    return lab, nbformat.read(path, as_version=nbformat.NO_CONVERT)


def test_metadata_is_nbformat4_with_a_python3_kernel(release):
    lab, notebook = release
    assert notebook.nbformat == 4, f"{lab.id}: nbformat {notebook.nbformat}; every front end reads 4"
    nbformat.validate(notebook)
    kernelspec = notebook.metadata.get("kernelspec", {})
    assert kernelspec.get("name") == "python3" and kernelspec.get("language") == "python", (
        f"{lab.id}: kernelspec {kernelspec}; Colab and VS Code pick the kernel from name 'python3'")
    assert notebook.metadata.get("language_info", {}).get("name") == "python"


def import_problems(notebook) -> list[str]:
    stdlib = set(sys.stdlib_module_names)
    problems = []
    for index, source in _code_cells(notebook):
        tree = _module(index, source)
        optional = _optional_imports(tree)
        for node, module in _imported_modules(tree):
            if module in stdlib or module in ALLOWED_IMPORTS:
                continue
            if module in OPTIONAL_IMPORTS and id(node) in optional:
                continue
            why = ("only inside try/except ImportError, with a fallback" if module in OPTIONAL_IMPORTS
                   else "not the standard library nor torch, torchvision, numpy, matplotlib, tqdm")
            problems.append(f"cell {index}, line {node.lineno}: imports {module} ({why})")
    return problems


def magic_problems(notebook) -> list[str]:
    return [f"cell {index}: `{line.strip()}`" for index, source in _code_cells(notebook)
            for line in source.splitlines() if BAD_MAGIC.match(line)]


def read_problems(notebook) -> list[str]:
    trees = [(index, _module(index, source)) for index, source in _code_cells(notebook)]
    names = {target.id: node.value for _, tree in trees for node in ast.walk(tree)
             if isinstance(node, ast.Assign) for target in node.targets if isinstance(target, ast.Name)}
    written, reads = set(), []
    for index, tree in trees:
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name = _call_name(call)
            if name in WRITE_CALLS or (name == "open" and _opens_for_writing(call)):
                written |= _literals(_path_argument(call), names)
            elif _downloads(call):                       # a torchvision dataset fetched into its root
                written |= _literals(call.args[0] if call.args else None, names)
            elif name in READ_CALLS:
                reads.append((index, call))
    problems = []
    for index, call in sorted(reads, key=lambda read: (read[0], read[1].lineno, read[1].col_offset)):
        files = {text for text in _literals(_path_argument(call), names) if FILE_PATH.fullmatch(text)
                 and not any(text == path or text.startswith(path.rstrip("/") + "/") for path in written)}
        if files:
            problems.append(f"cell {index}, line {call.lineno}: {_call_name(call)}() reads {', '.join(sorted(files))}")
    return problems


def test_imports_only_what_every_front_end_has(release):
    lab, notebook = release
    problems = import_problems(notebook)
    assert not problems, f"{lab.id}:\n" + "\n".join(problems)


def test_installs_nothing_and_runs_no_local_files(release):
    lab, notebook = release
    problems = magic_problems(notebook)
    assert not problems, (f"{lab.id}: these need a shell, a package manager or local files that "
                          "Colab and VS Code do not have:\n" + "\n".join(problems))


def test_reads_no_local_file_it_did_not_write(release):
    lab, notebook = release
    problems = read_problems(notebook)
    assert not problems, (f"{lab.id} reads local files it does not create (a Colab student has only the "
                          ".ipynb):\n" + "\n".join(problems))


def test_the_checks_catch_what_they_look_for():
    """Each check flags its own kind of violation and lets the allowed forms through."""
    cells = [
        "import os, json\nimport torch.nn as nn\nfrom tqdm import tqdm\n%matplotlib inline",
        "try:\n    import ipywidgets\nexcept ImportError:\n    ipywidgets = None",
        "import ipywidgets\nimport pandas as pd",
        "!pip install torch\n%run helpers.py",
        "torch.save(model, 'weights.pt')\nstate = torch.load('weights.pt')",
        "DATA = 'data/train.csv'\nrows = open(DATA).read()\nx = np.load('given/x.npy')",
        "torchvision.datasets.CIFAR10('cifar', download=True)\nimg = plt.imread('cifar/0.png')",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    assert import_problems(notebook) == [
        "cell 2, line 1: imports ipywidgets (only inside try/except ImportError, with a fallback)",
        "cell 2, line 2: imports pandas (not the standard library nor torch, torchvision, numpy, matplotlib, tqdm)"]
    assert magic_problems(notebook) == ["cell 3: `!pip install torch`", "cell 3: `%run helpers.py`"]
    assert read_problems(notebook) == ["cell 5, line 2: open() reads data/train.csv",
                                       "cell 5, line 3: load() reads given/x.npy"]
