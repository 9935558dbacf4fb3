"""The aggregator: per-sample records → per-task scores with confidence intervals, levels, gates, verdict.

`aggregate()` is everything that happens after the samples have reported: batched metrics
(BERTScore, once over a task), task summaries, CLUE's levels, the gates and the verdict; and
`exit_status()` is the exit rule. Both are pure: the records given are never changed, the
result is a frozen `AggregateResult`, so the numbers are unit-tested without pytest.

Nothing is averaged away: a metric is computed over the samples that have it, the count
is reported beside it, errored samples are counted, and a metric no sample could compute
is reported as not computed with the reasons.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from clue_checks.metrics import BatchedValues
from clue_checks.numbers import shown_for_verdict
from clue_checks.record import SampleRecord
from clue_checks.report.numbers.levels import LevelScore, level_inputs, level_scores
from clue_checks.report.numbers.stats import interval
from clue_checks.report.numbers.thresholds import Gate
from clue_checks.report.verdict import Verdict, exit_code
from clue_checks.report.verdict import decide as decide_verdict


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


def summarize_task(task: str, title: str, level: int, metric_names: Sequence[str],
                   records: Iterable[SampleRecord],
                   batched: Mapping[str, tuple[list[float | None], str | None]] | None = None,
                   *, n_selected: int | None = None, n_total: int | None = None) -> TaskSummary:
    """`batched` maps a batched metric's name to (values of the scored samples in index order, reason if
    not computed).

    A sample reported more than once (a rerun plugin, a test id given twice) counts once, by
    its last report: counting it twice would weigh it double and hide never-run samples.
    Intervals resample whole clusters where the records name one (`SampleRecord.cluster`).
    """
    rows = sorted(_last_per_sample(records), key=lambda r: r.index)
    outcomes = Counter(r.outcome for r in rows)
    sources = Counter(r.source for r in rows)
    scored = [r for r in rows if r.outcome != "error"]
    clusters = [r.cluster for r in scored]
    summaries = [_summarize(name, [r.metrics.get(name) for r in scored], [r.not_computed.get(name) for r in scored],
                            outcomes["error"], clusters)
                 for name in metric_names]
    for name, (values, reason) in (batched or {}).items():
        if reason is not None:
            summaries.append(MetricSummary(name, None, None, None, 0, reason))
        else:
            summaries.append(_summarize(name, values, [None] * len(values), outcomes["error"],
                                        clusters if len(values) == len(clusters) else None))
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


def _summarize(name: str, values: Sequence[float | None], reasons: Sequence[str | None], n_errored: int,
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


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    # "pass" or "fail"; never a pass: "incomplete" (scored on part of the task) and "not run";
    # outside the verdict: "not selected" (its task was left out by --clue-tasks) and "deferred" (a shard run:
    # `clue report merge` decides over all shards).
    status: str
    value: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate.name, "status": self.status, "value": self.value, "detail": self.detail}


def evaluate_gates(gates: Iterable[Gate], tasks: Mapping[str, TaskSummary], *, not_selected: Collection[str] = (),
                   deferred: str | None = None, not_run: Mapping[str, str] | None = None) -> list[GateResult]:
    """pass / fail, or — never a pass — "incomplete" (scored on part of the task) and "not run".

    `not_selected`: tasks an explicit --clue-tasks left out (their gates are reported, outside the verdict).
    `deferred`: why no gate is decided in this run (a shard of a run split across machines).
    `not_run`: why a task did not run (e.g. its data file is absent), said in its gates' detail.
    """
    results = []
    for gate in gates:
        summary = tasks.get(gate.task)
        if gate.task in not_selected:
            results.append(GateResult(gate, "not selected", None, f"task {gate.task} was not selected (--clue-tasks)"))
            continue
        if deferred is not None:
            results.append(GateResult(gate, "deferred", None, deferred))
            continue
        if summary is None:
            results.append(GateResult(gate, "not run", None, (not_run or {}).get(gate.task)
                                      or f"task {gate.task} was not run"))
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
        observed = gate.observed(metric.value, metric.ci_low, metric.ci_high)
        if observed is None:  # a gate on an interval bound the run could not compute cannot pass
            results.append(GateResult(gate, "fail", metric.value, f"{gate.statistic} not computed: {metric.method}"))
            continue
        ok = gate.holds(observed)
        problems = ([f"{gate.metric} not computed on {metric.not_computed}"] if metric.not_computed else []) + coverage
        shown = shown_for_verdict(observed, gate.holds, 4)
        if gate.statistic != "value":
            shown = f"{gate.statistic} {shown} (value {metric.value:.4f})"
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


# -- the aggregator --------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """What the aggregator needs to know of one task (plain values: no task code, no data)."""

    name: str
    title: str
    level: int
    metric_names: tuple[str, ...]
    batched_metrics: tuple[str, ...] = ()
    n_selected: int | None = None  # samples selected to run (None: those that reported)
    n_total: int | None = None  # samples the task has (None: unknown; its gates cannot pass)


#: (task name, [(response, reference), …] of its scored samples in index order) → values per batched metric
BatchScorer = Callable[[str, Sequence[tuple[str, str]]], Mapping[str, BatchedValues]]


@dataclass(frozen=True)
class AggregateResult:
    """Everything a run's report says, computed from its records."""

    records: Mapping[str, tuple[SampleRecord, ...]]  # per task: one per sample, index order, batched values in
    tasks: tuple[TaskSummary, ...]
    levels: tuple[LevelScore, ...]
    gates: tuple[GateResult, ...]
    verdict: str  # of the task gates alone (verdict.decide); the report adds the comparison gates
    verdict_reasons: tuple[str, ...] = ()  # why it is not a pass (empty on a pass)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def aggregate(records: Iterable[SampleRecord], tasks: Sequence[TaskSpec], gates: Sequence[Gate], *,
              batch_score: BatchScorer | None = None, not_selected: Collection[str] = (),
              deferred: str | None = None, pass_blockers: Sequence[str] = (),
              not_run: Mapping[str, str] | None = None) -> AggregateResult:
    """Records → summaries, levels, gates and verdict. The records are not changed.

    `tasks` in report order; a task with neither records nor selected samples is left out.
    `batch_score` computes batched metrics (BERTScore) over each task's scored samples; without it
    the values the records carry are used (a merge of shard reports), and a record that carries
    neither a value nor a reason counts as not computed.
    `pass_blockers`: reasons this run's verdict cannot be a pass whatever the gates (e.g. a real
    model scored on the synthetic fixtures).
    `not_run`: task -> why it did not run (its data file is absent), for its gates.
    """
    grouped = group_by_task(records)
    out_records: dict[str, tuple[SampleRecord, ...]] = {}
    summaries: list[TaskSummary] = []
    for spec in tasks:
        rows = sorted(grouped.get(spec.name, []), key=lambda r: r.index)
        if not rows and not spec.n_selected:
            continue
        rows, batched = _batched_metrics(spec, rows, batch_score)
        out_records[spec.name] = tuple(rows)
        summaries.append(summarize_task(spec.name, spec.title, spec.level, spec.metric_names, rows, batched,
                                        n_selected=len(rows) if spec.n_selected is None else spec.n_selected,
                                        n_total=spec.n_total))
    inputs = level_inputs(r for rows in out_records.values() for r in rows)
    levels = level_scores(inputs.values, clusters=inputs.clusters,
                          incomplete=[t.task for t in summaries if not t.complete])
    gate_results = evaluate_gates(gates, {s.task: s for s in summaries}, not_selected=not_selected,
                                  deferred=deferred, not_run=not_run)
    verdict, reasons = decide(gate_results, summaries, pass_blockers=pass_blockers, deferred=deferred)
    return AggregateResult(MappingProxyType(out_records), tuple(summaries), tuple(levels), tuple(gate_results),
                           verdict, reasons)


def decide(gates: Sequence[GateResult], tasks: Sequence[TaskSummary], *, pass_blockers: Sequence[str] = (),
           deferred: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The verdict of the task gates alone (`verdict.decide`, the one decider; the report's verdict adds
    the comparison gates: `build.build_report`)."""
    decided = decide_verdict(gates, tasks, pass_blockers=pass_blockers, deferred=deferred)
    return decided.word, decided.reasons


def exit_status(verdict: Verdict | None, *, mode: str, pytest_status: int, other_failures: int = 0) -> int:
    """The session's exit code.

    `mode` "pytest": pytest's own status (the samples decide). "gates": the verdict's code
    (`verdict.exit_code`: 0 pass, 6 inconclusive, 1 otherwise) unless another test of the session failed;
    a shard's deferred verdict leaves it to the other tests. A status other than "ok" or "tests failed"
    (interrupted, usage error, …) is kept as it is.
    """
    if mode != "gates" or pytest_status not in (EXIT_OK, EXIT_TESTS_FAILED):
        return pytest_status
    if other_failures:
        return EXIT_TESTS_FAILED
    return exit_code(verdict) if verdict is not None else EXIT_TESTS_FAILED


EXIT_OK = 0  # pytest.ExitCode.OK
EXIT_TESTS_FAILED = 1  # pytest.ExitCode.TESTS_FAILED


def _batched_metrics(spec: TaskSpec, rows: list[SampleRecord], batch_score: BatchScorer | None
                     ) -> tuple[list[SampleRecord], dict[str, tuple[list[float | None], str | None]]]:
    """Batched metrics over the task's scored samples, and the rows with their values (new records).

    A metric not computed for the whole task puts its reason on every scored row, so a merge of
    shard reports reads back the same reason.
    """
    if not spec.batched_metrics:
        return rows, {}
    scored = [r for r in rows if r.outcome != "error"]
    if batch_score is None:
        results = {name: _carried(scored, name) for name in spec.batched_metrics}
    else:
        try:
            results = dict(batch_score(spec.name, [(r.response or "", r.reference or "") for r in scored]))
        except Exception as exc:  # a metric's failure must not cost the report: it is reported, not hidden
            reason = f"failed: {exc.__class__.__name__}: {exc}"
            results = {name: BatchedValues(not_computed=reason) for name in spec.batched_metrics}
    out: dict[str, tuple[list[float | None], str | None]] = {}
    values_by_index: dict[int, dict[str, float | None]] = defaultdict(dict)
    reasons_by_index: dict[int, dict[str, str]] = defaultdict(dict)
    for name in spec.batched_metrics:
        result = results.get(name)
        if result is None or result.not_computed is not None:
            reason = result.not_computed if result is not None else "the task returned no values"
            out[name] = ([], reason)
            for r in scored:
                values_by_index[r.index][name] = None
                reasons_by_index[r.index][name] = reason  # type: ignore[assignment]
            continue
        values = list(result.values)
        if len(values) != len(scored):
            reason = f"the task returned {len(values)} values for {len(scored)} samples"
            out[name] = ([], reason)
            for r in scored:
                values_by_index[r.index][name] = None
                reasons_by_index[r.index][name] = reason
            continue
        out[name] = (values, None)
        for r, value in zip(scored, values):
            values_by_index[r.index][name] = value
    new_rows = [replace(r, metrics={**r.metrics, **values_by_index[r.index]},
                        not_computed={**r.not_computed, **reasons_by_index[r.index]})
                if r.outcome != "error" else r for r in rows]
    return new_rows, out


def _carried(scored: Sequence[SampleRecord], name: str) -> BatchedValues:
    """A batched metric as the records carry it (written by an earlier aggregation, e.g. in a shard)."""
    reasons = {r.not_computed.get(name) for r in scored if r.metrics.get(name) is None}
    if scored and all(r.metrics.get(name) is None for r in scored) and len(reasons) == 1 and None not in reasons:
        return BatchedValues(not_computed=reasons.pop())
    missing = [r for r in scored if name not in r.metrics and name not in r.not_computed]
    if missing:
        return BatchedValues(not_computed=f"{len(missing)} record(s) carry no {name} value")
    return BatchedValues(values=tuple(r.metrics.get(name) for r in scored))
