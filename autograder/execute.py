"""Run a submission's notebook in a confined kernel, then the probe harness in the same kernel.

nbclient does the executing. Cell errors are expected (a blank function raises
NotImplementedError) and recorded; a dead kernel or a timeout ends execution
early but never raises: whatever the harness wrote before that still counts.

Limits are enforced from out here, where student code cannot reach them:

* the printout kept (output beyond it is dropped as it arrives, so a notebook
  printing megabytes cannot bloat the grader);
* a cell's wall time: past it the cell is interrupted; a cell that goes on
  after the interrupt is given up, and the notebook runs again in a fresh
  kernel without it;
* a probed call's wall time: the harness stops a call itself; a call that
  writes no record past that is given up the same way, and its function is
  not called again;
* processes a cell leaves running are killed (and reaped) when it ends;
* the whole submission's wall time and the bytes written to its scratch
  folder: past either the kernel's whole process group is killed, whatever
  state the kernel or nbclient is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from autograder import harness, processes
from autograder.sandbox import KernelCommand

KERNEL_NAME = "reglab-confined"


@dataclass
class Execution:
    seconds: float = 0.0
    cell_errors: list[str] = field(default_factory=list)   # "cell 7: NotImplementedError: ..."
    printout: str = ""
    stopped: str | None = None                             # why execution ended early, if it did
    harness_finished: bool = False


@dataclass(frozen=True)
class Limits:
    cell_timeout: float          # one notebook cell
    probe_timeout: float         # one call into a student function
    total_timeout: float         # the whole submission
    max_output_chars: int        # printout kept
    max_disk_bytes: int          # files written under the scratch folder
    cpu_time: float              # CPU seconds of the kernel (an rlimit: the kernel gets SIGXCPU)
    max_file_bytes: int          # one file (an rlimit: a bigger write fails with "File too large")


class _KernelManager(AsyncKernelManager):
    """Hands the connection file to the kernel's own user when it runs as one (see sandbox.kernel_uid)."""

    kernel_uid: int | None = None

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.kernel_uid is not None:
            os.chown(self.connection_file, self.kernel_uid, self.kernel_uid)
        await super()._async_launch_kernel(kernel_cmd, **kw)


class _CappedClient(NotebookClient):
    """A NotebookClient that stops storing outputs once ``output_budget`` characters have arrived,
    and keeps each failed cell's error from its execute reply (an error *output* can be missing:
    dropped over the budget, or never sent by a kernel out of memory)."""

    output_budget: int = 0
    dropped: bool = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reply_errors: dict[int, tuple[str, str]] = {}
        self.on_cell_error = self._keep_error

    def _keep_error(self, cell, cell_index, execute_reply):
        content = execute_reply.get("content", {})
        self.reply_errors[cell_index] = (str(content.get("ename")), str(content.get("evalue"))[:200])

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        if size > self.output_budget:
            if not self.dropped:
                self.dropped = True
                outs.append(nbformat.v4.new_output("stream", name="stderr",
                                                   text="\n[... further output dropped: over the printout limit ...]\n"))
            return None
        self.output_budget -= size
        return super().output(outs, msg, display_id, cell_index)


# What ipykernel always prints when it starts: never a clue to why it stopped.
_KERNEL_BANNER = ("NOTE: When using the `ipython kernel`", "To exit, you will have to", '"quit" from a client',
                  "To read more about this", "To connect another client", "--existing ")


def _kernel_spec_dir(scratch: Path, command: KernelCommand) -> Path:
    spec_dir = scratch.parent / f"{scratch.name}-kernelspec"
    (spec_dir / KERNEL_NAME).mkdir(parents=True, exist_ok=True)
    # Interrupts go as a message on the control channel: a signal would reach bubblewrap, not the kernel.
    spec = {"argv": command.argv, "display_name": "reglab confined kernel", "language": "python",
            "interrupt_mode": "message"}
    (spec_dir / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
    return spec_dir


def _why(ename: str, evalue: str, limits: Limits) -> str:
    if ename == "KeyboardInterrupt":
        return f"ran past its time limit of {limits.cell_timeout:g} s and was interrupted (an endless loop?)"
    if "File too large" in evalue:
        return (f"{ename}: {evalue} (the notebook wrote a file larger than grading allows "
                f"({limits.max_file_bytes // 2**20} MB))")
    if ename == "MemoryError":
        return f"MemoryError: {evalue} (the notebook asked for more memory than grading allows)"
    if ename == "BlockingIOError" and "temporarily unavailable" in evalue:
        return f"{ename}: {evalue} (the notebook started more processes or threads than grading allows)"
    return f"{ename}: {evalue}"


def _record_cell(execution: Execution, cell, index: int, error: tuple[str, str] | None, limits: Limits) -> None:
    """Add the cell's printout (streams and error lines) to the printout, and its error, if any."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text = output.get("text", "")
        elif output.get("output_type") == "error":
            text = f"{output.get('ename')}: {output.get('evalue')}\n"
            error = error or (str(output.get("ename")), str(output.get("evalue"))[:200])
        else:
            continue
        room = limits.max_output_chars - len(execution.printout)
        if room > 0:
            execution.printout += text[:room]
            if len(text) > room:
                execution.printout += "\n[... printout truncated ...]\n"
    if error:
        execution.cell_errors.append(f"cell {index + 1}: {_why(*error, limits)}")


def _launched(km: AsyncKernelManager):
    """The process jupyter_client started for the kernel (bubblewrap, or the kernel's Python)."""
    return getattr(km.provisioner, "process", None)


# Run in the kernel after its strays are killed: a killed child stays a zombie, holding a
# process slot, until its parent reaps it.
_REAP = """def __reglab_reap():
    import os
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return
__reglab_reap(); del __reglab_reap"""


async def _stop_strays(client: NotebookClient) -> int:
    """SIGKILL what a cell left running and have the kernel reap it. A fork bomb's children would
    otherwise hold every process slot the limits allow, and the kernel could not start a thread
    for the next cell. Returns how many processes were stopped."""
    stray, reap = processes.strays(_launched(client.km))
    for pid in stray:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if reap:
        await asyncio.sleep(0.1)                     # SIGKILL is delivered asynchronously
        await client.async_execute_cell(nbformat.v4.new_code_cell(_REAP), -1, store_history=False)
    return len(stray)


async def _over_disk_budget(scratch: Path, limits: Limits) -> str:
    """Return (a reason) once the scratch folder holds more than the disk budget."""
    while processes.disk_usage(scratch) <= limits.max_disk_bytes:
        await asyncio.sleep(0.25)
    return (f"the notebook wrote more than {limits.max_disk_bytes // 2**20} MB of files; "
            "write less, or delete files you no longer need")


async def _cause_of_death(km: AsyncKernelManager, limits: Limits) -> str:
    """Why the kernel died, from its exit status: bubblewrap exits with 128 + the signal that
    killed the kernel, a kernel started without it with minus the signal."""
    process = _launched(km)
    for _ in range(20):                          # its exit may be a moment behind nbclient's notice
        if process is None or process.poll() is not None:
            break
        await asyncio.sleep(0.05)
    code = None if process is None else process.returncode
    signal_number = -code if code is not None and code < 0 else code - 128 if code and code > 128 else None
    if signal_number == signal.SIGXCPU:
        return (f"the kernel died: the notebook used more than its {limits.cpu_time:g} s of CPU time "
                "(a loop that never ends, or training far longer than the lab asks?)")
    if signal_number == signal.SIGSEGV:
        return "the kernel died of a segmentation fault (ctypes, or a C extension given bad memory?)"
    return "the kernel died (the notebook crashed it or called os._exit / sys.exit)"


class _IgnoredInterrupt(Exception):
    """A cell ran past its time limit and went on running after the interrupt."""

    def __init__(self, index: int):
        super().__init__(index)
        self.index = index


# How long an interrupted cell has to stop before its kernel is given up, and how much longer than
# the probe time limit a probed call may go without a record (the harness's own alarm stops a
# call at the limit; this slack covers a machine under load, and costs time only for a real hang).
INTERRUPT_GRACE_S = 5.0
PROBE_SLACK_S = 10.0


@contextlib.asynccontextmanager
async def _executing(client: NotebookClient, cell, index: int):
    """The cell's execution as a task. One still running on the way out (given up on, or the
    whole run was cancelled) is cancelled, and its DeadKernelError, expected by then, dropped."""
    task = asyncio.ensure_future(client.async_execute_cell(cell, index))
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())


async def _run_cell(client: NotebookClient, cell, index: int, timeout: float) -> None:
    """Execute one cell; past ``timeout`` interrupt it, and raise _IgnoredInterrupt if it will not stop.
    (nbclient's own timeout interrupts again and again, for ever, a cell that catches KeyboardInterrupt.)"""
    async with _executing(client, cell, index) as task:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            await client.km.interrupt_kernel()
            done, _ = await asyncio.wait({task}, timeout=INTERRUPT_GRACE_S)
        if not done:
            raise _IgnoredInterrupt(index)
    task.result()


async def _restart(client: NotebookClient) -> None:
    """Stop the kernel so that the next ``async_setup_kernel`` starts a fresh one (and keep the
    manager's sockets for it: ``restart=True``)."""
    processes.kill_group(_launched(client.km))
    await client.km.shutdown_kernel(now=True, restart=True)
    if client.kc is not None:
        client.kc.stop_channels()
        client.kc = None


class _HungProbe(Exception):
    """A probed call neither returned nor stopped at its time limit."""

    def __init__(self, call_index: int):
        super().__init__(call_index)
        self.call_index = call_index


def _probe_cell(plan_path: Path, results_dir: Path, skip: list[int]) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(Path(harness.__file__).read_text() +
                                     f"\nrun_probes({str(plan_path)!r}, {str(results_dir)!r}, globals(), skip={skip!r})\n")


async def _run_probes(client: NotebookClient, cell, index: int, results_dir: Path, limits: Limits) -> None:
    """Execute the probe cell, watching its progress: the harness writes one record per call, and
    stops a call at the probe time limit itself; a call that writes nothing for longer than that
    (plus a grace) went on past its limit, and raises _HungProbe with its index."""
    stall = limits.probe_timeout + PROBE_SLACK_S
    async with _executing(client, cell, index) as task:
        written, since = -1, time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            records = {int(path.stem) for path in results_dir.glob("[0-9]*.pt")}
            if len(records) != written:
                written, since = len(records), time.monotonic()
            elif time.monotonic() - since > stall:
                raise _HungProbe(next(i for i in range(len(records) + 1) if i not in records))
    task.result()


def _record_hung_calls(plan_path: Path, results_dir: Path, call_index: int, limits: Limits) -> list[int]:
    """Records, written here since the harness could not, for a call that never returned and for the
    later calls of the same function, which are not run again. Returns their indices."""
    import torch
    calls = torch.load(plan_path, weights_only=True)["calls"]
    func = calls[call_index]["func"]
    written = []
    for index in range(call_index, len(calls)):
        if calls[index]["func"] != func:
            continue
        error = (f"ProbeTimeout: did not return within {limits.probe_timeout:g} s, and went on running after it "
                 "was interrupted" if index == call_index else
                 "ProbeTimeout: was not called again: an earlier call went on running after its time limit")
        torch.save({"id": calls[index]["id"], "ok": False, "value": None, "args_after": [], "ops": [],
                    "seconds": 0.0, "error": error}, results_dir / f"{index:04d}.pt")
        written.append(index)
    return written


async def _execute_all(client: _CappedClient, nb, plan_path: Path, results_dir: Path, execution: Execution,
                       limits: Limits, log_file) -> None:
    """Every code cell in order, then the probes. A cell that ignores its interrupt, or a probed call
    that never returns, costs a restart: the kernel is stopped and the notebook run again from the
    top without that cell (or without that call), so the other functions can still be probed."""
    skipped: dict[int, str] = {}      # cell index -> why it is left out
    hung: list[int] = []              # probed calls that never returned, or are not made again
    cells = len(nb.cells)
    while True:
        execution.printout, execution.cell_errors = "", list(skipped.values())
        for record in results_dir.glob("[0-9]*.pt"):
            if int(record.stem) not in hung:
                record.unlink()       # a fresh kernel makes every other record again
        del nb.cells[cells:]
        try:
            async with client.async_setup_kernel(stdout=log_file, stderr=log_file):
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code" or index in skipped:
                        continue
                    await _run_cell(client, cell, index, limits.cell_timeout)
                    _record_cell(execution, cell, index, client.reply_errors.pop(index, None), limits)
                    if await _stop_strays(client):
                        execution.cell_errors.append(f"cell {index + 1}: left processes running; they were stopped")
                client.output_budget = max(client.output_budget, 0) + 64_000   # room for the harness's own line
                probe_cell = _probe_cell(plan_path, results_dir, hung)
                nb.cells.append(probe_cell)
                await _run_probes(client, probe_cell, len(nb.cells) - 1, results_dir, limits)
                execution.harness_finished = not any(o.get("output_type") == "error" for o in probe_cell.outputs)
            return
        except _IgnoredInterrupt as exc:
            skipped[exc.index] = (f"cell {exc.index + 1}: ran past its time limit of {limits.cell_timeout:g} s "
                                  "and went on after the interrupt (does it catch KeyboardInterrupt?); "
                                  "the notebook was run again without it")
        except _HungProbe as exc:
            hung += _record_hung_calls(plan_path, results_dir, exc.call_index, limits)
        except DeadKernelError:
            execution.stopped = await _cause_of_death(client.km, limits)
            return
        except Exception as exc:  # noqa: BLE001 - a kernel that cannot start is reported, not raised
            execution.stopped = f"the kernel failed: {type(exc).__name__}: {str(exc)[:300]}"
            return
        await _restart(client)


async def _supervise(client: _CappedClient, km: AsyncKernelManager, nb, plan_path: Path, results_dir: Path,
                     execution: Execution, scratch: Path, limits: Limits, log_file) -> None:
    """Run every cell, but stop the kernel at the first of: all done, the submission's wall time, the disk budget."""
    work = asyncio.ensure_future(_execute_all(client, nb, plan_path, results_dir, execution, limits, log_file))
    disk = asyncio.ensure_future(_over_disk_budget(scratch, limits))
    try:
        done, _ = await asyncio.wait({work, disk}, timeout=limits.total_timeout, return_when=asyncio.FIRST_COMPLETED)
        if work not in done:
            reason = disk.result() if disk in done else \
                f"the submission ran past its total time limit of {limits.total_timeout:g} s"
            processes.kill_group(_launched(km))
            work.cancel()
            await asyncio.wait({work}, timeout=30)
            execution.stopped = f"{reason}; the kernel was stopped"   # not the "kernel died" it caused
    finally:
        disk.cancel()
        # nbclient leaves a kernel it did not start to its owner: stop it and its sandbox.
        if km.has_kernel:
            processes.kill_group(_launched(km))
            with contextlib.suppress(Exception):   # already killed: the rest is best-effort cleanup
                await km.shutdown_kernel(now=True)


def run(nb: nbformat.NotebookNode, command: KernelCommand, scratch: Path, plan_path: Path, results_dir: Path,
        limits: Limits) -> Execution:
    """Execute every code cell of ``nb`` in order, then the harness on ``plan_path`` (appended to ``nb``)."""
    execution = Execution()
    spec_dir = _kernel_spec_dir(scratch, command)
    processes.give_to(scratch, command.uid)
    km = _KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir)]),
                        transport="ipc", ip=str(scratch / ".kernel-ipc"),
                        connection_file=str(scratch / ".kernel-connection.json"))
    km.kernel_uid = command.uid
    client = _CappedClient(nb, km=km, kernel_name=KERNEL_NAME, timeout=None, allow_errors=True, startup_timeout=120,
                           resources={"metadata": {"path": str(scratch)}})
    client.output_budget = 4 * limits.max_output_chars
    start = time.perf_counter()
    with open(scratch.parent / "kernel.log", "wb") as log_file:
        asyncio.run(_supervise(client, km, nb, plan_path, results_dir, execution, scratch, limits, log_file))
    if client.dropped:
        execution.cell_errors.append("the notebook printed more than the printout limit; the rest was dropped")
    if execution.stopped and not execution.printout:
        # Nothing ran: the kernel's own last words are the best clue (a sandbox that cannot start, say).
        log = [line for line in (scratch.parent / "kernel.log").read_text(errors="replace").splitlines()
               if line.strip() and not any(banner in line for banner in _KERNEL_BANNER)][-3:]
        if log:
            execution.stopped += " | kernel log: " + " / ".join(line[:200] for line in log)
    execution.seconds = time.perf_counter() - start
    return execution
