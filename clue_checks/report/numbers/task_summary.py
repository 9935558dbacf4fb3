"""A task's scores as the report states them: each metric's mean with its 95% interval and the samples it is
over (`MetricSummary`), and the task's counts (`TaskSummary`).

Nothing is averaged away: a metric is computed over the samples that have it, the count is reported beside
it, and a metric no sample could compute is reported as not computed with the reasons.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clue_checks.report.numbers.stats import interval


@dataclass(frozen=True)
class MetricSummary:
    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    not_computed: str | None = None  # the reason, when value is None
    method: str = ""  # how the interval was made, or why there is none (stats.interval)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": [self.ci_low, self.ci_high], "n": self.n,
                "not_computed": self.not_computed, "method": self.method}


@dataclass(frozen=True)
class TaskSummary:
    task: str
    title: str
    level: int | str | None  # CLUE's 1 or 2; a user task's own level's name, or None (beside the levels)
    n_samples: int
    n_passed: int
    n_failed: int
    n_errored: int
    requests_sent: int
    requests_stored: int
    metrics: tuple[MetricSummary, ...]
    failing: tuple[str, ...]
    errored: tuple[str, ...]
    requests_shared: int = 0  # samples answered by an identical request of another sample in this run
    n_selected: int = 0  # samples selected to run (after --clue-limit, -k, --lf, node ids)
    n_total: int | None = None  # samples the task has (None: unknown)

    @property
    def n_missing(self) -> int:
        """Selected samples that never reported (a crash, -x, an interrupted run)."""
        return max(self.n_selected - self.n_samples, 0)

    @property
    def partial(self) -> bool:
        """Scored on less than the whole task: a subset was selected, or some samples did not run."""
        return self.n_missing > 0 or (self.n_total is not None and self.n_selected < self.n_total)

    @property
    def complete(self) -> bool:
        """Every sample of the task scored without error (a task of unknown size cannot be shown complete)."""
        return not self.partial and self.n_errored == 0 and self.n_total is not None

    def metric(self, name: str) -> MetricSummary | None:
        return next((m for m in self.metrics if m.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title, "level": self.level, "n_samples": self.n_samples, "n_passed": self.n_passed,
            "n_failed": self.n_failed, "n_errored": self.n_errored,
            "requests": {"sent": self.requests_sent, "from_store": self.requests_stored,
                         "shared": self.requests_shared},
            "metrics": {m.name: m.as_dict() for m in self.metrics},
            "failing_samples": list(self.failing), "errored_samples": list(self.errored),
            "n_selected": self.n_selected, "n_total": self.n_total, "n_missing": self.n_missing,
            "partial": self.partial,
        }


def summarize_metric(name: str, values: Sequence[float | None], reasons: Sequence[str | None], n_errored: int,
               clusters: Sequence[str | None] | None = None) -> MetricSummary:
    """The mean over the samples that have a finite value; the others are counted with their reasons.

    A metric missing on some samples keeps its value (over `n` samples) and says in
    `not_computed` how many samples lack it and why: a gate on it is then incomplete.
    """
    present: list[float] = []
    present_clusters: list[str | None] = []
    why: Counter[str] = Counter()
    for i, (value, reason) in enumerate(zip(values, reasons)):
        if value is None:
            why[reason or "no value (no reason given)"] += 1
        elif not math.isfinite(value):
            why[f"the metric returned {value}"] += 1
        else:
            present.append(float(value))
            present_clusters.append(clusters[i] if clusters is not None else None)
    reason = "; ".join(f"{text} ({count} sample{'s' if count != 1 else ''})" for text, count in why.most_common())
    if not present:
        if not reason:
            reason = f"every sample errored ({n_errored})" if n_errored else "no samples scored"
        return MetricSummary(name, None, None, None, 0, reason)
    # Clusters only where some samples share one (LongHealth's repeats, MeDiSumQA's notes): whole clusters are
    # then resampled. 0/1 scores get the Wilson interval, a constant score a non-degenerate one (stats.interval).
    shared = any(c is not None for c in present_clusters)
    binary = all(v in (0.0, 1.0) for v in present)
    mean, low, high, method = interval(present, clusters=present_clusters if shared else None, binary=binary)
    if why:
        return MetricSummary(name, mean, low, high, len(present),
                             f"{sum(why.values())} of {len(values)} scored samples: {reason}", method)
    return MetricSummary(name, mean, low, high, len(present), None, method)
