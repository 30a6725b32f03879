"""Throughput of whole-class grading: N 06b submissions with 1 worker, then with 2 (and more).

    .venv/bin/python benchmarks/grade_class.py [--count 100] [--workers 1 2]

The submissions cycle through the lab's bundled examples (reference, alternatives, bug zoo, blank,
hostile; not the ``host_`` ones, which are built to hang), each with a note of its own student added
so that every one is distinct (its own sha256, its own hidden inputs). Each worker count grades them
all from scratch into a fresh folder; prints seconds, submissions per minute and the speed-up over
one worker. Target: at least 1.8x with 2 workers.

It also prints the machine's own ceiling, before and after the gradings: how much faster N copies of
a task finish side by side, each in a process of its own, than one copy alone. Two tasks stand for
the two halves of a grading: a Python loop (the kernel's and the grader's own code) and a fresh
interpreter's ``import torch``. A virtual machine whose cores share a physical one, or a busy host,
gives less than N, and a grader's speed-up is bounded by its mix of the two.
"""

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.classroom import from_submitted, grade_class
from reglab import config
from reglab.examples import examples


def make_class(lab, count: int, submitted: Path) -> None:
    pool = [e for e in examples(lab) if not e.name.startswith("host_")]   # those are built to cost time
    for index in range(count):
        nb = nbformat.from_dict(pool[index % len(pool)].notebook)
        student = f"student{index:03d}"
        nb.cells.append(nbformat.v4.new_markdown_cell(f"submitted by {student}"))
        folder = submitted / student / lab.id
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab.id}.ipynb")


def python_loop(_=None) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(30_000_000):
        total += i
    return time.perf_counter() - start


def import_torch(_=None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - start


CEILING_TASKS = {"Python loop": python_loop, "import torch": import_torch}


def machine_ceiling(workers: int) -> dict[str, float]:
    """Per task: the speed-up of ``workers`` copies side by side over one alone (``workers`` at best)."""
    speedups = {}
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for name, task in CEILING_TASKS.items():
            alone = sum(pool.apply(task) for _ in range(3)) / 3
            together = sum(max(pool.map(task, range(workers), chunksize=1)) for _ in range(3)) / 3
            speedups[name] = workers * alone / together
    return speedups


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="06b")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-outputs", action="store_true", help="skip the self-check and demo cells (points only)")
    args = parser.parse_args()
    course = config.load()
    lab = course.lab(args.lab)
    seconds = {}
    ceiling_before = {workers: machine_ceiling(workers) for workers in args.workers if workers > 1}
    with tempfile.TemporaryDirectory(prefix="reglab-bench-") as tmp:
        submitted = Path(tmp) / "submitted"
        make_class(lab, args.count, submitted)
        found, _ = from_submitted(submitted, lab)
        for workers in args.workers:
            start = time.perf_counter()
            run = grade_class(lab, course, found, Path(tmp) / f"grades-{workers}", workers=workers,
                              run_demos=not args.no_outputs)
            seconds[workers] = time.perf_counter() - start
            assert len(run.graded) == args.count and not run.failed, run.failed
    ceiling_after = {workers: machine_ceiling(workers) for workers in ceiling_before}
    base = seconds[args.workers[0]]
    print(f"{lab.id}: {args.count} submissions")
    for workers, took in seconds.items():
        print(f"  {workers} worker(s): {took:7.1f} s   {60 * args.count / took:6.1f} submissions/min   "
              f"{base / took:4.2f}x the {args.workers[0]}-worker throughput")
    for workers in ceiling_before:
        for task in CEILING_TASKS:
            print(f"  machine ceiling, {workers} x {task}: {ceiling_before[workers][task]:4.2f}x before the "
                  f"gradings, {ceiling_after[workers][task]:4.2f}x after")


if __name__ == "__main__":
    main()
