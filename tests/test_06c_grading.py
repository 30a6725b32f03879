"""06c's grading beyond the per-lab invariants of test_lab_examples.py: its messages, the blank's
messages, the playground's static fallback without ipywidgets, and what the release imports."""

import ast
import time

import nbformat
import pytest
from nbclient import NotebookClient

from reglab.build import release_path
from reglab.examples import examples

LAB = "06c"


@pytest.fixture(scope="module")
def graded06c(graded):
    return graded(LAB)


@pytest.mark.parametrize("name, item, words", [
    ("keep_probability_is_p", "mask_sampler", "p is the DROP probability"),
    ("one_mask_per_row", "mask_sampler", "neighbouring elements along dim 0 are kept or dropped together"),
    ("mask_ignores_generator", "generator", "draw every random number from the generator argument"),
    ("no_rescale", "forward_train", "kept elements are not scaled"),
    ("eval_drops_too", "eval_mode", "eval mode dropped elements"),
    ("nan_at_p_one", "edge_cases", "return zeros instead of dividing by 1 - p = 0"),
    ("inplace_x", "immutability", "dropout_forward modified its input x in place"),
    ("backward_forgets_scale", "backward", "dx is missing the 1 / (1 - p) scale"),
    ("autograd_in_backward", "backward", "dropout_backward calls torch.autograd.grad"),
    ("module_ignores_eval", "module", "read self.training in forward"),
    ("variational_mask_per_step", "variational", "the mask changes across time steps"),
    ("variational_shared_across_batch", "variational", "every sequence needs its own mask"),
    ("library_dropout", "mask_sampler", "dropout_mask calls torch.nn.functional.dropout"),
    ("library_dropout", "forward_train", "native_dropout"),
    ("library_dropout", "module", "Dropout calls torch.nn.functional.dropout"),
    ("patched_comparisons", "forward_train", "mask keeps 0.0% of the elements"),
])
def test_messages_say_what_to_fix(graded06c, name, item, words):
    _, result = graded06c[name]
    message = next(i.message for i in result.items if i.id == item)
    assert words in message, message


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
    playground = next(c for c in nb.cells if c.cell_type == "code" and "ipywidgets" in c.source and "interact" in c.source)
    assert any("image/png" in o.get("data", {}) for o in playground.outputs), "the static grid was not drawn"
    assert seconds < lab.budgets.ci, f"the reference took {seconds:.0f} s, over the ci budget of {lab.budgets.ci:g} s"


def test_release_imports_only_what_students_have(course):
    """torch, matplotlib and the standard library; ipywidgets only inside try/except ImportError."""
    nb = nbformat.read(release_path(course.lab(LAB)), as_version=4)
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
