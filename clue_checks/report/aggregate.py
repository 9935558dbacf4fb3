"""Per-sample records → per-task scores with confidence intervals, and the gate verdict.

Nothing is averaged away: a metric is computed over the samples that have it, the count
is reported beside it, errored samples are counted, and a metric no sample could compute
is reported as not computed with the reasons.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..numbers import shown_for_verdict
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
    source: str | None = None  # "sent", "store", or "shared" (an identical request of another sample)
    reason: str = ""
    response: str | None = None
    reference: str | None = None
    # Samples that are not independent share a cluster (a LongHealth question across its repeats and
    # tasks 1-3, a MeDiSumQA discharge note); intervals resample whole clusters. None: its own cluster.
    cluster: str | None = None
    kinds: tuple[str, ...] = ()  # failure kinds (triage), beside the scores, never changing them
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    prompt: str | None = None  # the rendered prompt, or the messages as "[role] content" lines
    parsed: str | None = None  # the answer the task's parser read from the response, where it has one
    node_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "sample_id": self.sample_id, "index": self.index, "outcome": self.outcome,
            "metrics": dict(self.metrics), "not_computed": dict(self.not_computed), "source": self.source,
            "reason": self.reason, "response": self.response, "reference": self.reference,
            "cluster": self.cluster, "kinds": list(self.kinds), "finish_reason": self.finish_reason,
            "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "latency_s": self.latency_s,
            "prompt": self.prompt, "parsed": self.parsed, "node_id": self.node_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SampleRecord":
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "kinds" in fields:
            fields["kinds"] = tuple(fields["kinds"] or ())
        return cls(**fields)


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
    requests_shared: int = 0  # samples answered by an identical request of another sample in this run
    n_selected: int = 0  # samples selected to run (after --limit, -k, --lf, node ids)
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


def summarize_task(task: str, title: str, level: int, metric_names: Sequence[str],
                   records: Iterable[SampleRecord],
                   batched: Mapping[str, tuple[list[float | None], str | None]] | None = None,
                   *, n_selected: int | None = None, n_total: int | None = None) -> TaskSummary:
    """`batched` maps a batched metric's name to (per-sample values in record order, reason if not computed).

    A sample reported more than once (a rerun plugin, a test id given twice) counts once, by
    its last report: counting it twice would weigh it double and hide never-run samples.
    """
    rows = sorted(_last_per_sample(records), key=lambda r: r.index)
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
        requests_stored=sources["store"], requests_shared=sources["shared"], metrics=tuple(summaries),
        failing=tuple(r.sample_id for r in rows if r.outcome == "failed"),
        errored=tuple(r.sample_id for r in rows if r.outcome == "error"),
        n_selected=len(rows) if n_selected is None else n_selected,
        n_total=n_total,
    )


def _last_per_sample(records: Iterable[SampleRecord]) -> list[SampleRecord]:
    last: dict[tuple[str, str], SampleRecord] = {}
    for record in records:
        last.pop((record.task, record.sample_id), None)  # keep arrival order of the last reports
        last[(record.task, record.sample_id)] = record
    return list(last.values())


def _summarize(name: str, values: Sequence[float | None], reasons: Sequence[str | None], n_errored: int) -> MetricSummary:
    """The mean over the samples that have a finite value; the others are counted with their reasons.

    A metric missing on some samples keeps its value (over `n` samples) and says in
    `not_computed` how many samples lack it and why: a gate on it is then incomplete.
    """
    present: list[float] = []
    why: Counter[str] = Counter()
    for value, reason in zip(values, reasons):
        if value is None:
            why[reason or "no value (no reason given)"] += 1
        elif not math.isfinite(value):
            why[f"the metric returned {value}"] += 1
        else:
            present.append(float(value))
    reason = "; ".join(f"{text} ({count} sample{'s' if count != 1 else ''})" for text, count in why.most_common())
    if not present:
        if not reason:
            reason = f"every sample errored ({n_errored})" if n_errored else "no samples scored"
        return MetricSummary(name, None, None, None, 0, reason)
    mean, low, high = mean_ci(present)
    if why:
        return MetricSummary(name, mean, low, high, len(present),
                             f"{sum(why.values())} of {len(values)} scored samples: {reason}")
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
    """pass / fail, or — never a pass — "incomplete" (scored on part of the task) and "not run"."""
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
            continue
        coverage = []  # why the task's score is not the whole task's score
        if summary.n_errored:
            coverage.append(f"{summary.n_errored} sample(s) errored")
        if summary.n_missing:
            coverage.append(f"{summary.n_missing} selected sample(s) never ran")
        if summary.n_total is None:
            coverage.append("the task's number of samples is unknown")
        elif summary.n_selected < summary.n_total:
            coverage.append(f"only {summary.n_selected} of {summary.n_total} samples were selected")
        if metric.value is None:
            if coverage:  # e.g. an interrupted run: the task is unfinished, not failed
                results.append(GateResult(gate, "incomplete", None, f"not computed ({metric.not_computed}), and "
                                          f"{', '.join(coverage)}: a gate needs the whole task"))
            else:
                results.append(GateResult(gate, "fail", None, f"not computed: {metric.not_computed}"))
            continue
        ok = gate.holds(metric.value)
        problems = ([f"{gate.metric} not computed on {metric.not_computed}"] if metric.not_computed else []) + coverage
        shown = shown_for_verdict(metric.value, gate.holds, 4)
        if problems:
            # Scored on part of the task (or of its samples): whichever side of the bar, not a verdict.
            results.append(GateResult(gate, "incomplete", metric.value,
                                      f"{shown} would {'pass' if ok else 'fail'}, but {', '.join(problems)}: "
                                      "a gate needs the whole task"))
        else:
            results.append(GateResult(gate, "pass" if ok else "fail", metric.value, f"{shown} over {metric.n} samples"))
    return results


def group_by_task(records: Iterable[SampleRecord]) -> dict[str, list[SampleRecord]]:
    """Records per task, one per sample (its last report), so every consumer sees the rows the table counted."""
    grouped: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in _last_per_sample(records):
        grouped[record.task].append(record)
    return grouped
