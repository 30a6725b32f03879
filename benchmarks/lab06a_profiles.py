"""Lab 06a's sweep per profile, outside the notebook: images per second, time per configuration, test accuracy.

    .venv/bin/python benchmarks/lab06a_profiles.py --profile ci
    REGLAB_DATA=../shared/data/cifar10-subset .venv/bin/python benchmarks/lab06a_profiles.py --profile cpu

The notebook's given code (data, loaders, models; the code cells tagged
``helpers``) is taken from the built source notebook, so it is the code
students run; the functions students write come from
``solutions.regularization_stack``. Nothing here is timed by the tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reglab import config  # noqa: E402
from reglab.build import source_path  # noqa: E402


def notebook_namespace(profile: str) -> dict:
    """The notebook's helpers, run in ``profile``, over the reference's functions."""
    os.environ["REGLAB_PROFILE"] = profile
    import solutions.regularization_stack as reference
    module = types.ModuleType("lab06a_notebook")          # dataclasses look their module up in sys.modules
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    namespace.update({name: getattr(reference, name) for name in dir(reference) if not name.startswith("_")})
    nb = nbformat.read(source_path(config.load().lab("06a")), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "helpers" in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"helpers cell {cell.metadata['nbgrader']['grade_id']}", "exec"), namespace)  # noqa: S102
    return namespace


def measure(profile: str, max_configs: int | None) -> dict:
    ns = notebook_namespace(profile)
    configs = ns["CONFIGS"][:max_configs] if max_configs else ns["CONFIGS"]
    data, budget, p = ns["DATA"], ns["BUDGET"], ns["P"]
    start = time.perf_counter()
    rows = []
    for cfg in configs:
        began = time.perf_counter()
        row = ns["run_sweep"]([cfg], data, budget)[0]
        row["seconds"] = time.perf_counter() - began
        rows.append(row)
        print(f"  {profile}: wd {cfg.weight_decay:g}, {'RandAugment+erasing' if cfg.randaugment else 'crop+flip':19s}, "
              f"ls {cfg.label_smoothing:g}: {len(row['history']['val_loss'])} epochs, best epoch {row['best_epoch']}, "
              f"val acc {row['best_val_accuracy']:.1%}, {row['seconds']:.1f} s", flush=True)
    seconds = time.perf_counter() - start
    batches = len(data.loaders(None, None)[0])
    images = sum(len(row["history"]["train_loss"]) for row in rows) * batches * p["batch_size"]
    best = max(rows, key=lambda row: row["best_val_accuracy"])
    test_loader = data.eval_loader("test", ns["build_eval_transform"](best["config"]))
    _, test_accuracy = ns["evaluate"](best["model"], test_loader, ns["nn"].CrossEntropyLoss(), ns["DEVICE"])
    return {"profile": profile, "data": ns["DATA_SOURCE"], "device": ns["DEVICE"], "configs": len(rows),
            "sweep_s": seconds, "per_config_s": seconds / len(rows), "train_images_per_s": images / seconds,
            "best": best["config"], "best_val_accuracy": best["best_val_accuracy"], "test_accuracy": test_accuracy,
            "n_test": len(ns["SPLITS"]["test"][1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", choices=["ci", "cpu", "gpu"],
                        help="profile to measure (repeat for several; default: ci)")
    parser.add_argument("--configs", type=int, default=None, help="measure only the first N configurations")
    args = parser.parse_args()
    for profile in args.profile or ["ci"]:
        result = measure(profile, args.configs)
        print(f"{result['profile']} on {result['device']} ({result['data']}): {result['configs']} configurations in "
              f"{result['sweep_s']:.1f} s ({result['per_config_s']:.1f} s each), "
              f"{result['train_images_per_s']:.0f} training images/s")
        print(f"  best by validation: {result['best']}")
        print(f"  validation accuracy {result['best_val_accuracy']:.1%}, test accuracy {result['test_accuracy']:.1%} "
              f"on {result['n_test']} test images")


if __name__ == "__main__":
    main()
