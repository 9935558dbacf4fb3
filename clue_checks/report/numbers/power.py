"""How small a drop a paired comparison can see: power and sample size of each gate's own test.

Two models answer the same n items; they disagree on a share `discordance` of them (the discordant
pairs) and the new model is worse by `drop` (its accuracy minus the baseline's is −drop). Given the
number of discordant pairs d, the "broke" pairs are binomial with chance (discordance + drop) / (2
discordance); the exact McNemar test rejects when that count reaches its binomial critical value at
1/2. The power sums that over d ~ Binomial(n, discordance) exactly, with no normal approximation.

* "no regression" gates use the two-sided test at alpha 0.05 (they are also Holm-corrected across
  gates, which this does not include: with k gates the first is tested at 0.05 / k);
* "noninferior" gates (and the pass side of "no regression") read the lower end of Tango's 90% score
  interval: :func:`tango_power` is the exact chance, summed over every (discordant, broke) count,
  that a model truly equal to the baseline passes a margin m; at 80% it is also the smallest
  margin such a model passes with that probability.

Scores that are not 0/1, and clustered samples, are tested by the sign-flip test; its power is taken
from the normal approximation of the sign-flip sum, whose standard deviation under no difference is
sqrt(Σ a_u²) over the unit contributions: drop = (z_alpha + z_power) * sd.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from clue_checks.report.compare.mcnemar import tango_interval
from clue_checks.report.compare.paired import PairedComparison

POWER = 0.80
ALPHA = 0.05


@dataclass(frozen=True)
class TaskSize:
    n: int  # samples CLUE scores
    independent: int  # independent units: questions for LongHealth (its repeats are correlated)
    note: str


# Samples per task in CLUE's own scoring (shots drawn from the test file are not scored).
TASK_SIZES: Mapping[str, TaskSize] = {
    "mednli": TaskSize(1419, 1419, "1,422 test pairs minus 3 shots"),
    "meqsum": TaskSize(997, 997, "1,000 questions minus 3 shots"),
    "problemsummary": TaskSize(234, 234, "237 test notes minus 3 shots"),
    "longhealth-t1": TaskSize(2000, 400, "20 patients x 20 questions x 5 shuffles; the power uses the 400 "
                                         "questions, an upper bound: comparisons resample the 20 patients"),
    "longhealth-t2": TaskSize(2000, 400, "20 patients x 20 questions x 5 shuffles; the power uses the 400 "
                                         "questions, an upper bound: comparisons resample the 20 patients"),
    "longhealth-t3": TaskSize(2000, 400, "20 patients x 20 questions x 5 shuffles; the power uses the 400 "
                                         "questions, an upper bound: comparisons resample the 20 patients"),
    "medisumqa": TaskSize(415, 415, "416 question-answer pairs minus 1 shot; questions on one note are "
                                    "clustered, so the real power is lower"),
    "medisumcode": TaskSize(499, 499, "500 discharge notes minus 1 shot"),
}


def _check(drop: float, discordance: float, sided: int) -> None:
    if sided not in (1, 2):
        raise ValueError("sided must be 1 or 2")
    if not 0 < discordance <= 1:
        raise ValueError(f"discordance {discordance} must be in (0, 1]: the share of items the models disagree on")
    if not 0 <= drop <= discordance:
        raise ValueError(f"drop {drop} must be between 0 and the discordance {discordance}: a model can only lose "
                         "points on items where the two disagree")


def critical_broke(d: np.ndarray, alpha: float = ALPHA, sided: int = 2) -> np.ndarray:
    """Per number of discordant pairs d: the fewest "broke" pairs at which the exact McNemar test
    declares a drop (binomial tail at 1/2 at most alpha / sided); d + 1 where it never can."""
    from scipy.stats import binom  # imported where used: scipy.stats costs every run ~0.5 s, compared or not

    d = np.asarray(d, dtype=np.int64)
    level = alpha / sided
    k = np.asarray(binom.isf(level, d, 0.5), dtype=np.int64)  # a first guess, then made exact
    k = np.clip(k - 1, 0, None)
    for _ in range(4):  # walk to the smallest k with P(X >= k) <= level
        k = np.where(binom.sf(k - 1, d, 0.5) > level, k + 1, k)
    k = np.where((k > 0) & (binom.sf(k - 2, d, 0.5) <= level), k - 1, k)
    return np.minimum(k, d + 1)


def mcnemar_power(n: int, drop: float, discordance: float, *, alpha: float = ALPHA, sided: int = 2) -> float:
    """The chance that the exact McNemar test on n pairs declares a drop, when there is one of `drop`."""
    _check(drop, discordance, sided)
    # the discordant count d only matters within ~12 standard deviations of its mean (the rest weighs < 1e-30)
    spread = 12 * math.sqrt(n * discordance * (1 - discordance)) + 12
    d = np.arange(max(0, int(n * discordance - spread)), min(n, int(n * discordance + spread)) + 1)
    chance_broke = (discordance + drop) / (2 * discordance)
    k = critical_broke(d, alpha, sided)
    from scipy.stats import binom

    return float(np.sum(binom.pmf(d, n, discordance) * binom.sf(k - 1, d, chance_broke)))


def mcnemar_sample_size(drop: float, discordance: float, *, power: float = POWER, alpha: float = ALPHA,
                        sided: int = 2, max_n: int = 10_000_000) -> int | None:
    """The smallest n (found by bisection on the exact power) at which the test has `power`; None when
    even max_n is not enough (e.g. drop 0). The exact power of a discrete test is saw-toothed: an n
    a little above the answer can fall short of it by a fraction of a point."""
    _check(drop, discordance, sided)
    if drop == 0:
        return None
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / sided) * math.sqrt(discordance) + norm.ppf(power) * math.sqrt(discordance - drop ** 2)
    guess = max(1, int((z / drop) ** 2))  # Connor's normal approximation
    low, high = max(1, guess // 2), min(max_n, guess * 2)
    while mcnemar_power(high, drop, discordance, alpha=alpha, sided=sided) < power:
        if high >= max_n:
            return None
        low, high = high, min(max_n, high * 2)
    while mcnemar_power(low, drop, discordance, alpha=alpha, sided=sided) >= power and low > 1:
        high, low = low, max(1, low // 2)
    while high - low > 1:
        mid = (low + high) // 2
        if mcnemar_power(mid, drop, discordance, alpha=alpha, sided=sided) >= power:
            high = mid
        else:
            low = mid
    return high


def mcnemar_detectable_drop(n: int, discordance: float, *, power: float = POWER, alpha: float = ALPHA,
                            sided: int = 2) -> float | None:
    """The smallest drop the exact McNemar test on n pairs sees with `power`; None when no drop within
    the discordance can be (too few pairs)."""
    _check(0.0, discordance, sided)
    if mcnemar_power(n, discordance, discordance, alpha=alpha, sided=sided) < power:
        return None
    low, high = 0.0, discordance
    for _ in range(40):
        mid = (low + high) / 2
        if mcnemar_power(n, mid, discordance, alpha=alpha, sided=sided) >= power:
            high = mid
        else:
            low = mid
    return high


def normal_detectable_drop(se: float, *, power: float = POWER, alpha: float = ALPHA, sided: int = 2) -> float:
    """(z_alpha + z_power) standard errors: the smallest drop a normal test on the difference sees."""
    from scipy.stats import norm

    return float((norm.ppf(1 - alpha / sided) + norm.ppf(power)) * se)


def tango_power(n: int, margin: float, discordance: float, *, drop: float = 0.0,
                confidence: float = 0.90) -> float:
    """The chance that the lower end of Tango's `confidence` interval lies above −margin (a noninferior
    gate passes) when the new model is truly worse by `drop` and the models disagree on a share
    `discordance`: exact over d ~ Binomial(n, discordance), broke ~ Binomial(d, (discordance + drop) /
    (2 discordance))."""
    from scipy.stats import binom

    _check(drop, discordance, 1)
    spread = 7 * math.sqrt(n * discordance * (1 - discordance)) + 7  # the rest weighs < 1e-11
    total = 0.0
    most = 0  # the most broke pairs that still pass; grows with d, so each search starts from the last
    for d in range(max(0, int(n * discordance - spread)), min(n, int(n * discordance + spread)) + 1):
        passes = lambda b: tango_interval(b, d - b, n, confidence, ends="low")[0] > -margin  # noqa: E731
        if not passes(0):
            continue
        low, high = min(most, d), d + 1  # passes(low) holds unless d shrank below it: then search from 0
        if not passes(low):
            low = 0
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if passes(mid) else (low, mid)
        most = low
        total += float(binom.pmf(d, n, discordance) * binom.cdf(low, d, (discordance + drop) / (2 * discordance)))
    return total


def tango_sample_size(margin: float, discordance: float, *, power: float = POWER, max_n: int = 1_000_000) -> int | None:
    """The smallest n (bisection on :func:`tango_power`, which is saw-toothed like any exact power) at which
    a model equal to the baseline passes `noninferior margin` with `power`; None beyond max_n."""
    guess = mcnemar_sample_size(min(margin, discordance), discordance, power=power, sided=1) or max_n
    low, high = max(1, guess // 2), min(max_n, guess * 2)
    while tango_power(high, margin, discordance) < power:
        if high >= max_n:
            return None
        low, high = high, min(max_n, high * 2)
    while high - low > max(1, high // 500):  # to 0.2%: the saw-tooth is wider than that
        mid = (low + high) // 2
        low, high = (low, mid) if tango_power(mid, margin, discordance) >= power else (mid, high)
    return high


def tango_detectable_margin(n: int, discordance: float, *, power: float = POWER) -> float | None:
    """The smallest margin a model equal to its baseline passes `noninferior` with `power` at n (to 1e-4)."""
    if tango_power(n, discordance, discordance) < power:
        return None
    low, high = 0.0, discordance
    while high - low > 5e-5:
        mid = (low + high) / 2
        low, high = (low, mid) if tango_power(n, mid, discordance) >= power else (mid, high)
    return high


@dataclass(frozen=True)
class Detectable:
    drop: float | None
    how: str  # the method, or why there is no number


def detectable_drop(c: PairedComparison, *, sided: int, power: float = POWER, alpha: float = ALPHA) -> Detectable:
    """The smallest drop a comparison gate could see at 80% power at the run's n and observed discordance."""
    test = f"{'one' if sided == 1 else 'two'}-sided alpha {alpha:g}, {power:.0%} power"
    if c.n == 0:
        return Detectable(None, "no paired samples")
    if c.kind == "binary" and not c.clustered and c.broke is not None and c.fixed is not None:
        if c.broke + c.fixed == 0:
            return Detectable(None, "no discordant pairs in this run, so the discordance the power needs is unknown")
        share = (c.broke + c.fixed) / c.n
        drop = mcnemar_detectable_drop(c.n, share, power=power, alpha=alpha, sided=sided)
        how = f"exact McNemar at n = {c.n}, discordance {share:.1%}, {test}"
        return Detectable(drop, how if drop is not None else f"none within the discordance ({how})")
    if not c.se:
        return Detectable(None, "no unit differs, so the spread the power needs is unknown")
    return Detectable(normal_detectable_drop(c.se, power=power, alpha=alpha, sided=sided),
                      f"normal approximation of the sign-flip test, sd {c.se:.4f} over {c.n_clusters} units, {test}")


def units_needed(c: PairedComparison, margin: float, *, power: float = POWER, alpha: float = ALPHA) -> int | None:
    """About how many units a comparison like `c` needs for a model equal to its baseline to show that it
    lost less than `margin` (the one-sided 95% bound above −margin) with `power`; None when unknown."""
    if c.n == 0 or c.differing in (None, 0):
        return None
    if c.kind == "binary" and not c.clustered and c.broke is not None and c.fixed is not None:
        share = (c.broke + c.fixed) / c.n
        return mcnemar_sample_size(min(margin, share), share, power=power, alpha=alpha, sided=1)
    if not c.se:
        return None
    # the sd of the test's sum shrinks as 1/sqrt(units)
    z = normal_detectable_drop(1.0, power=power, alpha=alpha, sided=1)
    return math.ceil(c.n_clusters * (z * c.se / margin) ** 2)
