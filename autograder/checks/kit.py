"""The checks kit: what every lab's hidden checks draw, read and check the same way.

- Inputs: ``randint``, ``uniform``, ``seed``, ``randn``, ``rand`` draw from the
  grading generator only, so a submission's hidden inputs follow its seed.
- What came back: ``device_of`` (where the harness saw a returned tensor),
  ``dtype_name``, ``where`` (the words that place a case in a message).
- Checks every function gets alike: ``require_real_result`` (a stub cannot
  collect a point judged on something else), ``check_unchanged`` (inputs left
  alone: values, shape and dtype of every tensor argument; ``check_args_unchanged``
  over a call's arguments by name), ``check_replay`` and ``check_independent``
  (randomness comes from the generator argument), ``known_mistake`` (a message
  that names a mistake whose result the student's matches; ``diagnose`` tries a
  list of them; ``check_number`` does the same for a returned Python number, read
  by ``number``).
- ``CaseItem``: an item made of independent cases, each call carrying in
  ``call.case`` what judging it needs, so nothing is kept between ``calls()``
  and ``judge()``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from autograder.checks.base import CheckFailed, Context, Item, close, describe
from autograder.probes import Call, Outcome

AUTOGRAD = r"Tensor\.backward|autograd\.grad$|autograd\.backward$|run_backward"
GENERATOR_ADVICE = ("draw every random number from the generator argument (generator=generator), not from "
                    "torch's global random state, numpy or random")


# ---------------------------------------------------------------- inputs

def randint(gen: torch.Generator, low: int, high: int) -> int:
    """An integer in [low, high], both included."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def uniform(gen: torch.Generator, low: float, high: float, digits: int | None = None) -> float:
    value = low + (high - low) * float(torch.rand(1, generator=gen, dtype=torch.float64))
    return round(value, digits) if digits is not None else value


def seed(gen: torch.Generator) -> int:
    """A seed for a generator the harness makes in the kernel (``probes.Gen``)."""
    return randint(gen, 0, 2**31 - 2)


def randn(gen: torch.Generator, *shape, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def rand(gen: torch.Generator, *shape, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(*shape, generator=gen, dtype=torch.float64).to(dtype)


# ---------------------------------------------------------------- what came back

def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def device_of(devices, index: int | None = None) -> str | None:
    """The device the harness saw a returned tensor on: the value itself, or element ``index`` of a tuple."""
    if index is not None:
        devices = devices[index] if isinstance(devices, tuple) and len(devices) > index else None
    return devices if isinstance(devices, str) else None


def where(index: int, total: int, *details: str) -> str:
    """``case 2 of 5: shape (8, 3), float32``: which case a message is about, without its values."""
    details = [d for d in details if d]
    return f"case {index + 1} of {total}" + (f": {', '.join(details)}" if details else "")


def own(item: Item, outcomes: dict[str, Outcome]) -> list[Outcome]:
    """The outcomes of ``item``'s calls, in the order it planned them."""
    return [o for key, o in outcomes.items() if key.startswith(f"{item.id}/")]


def roles(item: Item, outcomes: dict[str, Outcome]) -> dict[str, Outcome]:
    """``item``'s outcomes by the rest of their call ids (``module/eval`` -> ``"eval"``), for items that judge
    several calls together; what judging needs rides in the calls' ``case``."""
    return {o.call.id.removeprefix(f"{item.id}/"): o for o in own(item, outcomes)}


# ---------------------------------------------------------------- checks every function gets alike

def require_real_result(func: str, name: str, value, shape, why: str = "") -> None:
    """A finite, non-constant tensor of ``shape``: items that judge something else (immutability, the
    generator) are won only by a function that computes something."""
    if isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(shape):
        if value.numel() > 1 and torch.isfinite(value).all() and value.double().std() > 0:
            return
        got = "a constant tensor or one with NaN/inf"
    else:
        got = describe(value)
    raise CheckFailed(f"{func} returned {got} as {name}, not a real result of shape {tuple(shape)}"
                      + (f"; {why}" if why else ""))


def check_unchanged(func: str, outcome: Outcome, inputs: dict[str, tuple[int, torch.Tensor]], *,
                    context: str = "", advice: str = "work on new tensors (x - mu, not x.sub_(mu) or x -= mu)") -> None:
    """Every tensor argument as it was: same shape, dtype and values after the call.

    ``inputs``: argument name -> (its position in the call, the tensor passed).
    """
    suffix = f" ({context})" if context else ""
    for name, (position, before) in inputs.items():
        after = outcome.args_after[position] if len(outcome.args_after) > position else None
        if not isinstance(after, torch.Tensor):
            raise CheckFailed(f"{func}: its input {name} could not be read back after the call{suffix}")
        if tuple(after.shape) != tuple(before.shape):
            raise CheckFailed(f"{func} changed the shape of its input {name} in place, from {tuple(before.shape)} "
                              f"to {tuple(after.shape)}{suffix}; use x.unsqueeze(0), x.reshape(...), not "
                              "x.unsqueeze_(0), x.resize_(...) or x.t_()")
        if after.dtype != before.dtype or not torch.equal(after, before):
            raise CheckFailed(f"{func} modified its input {name} in place{suffix}; {advice}")


def check_args_unchanged(func: str, outcome: Outcome, names: tuple[str, ...], **kwargs) -> None:
    """``check_unchanged`` on every tensor the call passed positionally, each named by its parameter in ``names``
    (the function's parameters in order); ``kwargs`` as for ``check_unchanged``."""
    inputs = {name: (position, arg) for position, (name, arg) in enumerate(zip(names, outcome.call.args))
              if isinstance(arg, torch.Tensor)}
    check_unchanged(func, outcome, inputs, **kwargs)


def known_mistake(got, wrong, expected: torch.Tensor, tol, message: str, where: str = "") -> None:
    """Raise ``message`` when ``got`` is what a known mistake gives (``wrong``) and that differs from ``expected``:
    the words that say what to fix, before a comparison that would only say how far off it is."""
    if isinstance(got, torch.Tensor) and close(got, wrong, tol) and not close(wrong, expected, tol):
        raise CheckFailed(message + (f" ({where})" if where else ""))


def diagnose(got, mistakes, expected: torch.Tensor, tol, where: str = "", prefix: str = "") -> None:
    """``known_mistake`` for each (words, what the mistake gives) of ``mistakes`` in turn, the message ``prefix``
    and the words; a mistake given as None does not apply to the case."""
    for words, wrong in mistakes:
        if wrong is not None:
            known_mistake(got, wrong, expected, tol, prefix + words, where)


def number(value, what: str) -> float:
    """A returned Python number (not a bool, not a tensor) as a float, or CheckFailed naming what came back."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"{what} should be a Python float; got {describe(value)} (use .item() on a tensor)")
    return float(value)


def check_number(got: float, expected: float, rtol: float, message: str,
                 mistakes: dict[str, float] | None = None) -> None:
    """``got`` within ``rtol * max(1, |expected|)`` of ``expected``; else CheckFailed with the words of the first
    known mistake (words -> the value it gives) that ``got`` matches as closely, or ``message``."""
    def near(value):
        return abs(got - value) <= rtol * max(1.0, abs(value))
    if not near(expected):
        raise CheckFailed(next((words for words, value in (mistakes or {}).items() if near(value)), message))


def same(a, b) -> bool:
    """Equal returned values: tensors equal in shape and values, tuples element by element."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    return type(a) is type(b) and a == b


def check_replay(func: str, first, again, what: str = "results") -> None:
    """Two calls with generators seeded alike must agree."""
    if not same(first, again):
        raise CheckFailed(f"two calls of {func} with generators seeded alike gave different {what}: {GENERATOR_ADVICE}")


def check_independent(func: str, first, other, what: str = "results") -> None:
    """Two calls with generators seeded differently must not agree."""
    if same(first, other):
        raise CheckFailed(f"generators with different seeds gave {func} the same {what}: {GENERATOR_ADVICE}")


# ---------------------------------------------------------------- items made of cases

class CaseItem(Item):
    """An item made of independent cases. ``cases(gen)`` returns (or yields) its calls, each carrying in
    ``call.case`` what judging it needs; ``check(outcome, ctx)`` judges one, raising ``CheckFailed``.
    The item keeps nothing between planning and judging, so any instance can judge any plan."""

    def cases(self, gen: torch.Generator) -> Iterable:
        raise NotImplementedError

    def check(self, outcome: Outcome, ctx: Context) -> None:
        raise NotImplementedError

    def calls(self, gen):
        return list(self.cases(gen))        # drawn now, in the order of the items

    def judge(self, outcomes, ctx):
        for outcome in own(self, outcomes):
            self.check(outcome, ctx)


def case_calls(item: Item, rows) -> list:
    """A call of ``item.functions[0]`` per (args, words) row; the words that place it are its note and case."""
    rows = list(rows)
    return [Call(f"{item.id}/{i}", item.functions[0], args, note=f"({at})", case=at)
            for i, (args, words) in enumerate(rows) for at in [where(i, len(rows), *words)]]
