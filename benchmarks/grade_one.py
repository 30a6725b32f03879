"""Time one 06b submission four ways, side by side in one run.

    .venv/bin/python benchmarks/grade_one.py [--example reference] [--repeats 3]

1. plain execution of the notebook with nbclient (no sandbox, no probes);
2. `reglab grade` (sandboxed kernel, the notebook, hidden probes, scoring), with and
   without the self-check and demo cells (``--no-outputs``);
3. `nbgrader autograde` on the same notebook, in a scratch course folder.
All three run the notebook in the grading profile (course.yml grading.profile,
as REGLAB_PROFILE), so each does the same work. Prints the median of each and
the ratios.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.grade import grade_submission
from reglab import config
from reglab.examples import examples
from reglab.release import nbgrader


def _median_seconds(run, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="06b")
    parser.add_argument("--example", default="reference")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    course = config.load()
    lab = course.lab(args.lab)
    os.environ["REGLAB_PROFILE"] = course.grading.profile     # plain and nbgrader runs inherit it
    notebook = next(e.notebook for e in examples(lab) if e.name == args.example)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(config.ROOT / "nbgrader_config.py", root)
        shutil.copytree(config.ROOT / "source" / lab.id, root / "source" / lab.id)
        nbgrader("generate_assignment", lab.id, "--force", "--quiet", cwd=root)
        submitted = root / "submitted" / "student" / lab.id / f"{lab.id}.ipynb"
        submitted.parent.mkdir(parents=True)
        nbformat.write(notebook, submitted)

        def plain():
            NotebookClient(nbformat.read(submitted, as_version=4), timeout=600, allow_errors=True,
                           resources={"metadata": {"path": tmp}}).execute()

        results = {
            "nbclient, plain execution": _median_seconds(plain, args.repeats),
            "reglab grade": _median_seconds(lambda: grade_submission(submitted, lab, course), args.repeats),
            "reglab grade --no-outputs": _median_seconds(
                lambda: grade_submission(submitted, lab, course, run_demos=False), args.repeats),
            "nbgrader autograde": _median_seconds(
                lambda: nbgrader("autograde", lab.id, "--force", "--quiet", cwd=root), args.repeats),
        }
    base, nbgrader_s = results["nbclient, plain execution"], results["nbgrader autograde"]
    print(f"{lab.id}, example '{args.example}', profile {course.grading.profile}, median of {args.repeats}:")
    for name, seconds in results.items():
        print(f"  {name:<28} {seconds:6.2f} s   {seconds / base:4.2f}x plain execution   "
              f"{seconds / nbgrader_s:4.2f}x nbgrader autograde")


if __name__ == "__main__":
    main()
