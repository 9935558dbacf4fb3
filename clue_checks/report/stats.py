"""Confidence intervals by the percentile bootstrap with a fixed seed (deterministic reports)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_SEED = 20240411  # the day CLUE was published; written into every report
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


def mean_ci(values: Sequence[float], *, clusters: Sequence[str | None] | None = None, seed: int = BOOTSTRAP_SEED,
            resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float | None, float | None]:
    """(mean, low, high). With fewer than two values (or clusters) there is no interval: (mean, None, None).

    `clusters` (one id per value; None: the value is its own cluster) makes it a cluster bootstrap:
    whole clusters are resampled, so correlated samples (LongHealth's repeats of one question) do not
    pass for independent ones and shrink the interval.

    Every value must be a finite number: None or NaN would silently turn the mean into NaN
    (numpy reads None as NaN), so callers report such values as not computed instead.
    """
    if not values:
        raise ValueError("no values to average")
    if any(v is None for v in values):
        raise ValueError("values must be numbers, not None: report a missing value as not computed")
    data = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(data)):
        raise ValueError("values must be finite: report NaN or infinity as not computed")
    mean = float(data.mean())
    rng = np.random.default_rng(seed)
    if clusters is None:
        if len(data) < 2:
            return mean, None, None
        picks = rng.integers(0, len(data), size=(resamples, len(data)))
        means = data[picks].mean(axis=1)
    else:
        if len(clusters) != len(data):
            raise ValueError("one cluster id per value")
        sums, counts = cluster_sums(data, clusters)
        if len(sums) < 2:
            return mean, None, None
        picks = rng.integers(0, len(sums), size=(resamples, len(sums)))
        means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    alpha = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)


def cluster_sums(data: np.ndarray, clusters: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums and sizes, in order of first appearance (a None id is a cluster of its own)."""
    order: dict[object, int] = {}
    ids = [order.setdefault(c if c is not None else ("__own__", i), len(order)) for i, c in enumerate(clusters)]
    sums = np.bincount(ids, weights=data, minlength=len(order))
    counts = np.bincount(ids, minlength=len(order)).astype(float)
    return sums, counts
