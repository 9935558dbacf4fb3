"""Error rates of the paired comparisons and their gates, by simulation with the library's own functions.

Each regime is a release-candidate comparison at a CLUE task's real size where only some units change
(greedy decoding: most answers are byte-identical). For each simulated pair of runs the comparison is
made by `comparison.paired_difference` (the test and interval the report prints) and judged by a
bare `no regression` gate (`compare_gates.evaluate_compare_gates`, margin 0.02). Printed per regime:

* type I: the share of runs with p < 0.05 when the two models are interchangeable (the changed
  units' differences are symmetric about 0); target <= 0.055;
* false fail: the share of those runs whose `no regression` gate fails; target <= 0.03 (the test's
  own level is 0.025 on the failing side);
* pass / inconclusive: how the gate ends on those runs otherwise;
* coverage: the share of printed 95% intervals that contain the true difference, under no difference
  and under a real drop; target >= 0.94 wherever an interval is printed; and the share of runs that
  print one at all.

Each rate is followed by its Monte Carlo standard error, sqrt(r (1 - r) / runs).

    python bench/bench_coverage.py                 # the table in docs/statistics.md (a few minutes)
    python bench/bench_coverage.py --reps 2000 --only MeDiSumCode   # tighter standard errors, one regime

The single-run intervals (Wilson, cluster bootstrap) are measured by bench/bench_coverage_single.py.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clue_checks.report.compare.gates import evaluate_compare_gates
from clue_checks.report.compare.paired import paired_difference
from clue_checks.report.compare.pairing import resampling_unit
from clue_checks.report.numbers.thresholds import CompareGate


@dataclass(frozen=True)
class Draw:
    new: np.ndarray
    base: np.ndarray
    clusters: list[str | None] | None
    kind: str
    truth: float


# -- the regimes ---------------------------------------------------------------------------------------


def fixed_changes(n: int, k: int, a: float, b: float) -> Callable[[np.random.Generator, bool], Draw]:
    """A continuous score (ROUGE-L, ICD F1 ~ Beta(a, b)) where exactly k of n samples get a new answer:
    equally good under no difference, 20% worse (its score times 0.8) under a drop."""
    def draw(rng: np.random.Generator, drop: bool) -> Draw:
        base = rng.beta(a, b, n)
        new = base.copy()
        changed = rng.choice(n, k, replace=False)
        new[changed] = rng.beta(a, b, k) * (0.8 if drop else 1.0)
        truth = -0.2 * a / (a + b) * k / n if drop else 0.0
        return Draw(new, base, None, "continuous", truth)
    return draw


LH_PATIENTS, LH_QUESTIONS, LH_REPEATS = 20, 20, 5
LH_IDS = [f"longhealth:patient_{p:02d}/q{q:02d}" for p in range(LH_PATIENTS) for q in range(LH_QUESTIONS)
          for _ in range(LH_REPEATS)]


def longhealth(share: float, unit: str, patient_effect: float = 0.0) -> Callable[[np.random.Generator, bool], Draw]:
    """LongHealth task 1: 20 patients x 20 questions x 5 shuffles. Each question has a difficulty (its
    patient's mean plus its own), shared by its five repeats; a share of the questions is re-answered
    (all five repeats, each right with the question's chance: unchanged under no difference, times 0.8
    under a drop, and with `patient_effect` the drop differs by patient: times 0.8 + N(0, effect))."""
    clusters = [resampling_unit(c, unit) for c in LH_IDS]

    def difficulty(rng: np.random.Generator, patients: int) -> np.ndarray:
        centre = rng.beta(3, 2, size=(patients, 1))
        return np.clip(centre + rng.normal(0, 0.25, size=(patients, LH_QUESTIONS)), 0.02, 0.98)

    def factor(rng: np.random.Generator, patients: int) -> np.ndarray:
        return np.clip(0.8 + patient_effect * rng.normal(size=(patients, 1)), 0, 1.2)

    # the true mean change over patients like these, from many simulated patients
    truth_rng = np.random.default_rng(12345)
    u = difficulty(truth_rng, 200_000)
    drop_truth = float(share * np.mean(u * np.minimum(factor(truth_rng, 200_000), 1 / u) - u))

    def draw(rng: np.random.Generator, drop: bool) -> Draw:
        u = difficulty(rng, LH_PATIENTS)
        base = rng.random((LH_PATIENTS, LH_QUESTIONS, LH_REPEATS)) < u[:, :, None]
        changed = rng.random((LH_PATIENTS, LH_QUESTIONS)) < share
        u_new = np.clip(u * factor(rng, LH_PATIENTS), 0, 1) if drop else u
        fresh = rng.random((LH_PATIENTS, LH_QUESTIONS, LH_REPEATS)) < u_new[:, :, None]
        new = np.where(changed[:, :, None], fresh, base)
        return Draw(new.ravel().astype(float), base.ravel().astype(float), clusters, "binary",
                    drop_truth if drop else 0.0)
    return draw


def mednli(discordance: float, drop_by: float) -> Callable[[np.random.Generator, bool], Draw]:
    """MedNLI: 1,419 pairs, the models disagreeing on a share `discordance`; under a drop the new model
    loses `drop_by` (more broke than fixed pairs)."""
    def draw(rng: np.random.Generator, drop: bool) -> Draw:
        d = drop_by if drop else 0.0
        cells = rng.multinomial(1419, [0.7, (discordance - d) / 2, (discordance + d) / 2,
                                       0.3 - discordance])  # both right, fixed, broke, both wrong
        base = np.repeat([1.0, 0.0, 1.0, 0.0], cells)
        new = np.repeat([1.0, 1.0, 0.0, 0.0], cells)
        return Draw(new, base, None, "binary", -d)
    return draw


REGIMES: list[tuple[str, Callable[[np.random.Generator, bool], Draw]]] = [
    ("MeQSum 997, 5 differ", fixed_changes(997, 5, 2, 6)),
    ("MeQSum 997, 20 differ", fixed_changes(997, 20, 2, 6)),
    ("MeDiSumCode 499, 10 differ", fixed_changes(499, 10, 3, 3)),
    ("LongHealth 400 q x 5, 2% re-answered, patient unit", longhealth(0.02, "patient")),
    ("LongHealth 400 q x 5, 15% re-answered, patient unit", longhealth(0.15, "patient")),
    ("LongHealth 400 q x 5, 15% re-answered, question unit", longhealth(0.15, "question")),
    ("LongHealth, patient effect, patient unit", longhealth(0.15, "patient", 0.4)),
    ("LongHealth, patient effect, question unit", longhealth(0.15, "question", 0.4)),
    ("MedNLI 1,419, 2% discordance", mednli(0.02, 0.01)),
    ("MedNLI 1,419, 10% discordance", mednli(0.10, 0.02)),
]

GATE = CompareGate("task", "score", "no regression")


def compare(d: Draw, seed: int):
    unit = "patient" if d.clusters and d.clusters[0].count("/") == 0 else "question"
    return paired_difference(d.new, d.base, d.clusters, kind=d.kind, seed=seed, task="task", metric="score",
                             cluster_unit=unit)


def rate(hits: int, runs: int) -> str:
    if runs == 0:
        return "—"
    r = hits / runs
    return f"{r:.3f} ± {np.sqrt(r * (1 - r) / runs):.3f}"


def run_regime(draw: Callable[[np.random.Generator, bool], Draw], reps: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    rejected = failed = passed = inconclusive = covered0 = printed0 = covered1 = printed1 = 0
    for rep in range(reps):
        d = draw(rng, False)
        c = compare(d, rep)
        (gate,) = evaluate_compare_gates([GATE], {("task", "score"): c})
        rejected += c.p_value < 0.05
        failed += gate.status == "fail"
        passed += gate.status == "pass"
        inconclusive += gate.status == "inconclusive"
        if c.ci_low is not None:
            printed0 += 1
            covered0 += c.ci_low <= 0 <= c.ci_high
        d = draw(rng, True)
        c = compare(d, rep)
        if c.ci_low is not None:
            printed1 += 1
            covered1 += c.ci_low <= d.truth <= c.ci_high
    return [rate(rejected, reps), rate(failed, reps), f"{passed / reps:.2f} / {inconclusive / reps:.2f}",
            rate(covered0, printed0), rate(covered1, printed1), f"{printed0 / reps:.2f} / {printed1 / reps:.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="simulated pairs of runs per regime and truth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="run only the regimes whose name contains this text")
    args = parser.parse_args()
    print(f"| regime ({args.reps} runs each) | type I | no-regression false fail | gate pass / inconclusive "
          "(no difference) | coverage, no difference | coverage, a drop | interval printed (none / drop) | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for number, (name, draw) in enumerate(REGIMES):
        if args.only not in name:
            continue
        start = time.perf_counter()
        cells = run_regime(draw, args.reps, args.seed * 1000 + number)
        print(f"| {name} | " + " | ".join(cells) + f" | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
