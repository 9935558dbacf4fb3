"""Per-sample records → per-task scores with confidence intervals, and the gate verdict.

Nothing is averaged away: a metric is computed over the samples that have it, the count
is reported beside it, errored samples are counted, and a metric no sample could compute
is reported as not computed with the reasons.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .stats import mean_ci
from .thresholds import Gate


@dataclass(frozen=True)
class SampleRecord:
    """What one sample test reports (built-in types only: it crosses xdist's wire as a dict)."""

    task: str
    sample_id: str
    index: int  # position in the task's scoring order, so aggregation is order-independent
    outcome: str  # "passed", "failed" or "error"
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    not_computed: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None  # "sent" or "store"
    reason: str = ""
    response: str | None = None
    reference: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "sample_id": self.sample_id, "index": self.index, "outcome": self.outcome,
            "metrics": dict(self.metrics), "not_computed": dict(self.not_computed), "source": self.source,
            "reason": self.reason, "response": self.response, "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SampleRecord":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class MetricSummary:
    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    not_computed: str | None = None  # the reason, when value is None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": [self.ci_low, self.ci_high], "n": self.n,
                "not_computed": self.not_computed}


@dataclass(frozen=True)
class TaskSummary:
    task: str
    title: str
    level: int
    n_samples: int
    n_passed: int
    n_failed: int
    n_errored: int
    requests_sent: int
    requests_stored: int
    metrics: tuple[MetricSummary, ...]
    failing: tuple[str, ...]
    errored: tuple[str, ...]

    def metric(self, name: str) -> MetricSummary | None:
        return next((m for m in self.metrics if m.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title, "level": self.level, "n_samples": self.n_samples, "n_passed": self.n_passed,
            "n_failed": self.n_failed, "n_errored": self.n_errored,
            "requests": {"sent": self.requests_sent, "from_store": self.requests_stored},
            "metrics": {m.name: m.as_dict() for m in self.metrics},
            "failing_samples": list(self.failing), "errored_samples": list(self.errored),
        }


def summarize_task(task: str, title: str, level: int, metric_names: Sequence[str],
                   records: Iterable[SampleRecord],
                   batched: Mapping[str, tuple[list[float | None], str | None]] | None = None) -> TaskSummary:
    """`batched` maps a batched metric's name to (per-sample values in record order, reason if not computed)."""
    rows = sorted(records, key=lambda r: r.index)
    outcomes = Counter(r.outcome for r in rows)
    sources = Counter(r.source for r in rows)
    summaries = [_summarize(name, [r.metrics.get(name) for r in rows if r.outcome != "error"],
                            [r.not_computed.get(name) for r in rows if r.outcome != "error"], outcomes["error"])
                 for name in metric_names]
    for name, (values, reason) in (batched or {}).items():
        if reason is not None:
            summaries.append(MetricSummary(name, None, None, None, 0, reason))
        else:
            summaries.append(_summarize(name, values, [None] * len(values), outcomes["error"]))
    return TaskSummary(
        task=task, title=title, level=level, n_samples=len(rows), n_passed=outcomes["passed"],
        n_failed=outcomes["failed"], n_errored=outcomes["error"], requests_sent=sources["sent"],
        requests_stored=sources["store"], metrics=tuple(summaries),
        failing=tuple(r.sample_id for r in rows if r.outcome == "failed"),
        errored=tuple(r.sample_id for r in rows if r.outcome == "error"),
    )


def _summarize(name: str, values: Sequence[float | None], reasons: Sequence[str | None], n_errored: int) -> MetricSummary:
    present = [v for v in values if v is not None]
    if not present:
        why = Counter(r for r in reasons if r)
        if why:
            reason = "; ".join(f"{text} ({count} samples)" for text, count in why.most_common())
        elif n_errored:
            reason = f"every sample errored ({n_errored})"
        else:
            reason = "no samples scored"
        return MetricSummary(name, None, None, None, 0, reason)
    mean, low, high = mean_ci(present)
    return MetricSummary(name, mean, low, high, len(present))


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    status: str  # "pass", "fail" or "not run"
    value: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate.name, "status": self.status, "value": self.value, "detail": self.detail}


def evaluate_gates(gates: Iterable[Gate], tasks: Mapping[str, TaskSummary]) -> list[GateResult]:
    results = []
    for gate in gates:
        summary = tasks.get(gate.task)
        if summary is None:
            results.append(GateResult(gate, "not run", None, f"task {gate.task} was not run"))
            continue
        metric = summary.metric(gate.metric)
        if metric is None:
            known = ", ".join(m.name for m in summary.metrics)
            results.append(GateResult(gate, "fail", None, f"{gate.task} has no metric {gate.metric!r} (known: {known})"))
        elif metric.value is None:
            results.append(GateResult(gate, "fail", None, f"not computed: {metric.not_computed}"))
        elif summary.n_errored:
            results.append(GateResult(gate, "fail", metric.value,
                                      f"{summary.n_errored} sample(s) errored, so the score is incomplete"))
        else:
            ok = gate.holds(metric.value)
            results.append(GateResult(gate, "pass" if ok else "fail", metric.value,
                                      f"{metric.value:.4f} over {metric.n} samples"))
    return results


def group_by_task(records: Iterable[SampleRecord]) -> dict[str, list[SampleRecord]]:
    grouped: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in records:
        grouped[record.task].append(record)
    return grouped
