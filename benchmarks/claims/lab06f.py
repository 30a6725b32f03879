"""Lab 06f's claims: the three regimes of double descent on MNIST-1D, ridge flattening the peak, L1 against L2.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lab_claims.py --lab 06f --profile cpu --seeds 5

The experiment is the notebook's own code (sections 6 and 7: ``run_seed``, ``summary``,
``tuned_lam_of``, ``compare_penalties``) over the reference solution; each seed is a fresh
MNIST-1D data set with its own feature draws, as in the notebook.
"""

from __future__ import annotations

from benchmarks.claims.notebook_cells import notebook_namespace
from benchmarks.lab_claims import Claim

NAMES = {"make_mnist1d", "make_split", "fit_and_score", "run_seed", "per_seed", "tuned_lam_of", "summary",
         "lasso_ista", "compare_penalties"}


def measure(profile: str, seeds: int) -> list[Claim]:
    ns = notebook_namespace("06f", profile, NAMES)
    ns["torch"].set_num_threads(1)
    results = [ns["run_seed"](seed) for seed in range(seeds)]
    tuned = ns["tuned_lam_of"](results)
    widths, n = ns["widths"], ns["N_TRAIN"]
    at_n = widths.index(n)
    summaries = [ns["summary"](result) for result in results]
    config = ns["CONFIG"]
    penalties = [ns["compare_penalties"](seed, config["l1_alpha"], config["l1_steps"]) for seed in range(seeds)]
    l2, l1 = "L2 (ridge)", "L1 (lasso)"

    def ridge_curve(result):
        return [row["test_error"] for row in result["scores"][tuned]]

    def largest_rise(curve):
        """How far the curve ever climbs above its lowest value at smaller widths (0 for a falling curve)."""
        return max(value - min(curve[:i]) for i, value in enumerate(curve) if i > 0)

    return [
        Claim("min-norm test MSE peaks at P/N >= 0.7", "P at the peak / N",
              [s["peak_width"] / n for s in summaries], +1, 0.7),
        Claim("min-norm test MSE peaks at P/N <= 1.5", "P at the peak / N",
              [s["peak_width"] / n for s in summaries], -1, 1.5),
        Claim("the peak is over 10x the trivial baseline", "peak MSE / baseline MSE",
              [s["peak_error"] / s["baseline"] for s in summaries], +1, 10),
        Claim("largest P (10 N) beats the classical optimum", "MSE(10 N) - min MSE over P < N",
              [s["largest_error"] - s["optimum_error"] for s in summaries], -1, 0),
        Claim("largest P is below half the trivial baseline", "MSE(10 N) / baseline MSE",
              [s["largest_error"] / s["baseline"] for s in summaries], -1, 0.5),
        Claim("largest P is more accurate than the classical optimum", "accuracy(10 N) - accuracy(optimum), points",
              [100 * (s["largest_accuracy"] - s["optimum_accuracy"]) for s in summaries], +1, 0),
        Claim("min-norm interpolates from P = N on", "largest train MSE at P >= N",
              [max(row["train_error"] for row in result["scores"][0.0][at_n:]) for result in results], -1, 1e-3),
        Claim(f"tuned ridge (lam = {tuned:g}) removes the peak", "ridge MSE(N) / min-norm MSE(N)",
              [ridge_curve(r)[at_n] / r["scores"][0.0][at_n]["test_error"] for r in results], -1, 0.1),
        Claim("tuned ridge: no bump at P = N", "ridge MSE(N) - ridge MSE(classical optimum's P)",
              [ridge_curve(r)[at_n] - ridge_curve(r)[widths.index(s["optimum_width"])]
               for r, s in zip(results, summaries)],
              -1, 0),
        Claim("tuned ridge falls with P up to wiggles < 0.003", "largest rise of the ridge curve",
              [largest_rise(ridge_curve(r)) for r in results], -1, 0.003),
        Claim("tuned ridge at 10 N no worse than min-norm", "ridge MSE(10 N) - min-norm MSE(10 N)",
              [ridge_curve(r)[-1] - s["largest_error"] for r, s in zip(results, summaries)], -1, 0.001),
        Claim("L1 at P = N: most weights exactly zero", "share of zero weights (L1)",
              [rows[l1]["zero_fraction"] for rows in penalties], +1, 0.5),
        Claim("L2 at P = N: no weight exactly zero", "share of zero weights (L2)",
              [rows[l2]["zero_fraction"] for rows in penalties], -1, 0.001),
        Claim("L1 removes the peak too", "L1 MSE(N) / min-norm MSE(N)",
              [rows[l1]["test_error"] / rows["min-norm"]["test_error"] for rows in penalties], -1, 0.1),
        Claim("L2 (lam by validation) beats L1 (alpha = 3) at P = N", "MSE(L2) - MSE(L1)",
              [rows[l2]["test_error"] - rows[l1]["test_error"] for rows in penalties], -1, 0),
    ]
