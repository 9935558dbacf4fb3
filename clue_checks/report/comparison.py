"""Paired statistics of a run against a baseline run: the same samples, scored by two models.

Samples are paired on (task, sample id); the difference is always new − baseline.

* 0/1 scores (accuracy-type) on independent samples: the exact McNemar test (a two-sided binomial
  test on the discordant pairs) and Tango's score interval for the difference of paired
  proportions (Tango 1998, Statistics in Medicine 17:891-908), which keeps its level at small
  discordance and never has zero width: with no discordant pairs it is ±z²/(n + z²).
* Continuous scores (ROUGE, ICD F1, BERTScore), and 0/1 scores whose samples are clustered: the
  paired bootstrap of the mean difference (10,000 resamples, seeded), drawing whole clusters (a
  LongHealth question with its repeats, across tasks 1-3; a MeDiSumQA discharge note). Its p-value
  inverts the percentile interval (see :func:`stats.bootstrap_p_value`). When every paired difference
  is 0 (identical runs) the bootstrap interval is [0, 0] and p = 1.
* The one-sided 95% lower bound that a non-inferiority gate uses is the lower end of the two-sided
  90% interval made the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .levels import LEVELS, level_weights
from .stats import BOOTSTRAP_SEED, CONFIDENCE, bootstrap_p_value, joint_bootstrap, percentile_interval

COMPARISON_RESAMPLES = 10_000
COMPARISON_SEED = BOOTSTRAP_SEED
ONE_SIDED = 0.95  # the confidence of the lower bound a non-inferiority gate reads


@dataclass(frozen=True)
class PairedComparison:
    """One task's metric, new run against baseline run, on the samples both scored."""

    task: str
    metric: str
    kind: str  # "binary" (0/1 per sample) or "continuous"
    new: float | None  # mean over the paired samples
    baseline: float | None
    difference: float | None  # new − baseline
    ci_low: float | None  # 95% two-sided
    ci_high: float | None
    one_sided_low: float | None  # one-sided 95% lower bound of the difference (non-inferiority)
    p_value: float | None  # two-sided, of "no difference"
    n: int  # paired samples
    n_clusters: int  # independent units (= n without clusters)
    broke: int | None  # 0/1 scores: pairs where the baseline scored 1 and the new run 0
    fixed: int | None  # ... and the reverse
    se: float | None  # standard error of the difference (for the smallest detectable drop)
    method: str
    seed: int
    resamples: int | None  # None: no resampling (exact test and score interval)
    missing_in_new: tuple[str, ...] = ()  # baseline samples the new run did not score (or lacks the metric for)
    missing_in_baseline: tuple[str, ...] = ()
    not_computed: str | None = None  # why there is no comparison

    @property
    def discordant(self) -> tuple[int, int] | None:
        """(broke, fixed): McNemar's discordant pairs."""
        return None if self.broke is None or self.fixed is None else (self.broke, self.fixed)

    @property
    def complete(self) -> bool:
        """Both runs scored the same samples: otherwise the comparison is incomplete."""
        return not self.missing_in_new and not self.missing_in_baseline

    @property
    def clustered(self) -> bool:
        return self.n_clusters < self.n

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "metric": self.metric, "kind": self.kind, "new": self.new,
                "baseline": self.baseline, "difference": self.difference, "ci95": [self.ci_low, self.ci_high],
                "one_sided_low95": self.one_sided_low, "p_value": self.p_value, "n": self.n,
                "n_clusters": self.n_clusters, "discordant": {"broke": self.broke, "fixed": self.fixed},
                "se": self.se, "method": self.method, "seed": self.seed, "resamples": self.resamples,
                "missing_in_new": list(self.missing_in_new), "missing_in_baseline": list(self.missing_in_baseline),
                "complete": self.complete, "not_computed": self.not_computed}


@dataclass(frozen=True)
class LevelComparison:
    level: int
    new: float | None
    baseline: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    one_sided_low: float | None
    p_value: float | None
    method: str
    seed: int
    resamples: int
    incomplete: tuple[str, ...] = ()  # component tasks with samples missing on either side
    not_computed: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "new": self.new, "baseline": self.baseline, "difference": self.difference,
                "ci95": [self.ci_low, self.ci_high], "one_sided_low95": self.one_sided_low,
                "p_value": self.p_value, "method": self.method, "seed": self.seed, "resamples": self.resamples,
                "incomplete": list(self.incomplete), "not_computed": self.not_computed}


class BrokeFixed(NamedTuple):
    broke: tuple[str, ...]  # baseline passed, new run failed
    fixed: tuple[str, ...]  # baseline failed, new run passed


# -- pairing ------------------------------------------------------------------------------------


class _Pairs(NamedTuple):
    ids: list[str]
    new: np.ndarray
    base: np.ndarray
    clusters: list[str | None]
    missing_in_new: tuple[str, ...]
    missing_in_baseline: tuple[str, ...]


def _last(records: Iterable[Any], task: str) -> dict[str, Any]:
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


def _pairs(new_records: Iterable[Any], base_records: Iterable[Any], task: str, metric: str) -> _Pairs:
    new, base = _last(new_records, task), _last(base_records, task)
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
            clusters.append(record.cluster if record is not None else None)
    return _Pairs(ids, np.asarray(nv, dtype=float), np.asarray(bv, dtype=float), clusters,
                  tuple(miss_new), tuple(miss_base))


def _is_binary(*arrays: np.ndarray) -> bool:
    return all(bool(np.all((a == 0) | (a == 1))) for a in arrays)


# -- one task -----------------------------------------------------------------------------------


def compare_task(new_records: Iterable[Any], base_records: Iterable[Any], task: str, metric: str,
                 kind: str | None = None, *, seed: int = COMPARISON_SEED, resamples: int = COMPARISON_RESAMPLES,
                 confidence: float = CONFIDENCE) -> PairedComparison:
    """new − baseline for one task's metric, paired on sample id.

    `new_records`, `base_records`: SampleRecords (anything with task, sample_id, index, outcome,
    metrics, cluster); other tasks' records are ignored. `kind`: "binary" for 0/1 scores,
    "continuous", or None to read it from the values (0/1 on both sides: binary). Errored samples and
    samples without a finite value of the metric are missing on their side, listed in `missing_in_*`.
    """
    p = _pairs(list(new_records), list(base_records), task, metric)
    common = dict(task=task, metric=metric, missing_in_new=p.missing_in_new, missing_in_baseline=p.missing_in_baseline)
    if not p.ids:
        why = (f"no sample of {task} has {metric} in both runs "
               f"({len(p.missing_in_new)} only in the baseline, {len(p.missing_in_baseline)} only in the new run)")
        return PairedComparison(kind=kind or "unknown", new=None, baseline=None, difference=None, ci_low=None,
                                ci_high=None, one_sided_low=None, p_value=None, n=0, n_clusters=0, broke=None,
                                fixed=None, se=None, method="not compared", seed=seed, resamples=None,
                                not_computed=why, **common)
    return paired_difference(p.new, p.base, p.clusters, kind=kind, seed=seed, resamples=resamples,
                             confidence=confidence, **common)


def paired_difference(new: Sequence[float], base: Sequence[float], clusters: Sequence[str | None] | None = None, *,
                      kind: str | None = None, seed: int = COMPARISON_SEED, resamples: int = COMPARISON_RESAMPLES,
                      confidence: float = CONFIDENCE, task: str = "", metric: str = "",
                      missing_in_new: tuple[str, ...] = (),
                      missing_in_baseline: tuple[str, ...] = ()) -> PairedComparison:
    """The statistics of :func:`compare_task` on aligned arrays (new[i] and base[i] are one sample)."""
    new_a, base_a = np.asarray(new, dtype=float), np.asarray(base, dtype=float)
    if new_a.shape != base_a.shape or new_a.ndim != 1 or not len(new_a):
        raise ValueError("need two equally long, non-empty sequences of paired values")
    if clusters is not None and len(clusters) != len(new_a):
        raise ValueError("one cluster id per pair")
    if kind not in (None, "binary", "continuous"):
        raise ValueError(f"kind must be 'binary', 'continuous' or None, not {kind!r}")
    if kind == "binary" and not _is_binary(new_a, base_a):
        raise ValueError(f"{task}.{metric}: kind 'binary' needs values that are all 0 or 1")
    kind = kind or ("binary" if _is_binary(new_a, base_a) else "continuous")
    n = len(new_a)
    ids = clusters if clusters is not None else [None] * n
    n_clusters = len(set(c if c is not None else ("own", i) for i, c in enumerate(ids)))
    diff = new_a - base_a
    common = dict(task=task, metric=metric, kind=kind, new=float(new_a.mean()), baseline=float(base_a.mean()),
                  difference=float(diff.mean()), n=n, n_clusters=n_clusters, seed=seed,
                  missing_in_new=missing_in_new, missing_in_baseline=missing_in_baseline)
    broke = fixed = None
    if kind == "binary":
        broke, fixed = int(np.count_nonzero(diff < 0)), int(np.count_nonzero(diff > 0))
    if kind == "binary" and n_clusters == n:
        low, high = tango_interval(broke, fixed, n, confidence)
        one_low, _ = tango_interval(broke, fixed, n, 2 * ONE_SIDED - 1)
        se = math.sqrt(max((broke + fixed) / n - common["difference"] ** 2, 0.0) / n)
        method = (f"exact McNemar test (two-sided) and Tango score {confidence:.0%} interval over {n} pairs, "
                  f"{broke + fixed} discordant")
        return PairedComparison(ci_low=low, ci_high=high, one_sided_low=one_low, p_value=mcnemar_p(broke, fixed),
                                broke=broke, fixed=fixed, se=se, method=method, resamples=None, **common)
    boot = joint_bootstrap({"d": (diff, list(ids))}, seed=seed, resamples=resamples)
    reps = boot.replicates[:, 0]
    low, high = percentile_interval(reps, confidence)
    one_low, _ = percentile_interval(reps, 2 * ONE_SIDED - 1)
    unit = f"{n_clusters} clusters of {n} pairs" if n_clusters < n else f"{n} pairs"
    method = (f"paired {'cluster ' if n_clusters < n else ''}bootstrap of the mean difference over {unit} "
              f"(percentile {confidence:.0%}, {resamples} resamples, seed {seed}; p-value inverts the interval)")
    if not np.any(diff):
        method += "; every paired difference is 0"
    return PairedComparison(ci_low=low, ci_high=high, one_sided_low=one_low, p_value=bootstrap_p_value(reps),
                            broke=broke, fixed=fixed, se=float(reps.std(ddof=1)), method=method,
                            resamples=resamples, **common)


def mcnemar_p(broke: int, fixed: int) -> float:
    """Exact two-sided McNemar p-value: twice the smaller binomial tail of the discordant pairs at 1/2,
    capped at 1 (statsmodels' ``mcnemar(table, exact=True)``)."""
    from scipy.stats import binom  # here, not at import: scipy.stats costs every run ~0.5 s, compared or not

    return float(min(1.0, 2 * binom.cdf(min(broke, fixed), broke + fixed, 0.5)))


def tango_interval(broke: int, fixed: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Tango's asymptotic score interval for p_new − p_baseline from paired 0/1 outcomes.

    The limits are the differences d at which the score statistic
    (fixed − broke − n d) / sqrt(n (2 q + d (1 − d))) equals ±z, where q is the maximum-likelihood
    chance of a "broke" pair under the difference d.
    """
    if not 0 <= broke + fixed <= n or n <= 0:
        raise ValueError("need 0 <= broke + fixed <= n and n > 0")
    from scipy.optimize import brentq
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - confidence) / 2))
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
    high = 1.0 if estimate >= 1 - tol else brentq(lambda d: score(d) + z, estimate, 1 - tol, xtol=1e-12)
    return float(low), float(high)


# -- the Level averages -------------------------------------------------------------------------


def compare_levels(new_records: Iterable[Any], base_records: Iterable[Any], *, seed: int = COMPARISON_SEED,
                   resamples: int = COMPARISON_RESAMPLES, confidence: float = CONFIDENCE) -> list[LevelComparison]:
    """Level 1 / Level 2 of the new run minus the baseline's, on the samples both scored.

    One paired bootstrap per level recomputes the whole level average of the differences (the
    stratified cluster bootstrap of :func:`stats.joint_bootstrap`: each task keeps its size, a
    LongHealth question is drawn once for tasks 1-3). Each level has its own generator (seed, level).
    """
    new_records, base_records = list(new_records), list(base_records)
    out = []
    for level in LEVELS:
        weights = level_weights(level)
        pairs = {key: _pairs(new_records, base_records, *key) for key in weights}
        empty = [f"{t}.{m}" for (t, m), p in pairs.items() if not p.ids]
        incomplete = tuple(t for (t, _), p in pairs.items() if p.missing_in_new or p.missing_in_baseline)
        if empty:
            out.append(LevelComparison(level, None, None, None, None, None, None, None, "not compared", seed, resamples,
                                       incomplete, f"needs {', '.join(empty)} in both runs"))
            continue
        boot = joint_bootstrap({key: (list(p.new - p.base), p.clusters) for key, p in pairs.items()},
                               seed=[seed, level], resamples=resamples)
        w = np.array([weights[key] for key in boot.keys])
        reps = boot.replicates @ w
        new = float(sum(weights[k] * p.new.mean() for k, p in pairs.items()))
        base = float(sum(weights[k] * p.base.mean() for k, p in pairs.items()))
        low, high = percentile_interval(reps, confidence)
        one_low, _ = percentile_interval(reps, 2 * ONE_SIDED - 1)
        clustered = boot.n_units < boot.n_samples
        method = (f"paired stratified {'cluster ' if clustered else ''}bootstrap of the level average over "
                  f"{boot.n_units} {'clusters' if clustered else 'pairs'} (percentile {confidence:.0%}, "
                  f"{resamples} resamples, seed {seed})")
        out.append(LevelComparison(level, new, base, float(boot.means @ w), low, high, one_low,
                                   bootstrap_p_value(reps), method, seed, resamples, incomplete))
    return out


# -- per sample ---------------------------------------------------------------------------------


def broke_fixed(new_records: Iterable[Any], base_records: Iterable[Any]) -> dict[str, BrokeFixed]:
    """Per task present in both runs: the samples that broke (baseline passed, now failed) and were
    fixed (the reverse), in the new run's scoring order. Errored samples are neither: an error says
    nothing about the model's answer."""
    new_records, base_records = list(new_records), list(base_records)
    tasks = sorted({r.task for r in new_records} & {r.task for r in base_records})
    out = {}
    for task in tasks:
        new, base = _last(new_records, task), _last(base_records, task)
        common = sorted(set(new) & set(base), key=lambda sid: (new[sid].index, sid))
        out[task] = BrokeFixed(
            tuple(s for s in common if base[s].outcome == "passed" and new[s].outcome == "failed"),
            tuple(s for s in common if base[s].outcome == "failed" and new[s].outcome == "passed"))
    return out


def compare_runs(new_records: Sequence[Any], base_records: Sequence[Any],
                 metrics: Mapping[str, Sequence[str]] | None = None, *, seed: int = COMPARISON_SEED,
                 resamples: int = COMPARISON_RESAMPLES) -> dict[tuple[str, str], PairedComparison]:
    """Every (task, metric) in `metrics` (default: each task's headline metric) for tasks in both runs."""
    from .levels import headlines

    tasks = {r.task for r in new_records} & {r.task for r in base_records}
    wanted = metrics if metrics is not None else {t: (m,) for t, m in headlines([*new_records, *base_records]).items()}
    return {(t, m): compare_task(new_records, base_records, t, m, seed=seed, resamples=resamples)
            for t, names in wanted.items() if t in tasks for m in names}
