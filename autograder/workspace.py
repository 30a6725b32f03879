"""The folders of one grading, split by who may write them.

    with Workspace.create(grading) as ws:
        ...   # ws.probe (grader's, read-only to the kernel), ws.kernel_fs (the kernel's)

Everything lives under one grader-owned folder (``root``, mode 0700), whose
names the kernel cannot change:

* ``probe/``: the plan of calls and empty IPython/Jupyter configuration
  folders. Written by the grader, bound read-only into the sandbox.
* ``conn/``: the kernel's connection file, written by jupyter_client and
  handed to the kernel's user through an open descriptor.
* ``ipc/``: one fresh folder per kernel start for the kernel's sockets (the
  kernel binds them, so that folder is the kernel's; ``ipc/`` itself is not).
* ``kernel/``: where the notebook writes: ``home/`` (its HOME and working
  folder) and ``tmp/`` (its TMPDIR). When the grader is root this is a tmpfs
  of its own, with the disk budget as its size and ``max_files`` as its inode
  count, so neither bytes nor empty folders reach the host's disk. Elsewhere
  it is a plain folder and the grader counts both (``usage``).
* ``records/``: where the probes write what came back, one folder per kernel
  start, and torch's own compile caches (``cache/``, which torch needs while
  the probes run); as root a small tmpfs of its own, so a notebook that fills
  its disk still has its functions graded.

The grader never opens a path below ``kernel/`` or ``records/`` by name: it
opens the folder itself (a mount point, or a folder in its own folder) and
goes down with ``dir_fd`` and ``O_NOFOLLOW`` (``open_records``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reglab.config import Grading

# Per-grading users: a counter kept by root, so no two gradings (in this process, another worker
# process, or an earlier run) share a uid, and nothing one kernel left behind is another's.
UID_FIRST, UID_LAST = 200_000, 2**31 - 2
UID_STATE = Path(os.environ.get("REGLAB_STATE_DIR", "/var/lib/reglab")) / "next-kernel-uid"


def fresh_uid(state: Path = UID_STATE) -> int:
    """A uid no grading has had yet (root only): the next value of a counter under ``state``."""
    state.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(state, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        text = handle.read().strip()
        uid = int(text) if text.isdigit() and UID_FIRST <= int(text) <= UID_LAST else UID_FIRST
        handle.seek(0)
        handle.truncate()
        handle.write(str(UID_FIRST if uid >= UID_LAST else uid + 1))
    return uid


@dataclass
class Usage:
    bytes: int
    files: int


@dataclass
class Workspace:
    root: Path
    uid: int | None            # the kernel's own user when the grader is root, else None
    mounted: bool              # kernel/ is a tmpfs with its own size and inode limits
    max_bytes: int
    max_files: int

    @property
    def probe(self) -> Path:
        return self.root / "probe"

    @property
    def plan(self) -> Path:
        return self.probe / "plan.pt"

    @property
    def config_dir(self) -> Path:
        """Empty and read-only in the sandbox: IPython and Jupyter configuration, so no startup file runs."""
        return self.probe / "config"

    @property
    def conn(self) -> Path:
        return self.root / "conn"

    @property
    def connection_file(self) -> Path:
        return self.conn / "kernel.json"

    @property
    def ipc(self) -> Path:
        return self.root / "ipc"

    @property
    def kernel_fs(self) -> Path:
        return self.root / "kernel"

    @property
    def home(self) -> Path:
        return self.kernel_fs / "home"

    @property
    def tmp(self) -> Path:
        return self.kernel_fs / "tmp"

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def cache(self) -> Path:
        return self.records / "cache"

    @classmethod
    @contextlib.contextmanager
    def create(cls, grading: Grading, *, uid: int | None):
        root = Path(tempfile.mkdtemp(prefix="reglab-"))
        ws = cls(root, uid, False, grading.max_disk_mb * 2**20, grading.max_files)
        try:
            ws._lay_out()
            yield ws
        finally:
            ws._remove()

    def _lay_out(self) -> None:
        os.chmod(self.root, 0o755 if self.uid is not None else 0o700)   # the kernel's user must pass through
        for folder in (self.probe, self.config_dir / "ipython", self.config_dir / "jupyter", self.conn, self.ipc,
                       self.kernel_fs, self.records):
            folder.mkdir(parents=True, exist_ok=True, mode=0o755)
        if self.uid is not None:
            self.mounted = _mount_tmpfs(self.kernel_fs, self.max_bytes, self.max_files, self.uid) and \
                _mount_tmpfs(self.records, RECORDS_BYTES, RECORDS_FILES, self.uid)
        # Nothing runs as the kernel's user yet, so these fresh folders can be handed over by name.
        for folder in (self.home, self.tmp, self.cache):
            folder.mkdir(mode=0o700)
        if self.uid is not None:
            for folder in (self.home, self.tmp, self.cache, self.kernel_fs, self.records):
                os.chown(folder, self.uid, self.uid)

    def _remove(self) -> None:
        for mount in (self.kernel_fs, self.records):
            if os.path.ismount(mount):
                subprocess.run(["umount", "--lazy", str(mount)], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)      # fd-based: never follows the kernel's links

    def new_ipc_folder(self) -> Path:
        """A fresh folder for one kernel's sockets, made while no kernel runs, given to the kernel's user."""
        folder = Path(tempfile.mkdtemp(prefix="k", dir=self.ipc))
        give(folder, self.uid)
        return folder

    def usage(self) -> Usage:
        """What the kernel has written: from the filesystem's counters when it has its own, else
        counted by walking (descriptors only, links not followed; the count stops past the budget)."""
        if self.mounted:
            fs = os.statvfs(self.kernel_fs)
            return Usage((fs.f_blocks - fs.f_bfree) * fs.f_frsize, fs.f_files - fs.f_ffree)
        total, files = 0, 0
        for top in (self.kernel_fs, self.records):
            for _, dirs, names, dir_fd in os.fwalk(top, follow_symlinks=False):
                for name in dirs + names:
                    files += 1
                    with contextlib.suppress(OSError):
                        total += os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_blocks * 512
                if files > self.max_files or total > self.max_bytes:
                    return Usage(total, files)
        return Usage(total, files)

    def over_budget(self, usage: Usage) -> str | None:
        """Why the kernel's writing must stop (a plain folder), or None. A tmpfs enforces its own limits."""
        if usage.bytes > self.max_bytes:
            return f"the notebook wrote more than {self.max_bytes // 2**20} MB of files"
        if usage.files > self.max_files:
            return f"the notebook made more than {self.max_files} files and folders"
        return None


RECORDS_BYTES, RECORDS_FILES = 512 * 2**20, 4096     # the probes' records: far more than any plan needs


def _mount_tmpfs(folder: Path, size: int, inodes: int, uid: int) -> bool:
    """Mount a tmpfs of ``size`` bytes and ``inodes`` inodes on ``folder``; False where that is not
    allowed (no CAP_SYS_ADMIN), and the grader falls back to counting."""
    options = f"size={size},nr_inodes={inodes + 16},mode=0700,uid={uid},gid={uid},nosuid,nodev"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "reglab-kernel", str(folder)],
                          capture_output=True, check=False)
    return done.returncode == 0


def give(folder: Path, uid: int | None) -> None:
    """chown a folder the grader made to ``uid``, through a descriptor (never a link's target)."""
    if uid is None:
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, uid, uid)
    finally:
        os.close(fd)


def give_file(path: Path, uid: int | None) -> None:
    """chown a file the grader wrote in its own folder to ``uid``, through a descriptor."""
    if uid is None:
        return
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchown(fd, uid, uid)
    finally:
        os.close(fd)


class UnsafeFile(OSError):
    """A kernel-written path that is not a plain file of an allowed size (a link, a pipe, too big...)."""


def open_records(ws: Workspace, *names: str) -> int:
    """A descriptor of the folder ``records/<names...>``, each step opened without following links."""
    fd = os.open(ws.records, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in names:
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError:
        os.close(fd)
        raise
    return fd


def read_kernel_file(dir_fd: int, name: str, limit: int) -> bytes:
    """The bytes of the plain file ``name`` in ``dir_fd``, at most ``limit``: never a link, a pipe
    (opened without blocking) or a device, and never more than ``limit`` bytes read."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{name} is not a plain file")
        if info.st_size > limit:
            raise UnsafeFile(f"{name} is larger than {limit // 2**20} MB")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise UnsafeFile(f"{name} is larger than {limit // 2**20} MB")
        return data
    finally:
        os.close(fd)


def list_kernel_files(dir_fd: int, limit: int) -> list[str]:
    """The names of at most ``limit`` plain files (not links) in the folder ``dir_fd``; a folder can
    hold millions of entries, and only the first ``limit`` are looked at."""
    names = []
    with os.scandir(dir_fd) as entries:
        for seen, entry in enumerate(entries):
            if seen >= limit:
                break
            if entry.is_file(follow_symlinks=False):
                names.append(entry.name)
    return names
