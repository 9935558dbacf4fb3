"""The paired sign-flip randomisation test and the interval that inverts it.

A comparison of two models on the same samples is a list of per-unit contributions a_u (a unit is a
sample, or a cluster of samples drawn together): a_u = (the unit's summed new − baseline differences)
× its share of the average, so the mean difference is Σ a_u. Each unit also has a weight c_u (its share
of the samples, Σ c_u = 1).

* **The test.** If the two models are interchangeable, each unit's difference is as likely to have the
  opposite sign. The two-sided p-value is the share of the 2^k sign patterns of the k units that differ
  (a_u ≠ 0) whose sum is at least as far from 0 as the observed one: enumerated exactly while k ≤ 20
  (2^20 patterns), estimated from seeded random patterns beyond (then p is never below
  1/(draws + 1), and a p at that floor is printed as a bound). Units that do not differ cannot change
  the sum, so a run where only a handful of samples changed is tested on that handful, exactly.
* **Too few units differ.** With k ≤ 5 no pattern can reach p < 0.05 (the smallest attainable p is
  2/2^k ≥ 0.0625): there is no interval, only the exact p (1 when one unit differs) and the reason.
* **The interval** is the set of shifts δ the same test does not reject when every unit's
  contribution is moved by δ c_u (the shift model), found by bisection. The search is anchored on the
  test at 0 itself, so a 95% interval excludes 0 exactly when p < 0.05. Units that do not differ
  enter a shifted test as δ c_u each; their sign-flipped sum is normal to within a hair (hundreds of
  equal terms) and is convolved in exactly; the units that differ are enumerated (k ≤ 15) or drawn
  (one fixed stream of patterns, the same for every δ and every run, so the search sees one smooth
  function and an end depends on the data alone).

Usage::

    a, c = unit_contributions(new - base, clusters)
    result = signflip(a, c, seed=20240411)
    result.p_value, result.low, result.high, result.differing
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EXACT_UP_TO = 20  # differing units enumerated exactly for the p-value (2^20 sign patterns)
INTERVAL_EXACT_UP_TO = 15  # ... and for the interval's search (2^15 patterns per step)
P_DRAWS = 100_000  # random sign patterns for a p-value beyond EXACT_UP_TO
INTERVAL_DRAWS = 20_000  # random sign patterns for the interval beyond INTERVAL_EXACT_UP_TO
# The interval's patterns come from one fixed stream, whatever the run's seed: an end then depends on the
# data alone (its Monte Carlo error, about 3e-5 on a mean difference, is far below the printed 0.001), so
# no printed digit of an interval moves with the seed. The p-value's draws follow the run's seed.
INTERVAL_STREAM = (20240411, 2)
CONFIDENCE = 0.95
ONE_SIDED = 0.95  # the non-inferiority bound: the lower end of the two-sided 90% interval


def min_differing(alpha: float = 1 - CONFIDENCE) -> int:
    """The fewest differing units at which a two-sided test at `alpha` can reject at all (6 at 0.05)."""
    k = 1
    while 2 / 2 ** k >= alpha:
        k += 1
    return k


@dataclass(frozen=True)
class SignFlip:
    """One sign-flip test of "no difference" and its inverted interval."""

    estimate: float  # Σ a_u: the mean difference
    p_value: float  # two-sided
    exact: bool  # p enumerated over every sign pattern (else drawn, see `draws`)
    p_floor: float | None  # drawn: the smallest p the draws can give (a p there is a bound: p ≤ floor)
    differing: int  # units with a non-zero difference
    units: int
    low: float | None  # two-sided `confidence` interval; None: see `no_interval`
    high: float | None
    one_sided_low: float | None  # one-sided 95% lower bound (None with no interval)
    draws: int | None  # random sign patterns behind p (None: exact)
    seed: int
    no_interval: str | None = None

    @property
    def p_is_bound(self) -> bool:
        return self.p_floor is not None and self.p_value <= self.p_floor


def unit_contributions(diff: Sequence[float], clusters: Sequence[object] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per unit (a cluster, or a sample with a None id): its summed differences / n and its size / n."""
    d = np.asarray(diff, dtype=float)
    ids = clusters if clusters is not None else [None] * len(d)
    order: dict[object, int] = {}
    unit = [order.setdefault(c if c is not None else ("__own__", i), len(order)) for i, c in enumerate(ids)]
    sums = np.bincount(unit, weights=d, minlength=len(order))
    sizes = np.bincount(unit, minlength=len(order)).astype(float)
    return sums / len(d), sizes / len(d)


def signflip(contributions: Sequence[float], weights: Sequence[float], *, seed: int | Sequence[int] = 0,
             confidence: float = CONFIDENCE, p_draws: int = P_DRAWS,
             interval_draws: int = INTERVAL_DRAWS) -> SignFlip:
    """The test, its p-value and (with enough differing units) the interval of Σ contributions.

    `contributions` a_u and `weights` c_u per unit (see :func:`unit_contributions`); `seed` seeds the
    random sign patterns used when too many units differ to enumerate them.
    """
    a = np.asarray(contributions, dtype=float)
    c = np.asarray(weights, dtype=float)
    if a.shape != c.shape or a.ndim != 1 or not len(a):
        raise ValueError("one weight per contribution, at least one unit")
    seed_key = [seed] if isinstance(seed, int) else list(seed)
    scale = float(np.max(np.abs(a))) if len(a) else 0.0
    tol = 1e-9 * max(scale, 1e-300)
    changed = np.abs(a) > tol
    k = int(changed.sum())
    estimate = float(a.sum())
    common = dict(estimate=estimate, differing=k, units=len(a), seed=seed_key[0])
    if k == 0:
        return SignFlip(p_value=1.0, exact=True, p_floor=None, low=None, high=None, one_sided_low=None, draws=None,
                        no_interval=f"no unit differs: 0 of {len(a)}", **common)
    p, exact, floor = _p_value(a[changed], seed_key, p_draws)
    alpha = 1 - confidence
    need = min_differing(alpha)
    if k < need:
        why = (f"only {k} of {len(a)} units differ: no sign pattern of {k} can reach p < {alpha:g} "
               f"(the smallest attainable p is {2 / 2 ** k:g}), so no interval; p is exact")
        return SignFlip(p_value=p, exact=exact, p_floor=floor, low=None, high=None, one_sided_low=None,
                        draws=None if exact else p_draws, no_interval=why, **common)
    null = _NullSums(a[changed], c[changed], float(np.sum(c[~changed] ** 2)), list(INTERVAL_STREAM), interval_draws)
    low, high = (_endpoint(null, estimate, p, alpha, side) for side in (-1, 1))
    one_low = _endpoint(null, estimate, p, 2 * (1 - ONE_SIDED), -1)
    return SignFlip(p_value=p, exact=exact, p_floor=floor, low=low, high=high, one_sided_low=one_low,
                    draws=None if exact else p_draws, **common)


# -- the p-value at 0 -------------------------------------------------------------------------------


def _p_value(a: np.ndarray, seed: list[int], draws: int) -> tuple[float, bool, float | None]:
    """(p, exact, floor): the two-sided sign-flip p-value of the units that differ."""
    observed = abs(float(a.sum()))
    slack = 1e-9 * float(np.abs(a).sum())  # equal sums must count as "as extreme" despite rounding
    if len(a) <= EXACT_UP_TO:
        half = len(a) // 2
        left, right = _all_sums(a[:half]), _all_sums(a[half:])
        right.sort()
        # count pairs with |l + r| >= observed: r >= observed - l, or r <= -observed - l
        hi = len(right) - np.searchsorted(right, observed - left - slack, side="left")
        lo = np.searchsorted(right, -observed - left + slack, side="right")
        extreme = int(np.sum(hi + lo)) if observed > slack else len(left) * len(right)
        return min(1.0, extreme / (len(left) * len(right))), True, None
    rng = np.random.default_rng([*seed, 1])
    extreme = 0
    for start in range(0, draws, 5000):
        sums = _signed_sums(rng, min(5000, draws - start), a)
        # float32 sums: a tie is "as extreme" within 1e-6 of the total (distinct sums of whole-sample
        # differences lie further apart than that)
        extreme += int(np.count_nonzero(np.abs(sums) >= observed - 1e-6 * float(np.abs(a).sum())))
    return (extreme + 1) / (draws + 1), False, 1 / (draws + 1)


def _all_sums(a: np.ndarray) -> np.ndarray:
    """The sums of every sign pattern of a (2^len values)."""
    sums = np.zeros(1)
    for value in a:
        sums = np.concatenate([sums + value, sums - value])
    return sums


def _signed_sums(rng: np.random.Generator, rows: int, *columns: np.ndarray) -> list[np.ndarray] | np.ndarray:
    """Σ ε_u x_u for `rows` random sign patterns ε, per column x (computed in float32 on 0/1 draws: the
    sum is 2 Σ b x − Σ x, five times faster than float64 signs)."""
    bits = rng.integers(0, 2, size=(rows, len(columns[0])), dtype=np.int8).astype(np.float32)
    out = [2 * (bits @ x.astype(np.float32)).astype(float) - float(x.sum()) for x in columns]
    return out[0] if len(out) == 1 else out


# -- the interval ---------------------------------------------------------------------------------------


class _NullSums:
    """The sign-flip distribution of the shifted sum Σ ε_u (a_u − δ c_u), for any δ.

    The differing units' patterns are enumerated or drawn once: each gives S = Σ ε a and U = Σ ε c, so a
    shifted sum is S − δ U. The units that do not differ add δ Z with Z ~ N(0, Σ c²) (their signed sum).
    """

    def __init__(self, a: np.ndarray, c: np.ndarray, zero_var: float, seed: list[int], draws: int) -> None:
        if len(a) <= INTERVAL_EXACT_UP_TO:
            signs = ((np.arange(2 ** len(a))[:, None] >> np.arange(len(a))) & 1).astype(float) * 2 - 1
            self.s, self.u = signs @ a, signs @ c
        else:
            rng = np.random.default_rng(seed)
            parts = [_signed_sums(rng, min(5000, draws - start), a, c) for start in range(0, draws, 5000)]
            self.s = np.concatenate([s for s, _ in parts])
            self.u = np.concatenate([u for _, u in parts])
        self.spread = float(np.sqrt(np.sum(a ** 2)))  # the scale of the test's sum: the first search step
        self.zero_sd = math.sqrt(zero_var)

    def p(self, estimate: float, delta: float) -> float:
        """Two-sided p of "the mean difference is delta"."""
        t = abs(estimate - delta)
        centre = self.s - delta * self.u
        sd = abs(delta) * self.zero_sd
        if sd == 0:
            return float(np.mean(np.abs(centre) >= t * (1 - 1e-12)))
        from scipy.special import ndtr

        return float(np.mean(ndtr((-t - centre) / sd) + ndtr((centre - t) / sd)))


def _endpoint(null: _NullSums, estimate: float, p_at_0: float, alpha: float, side: int) -> float:
    """The end of {δ : p(δ) ≥ alpha} on `side` (−1 low, +1 high) of the estimate.

    Anchored on the test at 0: when p(0) < alpha and 0 lies on this side, the end lies strictly between
    0 and the estimate; otherwise at or beyond 0. So the interval excludes 0 exactly when p < alpha.
    """
    zero_on_side = (0 - estimate) * side > 0 or (estimate == 0)
    if zero_on_side and p_at_0 < alpha:
        inside, outside = estimate, 0.0  # accepted at the estimate (p = 1), rejected at 0
    else:
        inside = 0.0 if zero_on_side else estimate
        step = max(abs(estimate), null.spread, 1e-12)
        outside = inside + side * step
        for _ in range(60):  # widen until rejected
            if null.p(estimate, outside) < alpha:
                break
            inside, outside = outside, outside + side * step
            step *= 2
    from scipy.optimize import brentq

    excess = lambda delta: null.p(estimate, delta) - alpha + 1e-12  # noqa: E731  (>= 0: not rejected)
    if inside == outside or excess(inside) <= 0:
        return float(inside)  # the anchor holds the end (the drawn null may disagree with the exact p there)
    if excess(outside) >= 0:
        return float(outside)  # never rejected within the search: the widest end searched
    # p is smooth in δ wherever units that do not differ blur it: brentq needs far fewer steps than halving
    end = brentq(excess, inside, outside, xtol=1e-6)
    # keep the end on the accepted side: towards `inside` by the tolerance
    inside = end - side * 1e-6 if (end - inside) * side > 1e-6 else inside
    return float(inside)


def normal_sd(contributions: Sequence[float]) -> float:
    """The standard deviation of the sign-flip sum: sqrt(Σ a_u²) (for the smallest detectable drop)."""
    return float(np.sqrt(np.sum(np.asarray(contributions, dtype=float) ** 2)))


def clopper_pearson_upper(events: int, n: int, confidence: float = ONE_SIDED) -> float:
    """One-sided upper confidence bound of a proportion events/n: the exact Clopper-Pearson bound (a beta quantile)."""
    if events >= n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(confidence, events + 1, n - events))


def format_p(p: float | None, floor: float | None = None, draws: int | None = None) -> str:
    """A p-value as printed everywhere.

    Exact (no draws): 4 significant digits, and "< 0.0001" below that. Drawn (Monte Carlo standard
    error sqrt(p (1 − p) / draws): at most 0.0016 with 100,000 draws, 0.0009 below p = 0.1): one
    decimal from 0.1 (far from any decision), two from 0.01, "< 0.01" below, and at the draws' floor the
    bound "≤ floor" rounded up (no draw was as extreme). A printed digit then moves with the seed only
    where p sits within a few standard errors of a rounding boundary (measured in docs/statistics.md).
    """
    if p is None:
        return "—"
    if floor is not None and p <= floor:
        return f"≤ {_round_up(floor)}"
    if draws is None:
        return "< 0.0001" if p < 1e-4 else f"{p:.4g}"
    return "< 0.01" if p < 0.01 else f"{p:.2f}" if p < 0.1 else f"{p:.1f}"


def _round_up(value: float) -> str:
    """`value` rounded up to 1 significant digit (a bound stays a bound when printed)."""
    exponent = math.floor(math.log10(value))
    digit = math.ceil(value / 10 ** exponent - 1e-9)
    if digit == 10:  # 9.99e-6 rounds up to 1e-5, not "10e-6"
        digit, exponent = 1, exponent + 1
    places = max(0, -exponent)
    return f"{digit * 10 ** exponent:.{places}f}"
