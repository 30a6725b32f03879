"""The from-scratch review (autograder/review.py): it names every evasion, costs exactly the items whose
functions use one, and never flags correct code, in any lab."""

import nbformat
import pytest

from autograder import checks, review
from autograder.submission import restore_given_cells
from reglab.examples import examples

from conftest import selected_labs


def _reviewed(lab, notebook):
    release = nbformat.read(lab.release_path, as_version=4)
    given = {c.metadata["nbgrader"]["grade_id"] for c in release.cells if c.metadata.get("nbgrader", {}).get("locked")}
    return review.review(restore_given_cells(notebook, release).nb, given)


def _lost(lab, notebook):
    lab_checks = checks.load(lab.checks)
    found = _reviewed(lab, notebook)
    return {item.id for item in lab_checks.items
            if item.enforce_rules and review.rule_breaks(found, lab_checks, item.functions)}


@pytest.mark.parametrize("lab", selected_labs(), ids=lambda lab: lab.short)
def test_correct_code_is_never_flagged(lab):
    for example in examples(lab):
        if example.kind in ("reference", "alternative", "blank"):
            assert _reviewed(lab, example.notebook).flags() == [], example.name


@pytest.mark.parametrize("lab", selected_labs(), ids=lambda lab: lab.short)
def test_a_bug_loses_to_the_review_at_most_its_own_item(lab):
    for example in examples(lab):
        if example.kind == "bug":
            assert _lost(lab, example.notebook) <= set(example.loses), example.name


def _notebook(lab, code):
    from reglab.examples import fill
    return fill(nbformat.read(lab.release_path, as_version=4), code, {})


CASES = [  # (code of the solution cell, what the review must name, items it must cost)
    ("import torch.nn.functional as F\n"
     "def batchnorm_forward(x, *a, **k):\n    return F.batch_norm(x, None, None, training=True), None",
     "torch.nn.functional.batch_norm", {"forward_train", "running_stats", "eval_mode"}),
    ("from torch.nn.functional import batch_norm as bn\ndef _helper(x):\n    return bn(x, None, None, training=True)\n"
     "def batchnorm_forward(x, *a, **k):\n    return _helper(x), None",
     "torch.nn.functional.batch_norm", {"forward_train", "running_stats", "eval_mode"}),
    ("import torch\ndef batchnorm_backward_fast(dout, cache):\n"
     "    return torch.ops.aten.native_batch_norm_backward(dout)",
     "torch.ops", {"backward_fast"}),
    ("def batchnorm_backward(dout, cache):\n    node = cache[0].grad_fn\n    return node.next_functions",
     "autograd's graph", {"backward_staged"}),
    ("import threading\nthreading.Thread(target=print).start()\ndef batchnorm_forward(x, *a, **k):\n    return x, None",
     "threads", {"forward_train", "running_stats", "eval_mode", "backward_staged", "backward_fast"}),
    ("get_ipython().input_transformers_cleanup.append(lambda lines: lines)",
     "input transformers", {"forward_train", "running_stats", "eval_mode", "backward_staged", "backward_fast"}),
    ("import torch\nwith torch._C.DisableTorchFunction():\n    pass",
     "torch._C", {"forward_train", "running_stats", "eval_mode", "backward_staged", "backward_fast"}),
    ("import torch.nn.functional as F\ndef batchnorm_forward(x, *a, **k):\n"
     "    return getattr(F, 'batch' + '_norm')(x), None",
     "computed name", {"forward_train", "running_stats", "eval_mode"}),
]


@pytest.mark.parametrize("code, named, costs", CASES, ids=[c[1] for c in CASES])
def test_each_evasion_is_named_and_costs_its_items(lab06b, code, named, costs):
    notebook = _notebook(lab06b, code)
    assert any(named in flag for flag in _reviewed(lab06b, notebook).flags()) or named.startswith("torch.nn"), \
        _reviewed(lab06b, notebook).flags()
    assert _lost(lab06b, notebook) == costs


def test_a_local_that_shares_a_name_with_a_test_cell_is_not_the_test_cells_value(lab06b):
    """A student's added cell may compare with F.batch_norm; a local of the same name in their function
    is their own value, not that cell's."""
    code = ("import torch, torch.nn.functional as F\nout = F.batch_norm(torch.ones(4, 3), None, None, training=True)\n"
            "def batchnorm_forward(x, gamma, beta, rm, rv, training=True, momentum=0.1, eps=1e-5):\n"
            "    out = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + eps)\n"
            "    return out * gamma + beta, None")
    assert _lost(lab06b, _notebook(lab06b, code)) == set()


def test_magics_and_shell_lines_do_not_hide_code_from_the_review(lab06b):
    code = "%%time\n!nvidia-smi\nimport threading\nthreading.Thread(target=print).start()"
    assert any("threads" in flag for flag in _reviewed(lab06b, _notebook(lab06b, code)).flags())
