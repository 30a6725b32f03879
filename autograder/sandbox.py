"""The command that starts a student's kernel: bubblewrap around it where it works, limits always.

Inside bubblewrap the kernel sees a read-only system, the Python it runs on,
its own scratch folder and nothing else: no network, no course repository
(so no ``solutions`` and no hidden checks), no other student's files. Where
bubblewrap is missing or cannot start (macOS, no user namespaces) the kernel
runs with resource limits only, and the report says so.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from reglab.config import Grading

# Runs first inside the kernel's process: set the limits and the environment
# (REGLAB_PROFILE: the budget profile a lab runs in), hide the course packages
# from the import system (matters only without bubblewrap), then hand over
# to ipykernel.
_BOOTSTRAP = """\
import os, resource, runpy, sys
os.environ.update({environment!r})
for name, value in {limits!r}:
    resource.setrlimit(getattr(resource, name), (value, value))
hidden, keep = {hidden!r}, sys.prefix + '/'
sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in str(getattr(f, '__module__', type(f).__module__))]
sys.path[:] = [p for p in sys.path
               if p.startswith(keep) or not any(p == h or p.startswith(h + '/') for h in hidden)]
sys.argv = ['ipykernel_launcher'] + sys.argv[1:]
runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)
"""


@dataclass(frozen=True)
class KernelCommand:
    argv: list[str]          # with "{connection_file}" where the kernel's connection file goes
    sandboxed: bool
    note: str                # one line for the report: how the kernel was confined


class SandboxUnavailable(RuntimeError):
    pass


@functools.cache
def bubblewrap_problem() -> str | None:
    """None if bubblewrap can start a sandbox here, else why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if probe.returncode != 0:
        return f"bubblewrap could not start: {probe.stderr.strip()[:200]}"
    return None


def _limits(grading: Grading) -> list[tuple[str, int]]:
    mb = 1024 * 1024
    return [("RLIMIT_AS", grading.memory_mb * mb), ("RLIMIT_CPU", grading.cpu_time_s),
            ("RLIMIT_FSIZE", grading.max_file_mb * mb), ("RLIMIT_NPROC", grading.max_processes),
            ("RLIMIT_CORE", 0)]


def _python_roots() -> list[str]:
    """Folders the kernel's Python needs: the virtual environment and the interpreter it was made from."""
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    return sorted(r for r in roots if not r.startswith("/usr/"))


def _bwrap_args(scratch: Path, device: str) -> list[str]:
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    # Mounts apply in order: the empty /tmp first, so a Python or a scratch folder under /tmp stays visible.
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for root in _python_roots():
        args += ["--ro-bind", root, root]
    args += ["--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    if device == "cuda":
        for node in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(node), str(node)]
        for extra in ("/sys", "/proc/driver/nvidia"):
            if os.path.exists(extra):
                args += ["--ro-bind", extra, extra]
    env = {"HOME": str(scratch), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(scratch / ".config" / "matplotlib"),
           "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    args.append("--clearenv")
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args + ["--"]


def kernel_command(scratch: Path, grading: Grading, device: str, hidden: list[str]) -> KernelCommand:
    """The argv of a kernel confined as course.yml asks (``grading.sandbox``)."""
    bootstrap = _BOOTSTRAP.format(limits=_limits(grading), hidden=hidden,
                                  environment={"REGLAB_PROFILE": grading.profile})
    python = [sys.executable, "-c", bootstrap, "-f", "{connection_file}"]
    problem = None if grading.sandbox == "off" else bubblewrap_problem()
    if grading.sandbox == "required" and problem:
        raise SandboxUnavailable(f"course.yml sets grading.sandbox: required, but {problem}. "
                                 "Install bubblewrap (Debian: apt-get install bubblewrap) or set sandbox: auto.")
    if grading.sandbox != "off" and problem is None:
        return KernelCommand(_bwrap_args(scratch, device) + python, True,
                             "bubblewrap sandbox: no network, read-only system, private scratch folder")
    why = "grading.sandbox is off" if grading.sandbox == "off" else problem
    return KernelCommand(python, False, f"NOT SANDBOXED ({why}): resource limits only; "
                                        "student code can read files this user can read")
