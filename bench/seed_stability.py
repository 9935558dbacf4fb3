"""How often a printed p or interval end changes with the seed: 30 simulated MeQSum comparisons with 30 to
997 differing samples (a drawn p), each made with 5 seeds.

    python bench/seed_stability.py      # the numbers in docs/statistics.md ("Printing")
"""
import numpy as np
from clue_checks.report.compare.paired import paired_difference
rng = np.random.default_rng(3)
moved_p = moved_ci = 0
cases = 30
for case in range(cases):
    base = rng.beta(2, 6, 997)
    k = int(rng.integers(30, 998))
    new = base.copy()
    new[:k] = rng.beta(2, 6, k) * rng.uniform(0.9, 1.0)
    shown = [paired_difference(new, base, seed=s) for s in range(5)]
    moved_p += len({c.p_text for c in shown}) > 1
    moved_ci += len({(f"{c.ci_low:.3f}", f"{c.ci_high:.3f}") for c in shown}) > 1
print(f"{cases} comparisons x 5 seeds: printed p moved in {moved_p}, printed interval in {moved_ci}")
