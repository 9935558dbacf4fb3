"""Pairing two runs' records on sample id, and the unit a pair is resampled with (its cluster, a LongHealth
patient): what every paired statistic of :mod:`paired` and :mod:`level_comparison` starts from."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from clue_checks.report.numbers.signflip import P_DRAWS
from clue_checks.report.numbers.stats import BOOTSTRAP_SEED

COMPARISON_RESAMPLES = P_DRAWS  # random sign patterns when too many units differ to enumerate
COMPARISON_SEED = BOOTSTRAP_SEED
LONGHEALTH_UNIT = "patient"  # or "question": the unit LongHealth's comparisons resample (docs/statistics.md)


class Pairs(NamedTuple):
    """One task's metric in both runs: the paired values in sample id order, and the samples one side lacks."""

    ids: list[str]
    new: np.ndarray
    base: np.ndarray
    clusters: list[str | None]
    missing_in_new: tuple[str, ...]
    missing_in_baseline: tuple[str, ...]


def last_records(records: Iterable[Any], task: str) -> dict[str, Any]:
    """sample id -> the sample's last record (a sample reported twice counts once, as in the task table)."""
    out: dict[str, Any] = {}
    for r in records:
        if r.task == task:
            out[r.sample_id] = r
    return out


def _value(record: Any, metric: str) -> float | None:
    if record is None or record.outcome == "error":
        return None
    value = record.metrics.get(metric)
    return float(value) if value is not None and math.isfinite(value) else None


def pairs_of(new_records: Iterable[Any], base_records: Iterable[Any], task: str, metric: str,
             longhealth_unit: str = LONGHEALTH_UNIT) -> Pairs:
    """The samples of `task` with a finite `metric` in both runs (errored samples have none), paired."""
    new, base = last_records(new_records, task), last_records(base_records, task)
    ids, nv, bv, clusters, miss_new, miss_base = [], [], [], [], [], []
    for sid in sorted(set(new) | set(base)):
        a, b = _value(new.get(sid), metric), _value(base.get(sid), metric)
        if a is None and b is None:
            continue  # neither run has it: not a sample of this comparison (e.g. a metric the task lacks)
        if a is None:
            miss_new.append(sid)
        elif b is None:
            miss_base.append(sid)
        else:
            ids.append(sid)
            nv.append(a)
            bv.append(b)
            record = new.get(sid) if new.get(sid) is not None and new[sid].cluster is not None else base.get(sid)
            clusters.append(resampling_unit(record.cluster if record is not None else None, longhealth_unit))
    return Pairs(ids, np.asarray(nv, dtype=float), np.asarray(bv, dtype=float), clusters,
                 tuple(miss_new), tuple(miss_base))


def resampling_unit(cluster: str | None, longhealth_unit: str = LONGHEALTH_UNIT) -> str | None:
    """The unit a sample is resampled with: its cluster id, or for LongHealth (`longhealth:<patient>/<q>`)
    the patient when `longhealth_unit` is "patient"."""
    if longhealth_unit not in ("patient", "question"):
        raise ValueError(f"longhealth_unit must be 'patient' or 'question', not {longhealth_unit!r}")
    if cluster is not None and longhealth_unit == "patient" and cluster.startswith("longhealth:"):
        return cluster.split("/", 1)[0]
    return cluster
