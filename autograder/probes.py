"""Plans of calls into student functions, and the outcomes read back.

This module is the probe protocol's trusted side. A plan is plain data
(tensors, numbers, strings, lists, dicts) so the kernel can load it with
``weights_only=True``; the grader writes it where the kernel can only read it.
The harness (``harness.py``, run in the kernel) writes one record per call
(``record_name``). Records come from the student's process and may be
malformed on purpose: each is opened without following links, read under a
size cap, checked to be a stored (uncompressed) torch zip, loaded with
``weights_only=True``, and every field is checked and bounded before use. A
call the grader gave up on (it hung) gets its outcome here, in memory: the
grader never writes into a folder the kernel can write.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autograder import harness
from autograder.text import visible
from autograder.workspace import read_kernel_file


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
    defines. Helper form, for classes, methods and given objects: ``helper``
    names a function of the lab's kernel helpers (``LabChecks.helpers``), which
    the harness calls as ``helper(S, *args, **kwargs)`` with ``S`` the
    notebook's names; ``func`` then names the student function or class the
    call is about (it must be defined, and it is what the messages and the
    from-scratch rule refer to). ``case`` is what the item needs to judge the
    outcome (the inputs, the expected result); it stays with the grader and is
    never written into the plan.
    """

    id: str
    func: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    note: str = ""                  # for messages: the situation, e.g. "in eval mode on a batch of 1"
    helper: str | None = None
    case: Any = field(default=None, repr=False, compare=False)


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
    error: str | None = None        # what went wrong, as the student should read it
    error_type: str | None = None   # the exception's class name, or Hung / NotCalled for calls the grader gave up on
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


def write_plan(calls: list[Call], path: Path, device: str, timeout: float, helpers: str = "") -> None:
    """The plan the harness replays: each call's function, inputs and helper, and the helpers' source."""
    plan = {"device": device, "timeout": float(timeout), "helpers": helpers, "calls": [
        {"id": c.id, "func": c.func, "helper": c.helper, "args": [_encode_arg(a) for a in c.args],
         "kwargs": {k: _encode_arg(v) for k, v in c.kwargs.items()}} for c in calls]}
    torch.save(plan, path)


class MalformedRecord(ValueError):
    pass


# What one record may hold once loaded: nested values (list and dict entries, counted with repeats,
# so a record cannot inflate by sharing one object many times) and tensor bytes.
MAX_RECORD_NODES = 100_000
MAX_DEPTH = 8


def record_name(index: int) -> str:
    """The file the harness writes for the plan's call ``index``."""
    return f"{index:04d}.pt"


def record_index(name: str) -> int | None:
    stem, dot, ext = name.partition(".")
    return int(stem) if dot and ext == "pt" and len(stem) == 4 and stem.isdigit() else None


class _Budget:
    def __init__(self, max_bytes: int):
        self.nodes, self.bytes, self.max_bytes = 0, 0, max_bytes

    def spend(self, nodes: int = 1, tensor: torch.Tensor | None = None) -> None:
        self.nodes += nodes
        if tensor is not None:
            self.bytes += tensor.numel() * tensor.element_size()
        if self.nodes > MAX_RECORD_NODES or self.bytes > self.max_bytes:
            raise MalformedRecord("record holds more than a record may")


def _plain_tensor(tensor) -> torch.Tensor:
    """A tensor that owns exactly its bytes: no view that spans more elements than its storage holds."""
    if type(tensor) is not torch.Tensor or tensor.is_sparse or tensor.layout != torch.strided:
        raise MalformedRecord("tensor entry is not a dense tensor")
    storage = tensor.untyped_storage().nbytes()
    if not tensor.is_contiguous() or tensor.storage_offset() != 0 or \
            storage != tensor.numel() * tensor.element_size():
        raise MalformedRecord("tensor entry is a view, not a plain tensor")
    return tensor


def _decode(data, budget: _Budget, depth: int = 0):
    """(value, devices) from an encoded value; devices mirrors value with a device per tensor."""
    budget.spend()
    if depth > MAX_DEPTH:
        raise MalformedRecord("value is nested too deep")
    if not isinstance(data, dict) or len(data) == 0:
        raise MalformedRecord("value is not an encoded dict")
    if "tensor" in data:
        tensor = _plain_tensor(data["tensor"])
        budget.spend(0, tensor)
        if not isinstance(data.get("device"), str):
            raise MalformedRecord("tensor entry has no device")
        return tensor, data["device"][:16]
    if "seq" in data:
        if not isinstance(data["seq"], list):
            raise MalformedRecord("seq entry is not a list")
        budget.spend(len(data["seq"]))
        pairs = [_decode(v, budget, depth + 1) for v in data["seq"]]
        return tuple(v for v, _ in pairs), tuple(d for _, d in pairs)
    if "py" in data:
        value = data["py"]
        if value is not None and type(value) not in (bool, int, float, str):
            raise MalformedRecord("py entry is not a plain value")
        return (value[:200] if type(value) is str else value), None
    if "map" in data:
        if not isinstance(data["map"], dict) or not all(isinstance(k, str) for k in data["map"]):
            raise MalformedRecord("map entry is not a dict with str keys")
        budget.spend(len(data["map"]))
        pairs = {k[:80]: _decode(v, budget, depth + 1) for k, v in data["map"].items()}
        return {k: v for k, (v, _) in pairs.items()}, {k: d for k, (_, d) in pairs.items()}
    if "opaque" in data:
        return Opaque(str(data["opaque"])[:80]), None
    raise MalformedRecord("unknown value kind")


def load_record(data: bytes, max_bytes: int) -> dict:
    """A record's dict from its file's bytes, read under ``max_bytes``: torch's zip format with every
    entry stored (no compressed entry to inflate), then ``torch.load(weights_only=True)``."""
    stream = io.BytesIO(data)
    try:
        with zipfile.ZipFile(stream) as bundle:
            entries = bundle.infolist()
    except zipfile.BadZipFile:
        raise MalformedRecord("not a torch.save file") from None
    if len(entries) > 10_000 or any(e.compress_type != zipfile.ZIP_STORED for e in entries) or \
            sum(e.file_size for e in entries) > max_bytes:
        raise MalformedRecord("record is compressed or too large")
    stream.seek(0)
    record = torch.load(stream, weights_only=True, map_location="cpu")
    if not isinstance(record, dict):
        raise MalformedRecord("record is not a dict")
    return record


def _text(value, limit: int) -> str | None:
    return visible(value[:limit]) if isinstance(value, str) else None


def outcome_from_record(call: Call, record: dict, max_bytes: int) -> Outcome:
    """Check every field of a record that claims to be ``call``'s, and decode what it returned."""
    if record.get("id") != call.id:
        raise MalformedRecord("record does not belong to this call")
    budget = _Budget(max_bytes)
    outcome = Outcome(call=call, ran=True, ok=record.get("ok") is True)
    outcome.error = _text(record.get("error"), 400)
    outcome.error_type = _text(record.get("error_type"), 80)
    if outcome.ok:
        outcome.value, outcome.devices = _decode(record.get("value"), budget)
    args_after = record.get("args_after", [])
    if not isinstance(args_after, list) or len(args_after) > 64:
        raise MalformedRecord("args_after is not a short list")
    outcome.args_after = [None if a is None else _decode(a, budget)[0] for a in args_after]
    ops = record.get("ops", [])
    if isinstance(ops, list):
        outcome.ops = frozenset(o[:200] for o in ops[:5000] if isinstance(o, str))
    seconds = record.get("seconds", 0.0)
    outcome.seconds = float(seconds) if type(seconds) in (int, float) else 0.0
    return outcome


def read_outcomes(calls: list[Call], records: Path | int, *, max_bytes: int = 32 * 2**20,
                  hung: dict[int, tuple[str, str]] | None = None) -> dict[str, Outcome]:
    """Read the harness's records from the folder ``records`` (a path, or a descriptor the grader
    opened without following links; -1: there is none). A call with no record, or a malformed one, did not run.
    ``hung``: index -> (error type, message) of calls the grader gave up on; no file is read for them."""
    hung = hung or {}
    outcomes: dict[str, Outcome] = {}
    own_fd = not isinstance(records, int)
    try:
        dir_fd = os.open(records, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW) if own_fd else records
    except OSError:
        dir_fd = None
    dir_fd = None if dir_fd is not None and dir_fd < 0 else dir_fd
    try:
        for index, call in enumerate(calls):
            if index in hung:
                kind, message = hung[index]
                outcomes[call.id] = Outcome(call=call, ran=True, error=message, error_type=kind)
                continue
            outcome = Outcome(call=call)
            if dir_fd is not None:
                try:
                    data = read_kernel_file(dir_fd, record_name(index), max_bytes)
                    outcome = outcome_from_record(call, load_record(data, max_bytes), max_bytes)
                except FileNotFoundError:
                    pass
                except Exception as exc:  # noqa: BLE001 - anything unreadable is a failed call
                    outcome = Outcome(call=call, error="the result of this call could not be read "
                                                       f"({exc.__class__.__name__})")
            outcomes[call.id] = outcome
    finally:
        if own_fd and dir_fd is not None:
            os.close(dir_fd)
    return outcomes


def probe_cell(plan: Path, records: Path, skip) -> str:
    """The code of the probe cell: the harness's text run in a fresh namespace, calling its
    run_probes on the notebook's globals. It adds no name to the notebook, and a student's helper
    named like one of the harness's cannot replace it (the trailing ``;`` keeps IPython from
    showing the expression's value)."""
    source = Path(harness.__file__).read_text()
    return (f"(lambda __reglab_harness: (exec(compile({source!r}, '<reglab harness>', 'exec'), __reglab_harness), "
            f"__reglab_harness['run_probes']({str(plan)!r}, {str(records)!r}, globals(), skip={sorted(skip)!r})))"
            "({'__name__': 'reglab_harness'});")


def run_in_process(calls: list[Call], namespace: dict, folder: Path, *, device: str = "cpu",
                   timeout: float = 30.0, helpers: str = "") -> dict[str, Outcome]:
    """Write the plan, run the harness here on ``namespace``, read the records back: the whole
    protocol without a kernel, for tests and benchmarks (never for grading student code)."""
    plan, records = folder / "plan.pt", folder / "records"
    records.mkdir(parents=True, exist_ok=True)
    write_plan(calls, plan, device, timeout, helpers)
    harness.run_probes(str(plan), str(records), namespace)
    return read_outcomes(calls, records)
