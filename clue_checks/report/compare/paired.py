"""Paired statistics of a run against a baseline run: the same samples, scored by two models.

Samples are paired on (task, sample id); the difference is always new − baseline. The test is chosen
by the metric's declared kind (:mod:`metric_kinds`), never by the values a run happened to produce.

* **The unit.** A sample, or a cluster of samples drawn together: a MeDiSumQA discharge note, and for
  LongHealth the patient (20 patients with 20 questions each over the same documents; see
  `LONGHEALTH_UNIT`), across tasks 1-3 inside Level 2.
* **0/1 scores on independent samples:** the exact McNemar test (a two-sided binomial test on the
  discordant pairs: the exact sign-flip test of ±1 differences) and Tango's score interval for the
  difference of paired proportions (Tango 1998, Statistics in Medicine 17:891-908). Where Tango's
  interval and the exact test disagree about 0 (rare, at the 0.05 boundary) the interval is omitted.
* **Everything else** (ROUGE, ICD F1, BERTScore; clustered 0/1 scores): the paired sign-flip
  randomisation test on per-unit differences, exact while at most 20 units differ, and the interval
  that inverts it (:mod:`signflip`), so a 95% interval excludes 0 exactly when p < 0.05.
* **Too few units differ** (fewer than 6: no outcome could reach p < 0.05): no interval, the exact p,
  and the reason. A non-inferiority gate still has a bound: Tango's for unclustered 0/1 scores,
  otherwise −(the one-sided 95% Clopper-Pearson upper bound of the share of units that dropped) on
  the 0-1 scale, since no unit can lose more than the whole scale.
* The one-sided 95% lower bound that a non-inferiority gate uses is the lower end of the two-sided
  90% interval made the same way.

The pairing is :mod:`pairing`, McNemar and Tango :mod:`mcnemar`, the Level averages :mod:`level_comparison`;
:func:`paired` gathers them all for two runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from clue_checks.report.compare.level_comparison import LevelComparison, compare_levels
from clue_checks.report.compare.mcnemar import mcnemar_p, tango_interval
from clue_checks.report.compare.pairing import (COMPARISON_RESAMPLES, COMPARISON_SEED, LONGHEALTH_UNIT, last_records,
                                                pairs_of)
from clue_checks.report.numbers.levels import headlines
from clue_checks.report.numbers.metric_kinds import kind_of
from clue_checks.report.numbers.signflip import (clopper_pearson_upper, format_p, min_differing, normal_sd, signflip,
                                                 unit_contributions)
from clue_checks.report.numbers.stats import CONFIDENCE

ONE_SIDED = 0.95  # the confidence of the lower bound a non-inferiority gate reads


@dataclass(frozen=True)
class PairedComparison:
    """One task's metric, new run against baseline run, on the samples both scored."""

    task: str
    metric: str
    kind: str  # "binary" (0/1 per sample) or "continuous", as declared for the metric
    new: float | None  # mean over the paired samples
    baseline: float | None
    difference: float | None  # new − baseline
    ci_low: float | None  # 95% two-sided; None: see `no_interval`
    ci_high: float | None
    one_sided_low: float | None  # one-sided 95% lower bound of the difference (non-inferiority)
    p_value: float | None  # two-sided, of "no difference"
    n: int  # paired samples
    n_clusters: int  # independent units (= n without clusters)
    broke: int | None  # 0/1 scores: pairs where the baseline scored 1 and the new run 0
    fixed: int | None  # ... and the reverse
    se: float | None  # standard deviation of the test's sum under no difference (smallest detectable drop)
    method: str
    seed: int
    resamples: int | None  # random sign patterns behind p; None: exact
    missing_in_new: tuple[str, ...] = ()  # baseline samples the new run did not score (or lacks the metric for)
    missing_in_baseline: tuple[str, ...] = ()
    not_computed: str | None = None  # why there is no comparison
    differing: int | None = None  # units whose difference is not 0 ("k of n units differ")
    unit: str = "pair"  # what one unit is: "pair", "cluster", "patient", ...
    p_floor: float | None = None  # drawn p: the smallest it can be; a p there is printed as a bound
    no_interval: str | None = None  # why there is no 95% interval
    bound_how: str = ""  # how `one_sided_low` was made

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

    @property
    def p_text(self) -> str:
        """The p-value as printed: exact to 4 significant digits, drawn to the digits its draws support,
        at the draws' floor as a bound ("≤ 0.00001")."""
        return format_p(self.p_value, self.p_floor, self.resamples)

    @property
    def differ_text(self) -> str:
        if self.differing is None:
            return ""
        units = "pairs" if self.unit == "pair" else f"{self.unit}s"
        return f"{self.differing} of {self.n_clusters} {units} differ"

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "metric": self.metric, "kind": self.kind, "new": self.new,
                "baseline": self.baseline, "difference": self.difference, "ci95": [self.ci_low, self.ci_high],
                "one_sided_low95": self.one_sided_low, "p_value": self.p_value, "p_shown": self.p_text,
                "p_floor": self.p_floor, "n": self.n, "n_clusters": self.n_clusters, "unit": self.unit,
                "differing": self.differing, "discordant": {"broke": self.broke, "fixed": self.fixed},
                "se": self.se, "method": self.method, "seed": self.seed, "resamples": self.resamples,
                "no_interval": self.no_interval, "bound_how": self.bound_how,
                "missing_in_new": list(self.missing_in_new), "missing_in_baseline": list(self.missing_in_baseline),
                "complete": self.complete, "not_computed": self.not_computed}


class BrokeFixed(NamedTuple):
    broke: tuple[str, ...]  # baseline passed, new run failed
    fixed: tuple[str, ...]  # baseline failed, new run passed


def _is_binary(*arrays: np.ndarray) -> bool:
    return all(bool(np.all((a == 0) | (a == 1))) for a in arrays)


# -- one task -----------------------------------------------------------------------------------


def compare_task(new_records: Iterable[Any], base_records: Iterable[Any], task: str, metric: str,
                 kind: str | None = None, *, seed: int = COMPARISON_SEED, resamples: int = COMPARISON_RESAMPLES,
                 confidence: float = CONFIDENCE, longhealth_unit: str = LONGHEALTH_UNIT) -> PairedComparison:
    """new − baseline for one task's metric, paired on sample id.

    `new_records`, `base_records`: SampleRecords (anything with task, sample_id, index, outcome,
    metrics, cluster); other tasks' records are ignored. `kind`: "binary" for 0/1 scores,
    "continuous", or None for the metric's declared kind (:func:`metric_kinds.kind_of`). Errored
    samples and samples without a finite value of the metric are missing on their side, listed in
    `missing_in_*`.
    """
    kind = kind or kind_of(task, metric)
    new_records, base_records = list(new_records), list(base_records)
    p = pairs_of(new_records, base_records, task, metric, longhealth_unit)
    common = dict(task=task, metric=metric, missing_in_new=p.missing_in_new, missing_in_baseline=p.missing_in_baseline)
    if not p.ids:
        why = (f"no sample of {task} has {metric} in both runs "
               f"({len(p.missing_in_new)} only in the baseline, {len(p.missing_in_baseline)} only in the new run)")
        return PairedComparison(kind=kind, new=None, baseline=None, difference=None, ci_low=None,
                                ci_high=None, one_sided_low=None, p_value=None, n=0, n_clusters=0, broke=None,
                                fixed=None, se=None, method="not compared", seed=seed, resamples=None,
                                not_computed=why, **common)
    by_patient = longhealth_unit == "patient" and any(
        (r.cluster or "").startswith("longhealth:") and "/" in r.cluster for r in new_records if r.task == task)
    unit = ("patient" if by_patient else "question") if task.startswith("longhealth") else "cluster"
    return paired_difference(p.new, p.base, p.clusters, kind=kind, seed=seed, resamples=resamples,
                             confidence=confidence, cluster_unit=unit, **common)


def paired_difference(new: Sequence[float], base: Sequence[float], clusters: Sequence[str | None] | None = None, *,
                      kind: str = "continuous", seed: int = COMPARISON_SEED, resamples: int = COMPARISON_RESAMPLES,
                      confidence: float = CONFIDENCE, task: str = "", metric: str = "",
                      missing_in_new: tuple[str, ...] = (), missing_in_baseline: tuple[str, ...] = (),
                      cluster_unit: str = "cluster") -> PairedComparison:
    """The statistics of :func:`compare_task` on aligned arrays (new[i] and base[i] are one sample).

    `kind` is the metric's declared kind: "binary" (0/1 per sample; checked) or "continuous". The
    values never choose the test: a continuous metric whose values happen to be 0/1 keeps its test.
    """
    new_a, base_a = np.asarray(new, dtype=float), np.asarray(base, dtype=float)
    if new_a.shape != base_a.shape or new_a.ndim != 1 or not len(new_a):
        raise ValueError("need two equally long, non-empty sequences of paired values")
    if clusters is not None and len(clusters) != len(new_a):
        raise ValueError("one cluster id per pair")
    if kind not in ("binary", "continuous"):
        raise ValueError(f"kind must be 'binary' or 'continuous', not {kind!r}")
    if kind == "binary" and not _is_binary(new_a, base_a):
        raise ValueError(f"{task}.{metric}: kind 'binary' needs values that are all 0 or 1")
    n = len(new_a)
    diff = new_a - base_a
    a, c = unit_contributions(diff, clusters)
    n_units = len(a)
    unit = "pair" if n_units == n else cluster_unit
    common = dict(task=task, metric=metric, kind=kind, new=float(new_a.mean()), baseline=float(base_a.mean()),
                  difference=float(diff.mean()), n=n, n_clusters=n_units, seed=seed, unit=unit,
                  missing_in_new=missing_in_new, missing_in_baseline=missing_in_baseline, se=normal_sd(a))
    broke = fixed = None
    if kind == "binary":
        broke, fixed = int(np.count_nonzero(diff < 0)), int(np.count_nonzero(diff > 0))
    if kind == "binary" and n_units == n:
        return _mcnemar(broke, fixed, n, confidence, common)
    flip = signflip(a, c, seed=seed, confidence=confidence, p_draws=resamples)
    units = f"{n_units} {cluster_unit}s of {n} pairs" if unit != "pair" else f"{n} pairs"
    how = (f"exact over all {2 ** flip.differing:,} sign patterns" if flip.exact
           else f"{flip.draws:,} random sign patterns, seed {seed}")
    method = (f"paired sign-flip randomisation test over {units}, {flip.differing} differing ({how}); "
              + ("interval inverts the test" if flip.no_interval is None else flip.no_interval))
    one_low, bound_how = flip.one_sided_low, "the lower end of the inverted test's 90% interval"
    if one_low is None:
        one_low, bound_how = _scale_bound(a, new_a, base_a, n_units, unit)
    return PairedComparison(ci_low=flip.low, ci_high=flip.high, one_sided_low=one_low, p_value=flip.p_value,
                            broke=broke, fixed=fixed, method=method, resamples=flip.draws,
                            differing=flip.differing, p_floor=flip.p_floor, no_interval=flip.no_interval,
                            bound_how=bound_how, **common)


def _mcnemar(broke: int, fixed: int, n: int, confidence: float, common: dict[str, Any]) -> PairedComparison:
    p = mcnemar_p(broke, fixed)
    k = broke + fixed
    low = high = None
    no_interval = None
    interval = f"Tango score {confidence:.0%} interval"
    if k < min_differing(1 - confidence):
        no_interval = (f"only {k} of {n} pairs differ: no outcome of {k} can reach p < {1 - confidence:g}, so no "
                       "interval; p is exact")
    else:
        low, high = tango_interval(broke, fixed, n, confidence)
        if (low > 0 or high < 0) != (p < 1 - confidence):
            # near p = 0.05 the asymptotic interval and the exact test can disagree about 0: print the
            # interval that inverts the exact test instead (the sign-flip test McNemar's is)
            tango = _pair((low, high))
            a = np.concatenate([np.full(fixed, 1.0 / n), np.full(broke, -1.0 / n), np.zeros(n - k)])
            flip = signflip(a, np.full(n, 1.0 / n), confidence=confidence)
            low, high = flip.low, flip.high
            interval = (f"{confidence:.0%} interval inverting the exact test (Tango's {tango} disagrees with it "
                        "about 0 at this boundary)")
    one_low, _ = tango_interval(broke, fixed, n, 2 * ONE_SIDED - 1)
    method = (f"exact McNemar test (two-sided) over {n} pairs, {k} discordant"
              + (f"; {interval}" if no_interval is None else f"; {no_interval}"))
    return PairedComparison(ci_low=low, ci_high=high, one_sided_low=one_low, p_value=p, broke=broke, fixed=fixed,
                            method=method, resamples=None, differing=k, no_interval=no_interval,
                            bound_how="the lower end of Tango's 90% score interval", **common)


def _pair(ends: tuple[float, float]) -> str:
    return f"[{ends[0]:+.4f}, {ends[1]:+.4f}]"


def _scale_bound(a: np.ndarray, new: np.ndarray, base: np.ndarray, n_units: int,
                 unit: str) -> tuple[float | None, str]:
    """A one-sided 95% lower bound with too few differing units for the test to give one: no unit can
    lose more than the whole 0-1 scale, so the drop is at most the share of units that dropped, bounded
    above by Clopper-Pearson. None for scores outside 0-1."""
    if not (np.all((new >= 0) & (new <= 1)) and np.all((base >= 0) & (base <= 1))):
        return None, "no bound: too few units differ for the test, and the scores are not on a 0-1 scale"
    dropped = int(np.count_nonzero(a < 0))
    bound = -clopper_pearson_upper(dropped, n_units, ONE_SIDED)
    units = "pairs" if unit == "pair" else f"{unit}s"
    return bound, (f"−(one-sided 95% Clopper-Pearson upper bound of the share of {units} that dropped, "
                   f"{dropped} of {n_units}), each able to lose at most the whole 0-1 scale")


# -- per sample ---------------------------------------------------------------------------------


def broke_fixed(new_records: Iterable[Any], base_records: Iterable[Any]) -> dict[str, BrokeFixed]:
    """Per task present in both runs: the samples that broke (baseline passed, now failed) and were
    fixed (the reverse), in the new run's scoring order. Errored samples are neither: an error says
    nothing about the model's answer."""
    new_records, base_records = list(new_records), list(base_records)
    tasks = sorted({r.task for r in new_records} & {r.task for r in base_records})
    out = {}
    for task in tasks:
        new, base = last_records(new_records, task), last_records(base_records, task)
        common = sorted(set(new) & set(base), key=lambda sid: (new[sid].index, sid))
        out[task] = BrokeFixed(
            tuple(s for s in common if base[s].outcome == "passed" and new[s].outcome == "failed"),
            tuple(s for s in common if base[s].outcome == "failed" and new[s].outcome == "passed"))
    return out


def compare_runs(new_records: Sequence[Any], base_records: Sequence[Any],
                 metrics: Mapping[str, Sequence[str]] | None = None, *, seed: int = COMPARISON_SEED,
                 resamples: int = COMPARISON_RESAMPLES,
                 longhealth_unit: str = LONGHEALTH_UNIT) -> dict[tuple[str, str], PairedComparison]:
    """Every (task, metric) in `metrics` (default: each task's headline metric) for tasks in both runs."""
    tasks = {r.task for r in new_records} & {r.task for r in base_records}
    wanted = metrics if metrics is not None else {t: (m,) for t, m in headlines([*new_records, *base_records]).items()}
    return {(t, m): compare_task(new_records, base_records, t, m, seed=seed, resamples=resamples,
                                 longhealth_unit=longhealth_unit)
            for t, names in wanted.items() if t in tasks for m in names}


# -- both runs, every statistic ---------------------------------------------------------------------


@dataclass(frozen=True)
class Paired:
    """A run against a reference, paired on (task, sample id): what a report's comparison section and
    `clue compare` are made of."""

    tasks: Mapping[tuple[str, str], PairedComparison]  # (task, metric) ->
    levels: Sequence[LevelComparison]
    broke_fixed: Mapping[str, BrokeFixed]  # per task
    metrics: Mapping[str, Sequence[str]] = field(default_factory=dict)


def paired(new: Sequence[Any], base: Sequence[Any], *, metrics: Mapping[str, Sequence[str]] | None = None,
           seed: int | None = None, resamples: int | None = None, longhealth_unit: str | None = None) -> Paired:
    """Every paired statistic of two runs' records: each task's metrics, the Levels, what broke and was fixed."""
    seed = COMPARISON_SEED if seed is None else seed
    resamples = COMPARISON_RESAMPLES if resamples is None else resamples
    unit = LONGHEALTH_UNIT if longhealth_unit is None else longhealth_unit
    return Paired(compare_runs(new, base, metrics, seed=seed, resamples=resamples, longhealth_unit=unit),
                  compare_levels(new, base, seed=seed, resamples=resamples, longhealth_unit=unit),
                  broke_fixed(new, base),
                  dict(metrics or {}))
