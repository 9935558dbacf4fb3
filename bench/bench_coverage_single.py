"""Coverage of a single run's intervals at the real size of each CLUE task, by simulation.

For each interval the report prints, simulate many data sets with a known true value at the task's
real size (MedNLI 1,419 pairs, MeQSum 997, Problem Summary 234, LongHealth 400 questions x 5 repeats,
MeDiSumQA 415 questions on notes of 1-4 questions, MeDiSumCode 499), build the interval with the
library's own functions and count how often it contains the truth. A 95% interval should cover
about 95% (Monte Carlo standard error: sqrt(0.95 * 0.05 / sims), 0.7 points at 1,000 simulations).

    python bench/bench_coverage_single.py --sims 1000 --resamples 2000

Not a test: these are the numbers written in docs/statistics.md. The paired comparisons are measured by
bench/bench_coverage.py.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from clue_checks.report.numbers.levels import level_scores
from clue_checks.report.numbers.stats import interval

LH_CLUSTERS = [f"longhealth:q{i // 5}" for i in range(2000)]


def note_clusters(n: int, rng: np.random.Generator) -> list[str]:
    """MeDiSumQA-like: 1-4 questions per discharge note."""
    out: list[str] = []
    note = 0
    while len(out) < n:
        out += [f"note{note}"] * int(rng.integers(1, 5))
        note += 1
    return out[:n]


def longhealth(rng: np.random.Generator, mean: float = 0.6, concentration: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per-question difficulty u (repeats share it: intra-class correlation 1/(1+concentration))."""
    u = rng.beta(mean * concentration, (1 - mean) * concentration, size=400)
    return u, (rng.random((400, 5)) < u[:, None]).astype(float)


# -- the cases: each returns (interval low, interval high, truth) for one simulated data set --------


def single_mednli_wilson(rng, args):
    x = (rng.random(1419) < 0.72).astype(float)
    got = interval(x, binary=True)
    return got.low, got.high, 0.72


def single_longhealth_clustered(rng, args):
    _, x = longhealth(rng)
    got = interval(x.ravel(), clusters=LH_CLUSTERS, binary=True, resamples=args.resamples, seed=int(rng.integers(1 << 30)))
    return got.low, got.high, 0.6


def single_longhealth_naive(rng, args):
    _, x = longhealth(rng)
    got = interval(x.ravel(), binary=True)
    return got.low, got.high, 0.6


def single_meqsum_bootstrap(rng, args):
    x = rng.beta(2, 6, 997)
    got = interval(x, resamples=args.resamples, seed=int(rng.integers(1 << 30)))
    return got.low, got.high, 0.25


def single_level2_joint(rng, args):
    """Level 2 with LongHealth tasks 1-3 answering the same questions alike (truth: 0.6 for LH)."""
    u = rng.beta(0.3, 0.2, size=400)
    values, clusters = {}, {}
    for t in ("longhealth-t1", "longhealth-t2", "longhealth-t3"):
        # each task answers each question with its own noise around the shared difficulty
        values[(t, "accuracy")] = list((rng.random((400, 5)) < u[:, None]).astype(float).ravel())
        clusters[(t, "accuracy")] = LH_CLUSTERS
    qa_clusters = note_clusters(415, rng)
    values[("medisumqa", "rougeL")] = list(rng.beta(2, 6, 415))
    clusters[("medisumqa", "rougeL")] = qa_clusters
    values[("medisumcode", "icd_ap_f1")] = list(rng.beta(3, 3, 499))
    clusters[("medisumcode", "icd_ap_f1")] = [None] * 499
    (_, lv2) = level_scores(values, clusters=clusters, resamples=args.resamples, seed=int(rng.integers(1 << 30)))
    return lv2.ci_low, lv2.ci_high, (0.6 + 0.25 + 0.5) / 3


CASES: list[tuple[str, Callable]] = [
    ("single run: MedNLI accuracy, Wilson (n 1,419)", single_mednli_wilson),
    ("single run: LongHealth accuracy, cluster bootstrap (400 x 5)", single_longhealth_clustered),
    ("single run: LongHealth accuracy as if independent (before)", single_longhealth_naive),
    ("single run: MeQSum ROUGE-L, bootstrap (n 997)", single_meqsum_bootstrap),
    ("single run: Level 2, joint stratified cluster bootstrap", single_level2_joint),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"| interval | coverage of the truth ({args.sims} simulations) | mean width | seconds |")
    print("|---|---:|---:|---:|")
    for number, (name, case) in enumerate(CASES):
        rng = np.random.default_rng([args.seed, number])
        start = time.perf_counter()
        hits, widths = 0, []
        for _ in range(args.sims):
            low, high, truth = case(rng, args)
            hits += low <= truth <= high
            widths.append(high - low)
        print(f"| {name} | {hits / args.sims:.1%} | {np.mean(widths):.4f} | {time.perf_counter() - start:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
