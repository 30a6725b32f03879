"""Lab 06d's claims: the notebook's calibration experiment (``calibration_experiment``, the given code of the built
notebook, over the reference's functions), each method against one-hot training, seed by seed.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lab_claims.py --lab 06d --profile cpu --seeds 4
"""

from __future__ import annotations

from benchmarks.lab_claims import Claim

# The direction each effect is stated in, in the notebook's "What to expect" (+1: higher than one-hot).
STATED_ACCURACY = {"label smoothing": -1, "Mixup": -1, "CutMix": -1}
STATED_ECE = {"label smoothing": +1, "Mixup": +1, "CutMix": +1, "one-hot + temperature": -1}


def measure(profile: str, seeds: int) -> list[Claim]:
    from benchmarks.lab06a_profiles import notebook_namespace
    from reglab import config

    ns = notebook_namespace(profile, lab="06d")
    steps = config.load().lab("06d").profiles[profile]["steps"]
    results = ns["calibration_experiment"](ns["CALIBRATION_DATA"], seeds=range(seeds), steps=steps)
    one_hot = results["one-hot"]

    def minus(method, key, scale):
        return [scale * (r[key] - base[key]) for r, base in zip(results[method], one_hot)]

    def side(direction):
        return "above" if direction > 0 else "below"

    claims = []
    for method, direction in STATED_ACCURACY.items():
        claims.append(Claim(f"{method}: test accuracy {side(direction)} one-hot",
                            f"test acc ({method}) - test acc (one-hot), points", minus(method, "accuracy", 100),
                            direction=direction))
    for method, direction in STATED_ECE.items():
        claims.append(Claim(f"{method}: ECE {side(direction)} one-hot",
                            f"ECE ({method}) - ECE (one-hot)", minus(method, "ece", 1), direction=direction))
    claims.append(Claim("one-hot + temperature: ECE below label smoothing",
                        "ECE (one-hot + temperature) - ECE (label smoothing)",
                        [t["ece"] - r["ece"]
                         for r, t in zip(results["label smoothing"], results["one-hot + temperature"])],
                        direction=-1))
    for method, runs in results.items():         # the per-method figures the notebook's table shows
        print(f"  {method}: " + ", ".join(
            f"{key} {sum(r[key] for r in runs) / len(runs):.3f} ({min(r[key] for r in runs):.3f}-"
            f"{max(r[key] for r in runs):.3f})" for key in ("train_accuracy", "accuracy", "ece", "confidence")))
    if results["one-hot + temperature"]:
        print("  temperatures: " + ", ".join(f"{r['temperature']:.2f}" for r in results["one-hot + temperature"]))
    return claims
