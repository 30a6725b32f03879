"""06c's grading beyond the per-lab invariants of test_lab_examples.py: its kernel helpers, checks that keep
nothing between planning and judging, the blank's messages, the playground's static fallback without ipywidgets,
and what the release imports. (What each bug and hostile example is told is in examples/06c: ``says``.)"""

import ast
import time

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from autograder.checks.kernel import dropout as helpers
from reglab.examples import examples
from solutions import dropout as reference

LAB = "06c"


@pytest.fixture(scope="module")
def graded06c(graded):
    return graded(LAB)


def test_the_layer_helpers_make_run_and_switch_the_students_layer():
    S, x = {"Dropout": reference.Dropout}, torch.randn(40, 30)
    made = helpers.layer(S, 0.4, torch.Generator().manual_seed(1))
    assert isinstance(made, reference.Dropout) and made.p == 0.4 and made.training
    assert (helpers.run(S, made, x) == 0).any() and made.training
    assert torch.equal(helpers.run(S, made, x, "eval"), x) and not made.training
    assert (helpers.run(S, made, x, "train") == 0).any() and made.training
    assert torch.equal(helpers.run(S, made, x, "parent_eval"), x) and not made.training
    first, again = (helpers.new_run(S, 0.5, torch.Generator().manual_seed(2), x) for _ in range(2))
    assert torch.equal(first, again) and (first == 0).any()


def test_blank_says_which_function_is_not_written(graded06c):
    _, result = graded06c["blank"]
    for item in result.items:
        assert "is not written yet (it raises NotImplementedError)" in item.message, (item.id, item.message)
    messages = " | ".join(item.message for item in result.items)
    for name in ("dropout_mask", "dropout_forward", "dropout_backward", "Dropout", "variational_dropout"):
        assert f"{name} is not written yet" in messages, messages


def test_playground_falls_back_to_a_static_grid_without_ipywidgets(course):
    """ipywidgets may be installed here; block it, as on a machine without it, and run the reference (ci profile)."""
    lab = course.lab(LAB)
    nb = next(e.notebook for e in examples(lab) if e.name == "reference")
    nb.cells.insert(0, nbformat.v4.new_code_cell("import os, sys\nsys.modules['ipywidgets'] = None   # not installed\n"
                                                 "os.environ['REGLAB_PROFILE'] = 'ci'   # the grading profile"))
    start = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    seconds = time.perf_counter() - start
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("a fixed grid instead of the interactive playground" in o.get("text", "") for o in outputs)
    playground = next(c for c in nb.cells
                      if c.cell_type == "code" and "ipywidgets" in c.source and "interact" in c.source)
    assert any("image/png" in o.get("data", {}) for o in playground.outputs), "the static grid was not drawn"
    assert seconds < lab.budgets.ci, f"the reference took {seconds:.0f} s, over the ci budget of {lab.budgets.ci:g} s"


def test_release_imports_only_what_students_have(course):
    """torch, matplotlib and the standard library; ipywidgets only inside try/except ImportError."""
    nb = nbformat.read(course.lab(LAB).release_path, as_version=4)
    allowed = {"torch", "torchvision", "numpy", "matplotlib", "tqdm", "os", "sys", "time", "math"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        guarded = {id(node) for handler in ast.walk(tree) if isinstance(handler, ast.Try)
                   for node in ast.walk(handler) if any(isinstance(h.type, ast.Name) and h.type.id == "ImportError"
                                                        for h in handler.handlers)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                for name in names:
                    top = name.split(".")[0]
                    assert top in allowed or (top == "ipywidgets" and id(node) in guarded), f"release imports {name}"
