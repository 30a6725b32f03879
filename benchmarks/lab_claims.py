"""Measure what a lab's notebook claims, over seeds, and say which claims the figures show.

    .venv/bin/python benchmarks/lab_claims.py --lab 06f --profile cpu --seeds 5

Each lab's experiment lives in ``benchmarks/claims/lab<short>.py`` as
``measure(profile, seeds) -> list[Claim]``: one Claim per sentence of the
notebook's "what to expect", with the effect it states measured once per seed.
A claim is *shown* when its mean effect is more than two standard errors from
zero, in the direction the notebook states; otherwise it is *not resolved*
(and the notebook must say so). The table printed here is what the notebook's
text, its model answers and the instructor page quote.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Claim:
    """One claim: ``effect`` per seed (a difference, or a figure compared with ``threshold``).

    ``direction`` is +1 when the notebook says the effect is positive (above ``threshold``), -1 when
    it says negative (below it)."""

    name: str                     # the claim in words, as the notebook states it
    effect: str                   # what is measured, e.g. "val acc (crop+flip) - val acc (none), points"
    values: list[float] = field(default_factory=list)
    direction: int = 1
    threshold: float = 0.0

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def std(self) -> float:
        n = len(self.values)
        return math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (n - 1)) if n > 1 else float("nan")

    @property
    def stderr(self) -> float:
        return self.std / math.sqrt(len(self.values))

    @property
    def verdict(self) -> str:
        if len(self.values) < 2 or not math.isfinite(self.stderr):
            return "not resolved (one seed)"
        margin = self.direction * (self.mean - self.threshold)
        if margin > 2 * self.stderr:
            return "shown"
        if margin < -2 * self.stderr:
            return "CONTRADICTED"
        return "not resolved"


def table(lab: str, profile: str, claims: list[Claim], seconds: float) -> str:
    rows = [(c.name, c.effect, f"{c.mean:+.4g}", f"{c.std:.3g}", f"{c.stderr:.3g}", str(len(c.values)),
             ("> " if c.direction > 0 else "< ") + f"{c.threshold:g}", c.verdict) for c in claims]
    head = ("claim", "effect", "mean", "std", "stderr", "seeds", "stated", "verdict")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [f"lab {lab}, profile {profile}, {seconds:.0f} s", "  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", required=True, help="short lab id: 06a, 06b, ... (benchmarks/claims/lab06a.py)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the claims, with every seed's value, here")
    args = parser.parse_args(argv)
    try:
        module = importlib.import_module(f"benchmarks.claims.lab{args.lab}")
    except ModuleNotFoundError:
        parser.error(f"no claims for lab {args.lab!r}: benchmarks/claims/lab{args.lab}.py does not exist")
    start = time.perf_counter()
    claims = module.measure(args.profile, args.seeds)
    seconds = time.perf_counter() - start
    print(table(args.lab, args.profile, claims, seconds))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(c), "mean": c.mean, "std": c.std, "verdict": c.verdict}
                                         for c in claims], indent=2) + "\n")
    return 1 if any(c.verdict == "CONTRADICTED" for c in claims) else 0


if __name__ == "__main__":
    sys.exit(main())
