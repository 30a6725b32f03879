"""Plans of calls into student functions, and the outcomes read back.

A plan is plain data (tensors, numbers, strings, lists, dicts) so the kernel
can load it with ``weights_only=True``; the outcome files it writes are loaded
the same way here, and every field is checked before use: they come from the
student's process and may be malformed on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Ref:
    """An argument that is the return value (or one element of it) of an earlier call."""

    call: str
    index: int | None = None


@dataclass(frozen=True)
class Gen:
    """An argument that is a fresh ``torch.Generator`` on the grading device, seeded with ``seed``."""

    seed: int


@dataclass
class Call:
    """One call into the student's code.

    Plain form: ``func(*args, **kwargs)`` with ``func`` a name the notebook
    defines. Expression form, for classes, methods and given objects: ``expr``
    is a Python expression the harness evaluates with ``S`` (the notebook's
    names), ``R`` (earlier calls' return values by id), ``A`` and ``K`` (the
    resolved args and kwargs), and ``torch``, ``nn``, ``F``, ``math`` --
    e.g. ``"R['layer'].eval()(A[0])"``; ``func`` then names the student
    function or class the call is about (it must be defined, and it is what
    the messages and the from-scratch rule refer to).
    """

    id: str
    func: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    note: str = ""                  # for messages: the situation, e.g. "in eval mode on a batch of 1"
    expr: str | None = None


@dataclass(frozen=True)
class Opaque:
    """A returned object that is not plain data (a custom class, a tensor subclass...)."""

    type_name: str


@dataclass
class Outcome:
    """What one call did, as far as the trusted side can tell."""

    call: Call
    ran: bool = False               # False: no record (kernel died, the probe cell timed out)
    ok: bool = False                # returned without raising
    error: str | None = None
    value: Any = None               # decoded: torch.Tensor, tuple, dict, Opaque, or a plain Python value
    devices: Any = None             # value's shape, with the device type ("cpu", "cuda") for each tensor
    args_after: list = field(default_factory=list)
    ops: frozenset = frozenset()
    seconds: float = 0.0


def _encode_arg(arg):
    if isinstance(arg, Ref):
        return {"__ref__": arg.call, "index": arg.index}
    if isinstance(arg, Gen):
        return {"__generator__": int(arg.seed)}
    if isinstance(arg, torch.Tensor):
        return arg.detach().clone()           # never share storage between calls
    if isinstance(arg, (list, tuple)):
        return type(arg)(_encode_arg(a) for a in arg)
    if isinstance(arg, dict):
        return {k: _encode_arg(v) for k, v in arg.items()}
    return arg


def write_plan(calls: list[Call], path: Path, device: str, timeout: float) -> None:
    plan = {"device": device, "timeout": float(timeout), "calls": [
        {"id": c.id, "func": c.func, "expr": c.expr, "args": [_encode_arg(a) for a in c.args],
         "kwargs": {k: _encode_arg(v) for k, v in c.kwargs.items()}} for c in calls]}
    torch.save(plan, path)


class MalformedRecord(ValueError):
    pass


def _decode(data):
    """(value, devices) from an encoded value; devices mirrors value with a device per tensor."""
    if not isinstance(data, dict) or len(data) == 0:
        raise MalformedRecord("value is not an encoded dict")
    if "tensor" in data:
        tensor = data["tensor"]
        if type(tensor) is not torch.Tensor or not isinstance(data.get("device"), str):
            raise MalformedRecord("tensor entry is not a tensor")
        return tensor, data["device"]
    if "seq" in data:
        if not isinstance(data["seq"], list):
            raise MalformedRecord("seq entry is not a list")
        pairs = [_decode(v) for v in data["seq"]]
        return tuple(v for v, _ in pairs), tuple(d for _, d in pairs)
    if "py" in data:
        value = data["py"]
        if value is not None and type(value) not in (bool, int, float, str):
            raise MalformedRecord("py entry is not a plain value")
        return value, None
    if "map" in data:
        if not isinstance(data["map"], dict) or not all(isinstance(k, str) for k in data["map"]):
            raise MalformedRecord("map entry is not a dict with str keys")
        pairs = {k: _decode(v) for k, v in data["map"].items()}
        return {k: v for k, (v, _) in pairs.items()}, {k: d for k, (_, d) in pairs.items()}
    if "opaque" in data:
        return Opaque(str(data["opaque"])), None
    raise MalformedRecord("unknown value kind")


def read_outcomes(calls: list[Call], results_dir: Path) -> dict[str, Outcome]:
    """Read the harness's records; a call with no record, or a malformed one, did not run."""
    outcomes = {}
    for index, call in enumerate(calls):
        outcome = Outcome(call=call)
        path = results_dir / f"{index:04d}.pt"
        if path.is_file():
            try:
                record = torch.load(path, weights_only=True)
                if not isinstance(record, dict) or record.get("id") != call.id:
                    raise MalformedRecord("record does not belong to this call")
                outcome.ok = record.get("ok") is True
                error = record.get("error")
                outcome.error = error[:400] if isinstance(error, str) else None
                if outcome.ok:
                    outcome.value, outcome.devices = _decode(record.get("value"))
                outcome.args_after = [None if a is None else _decode(a)[0] for a in record.get("args_after", [])]
                ops = record.get("ops", [])
                outcome.ops = frozenset(o for o in ops if isinstance(o, str)) if isinstance(ops, list) else frozenset()
                seconds = record.get("seconds", 0.0)
                outcome.seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
                outcome.ran = True
            except Exception as exc:  # noqa: BLE001 - anything unreadable is a failed call
                outcome = Outcome(call=call, error=f"the result of this call could not be read ({exc.__class__.__name__})")
        outcomes[call.id] = outcome
    return outcomes
