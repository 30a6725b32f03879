"""One command that proves the course's GPU paths: a table of every check, exit status 1 if any fails.

    .venv/bin/python benchmarks/gpu_check.py --data /path/to/cifar-10        # a CUDA machine: at most 10 minutes
    .venv/bin/python benchmarks/gpu_check.py --dry-run --labs 06b,06f        # the same steps on the CPU, tiny sizes

Three steps, per lab (``--labs`` restricts them; ``--json FILE`` writes the rows too):

1. grade: the reference, the blank release and the first two bugs of ``examples/<lab>/bugs.yml`` are graded
   with ``device="cuda"`` in the sandbox; each verdict must be the one the example declares on the CPU
   (full marks, zero, the intended item lost), the kernel sandboxed and the hidden inputs made on the device.
2. dask: one lab's reference is graded on a Dask cluster of a plain worker and a worker started with
   ``dask worker ... --resources GPU=1``; it must run on the GPU worker and get full marks.
3. notebook: every release notebook runs top to bottom, filled with the reference, with ``REGLAB_PROFILE=gpu``,
   within the lab's gpu budget, and must have put tensors on the GPU. For 06a the rows add, per training (a
   configuration and a seed), its seconds and training images per second, and the best configuration's test
   accuracy (the notebook's own: best mean validation accuracy, its mean test accuracy over the seeds), against
   the targets (each training at most 60 s, the sweep at most 10 minutes, at least 93% on CIFAR-10's 10,000
   test images). ``--sweep one-seed`` trains each configuration once (if the full sweep is over budget).

``--dry-run`` runs the same steps on the CPU: gradings with ``device="cpu"`` (still in the sandbox when
bubblewrap works here), the Dask grading still asks for the GPU resource, and the notebooks keep the gpu
profile's switches (model, channels_last, amp, data_on_device) at the ci profile's sizes
(``shrink_gpu_profile``). It proves the script and the code paths run; it measures nothing about a GPU.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import pprint
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reglab import config  # noqa: E402
from reglab.config import CourseConfig, Lab  # noqa: E402
from reglab.examples import Example, examples, mismatch  # noqa: E402

PROFILES_CELL = "# Written by the build from course.yml"
GPU_SWITCHES = ("model", "channels_last", "amp", "data_on_device")   # kept from the gpu profile in a dry run
TARGETS = {"config_s": 60.0, "sweep_s": 600.0, "test_accuracy": 0.93, "n_test": 10_000, "total_s": 600.0}
FIGURES = "gpu_check figures: "     # the line the probe cells print, followed by JSON


@dataclass
class Row:
    step: str
    lab: str
    what: str
    seconds: float
    result: str
    ok: bool


# --- the profiles cell ------------------------------------------------------------------------------------

def _profiles_cell(nb: nbformat.NotebookNode):
    return next((c for c in nb.cells if c.cell_type == "code" and c.source.startswith(PROFILES_CELL)), None)


def read_profiles(nb: nbformat.NotebookNode) -> dict | None:
    """The ``PROFILES`` dict of the notebook's build-written cell, or None if it has none."""
    cell = _profiles_cell(nb)
    if cell is None:
        return None
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["PROFILES"]:
            return ast.literal_eval(node.value)
    raise ValueError("the profiles cell assigns no PROFILES dict")


def set_gpu_profile(nb: nbformat.NotebookNode, changes: dict, why: str) -> dict | None:
    """Rewrite the gpu entry of the notebook's PROFILES cell with ``changes``; returns it (None: no cell)."""
    profiles = read_profiles(nb)
    if profiles is None:
        return None
    profiles["gpu"] = {**profiles["gpu"], **changes}
    cell = _profiles_cell(nb)
    cell.source = (f"{cell.source.splitlines()[0]}\n# gpu_check: {why}\n"
                   f"PROFILES = {pprint.pformat(profiles, sort_dicts=False, width=110)}\n")
    return profiles["gpu"]


def shrink_gpu_profile(nb: nbformat.NotebookNode) -> dict | None:
    """The dry run's gpu profile: every size from the ci profile, the GPU-only switches from the gpu profile."""
    profiles = read_profiles(nb)
    if profiles is None:
        return None
    gpu, ci = profiles["gpu"], profiles["ci"]
    changes = {key: ci[key] for key in gpu if key in ci and key not in GPU_SWITCHES}
    return set_gpu_profile(nb, changes, "--dry-run: the gpu profile's switches at the ci profile's sizes")


# --- step 1: grading ----------------------------------------------------------------------------------------

def graded_examples(all_examples: list[Example], bugs: int = 2) -> list[Example]:
    """The reference, the blank release and the first ``bugs`` bugs of bugs.yml."""
    first_bugs = [e for e in all_examples if e.kind == "bug"][:bugs]
    return [e for e in all_examples if e.kind in ("reference", "blank")] + first_bugs


def _verdict(example: Example, result, device: str, need_sandbox: bool) -> tuple[str, bool]:
    lost = {item.id for item in result.items if item.points < item.max_points}
    wrong = mismatch(example, lost, {item.id for item in result.items})
    sandboxed = not result.sandbox.startswith("NOT SANDBOXED")
    text = f"{result.points:g}/{result.max_points:g}" + (f", lost {', '.join(sorted(lost))}" if lost else "")
    problems = [wrong and f"expected otherwise: {wrong}", result.device != device and f"ran on {result.device}",
                not sandboxed and ("NOT sandboxed" if need_sandbox else "not sandboxed here")]
    text += "".join(f"; {p}" for p in problems if p)
    return text, wrong is None and result.device == device and (sandboxed or not need_sandbox)


def grade_step(lab: Lab, course: CourseConfig, chosen: list[Example], device: str, need_sandbox: bool,
               work: Path) -> list[Row]:
    from autograder.grade import grade_submission
    rows = []
    for example in chosen:
        path = work / lab.short / example.name / f"{lab.id}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(example.notebook, path)
        start = time.perf_counter()
        try:
            result = grade_submission(path, lab, course, device=device, run_demos=False)
            text, ok = _verdict(example, result, device, need_sandbox)
        except Exception as exc:  # noqa: BLE001 - a row that says why, then the next check
            text, ok = f"{type(exc).__name__}: {str(exc)[:200]}", False
        rows.append(Row("grade", lab.short, example.name, time.perf_counter() - start, text, ok))
    return rows


# --- step 2: a grading routed to a GPU worker ------------------------------------------------------------

def grade_on_worker(*args) -> dict:
    """``grade_remote`` on a Dask worker, with the worker's process id (which worker ran it)."""
    from autograder.classroom import grade_remote
    return {**grade_remote(*args), "pid": os.getpid()}


def dask_step(lab: Lab, course: CourseConfig, reference: Example, device: str) -> Row:
    """The reference graded through ``autograder.cluster.run_on_dask(gpu=True)`` (what a class graded with
    ``--device cuda`` asks for) on a plain worker and a ``--resources GPU=1`` worker started by the CLI."""
    start = time.perf_counter()
    try:
        return _dask_grading(lab, course, reference, device, start)
    except Exception as exc:  # noqa: BLE001 - a row that says why
        return Row("dask", lab.short, "reference on a GPU=1 worker", time.perf_counter() - start,
                   f"{type(exc).__name__}: {str(exc)[:200]}", False)


def _dask_grading(lab: Lab, course: CourseConfig, reference: Example, device: str, start: float) -> Row:
    from distributed import Client, LocalCluster

    from autograder.cluster import run_on_dask
    from autograder.processes import stop
    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or "dask"
    job = (f"gpu-check-{lab.short}", (course, lab.id, nbformat.writes(reference.notebook).encode(),
                                      f"{lab.id}.ipynb", device, False))
    # The plain worker lives in this process (cheap); the GPU worker is a process of its own, started as a TA would.
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        worker = subprocess.Popen([dask, "worker", cluster.scheduler_address, "--nthreads", "1", "--resources",
                                   "GPU=1", "--name", "gpu-check-gpu", "--no-dashboard", "--no-nanny"], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Client(cluster.scheduler_address) as client:
                client.wait_for_workers(2, timeout=120)
                pids = client.run(os.getpid)
                names = {address: w.get("name") for address, w in client.scheduler_info()["workers"].items()}
                gpu_pid = next(pid for address, pid in pids.items() if names[address] == "gpu-check-gpu")
            [(_, data, error)] = list(run_on_dask([job], grade_on_worker, address=cluster.scheduler_address, gpu=True))
        finally:
            stop(worker)
    seconds = time.perf_counter() - start
    if error is not None:
        return Row("dask", lab.short, "reference on a GPU=1 worker", seconds, error, False)
    result = data["result"]
    on_gpu_worker = data["pid"] == gpu_pid
    text = (f"{result['points']:g}/{result['max_points']:g} on {result['device']}, "
            f"{'on the GPU=1 worker' if on_gpu_worker else 'on the plain worker'}")
    ok = on_gpu_worker and result["points"] == result["max_points"] and result["device"] == device
    return Row("dask", lab.short, "reference on a GPU=1 worker", seconds, text, ok)


# --- step 3: the release notebooks in the gpu profile ------------------------------------------------------

# Cells added to 06a's notebook: one before the experiment times each training (every run_sweep call, one
# configuration at a time), one at the end reports the figures. Every notebook gets the last cell's device report.
_TIME_EACH_TRAINING = """\
_gpu_check_sweep, _gpu_check_seconds = run_sweep, []

def run_sweep(configs, data, budget):
    rows = []
    for cfg in configs:
        start = time.perf_counter()
        rows += _gpu_check_sweep([cfg], data, budget)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        _gpu_check_seconds.append(time.perf_counter() - start)
    return rows
"""
_SWEEP_FIGURES = """\
_train_images = len(SPLITS["train"][1]) // P["batch_size"] * P["batch_size"]
_gpu_check["sweep"] = [
    {"config": f"{config_label(row['augmentation'], row['config'])}, seed {row['seed']}", "seconds": s,
     "epochs": len(row["history"]["train_loss"]), "best_val_accuracy": row["best_val_accuracy"],
     "images_per_s": len(row["history"]["train_loss"]) * _train_images / s}
    for row, s in zip(results, _gpu_check_seconds)]
_gpu_check.update(best=best_label, test_accuracy=float(best["test_accuracy_mean"]), seeds=len(best["rows"]),
                  n_test=len(SPLITS["test"][1]), data=DATA_SOURCE)
"""
_DEVICE_REPORT = """\
import json as _json
import torch as _torch
_gpu_check = {"device": str(globals().get("DEVICE", "?")),
              "cuda_bytes": _torch.cuda.max_memory_allocated() if _torch.cuda.is_available() else 0}
"""


def _is_experiment_cell(cell) -> bool:
    return cell.cell_type == "code" and "results = run_experiment(" in cell.source


def prepare_notebook(lab: Lab, reference: Example, dry_run: bool, one_seed: bool) -> tuple[nbformat.NotebookNode, str]:
    """The reference notebook as the check runs it, and a note on its gpu profile."""
    nb = nbformat.from_dict(reference.notebook)
    note = "gpu profile"
    if dry_run:
        note = "gpu switches, ci sizes" if shrink_gpu_profile(nb) is not None else "no profiles cell"
    sweep = lab.short == "06a"
    if sweep:
        if one_seed:
            set_gpu_profile(nb, {"seeds": 1}, "--sweep one-seed: each configuration trained once")
            note += ", one seed"
        at = next((i for i, c in enumerate(nb.cells) if _is_experiment_cell(c)), None)
        if at is None:
            raise ValueError("06a: no cell runs results = run_experiment(...); the check times the trainings there")
        nb.cells.insert(at, nbformat.v4.new_code_cell(_TIME_EACH_TRAINING))
    report = _DEVICE_REPORT + (_SWEEP_FIGURES if sweep else "") + f"print({FIGURES!r} + _json.dumps(_gpu_check))\n"
    nb.cells.append(nbformat.v4.new_code_cell(report))
    return nb, note


def _figures(nb: nbformat.NotebookNode) -> dict:
    for output in nb.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(FIGURES):
                return json.loads(line.removeprefix(FIGURES))
    raise ValueError("the notebook's last cell printed no figures")


def _sweep_rows(lab: Lab, figures: dict, targets: bool) -> list[Row]:
    rows = []
    for run in figures["sweep"]:
        rows.append(Row("06a sweep", lab.short, run["config"], run["seconds"],
                        f"{run['epochs']} epochs, {run['images_per_s']:,.0f} img/s, "
                        f"val {run['best_val_accuracy']:.1%}", not targets or run["seconds"] <= TARGETS["config_s"]))
    total = sum(run["seconds"] for run in figures["sweep"])
    rows.append(Row("06a sweep", lab.short, f"all {len(figures['sweep'])} trainings", total,
                    f"target <= {TARGETS['sweep_s']:.0f} s" if targets else "dry run: no target",
                    not targets or total <= TARGETS["sweep_s"]))
    enough = figures["n_test"] >= TARGETS["n_test"]
    rows.append(Row("06a sweep", lab.short, f"best: {figures['best']}", 0.0,
                    f"test {figures['test_accuracy']:.1%} (mean of {figures['seeds']} seeds) on {figures['n_test']:,} "
                    f"images; {figures['data']}",
                    not targets or (enough and figures["test_accuracy"] >= TARGETS["test_accuracy"])))
    return rows


def notebook_step(lab: Lab, reference: Example, dry_run: bool, one_seed: bool, data: Path | None,
                  cell_timeout: int, work: Path) -> list[Row]:
    from nbclient import NotebookClient
    folder = work / "notebooks" / lab.short
    folder.mkdir(parents=True)
    env = {**os.environ, "REGLAB_PROFILE": "gpu", "MPLBACKEND": "Agg",
           "REGLAB_DATA": str(data if data is not None else folder / "no-data")}
    start = time.perf_counter()
    try:
        nb, note = prepare_notebook(lab, reference, dry_run, one_seed)
        NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute(env=env)
        figures = _figures(nb)
    except Exception as exc:  # noqa: BLE001 - a row that says why, then the next check
        last = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1:] or [""]   # no terminal colours
        return [Row("notebook", lab.short, "reference, REGLAB_PROFILE=gpu", time.perf_counter() - start,
                    f"{type(exc).__name__}: {last[0][:200]}", False)]
    seconds = time.perf_counter() - start
    budget = lab.budgets.gpu
    used_gpu = figures["cuda_bytes"] > 0
    text = f"{note}; DEVICE {figures['device']}, {figures['cuda_bytes'] / 2**20:,.0f} MiB on the GPU"
    ok = dry_run or (used_gpu and seconds <= budget)
    if not dry_run:
        text += f"; budget {budget:g} s"
    rows = [Row("notebook", lab.short, "reference, REGLAB_PROFILE=gpu", seconds, text, ok)]
    if "sweep" in figures:
        rows += _sweep_rows(lab, figures, targets=not dry_run)
    return rows


# --- the command -------------------------------------------------------------------------------------------

def table(rows: list[Row]) -> str:
    lines = ["| step | lab | what | seconds | result | ok |", "|---|---|---|---:|---|---|"]
    lines += [f"| {r.step} | {r.lab} | {r.what} | {r.seconds:.1f} | {r.result} | {'ok' if r.ok else 'FAIL'} |"
              for r in rows]
    return "\n".join(lines)


def run_checks(args) -> list[Row]:
    course = config.load()
    labs = [course.lab(short) for short in args.labs.split(",")] if args.labs else list(course.labs)
    device = "cpu" if args.dry_run else "cuda"
    cell_timeout = args.cell_timeout or (300 if args.dry_run else 600)
    steps = set(args.steps.split(","))
    start = time.perf_counter()
    rows: list[Row] = []

    def add(new: list[Row]) -> None:
        """Keep the rows, and say each one as it comes (a run cut short still shows how far it got)."""
        rows.extend(new)
        for r in new:
            print(f"  {r.step} {r.lab} {r.what}: {r.result} ({r.seconds:.1f} s) {'ok' if r.ok else 'FAIL'}",
                  file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="reglab-gpu-check-") as tmp:
        work = Path(tmp)
        found = {lab.id: examples(lab) for lab in labs}
        if "grade" in steps:
            for lab in labs:
                add(grade_step(lab, course, graded_examples(found[lab.id], args.bugs), device, not args.dry_run, work))
        if "dask" in steps:
            add([dask_step(labs[0], course, found[labs[0].id][0], device)])
        if "notebook" in steps:
            for lab in labs:
                add(notebook_step(lab, found[lab.id][0], args.dry_run, args.sweep == "one-seed", args.data,
                                  cell_timeout, work))
    total = time.perf_counter() - start
    rows.append(Row("total", "", "every step", total, "dry run: nothing measured on a GPU" if args.dry_run
                    else f"target <= {TARGETS['total_s']:.0f} s",
                    args.dry_run or total <= TARGETS["total_s"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at tiny sizes")
    parser.add_argument("--labs", help="comma-separated lab ids or short ids (default: every lab)")
    parser.add_argument("--steps", default="grade,dask,notebook", help="which steps (default: all three)")
    parser.add_argument("--bugs", type=int, default=2,
                        help="zoo bugs graded per lab, the first in bugs.yml (default 2)")
    parser.add_argument("--data", type=Path, help="a CIFAR-10 copy for 06a (REGLAB_DATA; the GPU has no network)")
    parser.add_argument("--sweep", choices=["full", "one-seed"], default="full",
                        help="06a: every configuration x the profile's seeds, "
                             "or one seed each (if full is over budget)")
    parser.add_argument("--cell-timeout", type=int, help="seconds per notebook cell (default 600; dry run 300)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)

    import torch
    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA device here: run it on a GPU machine, or use --dry-run", file=sys.stderr)
        return 2
    where = "CPU (dry run)" if args.dry_run else torch.cuda.get_device_name()
    print(f"gpu_check on {where}, torch {torch.__version__}", flush=True)
    rows = run_checks(args)
    print(table(rows))
    failed = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed" + (f"; {len(failed)} FAILED" if failed else ""))
    if args.json:
        args.json.write_text(json.dumps({"device": where, "torch": torch.__version__, "dry_run": args.dry_run,
                                         "rows": [asdict(r) for r in rows]}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
