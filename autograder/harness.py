"""The probe runner that executes INSIDE the student's kernel.

The engine sends this file's text as one extra cell after the submission has run; the cell executes
it in a namespace of its own (``probes.probe_cell``), so no name here can replace, or be replaced
by, a name of the student's. It replays a plan of calls into the student's functions on hidden
inputs and writes what came back, as plain data, one file per call. Nothing here decides points: the
student's process can tamper with anything in it, so the trusted grader only reads the files back
with ``torch.load(weights_only=True)`` and compares values itself.

Self-contained on purpose (stdlib and torch only): the autograder package is
not visible inside the sandbox.
"""

import os
import signal
import time
import traceback

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode


class ProbeTimeout(BaseException):
    """Raised into a student function that runs past its time limit."""


class _OpRecorder(TorchFunctionMode):
    """Names of the torch functions called while active (``torch.nn.functional.batch_norm``...)."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
        self.seen.add(f"{getattr(func, '__module__', None) or 'torch'}.{name}")
        return func(*args, **(kwargs or {}))


class _KernelOpRecorder(TorchDispatchMode):
    """Names of the ATen kernels run while active: catches library ops however they were reached."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(str(func))
        return func(*args, **(kwargs or {}))


def _encode(value, depth=0):
    """Turn a returned object into plain data that weights_only loading accepts."""
    if depth > 4:
        return {"opaque": "nested too deep"}
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        tensor = value.detach()
        return {"tensor": tensor.cpu().clone().contiguous(), "dtype": str(tensor.dtype),
                "device": tensor.device.type}
    if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        return {"seq": [_encode(v, depth + 1) for v in value[:64]], "length": len(value)}
    if type(value) is dict:
        items = [(k, v) for k, v in value.items() if type(k) is str][:64]
        return {"map": {k[:80]: _encode(v, depth + 1) for k, v in items}}
    if value is None or type(value) in (bool, int, float, str):
        return {"py": value if type(value) is not str else value[:200]}
    return {"opaque": type(value).__name__[:80]}


def _resolve(arg, returns):
    if isinstance(arg, dict) and "__ref__" in arg:
        value = returns[arg["__ref__"]]
        return value if arg.get("index") is None else value[arg["index"]]
    if isinstance(arg, dict) and "__generator__" in arg:
        return torch.Generator(device=_DEVICE).manual_seed(arg["__generator__"])
    if isinstance(arg, torch.Tensor):
        return arg.to(_DEVICE)
    if isinstance(arg, (list, tuple)):
        return type(arg)(_resolve(a, returns) for a in arg)
    if isinstance(arg, dict):
        return {k: _resolve(v, returns) for k, v in arg.items()}
    return arg


def _target(call, namespace, helpers):
    """The callable to run: the student's function, or a lab helper given the notebook's names."""
    if call.get("helper") is not None:
        helper = helpers[call["helper"]]
        return lambda *args, **kwargs: helper(namespace, *args, **kwargs)
    return namespace[call["func"]]


def _call(func, args, kwargs, timeout):
    def on_alarm(signum, frame):
        raise ProbeTimeout(f"did not return within {timeout:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return func(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _save(record, path):
    """Write a record under a fresh name, then move it into place: whatever stands at ``path`` (a link,
    a pipe left there by the notebook) is replaced, never written through."""
    temporary = f"{path}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        torch.save(record, handle)
    os.replace(temporary, path)


def _stopped(name):
    def raise_at_once(*args, **kwargs):
        raise TimeoutError(f"{name} did not return when it was graded; it was stopped so the rest of the "
                           "notebook could run")
    return raise_at_once


def run_probes(plan_path, results_dir, namespace, skip=()):
    """Run every call of the plan against the functions defined in ``namespace``, but those in
    ``skip`` (calls that hung in an earlier kernel: the grader keeps their outcomes). A function
    that runs past its time limit is not called again, and afterwards raises at once, so the
    notebook's later cells do not wait on it."""
    global _DEVICE
    plan = torch.load(plan_path, weights_only=True)
    _DEVICE = torch.device(plan["device"])
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    helpers = {"__name__": "reglab_lab_helpers"}
    exec(compile(plan.get("helpers") or "", "<lab helpers>", "exec"), helpers)  # noqa: S102 - the grader's own text
    with _OpRecorder(set()), _KernelOpRecorder(set()):
        torch.zeros(1) + 1    # the modes' first use imports torch._dynamo (seconds): not on a student's clock
    returns, timed_out = {}, set()
    for index, call in enumerate(plan["calls"]):
        if index in skip:
            continue
        record = {"id": call["id"], "ok": False, "error": None, "error_type": None, "value": None,
                  "args_after": [], "ops": [], "seconds": 0.0}
        if call["func"] in timed_out:
            record["error_type"] = "NotCalled"
            record["error"] = "was not called again: an earlier call did not return within its time limit"
        elif not callable(namespace.get(call["func"])):
            record["error_type"] = "NameError"
            record["error"] = f"NameError: {call['func']} is not defined (did the cell defining it run?)"
        else:
            seen, args = set(), []
            start = time.perf_counter()
            try:
                args = [_resolve(a, returns) for a in call["args"]]
                kwargs = {k: _resolve(v, returns) for k, v in call["kwargs"].items()}
                func = _target(call, namespace, helpers)
                with _OpRecorder(seen), _KernelOpRecorder(seen):
                    value = _call(func, args, kwargs, plan["timeout"])
                returns[call["id"]] = value
                record["ok"] = True
                record["value"] = _encode(value)
            except BaseException as exc:   # noqa: BLE001 - a student's error is data, not a crash
                where = traceback.extract_tb(exc.__traceback__)[-1:]
                line = f" (line {where[0].lineno})" if where else ""
                record["error_type"] = type(exc).__name__
                record["error"] = f"{type(exc).__name__}: {str(exc)[:300]}{line}"
                if isinstance(exc, ProbeTimeout):
                    timed_out.add(call["func"])
            record["seconds"] = time.perf_counter() - start
            record["ops"] = sorted(seen)[:2000]
            record["args_after"] = [_encode(a) if isinstance(a, torch.Tensor) else None for a in args]
        _save(record, os.path.join(results_dir, f"{index:04d}.pt"))
    for name in timed_out:
        namespace[name] = _stopped(name)
    print(f"probes run: {len(plan['calls'])}")
