"""Lab 06e's claims: warmup by depth, RMSNorm's cost against LayerNorm's, BatchNorm or GroupNorm at small batches.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lab_claims.py --lab 06e --profile cpu --seeds 5

Each experiment is the notebook's own code (sections 8 to 10), run over the
reference solution in the built source notebook (see notebook_cells.notebook_namespace).
"""

from __future__ import annotations

from benchmarks.claims.notebook_cells import notebook_namespace
from benchmarks.lab_claims import Claim


def measure(profile: str, seeds: int) -> list[Claim]:
    ns = notebook_namespace("06e", profile, {"transformer_init", "warmup_experiment", "norm_timings", "cnn_experiment"})
    settings = {**ns["P"], "seeds": seeds}
    final, stalled = ns["final_loss"], ns["STALLED"]
    runs = ns["warmup_experiment"](**settings)
    post, warm, pre = "post-norm, no warmup", "post-norm, warmup", "pre-norm, no warmup"
    claims = []
    for depth in settings["depths"]:
        no_warmup, with_warmup = [final(c) for c in runs[post, depth]], [final(c) for c in runs[warm, depth]]
        deep = depth >= 6
        claims.append(Claim(f"depth {depth}: warmup {'lowers' if deep else 'hardly changes'} post-norm's final loss",
                            f"final loss post no warmup - post warmup, depth {depth}",
                            [a - b for a, b in zip(no_warmup, with_warmup)],
                            direction=1 if deep else -1, threshold=0.0 if deep else 0.2))
        claims.append(Claim(f"(figure) depth {depth}: post-norm without warmup stalls",
                            f"stalled (final loss > {stalled})",
                            [float(v > stalled) for v in no_warmup], direction=1 if deep else -1,
                            threshold=0.5))
        claims.append(Claim(f"depth {depth}: pre-norm without warmup does not stall", "final loss, pre-norm no warmup",
                            [final(c) for c in runs[pre, depth]], direction=-1, threshold=stalled))
    ratios = [ns["norm_timings"](settings["timing_repeats"]) for _ in range(seeds)]
    claims.append(Claim("from scratch, RMSNorm is faster than LayerNorm", "time rms_norm / time layer_norm (yours)",
                        [t["rms_norm (yours)"] / t["layer_norm (yours)"] for t in ratios], direction=-1, threshold=1.0))
    claims.append(Claim("on this CPU, F.rms_norm is slower than the fused F.layer_norm",
                        "time F.rms_norm / F.layer_norm",
                        [t["F.rms_norm"] / t["F.layer_norm"] for t in ratios], direction=1, threshold=1.0))
    for name in ("layer_norm (yours)", "rms_norm (yours)", "F.layer_norm", "F.rms_norm"):
        claims.append(Claim(f"(figure) {name}", "forward ms, (64, 128, 512)", [t[name] for t in ratios]))
    acc = ns["cnn_experiment"](**settings)
    bn, gn = "BatchNorm", "GroupNorm (yours)"
    small, large = min(settings["cnn_batch_sizes"]), max(settings["cnn_batch_sizes"])
    claims.append(Claim(f"CNN at batch {small}: GroupNorm tests above BatchNorm",
                        f"acc GN - acc BN at batch {small}, points",
                        [100 * (g - b) for g, b in zip(acc[gn, small], acc[bn, small])]))
    claims.append(Claim(f"CNN at batch {large}: BatchNorm tests above GroupNorm (the notebook: not resolved here)",
                        f"acc BN - acc GN at batch {large}, points",
                        [100 * (b - g) for g, b in zip(acc[gn, large], acc[bn, large])]))
    for b in settings["cnn_batch_sizes"]:
        for name in (bn, gn):
            claims.append(Claim(f"(figure) CNN {name}, batch {b}", "test accuracy, %", [100 * a for a in acc[name, b]]))
    return claims
