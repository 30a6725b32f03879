"""Release labs with nbgrader's own ``generate_assignment``, and detect stale generated files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from reglab.build import build, build_notebook, notebook_text
from reglab.config import ROOT, Lab


class ReleaseError(RuntimeError):
    pass


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the nbgrader of this environment; its bin/ goes first on PATH (nbgrader runs alembic)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ReleaseError(f"nbgrader {' '.join(args)} failed in {cwd}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done


def release(lab: Lab, root: Path = ROOT, *, database: bool = True) -> Path:
    """source/<lab>/ -> release/<lab>/ by ``nbgrader generate_assignment`` (and the gradebook entry)."""
    nbgrader("generate_assignment", lab.id, "--force", "--quiet", *([] if database else ["--no-db"]), cwd=root)
    return lab.release_path_in(root)


def stale_files(lab: Lab, root: Path = ROOT) -> list[str]:
    """Generated files of ``lab`` under ``root`` that differ from what a build and release would make now."""
    stale = []
    committed = lab.source_path_in(root)
    if not committed.is_file() or committed.read_text() != notebook_text(build_notebook(lab)):
        stale.append(str(committed.relative_to(root)))
    with tempfile.TemporaryDirectory(prefix="reglab-check-") as tmp:
        course = Path(tmp)
        shutil.copy(ROOT / "nbgrader_config.py", course)
        build(lab, course)
        release(lab, course, database=False)
        fresh_release = lab.release_path_in(course).read_text()
    committed = lab.release_path_in(root)
    if not committed.is_file() or committed.read_text() != fresh_release:
        stale.append(str(committed.relative_to(root)))
    return stale
