"""Every lab's checks over many seeds, without kernels: no false alarms on correct code, no escapes for bugs.

The harness runs here, in-process, on functions exec'd from each example, so
many fresh input draws cost seconds. (The sandboxed path is covered by
test_lab_examples.py; this file is about the statistics of the checks: a
sampler's statistical test has a false-alarm rate, and this measures it.)
"""

import os

import pytest
import torch

from autograder.checks import load
from autograder.grade import grade_in_process
from reglab.examples import examples

from conftest import selected_labs

# Four seeds (fresh inputs each) keep the whole suite within its 30 minutes on 2 cores; this file is
# one of its largest shares. More seeds for a measurement of the checks' false-alarm rates:
# REGLAB_SEEDS=200 scripts/test tests/test_checks_over_seeds.py
SEEDS = range(int(os.environ.get("REGLAB_SEEDS", "4")))


def _functions(example):
    cell = next(c for c in example.notebook.cells
                if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    namespace = {}
    exec(compile(cell.source, example.name, "exec"), namespace)   # noqa: S102 - our own examples
    return namespace


def _lost(namespace, lab, course, seed, tmp_path):
    results = grade_in_process(namespace, lab, course, seed, tmp_path / f"seed{seed}")
    return {r.id for r in results if r.points < r.max_points}, results


def pytest_generate_tests(metafunc):
    if "example" in metafunc.fixturenames:
        metafunc.parametrize("lab, example", [
            pytest.param(lab, e, id=f"{lab.short}-{e.name}") for lab in selected_labs()
            for e in examples(lab) if e.kind in {"reference", "alternative", "bug"}])


def test_every_seed_grades_as_expected(lab, example, course, tmp_path):
    namespace = _functions(example)
    for seed in SEEDS:
        lost, results = _lost(namespace, lab, course, seed, tmp_path)
        assert lost == set(example.loses), f"seed {seed}: " + " | ".join(f"{r.id}: {r.message}" for r in results)


@pytest.mark.parametrize("lab", selected_labs(), ids=lambda lab: lab.short)
def test_items_keep_nothing_between_planning_and_judging(lab):
    """Gradings judge with checks fresh from the lab's module (grade.score), so planning must leave no
    state on an item: what judging needs rides in each call's ``case``."""
    checks = load(lab.checks)
    before = {item.id: dict(vars(item)) for item in checks.items}
    gen = torch.Generator().manual_seed(0)
    for item in checks.items:
        item.calls(gen)
    assert {item.id: dict(vars(item)) for item in checks.items} == before
