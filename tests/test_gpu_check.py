"""benchmarks/gpu_check.py: the dry run of one lab end to end, and the gpu profile it shrinks for every lab."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from benchmarks.gpu_check import GPU_SWITCHES, PROFILES_CELL, read_profiles, shrink_gpu_profile

from conftest import lab_shorts

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("short", lab_shorts())
def test_the_dry_run_keeps_the_gpu_switches_at_the_ci_sizes(course, short):
    nb = nbformat.read(course.lab(short).release_path, as_version=4)
    before = read_profiles(nb)
    if before is None:
        pytest.skip(f"{short}'s release has no profiles cell: the dry run runs it as it is")
    shrunk = shrink_gpu_profile(nb)
    assert read_profiles(nb) == {**before, "gpu": shrunk}, "only the gpu entry changes, and the cell says so"
    assert set(shrunk) == set(before["gpu"])
    for key, value in shrunk.items():
        origin = "gpu" if key in GPU_SWITCHES or key not in before["ci"] else "ci"
        assert value == before[origin][key], f"{key}: expected the {origin} profile's {before[origin][key]!r}"
    cell = next(c for c in nb.cells if c.source.startswith(PROFILES_CELL))
    assert "gpu_check" in cell.source.splitlines()[1], "the rewritten cell says who rewrote it"


@pytest.mark.slow
def test_the_dry_run_grades_routes_and_runs_a_lab_on_the_cpu(tmp_path):
    """What the GPU run does, on the CPU at tiny sizes, for 06b: three gradings (reference, blank, the first
    bug), one Dask grading that asks for the GPU resource, and the notebook in the shrunk gpu profile."""
    out = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--labs", "06b",
                          "--bugs", "1", "--json", str(out)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["step"], r["what"]) for r in rows] == [
        ("grade", "reference"), ("grade", "blank"), ("grade", "biased_running_var"),
        ("dask", "reference on a GPU=1 worker"), ("notebook", "reference, REGLAB_PROFILE=gpu"), ("total", "every step")]
    assert all(r["ok"] for r in rows)
    assert "on the GPU=1 worker" in rows[3]["result"]
    assert rows[4]["result"].startswith("gpu switches, ci sizes")
    assert "| grade | 06b | reference |" in run.stdout and "6 of 6 checks passed" in run.stdout
