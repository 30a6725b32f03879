"""Run a submission's notebook in a confined kernel, with the probe harness, and keep every limit.

    execution = KernelRun(nb, command, ws, limits, call_funcs).run()

nbclient does the executing, in three phases:

1. the cells that define what the student's functions need: imports, given
   helpers, the solution cells and any cell the student added;
2. the probes (``probes.probe_cell``): the hidden calls, whose records decide
   the points;
3. unless ``run_demos`` is off, the self-check and demo cells, only for the
   outputs a TA sees (plots the written questions refer to). A function that
   hung in its probe is replaced first by one that raises at once.

Cell errors are expected (a blank function raises NotImplementedError) and
recorded; a dead kernel or a timeout ends execution early but never raises:
whatever the harness wrote before that still counts.

Limits are enforced from out here, where student code cannot reach them:

* every message from the kernel has a size cap (zmq drops a larger one), and
  what is kept of outputs, display updates and the printout has a budget;
  comm (widget) messages are not kept at all; of the kernel's own log only
  the tail is kept, in memory;
* a cell's wall time: past it the cell is interrupted; a cell that goes on
  after the interrupt is given up, and the notebook runs again in a fresh
  kernel without it;
* a probed call's wall time: the harness stops a call itself; a call that
  writes no record past that is given up the same way, and its function is
  not called again;
* processes a cell leaves running are killed (and reaped) when it ends;
* the whole submission's wall time, and the bytes and files written to the
  kernel's filesystem: past either the kernel's whole process group is
  killed, whatever state the kernel or nbclient is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import nbformat
import zmq
import zmq.asyncio
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from autograder import probes, processes
from autograder.sandbox import KernelCommand
from autograder.text import one_line, visible
from autograder.workspace import Workspace, give_file, list_kernel_files, open_records
from reglab.config import Grading

KERNEL_NAME = "reglab-confined"


@dataclass
class Execution:
    seconds: float = 0.0
    cell_errors: list[str] = field(default_factory=list)   # "the cell defining f: NotImplementedError: ..."
    printout: str = ""
    stopped: str | None = None                             # why execution ended early, if it did
    harness_finished: bool = False
    hung: dict[int, tuple[str, str]] = field(default_factory=dict)   # call index -> (error type, message)
    records: str | None = None                             # the records folder's name under records/
    notebook: nbformat.NotebookNode | None = None          # as it ran, with its outputs (the probe cell taken out)


@dataclass(frozen=True)
class Limits:
    cell_timeout: float          # one notebook cell
    probe_timeout: float         # one call into a student function
    total_timeout: float         # the whole submission
    max_output_chars: int        # printout kept
    cpu_time: float              # CPU seconds of the kernel (an rlimit: the kernel gets SIGXCPU)
    max_file_bytes: int          # one file (an rlimit: a bigger write fails with "File too large")
    # One message frame from the kernel: zmq disconnects a peer that sends a larger one (and the grader
    # never reconnects), so this must pass what a notebook that prints fast sends in one flush.
    max_message_bytes: int = 64 * 2**20
    log_tail_bytes: int = 16_384          # of the kernel's own stdout/stderr, kept in memory

    @classmethod
    def from_grading(cls, grading: Grading) -> Limits:
        return cls(cell_timeout=grading.cell_timeout_s, probe_timeout=grading.probe_timeout_s,
                   total_timeout=grading.submission_timeout_s, max_output_chars=grading.max_output_kb * 1024,
                   cpu_time=grading.cpu_time_s, max_file_bytes=grading.max_file_mb * 2**20)


class _LogTail:
    """The last bytes a kernel wrote to its stdout and stderr, read from a pipe by a thread of its own
    (a kernel can write gigabytes there; only the tail is ever kept)."""

    def __init__(self, keep: int):
        self.keep, self.data = keep, bytearray()

    def follow(self, pipe) -> None:
        def drain():
            with contextlib.suppress(OSError, ValueError):
                while chunk := pipe.read1(65536):
                    self.data += chunk
                    del self.data[:-self.keep]
            with contextlib.suppress(OSError):
                pipe.close()
        threading.Thread(target=drain, name="reglab-kernel-log", daemon=True).start()

    def last_lines(self, count: int) -> list[str]:
        return [visible(line, newlines=False)[:200] for line in self.data.decode(errors="replace").splitlines()
                if line.strip() and not any(banner in line for banner in _KERNEL_BANNER)][-count:]


class _KernelManager(AsyncKernelManager):
    """One kernel start of ``run``: its connection file in the grader's folder, handed to the kernel's
    user through a descriptor; its sockets in a folder made for this start; its log through a pipe
    into the run's log tail; and zmq contexts that cap message sizes (the run destroys them at its end)."""

    def __init__(self, run: KernelRun, **kwargs):
        self.run = run
        super().__init__(**kwargs)

    def launched(self):
        """The process jupyter_client started for the kernel (bubblewrap, or the kernel's Python), or None."""
        return getattr(self.provisioner, "process", None)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        give_file(self.run.ws.connection_file, self.run.ws.uid)
        kw.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        await super()._async_launch_kernel(kernel_cmd, **kw)
        self.run.log.follow(self.provisioner.process.stdout)

    def client(self, **kwargs):
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, self.run.limits.max_message_bytes)
        context.setsockopt(zmq.RCVHWM, 8)             # at most 8 such messages waiting: 512 MB
        self.run.contexts.append(context)
        return super().client(context=context, **kwargs)


class _CappedClient(NotebookClient):
    """A NotebookClient that keeps outputs and display updates only while ``output_budget``
    characters last, keeps no comm (widget) state, and keeps each failed cell's error from its
    execute reply (an error *output* can be missing: dropped over the budget, or never sent by a
    kernel out of memory). Its kernel manager can be replaced by a fresh one (``replace_kernel``)."""

    def __init__(self, nb: nbformat.NotebookNode, km: _KernelManager, *, output_budget: int, **kwargs):
        super().__init__(nb, km=km, **kwargs)
        self.output_budget = output_budget
        self.dropped = False                       # some output was dropped over the budget
        self.reply_errors: dict[int, tuple[str, str]] = {}
        self.on_cell_error = self._keep_error
        self.store_widget_state = False

    def _keep_error(self, cell, cell_index, execute_reply):
        content = execute_reply.get("content", {})
        self.reply_errors[cell_index] = (str(content.get("ename"))[:80], str(content.get("evalue"))[:200])

    def take_error(self, cell_index: int) -> tuple[str, str] | None:
        """(name, value) of the error the cell's execute reply carried, if it failed."""
        return self.reply_errors.pop(cell_index, None)

    def allow(self, characters: int) -> None:
        """Room for ``characters`` more of output, beyond what is left of the budget."""
        self.output_budget = max(self.output_budget, 0) + characters

    def stop_channels(self) -> None:
        """Close the channels to the kernel, if open."""
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None

    async def stop_kernel(self) -> None:
        """Kill the kernel and its sandbox (its whole process group), then let jupyter_client clean up."""
        processes.kill_group(self.km.launched())
        self.stop_channels()
        with contextlib.suppress(Exception):     # already killed: the rest is best-effort cleanup
            await self.km.shutdown_kernel(now=True)

    async def replace_kernel(self, km: _KernelManager) -> None:
        """Stop this kernel for good; the next ``async_setup_kernel`` starts ``km``'s."""
        await self.stop_kernel()
        self.km = km

    def _spend(self, msg) -> bool:
        size = len(str(msg.get("content", {})))
        if size > self.output_budget:
            self.dropped = True
            return False
        self.output_budget -= size
        return True

    def output(self, outs, msg, display_id, cell_index):
        if not self._spend(msg):
            if not any(o.get("name") == "stderr" and "over the printout limit" in str(o.get("text")) for o in outs):
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr", text="\n[... further output dropped: over the printout limit ...]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        if self._spend(msg):
            super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs, msg, cell_index):
        """Widgets are not graded and not shown: their messages are not kept."""


# What ipykernel always prints when it starts: never a clue to why it stopped.
_KERNEL_BANNER = ("NOTE: When using the `ipython kernel`", "To exit, you will have to", '"quit" from a client',
                  "To read more about this", "To connect another client", "--existing ")


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
    if "No space left on device" in evalue or "Disk quota" in evalue:
        return f"{ename}: {evalue} (the notebook wrote more files than grading allows)"
    return f"{ename}: {evalue}"


def cell_name(cell) -> str:
    """How a student knows a cell: by the function it defines, the self-check it is, or its first line."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    first = one_line(cell.get("source", ""), 50)
    if cell.get("metadata", {}).get("reglab") == {"probes": True}:
        return "the hidden checks' calls into your functions"
    if isinstance(grade_id, str) and grade_id.startswith("solution_"):
        return f"the cell defining {grade_id.removeprefix('solution_')}"
    if isinstance(grade_id, str) and meta.get("grade") and meta.get("locked"):
        return f"the self-check of {grade_id}"
    if isinstance(grade_id, str):
        return f'the given cell "{first}"'
    return f'a cell you added ("{first}")'


def is_demo(cell) -> bool:
    """A given demo or self-check cell: run only after the probes, for the outputs a TA sees."""
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    demo = cell.get("metadata", {}).get("reglab", {})
    return (isinstance(demo, dict) and demo.get("demo") is True) or \
        (isinstance(nbgrader, dict) and bool(nbgrader.get("grade")) and bool(nbgrader.get("locked")))


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


def _replace_hung(functions: list[str]) -> str:
    """A cell that makes each function that hung in its probe raise at once when a later cell calls it."""
    return ("(lambda g, names: [g.__setitem__(n, (lambda n: lambda *a, **k: (_ for _ in ()).throw(TimeoutError("
            "n + ' did not return when it was graded; it was stopped so the rest of the notebook could run')))(n)) "
            f"for n in names])(globals(), {sorted(set(functions))!r});")


class _IgnoredInterrupt(Exception):
    """A cell ran past its time limit and went on running after the interrupt."""

    def __init__(self, index: int):
        super().__init__(index)
        self.index = index


class _HungProbe(Exception):
    """A probed call neither returned nor stopped at its time limit."""

    def __init__(self, call_index: int):
        super().__init__(call_index)
        self.call_index = call_index


class _ProbesDone(Exception):
    """Every probe record is in, but the probe cell did not end (something after the last call hangs)."""


# How long an interrupted cell has to stop before its kernel is given up, and how much longer than
# the probe time limit a probed call may go without a record (the harness's own alarm stops a
# call at the limit; this slack covers a machine under load, and costs time only for a real hang).
INTERRUPT_GRACE_S = 5.0
PROBE_SLACK_S = 10.0
MAX_ATTEMPTS = 8          # kernels one submission may take (each restart leaves out what hung)


class KernelRun:
    """One submission's execution: the notebook in phases, in as many kernels as its faults take."""

    def __init__(self, nb: nbformat.NotebookNode, command: KernelCommand, ws: Workspace, limits: Limits,
                 call_funcs: list[str], *, run_demos: bool = True):
        self.nb, self.command, self.ws, self.limits = nb, command, ws, limits
        self.call_funcs, self.run_demos = call_funcs, run_demos
        self.cells = len(nb.cells)                  # the notebook's own; the probe cell comes after
        self.execution = Execution()
        self.log = _LogTail(limits.log_tail_bytes)
        self.contexts: list[zmq.asyncio.Context] = []
        self.skipped: dict[int, str] = {}          # cell index -> why it is left out
        self.spec_dir = ws.root / "kernelspec"
        (self.spec_dir / KERNEL_NAME).mkdir(parents=True, exist_ok=True)
        # Interrupts go as a message on the control channel: a signal would reach bubblewrap, not the kernel.
        spec = {"argv": command.argv, "display_name": "reglab confined kernel", "language": "python",
                "interrupt_mode": "message"}
        (self.spec_dir / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
        self.client = _CappedClient(nb, self._manager(), output_budget=4 * limits.max_output_chars,
                                    kernel_name=KERNEL_NAME, timeout=None, allow_errors=True, startup_timeout=120,
                                    resources={"metadata": {"path": str(ws.home)}})

    def _manager(self) -> _KernelManager:
        """A manager for the next kernel start, with a socket folder of its own."""
        return _KernelManager(self, kernel_name=KERNEL_NAME,
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self.spec_dir)]),
                              transport="ipc", ip=str(self.ws.new_ipc_folder() / "kernel"),
                              connection_file=str(self.ws.connection_file))

    # -- one kernel -------------------------------------------------------------------------------

    def _disable_reconnects(self) -> None:
        """Once the kernel is up, never connect again: its socket folder is the kernel's, and a
        reconnect would follow whatever the kernel put at the socket's name."""
        kc = self.client.kc
        for channel in (kc.shell_channel, kc.iopub_channel, kc.stdin_channel, kc.control_channel):
            socket = getattr(channel, "socket", None)
            if socket is not None:
                socket.setsockopt(zmq.RECONNECT_IVL, -1)
        for context in self.contexts:
            context.setsockopt(zmq.RECONNECT_IVL, -1)

    async def _stop_strays(self) -> int:
        """SIGKILL what a cell left running and have the kernel reap it. A fork bomb's children would
        otherwise hold every process slot the limits allow, and the kernel could not start a thread
        for the next cell. Returns how many processes were stopped."""
        stray, reap = processes.strays(self.client.km.launched())
        for pid in stray:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if reap:
            await asyncio.sleep(0.1)                     # SIGKILL is delivered asynchronously
            await self.client.async_execute_cell(nbformat.v4.new_code_cell(_REAP), -1, store_history=False)
        return len(stray)

    @contextlib.asynccontextmanager
    async def _executing(self, cell, index: int):
        """The cell's execution as a task. One still running on the way out (given up on, or the
        whole run was cancelled) is cancelled, and its DeadKernelError, expected by then, dropped."""
        task = asyncio.ensure_future(self.client.async_execute_cell(cell, index))
        try:
            yield task
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _run_cell(self, cell, index: int) -> None:
        """Execute one cell; past the cell time limit interrupt it, and raise _IgnoredInterrupt if it
        will not stop. (nbclient's own timeout interrupts again and again, for ever, a cell that
        catches KeyboardInterrupt.)"""
        async with self._executing(cell, index) as task:
            done, _ = await asyncio.wait({task}, timeout=self.limits.cell_timeout)
            if not done:
                await self.client.km.interrupt_kernel()
                done, _ = await asyncio.wait({task}, timeout=INTERRUPT_GRACE_S)
            if not done:
                raise _IgnoredInterrupt(index)
        task.result()
        self._record_cell(cell, self.client.take_error(index))
        if await self._stop_strays():
            self.execution.cell_errors.append(f"{cell_name(cell)}: left processes running; they were stopped")

    def _record_cell(self, cell, error: tuple[str, str] | None) -> None:
        """Add the cell's printout (streams and error lines) to the printout, and its error, if any."""
        execution = self.execution
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = str(output.get("text", ""))
            elif output.get("output_type") == "error":
                text = f"{output.get('ename')}: {output.get('evalue')}\n"
                error = error or (str(output.get("ename"))[:80], str(output.get("evalue"))[:200])
            else:
                continue
            room = self.limits.max_output_chars - len(execution.printout)
            if room > 0:
                execution.printout += visible(self._no_paths(text[:room]))
                if len(text) > room:
                    execution.printout += "\n[... printout truncated ...]\n"
        if error:
            execution.cell_errors.append(visible(self._no_paths(f"{cell_name(cell)}: {_why(*error, self.limits)}"),
                                                 newlines=False))

    def _no_paths(self, text: str) -> str:
        """The grading's folders as a student knows them: their home is ~, the rest is the grader's."""
        return text.replace(str(self.ws.home), "~").replace(str(self.ws.root), "<grading folder>")

    async def _written_records(self, records: str) -> set[int]:
        def count():
            try:
                fd = open_records(self.ws, records)
            except OSError:
                return set()
            try:
                names = list_kernel_files(fd, len(self.call_funcs) + 100)
            finally:
                os.close(fd)
            return {i for i in map(probes.record_index, names) if i is not None and i < len(self.call_funcs)}
        return await asyncio.to_thread(count)

    async def _run_probes(self, records: str) -> None:
        """Execute the probe cell, watching its progress: the harness writes one record per call, and
        stops a call at the probe time limit itself; a call that writes nothing for longer than that
        (plus a grace) went on past its limit, and raises _HungProbe with its index."""
        cell = nbformat.v4.new_code_cell(probes.probe_cell(self.ws.plan, self.ws.records / records,
                                                           self.execution.hung), metadata={"reglab": {"probes": True}})
        self.nb.cells.append(cell)
        self.client.allow(64_000)                  # room for the harness's own line
        stall = self.limits.probe_timeout + PROBE_SLACK_S
        async with self._executing(cell, len(self.nb.cells) - 1) as task:
            written, since = -1, time.monotonic()
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                if task.done():
                    break
                done = await self._written_records(records) | set(self.execution.hung)
                if len(done) != written:
                    written, since = len(done), time.monotonic()
                elif time.monotonic() - since > stall:
                    missing = [i for i in range(len(self.call_funcs)) if i not in done]
                    if not missing:
                        raise _ProbesDone()
                    raise _HungProbe(missing[0])
        task.result()
        self.execution.harness_finished = not any(o.get("output_type") == "error" for o in cell.outputs)
        self._record_cell(cell, None)

    def _give_up_on(self, call_index: int) -> None:
        """The call that hung, and the later calls of the same function, which are not made again."""
        func = self.call_funcs[call_index]
        for index in range(call_index, len(self.call_funcs)):
            if self.call_funcs[index] == func and index not in self.execution.hung:
                self.execution.hung[index] = (
                    ("Hung", f"did not return within {self.limits.probe_timeout:g} s, and went on running "
                             "after it was interrupted") if index == call_index else
                    ("NotCalled", "was not called again: an earlier call went on running after its time limit"))

    def _fresh_records(self, attempt: int) -> str:
        """A records folder for this kernel, made under records/ through descriptors."""
        name = f"run{attempt}-{secrets.token_hex(4)}"
        fd = open_records(self.ws)
        try:
            os.mkdir(name, 0o700, dir_fd=fd)
            if self.ws.uid is not None:
                os.chown(name, self.ws.uid, self.ws.uid, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)
        return name

    async def _restart(self) -> None:
        """Stop the kernel and its sandbox; the next attempt starts a fresh one with a manager of its own."""
        await self.client.replace_kernel(self._manager())

    # -- the phases -------------------------------------------------------------------------------

    async def _execute_all(self) -> None:
        """Phase 1 and the probes; a cell that ignores its interrupt, or a probed call that never
        returns, costs a restart without it. Then phase 3 in the same kernel."""
        cells = self.cells
        for attempt in range(MAX_ATTEMPTS):
            execution = self.execution
            execution.printout, execution.cell_errors = "", list(self.skipped.values())
            del self.nb.cells[cells:]
            try:
                async with self.client.async_setup_kernel():
                    self._disable_reconnects()
                    for index, cell in enumerate(self.nb.cells[:cells]):
                        if cell.cell_type == "code" and index not in self.skipped and not is_demo(cell):
                            await self._run_cell(cell, index)
                    # Made only now, under a fresh random name: the notebook's cells cannot prepare it.
                    execution.records = self._fresh_records(attempt)
                    try:
                        await self._run_probes(execution.records)
                    except _ProbesDone:
                        execution.cell_errors.append("the probes' cell did not end after the last call; it was stopped")
                        return
                    if self.run_demos:
                        await self._run_demos(cells)
                return
            except _IgnoredInterrupt as exc:
                self.skipped[exc.index] = (f"{cell_name(self.nb.cells[exc.index])}: ran past its time limit of "
                                           f"{self.limits.cell_timeout:g} s and went on after the interrupt (does it "
                                           "catch KeyboardInterrupt?); the notebook was run again without it")
            except _HungProbe as exc:
                self._give_up_on(exc.call_index)
            except DeadKernelError:
                execution.stopped = await self._cause_of_death()
                return
            except Exception as exc:  # noqa: BLE001 - a kernel that cannot start is reported, not raised
                execution.stopped = visible(f"the kernel failed: {type(exc).__name__}: {str(exc)[:300]}",
                                            newlines=False)
                return
            await self._restart()
        self.execution.stopped = f"the notebook needed more than {MAX_ATTEMPTS} fresh kernels; grading stopped"

    async def _run_demos(self, cells: int) -> None:
        """Phase 3: self-checks and demos, for their outputs. Their faults cost no points and no restart."""
        hung = sorted({self.call_funcs[i] for i, (kind, _) in self.execution.hung.items() if kind == "Hung"})
        if hung:
            await self.client.async_execute_cell(nbformat.v4.new_code_cell(_replace_hung(hung)), -1,
                                                 store_history=False)
        for index, cell in enumerate(self.nb.cells[:cells]):
            if cell.cell_type == "code" and index not in self.skipped and is_demo(cell):
                try:
                    await self._run_cell(cell, index)
                except _IgnoredInterrupt:
                    self.execution.cell_errors.append(f"{cell_name(cell)}: went on after its time limit; "
                                                      "the cells after it were not run")
                    return

    async def _cause_of_death(self) -> str:
        """Why the kernel died, from its exit status: bubblewrap exits with 128 + the signal that
        killed the kernel, a kernel started without it with minus the signal."""
        process = self.client.km.launched()
        for _ in range(20):                          # its exit may be a moment behind nbclient's notice
            if process is None or process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        code = None if process is None else process.returncode
        signal_number = -code if code is not None and code < 0 else code - 128 if code and code > 128 else None
        if signal_number == signal.SIGXCPU:
            return (f"the kernel died: the notebook used more than its {self.limits.cpu_time:g} s of CPU time "
                    "(a loop that never ends, or training far longer than the lab asks?)")
        if signal_number == signal.SIGSEGV:
            return "the kernel died of a segmentation fault (ctypes, or a C extension given bad memory?)"
        return "the kernel died (the notebook crashed it or called os._exit / sys.exit)"

    async def _over_disk_budget(self) -> str:
        """Return (a reason) once the kernel's filesystem holds more than its budget. A tmpfs of its
        own enforces the budget itself (writes past it fail); a plain folder is counted here."""
        while True:
            usage = await asyncio.to_thread(self.ws.usage)
            reason = None if self.ws.mounted else self.ws.over_budget(usage)
            if reason:
                return f"{reason}; write less, or delete files you no longer need"
            await asyncio.sleep(0.5)

    async def _supervise(self) -> None:
        """Run every phase, but stop the kernel at the first of: all done, the submission's wall time,
        the disk budget."""
        work = asyncio.ensure_future(self._execute_all())
        disk = asyncio.ensure_future(self._over_disk_budget())
        try:
            done, _ = await asyncio.wait({work, disk}, timeout=self.limits.total_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if work not in done:
                reason = disk.result() if disk in done else \
                    f"the submission ran past its total time limit of {self.limits.total_timeout:g} s"
                processes.kill_group(self.client.km.launched())
                work.cancel()
                await asyncio.wait({work}, timeout=30)
                self.execution.stopped = f"{reason}; the kernel was stopped"   # not the "kernel died" it caused
        finally:
            disk.cancel()
            # nbclient leaves a kernel it did not start to its owner: stop it and its sandbox. (When the
            # kernel failed to start, nbclient has already dropped its manager: the start's error stands.)
            if self.client.km is not None and self.client.km.has_kernel:
                await self.client.stop_kernel()
            self.client.stop_channels()
            for context in self.contexts:
                context.destroy(linger=0)

    def run(self) -> Execution:
        """Execute the notebook and the probes (see the module docstring); never raises for the kernel's faults."""
        start = time.perf_counter()
        asyncio.run(self._supervise())
        execution = self.execution
        execution.notebook = nbformat.from_dict({**self.nb, "cells": self.nb.cells[:self.cells]})
        if self.client.dropped:
            execution.cell_errors.append("the notebook printed more than the printout limit; the rest was dropped")
        if self.ws.mounted:
            usage = self.ws.usage()
            if usage.bytes >= 0.98 * self.ws.max_bytes or usage.files >= self.ws.max_files:
                execution.cell_errors.append(
                    f"the notebook filled its disk budget ({self.ws.max_bytes // 2**20} MB, {self.ws.max_files} "
                    "files and folders); writes past it failed")
        if execution.stopped and not execution.printout:
            # Nothing ran: the kernel's own last words are the best clue (a sandbox that cannot start, say).
            log = self.log.last_lines(3)
            if log:
                execution.stopped += " | kernel log: " + " / ".join(log)
        execution.seconds = time.perf_counter() - start
        return execution

