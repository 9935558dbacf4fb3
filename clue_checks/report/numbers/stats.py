"""Confidence intervals for one run's task scores; every interval says how it was made.

* 0/1 scores (accuracy-type) without clusters: the Wilson score interval, always. It never has
  zero width (all right or all wrong still gets an interval) and holds its level at small n.
* Everything else: the percentile bootstrap with a fixed seed (deterministic reports), over whole
  clusters when samples are not independent (LongHealth's five repeats of one question, several
  questions on one MeDiSumQA discharge note).
* A bootstrap of values that are all equal has zero width, which would claim certainty the data do
  not give. Scores on the 0-1 scale then get the Wilson interval over the samples (or clusters): a
  0-1 variable with mean p varies at most as much as a proportion p does, so the bound is
  conservative. Values outside 0-1 get no interval, with that reason.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

BOOTSTRAP_SEED = 20240411  # the day CLUE was published; written into every report
BOOTSTRAP_RESAMPLES = 1000
DRAWS_PER_BLOCK = 1_000_000  # bootstrap indices drawn at once (8 MB): a task of up to 1,000 samples in one block
CONFIDENCE = 0.95


class Interval(NamedTuple):
    """A mean and its interval; `method` names how the interval was made, or why there is none."""

    mean: float
    low: float | None
    high: float | None
    method: str


def interval(values: Sequence[float], *, clusters: Sequence[str | None] | None = None, binary: bool = False,
             seed: int = BOOTSTRAP_SEED, resamples: int = BOOTSTRAP_RESAMPLES,
             confidence: float = CONFIDENCE) -> Interval:
    """The single-run interval of a task score: what the aggregator prints beside every mean.

    `binary`: the values are 0/1 (accuracy-type); unclustered they get the Wilson interval.
    `clusters`: one id per value (None: its own cluster); a cluster bootstrap then draws whole clusters.
    """
    data = _finite(values)
    if binary and not np.all((data == 0) | (data == 1)):
        raise ValueError("binary=True needs values that are all 0 or 1")
    n_units = len(data) if clusters is None else len(cluster_sums(data, clusters)[0])
    level = f"{confidence:.0%}"
    if binary and (clusters is None or n_units == len(data)):
        low, high = wilson(int(data.sum()), len(data), confidence)
        return Interval(float(data.mean()), low, high, f"Wilson score {level} interval over {len(data)} samples")
    if n_units < 2:
        return Interval(float(data.mean()), None, None,
                        f"no interval: a single {'cluster' if n_units < len(data) else 'sample'}")
    if np.all(data == data[0]):
        return _constant(data, n_units, "clusters" if n_units < len(data) else "samples", confidence)
    mean, low, high = mean_ci(data, clusters=clusters, seed=seed, resamples=resamples, confidence=confidence)
    unit = f"{n_units} clusters" if n_units < len(data) else f"{len(data)} samples"
    how = "cluster bootstrap" if n_units < len(data) else "bootstrap"
    return Interval(mean, low, high, f"{how} over {unit} (percentile {level}, {resamples} resamples, seed {seed})")


def _constant(data: np.ndarray, n_units: int, unit: str, confidence: float) -> Interval:
    value = float(data[0])
    if not 0 <= value <= 1:
        return Interval(value, None, None, f"no interval: all {len(data)} values are {value:g}, outside the 0-1 "
                                           "scale the conservative bound needs, and a bootstrap would have zero width")
    low, high = wilson(value * n_units, n_units, confidence)
    return Interval(value, low, high, f"Wilson score {confidence:.0%} interval over {n_units} {unit} "
                                      f"(every value is {value:g}: a bootstrap would have zero width)")


def wilson(successes: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval for a proportion successes/n (successes may be fractional).

    Equal to statsmodels' ``proportion_confint(successes, n, method="wilson")``. The normal quantile comes
    from the standard library (as exact as scipy's, to the last bit or one unit in it): importing
    scipy.stats costs about half a second of every run's start.
    """
    if n <= 0:
        raise ValueError("a proportion needs at least one sample")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At p = 0 (or 1) the bound is exactly 0 (or 1); the formula leaves rounding dust there.
    low = 0.0 if successes <= 0 else float(max(0.0, centre - half))
    high = 1.0 if successes >= n else float(min(1.0, centre + half))
    return low, high


def mean_ci(values: Sequence[float], *, clusters: Sequence[str | None] | None = None, seed: int = BOOTSTRAP_SEED,
            resamples: int = BOOTSTRAP_RESAMPLES,
            confidence: float = CONFIDENCE) -> tuple[float, float | None, float | None]:
    """(mean, low, high) by the percentile bootstrap. With fewer than two values (or clusters) there is
    no interval: (mean, None, None). Values that are all equal give a zero-width interval: callers that
    print it use :func:`interval`, which replaces it.

    `clusters` (one id per value; None: the value is its own cluster) makes it a cluster bootstrap:
    whole clusters are resampled, so correlated samples (LongHealth's repeats of one question) do not
    pass for independent ones and shrink the interval.

    Every value must be a finite number: None or NaN would silently turn the mean into NaN
    (numpy reads None as NaN), so callers report such values as not computed instead.
    """
    data = _finite(values)
    mean = float(data.mean())
    if clusters is None:
        units, sizes = data, None
    else:
        if len(clusters) != len(data):
            raise ValueError("one cluster id per value")
        units, sizes = cluster_sums(data, clusters)
    if len(units) < 2:
        return mean, None, None
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    # Resamples are drawn a block at a time, so memory stays bounded whatever the task's size (1,000 x
    # 20,000 indices would be 160 MB, and as much again for the values they pick). numpy's generators
    # give the same stream in blocks as in one draw, so the interval is the same to the bit.
    rows = max(1, DRAWS_PER_BLOCK // len(units))
    for start in range(0, resamples, rows):
        picks = rng.integers(0, len(units), size=(min(rows, resamples - start), len(units)))
        block = units[picks].mean(axis=1) if sizes is None else units[picks].sum(axis=1) / sizes[picks].sum(axis=1)
        means[start:start + len(picks)] = block
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)


def _finite(values: Sequence[float]) -> np.ndarray:
    if len(values) == 0:
        raise ValueError("no values to average")
    if any(v is None for v in values):
        raise ValueError("values must be numbers, not None: report a missing value as not computed")
    data = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(data)):
        raise ValueError("values must be finite: report NaN or infinity as not computed")
    return data


def cluster_sums(data: np.ndarray, clusters: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums and sizes, in order of first appearance (a None id is a cluster of its own)."""
    order: dict[object, int] = {}
    ids = [order.setdefault(c if c is not None else ("__own__", i), len(order)) for i, c in enumerate(clusters)]
    sums = np.bincount(ids, weights=data, minlength=len(order))
    counts = np.bincount(ids, minlength=len(order)).astype(float)
    return sums, counts


# -- several scores resampled together ---------------------------------------------------------


class JointBootstrap(NamedTuple):
    """Point means per key and their bootstrap replicates, drawn together (see :func:`joint_bootstrap`)."""

    keys: tuple[Hashable, ...]
    means: np.ndarray  # (keys,)
    replicates: np.ndarray  # (resamples, keys)
    n_samples: int
    n_units: int  # clusters (or samples) drawn
    n_strata: int


def joint_bootstrap(columns: Mapping[Hashable, tuple[Sequence[float], Sequence[str | None] | None]], *,
                    seed: int | Sequence[int] = BOOTSTRAP_SEED, resamples: int = BOOTSTRAP_RESAMPLES,
                    chunk: int = 500) -> JointBootstrap:
    """A stratified cluster bootstrap of several means at once.

    `columns[key] = (values, clusters)`: the per-sample values one score averages and their cluster
    ids (None, or a None id: the sample is its own cluster). A cluster id that occurs under several
    keys is one unit drawn once for all of them: a LongHealth question answered in tasks 1, 2 and 3
    comes back into all three together, so a Level 2 interval sees how their scores move together.
    Units are resampled within strata of units that touch the same keys, so every task keeps its
    size (its samples are a fixed part of the benchmark, not a random share of a pool).
    """
    keys = tuple(columns)
    unit_of: dict[object, int] = {}
    unit_ids, key_ids, data_parts = [], [], []
    for k, key in enumerate(keys):
        values, clusters = columns[key]
        data = _finite(values)
        if clusters is not None and len(clusters) != len(data):
            raise ValueError(f"{key}: one cluster id per value")
        ids = clusters if clusters is not None else [None] * len(data)
        unit_ids.append(np.fromiter((unit_of.setdefault(c if c is not None else ("__own__", k, i), len(unit_of))
                                     for i, c in enumerate(ids)), dtype=np.int64, count=len(data)))
        key_ids.append(np.full(len(data), k))
        data_parts.append(data)
    cell = np.concatenate(unit_ids) * len(keys) + np.concatenate(key_ids)
    shape = (len(unit_of), len(keys))
    sums = np.bincount(cell, weights=np.concatenate(data_parts), minlength=shape[0] * shape[1]).reshape(shape)
    counts = np.bincount(cell, minlength=shape[0] * shape[1]).reshape(shape).astype(float)
    n_samples = len(cell)
    means = sums.sum(axis=0) / counts.sum(axis=0)
    strata: dict[tuple[bool, ...], list[int]] = {}
    for u, touched in enumerate(counts > 0):
        strata.setdefault(tuple(touched), []).append(u)
    rng = np.random.default_rng(seed)
    replicates = np.empty((resamples, len(keys)))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        total_s = np.zeros((size, len(keys)))
        total_c = np.zeros((size, len(keys)))
        for members in strata.values():
            idx = np.asarray(members)
            picks = idx[rng.integers(0, len(idx), size=(size, len(idx)))]
            for k in np.flatnonzero(counts[idx].sum(axis=0)):
                total_s[:, k] += sums[picks, k].sum(axis=1)
                total_c[:, k] += counts[picks, k].sum(axis=1)
        replicates[start:start + size] = total_s / total_c
    return JointBootstrap(keys, means, replicates, n_samples, len(unit_of), len(strata))


def percentile_interval(replicates: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(replicates, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_p_value(replicates: np.ndarray) -> float:
    """Two-sided p-value of "the difference is 0" from bootstrap replicates of a difference.

    It inverts the percentile interval: twice the smaller share of replicates on either side of 0
    (each count plus one, over resamples plus one, so it is never 0), capped at 1. So 0 lies outside
    the 95% percentile interval exactly when p < 0.05 (up to one replicate), and replicates that are
    all 0 (identical runs) give p = 1.
    """
    b = len(replicates)
    below = (np.count_nonzero(replicates <= 0) + 1) / (b + 1)
    above = (np.count_nonzero(replicates >= 0) + 1) / (b + 1)
    return float(min(1.0, 2 * min(below, above)))
