"""What every lab's hidden checks are made of.

An ``Item`` is one graded unit: it plans calls into the student's functions on
fresh inputs and judges what came back against the reference. Items are
all-or-nothing and narrow, so a wrong implementation loses exactly the item
it breaks, and the message says what to fix without showing hidden inputs or
the reference's outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from autograder.probes import Call, Opaque, Outcome
from reglab.config import Tolerance

FLOAT64_TOLERANCE = Tolerance(rtol=1e-9, atol=1e-10)   # course.yml sets float32 only


@dataclass(frozen=True)
class Context:
    """Where the hidden inputs went and how closely float32 results must agree."""

    device: str                 # "cpu" or "cuda"
    float32: Tolerance

    def tolerance(self, dtype: torch.dtype) -> Tolerance:
        return FLOAT64_TOLERANCE if dtype == torch.float64 else self.float32


class CheckFailed(Exception):
    """Raised by ``Item.judge`` with the message the student reads."""


class Item:
    """One graded unit. Subclasses set the class attributes and write ``calls`` and ``judge``."""

    id: str
    points: float
    functions: tuple[str, ...]      # the student functions this item grades
    title: str
    enforce_rules = True            # False: this item does not apply the lab's from-scratch rule

    def calls(self, gen: torch.Generator) -> list[Call]:
        raise NotImplementedError

    def judge(self, outcomes: dict[str, Outcome], ctx: Context) -> None:
        """Return if the outcomes are right; raise ``CheckFailed(message)`` if not."""
        raise NotImplementedError


@dataclass(frozen=True)
class LabChecks:
    lab: str
    items: tuple[Item, ...]
    # Per student function: a regex over the names of the torch functions and
    # ATen kernels it ran; a match means it called what it should re-implement.
    forbidden: dict[str, str]
    # A module of functions the harness defines in the kernel for calls that name a ``helper``:
    # self-contained (stdlib and torch), each taking the notebook's names first. Unit-test it here.
    helpers: ModuleType | None = None

    @property
    def helpers_source(self) -> str:
        return Path(self.helpers.__file__).read_text() if self.helpers else ""

    def item(self, item_id: str) -> Item:
        return next(item for item in self.items if item.id == item_id)

    def forbidden_use(self, func: str, ops: frozenset) -> str | None:
        pattern = self.forbidden.get(func)
        if not pattern:
            return None
        # Name the Python-level function a student wrote (torch.nn.functional.batch_norm) before the kernel it ran.
        hits = sorted((op.startswith("aten."), op) for op in ops if re.search(pattern, op))
        return hits[0][1] if hits else None


def describe(value) -> str:
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return f"{type(value).__name__} {value!r}"[:80]


def unpack(value, count: int, what: str) -> tuple:
    """The elements of a returned tuple, or CheckFailed naming what came back."""
    if not isinstance(value, tuple) or len(value) != count:
        raise CheckFailed(f"{what} should return a tuple of {count}; it returned {describe(value)}")
    return value


def assert_tensor_close(name: str, got, expected: torch.Tensor, ctx: Context, *,
                        dtype: torch.dtype, device: str | None, where: str = "") -> None:
    """Compare a student tensor with the float64 reference, in words a student can act on.

    ``dtype`` is the input's dtype, which the output must keep; ``device`` is
    the device the harness saw the output on (None when not known).
    """
    suffix = f" ({where})" if where else ""
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor; got {describe(got)}{suffix}")
    if tuple(got.shape) != tuple(expected.shape):
        raise CheckFailed(f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}{suffix}")
    if got.dtype != dtype:
        raise CheckFailed(f"{name} is {got.dtype} for {dtype} inputs; keep the input's dtype{suffix}")
    if device is not None and device != ctx.device:
        raise CheckFailed(f"{name} is on {device} for inputs on {ctx.device}; "
                          f"keep outputs on the input's device{suffix}")
    if not torch.isfinite(got).all():
        raise CheckFailed(f"{name} contains NaN or inf{suffix}")
    if not close(got, expected, ctx.tolerance(dtype)):
        error = (got.double() - expected.double()).abs().max().item()
        raise CheckFailed(f"{name} is wrong: max abs error {error:.2e}{suffix}")


def close(got: torch.Tensor, expected: torch.Tensor, tol: Tolerance) -> bool:
    """Elementwise |got - expected| <= atol * scale + rtol * |expected|, scale = max(1, max|expected|)."""
    if tuple(got.shape) != tuple(expected.shape) or not torch.isfinite(got).all():
        return False
    got, expected = got.double(), expected.double()
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    return bool(((got - expected).abs() <= tol.atol * scale + tol.rtol * expected.abs()).all())
