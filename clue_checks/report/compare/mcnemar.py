"""The tests of 0/1 scores on independent pairs: the exact McNemar test and Tango's score interval for the
difference of paired proportions (Tango 1998, Statistics in Medicine 17:891-908).

scipy is imported where it is used, not at import: scipy.stats costs every run ~0.5 s, compared or not.
"""

from __future__ import annotations

import functools
import math

from clue_checks.report.numbers.stats import CONFIDENCE


def mcnemar_p(broke: int, fixed: int) -> float:
    """Exact two-sided McNemar p-value: twice the smaller binomial tail of the discordant pairs at 1/2,
    capped at 1 (statsmodels' ``mcnemar(table, exact=True)``)."""
    from scipy.stats import binom

    return float(min(1.0, 2 * binom.cdf(min(broke, fixed), broke + fixed, 0.5)))


@functools.lru_cache(maxsize=8)
def _two_sided_z(confidence: float) -> float:
    """The normal quantile of a two-sided interval: once per level (power sums ask for thousands of intervals,
    and scipy's `norm.ppf` was most of their time)."""
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - confidence) / 2))


def tango_interval(broke: int, fixed: int, n: int, confidence: float = CONFIDENCE,
                   ends: str = "both") -> tuple[float, float]:
    """Tango's asymptotic score interval for p_new − p_baseline from paired 0/1 outcomes.

    The limits are the differences d at which the score statistic
    (fixed − broke − n d) / sqrt(n (2 q + d (1 − d))) equals ±z, where q is the maximum-likelihood
    chance of a "broke" pair under the difference d.
    """
    if not 0 <= broke + fixed <= n or n <= 0:
        raise ValueError("need 0 <= broke + fixed <= n and n > 0")
    from scipy.optimize import brentq

    z = _two_sided_z(confidence)
    estimate = (fixed - broke) / n

    def score(d: float) -> float:
        if d == estimate:
            return 0.0  # by construction (and 0/0 when there are no discordant pairs)
        a, b, c = 2 * n, -fixed - broke + (2 * n - fixed + broke) * d, -broke * d * (1 - d)
        q = (math.sqrt(max(b * b - 4 * a * c, 0.0)) - b) / (2 * a)
        var = n * (2 * q + d * (1 - d))
        return (fixed - broke - n * d) / math.sqrt(var) if var > 0 else math.copysign(math.inf, fixed - broke - n * d)

    tol = 1e-12
    low = -1.0 if estimate <= -1 + tol else brentq(lambda d: score(d) - z, -1 + tol, estimate, xtol=1e-12)
    if ends == "low":  # the non-inferiority bound alone (power sums call it thousands of times)
        return float(low), math.nan
    high = 1.0 if estimate >= 1 - tol else brentq(lambda d: score(d) + z, estimate, 1 - tol, xtol=1e-12)
    return float(low), float(high)
