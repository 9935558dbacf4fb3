"""Confidence intervals by the percentile bootstrap with a fixed seed (deterministic reports)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_SEED = 20240411  # the day CLUE was published; written into every report
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


def mean_ci(values: Sequence[float], *, seed: int = BOOTSTRAP_SEED,
            resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float | None, float | None]:
    """(mean, low, high). With fewer than two values there is no interval: (mean, None, None).

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
    if len(data) < 2:
        return mean, None, None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(data), size=(resamples, len(data)))
    means = data[picks].mean(axis=1)
    alpha = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)
