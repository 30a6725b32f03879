"""Lab 06b's claims: where BatchNorm degrades with the batch size, and the closed-form backward's speed.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lab_claims.py --lab 06b --profile cpu --seeds 5

The experiment is the notebook's own code (section 7, ``batch_size_experiment``),
run over the reference solution: ``notebook_namespace`` executes the built
source notebook's given cells, and of its demo cells only those that define
the functions asked for.
"""

from __future__ import annotations

import time

from benchmarks.claims.notebook_cells import notebook_namespace
from benchmarks.lab_claims import Claim


def _speedups(ns: dict, seeds: int) -> list[float]:
    """Staged / fast backward time on a 1024 x 512 batch, once per seed (the notebook's timing cell)."""
    torch, forward = ns["torch"], ns["batchnorm_forward"]
    values = []
    for seed in range(seeds):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(1024, 512, generator=gen)
        _, cache = forward(x, torch.ones(512), torch.zeros(512), torch.zeros(512), torch.ones(512))
        dout = torch.randn(1024, 512, generator=gen)
        staged = ns["time_it"](ns["batchnorm_backward"], dout, cache)
        fast = ns["time_it"](ns["batchnorm_backward_fast"], dout, cache)
        values.append(staged / fast)
    return values


def measure(profile: str, seeds: int) -> list[Claim]:
    ns = notebook_namespace("06b", profile, {"batch_size_experiment", "time_it"})
    settings = {**ns["P"], "seeds": seeds}
    start = time.perf_counter()
    acc = ns["batch_size_experiment"](**settings)
    print(f"(batch-size experiment: {time.perf_counter() - start:.0f} s)")
    bn, ln = "BatchNorm (yours)", "LayerNorm"

    def points(a, b):
        return [100 * (x - y) for x, y in zip(a, b)]

    claims = [
        Claim("at batch size 2, BatchNorm tests below LayerNorm", "acc BN - acc LN at batch 2, points",
              points(acc[bn, 2], acc[ln, 2]), direction=-1),
        Claim("at batch size 4, BatchNorm tests about as well as LayerNorm", "acc BN - acc LN at batch 4, points",
              points(acc[bn, 4], acc[ln, 4]), direction=1, threshold=-2.0),
        Claim("at batch sizes 8 and 32, BatchNorm tests above LayerNorm", "acc BN - acc LN at batch 8, points",
              points(acc[bn, 8], acc[ln, 8])),
        Claim("", "acc BN - acc LN at batch 32, points", points(acc[bn, 32], acc[ln, 32])),
        Claim("BatchNorm degrades from batch 32 to batch 2", "acc BN batch 2 - batch 32, points",
              points(acc[bn, 2], acc[bn, 32]), direction=-1),
        Claim("LayerNorm loses less than 5 points from batch 32 to batch 2", "acc LN batch 2 - batch 32, points",
              points(acc[ln, 2], acc[ln, 32]), direction=1, threshold=-5.0),
        Claim("the closed-form backward is faster than the staged one", "time staged / time fast (1024 x 512)",
              _speedups(ns, seeds), threshold=1.0),
    ]
    for b in settings["batch_sizes"]:
        for name in (bn, ln):
            claims.append(Claim(f"(figure) {name}, batch {b}", "test accuracy, %", [100 * a for a in acc[name, b]],
                                threshold=0.0))
    return claims
