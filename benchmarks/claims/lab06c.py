"""Lab 06c's claims: dropout closes the train-validation gap of an MLP on MNIST-1D, and eval mode against MC dropout.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lab_claims.py --lab 06c --profile cpu --seeds 5

The experiment is the notebook's own code (section 8: ``train_mlp``, ``mc_dropout_accuracies``)
over the reference ``Dropout``; each seed is a fresh MNIST-1D data set, initialization and masks.
"""

from __future__ import annotations

from benchmarks.claims.notebook_cells import notebook_namespace
from benchmarks.lab_claims import Claim

NAMES = {"make_mnist1d", "make_classification_split", "make_mlp", "accuracy", "train_mlp", "mc_dropout_accuracies"}


def measure(profile: str, seeds: int) -> list[Claim]:
    ns = notebook_namespace("06c", profile, NAMES)
    ns["torch"].set_num_threads(1)
    ps = ns["CONFIG"]["ps"]
    low, mid, high = ps[0], ps[len(ps) // 2], ps[-1]
    runs = {p: [ns["train_mlp"](p, seed) for seed in range(seeds)] for p in ps}

    def final(p, key):
        return [100 * run["history"][-1][key] for run in runs[p]]

    def gap(p):
        return [train - val for train, val in zip(final(p, "train"), final(p, "val"))]

    samples = ns["CONFIG"]["mc_samples"]
    mc = [ns["mc_dropout_accuracies"](run["model"], *run["val"], samples) for run in runs[high]]
    eval_mode = final(high, "val")
    return [
        Claim(f"dropout {high} closes the gap of p = {low}", f"gap(p={low}) - gap(p={high}), points",
              [a - b for a, b in zip(gap(low), gap(high))], +1, 0),
        Claim(f"dropout {mid} closes part of it", f"gap(p={low}) - gap(p={mid}), points",
              [a - b for a, b in zip(gap(low), gap(mid))], +1, 0),
        Claim(f"p = {high} closes more than p = {mid}", f"gap(p={mid}) - gap(p={high}), points",
              [a - b for a, b in zip(gap(mid), gap(high))], +1, 0),
        Claim(f"p = {high} lowers the train accuracy", f"train acc(p={low}) - train acc(p={high}), points",
              [a - b for a, b in zip(final(low, "train"), final(high, "train"))], +1, 0),
        Claim(f"p = {high} raises the validation accuracy", f"val acc(p={high}) - val acc(p={low}), points",
              [a - b for a, b in zip(final(high, "val"), final(low, "val"))], +1, 0),
        Claim(f"p = {mid} raises the validation accuracy", f"val acc(p={mid}) - val acc(p={low}), points",
              [a - b for a, b in zip(final(mid, "val"), final(low, "val"))], +1, 0),
        Claim(f"MC average of {samples} masks beats one mask", f"acc(MC, T={samples}) - acc(one mask), points",
              [100 * (run[-1] - run[0]) for run in mc], +1, 0),
        Claim(f"eval mode at least as accurate as MC T={samples}", f"acc(eval) - acc(MC, T={samples}), points",
              [e - 100 * run[-1] for e, run in zip(eval_mode, mc)], +1, 0),
        Claim(f"eval mode within 2 points of MC T={samples}", f"|acc(eval) - acc(MC, T={samples})|, points",
              [abs(e - 100 * run[-1]) for e, run in zip(eval_mode, mc)], -1, 2),
    ]
