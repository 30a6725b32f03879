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

from autograder.workspace import Workspace, fresh_uid
from reglab.config import Grading

# Runs first inside the kernel's process: set the limits and the environment
# (REGLAB_PROFILE: the budget profile a lab runs in), hide the course packages
# from the import system (matters only without bubblewrap), then hand over
# to ipykernel.
_BOOTSTRAP = """\
import os, resource, runpy, sys
os.environ.update({environment!r})
for name, soft, hard in {limits!r}:
    resource.setrlimit(getattr(resource, name), (soft, hard))
uid = {uid!r}
if uid is not None:
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
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
    uid: int | None = None   # the user the kernel runs as, when the grader (root) drops to one


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


def _ancestors(paths: list[str]) -> list[str]:
    """Every folder above ``paths``, outermost first: bwrap would create them private (0700)."""
    found: list[str] = []
    for path in paths:
        parts = Path(path).parts
        for depth in range(2, len(parts)):
            folder = str(Path(*parts[:depth]))
            if folder not in found:
                found.append(folder)
    return found


# Past the CPU time's soft limit the kernel gets SIGXCPU, which the grader reads from its exit
# status and names; a kernel that ignores SIGXCPU is killed at the hard limit this much later.
CPU_HARD_LIMIT_GRACE_S = 5


def _tasks_of(uid: int) -> int:
    """Processes and threads this user runs now: RLIMIT_NPROC counts them all, not only the kernel's."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


def _limits(grading: Grading, uid: int | None) -> list[tuple[str, int, int]]:
    """(rlimit, soft, hard) for the kernel."""
    mb = 1024 * 1024
    already = 0 if uid is not None else _tasks_of(os.geteuid())
    fixed = [("RLIMIT_AS", grading.memory_mb * mb), ("RLIMIT_FSIZE", grading.max_file_mb * mb),
             ("RLIMIT_NPROC", already + grading.max_processes), ("RLIMIT_CORE", 0)]
    return [(name, value, value) for name, value in fixed] + \
        [("RLIMIT_CPU", grading.cpu_time_s, grading.cpu_time_s + CPU_HARD_LIMIT_GRACE_S)]


def _python_roots() -> list[str]:
    """Folders the kernel's Python needs: the virtual environment and the interpreter it was made from."""
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    return sorted(r for r in roots if not r.startswith("/usr/"))


def _bwrap_args(ws: Workspace, device: str) -> list[str]:
    # As root, no user namespace (it would map the kernel's user back to root) and the
    # capability to switch users; unprivileged, bubblewrap needs the user namespace.
    root_mode = ws.uid is not None
    unshare = (["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if root_mode else ["--unshare-all"])
    args = ["bwrap", *unshare, "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # /tmp: as root, a folder of the sandbox's own that the kernel's user cannot write (its TMPDIR is
    # kernel/tmp, inside the size- and inode-limited filesystem); unprivileged, a tmpfs of the disk budget.
    # Mounts apply in order: /tmp first, so a Python or a workspace under /tmp stays visible.
    args += ["--perms", "0755", "--dir", "/tmp"] if root_mode else ["--size", str(ws.max_bytes), "--tmpfs", "/tmp"]
    roots = _python_roots()
    for folder in _ancestors([*roots, str(ws.kernel_fs), str(ws.records), str(ws.probe), str(ws.conn), str(ws.ipc)]):
        if not folder.startswith(("/usr/", "/etc/", "/proc/", "/dev/")) and \
                folder not in ("/usr", "/etc", "/proc", "/dev", "/tmp"):
            args += ["--perms", "0755", "--dir", folder]
    for root in roots:
        args += ["--ro-bind", root, root]
    for folder in (ws.probe, ws.conn):                   # the grader's: plan, empty config, connection file
        args += ["--ro-bind", str(folder), str(folder)]
    for folder in (ws.ipc, ws.kernel_fs, ws.records):    # ipc/ is root's; each kernel's folder in it is its own
        args += ["--bind", str(folder), str(folder)]
    args += ["--chdir", str(ws.home)]
    if device == "cuda":
        for node in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(node), str(node)]
        for extra in ("/sys", "/proc/driver/nvidia"):
            if os.path.exists(extra):
                args += ["--ro-bind", extra, extra]
    # What Python needs to start; the kernel's own environment comes from the bootstrap.
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
           "PYTHONNOUSERSITE": "1"}
    args.append("--clearenv")
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args + ["--"]


# Thread counts the grader was given (a Dask worker sets them to 1): a kernel that used every
# core while another worker's kernel does too would spin its threads against the other's.
_THREAD_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _environment(ws: Workspace, grading: Grading) -> dict[str, str]:
    """The kernel's environment: the budget profile (REGLAB_PROFILE), a home and a TMPDIR in its own
    filesystem, torch's compile caches beside the records (so a full disk does not break torch while
    the probes run), empty read-only IPython and Jupyter configuration (no startup file can run, and
    none survives a restart), no user site-packages, a matplotlib that draws to files, and the
    grader's thread settings."""
    env = {"REGLAB_PROFILE": grading.profile, "HOME": str(ws.home), "TMPDIR": str(ws.tmp), "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": str(ws.home / ".config" / "matplotlib"), "PYTHONNOUSERSITE": "1",
           "IPYTHONDIR": str(ws.config_dir / "ipython"), "JUPYTER_CONFIG_DIR": str(ws.config_dir / "jupyter"),
           "JUPYTER_DATA_DIR": str(ws.config_dir / "jupyter"), "JUPYTER_PATH": "", "JUPYTER_CONFIG_PATH": "",
           "TORCHINDUCTOR_CACHE_DIR": str(ws.cache / "inductor"), "TRITON_CACHE_DIR": str(ws.cache / "triton")}
    return env | {name: os.environ[name] for name in _THREAD_SETTINGS if name in os.environ}


def kernel_user(grading: Grading) -> int | None:
    """The uid a kernel of this grading runs as: a fresh one (``workspace.fresh_uid``) when the grader is
    root and the kernel is sandboxed, else None (it runs as the grader's user).

    Root is exempt from RLIMIT_NPROC, so a kernel left as root could fork without bound; a uid of its
    own makes the limit bite and keeps concurrent kernels from sharing one count. The kernel switches
    to it itself, inside the sandbox, after the mounts are made."""
    if os.geteuid() != 0 or grading.sandbox == "off" or bubblewrap_problem() is not None:
        return None
    return fresh_uid()


def kernel_command(ws: Workspace, grading: Grading, device: str, hidden: list[str]) -> KernelCommand:
    """The argv of a kernel confined as course.yml asks (``grading.sandbox``), in workspace ``ws``."""
    problem = None if grading.sandbox == "off" else bubblewrap_problem()
    uid = ws.uid if grading.sandbox != "off" and problem is None else None
    bootstrap = _BOOTSTRAP.format(limits=_limits(grading, uid), hidden=hidden, uid=uid,
                                  environment=_environment(ws, grading))
    python = [sys.executable, "-c", bootstrap, "-f", "{connection_file}"]
    if grading.sandbox == "required" and problem:
        raise SandboxUnavailable(f"course.yml sets grading.sandbox: required, but {problem}. "
                                 "Install bubblewrap (Debian: apt-get install bubblewrap) or set sandbox: auto.")
    if grading.sandbox != "off" and problem is None:
        return KernelCommand(_bwrap_args(ws, device) + python, True,
                             "bubblewrap sandbox: no network, read-only system, private scratch folder", uid)
    why = "grading.sandbox is off" if grading.sandbox == "off" else problem
    return KernelCommand(python, False, f"NOT SANDBOXED ({why}): resource limits only; "
                                        "student code can read files this user can read")
