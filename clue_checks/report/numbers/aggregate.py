"""The aggregator: per-sample records → per-task scores with confidence intervals, levels, gates, verdict.

`aggregate()` is everything that happens after the samples have reported: batched metrics
(BERTScore, once over a task), task summaries, CLUE's levels, the gates and the verdict; and
`exit_status()` is the exit rule. Both are pure: the records given are never changed, the
result is a frozen `AggregateResult`, so the numbers are unit-tested without pytest.

The task summaries are :mod:`task_summary`, the task gates :mod:`task_gates`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from clue_checks.metrics import BatchedValues
from clue_checks.record import SampleRecord
from clue_checks.report.numbers.levels import LevelScore, level_inputs, level_scores, own_levels
from clue_checks.report.numbers.task_gates import GateResult, evaluate_gates
from clue_checks.report.numbers.task_summary import MetricSummary, TaskSummary, summarize_metric
from clue_checks.report.numbers.thresholds import Gate
from clue_checks.report.verdict import Verdict, exit_code
from clue_checks.report.verdict import decide as decide_verdict


def summarize_task(task: str, title: str, level: int | str | None, metric_names: Sequence[str],
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
    summaries = [summarize_metric(name, [r.metrics.get(name) for r in scored], [r.not_computed.get(name) for r in scored],
                            outcomes["error"], clusters)
                 for name in metric_names]
    for name, (values, reason) in (batched or {}).items():
        if reason is not None:
            summaries.append(MetricSummary(name, None, None, None, 0, reason))
        else:
            summaries.append(summarize_metric(name, values, [None] * len(values), outcomes["error"],
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
    level: int | str | None  # CLUE's 1 or 2; a user task's own level's name, or None (beside the levels)
    metric_names: tuple[str, ...]
    batched_metrics: tuple[str, ...] = ()
    n_selected: int | None = None  # samples selected to run (None: those that reported)
    n_total: int | None = None  # samples the task has (None: unknown; its gates cannot pass)
    kinds: tuple[str, ...] | None = None  # the failure kinds looked for on it; None: the kinds table's entry


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
                          incomplete=[t.task for t in summaries if not t.complete], own=own_levels(tasks))
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
            texts = (r.filled() for r in scored)  # read back one at a time; only the pairs are kept
            results = dict(batch_score(spec.name, [(r.response or "", r.reference or "") for r in texts]))
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
