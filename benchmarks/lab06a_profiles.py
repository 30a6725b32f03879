"""Lab 06a's experiment per profile, outside the notebook: images per second, time per training, test accuracy.

    .venv/bin/python benchmarks/lab06a_profiles.py --profile ci
    REGLAB_DATA=../shared/data/cifar10-subset .venv/bin/python benchmarks/lab06a_profiles.py --profile cpu

The notebook's given code (data, loaders, models; the code cells tagged
``helpers``) is taken from the built source notebook, so it is the code
students run; the functions students write come from
``solutions.regularization_stack``. Nothing here is timed by the tests.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import types
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reglab import config  # noqa: E402


def notebook_namespace(profile: str, lab: str = "06a") -> dict:
    """The given code of ``lab``'s notebook (its code cells tagged ``helpers``), run in ``profile`` over the
    reference's functions, as a namespace."""
    os.environ["REGLAB_PROFILE"] = profile
    course_lab = config.load().lab(lab)
    reference = importlib.import_module(course_lab.solutions)
    module = types.ModuleType(f"lab{lab}_notebook")       # dataclasses look their module up in sys.modules
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    namespace.update({name: getattr(reference, name) for name in dir(reference) if not name.startswith("_")})
    nb = nbformat.read(course_lab.source_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "helpers" in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"helpers cell {cell.metadata['nbgrader']['grade_id']}", "exec"), namespace)  # noqa: S102
    return namespace


def measure(profile: str, seeds: int) -> dict:
    """The notebook's experiment in ``profile`` over ``seeds`` seeds: time, training images per second, and the
    best configuration's accuracies (mean over the seeds)."""
    ns = notebook_namespace(profile)
    p = ns["P"]
    start = time.perf_counter()
    rows = ns["run_experiment"](p, ns["SPLITS"], range(seeds))
    seconds = time.perf_counter() - start
    batches = len(ns["DATA"].loaders(None, None)[0])
    images = sum(len(row["history"]["train_loss"]) for row in rows) * batches * p["batch_size"]
    label, best = max(ns["summarize"](rows).items(), key=lambda item: item[1]["best_val_accuracy_mean"])
    return {"profile": profile, "data": ns["DATA_SOURCE"], "device": ns["DEVICE"], "trainings": len(rows),
            "seconds": seconds, "per_training_s": seconds / len(rows), "train_images_per_s": images / seconds,
            "best": label, "best_val_accuracy": best["best_val_accuracy_mean"],
            "test_accuracy": best["test_accuracy_mean"], "n_test": len(ns["SPLITS"]["test"][1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", choices=["ci", "cpu", "gpu"],
                        help="profile to measure (repeat for several; default: ci)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds to run (default 1; the notebook runs the profile's)")
    args = parser.parse_args()
    for profile in args.profile or ["ci"]:
        r = measure(profile, args.seeds)
        print(f"{r['profile']} on {r['device']} ({r['data']}): {r['trainings']} trainings in {r['seconds']:.1f} s "
              f"({r['per_training_s']:.1f} s each), {r['train_images_per_s']:.0f} training images/s")
        print(f"  best by validation: {r['best']}: validation accuracy {r['best_val_accuracy']:.1%}, "
              f"test accuracy {r['test_accuracy']:.1%} on {r['n_test']} test images (means over {args.seeds} seeds)")


if __name__ == "__main__":
    main()
