"""Run a submission's notebook in a confined kernel, then the probe harness in the same kernel.

nbclient does the executing. Cell errors are expected (a blank function raises
NotImplementedError) and recorded; a dead kernel or a timeout ends execution
early but never raises: whatever the harness wrote before that still counts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from autograder import harness
from autograder.sandbox import KernelCommand

KERNEL_NAME = "reglab-confined"


@dataclass
class Execution:
    seconds: float = 0.0
    cell_errors: list[str] = field(default_factory=list)   # "cell 7: NotImplementedError: ..."
    printout: str = ""
    stopped: str | None = None                             # why execution ended early, if it did
    harness_finished: bool = False


def _kernel_spec_dir(scratch: Path, command: KernelCommand) -> Path:
    spec_dir = scratch.parent / f"{scratch.name}-kernelspec"
    (spec_dir / KERNEL_NAME).mkdir(parents=True, exist_ok=True)
    spec = {"argv": command.argv, "display_name": "reglab confined kernel", "language": "python"}
    (spec_dir / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
    return spec_dir


def _append_printout(execution: Execution, cell, index: int, limit: int) -> None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text = output.get("text", "")
        elif output.get("output_type") == "error":
            text = f"{output.get('ename')}: {output.get('evalue')}\n"
            execution.cell_errors.append(f"cell {index + 1}: {output.get('ename')}: {str(output.get('evalue'))[:200]}")
        else:
            continue
        room = limit - len(execution.printout)
        if room > 0:
            execution.printout += text[:room]
            if len(text) > room:
                execution.printout += "\n[... printout truncated ...]\n"


def run(nb: nbformat.NotebookNode, command: KernelCommand, scratch: Path, plan_path: Path, results_dir: Path,
        *, cell_timeout: float, harness_timeout: float, max_output_chars: int) -> Execution:
    """Execute every code cell of ``nb`` in order, then the harness on ``plan_path`` (appended to ``nb``)."""
    execution = Execution()
    spec_dir = _kernel_spec_dir(scratch, command)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir)]),
                       transport="ipc", ip=str(scratch / ".kernel-ipc"),
                       connection_file=str(scratch / ".kernel-connection.json"))
    client = NotebookClient(nb, km=km, kernel_name=KERNEL_NAME, timeout=cell_timeout, allow_errors=True,
                            interrupt_on_timeout=True, startup_timeout=120,
                            resources={"metadata": {"path": str(scratch)}})
    probe_cell = nbformat.v4.new_code_cell(
        Path(harness.__file__).read_text() + f"\nrun_probes({str(plan_path)!r}, {str(results_dir)!r}, globals())\n")
    start = time.perf_counter()
    try:
        with open(scratch.parent / "kernel.log", "wb") as log_file, client.setup_kernel(stdout=log_file, stderr=log_file):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.execute_cell(cell, index)
                _append_printout(execution, cell, index, max_output_chars)
            client.timeout = harness_timeout
            nb.cells.append(probe_cell)
            client.execute_cell(probe_cell, len(nb.cells) - 1)
            execution.harness_finished = not any(o.get("output_type") == "error" for o in probe_cell.outputs)
    except DeadKernelError:
        execution.stopped = "the kernel died (the notebook crashed it or called os._exit / sys.exit)"
    except CellTimeoutError:
        execution.stopped = "a cell ran past its time limit"
    except Exception as exc:  # noqa: BLE001 - a kernel that cannot start is reported, not raised
        execution.stopped = f"the kernel failed: {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        # nbclient leaves a kernel it did not start to its owner: stop it and its sandbox.
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    if execution.stopped and not execution.printout:
        # Nothing ran: the kernel's own last words are the best clue (a sandbox that cannot start, say).
        log = (scratch.parent / "kernel.log").read_text(errors="replace").strip().splitlines()[-3:]
        if log:
            execution.stopped += " | kernel log: " + " / ".join(line[:200] for line in log)
    execution.seconds = time.perf_counter() - start
    return execution
