"""The grader's hold on a kernel's processes and files, from outside the kernel: kill its process
group, find what a cell left running. Strays are found through Linux's
``/proc``; where there is none (macOS) none are found, and the process limit alone applies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def kill_group(process) -> None:
    """SIGKILL a launched process's whole group (a kernel, its sandbox, anything it forked)."""
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)   # kernels start in a session of their own
        except (ProcessLookupError, PermissionError):
            process.kill()


def stop(process, grace: float = 10.0) -> None:
    """SIGTERM a process we started, and SIGKILL it if it has not exited ``grace`` seconds later: a Dask
    worker once took more than 30 s to exit after SIGTERM on a loaded 2-core CI runner."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _processes() -> tuple[dict[int, list[int]], set[int]]:
    """Every process's children, and the zombies (dead, not yet reaped), from /proc."""
    tree: dict[int, list[int]] = {}
    zombies = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        tree.setdefault(int(fields[1]), []).append(pid)
        if fields[0] == "Z":
            zombies.add(pid)
    return tree, zombies


def strays(process) -> tuple[list[int], bool]:
    """What a kernel's cell left running: every process under the kernel's launch ``process``
    except the chain down to the kernel itself (bubblewrap, its init, the kernel's Python); and
    whether the kernel has dead children to reap."""
    if process is None or process.poll() is not None:
        return [], False
    (tree, zombies), python = _processes(), os.path.realpath(sys.executable)
    paths, kernel, queue = {process.pid: [process.pid]}, None, [process.pid]
    while queue and kernel is None:                  # breadth first: the first Python is the kernel
        pid = queue.pop(0)
        if _runs(pid, python):
            kernel = pid
        for child in tree.get(pid, []):
            paths[child] = paths[pid] + [child]
            queue.append(child)
    if kernel is None:
        return [], False
    chain = set(paths[kernel])
    strays, todo = [], [child for pid in chain for child in tree.get(pid, []) if child not in chain]
    while todo:
        pid = todo.pop()
        if pid not in zombies:
            strays.append(pid)
        todo.extend(tree.get(pid, []))
    return strays, bool(strays) or any(child in zombies for child in tree.get(kernel, []))


def _runs(pid: int, executable: str) -> bool:
    try:
        return os.path.realpath(f"/proc/{pid}/exe") == executable
    except OSError:
        return False
