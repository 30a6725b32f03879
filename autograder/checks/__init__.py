"""Hidden checks: one module per lab, each exposing ``make_checks() -> LabChecks``.

The shared vocabulary (items, tolerances, tensor comparison) lives in ``base``.
"""

import importlib

from autograder.checks.base import LabChecks


def load(module_name: str) -> LabChecks:
    """A fresh ``LabChecks`` from a lab's check module, e.g. ``autograder.checks.batchnorm``."""
    return importlib.import_module(module_name).make_checks()
